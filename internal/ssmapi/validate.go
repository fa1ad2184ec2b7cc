package ssmapi

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/runcmd/runcmd"
)

// Patterns from the botocore SSM model (2014-11-06). The model's patterns are Java regexes checked with
// matches(), i.e. against the whole value, so each is anchored here; the unanchored text is what SSM
// quotes in its messages.
var (
	patInstanceID      = newPattern(`(^i-(\w{8}|\w{17})$)|(^mi-\w{17}$)`)
	patDocumentARN     = newPattern(`^[a-zA-Z0-9_\-.:/]{3,128}$`)
	patDocumentVersion = newPattern(`([$]LATEST|[$]DEFAULT|^[1-9][0-9]*$)`)
	patVersionName     = newPattern(`^[a-zA-Z0-9_\-.]{1,128}$`)
	patMaxConcurrency  = newPattern(`^([1-9][0-9]*|[1-9][0-9]%|[1-9]%|100%)$`)
	patMaxErrors       = newPattern(`^([1-9][0-9]*|[0]|[1-9][0-9]%|[0-9]%|100%)$`)
	patTargetKey       = newPattern(`^[\p{L}\p{Z}\p{N}_.:/=\-@]*$|resource-groups:ResourceTypeFilters|resource-groups:Name`)
)

type pattern struct {
	text string
	re   *regexp.Regexp
}

func newPattern(text string) pattern {
	return pattern{text: text, re: regexp.MustCompile(`^(?:` + text + `)$`)}
}

// maxQuotedValue bounds how much of a rejected value an error message repeats, so that a 1 MiB value
// does not come back as a 1 MiB error.
const maxQuotedValue = 256

// violations collects constraint violations in the order SSM reports them and renders them in its
// ValidationException text: "1 validation error detected: Value 'x' at 'commandId' failed to satisfy
// constraint: Member must have length greater than or equal to 36".
type violations struct {
	msgs []string
}

func (v *violations) add(value, path, constraint string) {
	if len(value) > maxQuotedValue {
		value = value[:maxQuotedValue] + "..."
	}
	v.msgs = append(v.msgs, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: %s", value, path, constraint))
}

// required reports a missing required member.
func (v *violations) required(path string, present bool) {
	if !present {
		v.msgs = append(v.msgs, fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", path))
	}
}

// str checks an optional string member against the model's length bounds (max < 0: none) and pattern.
func (v *violations) str(path string, p *string, minLen, maxLen int, pat *pattern) {
	if p == nil {
		return
	}
	for _, c := range stringConstraints(*p, minLen, maxLen, pat) {
		v.add(*p, path, c)
	}
}

// enum checks an optional string member against an enum.
func (v *violations) enum(path string, p *string, values []string) {
	if p == nil {
		return
	}
	if c := enumConstraint(*p, values); c != "" {
		v.add(*p, path, c)
	}
}

// intRange checks an optional integer member.
func (v *violations) intRange(path string, p *int, minV, maxV int) {
	if p == nil {
		return
	}
	val := strconv.Itoa(*p)
	if *p < minV {
		v.add(val, path, fmt.Sprintf("Member must have value greater than or equal to %d", minV))
	}
	if *p > maxV {
		v.add(val, path, fmt.Sprintf("Member must have value less than or equal to %d", maxV))
	}
}

// listLen checks the length of a list member that was present (non-nil) in the request.
func (v *violations) listLen(path string, present bool, n int, rendered func() string, minLen, maxLen int) {
	if !present {
		return
	}
	if n < minLen {
		v.add(rendered(), path, fmt.Sprintf("Member must have length greater than or equal to %d", minLen))
	}
	if maxLen >= 0 && n > maxLen {
		v.add(rendered(), path, fmt.Sprintf("Member must have length less than or equal to %d", maxLen))
	}
}

// strList checks a list of strings: its length, then its members, which SSM reports as one violation
// on the list ("Member must satisfy constraint: [Member must ...]").
func (v *violations) strList(path string, list []string, minLen, maxLen int, member func(string) []string) {
	rendered := func() string { return "[" + strings.Join(list, ", ") + "]" }
	v.listLen(path, list != nil, len(list), rendered, minLen, maxLen)
	if member == nil {
		return
	}
	var failed []string
	seen := map[string]bool{}
	for _, s := range list {
		for _, c := range member(s) {
			if !seen[c] {
				seen[c] = true
				failed = append(failed, c)
			}
		}
	}
	if len(failed) > 0 {
		v.add(rendered(), path, "Member must satisfy constraint: ["+strings.Join(failed, ", ")+"]")
	}
}

// err returns nil or the ValidationException for everything collected.
func (v *violations) err() error {
	switch len(v.msgs) {
	case 0:
		return nil
	case 1:
		return validationError("1 validation error detected: " + v.msgs[0])
	}
	return validationError(fmt.Sprintf("%d validation errors detected: %s", len(v.msgs), strings.Join(v.msgs, "; ")))
}

func validationError(msg string) error {
	return &runcmd.Error{Code: runcmd.EINVALID, Name: "ValidationException", Message: msg}
}

// stringConstraints returns the constraints s breaks. Lengths count UTF-16 code units, as SSM (Java)
// does.
func stringConstraints(s string, minLen, maxLen int, pat *pattern) []string {
	var out []string
	n := utf16Len(s)
	if n < minLen {
		out = append(out, fmt.Sprintf("Member must have length greater than or equal to %d", minLen))
	}
	if maxLen >= 0 && n > maxLen {
		out = append(out, fmt.Sprintf("Member must have length less than or equal to %d", maxLen))
	}
	if pat != nil && !pat.re.MatchString(s) {
		out = append(out, "Member must satisfy regular expression pattern: "+pat.text)
	}
	return out
}

func enumConstraint(s string, values []string) string {
	for _, e := range values {
		if s == e {
			return ""
		}
	}
	return "Member must satisfy enum value set: [" + strings.Join(values, ", ") + "]"
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// memberPattern returns a list-member check for strList.
func memberPattern(minLen, maxLen int, pat *pattern) func(string) []string {
	return func(s string) []string { return stringConstraints(s, minLen, maxLen, pat) }
}

// memberEnum returns a list-member check for strList.
func memberEnum(values []string) func(string) []string {
	return func(s string) []string {
		if c := enumConstraint(s, values); c != "" {
			return []string{c}
		}
		return nil
	}
}

// deref returns *p or "".
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// derefInt returns *p or 0.
func derefInt(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}
