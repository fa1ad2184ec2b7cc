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

// Publish records the message.
func (n *Notifier) Publish(_ context.Context, topicARN, subject string, body []byte, attrs map[string]string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent = append(n.sent, Notification{TopicARN: topicARN, Subject: subject, Body: string(body), Attrs: maps.Clone(attrs)})
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
