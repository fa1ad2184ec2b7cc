// Package config derives the names of runcmd's AWS resources and reads them from the environment. It
// is shared by the functions, the local host, provisioning and the agent, so everything agrees on names.
package config

import (
	"fmt"
	"strings"
)

// Resources names every AWS resource runcmd uses (names, not URLs or ARNs: those are looked up once at
// start-up).
type Resources struct {
	CommandsTable    string
	InvocationsTable string
	InstancesTable   string
	TagsTable        string
	DocumentsTable   string // user documents, their versions and tags
	ActivationsTable string // activations (hashes of their codes, limits, counters)
	AuditTable       string // the audit trail, one partition per day
	// PatchBaselinesTable holds patch baselines, defaults, patch groups and snapshots; ComplianceTable
	// compliance items, their summaries and nodes' patch states.
	PatchBaselinesTable string
	ComplianceTable     string
	DispatchQueue       string // FIFO; group = command id
	DispatchDLQ         string
	ResultsQueue        string
	ResultsDLQ          string
	NodeQueuePrefix     string // a node's queue is NodeQueuePrefix + instance id
	EventsTopic         string
	// EventsTopicARN is the events topic's ARN when known (CloudFormation passes it); empty means look
	// it up by name at start-up.
	EventsTopicARN string
	OutputBucket   string
	// NodeRoleARN is the role the api assumes to give a registered node its AWS credentials
	// (GetManagedInstanceCredentials; infra/README.md, "Node credentials"). Empty: the deployment issues
	// none, and nodes use credentials of their own. Only the api uses it.
	NodeRoleARN string
}

// DefaultPrefix is the resource prefix when RUNCMD_PREFIX is not set.
const DefaultPrefix = "runcmd"

// Names returns the resource names for a prefix.
func Names(prefix string) Resources {
	return Resources{
		CommandsTable:       prefix + "-commands",
		InvocationsTable:    prefix + "-invocations",
		InstancesTable:      prefix + "-instances",
		TagsTable:           prefix + "-tags",
		DocumentsTable:      prefix + "-documents",
		ActivationsTable:    prefix + "-activations",
		AuditTable:          prefix + "-audit",
		PatchBaselinesTable: prefix + "-patchbaselines",
		ComplianceTable:     prefix + "-compliance",
		DispatchQueue:       prefix + "-dispatch.fifo",
		DispatchDLQ:         prefix + "-dispatch-dlq.fifo",
		ResultsQueue:        prefix + "-results",
		ResultsDLQ:          prefix + "-results-dlq",
		NodeQueuePrefix:     prefix + "-node-",
		EventsTopic:         prefix + "-events",
		OutputBucket:        prefix + "-output",
	}
}

// FromEnv reads RUNCMD_PREFIX (default "runcmd") and lets RUNCMD_<NAME> variables override single
// names (RUNCMD_COMMANDS_TABLE, RUNCMD_RESULTS_QUEUE, RUNCMD_OUTPUT_BUCKET, ...), as CloudFormation sets
// them.
func FromEnv(getenv func(string) string) Resources {
	prefix := getenv("RUNCMD_PREFIX")
	if prefix == "" {
		prefix = DefaultPrefix
	}
	r := Names(prefix)
	for env, field := range map[string]*string{
		"RUNCMD_COMMANDS_TABLE":        &r.CommandsTable,
		"RUNCMD_INVOCATIONS_TABLE":     &r.InvocationsTable,
		"RUNCMD_INSTANCES_TABLE":       &r.InstancesTable,
		"RUNCMD_TAGS_TABLE":            &r.TagsTable,
		"RUNCMD_DOCUMENTS_TABLE":       &r.DocumentsTable,
		"RUNCMD_ACTIVATIONS_TABLE":     &r.ActivationsTable,
		"RUNCMD_AUDIT_TABLE":           &r.AuditTable,
		"RUNCMD_PATCH_BASELINES_TABLE": &r.PatchBaselinesTable,
		"RUNCMD_COMPLIANCE_TABLE":      &r.ComplianceTable,
		"RUNCMD_DISPATCH_QUEUE":        &r.DispatchQueue,
		"RUNCMD_DISPATCH_DLQ":          &r.DispatchDLQ,
		"RUNCMD_RESULTS_QUEUE":         &r.ResultsQueue,
		"RUNCMD_RESULTS_DLQ":           &r.ResultsDLQ,
		"RUNCMD_NODE_QUEUE_PREFIX":     &r.NodeQueuePrefix,
		"RUNCMD_EVENTS_TOPIC":          &r.EventsTopic,
		"RUNCMD_EVENTS_TOPIC_ARN":      &r.EventsTopicARN,
		"RUNCMD_OUTPUT_BUCKET":         &r.OutputBucket,
		"RUNCMD_NODE_ROLE_ARN":         &r.NodeRoleARN,
	} {
		if v := getenv(env); v != "" {
			*field = v
		}
	}
	return r
}

// Require reports, in one error, every variable in names that getenv leaves empty.
func Require(getenv func(string) string, names ...string) error {
	var missing []string
	for _, n := range names {
		if getenv(n) == "" {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing environment variables: %s", strings.Join(missing, ", "))
	}
	return nil
}
