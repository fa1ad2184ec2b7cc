package documents_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/documents"
	"github.com/runcmd/runcmd/documents/builtin"
)

// seeds adds every testdata document and built-in; testdata/fuzz/<name> holds further seeds.
func seeds(f *testing.F, add func(content []byte)) {
	files, _ := filepath.Glob("testdata/*/*.*")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		add(b)
	}
	for _, name := range builtin.Names() {
		b, _ := builtin.Content(name)
		add(b)
	}
}

func FuzzParse(f *testing.F) {
	seeds(f, func(b []byte) { f.Add(b, "") })
	f.Fuzz(func(t *testing.T, content []byte, format string) {
		d, err := documents.Parse(content, format)
		if err != nil {
			if runcmd.ErrorCode(err) == runcmd.EINTERNAL {
				t.Fatalf("Parse returned an uncoded error: %v", err)
			}
			return
		}
		if len(d.Steps) == 0 || len(d.PluginNames()) != len(d.Steps) || len(d.Hash) != 64 {
			t.Fatalf("parsed document without steps or hash: %+v", d)
		}
		// A valid document converts to the other format and stays valid with the same steps.
		to := "YAML"
		if d.Format == "YAML" {
			to = "JSON"
		}
		conv, err := documents.Convert(content, d.Format, to)
		if err != nil {
			t.Fatalf("Convert to %s: %v", to, err)
		}
		d2, err := documents.Parse(conv, to)
		if err == nil && len(d2.Steps) != len(d.Steps) {
			t.Fatalf("converted document has %d steps, want %d", len(d2.Steps), len(d.Steps))
		}
		if err != nil && runcmd.ErrorName(err) != "MaxDocumentSizeExceeded" {
			t.Fatalf("converted document does not parse: %v\n%s", err, conv)
		}
		v, err := d.ResolveParameters(nil)
		if err != nil {
			return
		}
		if _, err := d.Render(v, documents.ParamStoreFunc(func(ref string) (string, error) { return ref, nil })); err != nil &&
			runcmd.ErrorCode(err) != runcmd.EINVALID {
			t.Fatalf("Render: %v", err)
		}
		d.ExecTimeoutSeconds(v)
		for _, s := range d.Steps {
			for _, pt := range []string{"Linux", "Windows", "MacOS"} {
				s.Precondition.Applies(pt)
			}
		}
	})
}

// FuzzRender gives every parameter of a document the fuzzed value and renders it.
func FuzzRender(f *testing.F) {
	seeds(f, func(b []byte) { f.Add(string(b), "value") })
	f.Add(envDoc, `'; touch /tmp/pwned #`)
	f.Add(interpDoc, "$$ $1 ${x} {{ msg }} {{ssm:/a}}")
	f.Add(paramsDoc, `{"a":"b"}`)
	f.Fuzz(func(t *testing.T, content, value string) {
		d, err := documents.Parse([]byte(content), "")
		if err != nil {
			return
		}
		in := map[string][]string{}
		for _, p := range d.Parameters {
			switch p.Type {
			case documents.TypeStringList, documents.TypeMapList:
				in[p.Name] = []string{value, value}
			default:
				in[p.Name] = []string{value}
			}
		}
		v, err := d.ResolveParameters(in)
		if err != nil {
			if runcmd.ErrorName(err) != "InvalidParameters" {
				t.Fatalf("ResolveParameters: %v", err)
			}
			return
		}
		again, err := d.ResolveParameters(v.Wire)
		if err != nil || len(again.Wire) != len(v.Wire) {
			t.Fatalf("ResolveParameters(Wire) = %v", err)
		}
		rs, err := d.Render(v, documents.ParamStoreFunc(func(ref string) (string, error) { return "p", nil }))
		if err != nil {
			if runcmd.ErrorCode(err) != runcmd.EINVALID {
				t.Fatalf("Render: %v", err)
			}
			return
		}
		for _, p := range d.Parameters {
			if p.InterpolationType != documents.InterpolationEnvVar || p.Type != documents.TypeString {
				continue
			}
			for _, s := range rs {
				if got := s.Env["SSM_"+p.Name]; got != value {
					t.Fatalf("step %s: SSM_%s = %q, want %q", s.Name, p.Name, got, value)
				}
				if s.Action == "aws:runShellScript" && len(value) > 8 && !strings.Contains(content, value) {
					for _, c := range s.Commands {
						if strings.Contains(c, value) {
							t.Fatalf("ENV_VAR value pasted into %q", c)
						}
					}
				}
			}
		}
		if d.ExecTimeoutSeconds(v) < 5*len(d.Steps) {
			t.Fatalf("ExecTimeoutSeconds below the minimum")
		}
	})
}
