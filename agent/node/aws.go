package node

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/runcmd/runcmd/agent/internal/creds"
	"github.com/runcmd/runcmd/agent/internal/state"
	"github.com/runcmd/runcmd/agent/internal/upload"
	"github.com/runcmd/runcmd/internal/config"
	"github.com/runcmd/runcmd/internal/sqsq"
)

// NodeQueueAttributes are the attributes of a node's own queue (the service creates it when the node
// registers).
var NodeQueueAttributes = sqsq.NodeQueueAttributes

// AWSNames named the queues an agent connected to before nodes registered; registration now tells the
// agent its queue URLs. Kept so callers that pass names still build.
type AWSNames struct {
	ResultsQueue    string
	NodeQueuePrefix string
}

// NamesFrom picks the agent's queue names out of the project's resource names.
func NamesFrom(r config.Resources) AWSNames {
	return AWSNames{ResultsQueue: r.ResultsQueue, NodeQueuePrefix: r.NodeQueuePrefix}
}

// Where an agent's SQS and S3 clients get their AWS credentials (runcmd-agent --credentials).
const (
	// CredentialsAmbient is awsCfg's own: the SDK's default chain (environment, shared files, an
	// instance profile), e.g. an IAM user tagged with the node's id (infra/README.md, "Node
	// credentials", option 2), or the emulator's test keys. The default.
	CredentialsAmbient = "ambient"
	// CredentialsAPI is temporary credentials that the runcmd api issues to this registered node
	// (GetManagedInstanceCredentials, option 1): STS credentials of the node role tagged with the node's
	// id, asked for with a request signed by the node's key and renewed before they expire. The
	// deployment must have a node role (RUNCMD_NODE_ROLE_ARN on the api).
	CredentialsAPI = "api"
)

// AWSOption changes how NewAWS connects.
type AWSOption func(*awsOptions)

type awsOptions struct {
	credentials string
}

// WithCredentials picks where the SQS and S3 clients get their credentials: CredentialsAmbient or
// CredentialsAPI.
func WithCredentials(source string) AWSOption {
	return func(o *awsOptions) { o.credentials = source }
}

// NewAWS builds a registered agent over SQS and S3: it reads the registration in cfg.StateDir (see
// Register) for the node's id, its own queue and the results queue, loads the node's key so every
// message is signed, and connects an S3 uploader (path-style when awsCfg has an endpoint, as emulators
// need). Agents of a fleet share one awsCfg and so one HTTP client. A state directory without a
// registration is an error wrapping ErrNotRegistered. names is not used any more: registration gives
// the queue URLs.
//
// With WithCredentials(CredentialsAPI) the clients use the node's own credentials from the api at
// cfg.Endpoint (default: the endpoint it registered with); NewAWS fetches them once, so a deployment
// without a node role or a node the api does not know fails here, not in the poll loop.
func NewAWS(ctx context.Context, awsCfg aws.Config, cfg Config, names AWSNames, opts ...AWSOption) (*Agent, error) {
	o := awsOptions{credentials: CredentialsAmbient}
	for _, opt := range opts {
		opt(&o)
	}
	if cfg.StateDir == "" {
		cfg.StateDir = DefaultStateDir
	}
	st, err := state.Open(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("new agent: %w", err)
	}
	reg, err := st.Registration()
	if err != nil {
		return nil, fmt.Errorf("new agent: %w", err)
	}
	if cfg.InstanceID != "" && cfg.InstanceID != reg.InstanceID {
		return nil, fmt.Errorf("new agent: instance id %s does not match the registered id %s", cfg.InstanceID, reg.InstanceID)
	}
	key, err := st.ExistingKey()
	if err != nil {
		return nil, fmt.Errorf("new agent %s: %w", reg.InstanceID, err)
	}
	cfg.InstanceID, cfg.QueueURL, cfg.Key = reg.InstanceID, reg.QueueURL, key
	if cfg.Region == "" {
		cfg.Region = cmp.Or(reg.Region, awsCfg.Region)
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = reg.Endpoint
	}
	switch o.credentials {
	case CredentialsAmbient:
	case CredentialsAPI:
		if cfg.Endpoint == "" {
			return nil, fmt.Errorf("new agent %s: credentials from the api need the api's endpoint; register again", reg.InstanceID)
		}
		cache := creds.NewCache(creds.New(cfg.Endpoint, reg.InstanceID, key, nil))
		if _, err := cache.Retrieve(ctx); err != nil {
			return nil, fmt.Errorf("new agent: %w", err)
		}
		awsCfg = awsCfg.Copy()
		awsCfg.Credentials = cache
	default:
		return nil, fmt.Errorf("new agent: credentials %q: want %q or %q", o.credentials, CredentialsAmbient, CredentialsAPI)
	}
	sqsClient := sqs.NewFromConfig(awsCfg)
	s3Client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.UsePathStyle = awsCfg.BaseEndpoint != nil
	})
	up := upload.New(s3Client)
	return New(cfg, Deps{
		Inbox:      sqsInbox{q: sqsq.New(sqsClient, reg.QueueURL)},
		Outbox:     sqsq.New(sqsClient, reg.ResultsQueueURL),
		Uploader:   up,
		Downloader: up,
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
