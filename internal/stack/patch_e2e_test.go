package stack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/runcmd/runcmd/agent/node"
	"github.com/runcmd/runcmd/internal/config"
	"github.com/runcmd/runcmd/internal/stack"
	"github.com/runcmd/runcmd/patch"
)

// inventory is a simulated node's package list: one critical security update missing, or none.
func inventory(missingCritical bool) string {
	openssl := `{"name": "openssl", "arch": "x86_64", "installed": {"version": "3.0.1-1"}`
	if missingCritical {
		openssl += `, "updates": [{"version": "3.0.2-1", "classification": "Security", "severity": "Critical",
			"priority": "important", "releaseDate": "2025-01-02T00:00:00Z", "cveIds": ["CVE-2025-0001"], "advisoryIds": ["DSA-0001-1"]}]`
	}
	return `{"product": "Demo", "packages": [` + openssl + `}, {"name": "bash", "arch": "x86_64", "installed": {"version": "5.2.15-1"}}]}`
}

// criticalBaseline approves security updates with compliance level CRITICAL, in the filter keys of
// the node's operating system family.
func criticalBaseline(os patch.OperatingSystem) *ssm.CreatePatchBaselineInput {
	rule := types.PatchRule{ComplianceLevel: types.PatchComplianceLevelCritical, ApproveAfterDays: aws.Int32(0),
		PatchFilterGroup: &types.PatchFilterGroup{PatchFilters: []types.PatchFilter{
			{Key: types.PatchFilterKeyClassification, Values: []string{"Security"}},
			{Key: types.PatchFilterKeySeverity, Values: []string{"Critical"}},
		}}}
	if os.Family() == patch.FamilyApt {
		rule.PatchFilterGroup.PatchFilters = []types.PatchFilter{{Key: types.PatchFilterKeyPriority, Values: []string{"Required", "Important"}}}
	}
	return &ssm.CreatePatchBaselineInput{Name: aws.String("prod-critical"), OperatingSystem: types.OperatingSystem(os),
		ApprovalRules: &types.PatchRuleGroup{PatchRules: []types.PatchRule{rule}},
		Description:   aws.String("Security updates are critical in production")}
}

// patchFleet is the local stack with two real agents (the PatchLinux step runs the runcmd-agent
// binary) tagged Workload=Prod and Patch Group=prod over simulated package sources: ids[0] misses a
// critical security update, ids[1] misses nothing. A baseline rating security updates CRITICAL is
// registered for group prod.
type patchFleet struct {
	*host
	ids      []string
	os       patch.OperatingSystem // the nodes'
	baseline string
}

func startPatchFleet(t *testing.T, name string) *patchFleet {
	t.Helper()
	bin := buildAgent(t)
	var h *host
	// Registered before the host's own clean-up, so it runs after the host and the agents stopped.
	t.Cleanup(func() {
		if h != nil {
			deletePrefixed(t, h.cfg, strings.TrimSuffix(h.res.CommandsTable, "-commands"))
		}
	})
	h = startHost(t, name)
	dirs := []string{filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")}
	ids, err := stack.RegisterNodes(h.ctx, h.cfg, h.endpoint, map[string]string{"Workload": "Prod", "Patch Group": "prod"}, dirs)
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"), "RUNCMD_PATCH_SOURCE=simulated")
	for i, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, "simulated-inventory.json"), []byte(inventory(i == 0)), 0o600); err != nil {
			t.Fatal(err)
		}
		a, err := node.NewAWS(h.ctx, h.cfg, node.Config{StateDir: d, Logger: h.log, Grace: time.Second, Env: env}, node.NamesFrom(h.res))
		if err != nil {
			t.Fatal(err)
		}
		h.wg.Go(func() { _ = a.Run(h.ctx) })
	}
	(&system{endpoint: h.endpoint, agents: ids, client: h.client}).waitOnline(t)

	info, err := h.client.DescribeInstanceInformation(h.ctx, &ssm.DescribeInstanceInformationInput{
		Filters: []types.InstanceInformationStringFilter{{Key: aws.String("InstanceIds"), Values: ids[:1]}}})
	if err != nil || len(info.InstanceInformationList) != 1 {
		t.Fatalf("DescribeInstanceInformation: %v", err)
	}
	ii := info.InstanceInformationList[0]
	osys, ok := patch.OperatingSystemFor(string(ii.PlatformType), aws.ToString(ii.PlatformName), aws.ToString(ii.PlatformVersion))
	if !ok {
		t.Skipf("the host's platform %s %s has no patch baselines", aws.ToString(ii.PlatformName), aws.ToString(ii.PlatformVersion))
	}
	created, err := h.client.CreatePatchBaseline(h.ctx, criticalBaseline(osys))
	if err != nil {
		t.Fatalf("CreatePatchBaseline: %v", err)
	}
	if _, err := h.client.RegisterPatchBaselineForPatchGroup(h.ctx, &ssm.RegisterPatchBaselineForPatchGroupInput{
		BaselineId: created.BaselineId, PatchGroup: aws.String("prod")}); err != nil {
		t.Fatalf("RegisterPatchBaselineForPatchGroup: %v", err)
	}
	return &patchFleet{host: h, ids: ids, os: osys, baseline: aws.ToString(created.BaselineId)}
}

// waitCompliance polls until the Patch summary has the wanted counts (ingest is asynchronous).
func (f *patchFleet) waitCompliance(t *testing.T, compliant, nonCompliant, critical int32) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := f.client.ListComplianceSummaries(f.ctx, &ssm.ListComplianceSummariesInput{Filters: []types.ComplianceStringFilter{
			{Key: aws.String("ComplianceType"), Values: []string{"Patch"}, Type: types.ComplianceQueryOperatorTypeEqual}}})
		if err == nil && len(out.ComplianceSummaryItems) == 1 {
			sum := out.ComplianceSummaryItems[0]
			if sum.CompliantSummary.CompliantCount == compliant && sum.NonCompliantSummary.NonCompliantCount == nonCompliant &&
				sum.NonCompliantSummary.SeveritySummary.CriticalCount == critical {
				return
			}
		}
		if time.Now().After(deadline) {
			b, _ := json.Marshal(out)
			t.Fatalf("Patch compliance never reached %d compliant / %d non-compliant (%d critical): %v %s", compliant, nonCompliant, critical, err, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitSuccess waits for a command to finish and fails the test, with every invocation's details,
// unless it succeeded.
func (f *patchFleet) waitSuccess(t *testing.T, id string) {
	t.Helper()
	if cmd := waitDone(t, f.client, id); cmd.Status != types.CommandStatusSuccess {
		inv, _ := f.client.ListCommandInvocations(f.ctx, &ssm.ListCommandInvocationsInput{CommandId: aws.String(id), Details: true})
		b, _ := json.MarshalIndent(inv, "", " ")
		t.Fatalf("command %s: %s\n%s", id, cmd.Status, b)
	}
}

// skipMessage is what the agent prints for an AWS-RunPatchBaseline step whose platform precondition
// does not hold (PatchWindows and PatchMacOS on Linux).
func skipMessage(step string) string {
	return fmt.Sprintf("Step execution skipped due to unsatisfied preconditions: '\"StringEquals\": [platformType, %s]'. Step name: %s",
		strings.TrimPrefix(step, "Patch"), step)
}

// TestPatchWalkthrough is the operator's walkthrough with the SDK: scan the Prod nodes one at a time
// with an error threshold of 1, see the critical missing patch in Compliance, install, and see the
// nodes compliant.
func TestPatchWalkthrough(t *testing.T) {
	f := startPatchFleet(t, "pe2e")
	ctx, c, ids, critical := f.ctx, f.client, f.ids, f.ids[0]
	run := func(op string) string {
		t.Helper()
		sent, err := c.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunPatchBaseline"),
			Targets:        []types.Target{{Key: aws.String("tag:Workload"), Values: []string{"Prod"}}},
			Parameters:     map[string][]string{"Operation": {op}},
			MaxConcurrency: aws.String("1"), MaxErrors: aws.String("1")})
		if err != nil {
			t.Fatalf("SendCommand %s: %v", op, err)
		}
		id := aws.ToString(sent.Command.CommandId)
		f.waitSuccess(t, id)
		return id
	}

	scan := run("Scan")
	// PatchWindows and PatchMacOS are skipped on Linux with SSM's message.
	for _, step := range []string{"PatchWindows", "PatchMacOS"} {
		inv, err := c.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{CommandId: aws.String(scan), InstanceId: aws.String(critical), PluginName: aws.String(step)})
		if err != nil {
			t.Fatalf("GetCommandInvocation %s: %v", step, err)
		}
		if want := skipMessage(step); !strings.Contains(aws.ToString(inv.StandardOutputContent), want) {
			t.Errorf("%s output %q, want %q", step, aws.ToString(inv.StandardOutputContent), skipMessage(step))
		}
	}
	f.waitCompliance(t, 1, 1, 1)
	states, err := c.DescribeInstancePatchStates(ctx, &ssm.DescribeInstancePatchStatesInput{InstanceIds: ids})
	if err != nil || len(states.InstancePatchStates) != 2 {
		t.Fatalf("DescribeInstancePatchStates: %v %+v", err, states)
	}
	for _, ps := range states.InstancePatchStates {
		wantMissing := int32(0)
		if aws.ToString(ps.InstanceId) == critical {
			wantMissing = 1
		}
		if ps.MissingCount != wantMissing || aws.ToInt32(ps.CriticalNonCompliantCount) != wantMissing ||
			aws.ToString(ps.BaselineId) != f.baseline || aws.ToString(ps.PatchGroup) != "prod" || ps.Operation != types.PatchOperationTypeScan {
			t.Errorf("patch state of %s after Scan: %+v", aws.ToString(ps.InstanceId), ps)
		}
	}
	patches, err := c.DescribeInstancePatches(ctx, &ssm.DescribeInstancePatchesInput{InstanceId: aws.String(critical),
		Filters: []types.PatchOrchestratorFilter{{Key: aws.String("State"), Values: []string{"Missing"}}}})
	if err != nil || len(patches.Patches) != 1 || aws.ToString(patches.Patches[0].KBId) != "openssl.x86_64" || patches.Patches[0].State != types.PatchComplianceDataStateMissing {
		t.Fatalf("DescribeInstancePatches Missing: %v %+v", err, patches)
	}
	rs, err := c.ListResourceComplianceSummaries(ctx, &ssm.ListResourceComplianceSummariesInput{Filters: []types.ComplianceStringFilter{
		{Key: aws.String("Status"), Values: []string{"NON_COMPLIANT"}, Type: types.ComplianceQueryOperatorTypeEqual}}})
	if err != nil || len(rs.ResourceComplianceSummaryItems) != 1 || aws.ToString(rs.ResourceComplianceSummaryItems[0].ResourceId) != critical ||
		rs.ResourceComplianceSummaryItems[0].OverallSeverity != types.ComplianceSeverityCritical {
		t.Fatalf("ListResourceComplianceSummaries NON_COMPLIANT: %v %+v", err, rs)
	}

	run("Install")
	f.waitCompliance(t, 2, 0, 0)
	patches, err = c.DescribeInstancePatches(ctx, &ssm.DescribeInstancePatchesInput{InstanceId: aws.String(critical),
		Filters: []types.PatchOrchestratorFilter{{Key: aws.String("KBId"), Values: []string{"openssl.x86_64"}}}})
	if err != nil || len(patches.Patches) != 1 || patches.Patches[0].State != types.PatchComplianceDataStateInstalled {
		t.Fatalf("DescribeInstancePatches after Install: %v %+v", err, patches)
	}
	group, err := c.DescribePatchGroupState(ctx, &ssm.DescribePatchGroupStateInput{PatchGroup: aws.String("prod")})
	if err != nil || group.Instances != 2 || group.InstancesWithMissingPatches != 0 || group.InstancesWithInstalledPatches != 1 {
		t.Fatalf("DescribePatchGroupState: %v %+v", err, group)
	}

	// A BaselineOverride in S3 that blocks openssl, fetched by the runcmd-agent binary with its own S3
	// client: the step output shows openssl InstalledRejected, and nothing reaches Compliance.
	s3c := s3.NewFromConfig(f.cfg, func(o *s3.Options) { o.UsePathStyle = true })
	override := fmt.Sprintf(`[{"OperatingSystem": %q, "RejectedPatches": ["openssl"], "RejectedPatchesAction": "BLOCK"}]`, f.os)
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(f.res.OutputBucket), Key: aws.String("overrides/prod.json"),
		Body: strings.NewReader(override)}); err != nil {
		t.Fatal(err)
	}
	sent, err := c.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunPatchBaseline"), InstanceIds: []string{critical},
		Parameters: map[string][]string{"Operation": {"Scan"}, "BaselineOverride": {"s3://" + f.res.OutputBucket + "/overrides/prod.json"}}})
	if err != nil {
		t.Fatalf("SendCommand with BaselineOverride: %v", err)
	}
	f.waitSuccess(t, aws.ToString(sent.Command.CommandId))
	inv, err := c.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{CommandId: sent.Command.CommandId, InstanceId: aws.String(critical),
		PluginName: aws.String("PatchLinux")})
	if out := aws.ToString(inv.StandardOutputContent); err != nil || !strings.Contains(out, "InstalledRejected") || !strings.Contains(out, "BaselineOverride in use") {
		t.Errorf("PatchLinux output with a BaselineOverride: %v\n%s", err, out)
	}
	f.waitCompliance(t, 2, 0, 0)
}

// deletePrefixed deletes, best effort, the tables, queues (node queues included), topic and bucket a
// test provisioned under prefix: the emulator is shared.
func deletePrefixed(t *testing.T, cfg aws.Config, prefix string) {
	ctx := context.Background()
	ddb := dynamodb.NewFromConfig(cfg)
	for p := dynamodb.NewListTablesPaginator(ddb, &dynamodb.ListTablesInput{}); p.HasMorePages(); {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Logf("list tables to delete: %v", err)
			break
		}
		for _, name := range out.TableNames {
			if strings.HasPrefix(name, prefix+"-") {
				if _, err := ddb.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)}); err != nil {
					t.Logf("delete table %s: %v", name, err)
				}
			}
		}
	}
	sqsc := sqs.NewFromConfig(cfg)
	if qs, err := sqsc.ListQueues(ctx, &sqs.ListQueuesInput{QueueNamePrefix: aws.String(prefix + "-")}); err == nil {
		for _, u := range qs.QueueUrls {
			_, _ = sqsc.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(u)})
		}
	}
	res := config.Names(prefix)
	snsc := sns.NewFromConfig(cfg)
	if out, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(res.EventsTopic)}); err == nil {
		_, _ = snsc.DeleteTopic(ctx, &sns.DeleteTopicInput{TopicArn: out.TopicArn})
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if objs, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(res.OutputBucket)}); err == nil {
		for _, o := range objs.Contents {
			_, _ = s3c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(res.OutputBucket), Key: o.Key})
		}
	}
	_, _ = s3c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(res.OutputBucket)})
}

// waitDone polls ListCommands until the command has finished, riding out the shared emulator's
// transient errors.
func waitDone(t *testing.T, c *ssm.Client, id string) types.Command {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := c.ListCommands(context.Background(), &ssm.ListCommandsInput{CommandId: aws.String(id)})
		if err == nil && len(out.Commands) == 1 {
			switch cmd := out.Commands[0]; cmd.Status {
			case types.CommandStatusPending, types.CommandStatusInProgress, types.CommandStatusCancelling:
			default:
				return cmd
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("command %s did not finish (last error %v)", id, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
