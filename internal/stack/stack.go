// Package stack builds runcmd's services from an AWS configuration and resource names: SDK clients,
// adapters, services. The functions' mains, `runcmd dev` and the end-to-end tests all wire through it,
// so they cannot drift apart.
package stack

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/config"
	"github.com/runcmd/runcmd/internal/dynamo"
	"github.com/runcmd/runcmd/internal/service"
	"github.com/runcmd/runcmd/internal/snsnote"
	"github.com/runcmd/runcmd/internal/sqsq"
	"github.com/runcmd/runcmd/internal/stsnode"
)

// Stack holds the services of every function over the AWS adapters.
type Stack struct {
	API        *service.API
	Dispatcher *service.Dispatcher
	Ingester   *service.Ingester
	Sweeper    *service.Sweeper
	// Audit is the audit trail (rejected replies, registrations).
	Audit runcmd.AuditStore

	SQS      *sqs.Client
	Dispatch *sqsq.Queue // the FIFO dispatch queue
	Results  *sqsq.Queue // the results queue agents reply to
}

// New builds the stack. It looks up the queue URLs once (one request each), so it must run after
// provisioning.
func New(ctx context.Context, cfg aws.Config, res config.Resources, log *slog.Logger) (*Stack, error) {
	var ddbOpts []func(*dynamodb.Options)
	if cfg.BaseEndpoint != nil {
		// An endpoint override means a local emulator (deployments use the real endpoints).
		ddbOpts = append(ddbOpts, dynamo.SerializeWritesForEmulator)
	}
	ddb := dynamodb.NewFromConfig(cfg, ddbOpts...)
	sqsc := sqs.NewFromConfig(cfg)
	snsc := sns.NewFromConfig(cfg)
	dispatchURL, err := queueURL(ctx, sqsc, res.DispatchQueue)
	if err != nil {
		return nil, err
	}
	resultsURL, err := queueURL(ctx, sqsc, res.ResultsQueue)
	if err != nil {
		return nil, err
	}
	topicARN := res.EventsTopicARN
	if topicARN == "" {
		// CreateTopic is idempotent and returns the ARN of an existing topic.
		if topicARN, err = snsnote.EnsureTopic(ctx, snsc, res.EventsTopic); err != nil {
			return nil, fmt.Errorf("events topic %s: %w", res.EventsTopic, err)
		}
	}
	notify := &service.Notifications{Notifier: snsnote.New(snsc), EventsTopic: topicARN}
	// Built-ins plus the account's documents. The owner shown for user documents is a fixed account id:
	// learning the real one would cost an STS call at every cold start.
	docs, err := service.NewStoreDocuments(dynamo.NewDocumentStore(ddb, res.DocumentsTable), service.DefaultAccountID)
	if err != nil {
		return nil, err
	}

	commands := dynamo.NewCommandStore(ddb, res.CommandsTable, res.InvocationsTable)
	instances := dynamo.NewInstanceStore(ddb, res.InstancesTable, res.TagsTable)
	dispatch := sqsq.NewDispatchQueue(sqsc, dispatchURL)
	nodes := sqsq.NewNodeQueue(sqsc)
	audit := dynamo.NewAuditStore(ddb, res.AuditTable)
	api := service.NewAPI(commands, instances, dispatch, docs)
	compliance := dynamo.NewComplianceStore(ddb, res.ComplianceTable)
	api.Patching = service.NewPatching(dynamo.NewPatchBaselineStore(ddb, res.PatchBaselinesTable), compliance, instances, cfg.Region)
	api.Registry = service.NewRegistry(dynamo.NewActivationStore(ddb, res.ActivationsTable), instances, instances,
		sqsq.NewNodeQueueAdmin(sqsc, res.NodeQueuePrefix), audit, resultsURL)
	if res.NodeRoleARN != "" {
		// Registered nodes get credentials for their own id from the api (GetManagedInstanceCredentials).
		api.Registry.Credentials = stsnode.New(sts.NewFromConfig(cfg), res.NodeRoleARN)
		api.Registry.Ledger = instances
	}

	return &Stack{
		API: api,
		Dispatcher: &service.Dispatcher{
			Commands: commands, Instances: instances, Nodes: nodes, Notify: notify, Now: time.Now, Log: log,
		},
		Ingester: &service.Ingester{Commands: commands, Instances: instances, Dispatch: dispatch, Notify: notify, Now: time.Now, Log: log,
			Keys: service.NewNodeKeys(instances), Registry: instances, Audit: audit, Compliance: compliance},
		Audit:    audit,
		Sweeper:  &service.Sweeper{Commands: commands, Dispatch: dispatch, Notify: notify, Now: time.Now},
		SQS:      sqsc,
		Dispatch: sqsq.New(sqsc, dispatchURL),
		Results:  sqsq.New(sqsc, resultsURL),
	}, nil
}

func queueURL(ctx context.Context, c *sqs.Client, name string) (string, error) {
	out, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("queue %s (run `runcmd provision` first): %w", name, err)
	}
	return aws.ToString(out.QueueUrl), nil
}
