package ssmapi

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/google/go-cmp/cmp"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/service"
)

// listBase is when the first seeded command was sent.
var listBase = time.Date(2024, 7, 7, 0, 0, 0, 0, time.UTC)

// listID is the command id of seeded command c<digit> (SSM's ids are UUIDs); listName reverses it.
func listID(name string) string { return "00000000-0000-4000-8000-00000000000" + name[1:] }

func listName(id string) string { return "c" + id[35:] }

// seedCommands stores c0..c5, a minute apart, straight into the service's command store: documents A and
// B, a spread of details, each with an invocation on mi-00000000000000001 and c1, c2, c4 also on ...02.
func seedCommands(t *testing.T, api *service.API) {
	t.Helper()
	seeds := []struct {
		doc    string
		detail runcmd.CommandDetail
	}{
		{"A", runcmd.CommandDetailSuccess},    // c0
		{"B", runcmd.CommandDetailIncomplete}, // c1
		{"A", runcmd.CommandDetailFailed},     // c2
		{"B", runcmd.CommandDetailInProgress}, // c3
		{"A", runcmd.CommandDetailSuccess},    // c4
		{"A", runcmd.CommandDetailPending},    // c5
	}
	for i, sd := range seeds {
		id, at := listID(fmt.Sprintf("c%d", i)), listBase.Add(time.Duration(i)*time.Minute)
		cmd := &runcmd.Command{CommandID: id, DocumentName: sd.doc, RequestedAt: at, ExpiresAt: at.Add(time.Hour),
			Detail: sd.detail, MaxConcurrency: "50", MaxErrors: "0", TargetCount: 1}
		inv := func(node string, d runcmd.Detail) *runcmd.Invocation {
			return &runcmd.Invocation{CommandID: id, InstanceID: node, DocumentName: sd.doc, RequestedAt: at,
				ExpiresAt: at.Add(time.Hour), Detail: d, Result: runcmd.Result{ResponseCode: -1}}
		}
		invs := []*runcmd.Invocation{inv("mi-00000000000000001", runcmd.DetailSuccess)}
		if i == 1 || i == 2 || i == 4 {
			invs = append(invs, inv("mi-00000000000000002", runcmd.DetailFailed))
		}
		if err := api.Commands.CreateCommand(context.Background(), cmd, invs); err != nil {
			t.Fatal(err)
		}
	}
}

// commandFilter is one ListCommands / ListCommandInvocations filter.
func commandFilter(key types.CommandFilterKey, v string) types.CommandFilter {
	return types.CommandFilter{Key: key, Value: aws.String(v)}
}

// listMinute is the time m minutes after listBase, as a filter value.
func listMinute(m int) string {
	return listBase.Add(time.Duration(m) * time.Minute).Format(time.RFC3339)
}

// TestSDKListCommandsFilters runs ListCommands filters through the protocol, the service and the
// in-memory store, paging one command at a time.
func TestSDKListCommandsFilters(t *testing.T) {
	t.Parallel()
	c, api := newServiceClient(t)
	seedCommands(t, api)
	f, minute := commandFilter, listMinute
	tests := []struct {
		name       string
		instanceID string
		filters    []types.CommandFilter
		want       []string
	}{
		{"no filter", "", nil, []string{"c5", "c4", "c3", "c2", "c1", "c0"}},
		{"status Failed covers Incomplete", "", []types.CommandFilter{f(types.CommandFilterKeyStatus, "Failed")}, []string{"c2", "c1"}},
		{"status detail token", "", []types.CommandFilter{f(types.CommandFilterKeyStatus, "Incomplete")}, []string{"c1"}},
		{"two statuses: the narrower", "", []types.CommandFilter{f(types.CommandFilterKeyStatus, "Failed"),
			f(types.CommandFilterKeyStatus, "Incomplete")}, []string{"c1"}},
		{"two statuses, disjoint", "", []types.CommandFilter{f(types.CommandFilterKeyStatus, "Success"),
			f(types.CommandFilterKeyStatus, "Failed")}, nil},
		{"executing", "", []types.CommandFilter{f(types.CommandFilterKeyExecutionStage, "Executing")}, []string{"c5", "c3"}},
		{"complete document", "", []types.CommandFilter{f(types.CommandFilterKeyExecutionStage, "Complete"),
			f(types.CommandFilterKeyDocumentName, "A")}, []string{"c4", "c2", "c0"}},
		{"two documents", "", []types.CommandFilter{f(types.CommandFilterKeyDocumentName, "A"),
			f(types.CommandFilterKeyDocumentName, "B")}, nil},
		{"time range, bounds ANDed", "", []types.CommandFilter{f(types.CommandFilterKeyInvokedAfter, minute(1)),
			f(types.CommandFilterKeyInvokedAfter, minute(2)), f(types.CommandFilterKeyInvokedBefore, minute(4)),
			f(types.CommandFilterKeyInvokedBefore, minute(5))}, []string{"c4", "c3", "c2"}},
		{"node and status", "mi-00000000000000002", []types.CommandFilter{f(types.CommandFilterKeyStatus, "Success")}, []string{"c4"}},
		{"LimitExceeded", "", []types.CommandFilter{f(types.CommandFilterKeyStatus, "LimitExceeded")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &ssm.ListCommandsInput{Filters: tt.filters, MaxResults: aws.Int32(1)}
			if tt.instanceID != "" {
				in.InstanceId = aws.String(tt.instanceID)
			}
			var got []string
			pages := 0
			for p := ssm.NewListCommandsPaginator(c, in); p.HasMorePages(); {
				out, err := p.NextPage(context.Background())
				if err != nil {
					t.Fatalf("ListCommands: %v", err)
				}
				pages++
				for _, cmd := range out.Commands {
					got = append(got, listName(aws.ToString(cmd.CommandId)))
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("commands (-want +got):\n%s", diff)
			}
			if want := max(len(tt.want), 1); pages != want {
				t.Errorf("%d pages, want %d", pages, want)
			}
		})
	}
	for _, fs := range [][]types.CommandFilter{
		{f(types.CommandFilterKeyStatus, "Delayed")},
		{f(types.CommandFilterKeyExecutionStage, "Done")},
		{f(types.CommandFilterKeyStatus, "Failed"), f(types.CommandFilterKeyStatus, "Bogus")},
	} {
		_, err := c.ListCommands(context.Background(), &ssm.ListCommandsInput{Filters: fs})
		wantAPIError(t, err, "InvalidFilterValue")
	}
}

// TestSDKListCommandInvocationsFilters checks the time range (a key bound in the store) with the
// Status and DocumentName filters (checked on what the store returns).
func TestSDKListCommandInvocationsFilters(t *testing.T) {
	t.Parallel()
	c, api := newServiceClient(t)
	seedCommands(t, api)
	f, minute := commandFilter, listMinute
	tests := []struct {
		name                  string
		commandID, instanceID string
		filters               []types.CommandFilter
		want                  []string
	}{
		{"node, after", "", "mi-00000000000000001", []types.CommandFilter{f(types.CommandFilterKeyInvokedAfter, minute(3))},
			[]string{"c5", "c4", "c3"}},
		{"node, range and document", "", "mi-00000000000000001", []types.CommandFilter{
			f(types.CommandFilterKeyInvokedAfter, minute(1)), f(types.CommandFilterKeyInvokedBefore, minute(4)),
			f(types.CommandFilterKeyDocumentName, "A")}, []string{"c4", "c2"}},
		{"node, status", "", "mi-00000000000000002", []types.CommandFilter{f(types.CommandFilterKeyStatus, "Failed")},
			[]string{"c4", "c2", "c1"}},
		{"command in range", "c2", "", []types.CommandFilter{f(types.CommandFilterKeyInvokedBefore, minute(2))},
			[]string{"c2", "c2"}},
		{"command out of range", "c2", "", []types.CommandFilter{f(types.CommandFilterKeyInvokedAfter, minute(3))}, nil},
		{"command, status", "c2", "", []types.CommandFilter{f(types.CommandFilterKeyStatus, "Success")}, []string{"c2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &ssm.ListCommandInvocationsInput{Filters: tt.filters, MaxResults: aws.Int32(1)}
			if tt.commandID != "" {
				in.CommandId = aws.String(listID(tt.commandID))
			}
			if tt.instanceID != "" {
				in.InstanceId = aws.String(tt.instanceID)
			}
			var got []string
			for p := ssm.NewListCommandInvocationsPaginator(c, in); p.HasMorePages(); {
				out, err := p.NextPage(context.Background())
				if err != nil {
					t.Fatalf("ListCommandInvocations: %v", err)
				}
				for _, inv := range out.CommandInvocations {
					got = append(got, listName(aws.ToString(inv.CommandId)))
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("invocations' commands (-want +got):\n%s", diff)
			}
		})
	}
}
