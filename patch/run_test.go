package patch_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/patch"
	"github.com/runcmd/runcmd/patch/simulated"
)

var now = time.Date(2025, 2, 1, 12, 0, 0, 0, time.UTC)

// critical approves AL2023 security updates (Critical, Important) 7 days after release as CRITICAL.
var critical = patch.Baseline{
	Name: "prod-critical", OperatingSystem: patch.AmazonLinux2023, BaselineID: "pb-0123456789abcdef0",
	ApprovalRules: &patch.RuleGroup{PatchRules: []patch.Rule{{
		PatchFilterGroup: patch.FilterGroup{PatchFilters: []patch.Filter{
			{Key: patch.KeyClassification, Values: []string{"Security"}},
			{Key: patch.KeySeverity, Values: []string{"Critical", "Important"}},
		}},
		ComplianceLevel: patch.LevelCritical, ApproveAfterDays: ptr(7),
	}}},
}

func ptr(n int) *int { return &n }

func simNode(t *testing.T) (*simulated.Source, string) {
	t.Helper()
	b, err := os.ReadFile("simulated/testdata/al2023-critical.json")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "node.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return simulated.New(path, func() time.Time { return now }), path
}

func snap(t *testing.T, b patch.Baseline) patch.Snapshot {
	t.Helper()
	s, err := patch.NewSnapshot("11111111-2222-4333-8444-555555555555", "i-0123456789abcdef0", "prod", b, now)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func states(r patch.Report) map[string]patch.State {
	m := map[string]patch.State{}
	for _, p := range r.Patches {
		m[p.KBID] = p.State
	}
	return m
}

func clock() func() time.Time { return func() time.Time { return now } }

func TestRunScanInstallRebootCycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, _ := simNode(t)

	scan, err := patch.Run(ctx, src, patch.Request{InstanceID: "i-0123456789abcdef0", Snapshot: snap(t, critical), Operation: patch.Scan, Now: clock()})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]patch.State{
		"openssl-libs.x86_64": patch.StateMissing, "kernel.x86_64": patch.StateMissing,
		"tzdata.noarch": patch.StateInstalledOther, "bash.x86_64": patch.StateInstalledOther,
		"nginx.x86_64": patch.StateNotApplicable,
	}
	if diff := cmp.Diff(want, states(scan)); diff != "" {
		t.Errorf("scan (-want +got):\n%s", diff)
	}
	s := scan.Summary
	if s.MissingCount != 2 || s.CriticalNonCompliantCount != 2 || s.SecurityNonCompliantCount != 2 || !s.NonCompliant() ||
		s.BaselineID != "pb-0123456789abcdef0" || s.PatchGroup != "prod" || s.Operation != patch.Scan ||
		s.SnapshotID != "11111111-2222-4333-8444-555555555555" || s.InstanceID != "i-0123456789abcdef0" {
		t.Errorf("scan summary = %+v", s)
	}
	if scan.RebootRequired || len(scan.Attempted) != 0 {
		t.Errorf("scan wants a reboot or installed something: %+v", scan)
	}

	// Install with RebootIfNeeded: both go in, the node must reboot; they stay pending until it does.
	inst, err := patch.Run(ctx, src, patch.Request{Snapshot: snap(t, critical), Operation: patch.Install, Now: clock()})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]patch.Target{
		{Name: "kernel", Arch: "x86_64", Version: "0:6.1.119-129.201.amzn2023"},
		{Name: "openssl-libs", Arch: "x86_64", Version: "1:3.0.8-1.amzn2023.0.12"},
	}, inst.Installed); diff != "" {
		t.Errorf("installed (-want +got):\n%s", diff)
	}
	if !inst.RebootRequired || inst.Summary.InstalledPendingRebootCount != 2 {
		t.Errorf("install: RebootRequired %v, summary %+v", inst.RebootRequired, inst.Summary)
	}
	if diff := cmp.Diff([]string{"kernel.x86_64", "openssl-libs.x86_64"}, inst.Reboot.PendingReboot); diff != "" {
		t.Errorf("pending reboot (-want +got):\n%s", diff)
	}

	// The agent reboots the simulated node, then scans: compliant, both Installed.
	if err := src.Reboot(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := patch.Run(ctx, src, patch.Request{Snapshot: snap(t, critical), Operation: patch.Scan, Now: clock(),
		Reboot: inst.Reboot, BootTime: now.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if after.Summary.NonCompliant() || after.Summary.InstalledCount != 2 || after.Reboot.PendingReboot != nil {
		t.Errorf("after reboot: summary %+v, pending %v", after.Summary, after.Reboot.PendingReboot)
	}
}

func TestRunNoRebootKeepsPending(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, _ := simNode(t)
	inst, err := patch.Run(ctx, src, patch.Request{Snapshot: snap(t, critical), Operation: patch.Install, RebootOption: patch.NoReboot, Now: clock()})
	if err != nil {
		t.Fatal(err)
	}
	if inst.RebootRequired || inst.Summary.LastNoRebootInstallOperationTime != now {
		t.Errorf("NoReboot: RebootRequired %v, LastNoReboot %v", inst.RebootRequired, inst.Summary.LastNoRebootInstallOperationTime)
	}
	// No reboot happened (boot time before the install): a later scan still reports them pending.
	later, err := patch.Run(ctx, src, patch.Request{Snapshot: snap(t, critical), Operation: patch.Scan, Now: clock(),
		Reboot: inst.Reboot, BootTime: now.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if later.Summary.InstalledPendingRebootCount != 2 || !later.Summary.NonCompliant() {
		t.Errorf("later scan summary = %+v", later.Summary)
	}
}

func TestRunInstallFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, path := simNode(t)
	b, _ := os.ReadFile(path)
	b = []byte(strings.Replace(string(b), `"rebootRequired": true,`, `"rebootRequired": true, "failInstall": true,`, 1))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	inst, err := patch.Run(ctx, src, patch.Request{Snapshot: snap(t, critical), Operation: patch.Install, Now: clock()})
	if err != nil {
		t.Fatal(err)
	}
	if got := states(inst)["kernel.x86_64"]; got != patch.StateFailed {
		t.Errorf("kernel state = %s, want Failed", got)
	}
	if inst.Summary.FailedCount != 1 || len(inst.Failed) != 1 || len(inst.Installed) != 1 {
		t.Errorf("summary %+v, installed %v, failed %v", inst.Summary, inst.Installed, inst.Failed)
	}
}

func TestRunInstallOverrideList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, _ := simNode(t)
	list, err := patch.ParseOverrideList([]byte("patches:\n  - id: 'tzdata.*'\n    title: 'tzdata.noarch:0:2024b-1.amzn2023.0.1'\n"))
	if err != nil {
		t.Fatal(err)
	}
	// Scan ignores the override list.
	scan, err := patch.Run(ctx, src, patch.Request{Snapshot: snap(t, critical), Operation: patch.Scan, Now: clock(), InstallOverrideList: list})
	if err != nil || len(scan.Attempted) != 0 {
		t.Fatalf("scan with override: %v, attempted %v", err, scan.Attempted)
	}
	inst, err := patch.Run(ctx, src, patch.Request{Snapshot: snap(t, critical), Operation: patch.Install, Now: clock(),
		InstallOverrideList: list, InstallOverrideListURL: "s3://bucket/override.yaml", RebootOption: patch.NoReboot})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]patch.Target{{Name: "tzdata", Arch: "noarch", Version: "0:2024b-1.amzn2023.0.1"}}, inst.Installed); diff != "" {
		t.Errorf("installed (-want +got):\n%s", diff)
	}
	// Outside the baseline: InstalledOther, but pending reboot like anything Patch Manager installed.
	st := states(inst)
	if st["tzdata.noarch"] != patch.StateInstalledPendingReboot || st["kernel.x86_64"] != patch.StateMissing {
		t.Errorf("states = %v", st)
	}
	if inst.Summary.InstallOverrideList != "s3://bucket/override.yaml" {
		t.Errorf("InstallOverrideList = %q", inst.Summary.InstallOverrideList)
	}
}

func TestRunValidates(t *testing.T) {
	t.Parallel()
	src, _ := simNode(t)
	for _, req := range []patch.Request{
		{Operation: "Uninstall"},
		{Operation: patch.Scan, RebootOption: "Always"},
		{Operation: patch.Scan, Snapshot: patch.Snapshot{SnapshotID: "x"}},
	} {
		if _, err := patch.Run(context.Background(), src, req); runcmd.ErrorCode(err) != runcmd.EINVALID {
			t.Errorf("Run(%+v) err = %v, want EINVALID", req, err)
		}
	}
}

func TestRunInventoryError(t *testing.T) {
	t.Parallel()
	src := simulated.New(filepath.Join(t.TempDir(), "missing.json"), nil)
	_, err := patch.Run(context.Background(), src, patch.Request{Operation: patch.Scan})
	if err == nil || !strings.Contains(err.Error(), "patch Scan: inventory") {
		t.Errorf("err = %v, want a wrapped inventory error", err)
	}
}

func TestParseOverrideList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     []patch.OverridePatch
		wantErr  bool
	}{
		{"guide example", "patches:\n    -\n        id: 'kernel.x86_64'\n        title: 'kernel.x86_64:0:4.14.238-182.422.amzn2'\n    -\n        id: 'bind*.x86_64'\n        title: '32:9.8.2-0.68.rc1.60.amzn1'\n",
			[]patch.OverridePatch{{ID: "kernel.x86_64", Title: "kernel.x86_64:0:4.14.238-182.422.amzn2"}, {ID: "bind*.x86_64", Title: "32:9.8.2-0.68.rc1.60.amzn1"}}, false},
		{"compact with comments and doc marker", "---\n# override\npatches:\n  - id: \"openssl\" # inline\n  - id: curl\n",
			[]patch.OverridePatch{{ID: "openssl"}, {ID: "curl"}}, false},
		{"json", `{"patches":[{"id":"a.x86_64","title":"a.x86_64:0:1-1"}]}`, []patch.OverridePatch{{ID: "a.x86_64", Title: "a.x86_64:0:1-1"}}, false},
		{"missing id", "patches:\n  - title: x\n", nil, true},
		{"flow sequence is rejected", "patches: [a, b]\n", nil, true},
		{"bad json", `{"patches":`, nil, true},
		{"item outside a list", "patches:\n  id: x\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, err := patch.ParseOverrideList([]byte(tt.in))
			if tt.wantErr {
				if runcmd.ErrorCode(err) != runcmd.EINVALID {
					t.Fatalf("err = %v, want EINVALID", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, l.Patches); diff != "" {
				t.Errorf("patches (-want +got):\n%s", diff)
			}
		})
	}
}
