package ssmapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/service"
)

// fakeBackend answers every operation with canned data and records the inputs it was given.
type fakeBackend struct {
	mu     sync.Mutex
	inputs map[string]any
	// err, when set, is returned by every method.
	err error
	// commandsNextToken is ListCommands' NextToken.
	commandsNextToken string

	cmd       *runcmd.Command
	invs      service.ListCommandInvocationsOutput
	inv       service.GetCommandInvocationOutput
	instances service.DescribeInstanceInformationOutput
	docs      service.ListDocumentsOutput
	doc       service.DocumentDescription
	content   string
}

var _ Backend = (*fakeBackend)(nil)

func (f *fakeBackend) record(op string, in any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.inputs == nil {
		f.inputs = map[string]any{}
	}
	f.inputs[op] = in
	return f.err
}

func (f *fakeBackend) input(op string) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.inputs[op]
}

func (f *fakeBackend) SendCommand(_ context.Context, in service.SendCommandInput) (*runcmd.Command, error) {
	if err := f.record("SendCommand", in); err != nil {
		return nil, err
	}
	return f.cmd, nil
}

func (f *fakeBackend) ListCommands(_ context.Context, in service.ListCommandsInput) (runcmd.CommandPage, error) {
	if err := f.record("ListCommands", in); err != nil {
		return runcmd.CommandPage{}, err
	}
	return runcmd.CommandPage{Commands: []*runcmd.Command{f.cmd}, NextToken: f.commandsNextToken}, nil
}

func (f *fakeBackend) ListCommandInvocations(_ context.Context, in service.ListCommandInvocationsInput) (service.ListCommandInvocationsOutput, error) {
	if err := f.record("ListCommandInvocations", in); err != nil {
		return service.ListCommandInvocationsOutput{}, err
	}
	return f.invs, nil
}

func (f *fakeBackend) GetCommandInvocation(_ context.Context, commandID, instanceID, pluginName string) (service.GetCommandInvocationOutput, error) {
	if err := f.record("GetCommandInvocation", []string{commandID, instanceID, pluginName}); err != nil {
		return service.GetCommandInvocationOutput{}, err
	}
	return f.inv, nil
}

func (f *fakeBackend) CancelCommand(_ context.Context, in service.CancelCommandInput) error {
	return f.record("CancelCommand", in)
}

func (f *fakeBackend) DescribeInstanceInformation(_ context.Context, in service.DescribeInstanceInformationInput) (service.DescribeInstanceInformationOutput, error) {
	if err := f.record("DescribeInstanceInformation", in); err != nil {
		return service.DescribeInstanceInformationOutput{}, err
	}
	return f.instances, nil
}

func (f *fakeBackend) ListDocuments(_ context.Context, in service.ListDocumentsInput) (service.ListDocumentsOutput, error) {
	if err := f.record("ListDocuments", in); err != nil {
		return service.ListDocumentsOutput{}, err
	}
	return f.docs, nil
}

func (f *fakeBackend) DescribeDocument(_ context.Context, name, documentVersion, versionName string) (service.DocumentDescription, error) {
	if err := f.record("DescribeDocument", []string{name, documentVersion, versionName}); err != nil {
		return service.DocumentDescription{}, err
	}
	return f.doc, nil
}

func (f *fakeBackend) GetDocument(_ context.Context, in service.GetDocumentInput) (service.GetDocumentOutput, error) {
	if err := f.record("GetDocument", in); err != nil {
		return service.GetDocumentOutput{}, err
	}
	return service.GetDocumentOutput{DocumentDescription: f.doc, Content: f.content}, nil
}

const (
	testCommandID  = "92853adf-ba41-4cd6-9a88-142d1abcdef0"
	testInstanceID = "mi-0123456789abcdef0"
)

var (
	t0 = time.Date(2019, 2, 14, 19, 26, 26, 439e6, time.UTC)
	t1 = t0.Add(541 * time.Millisecond)
)

// newFake returns a backend filled with one of everything.
func newFake() *fakeBackend {
	cmd := &runcmd.Command{
		CommandID:       testCommandID,
		DocumentName:    "AWS-RunShellScript",
		DocumentVersion: "$DEFAULT",
		Comment:         "hello",
		Parameters:      map[string][]string{"commands": {"echo hi"}},
		InstanceIDs:     []string{testInstanceID},
		RequestedAt:     t0,
		ExpiresAt:       t0.Add(7200 * time.Second),
		TimeoutSeconds:  3600,
		Detail:          runcmd.CommandDetailInProgress,
		MaxConcurrency:  "50",
		MaxErrors:       "0",
		TargetCount:     4,
		Counts: map[runcmd.Detail]int{
			runcmd.DetailSuccess: 1, runcmd.DetailFailed: 1, runcmd.DetailDeliveryTimedOut: 1,
		},
	}
	plugin := runcmd.PluginResult{
		Name: "aws:runShellScript", Status: runcmd.InvocationFailed, Detail: runcmd.DetailFailed,
		ResponseCode: 2, StartedAt: t0, EndedAt: t1, Stdout: "out\n", Stderr: "boom\n",
	}
	inv := &runcmd.Invocation{
		CommandID: testCommandID, InstanceID: testInstanceID, InstanceName: "host1", DocumentName: "AWS-RunShellScript",
		Comment: "hello", RequestedAt: t0, Detail: runcmd.DetailFailed,
		Result: runcmd.Result{ResponseCode: 2, StartedAt: t0, EndedAt: t1, Plugins: []runcmd.PluginResult{plugin}},
	}
	view := service.InvocationView{Invocation: inv, DocumentVersion: "$DEFAULT"}
	return &fakeBackend{
		commandsNextToken: "next-1",
		cmd:               cmd,
		invs:              service.ListCommandInvocationsOutput{Invocations: []service.InvocationView{view}, NextToken: "tok"},
		inv:               service.GetCommandInvocationOutput{InvocationView: view, PluginName: "aws:runShellScript", Plugin: &plugin},
		instances: service.DescribeInstanceInformationOutput{Instances: []service.InstanceView{{
			Instance: &runcmd.Instance{
				InstanceID: testInstanceID, ComputerName: "host1", IPAddress: "10.0.0.1", PlatformType: "Linux",
				PlatformName: "Ubuntu", PlatformVersion: "24.04", AgentVersion: "0.1.0", ResourceType: "ManagedInstance",
				RegisteredAt: t0, LastPingAt: t1,
			},
			PingStatus: "Online",
		}}},
		docs: service.ListDocumentsOutput{Documents: []service.DocumentDescription{{
			Name: "AWS-RunShellScript", Owner: "Amazon", PlatformTypes: []string{"Linux", "MacOS"}, DocumentVersion: "1",
			DocumentType: "Command", SchemaVersion: "1.2", DocumentFormat: "JSON", Tags: map[string]string{"b": "2", "a": "1"},
		}}},
		doc: service.DocumentDescription{
			Name: "AWS-RunShellScript", Owner: "Amazon", Hash: "abc", HashType: "Sha256", Status: "Active",
			DocumentVersion: "1", LatestVersion: "1", DefaultVersion: "1", DocumentType: "Command", SchemaVersion: "1.2",
			DocumentFormat: "JSON", Description: "Run a shell script.", PlatformTypes: []string{"Linux"}, CreatedDate: t0,
			Parameters: []service.DocumentParameter{{Name: "commands", Type: "StringList", Description: "cmds"}},
		},
		content: `{"schemaVersion":"1.2"}`,
	}
}

// newClient starts the handler over fake and returns an SDK client pointed at it.
func newClient(t *testing.T, fake *fakeBackend) *ssm.Client {
	t.Helper()
	srv := httptest.NewServer(NewHandler(fake, nil))
	t.Cleanup(srv.Close)
	return ssm.New(ssm.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		Retryer:      aws.NopRetryer{},
		HTTPClient:   srv.Client(),
	})
}

func TestSDKSendCommand(t *testing.T) {
	t.Parallel()
	fake := newFake()
	c := newClient(t, fake)
	out, err := c.SendCommand(context.Background(), &ssm.SendCommandInput{
		DocumentName:   aws.String("AWS-RunShellScript"),
		InstanceIds:    []string{testInstanceID},
		Targets:        []types.Target{{Key: aws.String("tag:env"), Values: []string{"dev"}}},
		Parameters:     map[string][]string{"commands": {"echo hi"}},
		TimeoutSeconds: aws.Int32(600),
		Comment:        aws.String("hello"),
		MaxConcurrency: aws.String("10%"),
		MaxErrors:      aws.String("0"),
		NotificationConfig: &types.NotificationConfig{
			NotificationArn:    aws.String("arn:aws:sns:us-east-1:123456789012:t"),
			NotificationEvents: []types.NotificationEvent{types.NotificationEventAll},
			NotificationType:   types.NotificationTypeCommand,
		},
	})
	if err != nil {
		t.Fatalf("SendCommand: %v", err)
	}
	timeout := 600
	wantIn := service.SendCommandInput{
		DocumentName:   "AWS-RunShellScript",
		InstanceIDs:    []string{testInstanceID},
		Targets:        []runcmd.Target{{Key: "tag:env", Values: []string{"dev"}}},
		Parameters:     map[string][]string{"commands": {"echo hi"}},
		TimeoutSeconds: &timeout,
		Comment:        "hello",
		MaxConcurrency: "10%",
		MaxErrors:      "0",
		NotificationConfig: &runcmd.NotificationConfig{
			NotificationArn: "arn:aws:sns:us-east-1:123456789012:t", NotificationEvents: []string{"All"}, NotificationType: "Command",
		},
	}
	if diff := cmp.Diff(wantIn, fake.input("SendCommand")); diff != "" {
		t.Errorf("backend input (-want +got):\n%s", diff)
	}
	cmd := out.Command
	got := map[string]any{
		"CommandId": aws.ToString(cmd.CommandId), "DocumentVersion": aws.ToString(cmd.DocumentVersion),
		"Status": string(cmd.Status), "StatusDetails": aws.ToString(cmd.StatusDetails),
		"TargetCount": cmd.TargetCount, "CompletedCount": cmd.CompletedCount, "ErrorCount": cmd.ErrorCount,
		"DeliveryTimedOutCount": cmd.DeliveryTimedOutCount, "TimeoutSeconds": aws.ToInt32(cmd.TimeoutSeconds),
		"RequestedDateTime": aws.ToTime(cmd.RequestedDateTime).UTC(), "ExpiresAfter": aws.ToTime(cmd.ExpiresAfter).UTC(),
		"Parameters": cmd.Parameters, "InstanceIds": cmd.InstanceIds, "Targets": len(cmd.Targets),
		"NotificationArn":         aws.ToString(cmd.NotificationConfig.NotificationArn),
		"CloudWatchOutputEnabled": cmd.CloudWatchOutputConfig.CloudWatchOutputEnabled,
	}
	want := map[string]any{
		"CommandId": testCommandID, "DocumentVersion": "$DEFAULT",
		"Status": "InProgress", "StatusDetails": "InProgress",
		"TargetCount": int32(4), "CompletedCount": int32(3), "ErrorCount": int32(1),
		"DeliveryTimedOutCount": int32(1), "TimeoutSeconds": int32(3600),
		"RequestedDateTime": t0, "ExpiresAfter": t0.Add(7200 * time.Second),
		"Parameters": map[string][]string{"commands": {"echo hi"}}, "InstanceIds": []string{testInstanceID}, "Targets": 0,
		"NotificationArn": "", "CloudWatchOutputEnabled": false,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decoded command (-want +got):\n%s", diff)
	}
}

func TestSDKListCommands(t *testing.T) {
	t.Parallel()
	fake := newFake()
	c := newClient(t, fake)
	out, err := c.ListCommands(context.Background(), &ssm.ListCommandsInput{
		InstanceId: aws.String(testInstanceID),
		MaxResults: aws.Int32(10),
		NextToken:  aws.String("abc"),
		Filters: []types.CommandFilter{
			{Key: types.CommandFilterKeyInvokedAfter, Value: aws.String("2024-07-07T00:00:00Z")},
			{Key: types.CommandFilterKeyExecutionStage, Value: aws.String("Executing")},
		},
	})
	if err != nil {
		t.Fatalf("ListCommands: %v", err)
	}
	wantIn := service.ListCommandsInput{
		InstanceID: testInstanceID, MaxResults: 10, NextToken: "abc",
		Filters: []service.Filter{{Key: "InvokedAfter", Value: "2024-07-07T00:00:00Z"}, {Key: "ExecutionStage", Value: "Executing"}},
	}
	if diff := cmp.Diff(wantIn, fake.input("ListCommands")); diff != "" {
		t.Errorf("backend input (-want +got):\n%s", diff)
	}
	if len(out.Commands) != 1 || aws.ToString(out.Commands[0].CommandId) != testCommandID {
		t.Fatalf("Commands = %+v, want one command %s", out.Commands, testCommandID)
	}
	if got := aws.ToString(out.NextToken); got != "next-1" {
		t.Errorf("NextToken = %q, want next-1", got)
	}
}

func TestSDKListCommandInvocations(t *testing.T) {
	t.Parallel()
	for _, details := range []bool{false, true} {
		fake := newFake()
		c := newClient(t, fake)
		out, err := c.ListCommandInvocations(context.Background(), &ssm.ListCommandInvocationsInput{
			CommandId: aws.String(testCommandID), Details: details,
		})
		if err != nil {
			t.Fatalf("ListCommandInvocations(details=%v): %v", details, err)
		}
		if got := fake.input("ListCommandInvocations").(service.ListCommandInvocationsInput); got.Details != details || got.CommandID != testCommandID {
			t.Errorf("backend input = %+v", got)
		}
		if len(out.CommandInvocations) != 1 {
			t.Fatalf("got %d invocations, want 1", len(out.CommandInvocations))
		}
		inv := out.CommandInvocations[0]
		if inv.Status != types.CommandInvocationStatusFailed || aws.ToString(inv.StatusDetails) != "Failed" ||
			aws.ToString(inv.InstanceName) != "host1" || !aws.ToTime(inv.RequestedDateTime).Equal(t0) {
			t.Errorf("invocation = %+v", inv)
		}
		if !details {
			if inv.CommandPlugins == nil || len(inv.CommandPlugins) != 0 {
				t.Errorf("CommandPlugins = %#v, want empty list", inv.CommandPlugins)
			}
			continue
		}
		if len(inv.CommandPlugins) != 1 {
			t.Fatalf("CommandPlugins = %+v, want 1", inv.CommandPlugins)
		}
		p := inv.CommandPlugins[0]
		if aws.ToString(p.Name) != "aws:runShellScript" || p.ResponseCode != 2 || p.Status != types.CommandPluginStatusFailed ||
			aws.ToString(p.Output) != "out\n\n----------ERROR-------\nboom\n" ||
			!aws.ToTime(p.ResponseStartDateTime).Equal(t0) || !aws.ToTime(p.ResponseFinishDateTime).Equal(t1) {
			t.Errorf("plugin = %+v (output %q)", p, aws.ToString(p.Output))
		}
		if aws.ToString(out.NextToken) != "tok" {
			t.Errorf("NextToken = %q, want tok", aws.ToString(out.NextToken))
		}
	}
}

func TestSDKGetCommandInvocation(t *testing.T) {
	t.Parallel()
	fake := newFake()
	c := newClient(t, fake)
	out, err := c.GetCommandInvocation(context.Background(), &ssm.GetCommandInvocationInput{
		CommandId: aws.String(testCommandID), InstanceId: aws.String(testInstanceID), PluginName: aws.String("aws:runShellScript"),
	})
	if err != nil {
		t.Fatalf("GetCommandInvocation: %v", err)
	}
	if diff := cmp.Diff([]string{testCommandID, testInstanceID, "aws:runShellScript"}, fake.input("GetCommandInvocation")); diff != "" {
		t.Errorf("backend input (-want +got):\n%s", diff)
	}
	got := map[string]any{
		"ResponseCode": out.ResponseCode, "Status": string(out.Status), "StatusDetails": aws.ToString(out.StatusDetails),
		"Start": aws.ToString(out.ExecutionStartDateTime), "End": aws.ToString(out.ExecutionEndDateTime),
		"Elapsed": aws.ToString(out.ExecutionElapsedTime), "Stdout": aws.ToString(out.StandardOutputContent),
		"Stderr": aws.ToString(out.StandardErrorContent), "PluginName": aws.ToString(out.PluginName),
		"DocumentVersion": aws.ToString(out.DocumentVersion),
	}
	want := map[string]any{
		"ResponseCode": int32(2), "Status": "Failed", "StatusDetails": "Failed",
		"Start": "2019-02-14T19:26:26.439Z", "End": "2019-02-14T19:26:26.980Z", "Elapsed": "PT0.541S",
		"Stdout": "out\n", "Stderr": "boom\n", "PluginName": "aws:runShellScript", "DocumentVersion": "$DEFAULT",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decoded result (-want +got):\n%s", diff)
	}
}

func TestGetCommandInvocationNotStarted(t *testing.T) {
	t.Parallel()
	fake := newFake()
	fake.inv.Plugin = nil
	fake.inv.Invocation = &runcmd.Invocation{CommandID: testCommandID, InstanceID: testInstanceID, Detail: runcmd.DetailPending}
	c := newClient(t, fake)
	out, err := c.GetCommandInvocation(context.Background(), &ssm.GetCommandInvocationInput{
		CommandId: aws.String(testCommandID), InstanceId: aws.String(testInstanceID),
	})
	if err != nil {
		t.Fatalf("GetCommandInvocation: %v", err)
	}
	if out.ResponseCode != -1 || out.Status != types.CommandInvocationStatusPending ||
		aws.ToString(out.ExecutionStartDateTime) != "" || aws.ToString(out.ExecutionElapsedTime) != "" {
		t.Errorf("not started: ResponseCode=%d Status=%s Start=%q Elapsed=%q", out.ResponseCode, out.Status,
			aws.ToString(out.ExecutionStartDateTime), aws.ToString(out.ExecutionElapsedTime))
	}
}

func TestSDKCancelCommand(t *testing.T) {
	t.Parallel()
	fake := newFake()
	c := newClient(t, fake)
	if _, err := c.CancelCommand(context.Background(), &ssm.CancelCommandInput{
		CommandId: aws.String(testCommandID), InstanceIds: []string{testInstanceID},
	}); err != nil {
		t.Fatalf("CancelCommand: %v", err)
	}
	want := service.CancelCommandInput{CommandID: testCommandID, InstanceIDs: []string{testInstanceID}}
	if diff := cmp.Diff(want, fake.input("CancelCommand")); diff != "" {
		t.Errorf("backend input (-want +got):\n%s", diff)
	}
}

func TestSDKDescribeInstanceInformation(t *testing.T) {
	t.Parallel()
	fake := newFake()
	c := newClient(t, fake)
	out, err := c.DescribeInstanceInformation(context.Background(), &ssm.DescribeInstanceInformationInput{
		Filters:    []types.InstanceInformationStringFilter{{Key: aws.String("PingStatus"), Values: []string{"Online"}}},
		MaxResults: aws.Int32(5),
	})
	if err != nil {
		t.Fatalf("DescribeInstanceInformation: %v", err)
	}
	wantIn := service.DescribeInstanceInformationInput{
		Filters: []service.InstanceFilter{{Key: "PingStatus", Values: []string{"Online"}}}, MaxResults: 5,
	}
	if diff := cmp.Diff(wantIn, fake.input("DescribeInstanceInformation")); diff != "" {
		t.Errorf("backend input (-want +got):\n%s", diff)
	}
	if len(out.InstanceInformationList) != 1 {
		t.Fatalf("got %d instances, want 1", len(out.InstanceInformationList))
	}
	i := out.InstanceInformationList[0]
	if aws.ToString(i.InstanceId) != testInstanceID || i.PingStatus != types.PingStatusOnline || i.PlatformType != types.PlatformTypeLinux ||
		i.ResourceType != types.ResourceTypeManagedInstance || !aws.ToTime(i.LastPingDateTime).Equal(t1) ||
		aws.ToString(i.IPAddress) != "10.0.0.1" || aws.ToString(i.AgentVersion) != "0.1.0" || i.SourceType != types.SourceTypeAwsSsmManagedinstance {
		t.Errorf("instance = %+v", i)
	}
}

func TestSDKListDocuments(t *testing.T) {
	t.Parallel()
	fake := newFake()
	c := newClient(t, fake)
	out, err := c.ListDocuments(context.Background(), &ssm.ListDocumentsInput{
		DocumentFilterList: []types.DocumentFilter{{Key: types.DocumentFilterKeyOwner, Value: aws.String("Amazon")}},
		Filters:            []types.DocumentKeyValuesFilter{{Key: aws.String("DocumentType"), Values: []string{"Command"}}},
	})
	if err != nil {
		t.Fatalf("ListDocuments: %v", err)
	}
	wantIn := service.ListDocumentsInput{Filters: []service.DocumentFilter{
		{Key: "Owner", Values: []string{"Amazon"}}, {Key: "DocumentType", Values: []string{"Command"}},
	}}
	if diff := cmp.Diff(wantIn, fake.input("ListDocuments")); diff != "" {
		t.Errorf("backend input (-want +got):\n%s", diff)
	}
	if len(out.DocumentIdentifiers) != 1 {
		t.Fatalf("got %d documents, want 1", len(out.DocumentIdentifiers))
	}
	d := out.DocumentIdentifiers[0]
	var tags []string
	for _, tg := range d.Tags {
		tags = append(tags, aws.ToString(tg.Key)+"="+aws.ToString(tg.Value))
	}
	if aws.ToString(d.Name) != "AWS-RunShellScript" || d.DocumentType != types.DocumentTypeCommand ||
		d.DocumentFormat != types.DocumentFormatJson || len(d.PlatformTypes) != 2 || !cmp.Equal(tags, []string{"a=1", "b=2"}) {
		t.Errorf("document = %+v tags %v", d, tags)
	}
}

func TestSDKDescribeDocument(t *testing.T) {
	t.Parallel()
	fake := newFake()
	c := newClient(t, fake)
	out, err := c.DescribeDocument(context.Background(), &ssm.DescribeDocumentInput{
		Name: aws.String("AWS-RunShellScript"), DocumentVersion: aws.String("$LATEST"),
	})
	if err != nil {
		t.Fatalf("DescribeDocument: %v", err)
	}
	if diff := cmp.Diff([]string{"AWS-RunShellScript", "$LATEST", ""}, fake.input("DescribeDocument")); diff != "" {
		t.Errorf("backend input (-want +got):\n%s", diff)
	}
	d := out.Document
	if aws.ToString(d.Hash) != "abc" || d.HashType != types.DocumentHashTypeSha256 || d.Status != types.DocumentStatusActive ||
		aws.ToString(d.DefaultVersion) != "1" || !aws.ToTime(d.CreatedDate).Equal(t0) || len(d.Parameters) != 1 ||
		aws.ToString(d.Parameters[0].Name) != "commands" || d.Parameters[0].Type != types.DocumentParameterTypeStringList ||
		d.Parameters[0].DefaultValue == nil || d.Tags == nil {
		t.Errorf("document = %+v", d)
	}
}

func TestSDKGetDocument(t *testing.T) {
	t.Parallel()
	fake := newFake()
	c := newClient(t, fake)
	out, err := c.GetDocument(context.Background(), &ssm.GetDocumentInput{
		Name: aws.String("AWS-RunShellScript"), DocumentFormat: types.DocumentFormatYaml,
	})
	if err != nil {
		t.Fatalf("GetDocument: %v", err)
	}
	if diff := cmp.Diff(service.GetDocumentInput{Name: "AWS-RunShellScript", DocumentFormat: "YAML"}, fake.input("GetDocument")); diff != "" {
		t.Errorf("backend input (-want +got):\n%s", diff)
	}
	if aws.ToString(out.Content) != `{"schemaVersion":"1.2"}` || aws.ToString(out.Name) != "AWS-RunShellScript" ||
		out.DocumentType != types.DocumentTypeCommand || out.Status != types.DocumentStatusActive {
		t.Errorf("document = %+v", out)
	}
}

// TestSDKErrors checks that the SDK turns our error bodies into its typed errors.
func TestSDKErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	get := func(c *ssm.Client) error {
		_, err := c.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{
			CommandId: aws.String(testCommandID), InstanceId: aws.String(testInstanceID),
		})
		return err
	}
	send := func(c *ssm.Client) error {
		_, err := c.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: []string{testInstanceID}})
		return err
	}
	tests := []struct {
		name    string
		backend error
		call    func(*ssm.Client) error
		check   func(error) bool
		code    string
		message string
	}{
		{
			name:    "named error",
			backend: runcmd.Errorf(runcmd.EINVALID, "InvalidInstanceId", "node %s is not registered", testInstanceID),
			call:    send,
			check:   func(err error) bool { var e *types.InvalidInstanceId; return errors.As(err, &e) },
			code:    "InvalidInstanceId",
			message: "node " + testInstanceID + " is not registered",
		},
		{
			name:    "not found defaults per operation",
			backend: runcmd.Errorf(runcmd.ENOTFOUND, "", "no such invocation"),
			call:    get,
			check:   func(err error) bool { var e *types.InvocationDoesNotExist; return errors.As(err, &e) },
			code:    "InvocationDoesNotExist",
			// The model gives InvocationDoesNotExist no Message member, so the SDK drops the text
			// (the wire carries it; see TestErrorBody).
			message: "",
		},
		{
			name:    "invalid defaults to ValidationException",
			backend: runcmd.Errorf(runcmd.EINVALID, "", "bad"),
			call:    get,
			check:   func(err error) bool { var e *types.ValidationException; return errors.As(err, &e) },
			code:    "ValidationException",
			message: "bad",
		},
		{
			name:    "unauthorized",
			backend: runcmd.Errorf(runcmd.EUNAUTHORIZED, "", "no"),
			call:    get,
			check:   func(err error) bool { var e *types.AccessDeniedException; return errors.As(err, &e) },
			code:    "AccessDeniedException",
			message: "no",
		},
		{
			name:    "internal hides the detail",
			backend: errors.New("dynamodb: connection refused to 10.1.2.3"),
			call:    send,
			check:   func(err error) bool { var e *types.InternalServerError; return errors.As(err, &e) },
			code:    "InternalServerError",
			message: "internal error",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newFake()
			fake.err = tt.backend
			err := tt.call(newClient(t, fake))
			if err == nil || !tt.check(err) {
				t.Fatalf("err = %v (%T), want %s", err, err, tt.code)
			}
			var api smithy.APIError
			if !errors.As(err, &api) || api.ErrorCode() != tt.code || api.ErrorMessage() != tt.message {
				t.Errorf("API error = %v, want code %s message %q", err, tt.code, tt.message)
			}
		})
	}
}

// TestSDKValidationError checks a model violation end to end: the SDK's own client-side validation
// does not check patterns or lengths, so the server's ValidationException is what the caller sees.
func TestSDKValidationError(t *testing.T) {
	t.Parallel()
	fake := newFake()
	_, err := newClient(t, fake).GetCommandInvocation(context.Background(), &ssm.GetCommandInvocationInput{
		CommandId: aws.String("abc"), InstanceId: aws.String(testInstanceID),
	})
	var e *types.ValidationException
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want ValidationException", err)
	}
	want := "1 validation error detected: Value 'abc' at 'commandId' failed to satisfy constraint: Member must have length greater than or equal to 36"
	if e.ErrorMessage() != want {
		t.Errorf("message = %q, want %q", e.ErrorMessage(), want)
	}
	if fake.input("GetCommandInvocation") != nil {
		t.Error("backend was called for an invalid request")
	}
}

func TestErrorBody(t *testing.T) {
	t.Parallel()
	fake := newFake()
	fake.err = runcmd.Errorf(runcmd.ENOTFOUND, "", "no such invocation")
	rec := httptest.NewRecorder()
	NewHandler(fake, nil).ServeHTTP(rec, newRequest("AmazonSSM.GetCommandInvocation",
		`{"CommandId":"`+testCommandID+`","InstanceId":"`+testInstanceID+`"}`))
	want := `{"__type":"InvocationDoesNotExist","message":"no such invocation"}`
	if rec.Code != http.StatusBadRequest || rec.Body.String() != want {
		t.Errorf("got %d %s, want 400 %s", rec.Code, rec.Body, want)
	}
}

func TestToAPIError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want apiError
	}{
		{runcmd.Errorf(runcmd.ENOTFOUND, "InvalidDocument", "x"), apiError{400, "InvalidDocument", "x"}},
		{runcmd.Errorf(runcmd.ENOTFOUND, "", "x"), apiError{400, "InvalidCommandId", "x"}},
		{runcmd.Errorf(runcmd.ECONFLICT, "", "x"), apiError{400, "TooManyUpdates", "x"}},
		{runcmd.Errorf(runcmd.ELIMIT, "", "x"), apiError{400, "ResourceLimitExceededException", "x"}},
		{runcmd.Errorf(runcmd.EUNAUTHORIZED, "", "x"), apiError{400, "AccessDeniedException", "x"}},
		{runcmd.Errorf(runcmd.EINTERNAL, "Whatever", "secret"), apiError{500, "InternalServerError", "internal error"}},
		{runcmd.Errorf("bogus", "", "secret"), apiError{500, "InternalServerError", "internal error"}},
		{errors.New("secret"), apiError{500, "InternalServerError", "internal error"}},
	}
	for _, tt := range tests {
		if got := toAPIError(tt.err, "InvalidCommandId"); got != tt.want {
			t.Errorf("toAPIError(%v) = %+v, want %+v", tt.err, got, tt.want)
		}
	}
}

func TestBackendPanicIsInternalError(t *testing.T) {
	t.Parallel()
	h := NewHandler(panicBackend{newFake()}, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, newRequest("AmazonSSM.CancelCommand", `{"CommandId":"`+testCommandID+`"}`))
	if rec.Code != http.StatusInternalServerError || errorType(t, rec) != "InternalServerError" {
		t.Errorf("got %d %s, want 500 InternalServerError", rec.Code, rec.Body)
	}
}

type panicBackend struct{ *fakeBackend }

func (panicBackend) CancelCommand(context.Context, service.CancelCommandInput) error { panic("boom") }
