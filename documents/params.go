package documents

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/runcmd/runcmd"
)

// compilePattern compiles an allowedPattern so that it must match the whole value. SSM checks the
// pattern with Java's matches() at the API (whole value) and Go's MatchString in the agent (anywhere);
// a value must pass both, so the whole-value rule is the one that decides. Patterns are Go RE2: Java-only
// syntax such as look-ahead is refused when the document is parsed.
func compilePattern(p string) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(p); err != nil {
		return nil, err
	}
	return regexp.Compile(`^(?:` + p + `)$`)
}

func paramErr(format string, args ...any) error {
	return runcmd.Errorf(runcmd.EINVALID, "InvalidParameters", format, args...)
}

// check applies the parameter's value rules to a typed value and returns what is wrong, or "". Messages
// never quote the value: parameters may hold secrets.
func (p *Parameter) check(v any) string { // never writes p: documents are shared between goroutines
	var items []string // the strings allowedValues, allowedPattern and min/maxChars look at
	n := -1            // item count for minItems/maxItems
	chars := true
	switch v := v.(type) {
	case string:
		items = []string{v}
	case []string:
		items, n = v, len(v)
	case bool:
		items, chars = []string{strconv.FormatBool(v)}, false
	case int:
		items, chars = []string{strconv.Itoa(v)}, false
	case map[string]string:
		items = []string{jsonText(v)}
	case []map[string]any:
		items, n = []string{jsonText(v)}, len(v)
	default:
		return fmt.Sprintf("has an unexpected value type %T", v)
	}
	if n >= 0 {
		if p.MinItems != nil && n < *p.MinItems {
			return fmt.Sprintf("needs at least %d item(s), got %d", *p.MinItems, n)
		}
		if p.MaxItems != nil && n > *p.MaxItems {
			return fmt.Sprintf("allows at most %d item(s), got %d", *p.MaxItems, n)
		}
	}
	re := p.re // nil when the Parameter was not built by Parse
	if p.AllowedPattern != "" && re == nil {
		var err error
		if re, err = compilePattern(p.AllowedPattern); err != nil {
			return "has an invalid allowedPattern"
		}
	}
	for i, s := range items {
		what := "the value"
		if _, isList := v.([]string); isList {
			what = fmt.Sprintf("item %d", i+1)
		}
		if len(p.AllowedValues) > 0 && !slices.Contains(p.AllowedValues, s) {
			return fmt.Sprintf("%s is not one of the allowed values [%s]", what, strings.Join(p.AllowedValues, ", "))
		}
		if re != nil && !re.MatchString(s) {
			return fmt.Sprintf("%s does not match the allowed pattern %s", what, p.AllowedPattern)
		}
		if chars {
			c := utf8.RuneCountInString(s)
			if p.MinChars != nil && c < *p.MinChars {
				return fmt.Sprintf("%s is shorter than %d characters", what, *p.MinChars)
			}
			if p.MaxChars != nil && c > *p.MaxChars {
				return fmt.Sprintf("%s is longer than %d characters", what, *p.MaxChars)
			}
		}
	}
	return ""
}

// jsonText is the JSON form of a map or list value, as SSM compares and sends it.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// ResolveParameters validates runtime parameters (SSM's map[string][]string) against the definitions
// and fills defaults. Unknown, missing required, wrong type, allowedValues, allowedPattern and
// min/max items/chars are refused with a runcmd EINVALID "InvalidParameters" error naming the parameter
// (never its value). Values holding a {{ssm:...}} reference skip the value rules: they are only known
// once resolved. ResolveParameters(v.Wire) returns v again, so the node can re-validate what it receives.
//
// Wire forms: String, Boolean ("true"/"false") and Integer take exactly one element; StringList takes the
// list; StringMap takes one element holding a JSON object of strings; MapList takes one JSON object per
// element, or a single element holding a JSON array of objects.
func (d *Document) ResolveParameters(in map[string][]string) (Values, error) {
	var unknown []string
	for name := range in {
		if _, ok := d.Parameter(name); !ok {
			unknown = append(unknown, strconv.Quote(clip(name)))
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return Values{}, paramErr("parameter(s) %s are not defined by the document", strings.Join(unknown, ", "))
	}
	v := Values{Typed: make(map[string]any, len(d.Parameters)), Wire: make(map[string][]string, len(d.Parameters))}
	for i := range d.Parameters {
		p := &d.Parameters[i]
		raw, given := in[p.Name]
		var typed any
		switch {
		case given:
			var err error
			if typed, err = fromWire(p.Type, raw); err != nil {
				return Values{}, paramErr("parameter %q: %s", p.Name, err.Error())
			}
		case p.HasDefault:
			typed = p.Default
		default:
			return Values{}, paramErr("parameter %q is required (it has no default)", p.Name)
		}
		if !hasSSMRef(typed) {
			if msg := p.check(typed); msg != "" {
				return Values{}, paramErr("parameter %q: %s", p.Name, msg)
			}
		}
		v.Typed[p.Name] = typed
		v.Wire[p.Name] = toWire(typed)
	}
	return v, nil
}

func fromWire(typ string, raw []string) (any, error) {
	one := func() (string, error) {
		if len(raw) != 1 {
			return "", fmt.Errorf("a %s parameter takes exactly one value, got %d", typ, len(raw))
		}
		return raw[0], nil
	}
	switch typ {
	case TypeString:
		return one()
	case TypeStringList:
		return slices.Clone(raw), nil
	case TypeBoolean:
		s, err := one()
		if err != nil {
			return nil, err
		}
		switch s {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("a Boolean parameter takes true or false")
	case TypeInteger:
		s, err := one()
		if err != nil {
			return nil, err
		}
		n, err := strconv.ParseInt(s, 10, strconv.IntSize)
		if err != nil {
			return nil, fmt.Errorf("an Integer parameter takes a whole number")
		}
		return int(n), nil
	case TypeStringMap:
		s, err := one()
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := decodeStrict(s, &m); err != nil || m == nil {
			return nil, fmt.Errorf("a StringMap parameter takes a JSON object of strings")
		}
		out := make(map[string]string, len(m))
		for k, e := range m {
			s, ok := scalarString(e)
			if !ok {
				return nil, fmt.Errorf("a StringMap parameter takes a JSON object of strings (key %q)", clip(k))
			}
			out[k] = s
		}
		return out, nil
	case TypeMapList:
		items := raw
		if len(raw) == 1 && strings.HasPrefix(strings.TrimSpace(raw[0]), "[") {
			var list []json.RawMessage
			if err := decodeStrict(raw[0], &list); err != nil {
				return nil, fmt.Errorf("a MapList parameter takes JSON objects")
			}
			items = make([]string, len(list))
			for i, e := range list {
				items[i] = string(e)
			}
		}
		out := make([]map[string]any, 0, len(items))
		for i, s := range items {
			var m map[string]any
			if err := decodeStrict(s, &m); err != nil || m == nil {
				return nil, fmt.Errorf("a MapList parameter takes JSON objects (item %d is not one)", i+1)
			}
			out = append(out, normJSON(m).(map[string]any))
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown type %q", typ)
}

func decodeStrict(s string, dst any) error {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("unexpected data after JSON value")
	}
	return nil
}

// normJSON turns json.Number into int or float64, recursively.
func normJSON(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = normJSON(e)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = normJSON(e)
		}
		return v
	case json.Number:
		return plain(v)
	}
	return v
}

func toWire(typed any) []string {
	switch v := typed.(type) {
	case string:
		return []string{v}
	case []string:
		return slices.Clone(v)
	case bool:
		return []string{strconv.FormatBool(v)}
	case int:
		return []string{strconv.Itoa(v)}
	case map[string]string:
		return []string{jsonText(v)}
	case []map[string]any:
		out := make([]string, len(v))
		for i, m := range v {
			out[i] = jsonText(m)
		}
		return out
	}
	return nil
}

// envString is an ENV_VAR parameter's SSM_<name> value: strings as is, Boolean/Integer in their text
// form, lists and maps as JSON (SSM's encoding of non-string ENV_VAR values is unconfirmed).
func envString(typed any) string {
	switch v := typed.(type) {
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case int:
		return strconv.Itoa(v)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(typed); err != nil {
		return ""
	}
	return strings.TrimSuffix(buf.String(), "\n")
}
