package ssmapi

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/runcmd/runcmd"
)

// runAWS runs the AWS CLI against srv with throwaway credentials and no user configuration, skipping
// the test when the CLI is not installed.
func runAWS(t *testing.T, srv *httptest.Server, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	if testing.Short() {
		t.Skip("the AWS CLI takes seconds to start; skipped with -short")
	}
	bin, lookErr := exec.LookPath("aws")
	if lookErr != nil {
		t.Skip("aws CLI not on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	home := t.TempDir()
	cmd := exec.CommandContext(ctx, bin, append(args, "--endpoint-url", srv.URL, "--region", "us-east-1", "--output", "json")...)
	cmd.Env = []string{
		"HOME=" + home,
		"PATH=" + os.Getenv("PATH"), // the pyenv shim that provides aws needs PATH to find python
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_CONFIG_FILE=" + home + "/config",
		"AWS_SHARED_CREDENTIALS_FILE=" + home + "/credentials",
		"AWS_PAGER=",
		"AWS_MAX_ATTEMPTS=1",
		"AWS_EC2_METADATA_DISABLED=true",
	}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

func TestAWSCLIListCommands(t *testing.T) {
	t.Parallel()
	fake := newFake()
	fake.commandsNextToken = "" // the CLI follows NextToken until it is absent
	srv := httptest.NewServer(NewHandler(fake, nil))
	defer srv.Close()
	stdout, stderr, err := runAWS(t, srv, "ssm", "list-commands")
	if err != nil {
		t.Fatalf("aws ssm list-commands: %v\nstderr: %s", err, stderr)
	}
	var got struct {
		Commands []struct {
			CommandID         string  `json:"CommandId"`
			Status            string  `json:"Status"`
			CompletedCount    int     `json:"CompletedCount"`
			RequestedDateTime float64 `json:"RequestedDateTime"`
		} `json:"Commands"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("CLI output is not JSON: %v\n%s", err, stdout)
	}
	if len(got.Commands) != 1 || got.Commands[0].CommandID != testCommandID || got.Commands[0].Status != "InProgress" ||
		got.Commands[0].CompletedCount != 3 {
		t.Errorf("CLI decoded %+v", got.Commands)
	}
}

func TestAWSCLIError(t *testing.T) {
	t.Parallel()
	fake := newFake()
	fake.err = runcmd.Errorf(runcmd.ENOTFOUND, "", "no such invocation")
	srv := httptest.NewServer(NewHandler(fake, nil))
	defer srv.Close()
	_, stderr, err := runAWS(t, srv, "ssm", "get-command-invocation", "--command-id", testCommandID, "--instance-id", testInstanceID)
	if err == nil {
		t.Fatal("aws ssm get-command-invocation succeeded, want an error")
	}
	if !strings.Contains(stderr, "(InvocationDoesNotExist)") || !strings.Contains(stderr, "no such invocation") {
		t.Errorf("stderr = %q, want the error name and message", stderr)
	}
}
