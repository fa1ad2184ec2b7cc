package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/runcmd/runcmd"
)

// API implements the SSM operations the api function serves. It validates, writes the stores and
// enqueues work; it never waits for nodes.
type API struct {
	Commands  runcmd.CommandStore
	Instances runcmd.InstanceStore
	Dispatch  runcmd.DispatchQueue
	Documents DocumentSource
	Now       Clock
	// NewID returns a new command id (a UUID); tests inject their own.
	NewID func() string
	// Registry serves activations and node registration (registry.go); nil serves Run Command only.
	Registry *Registry
	// Patching serves Patch Manager and Compliance (patchbaselines.go, compliance.go); its methods are
	// promoted, and a nil one answers them with UnsupportedOperationException.
	*Patching
}

// NewAPI returns an API over the given ports with the real clock and random ids.
func NewAPI(commands runcmd.CommandStore, instances runcmd.InstanceStore, dispatch runcmd.DispatchQueue, docs DocumentSource) *API {
	return &API{Commands: commands, Instances: instances, Dispatch: dispatch, Documents: docs, Now: time.Now, NewID: NewUUID}
}

// NewUUID returns a random RFC 4122 version 4 UUID, the form of SSM command ids.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return formatUUID(b)
}

func formatUUID(b [16]byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// tokenID derives a command id from an idempotency token, so retries with the same token collide on
// the command's key instead of needing a second table.
func tokenID(token string) string {
	sum := sha256.Sum256([]byte("runcmd-client-token\x00" + token))
	var b [16]byte
	copy(b[:], sum[:16])
	return formatUUID(b)
}

// SendCommand validates a request, stores the command with the invocations it can already name (so
// they are readable the moment it returns), and asks dispatch to start.
func (a *API) SendCommand(ctx context.Context, in SendCommandInput) (*runcmd.Command, error) {
	now := a.Now().UTC()
	cmd, instanceIDs, err := a.newCommand(ctx, in, now)
	if err != nil {
		return nil, err
	}

	var invs []*runcmd.Invocation
	if instanceIDs != nil {
		nodes, err := a.Instances.GetInstances(ctx, instanceIDs)
		if err != nil {
			return nil, fmt.Errorf("send command: get instances: %w", err)
		}
		for i, id := range instanceIDs {
			node, ok := nodes[id]
			if !ok {
				return nil, runcmd.Errorf(runcmd.EINVALID, "InvalidInstanceId",
					"Instance %s is not a registered managed node or its agent is not running.", id)
			}
			invs = append(invs, newInvocation(cmd, node, i+1))
		}
		cmd.TargetCount = len(invs)
		cmd.Resolved = true
	}

	if err := a.Commands.CreateCommand(ctx, cmd, invs); err != nil {
		if runcmd.ErrorCode(err) == runcmd.ECONFLICT && in.ClientToken != "" {
			// Same token, same command: a retry returns what the first call created.
			return a.Commands.GetCommand(ctx, cmd.CommandID)
		}
		return nil, fmt.Errorf("send command %s: %w", cmd.CommandID, err)
	}
	if err := a.Dispatch.Enqueue(ctx, runcmd.DispatchMessage{Kind: runcmd.DispatchStart, CommandID: cmd.CommandID}); err != nil {
		return nil, fmt.Errorf("send command %s: enqueue start: %w", cmd.CommandID, err)
	}
	return cmd, nil
}

// newCommand validates the request and builds the command. instanceIDs is non-nil when the targets
// name nodes by id (then invocations are created at once); nil when dispatch resolves tags.
func (a *API) newCommand(ctx context.Context, in SendCommandInput, now time.Time) (*runcmd.Command, []string, error) {
	instanceIDs, targets, err := splitTargets(in.InstanceIDs, in.Targets)
	if err != nil {
		return nil, nil, err
	}
	doc, err := a.Documents.Document(ctx, in.DocumentName, in.DocumentVersion)
	if err != nil {
		return nil, nil, err
	}
	if in.DocumentHash != "" && !strings.EqualFold(in.DocumentHash, doc.Description.Hash) {
		return nil, nil, runcmd.Errorf(runcmd.EINVALID, "InvalidDocument",
			"The document hash %s does not match document %s version %s.", in.DocumentHash, in.DocumentName, doc.Description.DocumentVersion)
	}
	params, execTimeout, err := doc.Validate(in.Parameters)
	if err != nil {
		return nil, nil, err
	}

	timeout := runcmd.DefaultTimeoutSeconds
	if in.TimeoutSeconds != nil {
		timeout = *in.TimeoutSeconds
		if timeout < runcmd.MinTimeoutSeconds || timeout > runcmd.MaxTimeoutSeconds {
			return nil, nil, runcmd.Errorf(runcmd.EINVALID, "ValidationException",
				"TimeoutSeconds must be between %d and %d.", runcmd.MinTimeoutSeconds, runcmd.MaxTimeoutSeconds)
		}
	}
	if len(in.Comment) > runcmd.MaxCommentLength {
		return nil, nil, runcmd.Errorf(runcmd.EINVALID, "ValidationException", "Comment must be at most %d characters.", runcmd.MaxCommentLength)
	}
	maxConc := cmpOr(in.MaxConcurrency, runcmd.DefaultMaxConcurrency)
	if n, ok := runcmd.ParseRate(maxConc, 100); !ok || n < 1 {
		return nil, nil, runcmd.Errorf(runcmd.EINVALID, "ValidationException", "MaxConcurrency %q is not a positive number or percentage.", maxConc)
	}
	maxErr := cmpOr(in.MaxErrors, runcmd.DefaultMaxErrors)
	if _, ok := runcmd.ParseRate(maxErr, 100); !ok {
		return nil, nil, runcmd.Errorf(runcmd.EINVALID, "ValidationException", "MaxErrors %q is not a number or percentage.", maxErr)
	}
	var notify runcmd.NotificationConfig
	if in.NotificationConfig != nil {
		notify = *in.NotificationConfig
		if notify.NotificationArn != "" && !strings.HasPrefix(notify.NotificationArn, "arn:") {
			return nil, nil, runcmd.Errorf(runcmd.EINVALID, "InvalidNotificationConfig", "NotificationArn %q is not an SNS topic ARN.", notify.NotificationArn)
		}
	}

	id := a.NewID()
	if in.ClientToken != "" {
		id = tokenID(in.ClientToken)
	}
	cmd := &runcmd.Command{
		CommandID:          id,
		DocumentName:       doc.Description.Name,
		DocumentVersion:    cmpOr(in.DocumentVersion, doc.Description.DocumentVersion),
		DocumentHash:       doc.Description.Hash,
		Comment:            in.Comment,
		Parameters:         params,
		InstanceIDs:        instanceIDs,
		Targets:            targets,
		RequestedAt:        now,
		ExpiresAt:          now.Add(time.Duration(timeout+execTimeout) * time.Second),
		TimeoutSeconds:     timeout,
		ExecTimeoutSeconds: execTimeout,
		Detail:             runcmd.CommandDetailPending,
		OutputS3Bucket:     in.OutputS3BucketName,
		OutputS3KeyPrefix:  in.OutputS3KeyPrefix,
		MaxConcurrency:     maxConc,
		MaxErrors:          maxErr,
		ServiceRole:        in.ServiceRoleArn,
		NotificationConfig: notify,
		DocumentContent:    string(doc.Content),
		PluginNames:        doc.PluginNames,
		PlatformTypes:      doc.Description.PlatformTypes,
		ClientToken:        in.ClientToken,
		ExactMaxErrors:     in.ExactMaxErrors,
		Counts:             map[runcmd.Detail]int{},
	}
	return cmd, instanceIDs, nil
}

// splitTargets separates node ids (from InstanceIds or an InstanceIds target, whose key SSM matches
// case-insensitively) from tag targets. It returns nil ids when the command targets tags.
func splitTargets(ids []string, targets []runcmd.Target) ([]string, []runcmd.Target, error) {
	if len(ids) > 0 && len(targets) > 0 {
		return nil, nil, runcmd.Errorf(runcmd.EINVALID, "ValidationException", "Specify either InstanceIds or Targets, not both.")
	}
	if len(ids) == 0 && len(targets) == 0 {
		return nil, nil, runcmd.Errorf(runcmd.EINVALID, "ValidationException", "Specify InstanceIds or Targets.")
	}
	if len(targets) > runcmd.MaxTargets {
		return nil, nil, runcmd.Errorf(runcmd.EINVALID, "ValidationException", "At most %d targets are allowed.", runcmd.MaxTargets)
	}
	var tagTargets []runcmd.Target
	for _, t := range targets {
		if len(t.Values) == 0 {
			return nil, nil, runcmd.Errorf(runcmd.EINVALID, "InvalidTarget", "Target %q has no values.", t.Key)
		}
		if len(t.Values) > runcmd.MaxTargetValues {
			return nil, nil, runcmd.Errorf(runcmd.EINVALID, "InvalidTarget", "Target %q has more than %d values.", t.Key, runcmd.MaxTargetValues)
		}
		switch {
		case strings.EqualFold(t.Key, "InstanceIds"):
			if len(targets) > 1 {
				return nil, nil, runcmd.Errorf(runcmd.EINVALID, "InvalidTarget", "An InstanceIds target cannot be combined with other targets.")
			}
			ids = t.Values
		case strings.HasPrefix(t.Key, "tag:") && len(t.Key) > len("tag:"), t.Key == "tag-key":
			tagTargets = append(tagTargets, t)
		default:
			return nil, nil, runcmd.Errorf(runcmd.EINVALID, "InvalidTarget", "Target key %q is not supported: use InstanceIds, tag:<key> or tag-key.", t.Key)
		}
	}
	if len(tagTargets) > 0 {
		return nil, tagTargets, nil
	}
	if len(ids) > runcmd.MaxInstanceIDs {
		return nil, nil, runcmd.Errorf(runcmd.EINVALID, "ValidationException", "At most %d instance ids are allowed; use Targets for more.", runcmd.MaxInstanceIDs)
	}
	var unique []string
	for _, id := range ids {
		if !validInstanceID(id) {
			return nil, nil, runcmd.Errorf(runcmd.EINVALID, "InvalidInstanceId", "Instance id %q is not valid.", id)
		}
		if slices.Contains(unique, id) {
			return nil, nil, runcmd.Errorf(runcmd.EINVALID, "DuplicateInstanceId", "Instance id %s is listed more than once.", id)
		}
		unique = append(unique, id)
	}
	return unique, nil, nil
}

// validInstanceID matches SSM's pattern (^i-(\w{8}|\w{17})$)|(^mi-\w{17}$).
func validInstanceID(id string) bool {
	word := func(s string) bool {
		for _, r := range s {
			if !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return false
			}
		}
		return true
	}
	if rest, ok := strings.CutPrefix(id, "mi-"); ok {
		return len(rest) == 17 && word(rest)
	}
	if rest, ok := strings.CutPrefix(id, "i-"); ok {
		return (len(rest) == 8 || len(rest) == 17) && word(rest)
	}
	return false
}

func newInvocation(cmd *runcmd.Command, node *runcmd.Instance, seq int) *runcmd.Invocation {
	return &runcmd.Invocation{
		CommandID:    cmd.CommandID,
		InstanceID:   node.InstanceID,
		InstanceName: node.ComputerName,
		PlatformType: node.PlatformType,
		Seq:          seq,
		QueueURL:     node.QueueURL,
		DocumentName: cmd.DocumentName,
		Comment:      cmd.Comment,
		RequestedAt:  cmd.RequestedAt,
		ExpiresAt:    cmd.ExpiresAt,
		Detail:       runcmd.DetailPending,

		ExecTimeoutSeconds: cmd.ExecTimeoutSeconds,
		UpdatedAt:          cmd.RequestedAt,
		Result:             runcmd.Result{ResponseCode: -1},

		NotificationConfig: cmd.NotificationConfig,
	}
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
