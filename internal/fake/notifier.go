package fake

import (
	"context"
	"maps"
	"sync"

	"github.com/runcmd/runcmd"
)

// Notification is one message published through Notifier.
type Notification struct {
	TopicARN string
	Subject  string
	Body     string
	Attrs    map[string]string
}

// Notifier implements runcmd.Notifier in memory and records what was published.
type Notifier struct {
	mu   sync.Mutex
	sent []Notification
}

var _ runcmd.Notifier = (*Notifier)(nil)

// Publish records the messages.
func (n *Notifier) Publish(_ context.Context, topicARN string, msgs ...runcmd.Notification) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, m := range msgs {
		n.sent = append(n.sent, Notification{TopicARN: topicARN, Subject: m.Subject, Body: string(m.Body), Attrs: maps.Clone(m.Attrs)})
	}
	return nil
}

// Published returns the messages published to topicARN, oldest first.
func (n *Notifier) Published(topicARN string) []Notification {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []Notification
	for _, m := range n.sent {
		if m.TopicARN == topicARN {
			out = append(out, m)
		}
	}
	return out
}
