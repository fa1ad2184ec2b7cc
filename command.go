package runcmd

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// SSM limits for SendCommand (reference: runcommand-semantics.md section 1).
const (
	MaxInstanceIDs        = 50
	MaxTargets            = 5
	MaxTargetValues       = 50
	MinTimeoutSeconds     = 30
	MaxTimeoutSeconds     = 2592000
	DefaultTimeoutSeconds = 3600
	DefaultExecTimeout    = 3600
	MaxCommentLength      = 100
	DefaultMaxConcurrency = "50"
	DefaultMaxErrors      = "0"
	// Retention is how long commands and invocations are kept (SSM keeps 30 days).
	Retention = 30 * 24 * time.Hour
)

// Target selects managed nodes: Key "InstanceIds" (any case) with node ids, "tag:<key>" with tag values,
// or "tag-key" with tag keys.
type Target struct {
	Key    string
	Values []string
}

// NotificationConfig names the SNS topic that receives status changes of a command.
type NotificationConfig struct {
	NotificationArn    string
	NotificationEvents []string
	NotificationType   string
}

// CommandDetail is a command's StatusDetails value.
type CommandDetail string

// Command StatusDetails values (reference: runcommand-semantics.md 2.1).
const (
	CommandDetailPending           CommandDetail = "Pending"
	CommandDetailInProgress        CommandDetail = "InProgress"
	CommandDetailSuccess           CommandDetail = "Success"
	CommandDetailFailed            CommandDetail = "Failed"
	CommandDetailIncomplete        CommandDetail = "Incomplete"
	CommandDetailDeliveryTimedOut  CommandDetail = "DeliveryTimedOut"
	CommandDetailExecutionTimedOut CommandDetail = "ExecutionTimedOut"
	CommandDetailCancelling        CommandDetail = "Cancelling"
	CommandDetailCancelled         CommandDetail = "Cancelled"
	CommandDetailNoInstancesInTag  CommandDetail = "NoInstancesInTag"
	CommandDetailAccessDenied      CommandDetail = "AccessDenied"
)

// Status returns the coarse CommandStatus that goes with a command detail. Incomplete, No Instances In
// Tag and Access Denied map to Failed (docs/compatibility.md).
func (d CommandDetail) Status() CommandStatus {
	switch d {
	case CommandDetailPending:
		return CommandPending
	case CommandDetailInProgress:
		return CommandInProgress
	case CommandDetailSuccess:
		return CommandSuccess
	case CommandDetailCancelling:
		return CommandCancelling
	case CommandDetailCancelled:
		return CommandCancelled
	case CommandDetailDeliveryTimedOut, CommandDetailExecutionTimedOut:
		return CommandTimedOut
	}
	return CommandFailed
}

// Terminal reports whether a command with this detail is finished.
func (d CommandDetail) Terminal() bool {
	switch d {
	case CommandDetailPending, CommandDetailInProgress, CommandDetailCancelling:
		return false
	}
	return true
}

// Command is one SendCommand request and its progress. The counters are kept by the store in the same
// transaction that moves an invocation, so they are always consistent with the invocations.
type Command struct {
	CommandID          string
	DocumentName       string
	DocumentVersion    string
	DocumentHash       string
	Comment            string
	Parameters         map[string][]string
	InstanceIDs        []string
	Targets            []Target
	RequestedAt        time.Time
	ExpiresAt          time.Time // RequestedAt + TimeoutSeconds + execution timeout
	TimeoutSeconds     int
	ExecTimeoutSeconds int // the document's execution timeout (sum over steps)
	Detail             CommandDetail
	OutputS3Bucket     string
	OutputS3KeyPrefix  string
	MaxConcurrency     string
	MaxErrors          string
	ServiceRole        string
	NotificationConfig NotificationConfig
	// DocumentContent is the document as sent to nodes (JSON), fixed at send time so later document
	// updates do not change a running command.
	DocumentContent string
	// PluginNames are the step names (schema 2.x) or plugin names (schema 1.2), in order.
	PluginNames []string
	// PlatformTypes are the platforms the document supports; nodes of another platform get
	// InvalidPlatform instead of the command.
	PlatformTypes  []string
	ClientToken    string
	ExactMaxErrors bool

	// Counters and dispatch cursor, maintained by the store.
	TargetCount int
	Resolved    bool // every target has its invocation; TargetCount is final
	Cursor      int  // highest Seq that dispatch has considered (sent or skipped)
	Dispatched  int  // invocations sent to nodes
	SentDone    int  // sent invocations that reached a terminal state
	Counts      map[Detail]int
}

// Status is the command's coarse status.
func (c *Command) Status() CommandStatus { return c.Detail.Status() }

// CompletedCount is the number of invocations in a terminal state.
func (c *Command) CompletedCount() int {
	n := 0
	for _, d := range TerminalDetails {
		n += c.Counts[d]
	}
	return n
}

// ErrorCount is the number of invocations that count toward MaxErrors.
func (c *Command) ErrorCount() int {
	return c.Counts[DetailFailed] + c.Counts[DetailExecutionTimedOut]
}

// InFlight is the number of invocations sent to nodes and not finished.
func (c *Command) InFlight() int { return c.Dispatched - c.SentDone }

// Invocation is one command on one managed node.
type Invocation struct {
	CommandID    string
	InstanceID   string
	InstanceName string
	PlatformType string // the node's, at send time
	Seq          int    // 1-based position in dispatch order
	QueueURL     string
	DocumentName string
	Comment      string
	RequestedAt  time.Time
	ExpiresAt    time.Time
	// ExecTimeoutSeconds is the command's execution timeout; once the node reports the start, the
	// invocation's expiry moves to start + execution timeout.
	ExecTimeoutSeconds int
	Detail             Detail
	Sent               bool
	UpdatedAt          time.Time
	Result             Result
	// NotificationConfig is the command's, kept on each invocation so that a status change can be
	// published without reading the command.
	NotificationConfig NotificationConfig
}

// Status is the invocation's coarse status.
func (i *Invocation) Status() InvocationStatus { return i.Detail.Status() }

// ExecGrace is how long past its execution timeout a started invocation may stay silent before the
// sweep ends it: the agent kills the step at the timeout and replies itself, normally well within it.
const ExecGrace = time.Minute

// Deadline is when a non-terminal invocation times out: ExpiresAt (delivery plus execution timeout),
// brought forward to start + execution timeout + ExecGrace once the node has reported the start. Stores
// index open invocations by it.
func (i *Invocation) Deadline() time.Time {
	if i.Result.StartedAt.IsZero() || i.ExecTimeoutSeconds <= 0 {
		return i.ExpiresAt
	}
	exec := i.Result.StartedAt.Add(time.Duration(i.ExecTimeoutSeconds)*time.Second + ExecGrace)
	if exec.Before(i.ExpiresAt) {
		return exec
	}
	return i.ExpiresAt
}

// Result is what the agent reported for an invocation.
type Result struct {
	ResponseCode int // -1 until the node reports a final code
	StartedAt    time.Time
	EndedAt      time.Time
	TraceOutput  string
	Plugins      []PluginResult
}

// Merge returns r with an update applied as Transition describes: plugins replace plugins of the same
// Name and others are kept; a non-zero ResponseCode, StartedAt, EndedAt or TraceOutput overwrites, and
// a terminal update always sets ResponseCode, since 0 is a final success code.
func (r Result) Merge(u Result, terminal bool) Result {
	if u.ResponseCode != 0 || terminal {
		r.ResponseCode = u.ResponseCode
	}
	if !u.StartedAt.IsZero() {
		r.StartedAt = u.StartedAt
	}
	if !u.EndedAt.IsZero() {
		r.EndedAt = u.EndedAt
	}
	if u.TraceOutput != "" {
		r.TraceOutput = u.TraceOutput
	}
	plugins := slices.Clone(r.Plugins)
	for _, p := range u.Plugins {
		if i := slices.IndexFunc(plugins, func(q PluginResult) bool { return q.Name == p.Name }); i >= 0 {
			plugins[i] = p
		} else {
			plugins = append(plugins, p)
		}
	}
	r.Plugins = plugins
	return r
}

// PluginResult is the outcome of one step (schema 2.x) or plugin (schema 1.2).
type PluginResult struct {
	Name           string // step name (2.x) or plugin name (1.2)
	Action         string // e.g. aws:runShellScript
	Status         InvocationStatus
	Detail         Detail
	ResponseCode   int
	StartedAt      time.Time
	EndedAt        time.Time
	Stdout         string // at most MaxStdout characters
	Stderr         string // at most MaxStderr characters
	StdoutURL      string
	StderrURL      string
	OutputS3Bucket string
	OutputS3Prefix string
	Skipped        bool
}

// SSM's inline output limits.
const (
	MaxStdout       = 24000
	MaxStderr       = 8000
	MaxPluginOutput = 2500
	MaxTraceOutput  = 2500
)

// ParseRate turns a MaxConcurrency or MaxErrors value ("10" or "10%") into a count for a fleet of size
// total. Percentages round up so that any percentage of a non-empty fleet allows at least one
// (docs/compatibility.md). ok is false for values that are neither.
func ParseRate(v string, total int) (n int, ok bool) {
	if p, found := strings.CutSuffix(v, "%"); found {
		pct, err := strconv.Atoi(p)
		if err != nil || pct < 0 || pct > 100 {
			return 0, false
		}
		return (total*pct + 99) / 100, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// FinalDetail decides a finished command's StatusDetails from its invocation counts
// (runcommand-semantics.md 4.1). errorsExceeded is true when MaxErrors was passed.
func FinalDetail(counts map[Detail]int, errorsExceeded bool) CommandDetail {
	total := 0
	for _, d := range TerminalDetails {
		total += counts[d]
	}
	if total == 0 {
		return CommandDetailNoInstancesInTag
	}
	if errorsExceeded {
		if counts[DetailExecutionTimedOut] > counts[DetailFailed] {
			return CommandDetailExecutionTimedOut
		}
		return CommandDetailFailed
	}
	ignored := counts[DetailUndeliverable] + counts[DetailInvalidPlatform] + counts[DetailAccessDenied]
	left := total - ignored
	switch {
	case left == 0:
		return CommandDetailFailed
	case counts[DetailSuccess] == left:
		return CommandDetailSuccess
	case counts[DetailCancelled] > 0 && counts[DetailCancelled]+counts[DetailSuccess] == left:
		return CommandDetailCancelled
	case counts[DetailDeliveryTimedOut] == left:
		return CommandDetailDeliveryTimedOut
	}
	return CommandDetailIncomplete
}
