package runner

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"unicode/utf8"
)

// TruncatedSuffix ends inline output that was cut, as the SSM agent marks it. The suffix counts toward
// the limit, so a cut text is exactly the limit long.
const TruncatedSuffix = "--output truncated--"

// Truncate returns s unchanged when it has at most max characters (runes), else its first characters
// followed by TruncatedSuffix, max characters in all. Invalid UTF-8 becomes U+FFFD first: the text goes
// into JSON, which would replace it anyway.
func Truncate(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	keep := max - utf8.RuneCountInString(TruncatedSuffix)
	if keep <= 0 {
		return string([]rune(TruncatedSuffix)[:max])
	}
	i := 0
	for n := 0; n < keep; n++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i] + TruncatedSuffix
}

// ReadPrefix returns the inline form of an output file: its first max characters, cut with
// TruncatedSuffix when longer. Only the bytes needed are read, so a huge file costs nothing. A missing
// file is empty output.
func ReadPrefix(path string, max int) (string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read output %s: %w", path, err)
	}
	defer f.Close()
	// max characters take at most max*UTFMax bytes; one byte more tells that there is more.
	b, err := io.ReadAll(io.LimitReader(f, int64(max)*utf8.UTFMax+1))
	if err != nil {
		return "", fmt.Errorf("read output %s: %w", path, err)
	}
	return Truncate(string(b), max), nil
}
