package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/sqsq"
)

// Queue is the queue behaviour the suite checks: the method set shared by sqsq.Queue and fake.Queue.
type Queue interface {
	sqsq.Consumer
	URL() string
	Send(ctx context.Context, body string) error
	SendFIFO(ctx context.Context, body, group, dedupID string) error
	SendBatch(ctx context.Context, bodies []string) error
	DeleteBatch(ctx context.Context, handles []string) error
	ChangeVisibility(ctx context.Context, receiptHandle string, d time.Duration) error
}

// QueueOptions says what queue a test needs.
type QueueOptions struct {
	FIFO bool
	// Visibility is the queue's visibility timeout, in whole seconds (SQS's unit).
	Visibility time.Duration
}

// QueueHarness makes queues for TestQueue.
type QueueHarness struct {
	// New returns a fresh, empty queue and removes it when the test ends.
	New func(t *testing.T, opts QueueOptions) Queue
	// Bubble runs every test inside testing/synctest so that sleeps and long polls take no real
	// time. Only for in-memory queues: a bubble cannot wait on real network I/O.
	Bubble bool
}

// TestQueue runs the queue conformance tests against the queues h makes. The same timings are used
// everywhere; they are short (a few seconds in all, tests in parallel) because the emulator's SQS is
// slow and every long poll holds one of its threads.
func TestQueue(t *testing.T, h QueueHarness) {
	tests := []struct {
		name string
		opts QueueOptions
		run  func(t *testing.T, q Queue)
	}{
		{"SendReceiveDelete", QueueOptions{Visibility: 30 * time.Second}, testSendReceiveDelete},
		{"Limits", QueueOptions{Visibility: 30 * time.Second}, testLimits},
		{"Batch", QueueOptions{Visibility: 30 * time.Second}, testBatch},
		{"Visibility", QueueOptions{Visibility: time.Second}, testVisibility},
		{"LongPollWakesOnSend", QueueOptions{Visibility: 30 * time.Second}, testLongPollWakesOnSend},
		{"LongPollTimesOut", QueueOptions{Visibility: 30 * time.Second}, testLongPollTimesOut},
		{"LongPollCancelled", QueueOptions{Visibility: 30 * time.Second}, testLongPollCancelled},
		{"FIFOGroups", QueueOptions{FIFO: true, Visibility: 30 * time.Second}, testFIFOGroups},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if h.Bubble {
				synctest.Test(t, func(t *testing.T) { tc.run(t, h.New(t, tc.opts)) })
				return
			}
			tc.run(t, h.New(t, tc.opts))
		})
	}
}

func testSendReceiveDelete(t *testing.T, q Queue) {
	ctx := t.Context()
	for _, b := range []string{"one", "two"} {
		if err := q.Send(ctx, b); err != nil {
			t.Fatalf("Send(%q): %v", b, err)
		}
	}
	msgs := receiveN(t, q, 2)
	var bodies []string
	for _, m := range msgs {
		if m.ID == "" || m.ReceiptHandle == "" {
			t.Errorf("message %+v lacks an ID or receipt handle", m)
		}
		if m.ReceiveCount != 1 {
			t.Errorf("message %q: ReceiveCount = %d, want 1", m.Body, m.ReceiveCount)
		}
		bodies = append(bodies, m.Body)
	}
	slices.Sort(bodies)
	if diff := cmp.Diff([]string{"one", "two"}, bodies); diff != "" {
		t.Errorf("received bodies (-want +got):\n%s", diff)
	}
	for _, m := range msgs {
		if err := q.Delete(ctx, m.ReceiptHandle); err != nil {
			t.Fatalf("Delete: %v", err)
		}
	}
	// Deleting again is not an error (SQS tolerates it; retried acknowledgements rely on it).
	if err := q.Delete(ctx, msgs[0].ReceiptHandle); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	if got := receive(t, q, 10, 0); len(got) != 0 {
		t.Errorf("Receive after Delete = %+v, want nothing", got)
	}
}

func testLimits(t *testing.T, q Queue) {
	ctx := t.Context()
	for _, tc := range []struct {
		max  int
		wait time.Duration
	}{{0, 0}, {11, 0}, {1, -time.Second}, {1, 21 * time.Second}} {
		_, err := q.Receive(ctx, tc.max, tc.wait)
		if got := runcmd.ErrorCode(err); got != runcmd.EINVALID {
			t.Errorf("Receive(%d, %v) error code = %q (%v), want %q", tc.max, tc.wait, got, err, runcmd.EINVALID)
		}
	}
	big := strings.Repeat("x", sqsq.MaxMessageBytes+1)
	if err := q.Send(ctx, big); runcmd.ErrorCode(err) != runcmd.ELIMIT {
		t.Errorf("Send(%d bytes) = %v, want %s", len(big), err, runcmd.ELIMIT)
	}
	if err := q.Send(ctx, big[:sqsq.MaxMessageBytes]); err != nil {
		t.Errorf("Send(%d bytes): %v", sqsq.MaxMessageBytes, err)
	}
}

func testBatch(t *testing.T, q Queue) {
	ctx := t.Context()
	var bodies []string
	for i := range 12 {
		bodies = append(bodies, fmt.Sprintf("m%02d", i))
	}
	bodies[5] = strings.Repeat("x", sqsq.MaxMessageBytes+1)
	err := q.SendBatch(ctx, bodies)
	var be *sqsq.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("SendBatch with one oversized body = %v, want a *sqsq.BatchError", err)
	}
	if diff := cmp.Diff([]int{5}, be.Failed()); diff != "" {
		t.Errorf("failed indexes (-want +got):\n%s", diff)
	}
	if got := runcmd.ErrorCode(err); got != runcmd.ELIMIT {
		t.Errorf("SendBatch error code = %q, want %q", got, runcmd.ELIMIT)
	}

	msgs := receiveN(t, q, 11)
	var got, handles []string
	for _, m := range msgs {
		got = append(got, m.Body)
		handles = append(handles, m.ReceiptHandle)
	}
	slices.Sort(got)
	want := slices.Delete(slices.Clone(bodies), 5, 6)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("received bodies (-want +got):\n%s", diff)
	}

	err = q.DeleteBatch(ctx, append(handles, "not-a-receipt-handle"))
	if !errors.As(err, &be) {
		t.Fatalf("DeleteBatch with a bogus handle = %v, want a *sqsq.BatchError", err)
	}
	if diff := cmp.Diff([]int{11}, be.Failed()); diff != "" {
		t.Errorf("failed delete indexes (-want +got):\n%s", diff)
	}
	if got := receive(t, q, 10, 0); len(got) != 0 {
		t.Errorf("Receive after DeleteBatch = %+v, want nothing", got)
	}
}

func testVisibility(t *testing.T, q Queue) { // queue visibility timeout 1 s
	ctx := t.Context()
	if err := q.Send(ctx, "v"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	first := receiveN(t, q, 1)[0]
	if got := receive(t, q, 1, 0); len(got) != 0 {
		t.Fatalf("in-flight message received again at once: %+v", got)
	}

	// ChangeVisibility 0 hands it back immediately, with a higher receive count.
	if err := q.ChangeVisibility(ctx, first.ReceiptHandle, 0); err != nil {
		t.Fatalf("ChangeVisibility: %v", err)
	}
	second := receiveN(t, q, 1)[0]
	if second.ID != first.ID || second.ReceiveCount != 2 {
		t.Errorf("after ChangeVisibility got %+v, want ID %q with ReceiveCount 2", second, first.ID)
	}

	// A long poll returns it when the visibility timeout runs out, well before the poll ends.
	start := time.Now()
	third := receive(t, q, 1, 5*time.Second)
	if len(third) != 1 || third[0].ID != first.ID || third[0].ReceiveCount != 3 {
		t.Fatalf("after the visibility timeout got %+v, want ID %q with ReceiveCount 3", third, first.ID)
	}
	if d := time.Since(start); d >= 5*time.Second {
		t.Errorf("long poll returned after %v, want before its 5s wait ended", d)
	}
	if err := q.Delete(ctx, third[0].ReceiptHandle); err != nil {
		t.Fatalf("Delete: %v", err)
	}
}

func testLongPollWakesOnSend(t *testing.T, q Queue) {
	ctx := t.Context()
	const wait = 5 * time.Second
	type result struct {
		msgs []sqsq.Message
		err  error
		took time.Duration
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		msgs, err := q.Receive(ctx, 1, wait)
		done <- result{msgs, err, time.Since(start)}
	}()
	time.Sleep(300 * time.Millisecond)
	if err := q.Send(ctx, "wake"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("Receive: %v", r.err)
	}
	if len(r.msgs) != 1 || r.msgs[0].Body != "wake" {
		t.Fatalf("Receive = %+v, want the message sent during the poll", r.msgs)
	}
	if r.took >= wait {
		t.Errorf("long poll returned after %v, want as soon as the message arrived", r.took)
	}
}

func testLongPollTimesOut(t *testing.T, q Queue) {
	const wait = time.Second
	start := time.Now()
	if got := receive(t, q, 10, wait); len(got) != 0 {
		t.Fatalf("Receive on an empty queue = %+v", got)
	}
	if d := time.Since(start); d < wait*9/10 {
		t.Errorf("empty long poll returned after %v, want about %v", d, wait)
	}
}

func testLongPollCancelled(t *testing.T, q Queue) {
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := q.Receive(ctx, 1, 3*time.Second)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Receive with a cancelled context = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d >= 3*time.Second {
		t.Errorf("cancelled long poll returned after %v, want at once", d)
	}
}

func testFIFOGroups(t *testing.T, q Queue) {
	ctx := t.Context()
	if err := q.Send(ctx, "no group"); err == nil {
		t.Errorf("Send without a group to a FIFO queue succeeded")
	}
	for _, s := range []struct{ body, group, dedup string }{
		{"a1", "A", "d1"}, {"a2", "A", "d2"}, {"b1", "B", "d3"},
		{"a1 again", "A", "d1"}, // same deduplication id: accepted and dropped
	} {
		if err := q.SendFIFO(ctx, s.body, s.group, s.dedup); err != nil {
			t.Fatalf("SendFIFO(%q): %v", s.body, err)
		}
	}
	a1 := receiveN(t, q, 1)
	if a1[0].Body != "a1" {
		t.Fatalf("first message = %q, want a1", a1[0].Body)
	}
	// Group A is locked while a1 is in flight: only group B is delivered.
	if got := bodiesOf(receive(t, q, 10, 0)); !slices.Equal(got, []string{"b1"}) {
		t.Fatalf("with a1 in flight got %q, want [b1]", got)
	}
	if err := q.Delete(ctx, a1[0].ReceiptHandle); err != nil {
		t.Fatalf("Delete a1: %v", err)
	}
	msgs := receive(t, q, 10, 0)
	if got := bodiesOf(msgs); !slices.Equal(got, []string{"a2"}) {
		t.Fatalf("after deleting a1 got %q, want [a2] (the duplicate dropped)", got)
	}
}

// receive calls Receive and fails the test on error.
func receive(t *testing.T, q Queue, max int, wait time.Duration) []sqsq.Message {
	t.Helper()
	msgs, err := q.Receive(t.Context(), max, wait)
	if err != nil {
		t.Fatalf("Receive(%d, %v): %v", max, wait, err)
	}
	return msgs
}

// receiveN receives until it has n messages; SQS may spread them over several receives.
func receiveN(t *testing.T, q Queue, n int) []sqsq.Message {
	t.Helper()
	var all []sqsq.Message
	for range 5 {
		all = append(all, receive(t, q, min(n-len(all), sqsq.MaxBatch), time.Second)...)
		if len(all) >= n {
			break
		}
	}
	if len(all) != n {
		t.Fatalf("received %d messages, want %d: %+v", len(all), n, all)
	}
	return all
}

func bodiesOf(msgs []sqsq.Message) []string {
	var b []string
	for _, m := range msgs {
		b = append(b, m.Body)
	}
	return b
}
