package stack_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/agent/node"
	"github.com/runcmd/runcmd/internal/awstest"
	"github.com/runcmd/runcmd/internal/config"
	"github.com/runcmd/runcmd/internal/stack"
)

// trustSystem is the local stack without agents: tests here start their own, in process or as real
// runcmd-agent processes.
type trustSystem struct {
	st       *stack.Stack
	endpoint string
	client   *ssm.Client
	res      config.Resources
}

func startTrustSystem(t *testing.T) *trustSystem {
	t.Helper()
	h := startHost(t, "trust")
	return &trustSystem{st: h.st, endpoint: h.endpoint, client: h.client, res: h.res}
}

// agentBinary builds runcmd-agent once per test binary.
var agentBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "runcmd-agent-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "runcmd-agent")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/runcmd/runcmd/agent").CombinedOutput()
	if err != nil {
		return "", errors.New(string(out))
	}
	return bin, nil
})

func buildAgent(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not on PATH")
	}
	bin, err := agentBinary()
	if err != nil {
		t.Fatalf("go build runcmd-agent: %v", err)
	}
	return bin
}

// agentEnv is the environment of a runcmd-agent process talking to the emulator.
func agentEnv(stateDir string) []string {
	return append(os.Environ(), "RUNCMD_STATE_DIR="+stateDir, "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_ENDPOINT_URL="+awstest.Endpoint())
}

// registerCLI runs `runcmd-agent register` and returns its exit code, stdout and stderr.
func registerCLI(t *testing.T, bin, stateDir, endpoint, code, id string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, "register", "--code", code, "--id", id, "--region", "us-east-1", "--endpoint", endpoint)
	cmd.Env = agentEnv(stateDir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, strings.TrimSpace(stdout.String()), stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("run register: %v", err)
	return 0, "", ""
}

func TestRegistrationThroughCLI(t *testing.T) {
	s := startTrustSystem(t)
	bin := buildAgent(t)
	ctx := context.Background()

	act, err := s.client.CreateActivation(ctx, &ssm.CreateActivationInput{
		IamRole: aws.String("runcmd-node"), DefaultInstanceName: aws.String("web"), RegistrationLimit: aws.Int32(1),
		Tags: []types.Tag{{Key: aws.String("Workload"), Value: aws.String("Prod")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	code, id := aws.ToString(act.ActivationCode), aws.ToString(act.ActivationId)
	if len(code) != runcmd.ActivationCodeLength || len(id) != 36 {
		t.Fatalf("activation %q code %q: want a UUID and a %d-character code", id, code, runcmd.ActivationCodeLength)
	}

	dir1 := t.TempDir()
	exit, instanceID, stderr := registerCLI(t, bin, dir1, s.endpoint, code, id)
	if exit != 0 || !strings.HasPrefix(instanceID, "mi-") || len(instanceID) != 20 {
		t.Fatalf("register: exit %d, id %q, stderr %s", exit, instanceID, stderr)
	}
	if strings.Contains(stderr, code) {
		t.Errorf("register printed the activation code: %s", stderr)
	}
	fi, err := os.Stat(filepath.Join(dir1, "node.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("private key file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	info, err := s.client.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{
		Filters: []types.InstanceInformationStringFilter{{Key: aws.String("InstanceIds"), Values: []string{instanceID}}}})
	if err != nil || len(info.InstanceInformationList) != 1 {
		t.Fatalf("DescribeInstanceInformation: %v %+v", err, info)
	}
	if got := info.InstanceInformationList[0]; aws.ToString(got.Name) != "web" || aws.ToString(got.ActivationId) != id ||
		aws.ToString(got.IamRole) != "runcmd-node" || got.RegistrationDate == nil {
		t.Errorf("registered node: name %q activation %q role %q registered %v", aws.ToString(got.Name),
			aws.ToString(got.ActivationId), aws.ToString(got.IamRole), got.RegistrationDate)
	}

	// A second node beyond RegistrationLimit is refused with a clear error, and uses nothing up.
	exit, _, stderr = registerCLI(t, bin, t.TempDir(), s.endpoint, code, id)
	if exit == 0 || !strings.Contains(stderr, "InvalidActivation") || !strings.Contains(stderr, "registration limit of 1") {
		t.Errorf("second registration: exit %d, stderr %s; want InvalidActivation about the limit", exit, stderr)
	}
	// A wrong code is refused.
	exit, _, stderr = registerCLI(t, bin, t.TempDir(), s.endpoint, strings.Repeat("x", 20), id)
	if exit == 0 || !strings.Contains(stderr, "InvalidActivation") {
		t.Errorf("wrong code: exit %d, stderr %s", exit, stderr)
	}
	acts, err := s.client.DescribeActivations(ctx, &ssm.DescribeActivationsInput{Filters: []types.DescribeActivationsFilter{
		{FilterKey: types.DescribeActivationsFilterKeysActivationIds, FilterValues: []string{id}}}})
	if err != nil || len(acts.ActivationList) != 1 {
		t.Fatalf("DescribeActivations: %v %+v", err, acts)
	}
	if a := acts.ActivationList[0]; aws.ToInt32(a.RegistrationsCount) != 1 || aws.ToInt32(a.RegistrationLimit) != 1 || a.Expired ||
		len(a.Tags) != 1 {
		t.Errorf("activation after the refused registrations: %+v", a)
	}

	// An expired activation is refused.
	short, err := s.client.CreateActivation(ctx, &ssm.CreateActivationInput{IamRole: aws.String("r"),
		ExpirationDate: aws.Time(time.Now().Add(2 * time.Second))})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	exit, _, stderr = registerCLI(t, bin, t.TempDir(), s.endpoint, aws.ToString(short.ActivationCode), aws.ToString(short.ActivationId))
	if exit == 0 || !strings.Contains(stderr, "InvalidActivation") || !strings.Contains(stderr, "expired") {
		t.Errorf("expired activation: exit %d, stderr %s; want InvalidActivation about the expiry", exit, stderr)
	}

	// The registered node registers again with a new activation: it proves its key and keeps its id.
	again, err := s.client.CreateActivation(ctx, &ssm.CreateActivationInput{IamRole: aws.String("r")})
	if err != nil {
		t.Fatal(err)
	}
	exit, same, stderr := registerCLI(t, bin, dir1, s.endpoint, aws.ToString(again.ActivationCode), aws.ToString(again.ActivationId))
	if exit != 0 || same != instanceID {
		t.Errorf("re-registration: exit %d, id %q (want %s), stderr %s", exit, same, instanceID, stderr)
	}

	// Deregistered: commands to it are refused; deleting the activation works once.
	if _, err := s.client.DeregisterManagedInstance(ctx, &ssm.DeregisterManagedInstanceInput{InstanceId: aws.String(instanceID)}); err != nil {
		t.Fatal(err)
	}
	_, err = s.client.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"),
		InstanceIds: []string{instanceID}, Parameters: map[string][]string{"commands": {"true"}}})
	var invalid *types.InvalidInstanceId
	if !errors.As(err, &invalid) {
		t.Errorf("SendCommand to a deregistered node: %v, want InvalidInstanceId", err)
	}
	if _, err := s.client.DeleteActivation(ctx, &ssm.DeleteActivationInput{ActivationId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	_, err = s.client.DeleteActivation(ctx, &ssm.DeleteActivationInput{ActivationId: aws.String(id)})
	var gone *types.InvalidActivationId
	if !errors.As(err, &gone) {
		t.Errorf("second DeleteActivation: %v, want InvalidActivationId", err)
	}
}

// startAgent registers a node and runs it in process until the test ends.
func (s *trustSystem) startAgent(t *testing.T) (id, dir string) {
	t.Helper()
	cfg := awstest.Config(t)
	dir = t.TempDir()
	ids, err := stack.RegisterNodes(context.Background(), cfg, s.endpoint, nil, []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	a, err := node.NewAWS(context.Background(), cfg, node.Config{StateDir: dir, Grace: time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, node.NamesFrom(s.res))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ids[0], dir
}

func (s *trustSystem) waitInvocation(t *testing.T, commandID, instanceID string, done func(types.CommandInvocationStatus) bool) *ssm.GetCommandInvocationOutput {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := s.client.GetCommandInvocation(context.Background(), &ssm.GetCommandInvocationInput{
			CommandId: aws.String(commandID), InstanceId: aws.String(instanceID)})
		if err == nil && done(out.Status) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("invocation %s/%s: still not there (%v, %+v)", commandID, instanceID, err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func terminal(s types.CommandInvocationStatus) bool {
	switch s {
	case types.CommandInvocationStatusPending, types.CommandInvocationStatusInProgress, types.CommandInvocationStatusDelayed:
		return false
	}
	return true
}

func TestForgedReplyIsRejectedAndAudited(t *testing.T) {
	s := startTrustSystem(t)
	ctx := context.Background()
	victim, _ := s.startAgent(t)
	forger, forgerDir := s.startAgent(t)

	sent, err := s.client.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"),
		InstanceIds: []string{victim}, Parameters: map[string][]string{"commands": {"sleep 2", "echo real"}}})
	if err != nil {
		t.Fatal(err)
	}
	cmdID := aws.ToString(sent.Command.CommandId)
	s.waitInvocation(t, cmdID, victim, func(st types.CommandInvocationStatus) bool { return st == types.CommandInvocationStatusInProgress })

	keyPEM, err := os.ReadFile(filepath.Join(forgerDir, "node.key"))
	if err != nil {
		t.Fatal(err)
	}
	key := parseKey(t, keyPEM)
	forged := func(instanceID, signer string) string {
		m := runcmd.ResultMessage{Kind: runcmd.KindReply, Reply: &runcmd.Reply{CommandID: cmdID, InstanceID: instanceID,
			Detail: runcmd.DetailFailed, Result: runcmd.Result{ResponseCode: 7, TraceOutput: "forged"}, SentAt: time.Now()}}
		if signer != "" {
			if err := m.Sign(signer, key, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, body := range []string{
		forged(victim, ""),     // unsigned, naming the victim
		forged(victim, forger), // signed by another node, naming the victim
		forged(forger, forger), // signed correctly, for an invocation never sent to the forger
	} {
		if err := s.st.Results.Send(ctx, body); err != nil {
			t.Fatal(err)
		}
	}

	out := s.waitInvocation(t, cmdID, victim, terminal)
	if out.Status != types.CommandInvocationStatusSuccess || aws.ToString(out.StandardOutputContent) != "real\n" {
		t.Errorf("the real result: %s %q, want Success \"real\\n\"", out.Status, aws.ToString(out.StandardOutputContent))
	}
	deadline := time.Now().Add(20 * time.Second)
	var denied []runcmd.AuditEvent
	for len(denied) < 3 && time.Now().Before(deadline) {
		page, err := s.st.Audit.ListAudit(ctx, runcmd.AuditQuery{Day: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		denied = denied[:0]
		for _, e := range page.Events {
			if e.Outcome == runcmd.AuditDenied && e.Action == "ingest:reply" {
				denied = append(denied, e)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	reasons := map[string]bool{}
	for _, e := range denied {
		reasons[e.Reason] = true
		if !strings.Contains(e.Resource, cmdID) {
			t.Errorf("audit event %+v does not name the command", e)
		}
	}
	for _, want := range []string{runcmd.ErrUnsigned.Error(), runcmd.ErrSignerMismatch.Error(), "no invocation " + cmdID + " was sent to node " + forger} {
		if !reasons[want] {
			t.Errorf("no denied audit event with reason %q; got %v", want, reasons)
		}
	}
}

func parseKey(t *testing.T, pemBytes []byte) ed25519.PrivateKey {
	t.Helper()
	key, err := node.ParsePrivateKey(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// supervisor runs a real runcmd-agent process and starts it again whenever it exits, as systemd's
// Restart=always does, until stopped. Kill sends SIGKILL to the running process.
type supervisor struct {
	t    *testing.T
	bin  string
	args []string
	env  []string
	log  *bytes.Buffer

	mu     sync.Mutex
	cmd    *exec.Cmd
	starts int
	stop   bool
	done   chan struct{}
}

func supervise(t *testing.T, bin, stateDir string, args ...string) *supervisor {
	t.Helper()
	s := &supervisor{t: t, bin: bin, args: args, env: agentEnv(stateDir), log: &bytes.Buffer{}, done: make(chan struct{})}
	go s.loop()
	t.Cleanup(func() {
		s.mu.Lock()
		s.stop = true
		if s.cmd != nil && s.cmd.Process != nil {
			_ = s.cmd.Process.Signal(syscall.SIGTERM)
		}
		s.mu.Unlock()
		<-s.done
		if t.Failed() {
			t.Logf("agent log:\n%s", s.logText())
		}
	})
	return s
}

func (s *supervisor) loop() {
	defer close(s.done)
	for {
		s.mu.Lock()
		if s.stop {
			s.mu.Unlock()
			return
		}
		cmd := exec.Command(s.bin, s.args...)
		cmd.Env = s.env
		cmd.Stdout, cmd.Stderr = io.Discard, &lockedWriter{mu: &s.mu, w: s.log}
		if err := cmd.Start(); err != nil {
			s.mu.Unlock()
			s.t.Errorf("start agent: %v", err)
			return
		}
		s.cmd = cmd
		s.starts++
		s.mu.Unlock()
		_ = cmd.Wait()
		time.Sleep(200 * time.Millisecond)
	}
}

func (s *supervisor) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
	}
}

func (s *supervisor) startCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.starts
}

func (s *supervisor) logText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

// Write is called by exec's copying goroutine, which never holds mu.
func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// registerForProcess registers a state directory through the CLI and returns the instance id.
func (s *trustSystem) registerForProcess(t *testing.T, bin string) (id, dir string) {
	t.Helper()
	act, err := s.client.CreateActivation(context.Background(), &ssm.CreateActivationInput{IamRole: aws.String("r")})
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	exit, id, stderr := registerCLI(t, bin, dir, s.endpoint, aws.ToString(act.ActivationCode), aws.ToString(act.ActivationId))
	if exit != 0 {
		t.Fatalf("register: exit %d: %s", exit, stderr)
	}
	return id, dir
}

func TestAgentKilledMidStep(t *testing.T) {
	s := startTrustSystem(t)
	bin := buildAgent(t)
	id, dir := s.registerForProcess(t, bin)
	sup := supervise(t, bin, dir, "--grace", "2s")
	runs := filepath.Join(t.TempDir(), "runs")

	sent, err := s.client.SendCommand(context.Background(), &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"),
		InstanceIds: []string{id}, Parameters: map[string][]string{"commands": {"echo run >> " + runs, "sleep 10", "echo finished"}}})
	if err != nil {
		t.Fatal(err)
	}
	cmdID := aws.ToString(sent.Command.CommandId)
	s.waitInvocation(t, cmdID, id, func(st types.CommandInvocationStatus) bool { return st == types.CommandInvocationStatusInProgress })
	waitFile(t, runs)
	sup.kill() // SIGKILL in the middle of the 10-second step; the supervisor starts the agent again

	out := s.waitInvocation(t, cmdID, id, terminal)
	if out.Status != types.CommandInvocationStatusFailed || aws.ToString(out.StatusDetails) != "Failed" {
		t.Errorf("status %s (%s), want Failed", out.Status, aws.ToString(out.StatusDetails))
	}
	inv, err := s.client.ListCommandInvocations(context.Background(), &ssm.ListCommandInvocationsInput{CommandId: aws.String(cmdID), Details: true})
	if err != nil || len(inv.CommandInvocations) != 1 {
		t.Fatalf("ListCommandInvocations: %v %+v", err, inv)
	}
	if trace := aws.ToString(inv.CommandInvocations[0].TraceOutput); !strings.Contains(trace, "restarted while this command was running") {
		t.Errorf("trace %q, want the reason (the agent restarted mid-step)", trace)
	}
	if b, _ := os.ReadFile(runs); strings.Count(string(b), "run\n") != 1 {
		t.Errorf("the step ran %d times, want 1", strings.Count(string(b), "run\n"))
	}
	if sup.startCount() < 2 {
		t.Errorf("the agent was started %d times, want a restart", sup.startCount())
	}
	if strings.Count(sup.logText(), `msg=reply_sent`) != 1 {
		t.Errorf("final replies sent: %d, want 1\n%s", strings.Count(sup.logText(), `msg=reply_sent`), sup.logText())
	}
}

func TestRebootExitCodeRestartsAndRunsTheStepAgain(t *testing.T) {
	s := startTrustSystem(t)
	bin := buildAgent(t)
	id, dir := s.registerForProcess(t, bin)
	tmp := t.TempDir()
	marker, reboots := filepath.Join(tmp, "rebooted"), filepath.Join(tmp, "reboots")
	// The "reboot" only records itself; the agent then stops as a reboot would stop it, and the
	// supervisor (systemd's part) starts it again.
	script := filepath.Join(tmp, "reboot.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho reboot >> "+reboots+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	sup := supervise(t, bin, dir, "--grace", "2s", "--reboot-command", script)

	sent, err := s.client.SendCommand(context.Background(), &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"),
		InstanceIds: []string{id}, Parameters: map[string][]string{"commands": {
			"if [ -e " + marker + " ]; then echo after reboot; exit 0; fi",
			"touch " + marker,
			"exit 194",
		}}})
	if err != nil {
		t.Fatal(err)
	}
	cmdID := aws.ToString(sent.Command.CommandId)
	out := s.waitInvocation(t, cmdID, id, terminal)
	if out.Status != types.CommandInvocationStatusSuccess || aws.ToString(out.StandardOutputContent) != "after reboot\n" {
		t.Errorf("status %s output %q, want Success \"after reboot\\n\"", out.Status, aws.ToString(out.StandardOutputContent))
	}
	if b, _ := os.ReadFile(reboots); string(b) != "reboot\n" {
		t.Errorf("reboot command ran: %q, want once", b)
	}
	if sup.startCount() < 2 {
		t.Errorf("the agent was started %d times, want a restart after the reboot", sup.startCount())
	}
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", path)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
