package service_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/fake"
	"github.com/runcmd/runcmd/internal/service"
	"github.com/runcmd/runcmd/patch"
)

const node = "mi-0123456789abcdef0"

func newPatching(t *testing.T, tags map[string]string) (*service.Patching, *fake.InstanceStore) {
	t.Helper()
	inst := fake.NewInstanceStore()
	err := inst.RecordHeartbeat(t.Context(), runcmd.Heartbeat{InstanceID: node, PlatformType: "Linux", PlatformName: "Ubuntu",
		PlatformVersion: "22.04", QueueURL: "q", Tags: tags, At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	p := service.NewPatching(fake.NewPatchBaselineStore(), fake.NewComplianceStore(), inst, "us-east-1")
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	p.Now = func() time.Time { return now }
	return p, inst
}

func snapshotOf(t *testing.T, out service.SnapshotOutput) patch.Snapshot {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(out.SnapshotDownloadURL, service.SnapshotDataURLPrefix))
	if err != nil {
		t.Fatal(err)
	}
	var s patch.Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBaselineResolutionAndSnapshots(t *testing.T) {
	t.Parallel()
	p, _ := newPatching(t, map[string]string{"Patch Group": "web"})
	ctx := t.Context()
	snapID := "11111111-2222-4333-8444-555555555555"

	// No registrations: the predefined Ubuntu default.
	out, err := p.GetDeployablePatchSnapshotForInstance(ctx, node, snapID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := snapshotOf(t, out).Baseline.BaselineID; got != patch.PredefinedARN("us-east-1", patch.IDUbuntuDefault) {
		t.Errorf("default snapshot baseline = %s", got)
	}
	if out.Product != "Ubuntu22.04" {
		t.Errorf("Product = %q", out.Product)
	}

	custom := patch.Baseline{Name: "ubuntu-critical", OperatingSystem: patch.Ubuntu, ApprovalRules: &patch.RuleGroup{PatchRules: []patch.Rule{{
		PatchFilterGroup: patch.FilterGroup{PatchFilters: []patch.Filter{{Key: patch.KeyPriority, Values: []string{"Important"}}}},
		ComplianceLevel:  patch.LevelCritical}}}}
	id, err := p.CreatePatchBaseline(ctx, service.CreatePatchBaselineInput{Baseline: custom, ClientToken: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	if again, err := p.CreatePatchBaseline(ctx, service.CreatePatchBaselineInput{Baseline: custom, ClientToken: "tok"}); err != nil || again != id {
		t.Errorf("retry with the same token = %s, %v; want %s", again, err, id)
	}
	other := custom
	other.Name = "different"
	_, err = p.CreatePatchBaseline(ctx, service.CreatePatchBaselineInput{Baseline: other, ClientToken: "tok"})
	if runcmd.ErrorName(err) != "IdempotentParameterMismatch" {
		t.Errorf("same token, other content: %v", err)
	}
	bad := custom
	bad.ApprovalRules = &patch.RuleGroup{PatchRules: []patch.Rule{{PatchFilterGroup: patch.FilterGroup{PatchFilters: []patch.Filter{{Key: patch.KeySeverity, Values: []string{"Critical"}}}}}}}
	if _, err := p.CreatePatchBaseline(ctx, service.CreatePatchBaselineInput{Baseline: bad}); runcmd.ErrorCode(err) != runcmd.EINVALID {
		t.Errorf("SEVERITY filter on Ubuntu: %v, want a validation error", err)
	}

	// A custom default, then the group's own baseline, take over; the snapshot already frozen under
	// the id stays as it was for its group.
	if _, err := p.RegisterDefaultPatchBaseline(ctx, id); err != nil {
		t.Fatal(err)
	}
	if def, os, err := p.GetDefaultPatchBaseline(ctx, "UBUNTU"); err != nil || def != id || os != "UBUNTU" {
		t.Errorf("GetDefaultPatchBaseline = %s %s %v", def, os, err)
	}
	if err := p.RegisterPatchBaselineForPatchGroup(ctx, id, "web"); err != nil {
		t.Fatal(err)
	}
	if err := p.RegisterPatchBaselineForPatchGroup(ctx, patch.IDUbuntuDefault, "web"); runcmd.ErrorName(err) != "AlreadyExistsException" {
		t.Errorf("second baseline for group web on Ubuntu: %v", err)
	}
	out, err = p.GetDeployablePatchSnapshotForInstance(ctx, node, snapID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := snapshotOf(t, out).Baseline.BaselineID; got != patch.PredefinedARN("us-east-1", patch.IDUbuntuDefault) {
		t.Errorf("the frozen snapshot changed to %s", got)
	}
	out, err = p.GetDeployablePatchSnapshotForInstance(ctx, node, "11111111-2222-4333-8444-666666666666", nil)
	if err != nil {
		t.Fatal(err)
	}
	snap := snapshotOf(t, out)
	if snap.Baseline.BaselineID != id || snap.PatchGroup != "web" {
		t.Errorf("group snapshot = %s for %q, want %s for web", snap.Baseline.BaselineID, snap.PatchGroup, id)
	}
	got, err := p.GetPatchBaseline(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"web"}, got.PatchGroups); diff != "" {
		t.Errorf("PatchGroups (-want +got):\n%s", diff)
	}
	if _, err := p.DeletePatchBaseline(ctx, id); runcmd.ErrorName(err) != "ResourceInUseException" {
		t.Errorf("delete of a registered baseline: %v", err)
	}
	if _, err := p.UpdatePatchBaseline(ctx, service.UpdatePatchBaselineInput{BaselineID: patch.IDUbuntuDefault}); runcmd.ErrorCode(err) != runcmd.EINVALID {
		t.Errorf("update of a predefined baseline: %v", err)
	}
	list, err := p.DescribePatchBaselines(ctx, service.DescribePatchBaselinesInput{Filters: []service.PatchFilter{{Key: "OWNER", Values: []string{"Self"}}}})
	if err != nil || len(list.BaselineIdentities) != 1 || !list.BaselineIdentities[0].DefaultBaseline {
		t.Errorf("DescribePatchBaselines OWNER=Self = %+v, %v", list, err)
	}
	all, err := p.DescribePatchBaselines(ctx, service.DescribePatchBaselinesInput{MaxResults: 4})
	if err != nil || len(all.BaselineIdentities) != 4 || all.NextToken == "" {
		t.Fatalf("first page = %+v, %v", all, err)
	}
	n := len(all.BaselineIdentities)
	for all.NextToken != "" {
		if all, err = p.DescribePatchBaselines(ctx, service.DescribePatchBaselinesInput{MaxResults: 4, NextToken: all.NextToken}); err != nil {
			t.Fatal(err)
		}
		n += len(all.BaselineIdentities)
	}
	if want := len(patch.Predefined("us-east-1")) + 1; n != want {
		t.Errorf("paged through %d baselines, want %d", n, want)
	}
}

// TestIngestPatchReport sends a signed patch report through the Ingester and reads it back through the
// compliance operations.
func TestIngestPatchReport(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	p, inst := newPatching(t, map[string]string{"PatchGroup": "web"})
	pub, key, _ := ed25519.GenerateKey(nil)
	if err := inst.AddTags(ctx, node, map[string]string{}); err != nil {
		t.Fatal(err)
	}
	commands := fake.NewCommandStore()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	cmd := &runcmd.Command{CommandID: "c1", DocumentName: "AWS-RunPatchBaseline", RequestedAt: now, ExpiresAt: now.Add(time.Hour), Detail: runcmd.CommandDetailPending}
	inv := &runcmd.Invocation{CommandID: "c1", InstanceID: node, Seq: 1, Detail: runcmd.DetailPending, RequestedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := commands.CreateCommand(ctx, cmd, []*runcmd.Invocation{inv}); err != nil {
		t.Fatal(err)
	}
	audit := fake.NewAuditStore()
	g := &service.Ingester{Commands: commands, Instances: inst, Dispatch: fake.NewDispatchQueue(), Now: func() time.Time { return now },
		Log: slog.New(slog.DiscardHandler), Keys: &service.NodeKeys{Instances: keyStore{inst, node, pub}, Now: func() time.Time { return now }},
		Audit: audit, Compliance: p.Compliance}

	items := []runcmd.ComplianceItem{
		{ID: "openssl.amd64", Title: "openssl.amd64:3.0.2", Severity: "CRITICAL", Status: "NON_COMPLIANT", Details: map[string]string{"PatchState": "Missing", "Classification": "Security", "PatchSeverity": "important"}},
		{ID: "bash.amd64", Title: "bash.amd64:5.2", Severity: "UNSPECIFIED", Status: "COMPLIANT", Details: map[string]string{"PatchState": "InstalledOther", "InstalledTime": "2025-01-01T00:00:00Z"}},
	}
	gz, err := runcmd.EncodeComplianceItems(items)
	if err != nil {
		t.Fatal(err)
	}
	report := func() runcmd.ResultMessage {
		m := runcmd.ResultMessage{Kind: runcmd.KindPatchReport, PatchReport: &runcmd.PatchReport{CommandID: "c1", InstanceID: node,
			State: runcmd.InstancePatchState{InstanceID: node, PatchGroup: "web", BaselineID: "pb-1", MissingCount: 1, InstalledOtherCount: 1,
				CriticalNonCompliantCount: 1, SecurityNonCompliantCount: 1, Operation: "Scan", OperationStartTime: now, OperationEndTime: now},
			Execution: runcmd.ComplianceExecution{ExecutionTime: now, ExecutionID: "snap", ExecutionType: "Command"}, ItemsGzip: gz}}
		if err := m.Sign(node, key, now); err != nil {
			t.Fatal(err)
		}
		return m
	}
	// The invocation was never sent to the node: the report is refused and audited.
	if errs := g.Handle(ctx, []runcmd.ResultMessage{report()}); errs[0] == nil {
		t.Fatal("a report for a command never sent was accepted")
	}
	if _, err := commands.MarkSent(ctx, "c1", []*runcmd.Invocation{inv}, 1, now); err != nil {
		t.Fatal(err)
	}
	forged := report()
	forged.PatchReport.State.MissingCount = 0 // after signing
	if errs := g.Handle(ctx, []runcmd.ResultMessage{forged}); errs[0] == nil {
		t.Fatal("a report changed after signing was accepted")
	}
	if errs := g.Handle(ctx, []runcmd.ResultMessage{report()}); errs[0] != nil {
		t.Fatal(errs[0])
	}

	states, _, err := p.DescribeInstancePatchStates(ctx, []string{node}, 0, "")
	if err != nil || len(states) != 1 || states[0].MissingCount != 1 {
		t.Fatalf("DescribeInstancePatchStates = %+v, %v", states, err)
	}
	sums, _, err := p.ListComplianceSummaries(ctx, []service.ComplianceFilter{{Key: "ComplianceType", Values: []string{"Patch"}}}, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []runcmd.ComplianceTypeSummary{{ComplianceType: "Patch", NonCompliant: runcmd.SeveritySummary{Critical: 1}}}
	if diff := cmp.Diff(want, sums); diff != "" {
		t.Errorf("ListComplianceSummaries (-want +got):\n%s", diff)
	}
	patches, _, err := p.DescribeInstancePatches(ctx, node, []service.PatchFilter{{Key: "State", Values: []string{"Missing"}}}, 0, "")
	if err != nil || len(patches) != 1 || patches[0].KBID != "openssl.amd64" || patches[0].State != "MISSING" || patches[0].Severity != "important" {
		t.Errorf("DescribeInstancePatches State=Missing = %+v, %v", patches, err)
	}
	res, _, err := p.ListResourceComplianceSummaries(ctx, []service.ComplianceFilter{{Key: "OverallSeverity", Values: []string{"CRITICAL"}}}, 0, "")
	if err != nil || len(res) != 1 || res[0].Status != "NON_COMPLIANT" {
		t.Errorf("ListResourceComplianceSummaries OverallSeverity=CRITICAL = %+v, %v", res, err)
	}
	if _, _, err := p.ListComplianceSummaries(ctx, []service.ComplianceFilter{{Key: "PatchGroup", Values: []string{"web"}}}, 0, ""); runcmd.ErrorName(err) != "InvalidFilter" {
		t.Errorf("unsupported summary filter: %v", err)
	}
	group, err := p.DescribePatchGroupState(ctx, "web")
	if err != nil || group.Instances != 1 || group.InstancesWithCriticalNonCompliantPatches != 1 {
		t.Errorf("DescribePatchGroupState = %+v, %v", group, err)
	}
}

// keyStore answers GetInstances with the node's public key set (the fake registry path is not needed).
type keyStore struct {
	runcmd.InstanceStore
	id  string
	pub ed25519.PublicKey
}

func (k keyStore) GetInstances(ctx context.Context, ids []string) (map[string]*runcmd.Instance, error) {
	m, err := k.InstanceStore.GetInstances(ctx, ids)
	if err != nil {
		return nil, err
	}
	if n, ok := m[k.id]; ok {
		c := *n
		c.PublicKey = k.pub
		m[k.id] = &c
	}
	return m, nil
}
