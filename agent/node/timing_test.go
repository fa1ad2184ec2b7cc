package node

import (
	"context"
	"errors"
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
		if want := 2 + maxSendAttempts; attempts != want { // InProgress twice, then the final reply
			t.Errorf("%d send attempts in 30 s, want %d (bounded)", attempts, want)
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
