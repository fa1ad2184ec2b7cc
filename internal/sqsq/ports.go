package sqsq

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/runcmd/runcmd"
)

// NodeQueue implements runcmd.NodeQueue: it sends JSON NodeMessages to the managed nodes' own queues,
// whose URLs the caller takes from the node's record.
type NodeQueue struct {
	client *sqs.Client
	newID  func() string
}

var _ runcmd.NodeQueue = (*NodeQueue)(nil)

// NewNodeQueue returns a NodeQueue over client.
func NewNodeQueue(client *sqs.Client) *NodeQueue {
	return &NodeQueue{client: client, newID: rand.Text}
}

// Send delivers m to the queue at queueURL. A missing queue (a deregistered node) is ENOTFOUND, a
// message over MaxMessageBytes ELIMIT. Node queues are standard queues; should one be FIFO (its URL
// ends in ".fifo") the message goes in group CommandID with a fresh deduplication id.
func (n *NodeQueue) Send(ctx context.Context, queueURL string, m runcmd.NodeMessage) error {
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s message %s/%s: %w", m.Kind, m.CommandID, m.InstanceID, err)
	}
	q := New(n.client, queueURL)
	if strings.HasSuffix(queueURL, ".fifo") {
		err = q.SendFIFO(ctx, string(body), m.CommandID, n.newID())
	} else {
		err = q.Send(ctx, string(body))
	}
	if err != nil {
		return fmt.Errorf("send %s %s/%s: %w", m.Kind, m.CommandID, m.InstanceID, err)
	}
	return nil
}

// DispatchQueue implements runcmd.DispatchQueue over the FIFO dispatch queue. Every message of a
// command goes in message group CommandID, so the dispatch function handles one decision per command
// at a time, in order.
//
// Each Enqueue gets a fresh random deduplication id. Two "pump" requests for the same command are
// distinct requests (each follows a different reply) and must both arrive, which content-based
// deduplication would break within its five-minute window; an extra pump is harmless, a lost one
// stalls the command. The SDK reuses the id when it retries a call, so a retried send still
// arrives once.
type DispatchQueue struct {
	q     *Queue
	newID func() string
}

var _ runcmd.DispatchQueue = (*DispatchQueue)(nil)

// NewDispatchQueue returns a DispatchQueue for the FIFO queue at url.
func NewDispatchQueue(client *sqs.Client, url string) *DispatchQueue {
	return &DispatchQueue{q: New(client, url), newID: rand.Text}
}

// Enqueue sends m to the dispatch queue in group m.CommandID.
func (d *DispatchQueue) Enqueue(ctx context.Context, m runcmd.DispatchMessage) error {
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode dispatch %s %s: %w", m.Kind, m.CommandID, err)
	}
	if err := d.q.SendFIFO(ctx, string(body), m.CommandID, d.newID()); err != nil {
		return fmt.Errorf("enqueue dispatch %s %s: %w", m.Kind, m.CommandID, err)
	}
	return nil
}
