package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/runcmd/runcmd/patch"
)

// demoPatchGroup is the patch group of the demo's Prod nodes.
const demoPatchGroup = "prod"

// preparePatchDemo makes the demo agents patch simulated package sources: it selects the simulated
// source for every agent of this process (RUNCMD_PATCH_SOURCE=simulated, an inventory file in each
// agent's state directory) and puts runcmd-agent, which the PatchLinux step runs, on PATH. It reports
// false when no runcmd-agent binary is found (build it with `make`).
func preparePatchDemo() bool {
	bin := ""
	if exe, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(exe), "runcmd-agent"); fileExists(p) {
			bin = p
		}
	}
	if bin == "" {
		if p, err := exec.LookPath("runcmd-agent"); err == nil {
			bin = p
		}
	}
	if bin == "" {
		return false
	}
	os.Setenv("PATH", filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	os.Setenv("RUNCMD_PATCH_SOURCE", "simulated") // the demo nodes' packages are simulated, never the host's
	return true
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// writeInventories gives each demo agent its simulated packages: the first Prod node misses a critical
// security update, the others are up to date.
func writeInventories(root string, count int) error {
	for i := range count {
		inv := `{"product": "Demo", "packages": [
  {"name": "openssl", "arch": "x86_64", "installed": {"version": "3.0.1-1"}` + map[bool]string{true: `,
   "updates": [{"version": "3.0.2-1", "classification": "Security", "severity": "Critical", "priority": "important",
                "releaseDate": "2025-01-02T00:00:00Z", "cveIds": ["CVE-2025-0001"], "advisoryIds": ["DSA-0001-1"]}]`}[i == 0] + `},
  {"name": "bash", "arch": "x86_64", "installed": {"version": "5.2.15-1"}}]}
`
		p := filepath.Join(root, fmt.Sprintf("agent-%03d", i), "simulated-inventory.json")
		if err := os.WriteFile(p, []byte(inv), 0o600); err != nil {
			return fmt.Errorf("write simulated inventory: %w", err)
		}
	}
	return nil
}

// runPatchDemo is the Patch Manager walkthrough: a baseline that makes security updates CRITICAL for
// patch group prod, a Scan of the Prod nodes one at a time with an error threshold of 1, the
// compliance summary, an Install, and the summary again.
func runPatchDemo(ctx context.Context, client *ssm.Client, prod []string) error {
	info, err := client.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{
		Filters: []types.InstanceInformationStringFilter{{Key: aws.String("InstanceIds"), Values: prod[:1]}}})
	if err != nil || len(info.InstanceInformationList) == 0 {
		return fmt.Errorf("describe instance information: %w", err)
	}
	ii := info.InstanceInformationList[0]
	osys, ok := patch.OperatingSystemFor(string(ii.PlatformType), aws.ToString(ii.PlatformName), aws.ToString(ii.PlatformVersion))
	if !ok || !osys.Linux() {
		fmt.Printf("\nskipping the patching demo: Patch Manager has no Linux baselines for %s %s\n", aws.ToString(ii.PlatformName), aws.ToString(ii.PlatformVersion))
		return nil
	}
	rule := types.PatchRule{ComplianceLevel: types.PatchComplianceLevelCritical, ApproveAfterDays: aws.Int32(0),
		PatchFilterGroup: &types.PatchFilterGroup{PatchFilters: []types.PatchFilter{
			{Key: types.PatchFilterKeyClassification, Values: []string{"Security"}},
			{Key: types.PatchFilterKeySeverity, Values: []string{"Critical"}}}}}
	if osys.Family() == patch.FamilyApt { // apt baselines filter on priority; security origin is implied
		rule.PatchFilterGroup.PatchFilters = []types.PatchFilter{{Key: types.PatchFilterKeyPriority, Values: []string{"Required", "Important"}}}
	}
	b, err := client.CreatePatchBaseline(ctx, &ssm.CreatePatchBaselineInput{Name: aws.String("demo-prod-critical"),
		OperatingSystem: types.OperatingSystem(osys), ApprovalRules: &types.PatchRuleGroup{PatchRules: []types.PatchRule{rule}},
		Description: aws.String("Security updates are critical in production")})
	if err != nil {
		return fmt.Errorf("create patch baseline: %w", err)
	}
	if _, err := client.RegisterPatchBaselineForPatchGroup(ctx, &ssm.RegisterPatchBaselineForPatchGroupInput{
		BaselineId: b.BaselineId, PatchGroup: aws.String(demoPatchGroup)}); err != nil {
		return fmt.Errorf("register patch group: %w", err)
	}
	fmt.Printf("\npatch baseline %s (%s, security updates CRITICAL) registered for patch group %q\n", aws.ToString(b.BaselineId), osys, demoPatchGroup)

	for _, op := range []string{"Scan", "Install"} {
		fmt.Printf("\nsending AWS-RunPatchBaseline Operation=%s to tag:Workload=Prod (max concurrency 1, max errors 1)\n", op)
		sent, err := client.SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunPatchBaseline"),
			Targets:        []types.Target{{Key: aws.String("tag:Workload"), Values: []string{"Prod"}}},
			Parameters:     map[string][]string{"Operation": {op}},
			MaxConcurrency: aws.String("1"), MaxErrors: aws.String("1"), Comment: aws.String("runcmd demo: patch " + op)})
		if err != nil {
			return fmt.Errorf("send %s: %w", op, err)
		}
		id := aws.ToString(sent.Command.CommandId)
		cmd, err := waitCommand(ctx, client, id)
		if err != nil {
			return err
		}
		fmt.Printf("command %s: %s (%s)\n", id, cmd.Status, aws.ToString(cmd.StatusDetails))
		if err := waitPatchStates(ctx, client, prod, op); err != nil {
			return err
		}
		if err := printCompliance(ctx, client, prod); err != nil {
			return err
		}
	}
	return nil
}

// waitPatchStates waits until every node has reported a patch state for op (reports are ingested
// asynchronously).
func waitPatchStates(ctx context.Context, client *ssm.Client, ids []string, op string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := client.DescribeInstancePatchStates(ctx, &ssm.DescribeInstancePatchStatesInput{InstanceIds: ids})
		if err == nil && len(out.InstancePatchStates) == len(ids) &&
			!slices.ContainsFunc(out.InstancePatchStates, func(s types.InstancePatchState) bool { return string(s.Operation) != op }) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("patch states after %s did not arrive within 30s (last error: %v)", op, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// printCompliance prints what the console's Compliance page shows: the Patch summary with its
// severity breakdown, each node's status, and the patches still missing.
func printCompliance(ctx context.Context, client *ssm.Client, ids []string) error {
	sums, err := client.ListComplianceSummaries(ctx, &ssm.ListComplianceSummariesInput{Filters: []types.ComplianceStringFilter{
		{Key: aws.String("ComplianceType"), Values: []string{"Patch"}, Type: types.ComplianceQueryOperatorTypeEqual}}})
	if err != nil {
		return fmt.Errorf("list compliance summaries: %w", err)
	}
	for _, s := range sums.ComplianceSummaryItems {
		n := s.NonCompliantSummary.SeveritySummary
		fmt.Printf("compliance %s: %d compliant, %d non-compliant (critical %d, high %d, medium %d, low %d, informational %d, unspecified %d)\n",
			aws.ToString(s.ComplianceType), s.CompliantSummary.CompliantCount, s.NonCompliantSummary.NonCompliantCount,
			n.CriticalCount, n.HighCount, n.MediumCount, n.LowCount, n.InformationalCount, n.UnspecifiedCount)
	}
	states, err := client.DescribeInstancePatchStates(ctx, &ssm.DescribeInstancePatchStatesInput{InstanceIds: ids})
	if err != nil {
		return fmt.Errorf("describe instance patch states: %w", err)
	}
	for _, s := range states.InstancePatchStates {
		fmt.Printf("   %s  installed %d, missing %d, critical non-compliant %d\n", aws.ToString(s.InstanceId),
			s.InstalledCount, s.MissingCount, aws.ToInt32(s.CriticalNonCompliantCount))
		patches, err := client.DescribeInstancePatches(ctx, &ssm.DescribeInstancePatchesInput{InstanceId: s.InstanceId,
			Filters: []types.PatchOrchestratorFilter{{Key: aws.String("State"), Values: []string{"Missing"}}}})
		if err != nil {
			return fmt.Errorf("describe instance patches: %w", err)
		}
		for _, p := range patches.Patches {
			fmt.Printf("      missing %s (%s %s, %s)\n", aws.ToString(p.Title), aws.ToString(p.Classification), aws.ToString(p.Severity), aws.ToString(p.CVEIds))
		}
	}
	return nil
}
