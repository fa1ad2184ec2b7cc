package node

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/sqsq"
)

func TestEncodeReply(t *testing.T) {
	t.Parallel()
	escaped := strings.Repeat("\x01", runcmd.MaxStdout) // 6 JSON bytes a character
	plugins := func(n int, out string) []runcmd.PluginResult {
		ps := make([]runcmd.PluginResult, n)
		for i := range ps {
			ps[i] = runcmd.PluginResult{Name: "step", Stdout: out, Stderr: out[:min(len(out), runcmd.MaxStderr)]}
		}
		return ps
	}
	tests := []struct {
		name       string
		plugins    []runcmd.PluginResult
		wantShrunk bool
	}{
		{"small", plugins(2, "hello"), false},
		{"one step at the limits fits", plugins(1, escaped), false},
		{"many steps at the limits", plugins(20, escaped), true},
		{"thousands of steps", plugins(5000, "x"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runcmd.Reply{CommandID: "c", InstanceID: testID, Detail: runcmd.DetailSuccess,
				Result: runcmd.Result{TraceOutput: "trace", Plugins: tt.plugins}}
			body, shrunk, err := encodeReply(r, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(body) > sqsq.MaxMessageBytes {
				t.Errorf("body is %d bytes, over %d", len(body), sqsq.MaxMessageBytes)
			}
			if shrunk != tt.wantShrunk {
				t.Errorf("shrunk = %v, want %v", shrunk, tt.wantShrunk)
			}
			var m runcmd.ResultMessage
			if err := json.Unmarshal([]byte(body), &m); err != nil || m.Reply == nil {
				t.Fatalf("body does not decode: %v", err)
			}
			if tt.wantShrunk && !strings.Contains(m.Reply.Result.TraceOutput, "256 KiB") {
				t.Errorf("TraceOutput = %q, want the shrink explained", m.Reply.Result.TraceOutput)
			}
			if len([]rune(m.Reply.Result.TraceOutput)) > runcmd.MaxTraceOutput {
				t.Errorf("TraceOutput has %d characters", len([]rune(m.Reply.Result.TraceOutput)))
			}
			if len(r.Result.Plugins) > 0 && r.Result.Plugins[0].Stdout != tt.plugins[0].Stdout {
				t.Error("encodeReply changed the caller's plugins")
			}
		})
	}
}

// gatedOutbox records sends; while gate is set, each send waits for it to close, as a slow results
// queue would.
type gatedOutbox struct {
	mu     sync.Mutex
	bodies []string
	gate   chan struct{}
}

func (g *gatedOutbox) Send(ctx context.Context, body string) error {
	g.mu.Lock()
	g.bodies = append(g.bodies, body)
	gate := g.gate
	g.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (g *gatedOutbox) sent() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.bodies)
}

// TestStartProgress checks the timing of the started reply and that it is never decided after the
// job ended: stop either prevents it or waits for the send already under way.
func TestStartProgress(t *testing.T) {
	t.Parallel()
	setup := func(t *testing.T, delay time.Duration, gated bool) (*Agent, *gatedOutbox) {
		t.Helper()
		h := newHarness(t, "", Config{ProgressDelay: delay})
		out := &gatedOutbox{}
		if gated {
			out.gate = make(chan struct{})
		}
		h.agent.deps.Outbox = out
		h.agent.sendCtx = t.Context() // Run sets it
		return h.agent, out
	}
	start := func(a *Agent) func() {
		return a.startProgress("cmd-1", time.Now(), nil, true).stop
	}
	t.Run("job ends before the delay: no started reply", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, out := setup(t, time.Second, false)
			stop := start(a)
			time.Sleep(999 * time.Millisecond)
			stop()
			time.Sleep(time.Minute)
			synctest.Wait()
			if n := out.sent(); n != 0 {
				t.Errorf("%d sends, want none", n)
			}
		})
	})
	t.Run("job runs past the delay: one started reply, at the delay", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, out := setup(t, time.Second, false)
			stop := start(a)
			time.Sleep(time.Second - time.Nanosecond)
			synctest.Wait()
			if n := out.sent(); n != 0 {
				t.Fatalf("%d sends before the delay, want none", n)
			}
			time.Sleep(time.Nanosecond)
			synctest.Wait()
			if n := out.sent(); n != 1 {
				t.Fatalf("%d sends at the delay, want 1", n)
			}
			var m runcmd.ResultMessage
			if err := json.Unmarshal([]byte(out.bodies[0]), &m); err != nil || m.Reply == nil ||
				m.Reply.Detail != runcmd.DetailInProgress || !m.Reply.Wake {
				t.Errorf("sent %s (%v), want an InProgress reply with wake", out.bodies[0], err)
			}
			stop()
			time.Sleep(time.Minute)
			synctest.Wait()
			if n := out.sent(); n != 1 {
				t.Errorf("%d sends, want 1", n)
			}
		})
	})
	t.Run("job ends while the started reply is being sent: stop waits for it", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, out := setup(t, time.Second, true)
			stop := start(a)
			time.Sleep(time.Second)
			synctest.Wait() // the send is under way and blocked on the gate
			stopped := make(chan struct{})
			go func() { stop(); close(stopped) }()
			synctest.Wait()
			select {
			case <-stopped:
				t.Fatal("stop returned while the started reply was still being sent")
			default:
			}
			close(out.gate)
			synctest.Wait()
			select {
			case <-stopped:
			default:
				t.Fatal("stop did not return after the started reply was sent")
			}
			if n := out.sent(); n != 1 {
				t.Errorf("%d sends, want 1", n)
			}
		})
	})
	t.Run("ended just before the delay, waited for after it: nothing sent", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, out := setup(t, time.Second, false)
			p := a.startProgress("cmd-1", time.Now(), nil, false)
			time.Sleep(999 * time.Millisecond)
			p.end() // the outcome exists; the final reply is being journaled
			time.Sleep(time.Second)
			synctest.Wait()
			p.wait()
			if n := out.sent(); n != 0 {
				t.Errorf("%d sends, want none: a started reply was decided after the job ended", n)
			}
		})
	})
	t.Run("immediate: sent before startProgress returns", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, out := setup(t, ProgressImmediate, false)
			stop := start(a)
			if n := out.sent(); n != 1 {
				t.Errorf("%d sends, want 1", n)
			}
			stop()
		})
	})
	t.Run("default delay", func(t *testing.T) {
		h := newHarness(t, "", Config{})
		if got := h.agent.cfg.ProgressDelay; got != DefaultProgressDelay {
			t.Errorf("ProgressDelay = %v, want the default %v", got, DefaultProgressDelay)
		}
	})
	t.Run("disabled: never sent", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, out := setup(t, -1, false)
			stop := start(a)
			time.Sleep(time.Hour)
			synctest.Wait()
			stop()
			if n := out.sent(); n != 0 {
				t.Errorf("%d sends, want none", n)
			}
		})
	})
}
