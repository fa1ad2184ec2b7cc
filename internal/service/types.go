package service

import (
	"time"

	"github.com/runcmd/runcmd"
)

// SendCommandInput is SendCommand's request, already decoded from the wire.
type SendCommandInput struct {
	DocumentName       string
	DocumentVersion    string
	DocumentHash       string
	DocumentHashType   string
	InstanceIDs        []string
	Targets            []runcmd.Target
	Parameters         map[string][]string
	TimeoutSeconds     *int // nil means the default
	Comment            string
	OutputS3BucketName string
	OutputS3KeyPrefix  string
	MaxConcurrency     string
	MaxErrors          string
	ServiceRoleArn     string
	NotificationConfig *runcmd.NotificationConfig
	// ClientToken makes SendCommand idempotent: the same token returns the same command (runcmd
	// extension, not in SSM).
	ClientToken string
	// ExactMaxErrors shrinks the send window as errors near MaxErrors so that the command never ends
	// with more than MaxErrors+1 errors (runcmd extension; SSM lets in-flight invocations overshoot).
	ExactMaxErrors bool
}

// Filter is a ListCommands/ListCommandInvocations filter ({key, value}).
type Filter struct {
	Key   string
	Value string
}

// ListCommandsInput is ListCommands' request.
type ListCommandsInput struct {
	CommandID  string
	InstanceID string
	Filters    []Filter
	MaxResults int // 0 means the default
	NextToken  string
}

// ListCommandInvocationsInput is ListCommandInvocations' request.
type ListCommandInvocationsInput struct {
	CommandID  string
	InstanceID string
	Filters    []Filter
	Details    bool
	MaxResults int
	NextToken  string
}

// InvocationView is an invocation with the command fields SSM repeats on every invocation.
type InvocationView struct {
	*runcmd.Invocation
	DocumentVersion    string
	ServiceRole        string
	NotificationConfig runcmd.NotificationConfig
	OutputS3Bucket     string
	OutputS3KeyPrefix  string
}

// ListCommandInvocationsOutput is one page of invocations.
type ListCommandInvocationsOutput struct {
	Invocations []InvocationView
	NextToken   string
}

// GetCommandInvocationOutput is GetCommandInvocation's result: the invocation and the one plugin
// selected by PluginName (or the only one). Plugin is nil until the node has reported it.
type GetCommandInvocationOutput struct {
	InvocationView
	PluginName string
	Plugin     *runcmd.PluginResult
}

// InstanceFilter is a DescribeInstanceInformation filter (Filters or the legacy
// InstanceInformationFilterList, already merged).
type InstanceFilter struct {
	Key    string
	Values []string
}

// DescribeInstanceInformationInput is DescribeInstanceInformation's request.
type DescribeInstanceInformationInput struct {
	Filters    []InstanceFilter
	MaxResults int
	NextToken  string
}

// InstanceView is a managed node with its computed ping status.
type InstanceView struct {
	*runcmd.Instance
	PingStatus string
}

// DescribeInstanceInformationOutput is one page of managed nodes.
type DescribeInstanceInformationOutput struct {
	Instances []InstanceView
	NextToken string
}

// CancelCommandInput is CancelCommand's request.
type CancelCommandInput struct {
	CommandID   string
	InstanceIDs []string
}

// Clock returns the current time; tests inject their own.
type Clock func() time.Time

// DocumentParameter describes one document parameter (DescribeDocument's Parameters).
type DocumentParameter struct {
	Name         string
	Type         string
	Description  string
	DefaultValue string
}

// DocumentDescription is SSM's DocumentDescription (DescribeDocument) and, with fewer fields used,
// DocumentIdentifier (ListDocuments).
type DocumentDescription struct {
	Name            string
	DisplayName     string
	VersionName     string
	DocumentVersion string
	DefaultVersion  string
	LatestVersion   string
	Hash            string
	HashType        string // Sha256
	Owner           string // "Amazon" for built-ins, else the account id
	Status          string // Active
	DocumentType    string // Command
	DocumentFormat  string // JSON or YAML
	SchemaVersion   string
	Description     string
	TargetType      string
	PlatformTypes   []string
	Parameters      []DocumentParameter
	Tags            map[string]string
	CreatedDate     time.Time
}

// GetDocumentInput is GetDocument's request.
type GetDocumentInput struct {
	Name            string
	DocumentVersion string
	VersionName     string
	DocumentFormat  string // JSON, YAML or TEXT; empty means as stored
}

// GetDocumentOutput is GetDocument's result.
type GetDocumentOutput struct {
	DocumentDescription
	Content string
}

// DocumentFilter is one ListDocuments filter: the legacy DocumentFilterList ({key, value}) entries are
// turned into Filters with one value.
type DocumentFilter struct {
	Key    string
	Values []string
}

// ListDocumentsInput is ListDocuments' request.
type ListDocumentsInput struct {
	Filters    []DocumentFilter
	MaxResults int
	NextToken  string
}

// ListDocumentsOutput is one page of document identifiers.
type ListDocumentsOutput struct {
	Documents []DocumentDescription
	NextToken string
}
