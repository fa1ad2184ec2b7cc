package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/agent/internal/platform"
	"github.com/runcmd/runcmd/agent/internal/state"
)

// fakeInbox is an in-memory node queue: Push makes a message available; Receive long-polls.
type fakeInbox struct {
	ch chan Message

	mu      sync.Mutex
	n       int
	deleted []string
}

func newFakeInbox() *fakeInbox { return &fakeInbox{ch: make(chan Message, 100)} }

func (f *fakeInbox) Push(body string) string {
	f.mu.Lock()
	f.n++
	h := fmt.Sprintf("rh-%d", f.n)
	f.mu.Unlock()
	f.ch <- Message{ID: h, Body: body, ReceiptHandle: h, ReceiveCount: 1}
	return h
}

func (f *fakeInbox) Receive(ctx context.Context, max int, wait time.Duration) ([]Message, error) {
	t := time.NewTimer(wait)
	defer t.Stop()
	var out []Message
	select {
	case m := <-f.ch:
		out = append(out, m)
	case <-t.C:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for len(out) < max {
		select {
		case m := <-f.ch:
			out = append(out, m)
		default:
			return out, nil
		}
	}
	return out, nil
}

func (f *fakeInbox) Delete(_ context.Context, h string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleted = append(f.deleted, h)
	return nil
}

func (f *fakeInbox) Deleted() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.deleted...)
}

// fakeOutbox records sent bodies. While failReplies > 0, reply sends fail (heartbeats pass), as when
// the results queue is unreachable.
type fakeOutbox struct {
	mu          sync.Mutex
	bodies      []string
	failReplies int
	attempts    int
}

func (f *fakeOutbox) Send(_ context.Context, body string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if strings.Contains(body, `"kind":"reply"`) {
		f.attempts++
		if f.failReplies > 0 {
			f.failReplies--
			return errors.New("results queue unreachable")
		}
	}
	f.bodies = append(f.bodies, body)
	return nil
}

func (f *fakeOutbox) setFail(n int) {
	f.mu.Lock()
	f.failReplies = n
	f.mu.Unlock()
}

func (f *fakeOutbox) messages(t *testing.T) []runcmd.ResultMessage {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []runcmd.ResultMessage
	for _, b := range f.bodies {
		var m runcmd.ResultMessage
		if err := json.Unmarshal([]byte(b), &m); err != nil {
			t.Fatalf("decode %q: %v", b, err)
		}
		out = append(out, m)
	}
	return out
}

func (f *fakeOutbox) replies(t *testing.T, commandID string) []runcmd.Reply {
	t.Helper()
	var out []runcmd.Reply
	for _, m := range f.messages(t) {
		if m.Kind == runcmd.KindReply && m.Reply.CommandID == commandID {
			out = append(out, *m.Reply)
		}
	}
	return out
}

// final returns the terminal replies of a command.
func (f *fakeOutbox) final(t *testing.T, commandID string) []runcmd.Reply {
	t.Helper()
	var out []runcmd.Reply
	for _, r := range f.replies(t, commandID) {
		if r.Detail.Terminal() {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeOutbox) heartbeats(t *testing.T) []runcmd.Heartbeat {
	t.Helper()
	var out []runcmd.Heartbeat
	for _, m := range f.messages(t) {
		if m.Kind == runcmd.KindHeartbeat {
			out = append(out, *m.Heartbeat)
		}
	}
	return out
}

var testFacts = platform.Facts{PlatformType: "Linux", PlatformName: "Ubuntu", PlatformVersion: "24.04",
	ComputerName: "host-1", IPAddress: "10.0.0.7"}

const testID = "mi-0123456789abcdef0"

type harness struct {
	agent  *Agent
	inbox  *fakeInbox
	outbox *fakeOutbox
	dir    string
}

func newHarness(t *testing.T, dir string, cfg Config) *harness {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cfg.StateDir = dir
	if cfg.InstanceID == "" {
		cfg.InstanceID = testID
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	cfg.Env = []string{"PATH=/usr/bin:/bin"}
	h := &harness{inbox: newFakeInbox(), outbox: &fakeOutbox{}, dir: dir}
	a, err := New(cfg, Deps{Inbox: h.inbox, Outbox: h.outbox})
	if err != nil {
		t.Fatal(err)
	}
	a.facts = func() platform.Facts { return testFacts }
	h.agent = a
	return h
}

// start runs the agent until the test ends (or stop is called) and returns stop, which waits for Run.
func (h *harness) start(t *testing.T) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.agent.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond for up to 20 s: the agent runs real processes here, so there is no fake clock.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitRunning waits until the journal shows the job running (its steps have started or are about to).
func waitRunning(t *testing.T, h *harness, commandID string) {
	t.Helper()
	waitFor(t, commandID+" running", func() bool {
		r, err := h.agent.journal.Get(commandID)
		return err == nil && r.Phase == state.PhaseRunning
	})
}

// doc is a schema 2.2 document of shell steps, each given as a list of command lines.
func doc(steps ...[]string) string {
	var ms []string
	for i, cmds := range steps {
		b, _ := json.Marshal(cmds)
		ms = append(ms, fmt.Sprintf(`{"action":"aws:runShellScript","name":"step%d","inputs":{"runCommand":%s}}`, i+1, b))
	}
	return `{"schemaVersion":"2.2","description":"test","mainSteps":[` + strings.Join(ms, ",") + `]}`
}

func sendBody(t *testing.T, m runcmd.NodeMessage) string {
	t.Helper()
	if m.Kind == "" {
		m.Kind = runcmd.KindSend
	}
	if m.InstanceID == "" {
		m.InstanceID = testID
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
