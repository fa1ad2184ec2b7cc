// Package snsnote is runcmd's adapter for Amazon SNS: a Notifier that publishes status-change
// notifications to a topic, and EnsureTopic for provisioning. Callers pass a ready *sns.Client.
package snsnote

import (
	"context"
	"fmt"
	"maps"
	"slices"
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
)

// Notifier publishes notifications. It is safe for concurrent use.
type Notifier struct {
	client *sns.Client
}

// New returns a Notifier over client.
func New(client *sns.Client) *Notifier {
	return &Notifier{client: client}
}

// Publish sends body (UTF-8 text, usually JSON) to the topic with an optional subject (used as the
// e-mail subject; ignored by SQS and Lambda subscribers) and string message attributes (which
// subscription filter policies match on).
//
// The subject is display text, so instead of failing a notification over it Publish makes it valid:
// line breaks and control characters become spaces and it is cut to MaxSubjectLength. Attributes with
// an empty name or value are left out (SNS rejects them). A body over MaxMessageBytes or more than
// MaxAttributes attributes is ELIMIT. FIFO topics are not supported (they need a message group).
func (n *Notifier) Publish(ctx context.Context, topicARN, subject string, body []byte, attrs map[string]string) error {
	if len(body) > MaxMessageBytes {
		return fmt.Errorf("publish to %s: %w", topicARN,
			runcmd.Errorf(runcmd.ELIMIT, "", "message of %d bytes exceeds the %d-byte limit", len(body), MaxMessageBytes))
	}
	in := &sns.PublishInput{TopicArn: &topicARN, Message: aws.String(string(body))}
	if s := cleanSubject(subject); s != "" {
		in.Subject = &s
	}
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		if k == "" || attrs[k] == "" {
			continue
		}
		if in.MessageAttributes == nil {
			in.MessageAttributes = map[string]types.MessageAttributeValue{}
		}
		in.MessageAttributes[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(attrs[k])}
	}
	if len(in.MessageAttributes) > MaxAttributes {
		return fmt.Errorf("publish to %s: %w", topicARN,
			runcmd.Errorf(runcmd.ELIMIT, "", "%d message attributes exceed the limit of %d", len(in.MessageAttributes), MaxAttributes))
	}
	if _, err := n.client.Publish(ctx, in); err != nil {
		return fmt.Errorf("publish to %s: %w", topicARN, err)
	}
	return nil
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
