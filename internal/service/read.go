package service

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/runcmd/runcmd"
)

// Page sizes (SSM: ListCommands and ListCommandInvocations take 1..50; DescribeInstanceInformation
// 5..50, default 10).
const (
	defaultListLimit      = 50
	defaultInstancesLimit = 10
)

// ListCommands returns a page of commands, newest first. CommandId and InstanceId select through the
// store's keys and indexes; the remaining filters are applied to what those return.
func (a *API) ListCommands(ctx context.Context, in ListCommandsInput) (runcmd.CommandPage, error) {
	q := runcmd.CommandQuery{CommandID: in.CommandID, InstanceID: in.InstanceID, NextToken: in.NextToken}
	var keep []func(*runcmd.Command) bool
	for _, f := range in.Filters {
		pred, err := commandFilter(f, &q)
		if err != nil {
			return runcmd.CommandPage{}, err
		}
		if pred != nil {
			keep = append(keep, pred)
		}
	}
	limit := cmpOrInt(in.MaxResults, defaultListLimit)
	var out runcmd.CommandPage
	for {
		q.Limit = limit - len(out.Commands)
		page, err := a.Commands.ListCommands(ctx, q)
		if err != nil {
			return runcmd.CommandPage{}, err
		}
		for _, c := range page.Commands {
			if all(keep, c) {
				out.Commands = append(out.Commands, c)
			}
		}
		out.NextToken = page.NextToken
		if page.NextToken == "" || len(out.Commands) >= limit {
			return out, nil
		}
		q.NextToken = page.NextToken
	}
}

func all[T any](preds []func(T) bool, v T) bool {
	for _, p := range preds {
		if !p(v) {
			return false
		}
	}
	return true
}

// commandFilter turns one ListCommands filter into a store query bound or a predicate.
func commandFilter(f Filter, q *runcmd.CommandQuery) (func(*runcmd.Command) bool, error) {
	switch f.Key {
	case "InvokedAfter", "InvokedBefore":
		t, err := time.Parse(time.RFC3339, f.Value)
		if err != nil {
			return nil, runcmd.Errorf(runcmd.EINVALID, "InvalidFilterValue", "Filter %s needs an ISO-8601 time such as 2024-07-07T00:00:00Z, not %q.", f.Key, f.Value)
		}
		if f.Key == "InvokedAfter" {
			q.InvokedAfter = t
		} else {
			q.InvokedBefore = t
		}
		return nil, nil
	case "DocumentName":
		return func(c *runcmd.Command) bool { return c.DocumentName == f.Value }, nil
	case "ExecutionStage":
		switch f.Value {
		case "Executing":
			return func(c *runcmd.Command) bool { return !c.Detail.Terminal() }, nil
		case "Complete":
			return func(c *runcmd.Command) bool { return c.Detail.Terminal() }, nil
		}
		return nil, runcmd.Errorf(runcmd.EINVALID, "InvalidFilterValue", "ExecutionStage must be Executing or Complete, not %q.", f.Value)
	case "Status":
		return commandStatusFilter(f.Value)
	}
	return nil, runcmd.Errorf(runcmd.EINVALID, "InvalidFilterKey", "Filter key %q is not supported.", f.Key)
}

// commandStatusFilter matches a Status filter value: either a CommandStatus (TimedOut covers both
// timeouts) or a detail token such as Incomplete or NoInstancesInTag.
func commandStatusFilter(v string) (func(*runcmd.Command) bool, error) {
	switch runcmd.CommandStatus(v) {
	case runcmd.CommandPending, runcmd.CommandInProgress, runcmd.CommandSuccess, runcmd.CommandCancelled,
		runcmd.CommandFailed, runcmd.CommandTimedOut, runcmd.CommandCancelling:
		return func(c *runcmd.Command) bool { return string(c.Status()) == v }, nil
	}
	switch runcmd.CommandDetail(v) {
	case runcmd.CommandDetailAccessDenied, runcmd.CommandDetailDeliveryTimedOut, runcmd.CommandDetailExecutionTimedOut,
		runcmd.CommandDetailIncomplete, runcmd.CommandDetailNoInstancesInTag:
		return func(c *runcmd.Command) bool { return string(c.Detail) == v }, nil
	case "LimitExceeded":
		return func(*runcmd.Command) bool { return false }, nil // runcmd has no pending-invocation quota
	}
	return nil, runcmd.Errorf(runcmd.EINVALID, "InvalidFilterValue", "Status filter value %q is not valid.", v)
}

// ListCommandInvocations returns a page of invocations of one command or of one node.
func (a *API) ListCommandInvocations(ctx context.Context, in ListCommandInvocationsInput) (ListCommandInvocationsOutput, error) {
	if in.CommandID == "" && in.InstanceID == "" {
		// Without either SSM lists every invocation; runcmd keeps list calls on indexes, so it asks
		// for one (docs/compatibility.md).
		return ListCommandInvocationsOutput{}, runcmd.Errorf(runcmd.EINVALID, "ValidationException", "Specify CommandId or InstanceId.")
	}
	var keep []func(*runcmd.Invocation) bool
	var after, before time.Time
	for _, f := range in.Filters {
		switch f.Key {
		case "InvokedAfter", "InvokedBefore":
			t, err := time.Parse(time.RFC3339, f.Value)
			if err != nil {
				return ListCommandInvocationsOutput{}, runcmd.Errorf(runcmd.EINVALID, "InvalidFilterValue", "Filter %s needs an ISO-8601 time, not %q.", f.Key, f.Value)
			}
			if f.Key == "InvokedAfter" {
				after = t
			} else {
				before = t
			}
		case "DocumentName":
			keep = append(keep, func(i *runcmd.Invocation) bool { return i.DocumentName == f.Value })
		case "Status":
			v := f.Value
			if !runcmd.Detail(v).Valid() && !validInvocationStatus(v) {
				return ListCommandInvocationsOutput{}, runcmd.Errorf(runcmd.EINVALID, "InvalidFilterValue", "Status filter value %q is not valid.", v)
			}
			keep = append(keep, func(i *runcmd.Invocation) bool { return string(i.Status()) == v || string(i.Detail) == v })
		default:
			return ListCommandInvocationsOutput{}, runcmd.Errorf(runcmd.EINVALID, "InvalidFilterKey", "Filter key %q is not supported.", f.Key)
		}
	}
	if !after.IsZero() {
		keep = append(keep, func(i *runcmd.Invocation) bool { return !i.RequestedAt.Before(after) })
	}
	if !before.IsZero() {
		keep = append(keep, func(i *runcmd.Invocation) bool { return !i.RequestedAt.After(before) })
	}

	if in.CommandID != "" {
		if _, err := a.Commands.GetCommand(ctx, in.CommandID); err != nil {
			return ListCommandInvocationsOutput{}, err
		}
	}
	limit := cmpOrInt(in.MaxResults, defaultListLimit)
	q := runcmd.InvocationQuery{CommandID: in.CommandID, InstanceID: in.InstanceID, NextToken: in.NextToken}
	var out ListCommandInvocationsOutput
	cmds := map[string]*runcmd.Command{}
	for {
		q.Limit = limit - len(out.Invocations)
		page, err := a.Commands.ListInvocations(ctx, q)
		if err != nil {
			return ListCommandInvocationsOutput{}, err
		}
		for _, inv := range page.Invocations {
			if !all(keep, inv) {
				continue
			}
			view, err := a.view(ctx, inv, cmds)
			if err != nil {
				return ListCommandInvocationsOutput{}, err
			}
			if !in.Details {
				view.Result.Plugins = nil
			}
			out.Invocations = append(out.Invocations, view)
		}
		out.NextToken = page.NextToken
		if page.NextToken == "" || len(out.Invocations) >= limit {
			return out, nil
		}
		q.NextToken = page.NextToken
	}
}

func validInvocationStatus(v string) bool {
	switch runcmd.InvocationStatus(v) {
	case runcmd.InvocationPending, runcmd.InvocationInProgress, runcmd.InvocationDelayed, runcmd.InvocationSuccess,
		runcmd.InvocationCancelled, runcmd.InvocationTimedOut, runcmd.InvocationFailed, runcmd.InvocationCancelling:
		return true
	}
	return false
}

// view adds the command fields SSM repeats on each invocation, reading each command once per call.
func (a *API) view(ctx context.Context, inv *runcmd.Invocation, cache map[string]*runcmd.Command) (InvocationView, error) {
	cmd, ok := cache[inv.CommandID]
	if !ok {
		var err error
		cmd, err = a.Commands.GetCommand(ctx, inv.CommandID)
		if err != nil {
			return InvocationView{}, fmt.Errorf("get command %s: %w", inv.CommandID, err)
		}
		cache[inv.CommandID] = cmd
	}
	return InvocationView{
		Invocation:         inv,
		DocumentVersion:    cmd.DocumentVersion,
		ServiceRole:        cmd.ServiceRole,
		NotificationConfig: cmd.NotificationConfig,
		OutputS3Bucket:     cmd.OutputS3Bucket,
		OutputS3KeyPrefix:  cmd.OutputS3KeyPrefix,
	}, nil
}

// GetCommandInvocation returns one invocation and the plugin PluginName selects. PluginName may be
// left out when the document has one plugin; for several, runcmd answers with the first plugin that
// reported, as the SSM console does (docs/compatibility.md).
func (a *API) GetCommandInvocation(ctx context.Context, commandID, instanceID, pluginName string) (GetCommandInvocationOutput, error) {
	cmd, err := a.Commands.GetCommand(ctx, commandID)
	if err != nil {
		return GetCommandInvocationOutput{}, err
	}
	inv, err := a.Commands.GetInvocation(ctx, commandID, instanceID)
	if err != nil {
		return GetCommandInvocationOutput{}, err
	}
	view, err := a.view(ctx, inv, map[string]*runcmd.Command{commandID: cmd})
	if err != nil {
		return GetCommandInvocationOutput{}, err
	}
	out := GetCommandInvocationOutput{InvocationView: view, PluginName: pluginName}
	if pluginName != "" {
		if !slices.Contains(cmd.PluginNames, pluginName) {
			return GetCommandInvocationOutput{}, runcmd.Errorf(runcmd.EINVALID, "InvalidPluginName",
				"Plugin %q is not part of document %s; it has: %s.", pluginName, cmd.DocumentName, strings.Join(cmd.PluginNames, ", "))
		}
	} else if len(cmd.PluginNames) > 0 {
		out.PluginName = cmd.PluginNames[0]
	}
	for i := range inv.Result.Plugins {
		if inv.Result.Plugins[i].Name == out.PluginName {
			out.Plugin = &inv.Result.Plugins[i]
		}
	}
	return out, nil
}

// DescribeInstanceInformation returns a page of managed nodes with their ping status.
func (a *API) DescribeInstanceInformation(ctx context.Context, in DescribeInstanceInformationInput) (DescribeInstanceInformationOutput, error) {
	now := a.Now()
	q := runcmd.InstanceQuery{NextToken: in.NextToken}
	var keep []func(*InstanceView) bool
	for _, f := range in.Filters {
		if len(f.Values) == 0 {
			return DescribeInstanceInformationOutput{}, runcmd.Errorf(runcmd.EINVALID, "InvalidInstanceInformationFilterValue", "Filter %s has no values.", f.Key)
		}
		switch {
		case f.Key == "InstanceIds":
			q.InstanceIDs = f.Values
		case f.Key == "PingStatus":
			keep = append(keep, func(v *InstanceView) bool { return slices.Contains(f.Values, v.PingStatus) })
		case f.Key == "PlatformTypes":
			keep = append(keep, func(v *InstanceView) bool { return slices.Contains(f.Values, v.PlatformType) })
		case f.Key == "ResourceType":
			keep = append(keep, func(v *InstanceView) bool { return slices.Contains(f.Values, v.ResourceType) })
		case f.Key == "AgentVersion":
			keep = append(keep, func(v *InstanceView) bool { return slices.Contains(f.Values, v.AgentVersion) })
		case f.Key == "ActivationIds":
			keep = append(keep, func(v *InstanceView) bool { return slices.Contains(f.Values, v.ActivationID) })
		case f.Key == "IamRole":
			keep = append(keep, func(v *InstanceView) bool { return slices.Contains(f.Values, v.IamRole) })
		case f.Key == "tag-key":
			keep = append(keep, func(v *InstanceView) bool {
				return slices.ContainsFunc(f.Values, func(k string) bool { _, ok := v.Tags[k]; return ok })
			})
		case strings.HasPrefix(f.Key, "tag:"):
			key := strings.TrimPrefix(f.Key, "tag:")
			keep = append(keep, func(v *InstanceView) bool { t, ok := v.Tags[key]; return ok && slices.Contains(f.Values, t) })
		default:
			return DescribeInstanceInformationOutput{}, runcmd.Errorf(runcmd.EINVALID, "InvalidFilterKey", "Filter key %q is not supported.", f.Key)
		}
	}
	limit := cmpOrInt(in.MaxResults, defaultInstancesLimit)
	var out DescribeInstanceInformationOutput
	for {
		q.Limit = limit - len(out.Instances)
		page, err := a.Instances.ListInstances(ctx, q)
		if err != nil {
			return DescribeInstanceInformationOutput{}, err
		}
		for _, inst := range page.Instances {
			v := InstanceView{Instance: inst, PingStatus: inst.PingStatus(now)}
			if all(keep, &v) {
				out.Instances = append(out.Instances, v)
			}
		}
		out.NextToken = page.NextToken
		if page.NextToken == "" || len(out.Instances) >= limit {
			return out, nil
		}
		q.NextToken = page.NextToken
	}
}

// CancelCommand asks dispatch to cancel a command on all or some of its nodes. The command shows
// Cancelling until every affected invocation has ended.
func (a *API) CancelCommand(ctx context.Context, in CancelCommandInput) error {
	cmd, err := a.Commands.GetCommand(ctx, in.CommandID)
	if err != nil {
		return err
	}
	for _, id := range in.InstanceIDs {
		if _, err := a.Commands.GetInvocation(ctx, in.CommandID, id); err != nil {
			return runcmd.Errorf(runcmd.EINVALID, "InvalidInstanceId", "Command %s was not sent to instance %s.", in.CommandID, id)
		}
	}
	if cmd.Detail.Terminal() {
		return nil // nothing left to cancel; SSM accepts the call
	}
	if len(in.InstanceIDs) == 0 {
		err := a.Commands.SetCommandDetail(ctx, cmd.CommandID,
			[]runcmd.CommandDetail{runcmd.CommandDetailPending, runcmd.CommandDetailInProgress}, runcmd.CommandDetailCancelling)
		if err != nil && runcmd.ErrorCode(err) != runcmd.ECONFLICT {
			return fmt.Errorf("cancel command %s: %w", cmd.CommandID, err)
		}
	}
	if err := a.Dispatch.Enqueue(ctx, runcmd.DispatchMessage{Kind: runcmd.DispatchCancel, CommandID: cmd.CommandID, InstanceIDs: in.InstanceIDs}); err != nil {
		return fmt.Errorf("cancel command %s: enqueue: %w", cmd.CommandID, err)
	}
	return nil
}

func cmpOrInt(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}
