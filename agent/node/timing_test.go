package node

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/agent/internal/state"
)

// skippedDoc runs no process (its only step is for Windows), so it can run inside a synctest bubble.
const skippedDoc = `{"schemaVersion":"2.2","description":"t","mainSteps":[{"action":"aws:runShellScript","name":"win",` +
	`"precondition":{"StringEquals":["platformType","Windows"]},"inputs":{"runCommand":["echo no"]}}]}`

func TestHeartbeatInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, "", Config{})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- h.agent.Run(ctx) }()
		start := time.Now()
		time.Sleep(3*runcmd.HeartbeatInterval + time.Second)
		synctest.Wait()
		hbs := h.outbox.heartbeats(t)
		if len(hbs) != 4 {
			t.Fatalf("%d heartbeats after 3 intervals, want 4 (one at start)", len(hbs))
		}
		for i, hb := range hbs {
			if want := start.Add(time.Duration(i) * runcmd.HeartbeatInterval); !hb.At.Equal(want) {
				t.Errorf("heartbeat %d at %v, want %v", i, hb.At.Sub(start), want.Sub(start))
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func TestReplyRetriedWhileQueueUnreachable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, "", Config{})
		h.outbox.setFail(1000) // the results queue is down
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- h.agent.Run(ctx) }()
		h.inbox.Push(sendBody(t, runcmd.NodeMessage{CommandID: "cmd-r", DocumentContent: skippedDoc}))

		// Within the first delivery: attempts back off 0.5 s, 1 s, 2 s, ... and then give up for now.
		time.Sleep(30 * time.Second)
		synctest.Wait()
		rec, err := h.agent.journal.Get("cmd-r")
		if err != nil || rec.Phase != state.PhaseFinished || rec.Sent || rec.Final == nil {
			t.Fatalf("journal = %+v, %v; want the final reply journaled and unsent", rec, err)
		}
		h.outbox.mu.Lock()
		attempts := h.outbox.attempts
		h.outbox.mu.Unlock()
		// The document ends at once: no started reply, only the final one's bounded attempts.
		if attempts != maxSendAttempts {
			t.Errorf("%d send attempts in 30 s, want %d (bounded)", attempts, maxSendAttempts)
		}

		// The queue comes back; the next heartbeat's flush delivers the reply.
		h.outbox.setFail(0)
		time.Sleep(runcmd.HeartbeatInterval)
		synctest.Wait()
		final := h.outbox.final(t, "cmd-r")
		if len(final) != 1 || final[0].Detail != runcmd.DetailSuccess || !final[0].Result.Plugins[0].Skipped {
			t.Fatalf("final replies = %+v", final)
		}
		if rec, err := h.agent.journal.Get("cmd-r"); err != nil || !rec.Sent {
			t.Errorf("journal = %+v, %v; want sent", rec, err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func TestBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBackoff(time.Second, 30*time.Second)
		var got []time.Duration
		for range 7 {
			got = append(got, b.next())
		}
		want := []time.Duration{1, 2, 4, 8, 16, 30, 30}
		for i := range want {
			if got[i] != want[i]*time.Second {
				t.Fatalf("backoff = %v, want %v seconds", got, want)
			}
		}
		b.reset()
		if d := b.next(); d != time.Second {
			t.Errorf("after reset: %v", d)
		}
		start := time.Now()
		if !sleep(t.Context(), 5*time.Second) || time.Since(start) != 5*time.Second {
			t.Errorf("sleep waited %v", time.Since(start))
		}
	})
}

// failingInbox fails every receive, as when the node's queue is unreachable.
type failingInbox struct{ calls []time.Time }

func (f *failingInbox) Receive(context.Context, int, time.Duration) ([]Message, error) {
	f.calls = append(f.calls, time.Now())
	return nil, errors.New("connection refused")
}

func (f *failingInbox) Delete(context.Context, string) error { return nil }

func TestPollBacksOffOnReceiveErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, "", Config{})
		in := &failingInbox{}
		h.agent.deps.Inbox = in
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- h.agent.Run(ctx) }()
		start := time.Now()
		time.Sleep(time.Minute)
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		var at []time.Duration
		for _, c := range in.calls {
			at = append(at, c.Sub(start))
		}
		want := []time.Duration{0, 1 * time.Second, 3 * time.Second, 7 * time.Second, 15 * time.Second, 31 * time.Second}
		if len(at) != len(want) {
			t.Fatalf("receive calls at %v, want %v", at, want)
		}
		for i := range want {
			if at[i] != want[i] {
				t.Fatalf("receive calls at %v, want %v", at, want)
			}
		}
	})
}

// flakyInbox fails every receive while down, as when SQS is unreachable, and records each receive's
// wait.
type flakyInbox struct {
	*fakeInbox
	mu    sync.Mutex
	down  bool
	calls []flakyCall
}

type flakyCall struct {
	at   time.Time
	wait time.Duration
}

func (f *flakyInbox) Receive(ctx context.Context, max int, wait time.Duration) ([]Message, error) {
	f.mu.Lock()
	down := f.down
	f.calls = append(f.calls, flakyCall{time.Now(), wait})
	f.mu.Unlock()
	if down {
		return nil, errors.New("connection refused")
	}
	return f.fakeInbox.Receive(ctx, max, wait)
}

func (f *flakyInbox) setDown(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

// TestRepliesFlushedWhenSQSReachableAgain: a final reply that gave up during an outage is delivered as
// soon as a receive succeeds again, not at the next heartbeat, and that receive is a short probe rather
// than a 20 s long poll.
func TestRepliesFlushedWhenSQSReachableAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, "", Config{})
		in := &flakyInbox{fakeInbox: h.inbox}
		h.agent.deps.Inbox = in
		h.outbox.setFail(1000)
		h.inbox.Push(sendBody(t, runcmd.NodeMessage{CommandID: "cmd-o", DocumentContent: skippedDoc}))
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- h.agent.Run(ctx) }()

		// The command runs at once; its reply fails and gives up after maxSendAttempts (15.5 s). The
		// long poll under way ends at 20 s; receives then fail at 20, 21, 23, 27 and 35 s.
		time.Sleep(time.Second)
		in.setDown(true)
		time.Sleep(39 * time.Second)
		synctest.Wait()
		if rec, err := h.agent.journal.Get("cmd-o"); err != nil || rec.Final == nil || rec.Sent {
			t.Fatalf("journal = %+v, %v; want the final reply journaled and unsent", rec, err)
		}
		in.setDown(false)
		h.outbox.setFail(0)

		// The next receive, at 51 s, is a 1 s probe; when it returns, the reply goes out, long before
		// the heartbeat at 60 s.
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if f := h.outbox.final(t, "cmd-o"); len(f) != 0 {
			t.Fatalf("reply delivered at %v, before SQS answered again", time.Since(start))
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if f := h.outbox.final(t, "cmd-o"); len(f) != 1 || f[0].Detail != runcmd.DetailSuccess {
			t.Fatalf("final replies at %v = %+v, want the reply delivered after the probe", time.Since(start), f)
		}
		if n := len(h.outbox.heartbeats(t)); n != 1 {
			t.Errorf("%d heartbeats, want only the first (recovery flushes without a heartbeat)", n)
		}
		in.mu.Lock()
		calls := append([]flakyCall(nil), in.calls...)
		in.mu.Unlock()
		var probe, after *flakyCall
		for i := range calls {
			if calls[i].at.Sub(start) == 51*time.Second {
				probe = &calls[i]
				if i+1 < len(calls) {
					after = &calls[i+1]
				}
			}
		}
		if probe == nil || probe.wait != probeWait || after == nil || after.wait != PollWait {
			t.Errorf("receives = %+v; want a %v probe at 51 s, then long polls", calls, probeWait)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}
