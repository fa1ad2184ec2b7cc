package snsnote_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/go-cmp/cmp"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/awstest"
	"github.com/runcmd/runcmd/internal/snsnote"
	"github.com/runcmd/runcmd/internal/sqsq"
)

// subscribeQueue creates a queue, subscribes it to the topic, and returns its URL; both go at cleanup.
func subscribeQueue(t *testing.T, snsc *sns.Client, sqsc *sqs.Client, topicARN string) string {
	t.Helper()
	ctx := t.Context()
	url, err := sqsq.EnsureQueue(ctx, sqsc, awstest.Name("rc-sub"), nil)
	if err != nil {
		t.Fatalf("EnsureQueue: %v", err)
	}
	t.Cleanup(func() { _, _ = sqsc.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: &url}) })
	qarn, err := sqsq.QueueARN(ctx, sqsc, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snsc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: &topicARN, Protocol: aws.String("sqs"), Endpoint: &qarn}); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	return url
}

// TestPublish publishes to a topic with an SQS subscriber and checks the SNS envelope that arrives.
func TestPublish(t *testing.T) {
	t.Parallel()
	cfg := awstest.Config(t)
	ctx := t.Context()
	snsc, sqsc := sns.NewFromConfig(cfg), sqs.NewFromConfig(cfg)

	name := awstest.Name("rc-events")
	arn, err := snsnote.EnsureTopic(ctx, snsc, name)
	if err != nil {
		t.Fatalf("EnsureTopic: %v", err)
	}
	t.Cleanup(func() { _, _ = snsc.DeleteTopic(context.Background(), &sns.DeleteTopicInput{TopicArn: &arn}) })
	again, err := snsnote.EnsureTopic(ctx, snsc, name)
	if err != nil || again != arn {
		t.Fatalf("EnsureTopic again = %q, %v; want %q", again, err, arn)
	}

	url := subscribeQueue(t, snsc, sqsc, arn)

	body := []byte(`{"commandId":"cmd-1","status":"Success"}`)
	subject := "Run Command\nstatus change"
	attrs := map[string]string{"command_id": "cmd-1", "status": "Success", "empty": ""}
	if err := snsnote.New(snsc).Publish(ctx, arn, runcmd.Notification{Subject: subject, Body: body, Attrs: attrs}); err != nil {
		t.Fatalf("Publish: %v", err)
	}

	msgs, err := sqsq.New(sqsc, url).Receive(ctx, 1, 2*time.Second)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("Receive = %+v, %v; want the notification", msgs, err)
	}
	var env struct {
		TopicArn          string
		Subject           string
		Message           string
		MessageAttributes map[string]struct{ Type, Value string }
	}
	if err := json.Unmarshal([]byte(msgs[0].Body), &env); err != nil {
		t.Fatalf("decode envelope %q: %v", msgs[0].Body, err)
	}
	got := map[string]string{}
	for k, v := range env.MessageAttributes {
		got[k] = v.Value
	}
	if env.TopicArn != arn || env.Subject != "Run Command status change" || env.Message != string(body) {
		t.Errorf("envelope = %+v; want topic %s, cleaned subject, body %s", env, arn, body)
	}
	if diff := cmp.Diff(map[string]string{"command_id": "cmd-1", "status": "Success"}, got); diff != "" {
		t.Errorf("message attributes (-want +got):\n%s", diff)
	}
}

func TestPublishLimits(t *testing.T) {
	t.Parallel()
	n := snsnote.New(sns.New(sns.Options{Region: "us-east-1"})) // never reaches the network
	many := map[string]string{}
	for _, k := range strings.Split("a b c d e f g h i j k", " ") {
		many[k] = "v"
	}
	for name, err := range map[string]error{
		"big body":        n.Publish(t.Context(), "arn:aws:sns:us-east-1:1:t", runcmd.Notification{Body: make([]byte, snsnote.MaxMessageBytes+1)}),
		"many attributes": n.Publish(t.Context(), "arn:aws:sns:us-east-1:1:t", runcmd.Notification{Body: []byte("x"), Attrs: many}),
	} {
		if got := runcmd.ErrorCode(err); got != runcmd.ELIMIT {
			t.Errorf("%s: code %q (%v), want %q", name, got, err, runcmd.ELIMIT)
		}
	}
}

// TestPublishBatch publishes more messages than one PublishBatch takes and checks that each arrives
// once, with its attributes.
func TestPublishBatch(t *testing.T) {
	t.Parallel()
	cfg := awstest.Config(t)
	ctx := t.Context()
	snsc, sqsc := sns.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	arn, err := snsnote.EnsureTopic(ctx, snsc, awstest.Name("rc-batch"))
	if err != nil {
		t.Fatalf("EnsureTopic: %v", err)
	}
	t.Cleanup(func() { _, _ = snsc.DeleteTopic(context.Background(), &sns.DeleteTopicInput{TopicArn: &arn}) })
	url := subscribeQueue(t, snsc, sqsc, arn)

	const n = 23 // three PublishBatch calls: 10, 10, 3
	var msgs []runcmd.Notification
	want := map[string]string{}
	for i := range n {
		body := fmt.Sprintf(`{"n":%d}`, i)
		msgs = append(msgs, runcmd.Notification{Body: []byte(body), Attrs: map[string]string{"n": strconv.Itoa(i)}})
		want[body] = strconv.Itoa(i)
	}
	if err := snsnote.New(snsc).Publish(ctx, arn, msgs...); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	got := map[string]string{}
	q := sqsq.New(sqsc, url)
	for deadline := time.Now().Add(10 * time.Second); len(got) < n && time.Now().Before(deadline); {
		recv, err := q.Receive(ctx, 10, time.Second)
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		for _, m := range recv {
			var env struct {
				Message           string
				MessageAttributes map[string]struct{ Value string }
			}
			if err := json.Unmarshal([]byte(m.Body), &env); err != nil {
				t.Fatalf("decode envelope %q: %v", m.Body, err)
			}
			if _, dup := got[env.Message]; dup {
				t.Errorf("message %s arrived twice", env.Message)
			}
			got[env.Message] = env.MessageAttributes["n"].Value
			if err := q.Delete(ctx, m.ReceiptHandle); err != nil {
				t.Fatal(err)
			}
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}
