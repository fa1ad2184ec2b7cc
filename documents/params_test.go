package documents_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runcmd/runcmd"
)

const paramsDoc = `schemaVersion: '2.2'
parameters:
  s:    {type: String, allowedPattern: '[a-z]+', minChars: 2, maxChars: 5}
  sv:   {type: String, allowedValues: [red, green], default: red}
  sl:   {type: StringList, minItems: 1, maxItems: 2, maxChars: 3, allowedPattern: '[a-z]*', default: [ab]}
  slv:  {type: StringList, allowedValues: [x, y], default: []}
  b:    {type: Boolean, default: false}
  i:    {type: Integer, default: 1, allowedValues: [1, 2, 30], minChars: 5}
  sm:   {type: StringMap, default: {}, maxChars: 20}
  ml:   {type: MapList, default: [], maxItems: 2}
  anyv: {type: String, default: ''}
  u:    {type: String, default: '', maxChars: 3}
mainSteps:
  - {action: aws:runShellScript, name: a, inputs: {runCommand: [ls]}}
`

func TestResolveParameters(t *testing.T) {
	t.Parallel()
	d := mustParse(t, paramsDoc)
	base := map[string][]string{"s": {"abc"}}
	with := func(k string, v ...string) map[string][]string {
		m := map[string][]string{"s": {"abc"}}
		m[k] = v
		return m
	}
	tests := []struct {
		name   string
		in     map[string][]string
		errSub string // "" = valid
		typed  map[string]any
		wire   map[string][]string
	}{
		{name: "defaults", in: base,
			typed: map[string]any{"s": "abc", "sv": "red", "sl": []string{"ab"}, "slv": []string{}, "b": false, "i": 1,
				"sm": map[string]string{}, "ml": []map[string]any{}, "anyv": "", "u": ""},
			wire: map[string][]string{"s": {"abc"}, "sv": {"red"}, "sl": {"ab"}, "slv": {}, "b": {"false"}, "i": {"1"},
				"sm": {"{}"}, "ml": {}, "anyv": {""}, "u": {""}}},
		{name: "unknown", in: with("nope", "x"), errSub: `parameter(s) "nope" are not defined by the document`},
		{name: "missing required", in: map[string][]string{}, errSub: `parameter "s" is required`},
		{name: "String two values", in: map[string][]string{"s": {"ab", "cd"}}, errSub: `parameter "s": a String parameter takes exactly one value, got 2`},
		{name: "String pattern is whole-value", in: map[string][]string{"s": {"abc1"}}, errSub: `parameter "s": the value does not match the allowed pattern [a-z]+`},
		{name: "String minChars", in: map[string][]string{"s": {"a"}}, errSub: `parameter "s": the value is shorter than 2 characters`},
		{name: "maxChars counts characters, not bytes", in: with("u", "ééé")},
		{name: "maxChars counts characters", in: with("u", "éééé"), errSub: `parameter "u": the value is longer than 3 characters`},
		{name: "String maxChars", in: map[string][]string{"s": {"abcdef"}}, errSub: `parameter "s": the value is longer than 5 characters`},
		{name: "allowedValues", in: with("sv", "blue"), errSub: `parameter "sv": the value is not one of the allowed values [red, green]`},
		{name: "allowedValues ok", in: with("sv", "green")},
		{name: "StringList minItems", in: with("sl"), errSub: `parameter "sl": needs at least 1 item(s), got 0`},
		{name: "StringList maxItems", in: with("sl", "a", "b", "c"), errSub: `parameter "sl": allows at most 2 item(s), got 3`},
		{name: "StringList chars per item", in: with("sl", "a", "abcd"), errSub: `parameter "sl": item 2 is longer than 3 characters`},
		{name: "StringList pattern per item", in: with("sl", "a", "B"), errSub: `parameter "sl": item 2 does not match`},
		{name: "StringList allowedValues per item", in: with("slv", "x", "z"), errSub: `parameter "slv": item 2 is not one of the allowed values [x, y]`},
		{name: "Boolean", in: with("b", "true")},
		{name: "Boolean wrong", in: with("b", "True"), errSub: `parameter "b": a Boolean parameter takes true or false`},
		{name: "Boolean two", in: with("b", "true", "false"), errSub: `exactly one value`},
		{name: "Integer", in: with("i", "30")},
		{name: "Integer decimal", in: with("i", "1.5"), errSub: `parameter "i": an Integer parameter takes a whole number`},
		{name: "Integer allowedValues", in: with("i", "3"), errSub: `parameter "i": the value is not one of the allowed values`},
		{name: "StringMap", in: with("sm", `{"a":"b","n":1}`)},
		{name: "StringMap not object", in: with("sm", `["a"]`), errSub: `parameter "sm": a StringMap parameter takes a JSON object of strings`},
		{name: "StringMap nested", in: with("sm", `{"a":{"b":"c"}}`), errSub: `(key "a")`},
		{name: "StringMap maxChars on JSON", in: with("sm", `{"aaaaaaaa":"bbbbbbbbbbbb"}`), errSub: `parameter "sm": the value is longer than 20 characters`},
		{name: "MapList items", in: with("ml", `{"a":"b"}`, `{"c":1}`)},
		{name: "MapList array form", in: with("ml", `[{"a":"b"}]`)},
		{name: "MapList maxItems", in: with("ml", `[{"a":"b"},{},{}]`), errSub: `parameter "ml": allows at most 2 item(s), got 3`},
		{name: "MapList not object", in: with("ml", `"x"`), errSub: `parameter "ml": a MapList parameter takes JSON objects (item 1 is not one)`},
		{name: "ssm reference skips rules", in: map[string][]string{"s": {"{{ssm:/x}}"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, err := d.ResolveParameters(tc.in)
			if tc.errSub != "" {
				assertErr(t, err, runcmd.EINVALID, "InvalidParameters", tc.errSub)
				return
			}
			if err != nil {
				t.Fatalf("ResolveParameters: %v", err)
			}
			if tc.typed != nil {
				if diff := cmp.Diff(tc.typed, v.Typed); diff != "" {
					t.Errorf("Typed (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tc.wire, v.Wire); diff != "" {
					t.Errorf("Wire (-want +got):\n%s", diff)
				}
			}
			// What the node receives re-validates to the same values.
			again, err := d.ResolveParameters(v.Wire)
			if err != nil {
				t.Fatalf("ResolveParameters(Wire): %v", err)
			}
			if diff := cmp.Diff(v, again); diff != "" {
				t.Errorf("ResolveParameters(Wire) (-first +second):\n%s", diff)
			}
		})
	}
}

func TestResolveParametersTyped(t *testing.T) {
	t.Parallel()
	d := mustParse(t, paramsDoc)
	v, err := d.ResolveParameters(map[string][]string{"s": {"abc"}, "b": {"true"}, "i": {"+2"},
		"sm": {`{"k":"v","n":1}`}, "ml": {`{"a":{"b":[1,2.5]}}`}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"b": true, "i": 2, "sm": map[string]string{"k": "v", "n": "1"},
		"ml": []map[string]any{{"a": map[string]any{"b": []any{1, 2.5}}}}}
	got := map[string]any{"b": v.Typed["b"], "i": v.Typed["i"], "sm": v.Typed["sm"], "ml": v.Typed["ml"]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Typed (-want +got):\n%s", diff)
	}
	wantWire := map[string][]string{"i": {"2"}, "sm": {`{"k":"v","n":"1"}`}, "ml": {`{"a":{"b":[1,2.5]}}`}}
	gotWire := map[string][]string{"i": v.Wire["i"], "sm": v.Wire["sm"], "ml": v.Wire["ml"]}
	if diff := cmp.Diff(wantWire, gotWire); diff != "" {
		t.Errorf("Wire (-want +got):\n%s", diff)
	}
}
