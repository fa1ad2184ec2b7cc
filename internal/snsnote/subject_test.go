package snsnote

import (
	"strings"
	"testing"
)

func TestCleanSubject(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 150)
	tests := []struct{ in, want string }{
		{"", ""},
		{"Command cmd-1 Success", "Command cmd-1 Success"},
		{"line\nbreak\tand\x00nul", "line break and nul"},
		{"\n  padded  \r\n", "padded"},
		{long, long[:2*MaxSubjectLength]}, // cut by characters, not bytes
	}
	for _, tc := range tests {
		if got := cleanSubject(tc.in); got != tc.want {
			t.Errorf("cleanSubject(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
