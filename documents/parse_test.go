package documents_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/documents"
)

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseGood(t *testing.T) {
	t.Parallel()
	type want struct {
		schema    string
		steps     []string
		plugins   []string
		actions   []string
		platforms []string
		params    map[string][]string // runtime parameters for ResolveParameters/Render
		timeouts  []int
	}
	tests := map[string]want{
		"v22-shell.yaml": {schema: "2.2", steps: []string{"restart", "report"}, plugins: []string{"restart", "report"},
			actions: []string{"aws:runShellScript", "aws:runPowerShellScript"}, platforms: []string{"Windows", "Linux", "MacOS"},
			timeouts: []int{30, 3600}},
		"v22-multi.json": {schema: "2.2", steps: []string{"download", "run", "nested"}, plugins: []string{"download", "run", "nested"},
			actions: []string{"aws:downloadContent", "aws:runShellScript", "aws:runDocument"}, platforms: []string{"Windows", "Linux", "MacOS"},
			timeouts: []int{3600, 600, 3600}},
		"v12-shell.json": {schema: "1.2", steps: []string{"0.aws:runShellScript", "0.aws:runPowerShellScript"},
			plugins: []string{"aws:runShellScript", "aws:runPowerShellScript"}, actions: []string{"aws:runShellScript", "aws:runPowerShellScript"},
			platforms: []string{"Windows", "Linux", "MacOS"}, params: map[string][]string{"commands": {"ls"}, "executionTimeout": {"120"}},
			timeouts: []int{120, 3600}},
		"v12-shell.yaml": {schema: "1.2", steps: []string{"0.aws:runShellScript"}, plugins: []string{"aws:runShellScript"},
			actions: []string{"aws:runShellScript"}, platforms: []string{"Linux", "MacOS"}, params: map[string][]string{"commands": {"ls"}},
			timeouts: []int{3600}},
		"v20-steps.yaml": {schema: "2.0", steps: []string{"first", "second"}, plugins: []string{"first", "second"},
			actions: []string{"aws:runShellScript", "aws:runShellScript"}, platforms: []string{"Linux", "MacOS"}, timeouts: []int{3600, 3600}},
		"v22-all-types.yaml": {schema: "2.2", steps: []string{"show"}, plugins: []string{"show"}, actions: []string{"aws:runShellScript"},
			platforms: []string{"Linux", "MacOS"}, timeouts: []int{3600}},
		"v22-envvar.yaml": {schema: "2.2", steps: []string{"echo"}, plugins: []string{"echo"}, actions: []string{"aws:runShellScript"},
			platforms: []string{"Linux", "MacOS"}, timeouts: []int{3600}},
	}
	files, err := filepath.Glob("testdata/good/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tests) {
		t.Errorf("testdata/good has %d files, the table %d: every file needs an entry", len(files), len(tests))
	}
	for _, f := range files {
		name := filepath.Base(f)
		w, ok := tests[name]
		if !ok {
			t.Errorf("no table entry for %s", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			content := readFile(t, f)
			d, err := documents.Parse(content, "")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			var steps, actions []string
			for _, s := range d.Steps {
				steps = append(steps, s.Name)
				actions = append(actions, s.Action)
			}
			sum := sha256.Sum256(content)
			wantFormat := "YAML"
			if strings.HasSuffix(name, ".json") {
				wantFormat = "JSON"
			}
			got := []any{d.SchemaVersion, steps, d.PluginNames(), actions, d.PlatformTypes, d.Hash, d.Format}
			exp := []any{w.schema, w.steps, w.plugins, w.actions, w.platforms, hex.EncodeToString(sum[:]), wantFormat}
			if diff := cmp.Diff(exp, got); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
			v, err := d.ResolveParameters(w.params)
			if err != nil {
				t.Fatalf("ResolveParameters: %v", err)
			}
			ps := documents.ParamStoreFunc(func(ref string) (string, error) { return "resolved:" + ref, nil })
			rs, err := d.Render(v, ps)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			var timeouts []int
			total := 0
			for _, s := range rs {
				timeouts = append(timeouts, s.TimeoutSeconds)
				total += s.TimeoutSeconds
				if strings.Contains(s.Action, "Script") && len(s.Commands) == 0 {
					t.Errorf("step %s: no commands", s.Name)
				}
			}
			if diff := cmp.Diff(w.timeouts, timeouts); diff != "" {
				t.Errorf("TimeoutSeconds (-want +got):\n%s", diff)
			}
			if got := d.ExecTimeoutSeconds(v); got != total {
				t.Errorf("ExecTimeoutSeconds = %d, want %d", got, total)
			}
			// The other format parses to the same model.
			to := "JSON"
			if wantFormat == "JSON" {
				to = "YAML"
			}
			conv, err := documents.Convert(content, "", to)
			if err != nil {
				t.Fatalf("Convert to %s: %v", to, err)
			}
			d2, err := documents.Parse(conv, to)
			if err != nil {
				t.Fatalf("Parse converted: %v\n%s", err, conv)
			}
			if diff := cmp.Diff(d.Steps, d2.Steps, cmp.AllowUnexported(documents.Parameter{}), ignoreLine); diff != "" {
				t.Errorf("steps after Convert (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(d.Parameters, d2.Parameters, cmp.AllowUnexported(documents.Parameter{}), ignoreRegexp); diff != "" {
				t.Errorf("parameters after Convert (-want +got):\n%s", diff)
			}
		})
	}
}

var (
	ignoreLine   = cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Line" }, cmp.Ignore())
	ignoreRegexp = cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".re" }, cmp.Ignore())
)

func TestParseBad(t *testing.T) {
	t.Parallel()
	type want struct{ name, substr string }
	content := "InvalidDocumentContent"
	tests := map[string]want{
		"not-json.json":              {content, "invalid JSON"},
		"not-yaml.yaml":              {content, "invalid YAML"},
		"no-schema.yaml":             {content, "schemaVersion is required"},
		"schema-21.json":             {"InvalidDocumentSchemaVersion", `schemaVersion "2.1" is not supported`},
		"schema-03.yaml":             {"InvalidDocumentSchemaVersion", `"0.3"`},
		"no-mainsteps.yaml":          {content, "mainSteps is required"},
		"empty-mainsteps.json":       {content, "mainSteps (line 1): must hold at least one step"},
		"dup-step.yaml":              {content, `mainSteps[1].name: step name "same" is used twice (line 6)`},
		"unknown-action.yaml":        {content, `mainSteps[0].action (line 4): unknown action "aws:runFoo"`},
		"no-runcommand.json":         {content, "mainSteps[0].inputs (line 4): runCommand is required for aws:runShellScript"},
		"timeout-range.yaml":         {content, "mainSteps[0].inputs.timeoutSeconds (line 7): must be a whole number of seconds from 5 to 172800"},
		"bad-step-name.yaml":         {content, `step name "has space" must be`},
		"precondition-20.yaml":       {content, "mainSteps[0].precondition (line 5): preconditions need schemaVersion 2.2"},
		"precondition-op.yaml":       {content, "mainSteps[0].precondition.StringNotEquals (line 6): unknown operator"},
		"precondition-platform.yaml": {content, "precondition.StringEquals[1] (line 6): must be Linux, Windows or MacOS"},
		"bad-param-type.yaml":        {content, `parameters.p.type (line 4): unknown type "Float"`},
		"bad-pattern.json":           {content, "parameters.p.allowedPattern (line 3): is not a valid (Go RE2) regular expression"},
		"default-violates.yaml":      {content, "parameters.p.default (line 6): the value is not one of the allowed values [a, b]"},
		"default-type.yaml":          {content, "parameters.flag.default (line 5): must be true or false"},
		"envvar-12.json":             {content, "parameters.p.interpolationType (line 3): ENV_VAR needs schemaVersion 2.2"},
		"runtimeconfig-in-22.json":   {content, "runtimeConfig (line 1): is not used with schemaVersion 2.2"},
		"v12-unknown-plugin.json":    {content, `runtimeConfig.aws:runBash (line 1): unknown plugin "aws:runBash"`},
		"isend.yaml":                 {content, "mainSteps[0].isEnd (line 5): is an Automation step field"},
		"finally-not-last.yaml":      {content, "finallyStep is honoured only on the last step"},
		"dup-key.json":               {content, `schemaVersion (line 3): key "schemaVersion" appears twice`},
		"bad-param-name.yaml":        {content, "parameters.my_param (line 3): parameter names may contain only letters and digits"},
		"onfailure-bad.yaml":         {content, "mainSteps[0].inputs.onFailure (line 7): must be exit or successAndExit"},
		"top-level-unknown.yaml":     {content, "assumeRole (line 2): is an Automation document element"},
		"unknown-input.yaml":         {content, "mainSteps[0].inputs.commands (line 7): unknown input for aws:runShellScript"},
		"runcommand-type.json":       {content, "mainSteps[0].inputs.runCommand[0] (line 1): must be a string"},
		"multi-doc.yaml":             {content, "more than one YAML document"},
		"alias-bomb.yaml":            {content, "more than 100000 values"},
		"not-object.json":            {content, "the document must be a JSON object"},
		"minitems-on-string.yaml":    {content, "parameters.p (line 3): minItems and maxItems apply only to StringList and MapList"},
		"colon-clash.yaml":           {content, `step names "a:b" and "ab" clash`},
	}
	files, err := filepath.Glob("testdata/bad/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tests) {
		t.Errorf("testdata/bad has %d files, the table %d: every file needs an entry", len(files), len(tests))
	}
	for _, f := range files {
		name := filepath.Base(f)
		w, ok := tests[name]
		if !ok {
			t.Errorf("no table entry for %s", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d, err := documents.Parse(readFile(t, f), "")
			assertErr(t, err, runcmd.EINVALID, w.name, w.substr)
			if d != nil {
				t.Errorf("Parse returned a document with the error")
			}
		})
	}
}

func assertErr(t *testing.T, err error, code, name, substr string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %s containing %q", name, substr)
	}
	if got := runcmd.ErrorCode(err); got != code {
		t.Errorf("code = %q, want %q (%v)", got, code, err)
	}
	if got := runcmd.ErrorName(err); got != name {
		t.Errorf("name = %q, want %q (%v)", got, name, err)
	}
	if !strings.Contains(runcmd.ErrorMessage(err), substr) {
		t.Errorf("message %q does not contain %q", runcmd.ErrorMessage(err), substr)
	}
}

func TestParseFormatAndSize(t *testing.T) {
	t.Parallel()
	yamlDoc := "schemaVersion: '2.2'\nmainSteps:\n  - {action: aws:runShellScript, name: a, inputs: {runCommand: [ls]}}\n"
	jsonDoc := `{"schemaVersion": "2.2", "mainSteps": [{"action": "aws:runShellScript", "name": "a", "inputs": {"runCommand": ["ls"]}}]}`

	t.Run("explicit formats", func(t *testing.T) {
		for _, c := range []struct{ content, format string }{{yamlDoc, "YAML"}, {jsonDoc, "JSON"}, {jsonDoc, "YAML"}, {yamlDoc, "yaml"}, {"\ufeff" + jsonDoc, ""}} {
			if _, err := documents.Parse([]byte(c.content), c.format); err != nil {
				t.Errorf("Parse(%q, %q): %v", c.content[:10], c.format, err)
			}
		}
	})
	t.Run("YAML given as JSON", func(t *testing.T) {
		_, err := documents.Parse([]byte(yamlDoc), "JSON")
		assertErr(t, err, runcmd.EINVALID, "InvalidDocumentContent", "invalid JSON")
	})
	t.Run("TEXT", func(t *testing.T) {
		_, err := documents.Parse([]byte(jsonDoc), "TEXT")
		assertErr(t, err, runcmd.EINVALID, "InvalidDocumentContent", `document format "TEXT" is not supported`)
	})
	t.Run("empty", func(t *testing.T) {
		_, err := documents.Parse([]byte("  \n"), "")
		assertErr(t, err, runcmd.EINVALID, "InvalidDocumentContent", "empty")
	})
	t.Run("64 KB", func(t *testing.T) {
		pad := strings.Repeat("x", documents.MaxDocumentSize-len(jsonDoc)-len(`,"description":""`))
		ok := strings.TrimSuffix(jsonDoc, "}") + `,"description":"` + pad + `"}`
		if len(ok) != documents.MaxDocumentSize {
			t.Fatalf("test document is %d bytes", len(ok))
		}
		if _, err := documents.Parse([]byte(ok), ""); err != nil {
			t.Errorf("Parse(64 KB): %v", err)
		}
		_, err := documents.Parse([]byte(ok+" "), "")
		assertErr(t, err, runcmd.ELIMIT, "MaxDocumentSizeExceeded", "65537 bytes")
		err = documents.CheckSendSize([]byte(ok[:60000]), map[string][]string{"commands": {strings.Repeat("y", 6000)}})
		assertErr(t, err, runcmd.ELIMIT, "MaxDocumentSizeExceeded", "the document and its parameters")
	})
	t.Run("unquoted schemaVersion 2.0 keeps its text", func(t *testing.T) {
		d, err := documents.Parse([]byte("schemaVersion: 2.0\nmainSteps:\n  - {action: aws:runShellScript, name: a, inputs: {runCommand: [ls]}}\n"), "")
		if err != nil {
			t.Fatal(err)
		}
		if d.SchemaVersion != "2.0" {
			t.Errorf("SchemaVersion = %q, want 2.0", d.SchemaVersion)
		}
	})
}

func TestParseStep(t *testing.T) {
	t.Parallel()
	d, err := documents.Parse(readFile(t, "testdata/good/v22-shell.yaml"), "")
	if err != nil {
		t.Fatal(err)
	}
	want := []documents.Step{{
		Name: "restart", Action: "aws:runShellScript", PluginName: "restart",
		Inputs: map[string]any{"timeoutSeconds": "{{ wait }}", "workingDirectory": "/tmp", "onFailure": "exit",
			"runCommand": []any{"systemctl restart {{ service }}", "systemctl is-active {{service}}"}},
		Precondition: &documents.Precondition{Operator: "StringEquals", Args: []string{"platformType", "Linux"}, StepName: "restart"},
		OnFailure:    "exit", Line: 14,
	}, {
		Name: "report", Action: "aws:runPowerShellScript", PluginName: "report",
		Inputs:       map[string]any{"finallyStep": true, "runCommand": []any{`Write-Output "{{ service }}"`}},
		Precondition: &documents.Precondition{Operator: "StringEquals", Args: []string{"platformType", "Windows"}, StepName: "report"},
		FinallyStep:  true, Line: 25,
	}}
	if diff := cmp.Diff(want, d.Steps); diff != "" {
		t.Errorf("Steps (-want +got):\n%s", diff)
	}
	intp := func(n int) *int { return &n }
	p, ok := d.Parameter("service")
	wantP := documents.Parameter{Name: "service", Type: "String", Description: "The service to restart.",
		AllowedPattern: "^[a-z0-9-]+$", Default: "nginx", HasDefault: true}
	if diff := cmp.Diff(wantP, p, ignoreRegexp, cmp.AllowUnexported(documents.Parameter{})); !ok || diff != "" {
		t.Errorf("Parameter(service) (-want +got):\n%s", diff)
	}
	d, err = documents.Parse(readFile(t, "testdata/good/v12-shell.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	p, _ = d.Parameter("commands")
	wantP = documents.Parameter{Name: "commands", Type: "StringList", Description: "(Required) Commands.", DisplayType: "textarea", MinItems: intp(1)}
	if diff := cmp.Diff(wantP, p, ignoreRegexp, cmp.AllowUnexported(documents.Parameter{})); diff != "" {
		t.Errorf("Parameter(commands) (-want +got):\n%s", diff)
	}
	if !p.Required() {
		t.Errorf("commands has no default but is not Required")
	}
	if got := d.Steps[0].Inputs; !cmp.Equal(got, map[string]any{"runCommand": "{{ commands }}",
		"workingDirectory": "{{ workingDirectory }}", "timeoutSeconds": "{{ executionTimeout }}"}) {
		t.Errorf("1.2 inputs = %v (the id must be dropped)", got)
	}
}

func TestDefaultValue(t *testing.T) {
	t.Parallel()
	d, err := documents.Parse(readFile(t, "testdata/good/v22-all-types.yaml"), "")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"text": "3600", "list": `["a","b"]`, "flag": "true", "count": "3",
		"tags": `{"env":"prod","tier":"1"}`, "items": `[{"name":"a","size":1}]`, "secret": "{{ssm:/app/secret}}"}
	got := map[string]string{}
	for _, p := range d.Parameters {
		got[p.Name] = p.DefaultValue()
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DefaultValue (-want +got):\n%s", diff)
	}
}

func TestConvert(t *testing.T) {
	t.Parallel()
	in := `{"schemaVersion": "2.2", "b": [1, 2.50, "x\ny", "<&>"], "a": {"z": null, "y": true}}`
	y, err := documents.Convert([]byte(in), "JSON", "YAML")
	if err != nil {
		t.Fatal(err)
	}
	wantYAML := "schemaVersion: \"2.2\"\nb:\n  - 1\n  - 2.50\n  - |-\n    x\n    y\n  - <&>\na:\n  z: null\n  y: true\n"
	if diff := cmp.Diff(wantYAML, string(y)); diff != "" {
		t.Errorf("to YAML (-want +got):\n%s", diff)
	}
	j, err := documents.Convert(y, "", "JSON")
	if err != nil {
		t.Fatal(err)
	}
	wantJSON := "{\n  \"schemaVersion\": \"2.2\",\n  \"b\": [\n    1,\n    2.50,\n    \"x\\ny\",\n    \"<&>\"\n  ],\n  \"a\": {\n    \"z\": null,\n    \"y\": true\n  }\n}\n"
	if diff := cmp.Diff(wantJSON, string(j)); diff != "" {
		t.Errorf("to JSON (-want +got):\n%s", diff)
	}
	same, err := documents.Convert([]byte(in), "", "JSON")
	if err != nil || string(same) != in {
		t.Errorf("Convert to the same format = %q, %v; want the content unchanged", same, err)
	}
	_, err = documents.Convert([]byte("{"), "", "YAML")
	assertErr(t, err, runcmd.EINVALID, "InvalidDocumentContent", "invalid JSON")
	_, err = documents.Convert([]byte(in), "", "TEXT")
	assertErr(t, err, runcmd.EINVALID, "InvalidDocumentContent", "TEXT")
}
