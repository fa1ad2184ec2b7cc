package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncate(t *testing.T) {
	t.Parallel()
	suffixLen := len(TruncatedSuffix)
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"short", "hello", 10, "hello"},
		{"exact", "hello", 5, "hello"},
		{"cut", strings.Repeat("a", 50), suffixLen + 3, "aaa" + TruncatedSuffix},
		{"cut on rune boundary", strings.Repeat("é", 50), suffixLen + 3, "ééé" + TruncatedSuffix},
		{"invalid utf8", "a\xffb", 10, "a\uFFFDb"},
		{"tiny limit", strings.Repeat("a", 50), 4, TruncatedSuffix[:4]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Truncate(tt.in, tt.max)
			if got != tt.want {
				t.Errorf("Truncate = %q, want %q", got, tt.want)
			}
			if n := utf8.RuneCountInString(got); n > tt.max {
				t.Errorf("Truncate gave %d characters, limit %d", n, tt.max)
			}
		})
	}
}

func TestReadPrefix(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "stdout")
	if err := os.WriteFile(p, []byte(strings.Repeat("日本", 20000)), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ReadPrefix(p, 24000)
	if err != nil {
		t.Fatal(err)
	}
	if n := utf8.RuneCountInString(got); n != 24000 || !strings.HasSuffix(got, TruncatedSuffix) || !utf8.ValidString(got) {
		t.Errorf("ReadPrefix: %d characters, valid %v", n, utf8.ValidString(got))
	}
	if got, err := ReadPrefix(filepath.Join(dir, "missing"), 10); err != nil || got != "" {
		t.Errorf("ReadPrefix(missing) = %q, %v; want empty", got, err)
	}
}
