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

// ListCommands returns a page of commands, newest first. Every filter goes to the store, which selects
// by key or index (CommandQuery); repeated filter keys are ANDed here into one query, or answer nothing
// when they cannot both hold.
func (a *API) ListCommands(ctx context.Context, in ListCommandsInput) (runcmd.CommandPage, error) {
	q := runcmd.CommandQuery{CommandID: in.CommandID, InstanceID: in.InstanceID, NextToken: in.NextToken,
		Limit: cmpOrInt(in.MaxResults, defaultListLimit)}
	none := false
	for _, f := range in.Filters {
		ok, err := commandFilter(f, &q)
		if err != nil {
			return runcmd.CommandPage{}, err
		}
		none = none || !ok
	}
	if none {
		return runcmd.CommandPage{}, nil
	}
	return a.Commands.ListCommands(ctx, q)
}

func all[T any](preds []func(T) bool, v T) bool {
	for _, p := range preds {
		if !p(v) {
			return false
		}
	}
	return true
}

// commandFilter adds one ListCommands filter to q. ok is false when it contradicts a filter with the same
// key already added (two document names, two stages, disjoint statuses), so nothing can match.
func commandFilter(f Filter, q *runcmd.CommandQuery) (ok bool, err error) {
	switch f.Key {
	case "InvokedAfter", "InvokedBefore":
		t, err := time.Parse(time.RFC3339, f.Value)
		if err != nil {
			return false, runcmd.Errorf(runcmd.EINVALID, "InvalidFilterValue", "Filter %s needs an ISO-8601 time such as 2024-07-07T00:00:00Z, not %q.", f.Key, f.Value)
		}
		if f.Key == "InvokedAfter" && t.After(q.InvokedAfter) {
			q.InvokedAfter = t
		}
		if f.Key == "InvokedBefore" && (q.InvokedBefore.IsZero() || t.Before(q.InvokedBefore)) {
			q.InvokedBefore = t
		}
		return true, nil
	case "DocumentName":
		ok = q.DocumentName == "" || q.DocumentName == f.Value
		q.DocumentName = f.Value
		return ok, nil
	case "ExecutionStage":
		if _, _, err := (runcmd.CommandQuery{ExecutionStage: f.Value}).Details(); err != nil {
			return false, err
		}
		ok = q.ExecutionStage == "" || q.ExecutionStage == f.Value
		q.ExecutionStage = f.Value
		return ok, nil
	case "Status":
		return narrowStatus(q, f.Value)
	}
	return false, runcmd.Errorf(runcmd.EINVALID, "InvalidFilterKey", "Filter key %q is not supported.", f.Key)
}

// narrowStatus ANDs a Status filter value into q. The details two values allow are either disjoint or
// one within the other (Incomplete within Failed, DeliveryTimedOut within TimedOut), so the AND is the
// narrower value, or nothing.
func narrowStatus(q *runcmd.CommandQuery, v string) (ok bool, err error) {
	add, _, err := (runcmd.CommandQuery{Status: v}).Details()
	if err != nil {
		return false, err
	}
	if q.Status == "" {
		q.Status = v
		return true, nil
	}
	have, _, err := (runcmd.CommandQuery{Status: q.Status}).Details()
	if err != nil {
		return false, err
	}
	within := func(a, b []runcmd.CommandDetail) bool {
		return !slices.ContainsFunc(a, func(d runcmd.CommandDetail) bool { return !slices.Contains(b, d) })
	}
	switch {
	case within(have, add):
		return len(have) > 0, nil
	case within(add, have):
		q.Status = v
		return len(add) > 0, nil
	}
	return false, nil
}

// ListCommandInvocations returns a page of invocations of one command or of one node. The ids select
// by key or index, and InvokedAfter/InvokedBefore go to the store as bounds of that selection; Status and
// DocumentName are checked on what it returns, a set bounded by one command's targets or by what one
// node ran in the retention period (docs/compatibility.md).
func (a *API) ListCommandInvocations(ctx context.Context, in ListCommandInvocationsInput) (ListCommandInvocationsOutput, error) {
	if in.CommandID == "" && in.InstanceID == "" {
		// Without either SSM lists every invocation; runcmd keeps list calls on indexes, so it asks
		// for one (docs/compatibility.md).
		return ListCommandInvocationsOutput{}, runcmd.Errorf(runcmd.EINVALID, "ValidationException", "Specify CommandId or InstanceId.")
	}
	q := runcmd.InvocationQuery{CommandID: in.CommandID, InstanceID: in.InstanceID, NextToken: in.NextToken}
	var keep []func(*runcmd.Invocation) bool
	for _, f := range in.Filters {
		switch f.Key {
		case "InvokedAfter", "InvokedBefore":
			t, err := time.Parse(time.RFC3339, f.Value)
			if err != nil {
				return ListCommandInvocationsOutput{}, runcmd.Errorf(runcmd.EINVALID, "InvalidFilterValue", "Filter %s needs an ISO-8601 time, not %q.", f.Key, f.Value)
			}
			if f.Key == "InvokedAfter" && t.After(q.InvokedAfter) {
				q.InvokedAfter = t
			}
			if f.Key == "InvokedBefore" && (q.InvokedBefore.IsZero() || t.Before(q.InvokedBefore)) {
				q.InvokedBefore = t
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

	cmds := map[string]*runcmd.Command{}
	if in.CommandID != "" {
		cmd, err := a.Commands.GetCommand(ctx, in.CommandID)
		if err != nil {
			return ListCommandInvocationsOutput{}, err
		}
		if !(runcmd.CommandQuery{InvokedAfter: q.InvokedAfter, InvokedBefore: q.InvokedBefore}).Match(cmd) {
			// Its invocations carry its time: none can be in the range.
			return ListCommandInvocationsOutput{}, nil
		}
		cmds[cmd.CommandID] = cmd
	}
	limit := cmpOrInt(in.MaxResults, defaultListLimit)
	var out ListCommandInvocationsOutput
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
