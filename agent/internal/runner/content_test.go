package runner

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runcmd/runcmd"
)

type fakeDocs map[string]string

func (f fakeDocs) GetDocument(_ context.Context, name, version string) (string, error) {
	c, ok := f[name]
	if !ok {
		return "", fmt.Errorf("InvalidDocument: document %s does not exist", name)
	}
	return c, nil
}

type fakeS3 map[string]string

func (f fakeS3) Download(_ context.Context, bucket, key string, w io.Writer, max int64) error {
	c, ok := f[bucket+"/"+key]
	if !ok {
		return fmt.Errorf("NoSuchKey: %s/%s", bucket, key)
	}
	_, err := io.WriteString(w, c)
	return err
}

const nested = `{"schemaVersion":"2.2","description":"nested","parameters":{"who":{"type":"String","allowedPattern":"^[a-z]+$"}},
"mainSteps":[{"action":"aws:runShellScript","name":"greet","inputs":{"runCommand":["echo hello {{ who }}"]}}]}`

func step(action, name, inputs string) string {
	return fmt.Sprintf(`{"action":%q,"name":%q,"inputs":%s}`, action, name, inputs)
}

func TestRunDocument(t *testing.T) {
	t.Parallel()
	local := filepath.Join(t.TempDir(), "doc.json")
	if err := os.WriteFile(local, []byte(nested), 0o600); err != nil {
		t.Fatal(err)
	}
	reboots := `{"schemaVersion":"2.2","description":"r","mainSteps":[{"action":"aws:runShellScript","name":"r","inputs":{"runCommand":["exit 194"]}}]}`
	tests := []struct {
		name       string
		inputs     string
		wantDetail runcmd.Detail
		wantOut    string // in the step's stdout or stderr
	}{
		{"SSMDocument with parameters", `{"documentType":"SSMDocument","documentPath":"Nested","documentParameters":{"who":"world"}}`,
			runcmd.DetailSuccess, "hello world"},
		{"parameters as JSON text", `{"documentType":"SSMDocument","documentPath":"Nested","documentParameters":"{\"who\":\"json\"}"}`,
			runcmd.DetailSuccess, "hello json"},
		{"LocalPath", fmt.Sprintf(`{"documentType":"LocalPath","documentPath":%q,"documentParameters":{"who":"local"}}`, local),
			runcmd.DetailSuccess, "hello local"},
		{"parameters enforced on the node", `{"documentType":"SSMDocument","documentPath":"Nested","documentParameters":{"who":"x; rm -rf /"}}`,
			runcmd.DetailFailed, "parameters of Nested"},
		{"unknown document", `{"documentType":"SSMDocument","documentPath":"Missing"}`, runcmd.DetailFailed, "could not get document Missing"},
		{"no reboot inside", `{"documentType":"SSMDocument","documentPath":"Reboots"}`, runcmd.DetailFailed, "r (aws:runShellScript): Failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRunner(t, nil)
			r.cfg.Documents = fakeDocs{"Nested": nested, "Reboots": reboots}
			out := r.RunJob(t.Context(), Job{CommandID: "cmd-1", Steps: render(t, "", nil, step("aws:runDocument", "run", tt.inputs))})
			if out.Reboot || out.Detail != tt.wantDetail || len(out.Result.Plugins) != 1 {
				t.Fatalf("outcome %+v, want %s with one step", out, tt.wantDetail)
			}
			p := out.Result.Plugins[0]
			if !strings.Contains(p.Stdout+p.Stderr, tt.wantOut) {
				t.Errorf("output %q / %q, want it to contain %q", p.Stdout, p.Stderr, tt.wantOut)
			}
		})
	}
}

func TestDownloadContent(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/files/tool.sh" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "#!/bin/sh\necho tool\n")
	}))
	defer srv.Close()
	dest := t.TempDir()
	tests := []struct {
		name       string
		inputs     string
		wantDetail runcmd.Detail
		wantFile   string // file under dest, with wantBody
		wantBody   string
		wantErr    string
	}{
		{"http needs allowInsecureDownload", fmt.Sprintf(`{"sourceType":"HTTP","sourceInfo":{"url":%q},"destinationPath":%q}`, srv.URL+"/files/tool.sh", dest),
			runcmd.DetailFailed, "", "", "allowInsecureDownload"},
		{"http allowed", fmt.Sprintf(`{"sourceType":"HTTP","sourceInfo":{"url":%q,"allowInsecureDownload":true},"destinationPath":%q}`, srv.URL+"/files/tool.sh", dest),
			runcmd.DetailSuccess, "tool.sh", "#!/bin/sh\necho tool\n", ""},
		{"http 404", fmt.Sprintf(`{"sourceType":"HTTP","sourceInfo":"{\"url\":\"%s\",\"allowInsecureDownload\":\"true\"}","destinationPath":%q}`, srv.URL+"/nope", dest),
			runcmd.DetailFailed, "", "", "HTTP 404"},
		{"s3 path style", fmt.Sprintf(`{"sourceType":"S3","sourceInfo":{"path":"https://s3.amazonaws.com/bkt/dir/a.txt"},"destinationPath":%q}`, dest),
			runcmd.DetailSuccess, "a.txt", "from s3", ""},
		{"s3 url form", fmt.Sprintf(`{"sourceType":"S3","sourceInfo":{"path":"s3://bkt/dir/a.txt"},"destinationPath":%q}`, filepath.Join(dest, "b.txt")),
			runcmd.DetailSuccess, "b.txt", "from s3", ""},
		{"ssm document", fmt.Sprintf(`{"sourceType":"SSMDocument","sourceInfo":{"name":"Nested"},"destinationPath":%q}`, dest),
			runcmd.DetailSuccess, "Nested.json", nested, ""},
		{"github unsupported", `{"sourceType":"GitHub","sourceInfo":{"owner":"o","repository":"r","path":"p"}}`,
			runcmd.DetailFailed, "", "not supported by runcmd-agent", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRunner(t, nil)
			r.cfg.Documents = fakeDocs{"Nested": nested}
			r.cfg.Downloader = fakeS3{"bkt/dir/a.txt": "from s3"}
			out := r.RunJob(t.Context(), Job{CommandID: "cmd-1", Steps: render(t, "", nil, step("aws:downloadContent", "get", tt.inputs))})
			p := out.Result.Plugins[0]
			if out.Detail != tt.wantDetail {
				t.Fatalf("detail %s (%q / %q), want %s", out.Detail, p.Stdout, p.Stderr, tt.wantDetail)
			}
			if tt.wantErr != "" && !strings.Contains(p.Stderr, tt.wantErr) {
				t.Errorf("stderr %q, want it to contain %q", p.Stderr, tt.wantErr)
			}
			if tt.wantFile != "" {
				b, err := os.ReadFile(filepath.Join(dest, tt.wantFile))
				if err != nil || string(b) != tt.wantBody {
					t.Errorf("%s: %q, %v; want %q", tt.wantFile, b, err, tt.wantBody)
				}
			}
		})
	}
}
