package fake_test

import (
	"encoding/json"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/runcmd/runcmd"

	"github.com/runcmd/runcmd/internal/fake"
	"github.com/runcmd/runcmd/internal/storetest"
)

func TestQueueConformance(t *testing.T) {
	storetest.TestQueue(t, storetest.QueueHarness{
		Bubble: true,
		New: func(t *testing.T, o storetest.QueueOptions) storetest.Queue {
			url := "fake://" + t.Name()
			if o.FIFO {
				url += ".fifo"
			}
			return fake.NewQueue(url, fake.QueueOptions{FIFO: o.FIFO, VisibilityTimeout: o.Visibility})
		},
	})
}

func TestFIFODeduplicationWindow(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		q := fake.NewQueue("fake://dedup.fifo", fake.QueueOptions{FIFO: true})
		send := func(body string) {
			t.Helper()
			if err := q.SendFIFO(ctx, body, "g", "same-id"); err != nil {
				t.Fatalf("SendFIFO(%q): %v", body, err)
			}
		}
		send("first")
		time.Sleep(4 * time.Minute)
		send("inside the window")
		time.Sleep(2 * time.Minute)
		send("after the window")
		var got []string
		for {
			msgs, err := q.Receive(ctx, 10, 0)
			if err != nil {
				t.Fatalf("Receive: %v", err)
			}
			if len(msgs) == 0 {
				break
			}
			for _, m := range msgs {
				got = append(got, m.Body)
				if err := q.Delete(ctx, m.ReceiptHandle); err != nil {
					t.Fatalf("Delete: %v", err)
				}
			}
		}
		if diff := cmp.Diff([]string{"first", "after the window"}, got); diff != "" {
			t.Errorf("delivered (-want +got):\n%s", diff)
		}
	})
}

func TestQueueErrors(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	std := fake.NewQueue("fake://std", fake.QueueOptions{})
	fifo := fake.NewQueue("fake://f.fifo", fake.QueueOptions{FIFO: true})
	if err := std.Send(ctx, "m"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	msgs, err := std.Receive(ctx, 1, 0)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("Receive = %v, %v", msgs, err)
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"group on a standard queue", std.SendFIFO(ctx, "m", "g", "d"), runcmd.EINVALID},
		{"no group", fifo.SendFIFO(ctx, "m", "", "d"), runcmd.EINVALID},
		{"no dedup id", fifo.SendFIFO(ctx, "m", "g", ""), runcmd.EINVALID},
		{"unknown handle", std.Delete(ctx, "bogus"), runcmd.EINVALID},
		{"negative visibility", std.ChangeVisibility(ctx, msgs[0].ReceiptHandle, -time.Second), runcmd.EINVALID},
		{"visibility of a deleted message", func() error {
			if err := std.Delete(ctx, msgs[0].ReceiptHandle); err != nil {
				return err
			}
			return std.ChangeVisibility(ctx, msgs[0].ReceiptHandle, 0)
		}(), runcmd.EINVALID},
	}
	for _, tc := range tests {
		if got := runcmd.ErrorCode(tc.err); got != tc.want {
			t.Errorf("%s: error code %q (%v), want %q", tc.name, got, tc.err, tc.want)
		}
	}
	cb := fake.NewQueue("fake://cb.fifo", fake.QueueOptions{FIFO: true, ContentBasedDeduplication: true})
	for range 2 {
		if err := cb.SendFIFO(ctx, "same body", "g", ""); err != nil {
			t.Fatalf("SendFIFO with content-based deduplication: %v", err)
		}
	}
	if visible, _ := cb.Len(); visible != 1 {
		t.Errorf("content-based deduplication kept %d messages, want 1", visible)
	}
}

// TestQueueConcurrentConsumers checks that concurrent consumers get every message exactly once.
func TestQueueConcurrentConsumers(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		q := fake.NewQueue("fake://many", fake.QueueOptions{})
		const n = 200
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for {
					msgs, err := q.Receive(ctx, 10, 2*time.Second)
					if err != nil {
						t.Errorf("Receive: %v", err)
						return
					}
					if len(msgs) == 0 {
						return
					}
					for _, m := range msgs {
						mu.Lock()
						seen[m.Body]++
						mu.Unlock()
						if err := q.Delete(ctx, m.ReceiptHandle); err != nil {
							t.Errorf("Delete: %v", err)
						}
					}
				}
			})
		}
		for i := range n {
			if err := q.Send(ctx, strconv.Itoa(i)); err != nil {
				t.Fatalf("Send: %v", err)
			}
		}
		wg.Wait()
		if len(seen) != n {
			t.Errorf("received %d distinct messages, want %d", len(seen), n)
		}
		for body, c := range seen {
			if c != 1 {
				t.Errorf("message %s received %d times", body, c)
			}
		}
	})
}

func TestNodeQueue(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	nq := fake.NewNodeQueue()
	m1 := runcmd.NodeMessage{Kind: runcmd.KindSend, CommandID: "c1", InstanceID: "mi-1", DocumentName: "AWS-RunShellScript"}
	m2 := runcmd.NodeMessage{Kind: runcmd.KindCancel, CommandID: "c1", InstanceID: "mi-1"}
	for _, m := range []runcmd.NodeMessage{m1, m2} {
		if err := nq.Send(ctx, "q1", m); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	if diff := cmp.Diff([]runcmd.NodeMessage{m1, m2}, nq.Messages("q1")); diff != "" {
		t.Errorf("Messages(q1) (-want +got):\n%s", diff)
	}
	if got := nq.Messages("q2"); len(got) != 0 {
		t.Errorf("Messages(q2) = %+v, want none", got)
	}
	if diff := cmp.Diff([]string{"q1"}, nq.URLs()); diff != "" {
		t.Errorf("URLs (-want +got):\n%s", diff)
	}

	// The agent's side: the same messages, JSON-encoded, on the node's queue.
	msgs, err := nq.Queue("q1").Receive(ctx, 10, 0)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	var got []runcmd.NodeMessage
	for _, m := range msgs {
		var nm runcmd.NodeMessage
		if err := json.Unmarshal([]byte(m.Body), &nm); err != nil {
			t.Fatalf("decode %q: %v", m.Body, err)
		}
		got = append(got, nm)
	}
	if diff := cmp.Diff([]runcmd.NodeMessage{m1, m2}, got); diff != "" {
		t.Errorf("queued messages (-want +got):\n%s", diff)
	}

	nq.DeleteQueue("q1")
	if err := nq.Send(ctx, "q1", m1); runcmd.ErrorCode(err) != runcmd.ENOTFOUND {
		t.Errorf("Send to a deleted queue = %v, want %s", err, runcmd.ENOTFOUND)
	}
	if n := len(nq.Messages("q1")); n != 2 {
		t.Errorf("a failed send was recorded: %d messages, want 2", n)
	}
}

func TestDispatchQueue(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	d := fake.NewDispatchQueue()
	sent := []runcmd.DispatchMessage{
		{Kind: runcmd.DispatchStart, CommandID: "c1"},
		{Kind: runcmd.DispatchStart, CommandID: "c2"},
		{Kind: runcmd.DispatchPump, CommandID: "c1"},
		{Kind: runcmd.DispatchPump, CommandID: "c1"}, // a distinct request: must not be deduplicated
	}
	for _, m := range sent {
		if err := d.Enqueue(ctx, m); err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
	}
	if diff := cmp.Diff(sent, d.Messages()); diff != "" {
		t.Errorf("Messages (-want +got):\n%s", diff)
	}
	// Group c1 comes first and whole; c2 follows.
	msgs, err := d.Queue().Receive(ctx, 10, 0)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	var got []runcmd.DispatchMessage
	for _, m := range msgs {
		var dm runcmd.DispatchMessage
		if err := json.Unmarshal([]byte(m.Body), &dm); err != nil {
			t.Fatalf("decode %q: %v", m.Body, err)
		}
		got = append(got, dm)
	}
	want := []runcmd.DispatchMessage{sent[0], sent[2], sent[3], sent[1]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("received (-want +got):\n%s", diff)
	}
}
