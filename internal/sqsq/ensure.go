package sqsq

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

// EnsureQueue creates the queue name with attrs (SQS attribute names such as "VisibilityTimeout",
// "FifoQueue", "RedrivePolicy") or, if it exists, returns its URL. CreateQueue is idempotent only
// when every given attribute matches; when the queue exists with other values (an older provisioning,
// or a RedrivePolicy JSON spelled differently) SQS answers QueueNameExists, and EnsureQueue then looks
// the URL up and applies attrs with SetQueueAttributes, so running provisioning again converges.
// FifoQueue cannot change after creation and is not re-applied. A FIFO queue's name must end in
// ".fifo" and needs "FifoQueue": "true".
func EnsureQueue(ctx context.Context, client *sqs.Client, name string, attrs map[string]string) (url string, err error) {
	out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: &name, Attributes: attrs})
	if err == nil {
		return aws.ToString(out.QueueUrl), nil
	}
	if !queueExists(err) {
		return "", fmt.Errorf("create queue %s: %w", name, classify(err))
	}
	got, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: &name})
	if err != nil {
		return "", fmt.Errorf("get queue url %s: %w", name, classify(err))
	}
	url = aws.ToString(got.QueueUrl)
	mutable := maps.Clone(attrs)
	delete(mutable, string(types.QueueAttributeNameFifoQueue))
	if len(mutable) > 0 {
		if _, err := client.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: &url, Attributes: mutable}); err != nil {
			return "", fmt.Errorf("set attributes of queue %s: %w", name, classify(err))
		}
	}
	return url, nil
}

// QueueARN returns the ARN of the queue at url (for redrive policies and SNS subscriptions).
func QueueARN(ctx context.Context, client *sqs.Client, url string) (string, error) {
	out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       &url,
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", fmt.Errorf("get arn of queue %s: %w", url, classify(err))
	}
	arn := out.Attributes[string(types.QueueAttributeNameQueueArn)]
	if arn == "" {
		return "", fmt.Errorf("get arn of queue %s: no QueueArn attribute in the response", url)
	}
	return arn, nil
}

// queueExists reports the "already exists with different attributes" error: QueueNameExists in the
// JSON protocol, QueueAlreadyExists in the query protocol and in moto.
func queueExists(err error) bool {
	var exists *types.QueueNameExists
	if errors.As(err, &exists) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "QueueNameExists", "QueueAlreadyExists":
			return true
		}
	}
	return false
}
