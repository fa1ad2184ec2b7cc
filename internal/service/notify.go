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
	if n == nil || n.Notifier == nil {
		return nil
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
	return n.publish(ctx, cmd.NotificationConfig, notifyCommand, status, msg)
}

// Invocation publishes an invocation's new status.
func (n *Notifications) Invocation(ctx context.Context, inv *runcmd.Invocation, at time.Time) error {
	if n == nil || n.Notifier == nil {
		return nil
	}
	status := string(inv.Status())
	msg := invocationMessage{
		CommandID: inv.CommandID, DocumentName: inv.DocumentName, InstanceID: inv.InstanceID,
		RequestedDateTime: isoMillis(inv.RequestedAt), Status: status, EventTime: isoMillis(at),
	}
	return n.publish(ctx, inv.NotificationConfig, notifyInvocation, status, msg)
}

func (n *Notifications) publish(ctx context.Context, c runcmd.NotificationConfig, typ, status string, msg any) error {
	body, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encode %s notification: %w", typ, err)
	}
	var errs []error
	if wants(c, typ, status) {
		if err := n.Notifier.Publish(ctx, c.NotificationArn, "", body, nil); err != nil {
			errs = append(errs, fmt.Errorf("notify %s: %w", c.NotificationArn, err))
		}
	}
	if n.EventsTopic != "" {
		attrs := map[string]string{"type": typ, "status": status}
		if err := n.Notifier.Publish(ctx, n.EventsTopic, "", body, attrs); err != nil {
			errs = append(errs, fmt.Errorf("notify events topic: %w", err))
		}
	}
	return errors.Join(errs...)
}
