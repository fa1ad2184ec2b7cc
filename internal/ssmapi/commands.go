package ssmapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/service"
)

// Enums of the botocore model used by the Run Command operations.
var (
	documentHashTypes  = []string{"Sha256", "Sha1"}
	notificationEvents = []string{"All", "InProgress", "Success", "TimedOut", "Cancelled", "Failed"}
	notificationTypes  = []string{"Command", "Invocation"}
	commandFilterKeys  = []string{"InvokedAfter", "InvokedBefore", "Status", "ExecutionStage", "DocumentName"}
)

type targetRequest struct {
	Key    *string  `json:"Key"`
	Values []string `json:"Values"`
}

type notificationConfigRequest struct {
	NotificationArn    *string  `json:"NotificationArn"`
	NotificationEvents []string `json:"NotificationEvents"`
	NotificationType   *string  `json:"NotificationType"`
}

type cloudWatchOutputConfigRequest struct {
	CloudWatchLogGroupName  *string `json:"CloudWatchLogGroupName"`
	CloudWatchOutputEnabled *bool   `json:"CloudWatchOutputEnabled"`
}

type alarmRequest struct {
	Name *string `json:"Name"`
}

type alarmConfigurationRequest struct {
	IgnorePollAlarmFailure *bool          `json:"IgnorePollAlarmFailure"`
	Alarms                 []alarmRequest `json:"Alarms"`
}

type sendCommandRequest struct {
	InstanceIDs        []string                   `json:"InstanceIds"`
	Targets            []targetRequest            `json:"Targets"`
	DocumentName       *string                    `json:"DocumentName"`
	DocumentVersion    *string                    `json:"DocumentVersion"`
	DocumentHash       *string                    `json:"DocumentHash"`
	DocumentHashType   *string                    `json:"DocumentHashType"`
	TimeoutSeconds     *int                       `json:"TimeoutSeconds"`
	Comment            *string                    `json:"Comment"`
	Parameters         map[string][]string        `json:"Parameters"`
	OutputS3Region     *string                    `json:"OutputS3Region"`
	OutputS3BucketName *string                    `json:"OutputS3BucketName"`
	OutputS3KeyPrefix  *string                    `json:"OutputS3KeyPrefix"`
	MaxConcurrency     *string                    `json:"MaxConcurrency"`
	MaxErrors          *string                    `json:"MaxErrors"`
	ServiceRoleArn     *string                    `json:"ServiceRoleArn"`
	NotificationConfig *notificationConfigRequest `json:"NotificationConfig"`
	// CloudWatchOutputConfig and AlarmConfiguration are checked against the model and then not used:
	// runcmd sends no output to CloudWatch Logs and watches no alarms (docs/compatibility.md).
	CloudWatchOutputConfig *cloudWatchOutputConfigRequest `json:"CloudWatchOutputConfig"`
	AlarmConfiguration     *alarmConfigurationRequest     `json:"AlarmConfiguration"`

	// runcmd extensions (not in SSM's model; SDKs cannot send them, raw JSON and `runcmd` can):
	// ClientToken makes the call idempotent; ExactMaxErrors makes MaxErrors never overshoot.
	ClientToken    *string `json:"ClientToken"`
	ExactMaxErrors *bool   `json:"ExactMaxErrors"`
}

func (r *sendCommandRequest) validate() error {
	var v violations
	v.strList("instanceIds", r.InstanceIDs, 0, runcmd.MaxInstanceIDs, memberPattern(0, -1, &patInstanceID))
	validateTargets(&v, r.Targets)
	v.required("documentName", r.DocumentName != nil)
	v.str("documentName", r.DocumentName, 0, -1, &patDocumentARN)
	v.str("documentVersion", r.DocumentVersion, 0, -1, &patDocumentVersion)
	v.str("documentHash", r.DocumentHash, 0, 256, nil)
	v.enum("documentHashType", r.DocumentHashType, documentHashTypes)
	v.intRange("timeoutSeconds", r.TimeoutSeconds, runcmd.MinTimeoutSeconds, runcmd.MaxTimeoutSeconds)
	v.str("comment", r.Comment, 0, runcmd.MaxCommentLength, nil)
	v.str("outputS3Region", r.OutputS3Region, 3, 20, nil)
	v.str("outputS3BucketName", r.OutputS3BucketName, 3, 63, nil)
	v.str("outputS3KeyPrefix", r.OutputS3KeyPrefix, 0, 500, nil)
	v.str("maxConcurrency", r.MaxConcurrency, 1, 7, &patMaxConcurrency)
	v.str("maxErrors", r.MaxErrors, 1, 7, &patMaxErrors)
	v.str("clientToken", r.ClientToken, 1, 64, nil)
	if n := r.NotificationConfig; n != nil {
		v.strList("notificationConfig.notificationEvents", n.NotificationEvents, 0, -1, memberEnum(notificationEvents))
		v.enum("notificationConfig.notificationType", n.NotificationType, notificationTypes)
	}
	if c := r.CloudWatchOutputConfig; c != nil {
		v.str("cloudWatchOutputConfig.cloudWatchLogGroupName", c.CloudWatchLogGroupName, 1, 512, nil)
	}
	if a := r.AlarmConfiguration; a != nil {
		v.required("alarmConfiguration.alarms", a.Alarms != nil)
		v.listLen("alarmConfiguration.alarms", a.Alarms != nil, len(a.Alarms), func() string { return fmt.Sprintf("%d alarms", len(a.Alarms)) }, 1, 1)
		for i, al := range a.Alarms {
			path := fmt.Sprintf("alarmConfiguration.alarms.%d.member.name", i+1)
			v.required(path, al.Name != nil)
			v.str(path, al.Name, 1, 255, nil)
		}
	}
	return v.err()
}

// validateTargets checks SendCommand's Targets: at most 5, each key 1 to 163 characters matching the
// model's pattern, each with at most 50 values.
func validateTargets(v *violations, targets []targetRequest) {
	v.listLen("targets", targets != nil, len(targets), func() string { return renderTargets(targets) }, 0, runcmd.MaxTargets)
	for i, t := range targets {
		path := fmt.Sprintf("targets.%d.member", i+1)
		v.str(path+".key", t.Key, 1, 163, &patTargetKey)
		v.strList(path+".values", t.Values, 0, runcmd.MaxTargetValues, nil)
	}
}

func renderTargets(targets []targetRequest) string {
	s := "["
	for i, t := range targets {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("Target(key=%s, values=%v)", deref(t.Key), t.Values)
	}
	return s + "]"
}

func sendCommand(ctx context.Context, b Backend, r *sendCommandRequest) (any, error) {
	in := service.SendCommandInput{
		DocumentName:       deref(r.DocumentName),
		DocumentVersion:    deref(r.DocumentVersion),
		DocumentHash:       deref(r.DocumentHash),
		DocumentHashType:   deref(r.DocumentHashType),
		InstanceIDs:        r.InstanceIDs,
		Parameters:         r.Parameters,
		TimeoutSeconds:     r.TimeoutSeconds,
		Comment:            deref(r.Comment),
		OutputS3BucketName: deref(r.OutputS3BucketName),
		OutputS3KeyPrefix:  deref(r.OutputS3KeyPrefix),
		MaxConcurrency:     deref(r.MaxConcurrency),
		MaxErrors:          deref(r.MaxErrors),
		ServiceRoleArn:     deref(r.ServiceRoleArn),
		ClientToken:        deref(r.ClientToken),
		ExactMaxErrors:     r.ExactMaxErrors != nil && *r.ExactMaxErrors,
	}
	for _, t := range r.Targets {
		in.Targets = append(in.Targets, runcmd.Target{Key: deref(t.Key), Values: t.Values})
	}
	if n := r.NotificationConfig; n != nil {
		in.NotificationConfig = &runcmd.NotificationConfig{
			NotificationArn:    deref(n.NotificationArn),
			NotificationEvents: n.NotificationEvents,
			NotificationType:   deref(n.NotificationType),
		}
	}
	cmd, err := b.SendCommand(ctx, in)
	if err != nil {
		return nil, err
	}
	if cmd == nil {
		return nil, errors.New("send command: backend returned no command")
	}
	return struct {
		Command commandJSON `json:"Command"`
	}{toCommand(cmd)}, nil
}

type commandFilterRequest struct {
	Key   *string `json:"key"`
	Value *string `json:"value"`
}

// listRequest is ListCommands' request; ListCommandInvocations' adds Details.
type listRequest struct {
	CommandID  *string                `json:"CommandId"`
	InstanceID *string                `json:"InstanceId"`
	MaxResults *int                   `json:"MaxResults"`
	NextToken  *string                `json:"NextToken"`
	Filters    []commandFilterRequest `json:"Filters"`
}

func (r *listRequest) check(v *violations) {
	v.str("commandId", r.CommandID, 36, 36, nil)
	v.str("instanceId", r.InstanceID, 0, -1, &patInstanceID)
	v.intRange("maxResults", r.MaxResults, 1, 50)
	v.listLen("filters", r.Filters != nil, len(r.Filters), func() string { return renderCommandFilters(r.Filters) }, 1, 5)
	for i, f := range r.Filters {
		path := fmt.Sprintf("filters.%d.member", i+1)
		v.required(path+".key", f.Key != nil)
		v.enum(path+".key", f.Key, commandFilterKeys)
		v.required(path+".value", f.Value != nil)
		v.str(path+".value", f.Value, 1, 128, nil)
	}
}

func (r *listRequest) filters() []service.Filter {
	var out []service.Filter
	for _, f := range r.Filters {
		out = append(out, service.Filter{Key: deref(f.Key), Value: deref(f.Value)})
	}
	return out
}

func renderCommandFilters(fs []commandFilterRequest) string {
	s := "["
	for i, f := range fs {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("CommandFilter(key=%s, value=%s)", deref(f.Key), deref(f.Value))
	}
	return s + "]"
}

type listCommandsRequest = listRequest

func (r *listRequest) validate() error {
	var v violations
	r.check(&v)
	return v.err()
}

func listCommands(ctx context.Context, b Backend, r *listCommandsRequest) (any, error) {
	page, err := b.ListCommands(ctx, service.ListCommandsInput{
		CommandID:  deref(r.CommandID),
		InstanceID: deref(r.InstanceID),
		Filters:    r.filters(),
		MaxResults: derefInt(r.MaxResults),
		NextToken:  deref(r.NextToken),
	})
	if err != nil {
		return nil, err
	}
	cmds := make([]commandJSON, 0, len(page.Commands))
	for _, c := range page.Commands {
		if c != nil {
			cmds = append(cmds, toCommand(c))
		}
	}
	return struct {
		Commands  []commandJSON `json:"Commands"`
		NextToken string        `json:"NextToken,omitempty"`
	}{cmds, page.NextToken}, nil
}

type listCommandInvocationsRequest struct {
	CommandID  *string                `json:"CommandId"`
	InstanceID *string                `json:"InstanceId"`
	MaxResults *int                   `json:"MaxResults"`
	NextToken  *string                `json:"NextToken"`
	Filters    []commandFilterRequest `json:"Filters"`
	Details    *bool                  `json:"Details"`
}

// common returns the members ListCommandInvocations shares with ListCommands.
func (r *listCommandInvocationsRequest) common() *listRequest {
	return &listRequest{CommandID: r.CommandID, InstanceID: r.InstanceID, MaxResults: r.MaxResults,
		NextToken: r.NextToken, Filters: r.Filters}
}

func (r *listCommandInvocationsRequest) validate() error {
	var v violations
	r.common().check(&v)
	if err := v.err(); err != nil {
		return err
	}
	for _, f := range r.Filters {
		if deref(f.Key) == "ExecutionStage" {
			// The model's enum allows the key; its documentation limits it to ListCommands.
			return runcmd.Errorf(runcmd.EINVALID, "InvalidFilterKey",
				"the ExecutionStage filter is supported by ListCommands only")
		}
	}
	return nil
}

func listCommandInvocations(ctx context.Context, b Backend, r *listCommandInvocationsRequest) (any, error) {
	details := r.Details != nil && *r.Details
	out, err := b.ListCommandInvocations(ctx, service.ListCommandInvocationsInput{
		CommandID:  deref(r.CommandID),
		InstanceID: deref(r.InstanceID),
		Filters:    r.common().filters(),
		Details:    details,
		MaxResults: derefInt(r.MaxResults),
		NextToken:  deref(r.NextToken),
	})
	if err != nil {
		return nil, err
	}
	invs := make([]commandInvocationJSON, 0, len(out.Invocations))
	for _, iv := range out.Invocations {
		invs = append(invs, toCommandInvocation(iv, details))
	}
	return struct {
		CommandInvocations []commandInvocationJSON `json:"CommandInvocations"`
		NextToken          string                  `json:"NextToken,omitempty"`
	}{invs, out.NextToken}, nil
}

type getCommandInvocationRequest struct {
	CommandID  *string `json:"CommandId"`
	InstanceID *string `json:"InstanceId"`
	PluginName *string `json:"PluginName"`
}

func (r *getCommandInvocationRequest) validate() error {
	var v violations
	v.required("commandId", r.CommandID != nil)
	v.str("commandId", r.CommandID, 36, 36, nil)
	v.required("instanceId", r.InstanceID != nil)
	v.str("instanceId", r.InstanceID, 0, -1, &patInstanceID)
	v.str("pluginName", r.PluginName, 4, -1, nil)
	return v.err()
}

type getCommandInvocationResponse struct {
	CommandID              string                     `json:"CommandId"`
	InstanceID             string                     `json:"InstanceId"`
	Comment                string                     `json:"Comment"`
	DocumentName           string                     `json:"DocumentName"`
	DocumentVersion        string                     `json:"DocumentVersion"`
	PluginName             string                     `json:"PluginName"`
	ResponseCode           int                        `json:"ResponseCode"`
	ExecutionStartDateTime string                     `json:"ExecutionStartDateTime"`
	ExecutionElapsedTime   string                     `json:"ExecutionElapsedTime"`
	ExecutionEndDateTime   string                     `json:"ExecutionEndDateTime"`
	Status                 string                     `json:"Status"`
	StatusDetails          string                     `json:"StatusDetails"`
	StandardOutputContent  string                     `json:"StandardOutputContent"`
	StandardOutputURL      string                     `json:"StandardOutputUrl"`
	StandardErrorContent   string                     `json:"StandardErrorContent"`
	StandardErrorURL       string                     `json:"StandardErrorUrl"`
	CloudWatchOutputConfig cloudWatchOutputConfigJSON `json:"CloudWatchOutputConfig"`
}

func getCommandInvocation(ctx context.Context, b Backend, r *getCommandInvocationRequest) (any, error) {
	out, err := b.GetCommandInvocation(ctx, deref(r.CommandID), deref(r.InstanceID), deref(r.PluginName))
	if err != nil {
		return nil, err
	}
	return toGetCommandInvocation(out), nil
}

func toGetCommandInvocation(out service.GetCommandInvocationOutput) getCommandInvocationResponse {
	inv := out.Invocation
	if inv == nil {
		inv = &runcmd.Invocation{}
	}
	resp := getCommandInvocationResponse{
		CommandID:       inv.CommandID,
		InstanceID:      inv.InstanceID,
		Comment:         inv.Comment,
		DocumentName:    inv.DocumentName,
		DocumentVersion: out.DocumentVersion,
		PluginName:      out.PluginName,
		ResponseCode:    -1,
		Status:          string(inv.Status()),
		StatusDetails:   string(inv.Detail),
	}
	p := out.Plugin
	if p == nil {
		return resp
	}
	if resp.PluginName == "" {
		resp.PluginName = p.Name
	}
	// Status is the plugin's own; SSM documents that it may differ from the invocation's.
	status, detail := pluginState(p)
	resp.Status, resp.StatusDetails = string(status), string(detail)
	if pluginFinished(p) {
		resp.ResponseCode = p.ResponseCode
	}
	resp.ExecutionStartDateTime = isoTime(p.StartedAt)
	resp.ExecutionEndDateTime = isoTime(p.EndedAt)
	if !p.StartedAt.IsZero() && !p.EndedAt.IsZero() {
		resp.ExecutionElapsedTime = isoDuration(p.EndedAt.Sub(p.StartedAt))
	}
	resp.StandardOutputContent = truncateChars(p.Stdout, runcmd.MaxStdout)
	resp.StandardErrorContent = truncateChars(p.Stderr, runcmd.MaxStderr)
	resp.StandardOutputURL, resp.StandardErrorURL = p.StdoutURL, p.StderrURL
	return resp
}

type cancelCommandRequest struct {
	CommandID   *string  `json:"CommandId"`
	InstanceIDs []string `json:"InstanceIds"`
}

func (r *cancelCommandRequest) validate() error {
	var v violations
	v.required("commandId", r.CommandID != nil)
	v.str("commandId", r.CommandID, 36, 36, nil)
	v.strList("instanceIds", r.InstanceIDs, 0, runcmd.MaxInstanceIDs, memberPattern(0, -1, &patInstanceID))
	return v.err()
}

func cancelCommand(ctx context.Context, b Backend, r *cancelCommandRequest) (any, error) {
	err := b.CancelCommand(ctx, service.CancelCommandInput{CommandID: deref(r.CommandID), InstanceIDs: r.InstanceIDs})
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}
