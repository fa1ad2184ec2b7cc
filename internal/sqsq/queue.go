// Package sqsq is runcmd's adapter for Amazon SQS: a thin Queue over one queue URL (send, batch send,
// long-poll receive, delete, visibility), EnsureQueue for provisioning, and the NodeQueue and
// DispatchQueue ports of package runcmd. Callers pass a ready *sqs.Client; the adapter never loads
// configuration. internal/fake holds an in-memory Queue with the same behaviour, and the conformance
// suite in internal/storetest runs against both.
package sqsq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/runcmd/runcmd"
)

// SQS limits that the API enforces (or that we enforce before calling it).
const (
	// MaxBatch is the most messages one ReceiveMessage, SendMessageBatch or DeleteMessageBatch call
	// handles; an eleventh entry fails the whole call with TooManyEntriesInBatchRequest.
	MaxBatch = 10
	// MaxWait is the longest long poll SQS allows (WaitTimeSeconds 20).
	MaxWait = 20 * time.Second
	// MaxMessageBytes is the largest body we send, and the largest total of one batch. AWS raised its
	// own limit to 1 MiB in 2025 (moto 5.2 follows), but the wire format of runcmd (wire.go) is
	// designed for 256 KiB so that it fits every SQS deployment and Lambda's event payloads; bigger
	// output goes to S3. Checked before sending, so the fake and the emulator fail the same way.
	MaxMessageBytes = 256 * 1024
)

// Message is one received message. ReceiveCount is SQS's ApproximateReceiveCount: 1 on the first
// delivery, more when a consumer let the visibility timeout run out.
type Message struct {
	ID            string
	Body          string
	ReceiptHandle string
	ReceiveCount  int
}

// Consumer is what a poller needs from a queue. *Queue and the in-memory fake.Queue satisfy it, so
// the local host's pollers and their tests run over either.
type Consumer interface {
	// Receive returns up to max (1..10) messages, waiting up to wait (0..20 s) for the first one.
	Receive(ctx context.Context, max int, wait time.Duration) ([]Message, error)
	// Delete acknowledges a message by the receipt handle of its latest delivery.
	Delete(ctx context.Context, receiptHandle string) error
	// DeleteBatch acknowledges several messages in as few requests as the queue allows; a *BatchError
	// names the ones that failed.
	DeleteBatch(ctx context.Context, receiptHandles []string) error
}

// Queue sends to and receives from one SQS queue. It is safe for concurrent use.
type Queue struct {
	client *sqs.Client
	url    string
}

var _ Consumer = (*Queue)(nil)

// New returns a Queue for the queue at url. The URL may name the real SQS host (as CloudFormation
// outputs do) even against an emulator: the client's endpoint decides where requests go.
func New(client *sqs.Client, url string) *Queue {
	return &Queue{client: client, url: url}
}

// URL returns the queue's URL.
func (q *Queue) URL() string { return q.url }

// Send puts one message on a standard queue.
func (q *Queue) Send(ctx context.Context, body string) error {
	if err := CheckSize(body); err != nil {
		return fmt.Errorf("send message to %s: %w", q.url, err)
	}
	_, err := q.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &q.url, MessageBody: &body})
	if err != nil {
		return fmt.Errorf("send message to %s: %w", q.url, classify(err))
	}
	return nil
}

// SendFIFO puts one message on a FIFO queue. Messages of one group are delivered in order, one
// in-flight batch at a time. A message whose dedupID was already sent within the last five minutes is
// accepted and silently dropped by SQS, so distinct requests need distinct ids; an SDK retry of the
// same call reuses the id and so cannot duplicate the message.
func (q *Queue) SendFIFO(ctx context.Context, body, group, dedupID string) error {
	if err := CheckSize(body); err != nil {
		return fmt.Errorf("send message to %s group %s: %w", q.url, group, err)
	}
	in := &sqs.SendMessageInput{QueueUrl: &q.url, MessageBody: &body, MessageGroupId: &group}
	if dedupID != "" {
		in.MessageDeduplicationId = &dedupID
	}
	if _, err := q.client.SendMessage(ctx, in); err != nil {
		return fmt.Errorf("send message to %s group %s: %w", q.url, group, classify(err))
	}
	return nil
}

// SendBatch sends bodies to a standard queue in SendMessageBatch calls of at most MaxBatch entries
// and MaxMessageBytes in total. It tries every chunk even when one fails; if any message was not
// accepted the error is a *BatchError naming the failed indexes of bodies, so the caller can retry
// exactly those.
func (q *Queue) SendBatch(ctx context.Context, bodies []string) error {
	be := &BatchError{Op: "send", QueueURL: q.url, Total: len(bodies)}
	for _, chunk := range chunkBodies(bodies) {
		var entries []types.SendMessageBatchRequestEntry
		for _, i := range chunk {
			if err := CheckSize(bodies[i]); err != nil {
				be.add(BatchFailure{Index: i, Code: "MessageTooLong", Message: err.Error(), SenderFault: true})
				if be.Err == nil {
					be.Err = err
				}
				continue
			}
			entries = append(entries, types.SendMessageBatchRequestEntry{
				Id:          aws.String(strconv.Itoa(i)),
				MessageBody: aws.String(bodies[i]),
			})
		}
		if len(entries) == 0 {
			continue
		}
		out, err := q.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &q.url, Entries: entries})
		if err != nil {
			be.failAll(entries2idx(entries, func(e types.SendMessageBatchRequestEntry) *string { return e.Id }), classify(err))
			continue
		}
		for _, f := range out.Failed {
			be.addEntry(f.Id, f.Code, f.Message, f.SenderFault)
		}
	}
	return be.orNil()
}

// Receive returns up to max (1..MaxBatch) messages, waiting up to wait (0..MaxWait) for the first
// one; an empty result is not an error. SQS counts WaitTimeSeconds in whole seconds, so wait is
// rounded up. The long poll holds the HTTP request open; cancelling ctx ends it early with ctx's
// error. Received messages stay invisible to other consumers for the queue's visibility timeout
// unless deleted or changed with ChangeVisibility.
func (q *Queue) Receive(ctx context.Context, max int, wait time.Duration) ([]Message, error) {
	if err := CheckReceive(max, wait); err != nil {
		return nil, fmt.Errorf("receive from %s: %w", q.url, err)
	}
	out, err := q.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    &q.url,
		MaxNumberOfMessages:         int32(max),
		WaitTimeSeconds:             int32((wait + time.Second - 1) / time.Second),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
	})
	if err != nil {
		return nil, fmt.Errorf("receive from %s: %w", q.url, classify(err))
	}
	msgs := make([]Message, 0, len(out.Messages))
	for _, m := range out.Messages {
		n, _ := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
		msgs = append(msgs, Message{
			ID:            aws.ToString(m.MessageId),
			Body:          aws.ToString(m.Body),
			ReceiptHandle: aws.ToString(m.ReceiptHandle),
			ReceiveCount:  n,
		})
	}
	return msgs, nil
}

// Delete removes a received message. Deleting an already deleted message succeeds.
func (q *Queue) Delete(ctx context.Context, receiptHandle string) error {
	_, err := q.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &q.url, ReceiptHandle: &receiptHandle})
	if err != nil {
		return fmt.Errorf("delete message from %s: %w", q.url, classify(err))
	}
	return nil
}

// DeleteBatch deletes messages in DeleteMessageBatch calls of at most MaxBatch. Like SendBatch it
// tries every chunk and returns a *BatchError naming the failed indexes of handles.
func (q *Queue) DeleteBatch(ctx context.Context, handles []string) error {
	be := &BatchError{Op: "delete", QueueURL: q.url, Total: len(handles)}
	for start := 0; start < len(handles); start += MaxBatch {
		end := min(start+MaxBatch, len(handles))
		entries := make([]types.DeleteMessageBatchRequestEntry, 0, end-start)
		for i := start; i < end; i++ {
			entries = append(entries, types.DeleteMessageBatchRequestEntry{
				Id:            aws.String(strconv.Itoa(i)),
				ReceiptHandle: aws.String(handles[i]),
			})
		}
		out, err := q.client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &q.url, Entries: entries})
		if err != nil {
			be.failAll(entries2idx(entries, func(e types.DeleteMessageBatchRequestEntry) *string { return e.Id }), classify(err))
			continue
		}
		for _, f := range out.Failed {
			be.addEntry(f.Id, f.Code, f.Message, f.SenderFault)
		}
	}
	return be.orNil()
}

// ChangeVisibility makes a received message visible again after d (0 returns it to the queue at
// once; at most 12 hours from its first receipt). SQS counts whole seconds, so d is rounded up.
func (q *Queue) ChangeVisibility(ctx context.Context, receiptHandle string, d time.Duration) error {
	if d < 0 || d > 12*time.Hour {
		return fmt.Errorf("change visibility in %s: %w", q.url,
			runcmd.Errorf(runcmd.EINVALID, "", "visibility timeout %v is outside 0..12h", d))
	}
	_, err := q.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl:          &q.url,
		ReceiptHandle:     &receiptHandle,
		VisibilityTimeout: int32((d + time.Second - 1) / time.Second),
	})
	if err != nil {
		return fmt.Errorf("change visibility in %s: %w", q.url, classify(err))
	}
	return nil
}

// CheckReceive validates Receive's arguments against SQS's limits (max 1..10, wait 0..20 s), with
// an EINVALID error, so that every Consumer rejects the same calls.
func CheckReceive(max int, wait time.Duration) error {
	if max < 1 || max > MaxBatch {
		return runcmd.Errorf(runcmd.EINVALID, "", "max messages %d is outside 1..%d", max, MaxBatch)
	}
	if wait < 0 || wait > MaxWait {
		return runcmd.Errorf(runcmd.EINVALID, "", "wait %v is outside 0..%v", wait, MaxWait)
	}
	return nil
}

// CheckSize returns an ELIMIT error when body is longer than MaxMessageBytes.
func CheckSize(body string) error {
	if len(body) > MaxMessageBytes {
		return runcmd.Errorf(runcmd.ELIMIT, "", "message of %d bytes exceeds the %d-byte limit", len(body), MaxMessageBytes)
	}
	return nil
}

// chunkBodies splits the indexes of bodies into SendMessageBatch chunks: at most MaxBatch entries and
// MaxMessageBytes in total (an oversized body gets a chunk of its own and fails there).
func chunkBodies(bodies []string) [][]int {
	var chunks [][]int
	var cur []int
	size := 0
	for i, b := range bodies {
		if len(cur) == MaxBatch || (len(cur) > 0 && size+len(b) > MaxMessageBytes) {
			chunks = append(chunks, cur)
			cur, size = nil, 0
		}
		cur = append(cur, i)
		size += len(b)
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	return chunks
}

func entries2idx[E any](entries []E, id func(E) *string) []int {
	idx := make([]int, 0, len(entries))
	for _, e := range entries {
		n, _ := strconv.Atoi(aws.ToString(id(e)))
		idx = append(idx, n)
	}
	return idx
}

// classify adds a runcmd code to SQS errors that callers act on: a missing queue is ENOTFOUND (a
// node whose queue was deleted is undeliverable), an invalid receipt handle EINVALID. The SDK error
// stays in the chain.
func classify(err error) error {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return err
	}
	switch api.ErrorCode() {
	case "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue":
		return fmt.Errorf("%w: %w", runcmd.Errorf(runcmd.ENOTFOUND, "", "queue does not exist"), err)
	case "ReceiptHandleIsInvalid":
		return fmt.Errorf("%w: %w", runcmd.Errorf(runcmd.EINVALID, "", "receipt handle is invalid"), err)
	}
	return err
}
