package node

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/runcmd/runcmd/agent/internal/upload"
	"github.com/runcmd/runcmd/internal/config"
	"github.com/runcmd/runcmd/internal/sqsq"
)

// NodeQueueAttributes are the attributes of a node's own queue. The visibility timeout is how long a
// message the agent could not take (backlog full) stays hidden before it is offered again; long polls
// default to SQS's 20 s maximum.
var NodeQueueAttributes = map[string]string{
	"VisibilityTimeout":             "60",
	"ReceiveMessageWaitTimeSeconds": "20",
}

// AWSNames names the queues an agent connects to.
type AWSNames struct {
	// ResultsQueue is the results queue's name (config.Resources.ResultsQueue).
	ResultsQueue string
	// NodeQueuePrefix + instance id is the node's own queue (config.Resources.NodeQueuePrefix).
	NodeQueuePrefix string
}

// NamesFrom picks the agent's queue names out of the project's resource names.
func NamesFrom(r config.Resources) AWSNames {
	return AWSNames{ResultsQueue: r.ResultsQueue, NodeQueuePrefix: r.NodeQueuePrefix}
}

// NewAWS builds an agent over SQS and S3: it settles the node's identity, gets or creates the node's
// own queue, finds the results queue, and connects an S3 uploader (path-style when awsCfg has an
// endpoint, as emulators need). Agents of a fleet share one awsCfg and so one HTTP client.
func NewAWS(ctx context.Context, awsCfg aws.Config, cfg Config, names AWSNames) (*Agent, error) {
	def := NamesFrom(config.Names(config.DefaultPrefix))
	if names.ResultsQueue == "" {
		names.ResultsQueue = def.ResultsQueue
	}
	if names.NodeQueuePrefix == "" {
		names.NodeQueuePrefix = def.NodeQueuePrefix
	}
	id, err := Identity(cfg.StateDir, cfg.InstanceID)
	if err != nil {
		return nil, fmt.Errorf("new agent: %w", err)
	}
	cfg.InstanceID = id
	if cfg.Region == "" {
		cfg.Region = awsCfg.Region
	}
	sqsClient := sqs.NewFromConfig(awsCfg)
	// The results queue first: without it the agent is useless, and no node queue is left behind.
	out, err := sqsClient.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(names.ResultsQueue)})
	if err != nil {
		return nil, fmt.Errorf("new agent %s: find results queue %s: %w", id, names.ResultsQueue, err)
	}
	nodeURL, err := sqsq.EnsureQueue(ctx, sqsClient, names.NodeQueuePrefix+id, NodeQueueAttributes)
	if err != nil {
		return nil, fmt.Errorf("new agent %s: ensure node queue %s: %w", id, names.NodeQueuePrefix+id, err)
	}
	cfg.QueueURL = nodeURL
	s3Client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.UsePathStyle = awsCfg.BaseEndpoint != nil
	})
	return New(cfg, Deps{
		Inbox:    sqsInbox{q: sqsq.New(sqsClient, nodeURL)},
		Outbox:   sqsq.New(sqsClient, aws.ToString(out.QueueUrl)),
		Uploader: upload.New(s3Client),
	})
}

// sqsInbox adapts sqsq.Queue to Inbox.
type sqsInbox struct {
	q *sqsq.Queue
}

var (
	_ Inbox    = sqsInbox{}
	_ Outbox   = (*sqsq.Queue)(nil)
	_ Uploader = (*upload.S3)(nil)
)

// Receive long-polls the queue and converts the messages.
func (i sqsInbox) Receive(ctx context.Context, max int, wait time.Duration) ([]Message, error) {
	ms, err := i.q.Receive(ctx, max, wait)
	if err != nil {
		return nil, err
	}
	out := make([]Message, len(ms))
	for k, m := range ms {
		out[k] = Message{ID: m.ID, Body: m.Body, ReceiptHandle: m.ReceiptHandle, ReceiveCount: m.ReceiveCount}
	}
	return out, nil
}

// Delete acknowledges a message.
func (i sqsInbox) Delete(ctx context.Context, receiptHandle string) error {
	return i.q.Delete(ctx, receiptHandle)
}
