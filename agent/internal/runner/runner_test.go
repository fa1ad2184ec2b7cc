//go:build unix

package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/agent/internal/state"
	"github.com/runcmd/runcmd/documents"
)

// render parses a schema 2.2 document built from steps (JSON objects) and renders it with params.
func render(t *testing.T, parameters string, params map[string][]string, steps ...string) []documents.RenderedStep {
	t.Helper()
	if parameters == "" {
		parameters = "{}"
	}
	content := fmt.Sprintf(`{"schemaVersion":"2.2","description":"test","parameters":%s,"mainSteps":[%s]}`,
		parameters, strings.Join(steps, ","))
	doc, err := documents.Parse([]byte(content), "JSON")
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, content)
	}
	v, err := doc.ResolveParameters(params)
	if err != nil {
		t.Fatalf("ResolveParameters: %v", err)
	}
	rs, err := doc.Render(v, nil)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return rs
}

// sh is a mainSteps entry running commands with /bin/sh; extra holds more step fields.
func sh(name string, extra string, commands ...string) string {
	return shIn(name, extra, "", commands...)
}

// shIn is sh with more inputs (such as onFailure) in inputs.
func shIn(name, extra, inputs string, commands ...string) string {
	q := make([]string, len(commands))
	for i, c := range commands {
		q[i] = fmt.Sprintf("%q", c)
	}
	if extra != "" {
		extra = "," + extra
	}
	if inputs != "" {
		inputs = "," + inputs
	}
	return fmt.Sprintf(`{"action":"aws:runShellScript","name":%q,"inputs":{"runCommand":[%s]%s}%s}`,
		name, strings.Join(q, ","), inputs, extra)
}

type upload struct {
	Bucket, Key, Body string
}

type fakeUploader struct {
	mu   sync.Mutex
	got  []upload
	fail error
}

func (f *fakeUploader) Upload(_ context.Context, bucket, key string, body io.ReadSeeker, size int64) error {
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	if int64(len(b)) != size {
		return fmt.Errorf("size %d, body %d bytes", size, len(b))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.got = append(f.got, upload{bucket, key, string(b)})
	return nil
}

func newRunner(t *testing.T, up Uploader) *Runner {
	t.Helper()
	st, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{
		State:        st,
		InstanceID:   "mi-0123456789abcdef0",
		Region:       "us-east-1",
		PlatformType: "Linux",
		BaseEnv:      []string{"PATH=/usr/bin:/bin"},
		Uploader:     up,
		LookPath:     func(string) (string, error) { return "", errors.New("not found") },
	})
}

// summary is the part of a PluginResult that tests compare.
type summary struct {
	Name    string
	Detail  runcmd.Detail
	Status  runcmd.InvocationStatus
	Code    int
	Skipped bool
	Stdout  string
	Stderr  string
}

func summarize(ps []runcmd.PluginResult) []summary {
	var out []summary
	for _, p := range ps {
		out = append(out, summary{p.Name, p.Detail, p.Status, p.ResponseCode, p.Skipped, p.Stdout, p.Stderr})
	}
	return out
}

func TestRunSteps(t *testing.T) {
	t.Parallel()
	const windowsOnly = `"precondition":{"StringEquals":["platformType","Windows"]}`
	tests := []struct {
		name       string
		steps      []string
		wantDetail runcmd.Detail
		wantCode   int
		want       []summary
	}{
		{
			name:       "all succeed",
			steps:      []string{sh("a", "", "echo a"), sh("b", "", "echo b >&2")},
			wantDetail: runcmd.DetailSuccess,
			want: []summary{
				{"a", runcmd.DetailSuccess, runcmd.InvocationSuccess, 0, false, "a\n", ""},
				{"b", runcmd.DetailSuccess, runcmd.InvocationSuccess, 0, false, "", "b\n"},
			},
		},
		{
			name:       "precondition skips with SSM's message",
			steps:      []string{sh("win", windowsOnly, "echo no"), sh("linux", "", "echo yes")},
			wantDetail: runcmd.DetailSuccess,
			want: []summary{
				{"win", runcmd.DetailSuccess, runcmd.InvocationSuccess, 0, true,
					`Step execution skipped due to unsatisfied preconditions: '"StringEquals": [platformType, Windows]'. Step name: win`, ""},
				{"linux", runcmd.DetailSuccess, runcmd.InvocationSuccess, 0, false, "yes\n", ""},
			},
		},
		{
			name:       "failure does not stop later steps, code is the last run step's",
			steps:      []string{sh("a", "", "exit 3"), sh("b", "", "echo b")},
			wantDetail: runcmd.DetailFailed,
			wantCode:   0,
			want: []summary{
				{"a", runcmd.DetailFailed, runcmd.InvocationFailed, 3, false, "", ""},
				{"b", runcmd.DetailSuccess, runcmd.InvocationSuccess, 0, false, "b\n", ""},
			},
		},
		{
			name:       "168 succeeds and skips the rest",
			steps:      []string{sh("a", "", "echo a", "exit 168"), sh("b", "", "echo b")},
			wantDetail: runcmd.DetailSuccess,
			wantCode:   168,
			want: []summary{
				{"a", runcmd.DetailSuccess, runcmd.InvocationSuccess, 168, false, "a\n", ""},
				{"b", runcmd.DetailSuccess, runcmd.InvocationSuccess, 0, true, "", ""},
			},
		},
		{
			name:       "169 fails and skips the rest",
			steps:      []string{sh("a", "", "exit 169"), sh("b", "", "echo b")},
			wantDetail: runcmd.DetailFailed,
			wantCode:   169,
			want: []summary{
				{"a", runcmd.DetailFailed, runcmd.InvocationFailed, 169, false, "", ""},
				{"b", runcmd.DetailSuccess, runcmd.InvocationSuccess, 0, true, "", ""},
			},
		},
		{
			name: "onFailure exit stops, finallyStep still runs",
			steps: []string{shIn("a", "", `"onFailure":"exit"`, "exit 2"), sh("b", "", "echo b"),
				shIn("c", "", `"finallyStep":true`, "echo finally")},
			wantDetail: runcmd.DetailFailed,
			wantCode:   0,
			want: []summary{
				{"a", runcmd.DetailFailed, runcmd.InvocationFailed, 2, false, "", ""},
				{"b", runcmd.DetailSuccess, runcmd.InvocationSuccess, 0, true, "", ""},
				{"c", runcmd.DetailSuccess, runcmd.InvocationSuccess, 0, false, "finally\n", ""},
			},
		},
		{
			name:       "onFailure successAndExit",
			steps:      []string{shIn("a", "", `"onFailure":"successAndExit"`, "exit 2"), sh("b", "", "echo b")},
			wantDetail: runcmd.DetailSuccess,
			wantCode:   2,
			want: []summary{
				{"a", runcmd.DetailSuccess, runcmd.InvocationSuccess, 2, false, "", ""},
				{"b", runcmd.DetailSuccess, runcmd.InvocationSuccess, 0, true, "", ""},
			},
		},
		{
			name:       "missing working directory fails the step clearly",
			steps:      []string{`{"action":"aws:runShellScript","name":"a","inputs":{"runCommand":["echo a"],"workingDirectory":"/nonexistent/dir"}}`},
			wantDetail: runcmd.DetailFailed,
			wantCode:   1,
			want: []summary{
				{"a", runcmd.DetailFailed, runcmd.InvocationFailed, 1, false, "",
					"Step a failed to start: working directory /nonexistent/dir does not exist or is not a directory"},
			},
		},
		{
			name:       "pwsh missing",
			steps:      []string{`{"action":"aws:runPowerShellScript","name":"ps","inputs":{"runCommand":["Write-Output 1"]}}`},
			wantDetail: runcmd.DetailFailed,
			wantCode:   1,
			want: []summary{
				{"ps", runcmd.DetailFailed, runcmd.InvocationFailed, 1, false, "",
					"aws:runPowerShellScript needs PowerShell (pwsh), which is not installed on this node (not found on PATH)."},
			},
		},
		{
			name:       "known action without a plugin fails clearly",
			steps:      []string{`{"action":"aws:runPatchBaseline","name":"p","inputs":{"operation":"Scan"}}`},
			wantDetail: runcmd.DetailFailed,
			wantCode:   1,
			want: []summary{
				{"p", runcmd.DetailFailed, runcmd.InvocationFailed, 1, false, "",
					"Step p: action aws:runPatchBaseline is not supported by runcmd-agent yet."},
			},
		},
		{
			name:       "action without a handler on this platform is skipped",
			steps:      []string{`{"action":"aws:applications","name":"app","inputs":{"action":"Install","source":"x"}}`, sh("b", "", "echo b")},
			wantDetail: runcmd.DetailSuccess,
			wantCode:   0,
			want: []summary{
				{"app", runcmd.DetailSuccess, runcmd.InvocationSuccess, 0, true,
					"Step execution skipped due to unsupported plugin: aws:applications. Step name: app", ""},
				{"b", runcmd.DetailSuccess, runcmd.InvocationSuccess, 0, false, "b\n", ""},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRunner(t, nil)
			detail, res := r.Run(t.Context(), Job{CommandID: "cmd-1", Steps: render(t, "", nil, tt.steps...)})
			if detail != tt.wantDetail {
				t.Errorf("detail = %s, want %s (trace %q)", detail, tt.wantDetail, res.TraceOutput)
			}
			if res.ResponseCode != tt.wantCode {
				t.Errorf("ResponseCode = %d, want %d", res.ResponseCode, tt.wantCode)
			}
			if diff := cmp.Diff(tt.want, summarize(res.Plugins)); diff != "" {
				t.Errorf("plugins (-want +got):\n%s", diff)
			}
			for _, p := range res.Plugins {
				if p.Action == "" || p.StartedAt.IsZero() || p.EndedAt.Before(p.StartedAt) {
					t.Errorf("plugin %s: action %q started %v ended %v", p.Name, p.Action, p.StartedAt, p.EndedAt)
				}
			}
		})
	}
}

func TestRunReboot(t *testing.T) {
	t.Parallel()
	r := newRunner(t, nil)
	marker := filepath.Join(t.TempDir(), "rebooted")
	// Step b asks for a reboot the first time and succeeds after it, as idempotent reboot scripts do.
	steps := render(t, "", nil, sh("a", "", "echo a"),
		sh("b", "", "if [ -e "+marker+" ]; then echo after; exit 0; fi", "touch "+marker, "exit 194"), sh("c", "", "echo c"))
	out := r.RunJob(t.Context(), Job{CommandID: "cmd-1", Steps: steps})
	if !out.Reboot || out.RebootStep != 1 || out.Detail != runcmd.DetailInProgress {
		t.Fatalf("outcome = reboot %v at %d, %s; want a reboot at step 1, InProgress", out.Reboot, out.RebootStep, out.Detail)
	}
	if len(out.Result.Plugins) != 1 || out.Result.Plugins[0].Name != "a" || !strings.Contains(out.Result.TraceOutput, "reboot") {
		t.Fatalf("before the reboot: plugins %+v trace %q; want only step a and a note", out.Result.Plugins, out.Result.TraceOutput)
	}
	// After the restart: b runs again from the start, then c.
	out = r.RunJob(t.Context(), Job{CommandID: "cmd-1", Steps: steps, StartAt: out.RebootStep, Prior: out.Result.Plugins})
	if out.Reboot || out.Detail != runcmd.DetailSuccess || out.Result.ResponseCode != 0 {
		t.Fatalf("after the reboot: %+v", out)
	}
	var got []string
	for _, p := range out.Result.Plugins {
		got = append(got, p.Name+"="+p.Stdout)
	}
	if diff := cmp.Diff([]string{"a=a\n", "b=after\n", "c=c\n"}, got); diff != "" {
		t.Errorf("plugins after the reboot (-want +got):\n%s", diff)
	}

	// Inside aws:runDocument a reboot is not allowed: the step fails and the rest is skipped.
	out = r.RunJob(t.Context(), Job{CommandID: "cmd-2", NoReboot: true, Steps: render(t, "", nil, sh("a", "", "exit 194"), sh("b", "", "echo b"))})
	if out.Reboot || out.Detail != runcmd.DetailFailed || len(out.Result.Plugins) != 2 || !out.Result.Plugins[1].Skipped ||
		!strings.Contains(out.Result.TraceOutput, "not allowed inside aws:runDocument") {
		t.Errorf("reboot inside aws:runDocument: %+v", out)
	}
}

func TestRunEnvironment(t *testing.T) {
	t.Parallel()
	marker := filepath.Join(t.TempDir(), "pwned")
	value := "'; touch " + marker + " #"
	steps := render(t, `{"msg":{"type":"String","interpolationType":"ENV_VAR"}}`,
		map[string][]string{"msg": {value}},
		sh("a", "", "echo {{msg}}", `printf '%s|%s|%s|%s' "$SSM_msg" "$SSM_COMMAND_ID" "$AWS_SSM_INSTANCE_ID" "$AWS_SSM_REGION_NAME"`))
	r := newRunner(t, nil)
	detail, res := r.Run(t.Context(), Job{CommandID: "cmd-env", Steps: steps})
	if detail != runcmd.DetailSuccess {
		t.Fatalf("detail = %s; plugins %+v", detail, summarize(res.Plugins))
	}
	want := value + "\n" + value + "|cmd-env|mi-0123456789abcdef0|us-east-1"
	if got := res.Plugins[0].Stdout; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the parameter value was executed")
	}
}

func TestRunAllowedPatternEnforced(t *testing.T) {
	t.Parallel()
	content := `{"schemaVersion":"2.2","description":"t","parameters":{"n":{"type":"String","allowedPattern":"^[0-9]+$"}},` +
		`"mainSteps":[` + sh("a", "", "echo {{n}}") + `]}`
	doc, err := documents.Parse([]byte(content), "JSON")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := doc.ResolveParameters(map[string][]string{"n": {"1; rm -rf /"}}); err == nil {
		t.Fatal("ResolveParameters accepted a value that breaks allowedPattern")
	}
}

func TestRunCancelAndShutdown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		cause      error
		wantDetail runcmd.Detail
		wantFirst  runcmd.Detail
	}{
		{"cancel", ErrCancelled, runcmd.DetailCancelled, runcmd.DetailCancelled},
		{"shutdown", errors.New("agent shutting down"), runcmd.DetailFailed, runcmd.DetailFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			started := filepath.Join(dir, "started")
			steps := render(t, "", nil, sh("long", "", "touch "+started, "sleep 300"), sh("next", "", "echo next"))
			r := newRunner(t, nil)
			ctx, cancel := context.WithCancelCause(t.Context())
			go func() {
				for {
					if _, err := os.Stat(started); err == nil {
						cancel(tt.cause)
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
			}()
			detail, res := r.Run(ctx, Job{CommandID: "cmd-c", Steps: steps})
			if detail != tt.wantDetail {
				t.Errorf("detail = %s, want %s", detail, tt.wantDetail)
			}
			got := summarize(res.Plugins)
			if len(got) != 2 || got[0].Detail != tt.wantFirst || got[1].Detail != tt.wantFirst || got[1].Code != -1 {
				t.Errorf("plugins = %+v, want both %s and the second not run", got, tt.wantFirst)
			}
		})
	}
}

func TestRunUploadsOutput(t *testing.T) {
	t.Parallel()
	up := &fakeUploader{}
	r := newRunner(t, up)
	steps := render(t, "", nil, sh("first:step", "", "echo out"), sh("two", "", "echo err >&2"))
	_, res := r.Run(t.Context(), Job{CommandID: "cmd-s3", Steps: steps, OutputS3Bucket: "bkt", OutputS3KeyPrefix: "pre/fix"})
	want := []upload{
		{"bkt", "pre/fix/cmd-s3/mi-0123456789abcdef0/awsrunShellScript/firststep/stdout", "out\n"},
		{"bkt", "pre/fix/cmd-s3/mi-0123456789abcdef0/awsrunShellScript/two/stderr", "err\n"},
	}
	if diff := cmp.Diff(want, up.got); diff != "" {
		t.Errorf("uploads (-want +got):\n%s", diff)
	}
	p := res.Plugins[0]
	if p.StdoutURL != "https://s3.us-east-1.amazonaws.com/bkt/pre/fix/cmd-s3/mi-0123456789abcdef0/awsrunShellScript/firststep/stdout" ||
		p.StderrURL != "" || p.OutputS3Bucket != "bkt" || p.OutputS3Prefix != "pre/fix/cmd-s3/mi-0123456789abcdef0/awsrunShellScript" {
		t.Errorf("plugin S3 fields = %q %q %q %q", p.StdoutURL, p.StderrURL, p.OutputS3Bucket, p.OutputS3Prefix)
	}
}

func TestRunUploadFailureGoesToTrace(t *testing.T) {
	t.Parallel()
	up := &fakeUploader{fail: errors.New("access denied")}
	r := newRunner(t, up)
	detail, res := r.Run(t.Context(), Job{CommandID: "cmd-s3", Steps: render(t, "", nil, sh("a", "", "echo out")), OutputS3Bucket: "bkt"})
	if detail != runcmd.DetailSuccess {
		t.Errorf("detail = %s, want Success: an upload failure does not fail the step", detail)
	}
	if !strings.Contains(res.TraceOutput, "access denied") || res.Plugins[0].StdoutURL != "" {
		t.Errorf("TraceOutput = %q, StdoutURL = %q", res.TraceOutput, res.Plugins[0].StdoutURL)
	}
}

func TestRunInlineLimits(t *testing.T) {
	t.Parallel()
	r := newRunner(t, nil)
	steps := render(t, "", nil, sh("big", "", "yes x | head -c 100000", "yes y | head -c 50000 >&2"))
	_, res := r.Run(t.Context(), Job{CommandID: "cmd-big", Steps: steps})
	p := res.Plugins[0]
	if len(p.Stdout) != runcmd.MaxStdout || !strings.HasSuffix(p.Stdout, TruncatedSuffix) || !strings.HasPrefix(p.Stdout, "x\nx\n") {
		t.Errorf("stdout: %d chars, suffix %q", len(p.Stdout), p.Stdout[max(0, len(p.Stdout)-25):])
	}
	if len(p.Stderr) != runcmd.MaxStderr || !strings.HasSuffix(p.Stderr, TruncatedSuffix) {
		t.Errorf("stderr: %d chars", len(p.Stderr))
	}
}

func TestAggregate(t *testing.T) {
	t.Parallel()
	d := func(ds ...runcmd.Detail) []runcmd.PluginResult {
		var ps []runcmd.PluginResult
		for _, x := range ds {
			ps = append(ps, runcmd.PluginResult{Detail: x})
		}
		return ps
	}
	S, F, T, C := runcmd.DetailSuccess, runcmd.DetailFailed, runcmd.DetailExecutionTimedOut, runcmd.DetailCancelled
	tests := []struct {
		in   []runcmd.PluginResult
		want runcmd.Detail
	}{
		{d(S, S), S},
		{d(S, C), C},
		{d(C, T), T},
		{d(T, F, C), F},
		{d(S, T), T},
		{nil, S},
	}
	for i, tt := range tests {
		if got := Aggregate(tt.in); got != tt.want {
			t.Errorf("%d: Aggregate = %s, want %s", i, got, tt.want)
		}
	}
	skipped := []runcmd.PluginResult{{Detail: S, Skipped: true}}
	if got := Aggregate(skipped); got != S {
		t.Errorf("Aggregate(skipped) = %s, want Success", got)
	}
}

// TestRunTimeout uses the shortest step timeout SSM allows (5 s); the kill itself is covered in
// package shell, this checks the status the runner makes of it.
func TestRunTimeout(t *testing.T) {
	t.Parallel()
	r := newRunner(t, nil)
	steps := render(t, "", nil, shIn("slow", "", `"timeoutSeconds":5`, "echo before", "sleep 60"), sh("next", "", "echo next"))
	detail, res := r.Run(t.Context(), Job{CommandID: "cmd-t", Steps: steps})
	if detail != runcmd.DetailExecutionTimedOut {
		t.Errorf("detail = %s, want ExecutionTimedOut", detail)
	}
	want := []summary{
		{"slow", runcmd.DetailExecutionTimedOut, runcmd.InvocationTimedOut, 137, false, "before\n", ""},
		{"next", runcmd.DetailSuccess, runcmd.InvocationSuccess, 0, false, "next\n", ""},
	}
	if diff := cmp.Diff(want, summarize(res.Plugins)); diff != "" {
		t.Errorf("plugins (-want +got):\n%s", diff)
	}
	if !strings.Contains(res.TraceOutput, "timed out") {
		t.Errorf("TraceOutput = %q", res.TraceOutput)
	}
}
