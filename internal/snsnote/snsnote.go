// Package snsnote is runcmd's adapter for Amazon SNS: a Notifier that publishes status-change
// notifications to a topic, and EnsureTopic for provisioning. Callers pass a ready *sns.Client.
package snsnote

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/runcmd/runcmd"
)

// SNS limits.
const (
	// MaxMessageBytes is the largest message SNS publishes: 256 KiB, attributes included. Publish
	// checks the body; SNS itself rejects a body that fits only without its attributes.
	MaxMessageBytes = 256 * 1024
	// MaxSubjectLength: subjects must be shorter than 100 characters.
	MaxSubjectLength = 99
	// MaxAttributes is the most message attributes one message may carry.
	MaxAttributes = 10
	// MaxBatch is the most messages one PublishBatch call takes; together they may not exceed
	// MaxMessageBytes.
	MaxBatch = 10
)

// Notifier publishes notifications. It is safe for concurrent use.
type Notifier struct {
	client *sns.Client
}

// New returns a Notifier over client.
func New(client *sns.Client) *Notifier {
	return &Notifier{client: client}
}

// Publish sends msgs to the topic: one Publish for a single message, otherwise PublishBatch calls of
// up to MaxBatch messages and MaxMessageBytes together (SNS bills a batch as one request per 64 KB, so
// this is what makes a batch of status changes cheap).
//
// Each message is a body (UTF-8 text, usually JSON), an optional subject (the e-mail subject; ignored by
// SQS and Lambda subscribers) and string attributes (which subscription filter policies match on). The
// subject is display text, so instead of failing a notification over it Publish makes it valid: line
// breaks and control characters become spaces and it is cut to MaxSubjectLength. Attributes with an
// empty name or value are left out (SNS rejects them). A body over MaxMessageBytes or more than
// MaxAttributes attributes is ELIMIT for that message; the others are still sent. FIFO topics are not
// supported (they need a message group).
func (n *Notifier) Publish(ctx context.Context, topicARN string, msgs ...runcmd.Notification) error {
	var errs []error
	var entries []types.PublishBatchRequestEntry
	batchBytes := 0
	flush := func() {
		if len(entries) > 0 {
			errs = append(errs, n.publish(ctx, topicARN, entries))
		}
		entries, batchBytes = nil, 0
	}
	for i, m := range msgs {
		e, size, err := entry(m)
		if err != nil {
			errs = append(errs, fmt.Errorf("publish message %d to %s: %w", i, topicARN, err))
			continue
		}
		if len(entries) == MaxBatch || batchBytes+size > MaxMessageBytes {
			flush()
		}
		e.Id = aws.String(strconv.Itoa(i))
		entries = append(entries, e)
		batchBytes += size
	}
	flush()
	return errors.Join(errs...)
}

// publish sends one batch: a single message with Publish, more with PublishBatch.
func (n *Notifier) publish(ctx context.Context, topicARN string, entries []types.PublishBatchRequestEntry) error {
	if len(entries) == 1 {
		e := entries[0]
		_, err := n.client.Publish(ctx, &sns.PublishInput{TopicArn: &topicARN, Message: e.Message, Subject: e.Subject,
			MessageAttributes: e.MessageAttributes})
		if err != nil {
			return fmt.Errorf("publish to %s: %w", topicARN, err)
		}
		return nil
	}
	out, err := n.client.PublishBatch(ctx, &sns.PublishBatchInput{TopicArn: &topicARN, PublishBatchRequestEntries: entries})
	if err != nil {
		return fmt.Errorf("publish %d messages to %s: %w", len(entries), topicARN, err)
	}
	var errs []error
	for _, f := range out.Failed {
		errs = append(errs, fmt.Errorf("publish message %s to %s: %s: %s", aws.ToString(f.Id), topicARN,
			aws.ToString(f.Code), aws.ToString(f.Message)))
	}
	return errors.Join(errs...)
}

// entry checks one message against SNS's limits and builds its batch entry (without Id); size is what
// it counts against a batch's MaxMessageBytes.
func entry(m runcmd.Notification) (types.PublishBatchRequestEntry, int, error) {
	e := types.PublishBatchRequestEntry{Message: aws.String(string(m.Body))}
	size := len(m.Body)
	if s := cleanSubject(m.Subject); s != "" {
		e.Subject = &s
	}
	for _, k := range slices.Sorted(maps.Keys(m.Attrs)) {
		v := m.Attrs[k]
		if k == "" || v == "" {
			continue
		}
		if e.MessageAttributes == nil {
			e.MessageAttributes = map[string]types.MessageAttributeValue{}
		}
		e.MessageAttributes[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		size += len(k) + len("String") + len(v)
	}
	switch {
	case size > MaxMessageBytes:
		return e, 0, runcmd.Errorf(runcmd.ELIMIT, "", "message of %d bytes exceeds the %d-byte limit", size, MaxMessageBytes)
	case len(e.MessageAttributes) > MaxAttributes:
		return e, 0, runcmd.Errorf(runcmd.ELIMIT, "", "%d message attributes exceed the limit of %d", len(e.MessageAttributes), MaxAttributes)
	}
	return e, size, nil
}

// cleanSubject turns s into a valid SNS subject: printable characters only, shorter than 100.
func cleanSubject(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > MaxSubjectLength {
		s = strings.TrimSpace(string(r[:MaxSubjectLength]))
	}
	return s
}

// EnsureTopic creates the standard topic name, or returns its ARN if it exists (CreateTopic is
// idempotent for the same name and attributes).
func EnsureTopic(ctx context.Context, client *sns.Client, name string) (arn string, err error) {
	out, err := client.CreateTopic(ctx, &sns.CreateTopicInput{Name: &name})
	if err != nil {
		return "", fmt.Errorf("create topic %s: %w", name, err)
	}
	return aws.ToString(out.TopicArn), nil
}
