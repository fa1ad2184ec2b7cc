package documents_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/documents"
)

func mustParse(t testing.TB, content string) *documents.Document {
	t.Helper()
	d, err := documents.Parse([]byte(content), "")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return d
}

func render(t *testing.T, d *documents.Document, params map[string][]string, ps documents.ParamStore) []documents.RenderedStep {
	t.Helper()
	v, err := d.ResolveParameters(params)
	if err != nil {
		t.Fatalf("ResolveParameters: %v", err)
	}
	rs, err := d.Render(v, ps)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return rs
}

const interpDoc = `schemaVersion: '2.2'
parameters:
  msg: {type: String, default: 'hello'}
  cmds: {type: StringList, default: ['ls -l', 'pwd']}
  flag: {type: Boolean, default: false}
  n: {type: Integer, default: 42}
  m: {type: StringMap, default: {b: '2', a: '1'}}
  ml: {type: MapList, default: [{k: v}]}
  dir: {type: String, default: '/opt'}
  ref: {type: String, default: '{{ssm:/app/name}}'}
mainSteps:
  - action: aws:runShellScript
    name: whole
    inputs:
      runCommand: '{{ cmds }}'
      workingDirectory: '{{dir}}'
  - action: aws:runShellScript
    name: text
    inputs:
      runCommand:
        - 'echo {{ msg }} {{msg}} {{ cmds }} {{ flag }} {{ n }} {{ m }} {{ ml }} {{ unknown }} {{ bad-name }}'
        - '{{ n }}'
  - action: aws:downloadContent
    name: nested
    inputs:
      sourceType: HTTP
      sourceInfo:
        url: 'https://x/{{ msg }}'
        list: ['{{ cmds }}', {deep: '{{ flag }}'}]
        '{{ msg }}': key-untouched
      destinationPath: '{{ ref }}/{{ssm:/app/dir}}'
`

func TestRenderInterpolation(t *testing.T) {
	t.Parallel()
	d := mustParse(t, interpDoc)
	ps := documents.ParamStoreFunc(func(ref string) (string, error) { return "<" + ref + ">", nil })
	rs := render(t, d, map[string][]string{"msg": {"a$$b $HOME ${x} $0 $"}}, ps)

	if diff := cmp.Diff([]string{"ls -l", "pwd"}, rs[0].Commands); diff != "" {
		t.Errorf("whole token keeps the list (-want +got):\n%s", diff)
	}
	if rs[0].WorkingDirectory != "/opt" {
		t.Errorf("WorkingDirectory = %q", rs[0].WorkingDirectory)
	}
	// The value is a regexp replacement template, as in the agent: $$ → $, $name → "", $0 → the token.
	msg := "a$b   {{msg}} $"
	want := []string{
		`echo a$b   {{ msg }} $ ` + msg + ` ["ls -l","pwd"] false 42 {"a":"1","b":"2"} [{"k":"v"}] {{ unknown }} {{ bad-name }}`,
		"42",
	}
	if diff := cmp.Diff(want, rs[1].Commands); diff != "" {
		t.Errorf("text substitution (-want +got):\n%s", diff)
	}
	wantInputs := map[string]any{
		"sourceType": "HTTP",
		"sourceInfo": map[string]any{
			"url":       "https://x/a$b   {{ msg }} $",
			"list":      []any{[]any{"ls -l", "pwd"}, map[string]any{"deep": false}},
			"{{ msg }}": "key-untouched",
		},
		"destinationPath": "</app/name>/</app/dir>",
	}
	if diff := cmp.Diff(wantInputs, rs[2].Inputs); diff != "" {
		t.Errorf("recursive substitution (-want +got):\n%s", diff)
	}
	if rs[2].Commands != nil {
		t.Errorf("non-script step has Commands %v", rs[2].Commands)
	}
}

func TestRenderParamStore(t *testing.T) {
	t.Parallel()
	d := mustParse(t, interpDoc)
	v, err := d.ResolveParameters(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Render(v, nil)
	assertErr(t, err, runcmd.EINVALID, "InvalidParameters", `references Parameter Store parameter "/app/name", but no parameter store is configured`)

	_, err = d.Render(v, documents.ParamStoreFunc(func(ref string) (string, error) {
		return "", runcmd.Errorf(runcmd.EINVALID, "InvalidParameters", "parameter %s not found", ref)
	}))
	assertErr(t, err, runcmd.EINVALID, "InvalidParameters", "parameter /app/name not found")

	_, err = d.Render(v, documents.ParamStoreFunc(func(string) (string, error) { return "", errors.New("throttled") }))
	if runcmd.ErrorCode(err) != runcmd.EINTERNAL {
		t.Errorf("store failure: code %q, want internal (%v)", runcmd.ErrorCode(err), err)
	}
}

const envDoc = `schemaVersion: '2.2'
parameters:
  name:
    type: String
    interpolationType: ENV_VAR
  list:
    type: StringList
    interpolationType: ENV_VAR
    default: [a, 'b c']
mainSteps:
  - action: aws:runShellScript
    name: sh
    inputs:
      runCommand:
        - echo '{{ name }}'
        - printf '%s' "{{name}}" > "$OUT"
        - '{{ name }}'
  - action: aws:runPowerShellScript
    name: ps
    precondition:
      StringEquals: ['{{ name }}', 'x']
    inputs:
      runCommand: ['Write-Output "{{ name }}"']
      workingDirectory: '/tmp/{{ name }}'
`

func TestRenderEnvVar(t *testing.T) {
	t.Parallel()
	const evil = `'; touch /tmp/pwned #`
	d := mustParse(t, envDoc)
	rs := render(t, d, map[string][]string{"name": {evil}}, nil)

	wantEnv := map[string]string{"SSM_name": evil, "SSM_list": `["a","b c"]`}
	for _, s := range rs {
		if diff := cmp.Diff(wantEnv, s.Env); diff != "" {
			t.Errorf("step %s Env (-want +got):\n%s", s.Name, diff)
		}
	}
	wantSh := []string{`echo '${SSM_name}'`, `printf '%s' "${SSM_name}" > "$OUT"`, "${SSM_name}"}
	if diff := cmp.Diff(wantSh, rs[0].Commands); diff != "" {
		t.Errorf("shell commands (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{`Write-Output "$env:SSM_name"`}, rs[1].Commands); diff != "" {
		t.Errorf("PowerShell commands (-want +got):\n%s", diff)
	}
	// Data inputs and preconditions are not script text: they get the value.
	if rs[1].WorkingDirectory != "/tmp/"+evil {
		t.Errorf("WorkingDirectory = %q", rs[1].WorkingDirectory)
	}
	if got := rs[1].Precondition.Args; !cmp.Equal(got, []string{evil, "x"}) {
		t.Errorf("precondition args = %q", got)
	}

	// Real /bin/sh: the value reaches the script intact and runs nothing.
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	cmd := exec.Command(sh, "-c", rs[0].Commands[1])
	cmd.Dir = dir
	cmd.Env = []string{"OUT=" + out, "SSM_name=" + rs[0].Env["SSM_name"], "PATH=" + os.Getenv("PATH")}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sh: %v: %s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != evil {
		t.Errorf("script saw %q, want %q", got, evil)
	}
	if _, err := os.Stat("/tmp/pwned"); err == nil {
		t.Errorf("/tmp/pwned exists")
	}
}

func TestRenderTimeouts(t *testing.T) {
	t.Parallel()
	d := mustParse(t, `schemaVersion: '2.2'
parameters:
  t: {type: String, default: '10'}
mainSteps:
  - {action: aws:runShellScript, name: a, inputs: {runCommand: [ls], timeoutSeconds: '{{ t }}'}}
  - {action: aws:runShellScript, name: b, inputs: {runCommand: [ls], timeoutSeconds: 'x{{ t }}'}}
  - {action: aws:runShellScript, name: c, inputs: {runCommand: [ls], timeoutSeconds: 172800}}
  - {action: aws:runShellScript, name: d, inputs: {runCommand: [ls], timeoutSeconds: '5'}}
  - {action: aws:runShellScript, name: e, inputs: {runCommand: [ls]}}
`)
	tests := []struct {
		t    string
		want []int
	}{
		{"10", []int{10, 3600, 172800, 5, 3600}},
		{"4", []int{3600, 3600, 172800, 5, 3600}},
		{"172801", []int{3600, 3600, 172800, 5, 3600}},
		{"abc", []int{3600, 3600, 172800, 5, 3600}},
	}
	for _, tc := range tests {
		t.Run(tc.t, func(t *testing.T) {
			v, err := d.ResolveParameters(map[string][]string{"t": {tc.t}})
			if err != nil {
				t.Fatal(err)
			}
			rs, err := d.Render(v, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			sum := 0
			for _, s := range rs {
				got = append(got, s.TimeoutSeconds)
				sum += s.TimeoutSeconds
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("TimeoutSeconds (-want +got):\n%s", diff)
			}
			if e := d.ExecTimeoutSeconds(v); e != sum {
				t.Errorf("ExecTimeoutSeconds = %d, want %d", e, sum)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	t.Parallel()
	d := mustParse(t, `schemaVersion: '2.2'
parameters:
  m: {type: StringMap, default: {a: b}}
  l: {type: StringList, default: [a]}
mainSteps:
  - {action: aws:runShellScript, name: a, inputs: {runCommand: '{{ m }}'}}
`)
	v, err := d.ResolveParameters(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Render(v, nil)
	assertErr(t, err, runcmd.EINVALID, "InvalidParameters", `step "a" input runCommand: must be a list of strings`)
	_, err = d.Render(documents.Values{}, nil)
	assertErr(t, err, runcmd.EINVALID, "InvalidParameters", `parameter "m" has no value`)

	d = mustParse(t, `schemaVersion: '2.2'
parameters:
  l: {type: StringList, default: [a]}
mainSteps:
  - {action: aws:runShellScript, name: a, inputs: {runCommand: ['{{ l }}', 'echo']}}
`)
	v, _ = d.ResolveParameters(nil)
	_, err = d.Render(v, nil)
	assertErr(t, err, runcmd.EINVALID, "InvalidParameters", "line 1 is not a string")
}

func TestPreconditionApplies(t *testing.T) {
	t.Parallel()
	pc := func(a, b string) *documents.Precondition {
		return &documents.Precondition{Operator: "StringEquals", Args: []string{a, b}, StepName: "PatchWindows"}
	}
	tests := []struct {
		name     string
		p        *documents.Precondition
		platform string
		ok       bool
		msg      string
		err      string
	}{
		{"nil applies", nil, "Linux", true, "", ""},
		{"match", pc("platformType", "Windows"), "Windows", true, "", ""},
		{"case-insensitive", pc("platformType", "windows"), "WINDOWS", true, "", ""},
		{"reversed", pc("Linux", "platformType"), "linux", true, "", ""},
		{"no match", pc("platformType", "Windows"), "Linux", false,
			`Step execution skipped due to unsatisfied preconditions: '"StringEquals": [platformType, Windows]'. Step name: PatchWindows`, ""},
		{"parameters equal", pc("yes", "yes2"), "Linux", false,
			`Step execution skipped due to unsatisfied preconditions: '"StringEquals": [yes, yes2]'. Step name: PatchWindows`, ""},
		{"bad operator", &documents.Precondition{Operator: "StringLike", Args: []string{"a", "b"}, StepName: "s"}, "Linux", false, "",
			`Unrecognized precondition(s): '"StringLike": [a, b]', please update agent to latest version. Step name: s`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ok, msg, err := tc.p.Applies(tc.platform)
			if tc.err != "" {
				assertErr(t, err, runcmd.EINVALID, "InvalidDocumentContent", tc.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.ok || msg != tc.msg {
				t.Errorf("Applies = %v, %q; want %v, %q", ok, msg, tc.ok, tc.msg)
			}
		})
	}
}

func TestPreconditionWithParameter(t *testing.T) {
	t.Parallel()
	d := mustParse(t, `schemaVersion: '2.2'
parameters:
  env: {type: String, default: prod}
mainSteps:
  - action: aws:runShellScript
    name: onlyProd
    precondition: {StringEquals: ['{{ env }}', prod]}
    inputs: {runCommand: [ls]}
`)
	for env, want := range map[string]bool{"prod": true, "dev": false} {
		rs := render(t, d, map[string][]string{"env": {env}}, nil)
		ok, _, err := rs[0].Precondition.Applies("Linux")
		if err != nil || ok != want {
			t.Errorf("env=%s: Applies = %v, %v; want %v", env, ok, err, want)
		}
	}
}

func TestActionPlatforms(t *testing.T) {
	t.Parallel()
	if got := documents.ActionPlatforms("aws:runShellScript"); !cmp.Equal(got, []string{"Linux", "MacOS"}) {
		t.Errorf("runShellScript platforms = %v", got)
	}
	if documents.ActionPlatforms("aws:nope") != nil || documents.KnownAction("aws:nope") {
		t.Errorf("unknown action is known")
	}
	if got := documents.UnsupportedPluginMessage("aws:runShellScript", "PatchLinux"); got != "Step execution skipped due to unsupported plugin: aws:runShellScript. Step name: PatchLinux" {
		t.Errorf("UnsupportedPluginMessage = %q", got)
	}
}

// One parsed document serves concurrent sends (run with -race).
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	d := mustParse(t, interpDoc)
	ps := documents.ParamStoreFunc(func(ref string) (string, error) { return ref, nil })
	done := make(chan error)
	for i := range 8 {
		go func() {
			v, err := d.ResolveParameters(map[string][]string{"msg": {strings.Repeat("x", i)}})
			if err == nil {
				_, err = d.Render(v, ps)
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
