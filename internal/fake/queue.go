package fake

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/sqsq"
)

// dedupWindow is how long SQS FIFO queues remember a deduplication id.
const dedupWindow = 5 * time.Minute

// QueueOptions are the queue attributes a fake Queue honours.
type QueueOptions struct {
	// FIFO makes the queue a FIFO queue: SendFIFO only, messages of a group delivered in order and
	// never while an earlier message of the group is in flight, repeated deduplication ids dropped
	// for five minutes.
	FIFO bool
	// ContentBasedDeduplication lets SendFIFO go without a deduplication id (the body is the id).
	ContentBasedDeduplication bool
	// VisibilityTimeout is how long a received message stays invisible; SQS's default 30 s if zero.
	VisibilityTimeout time.Duration
}

// Queue is an in-memory SQS queue with the method set of sqsq.Queue and the behaviour the
// conformance suite checks against the emulator: visibility timeouts, receive counts, long polls that
// return as soon as a message arrives or turns visible again, FIFO group locking and deduplication,
// and SQS's argument limits. It is safe for concurrent use and works under testing/synctest, where
// its waits take no real time.
type Queue struct {
	url  string
	opts QueueOptions

	mu      sync.Mutex
	seq     int
	msgs    []*queued            // not yet deleted, in send order
	handles map[string]*queued   // every receipt handle handed out
	dedup   map[string]time.Time // FIFO deduplication id -> first sent
	changed chan struct{}        // closed (and replaced) when a message may have become receivable
}

var _ sqsq.Consumer = (*Queue)(nil)

type queued struct {
	id, body, group string
	visibleAt       time.Time
	receiveCount    int
	handle          string // of the latest delivery
	deleted         bool
}

// NewQueue returns an empty queue named by url.
func NewQueue(url string, opts QueueOptions) *Queue {
	if opts.VisibilityTimeout == 0 {
		opts.VisibilityTimeout = 30 * time.Second
	}
	return &Queue{
		url:     url,
		opts:    opts,
		handles: map[string]*queued{},
		dedup:   map[string]time.Time{},
		changed: make(chan struct{}),
	}
}

// URL returns the queue's URL.
func (q *Queue) URL() string { return q.url }

// Send puts a message on a standard queue; a FIFO queue rejects it (SQS requires a group).
func (q *Queue) Send(ctx context.Context, body string) error {
	if q.opts.FIFO {
		return fmt.Errorf("send message to %s: %w", q.url,
			runcmd.Errorf(runcmd.EINVALID, "", "a FIFO queue needs a MessageGroupId"))
	}
	if err := sqsq.CheckSize(body); err != nil {
		return fmt.Errorf("send message to %s: %w", q.url, err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.add(body, "")
	return nil
}

// SendFIFO puts a message on a FIFO queue in group. A dedupID seen in the last five minutes makes the
// send a silent no-op, as in SQS. Without a dedupID the queue needs ContentBasedDeduplication.
func (q *Queue) SendFIFO(ctx context.Context, body, group, dedupID string) error {
	switch {
	case !q.opts.FIFO:
		return fmt.Errorf("send message to %s group %s: %w", q.url, group,
			runcmd.Errorf(runcmd.EINVALID, "", "MessageGroupId is only valid for FIFO queues"))
	case group == "":
		return fmt.Errorf("send message to %s: %w", q.url,
			runcmd.Errorf(runcmd.EINVALID, "", "a FIFO queue needs a MessageGroupId"))
	case dedupID == "" && !q.opts.ContentBasedDeduplication:
		return fmt.Errorf("send message to %s group %s: %w", q.url, group,
			runcmd.Errorf(runcmd.EINVALID, "", "the queue needs a MessageDeduplicationId or content-based deduplication"))
	}
	if err := sqsq.CheckSize(body); err != nil {
		return fmt.Errorf("send message to %s group %s: %w", q.url, group, err)
	}
	if dedupID == "" {
		dedupID = "body:" + body
	}
	now := time.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	if at, ok := q.dedup[dedupID]; ok && now.Sub(at) < dedupWindow {
		return nil
	}
	q.dedup[dedupID] = now
	q.add(body, group)
	return nil
}

// SendBatch sends bodies to a standard queue. Like sqsq.Queue.SendBatch it sends every body it can
// and reports the others in a *sqsq.BatchError.
func (q *Queue) SendBatch(ctx context.Context, bodies []string) error {
	be := &sqsq.BatchError{Op: "send", QueueURL: q.url, Total: len(bodies)}
	for i, b := range bodies {
		if err := q.Send(ctx, b); err != nil {
			code := "MissingParameter"
			if runcmd.ErrorCode(err) == runcmd.ELIMIT {
				code = "MessageTooLong"
			}
			be.Failures = append(be.Failures, sqsq.BatchFailure{Index: i, Code: code, Message: err.Error(), SenderFault: true})
			if be.Err == nil {
				be.Err = err
			}
		}
	}
	if len(be.Failures) > 0 {
		return be
	}
	return nil
}

// add appends a message and wakes waiting receivers. q.mu is held.
func (q *Queue) add(body, group string) {
	q.seq++
	q.msgs = append(q.msgs, &queued{id: q.url + "#" + strconv.Itoa(q.seq), body: body, group: group})
	q.notify()
}

func (q *Queue) notify() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// Receive returns up to max (1..10) messages, waiting up to wait (0..20 s) for the first; an empty
// result is not an error. It returns early when a message is sent or a received one turns visible.
func (q *Queue) Receive(ctx context.Context, max int, wait time.Duration) ([]sqsq.Message, error) {
	if err := sqsq.CheckReceive(max, wait); err != nil {
		return nil, fmt.Errorf("receive from %s: %w", q.url, err)
	}
	deadline := time.Now().Add(wait)
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("receive from %s: %w", q.url, err)
		}
		now := time.Now()
		q.mu.Lock()
		got := q.take(max, now)
		wake := deadline
		for _, m := range q.msgs {
			if m.visibleAt.After(now) && m.visibleAt.Before(wake) {
				wake = m.visibleAt
			}
		}
		changed := q.changed
		q.mu.Unlock()
		if len(got) > 0 || !now.Before(deadline) {
			return got, nil
		}
		t := time.NewTimer(wake.Sub(now))
		select {
		case <-changed:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
}

// take marks up to max receivable messages as received and returns them. q.mu is held.
func (q *Queue) take(max int, now time.Time) []sqsq.Message {
	var out []sqsq.Message
	receive := func(m *queued) {
		m.receiveCount++
		m.visibleAt = now.Add(q.opts.VisibilityTimeout)
		m.handle = m.id + "/" + strconv.Itoa(m.receiveCount)
		q.handles[m.handle] = m
		out = append(out, sqsq.Message{ID: m.id, Body: m.body, ReceiptHandle: m.handle, ReceiveCount: m.receiveCount})
	}
	if !q.opts.FIFO {
		for _, m := range q.msgs {
			if len(out) == max {
				break
			}
			if !m.visibleAt.After(now) {
				receive(m)
			}
		}
		return out
	}
	// FIFO: a group with a message in flight is locked. Otherwise take the group's messages in order,
	// as many as fit, before moving to the next group (SQS prefers messages of one group).
	locked := map[string]bool{}
	for _, m := range q.msgs {
		if m.visibleAt.After(now) {
			locked[m.group] = true
		}
	}
	for _, first := range q.msgs {
		if len(out) == max {
			break
		}
		if locked[first.group] {
			continue
		}
		locked[first.group] = true // taken now, or waiting behind an earlier message of the group
		for _, m := range q.msgs {
			if len(out) == max {
				break
			}
			if m.group == first.group {
				receive(m)
			}
		}
	}
	return out
}

// Delete removes the message a receipt handle came from. Deleting it again succeeds; a handle this
// queue never handed out is EINVALID, like SQS's ReceiptHandleIsInvalid.
func (q *Queue) Delete(ctx context.Context, receiptHandle string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	m, ok := q.handles[receiptHandle]
	if !ok {
		return fmt.Errorf("delete message from %s: %w", q.url,
			runcmd.Errorf(runcmd.EINVALID, "", "receipt handle is invalid"))
	}
	if m.deleted {
		return nil
	}
	m.deleted = true
	for i, x := range q.msgs {
		if x == m {
			q.msgs = append(q.msgs[:i], q.msgs[i+1:]...)
			break
		}
	}
	q.notify() // a FIFO group may be unlocked now
	return nil
}

// DeleteBatch deletes every handle it can and reports the others in a *sqsq.BatchError.
func (q *Queue) DeleteBatch(ctx context.Context, handles []string) error {
	be := &sqsq.BatchError{Op: "delete", QueueURL: q.url, Total: len(handles)}
	for i, h := range handles {
		if err := q.Delete(ctx, h); err != nil {
			be.Failures = append(be.Failures, sqsq.BatchFailure{Index: i, Code: "ReceiptHandleIsInvalid", Message: err.Error(), SenderFault: true})
		}
	}
	if len(be.Failures) > 0 {
		return be
	}
	return nil
}

// ChangeVisibility makes an in-flight message visible again after d (0: at once). The handle must be
// the message's latest and the message still in flight, else EINVALID (SQS: MessageNotInflight).
func (q *Queue) ChangeVisibility(ctx context.Context, receiptHandle string, d time.Duration) error {
	if d < 0 || d > 12*time.Hour {
		return fmt.Errorf("change visibility in %s: %w", q.url,
			runcmd.Errorf(runcmd.EINVALID, "", "visibility timeout %v is outside 0..12h", d))
	}
	now := time.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	m, ok := q.handles[receiptHandle]
	if !ok || m.deleted || m.handle != receiptHandle || !m.visibleAt.After(now) {
		return fmt.Errorf("change visibility in %s: %w", q.url,
			runcmd.Errorf(runcmd.EINVALID, "", "message is not in flight"))
	}
	m.visibleAt = now.Add(d)
	q.notify()
	return nil
}

// Len returns the number of messages ready to receive and in flight (SQS's
// ApproximateNumberOfMessages and ApproximateNumberOfMessagesNotVisible, but exact).
func (q *Queue) Len() (visible, inFlight int) {
	now := time.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range q.msgs {
		if m.visibleAt.After(now) {
			inFlight++
		} else {
			visible++
		}
	}
	return visible, inFlight
}

// NodeQueue implements runcmd.NodeQueue in memory. It records every message sent to each queue URL
// for tests to read back with Messages, and also puts it on a fake Queue per URL (Queue) that an
// in-process agent can poll.
type NodeQueue struct {
	mu      sync.Mutex
	queues  map[string]*Queue
	sent    map[string][]runcmd.NodeMessage
	deleted map[string]bool
}

var _ runcmd.NodeQueue = (*NodeQueue)(nil)

// NewNodeQueue returns a NodeQueue where every queue URL exists until DeleteQueue.
func NewNodeQueue() *NodeQueue {
	return &NodeQueue{queues: map[string]*Queue{}, sent: map[string][]runcmd.NodeMessage{}, deleted: map[string]bool{}}
}

// Send records m and queues its JSON encoding, as sqsq.NodeQueue sends it. A deleted queue is
// ENOTFOUND and an oversized message ELIMIT, as with SQS.
func (n *NodeQueue) Send(ctx context.Context, queueURL string, m runcmd.NodeMessage) error {
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s message %s/%s: %w", m.Kind, m.CommandID, m.InstanceID, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock() // held throughout so Messages and the queue agree on order
	if n.deleted[queueURL] {
		return fmt.Errorf("send %s %s/%s: %w", m.Kind, m.CommandID, m.InstanceID,
			runcmd.Errorf(runcmd.ENOTFOUND, "", "queue does not exist"))
	}
	if err := n.queue(queueURL).Send(ctx, string(body)); err != nil {
		return fmt.Errorf("send %s %s/%s: %w", m.Kind, m.CommandID, m.InstanceID, err)
	}
	n.sent[queueURL] = append(n.sent[queueURL], m)
	return nil
}

// Messages returns every message sent to queueURL, oldest first, whether or not it was received.
func (n *NodeQueue) Messages(queueURL string) []runcmd.NodeMessage {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]runcmd.NodeMessage(nil), n.sent[queueURL]...)
}

// URLs returns the queue URLs that received at least one message, sorted.
func (n *NodeQueue) URLs() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Sorted(maps.Keys(n.sent))
}

// Queue returns the standard queue behind queueURL, creating it empty on first use.
func (n *NodeQueue) Queue(queueURL string) *Queue {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.queue(queueURL)
}

// queue returns the queue behind queueURL. n.mu is held.
func (n *NodeQueue) queue(queueURL string) *Queue {
	q, ok := n.queues[queueURL]
	if !ok {
		q = NewQueue(queueURL, QueueOptions{})
		n.queues[queueURL] = q
	}
	return q
}

// DeleteQueue makes later sends to queueURL fail with ENOTFOUND, as after a node's queue is deleted.
func (n *NodeQueue) DeleteQueue(queueURL string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.deleted[queueURL] = true
}

// DispatchQueue implements runcmd.DispatchQueue in memory. It records every message for Messages and
// puts its JSON encoding on a FIFO Queue (group = command id, a fresh deduplication id per call, as
// sqsq.DispatchQueue does) that a test can drive the dispatch handler from.
type DispatchQueue struct {
	q *Queue

	mu   sync.Mutex
	seq  int
	sent []runcmd.DispatchMessage
}

var _ runcmd.DispatchQueue = (*DispatchQueue)(nil)

// NewDispatchQueue returns an empty dispatch queue.
func NewDispatchQueue() *DispatchQueue {
	return &DispatchQueue{q: NewQueue("fake://dispatch.fifo", QueueOptions{FIFO: true})}
}

// Enqueue records m and queues it in group m.CommandID.
func (d *DispatchQueue) Enqueue(ctx context.Context, m runcmd.DispatchMessage) error {
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode dispatch %s %s: %w", m.Kind, m.CommandID, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock() // held throughout so Messages and the queue agree on order
	d.seq++
	if err := d.q.SendFIFO(ctx, string(body), m.CommandID, strconv.Itoa(d.seq)); err != nil {
		return fmt.Errorf("enqueue dispatch %s %s: %w", m.Kind, m.CommandID, err)
	}
	d.sent = append(d.sent, m)
	return nil
}

// Messages returns every message enqueued, oldest first, whether or not it was received.
func (d *DispatchQueue) Messages() []runcmd.DispatchMessage {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]runcmd.DispatchMessage(nil), d.sent...)
}

// Queue returns the FIFO queue holding the encoded messages.
func (d *DispatchQueue) Queue() *Queue { return d.q }
