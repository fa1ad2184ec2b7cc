package state

import (
	"regexp"
	"strings"
	"testing"
)

// The validators are loops for memory's sake; these are the patterns they implement.
var (
	commandIDPattern  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)
	instanceIDPattern = regexp.MustCompile(`^m?i-[0-9a-f]{8,17}$`)
)

func TestValidIDs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id              string
		command, instID bool
	}{
		{"", false, false},
		{"3b3c9f57-7c5d-4b7e-9a58-0e1c6b0f0c11", true, false},
		{"cmd-1", true, false},
		{"a", true, false},
		{"_a", false, false},
		{"-a", false, false},
		{"a_b-C9", true, false},
		{"../../etc", false, false},
		{"a b", false, false},
		{"é", false, false},
		{strings.Repeat("a", 128), true, false},
		{strings.Repeat("a", 129), false, false},
		{"mi-0123456789abcdef0", true, true},
		{"i-0123456789abcdef0", true, true},
		{"i-01234567", true, true},
		{"i-0123456", true, false},
		{"mi-0123456789abcdef01", true, false},
		{"mi-0123456789ABCDEF0", true, false},
		{"xi-01234567", true, false},
		{"mi-", true, false},
		{"mmi-01234567", true, false},
		{"mi-01234567\n", false, false},
	}
	for _, tt := range tests {
		if got := ValidCommandID(tt.id); got != tt.command {
			t.Errorf("ValidCommandID(%q) = %v, want %v", tt.id, got, tt.command)
		}
		if got := ValidInstanceID(tt.id); got != tt.instID {
			t.Errorf("ValidInstanceID(%q) = %v, want %v", tt.id, got, tt.instID)
		}
		// The table itself agrees with the patterns.
		if commandIDPattern.MatchString(tt.id) != tt.command || instanceIDPattern.MatchString(tt.id) != tt.instID {
			t.Errorf("table row %q disagrees with the patterns", tt.id)
		}
	}
}

func FuzzValidIDs(f *testing.F) {
	for _, s := range []string{"cmd-1", "mi-0123456789abcdef0", "i-01234567", "_x", strings.Repeat("b", 128)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if got, want := ValidCommandID(id), commandIDPattern.MatchString(id); got != want {
			t.Errorf("ValidCommandID(%q) = %v, pattern says %v", id, got, want)
		}
		if got, want := ValidInstanceID(id), instanceIDPattern.MatchString(id); got != want {
			t.Errorf("ValidInstanceID(%q) = %v, pattern says %v", id, got, want)
		}
	})
}
