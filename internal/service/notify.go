package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/runcmd/runcmd"
)

// Notifications publishes status changes: SSM-shaped messages to the topic a command names in its
// NotificationConfig (filtered by its events and type), and every change to the project's events topic.
type Notifications struct {
	Notifier    runcmd.Notifier
	EventsTopic string // ARN; empty disables the events topic
}

// SNS message types, as the events topic's "type" attribute.
const (
	notifyCommand    = "Command"
	notifyInvocation = "Invocation"
)

// isoMillis formats times as SSM's notifications do: ISO-8601 with milliseconds.
func isoMillis(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// commandMessage is the body SSM sends for a command status change.
type commandMessage struct {
	CommandID          string   `json:"commandId"`
	DocumentName       string   `json:"documentName"`
	InstanceIDs        []string `json:"instanceIds"`
	RequestedDateTime  string   `json:"requestedDateTime"`
	ExpiresAfter       string   `json:"expiresAfter"`
	OutputS3BucketName string   `json:"outputS3BucketName"`
	OutputS3KeyPrefix  string   `json:"outputS3KeyPrefix"`
	Status             string   `json:"status"`
	EventTime          string   `json:"eventTime"`
}

// invocationMessage is the body SSM sends for an invocation status change.
type invocationMessage struct {
	CommandID         string `json:"commandId"`
	DocumentName      string `json:"documentName"`
	InstanceID        string `json:"instanceId"`
	RequestedDateTime string `json:"requestedDateTime"`
	Status            string `json:"status"`
	EventTime         string `json:"eventTime"`
}

// wants reports whether a NotificationConfig asks for messages of this type and status. SSM never
// sends Pending or Cancelling.
func wants(c runcmd.NotificationConfig, typ, status string) bool {
	if c.NotificationArn == "" || status == "Pending" || status == "Cancelling" {
		return false
	}
	if c.NotificationType != "" && c.NotificationType != typ {
		return false
	}
	return slices.Contains(c.NotificationEvents, "All") || slices.Contains(c.NotificationEvents, status)
}

// Command publishes a command's new status.
func (n *Notifications) Command(ctx context.Context, cmd *runcmd.Command, at time.Time) error {
	o := n.Outbox()
	o.Command(cmd, at)
	return o.Flush(ctx)
}

// Invocation publishes an invocation's new status.
func (n *Notifications) Invocation(ctx context.Context, inv *runcmd.Invocation, at time.Time) error {
	o := n.Outbox()
	o.Invocation(inv, at)
	return o.Flush(ctx)
}

// Outbox collects status changes and publishes them together with Flush: SNS takes ten messages per
// request, so a batch of replies costs about one request per topic instead of one per change (AWS
// requests per invocation are a budget, see bench/REPORT.md). Not safe for concurrent use.
type Outbox struct {
	n      *Notifications
	topics []string // in first-use order
	msgs   map[string][]runcmd.Notification
	errs   []error
}

// Outbox returns an empty outbox; on a nil Notifications it collects nothing.
func (n *Notifications) Outbox() *Outbox {
	return &Outbox{n: n, msgs: map[string][]runcmd.Notification{}}
}

func (o *Outbox) enabled() bool { return o.n != nil && o.n.Notifier != nil }

// Command adds a command's new status.
func (o *Outbox) Command(cmd *runcmd.Command, at time.Time) {
	if !o.enabled() {
		return
	}
	status := string(cmd.Status())
	msg := commandMessage{
		CommandID: cmd.CommandID, DocumentName: cmd.DocumentName, InstanceIDs: cmd.InstanceIDs,
		RequestedDateTime: isoMillis(cmd.RequestedAt), ExpiresAfter: isoMillis(cmd.ExpiresAt),
		OutputS3BucketName: cmd.OutputS3Bucket, OutputS3KeyPrefix: cmd.OutputS3KeyPrefix,
		Status: status, EventTime: isoMillis(at),
	}
	if msg.InstanceIDs == nil {
		msg.InstanceIDs = []string{} // SSM sends [] for tag targets
	}
	o.add(cmd.NotificationConfig, notifyCommand, status, msg)
}

// Invocation adds an invocation's new status.
func (o *Outbox) Invocation(inv *runcmd.Invocation, at time.Time) {
	if !o.enabled() {
		return
	}
	status := string(inv.Status())
	msg := invocationMessage{
		CommandID: inv.CommandID, DocumentName: inv.DocumentName, InstanceID: inv.InstanceID,
		RequestedDateTime: isoMillis(inv.RequestedAt), Status: status, EventTime: isoMillis(at),
	}
	o.add(inv.NotificationConfig, notifyInvocation, status, msg)
}

func (o *Outbox) add(c runcmd.NotificationConfig, typ, status string, msg any) {
	body, err := json.Marshal(msg)
	if err != nil {
		o.errs = append(o.errs, fmt.Errorf("encode %s notification: %w", typ, err))
		return
	}
	if wants(c, typ, status) {
		o.put(c.NotificationArn, runcmd.Notification{Body: body})
	}
	if o.n.EventsTopic != "" {
		o.put(o.n.EventsTopic, runcmd.Notification{Body: body, Attrs: map[string]string{"type": typ, "status": status}})
	}
}

func (o *Outbox) put(topic string, m runcmd.Notification) {
	if _, ok := o.msgs[topic]; !ok {
		o.topics = append(o.topics, topic)
	}
	o.msgs[topic] = append(o.msgs[topic], m)
}

// Flush publishes what was collected, topic by topic, and empties the outbox. The changes are already
// stored, so callers log a failure rather than retry.
func (o *Outbox) Flush(ctx context.Context) error {
	errs := o.errs
	for _, topic := range o.topics {
		if err := o.n.Notifier.Publish(ctx, topic, o.msgs[topic]...); err != nil {
			errs = append(errs, fmt.Errorf("notify %s: %w", topic, err))
		}
	}
	o.topics, o.msgs, o.errs = nil, map[string][]runcmd.Notification{}, nil
	return errors.Join(errs...)
}
