package sqsq

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/runcmd/runcmd"
)

// NodeQueueAttributes are the attributes of a node's own queue. The visibility timeout is how long a
// message the agent could not take (backlog full) stays hidden before it is offered again; long polls
// default to SQS's 20 s maximum.
var NodeQueueAttributes = map[string]string{
	"VisibilityTimeout":             "60",
	"ReceiveMessageWaitTimeSeconds": "20",
}

// NodeQueueAdmin implements runcmd.NodeQueueAdmin: node queues are named prefix + instance id.
type NodeQueueAdmin struct {
	client *sqs.Client
	prefix string
}

var _ runcmd.NodeQueueAdmin = (*NodeQueueAdmin)(nil)

// NewNodeQueueAdmin returns an admin for the node queues named prefix + instance id
// (config.Resources.NodeQueuePrefix).
func NewNodeQueueAdmin(client *sqs.Client, prefix string) *NodeQueueAdmin {
	return &NodeQueueAdmin{client: client, prefix: prefix}
}

// EnsureNodeQueue creates (or finds) the node's queue.
func (a *NodeQueueAdmin) EnsureNodeQueue(ctx context.Context, instanceID string) (string, error) {
	url, err := EnsureQueue(ctx, a.client, a.prefix+instanceID, NodeQueueAttributes)
	if err != nil {
		return "", fmt.Errorf("ensure queue of node %s: %w", instanceID, err)
	}
	return url, nil
}

// DeleteNodeQueue deletes the queue at url; a missing queue is not an error. SQS forbids creating a
// queue of the same name for 60 s after a delete, which only matters if the node registers again
// within that minute (it then gets an error and retries).
func (a *NodeQueueAdmin) DeleteNodeQueue(ctx context.Context, url string) error {
	_, err := a.client.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: &url})
	if err != nil {
		if err = classify(err); runcmd.ErrorCode(err) == runcmd.ENOTFOUND {
			return nil
		}
		return fmt.Errorf("delete queue %s: %w", url, err)
	}
	return nil
}
