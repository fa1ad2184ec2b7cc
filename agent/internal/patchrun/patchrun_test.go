package patchrun

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/patch"
	"github.com/runcmd/runcmd/patch/simulated"
)

const instanceID = "mi-0123456789abcdef0"

// snapshotAPI answers GetDeployablePatchSnapshotForInstance with a data: URL, as the api does: of the
// request's BaselineOverride when it has one (refused unless it is for osys, the node's system), else of
// b. It records the requests it was sent.
type snapshotAPI struct {
	b        patch.Baseline
	osys     patch.OperatingSystem
	requests *[]map[string]any
}

func (a snapshotAPI) Call(ctx context.Context, op string, in, out any) error {
	raw, err := json.Marshal(in)
	if err != nil {
		return err
	}
	var args struct {
		InstanceID       string          `json:"InstanceId"`
		SnapshotID       string          `json:"SnapshotId"`
		BaselineOverride *patch.Baseline `json:"BaselineOverride"`
	}
	if err := json.Unmarshal(raw, &args); err != nil {
		return err
	}
	if a.requests != nil {
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		*a.requests = append(*a.requests, m)
	}
	b := a.b
	if o := args.BaselineOverride; o != nil {
		if o.OperatingSystem != cmp.Or(a.osys, patch.AmazonLinux2023) {
			return errors.New("ValidationException: BaselineOverride is for another operating system")
		}
		b = *o
		b.BaselineID, b.Name = "BaselineOverride", "BaselineOverride"
	}
	snap, err := patch.NewSnapshot(args.SnapshotID, args.InstanceID, "prod", b, time.Now())
	if err != nil {
		return err
	}
	body, _ := json.Marshal(snap)
	resp, _ := json.Marshal(map[string]string{"SnapshotDownloadUrl": "data:application/json;base64," + base64.StdEncoding.EncodeToString(body)})
	return json.Unmarshal(resp, out)
}

type outbox struct{ bodies []string }

func (o *outbox) Send(ctx context.Context, body string) error {
	o.bodies = append(o.bodies, body)
	return nil
}

// realSource hides the simulated source's Reboot, so the run behaves as on a real package manager.
type realSource struct{ patch.Source }

const inventory = `{"product": "Demo", "packages": [
  {"name": "openssl", "arch": "x86_64", "installed": {"version": "3.0.1-1"},
   "updates": [{"version": "3.0.2-1", "classification": "Security", "severity": "Critical", "releaseDate": "2025-01-02T00:00:00Z"}]}]}`

func setup(t *testing.T) (Options, *outbox, ed25519.PublicKey, string) {
	t.Helper()
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.json")
	if err := os.WriteFile(inv, []byte(inventory), 0o600); err != nil {
		t.Fatal(err)
	}
	pub, key, _ := ed25519.GenerateKey(nil)
	b := patch.Baseline{BaselineID: "pb-0123456789abcdef0", Name: "crit", OperatingSystem: patch.AmazonLinux2023,
		ApprovalRules: &patch.RuleGroup{PatchRules: []patch.Rule{{ComplianceLevel: patch.LevelCritical, ApproveAfterDays: new(int),
			PatchFilterGroup: patch.FilterGroup{PatchFilters: []patch.Filter{{Key: patch.KeyClassification, Values: []string{"Security"}}}}}}}}
	out := &outbox{}
	return Options{InstanceID: instanceID, CommandID: "c1", StateDir: dir, Key: key, API: snapshotAPI{b: b},
		Source: simulated.New(inv, nil), Outbox: out, Stdout: &bytes.Buffer{}}, out, pub, inv
}

func lastReport(t *testing.T, out *outbox, pub ed25519.PublicKey) (runcmd.PatchReport, []runcmd.ComplianceItem) {
	t.Helper()
	var m runcmd.ResultMessage
	if err := json.Unmarshal([]byte(out.bodies[len(out.bodies)-1]), &m); err != nil {
		t.Fatal(err)
	}
	if err := m.Verify(pub, time.Now()); err != nil {
		t.Fatalf("report signature: %v", err)
	}
	items, err := m.PatchReport.Items()
	if err != nil {
		t.Fatal(err)
	}
	return *m.PatchReport, items
}

func TestScanThenInstallWithSimulatedReboot(t *testing.T) {
	t.Parallel()
	o, out, pub, _ := setup(t)
	o.Operation = "Scan"
	code, err := Run(t.Context(), o)
	if err != nil || code != ExitOK {
		t.Fatalf("Scan: exit %d, %v", code, err)
	}
	rep, items := lastReport(t, out, pub)
	if rep.State.MissingCount != 1 || rep.State.CriticalNonCompliantCount != 1 || rep.State.Operation != "Scan" || rep.CommandID != "c1" {
		t.Errorf("Scan state = %+v", rep.State)
	}
	if len(items) != 1 || items[0].Severity != "CRITICAL" || items[0].Status != "NON_COMPLIANT" || items[0].ID != "openssl.x86_64" {
		t.Errorf("Scan items = %+v", items)
	}

	o.Operation, o.RebootOption = "Install", "RebootIfNeeded"
	code, err = Run(t.Context(), o)
	if err != nil || code != ExitOK {
		t.Fatalf("Install: exit %d, %v (a simulated node reboots itself)", code, err)
	}
	rep, items = lastReport(t, out, pub)
	if rep.State.InstalledCount != 1 || rep.State.InstalledPendingRebootCount != 0 || rep.State.Operation != "Install" {
		t.Errorf("Install state = %+v", rep.State)
	}
	if len(items) != 1 || items[0].Status != "COMPLIANT" || items[0].Details["PatchState"] != "Installed" {
		t.Errorf("Install items = %+v", items)
	}
	if !strings.Contains(o.Stdout.(*bytes.Buffer).String(), "Simulated reboot") {
		t.Errorf("output does not mention the simulated reboot:\n%s", o.Stdout)
	}
}

func TestInstallNoRebootLeavesPendingReboot(t *testing.T) {
	t.Parallel()
	o, out, pub, _ := setup(t)
	o.Operation, o.RebootOption = "Install", "NoReboot"
	code, err := Run(t.Context(), o)
	if err != nil || code != ExitOK {
		t.Fatalf("Install NoReboot: exit %d, %v", code, err)
	}
	rep, _ := lastReport(t, out, pub)
	if rep.State.InstalledPendingRebootCount != 1 || rep.State.LastNoRebootInstallOperationTime.IsZero() {
		t.Errorf("state = %+v, want one InstalledPendingReboot", rep.State)
	}
	// The pending state survives to the next Scan through the state file.
	o.Operation = "Scan"
	if code, err := Run(t.Context(), o); err != nil || code != ExitOK {
		t.Fatalf("Scan: exit %d, %v", code, err)
	}
	if rep, _ := lastReport(t, out, pub); rep.State.InstalledPendingRebootCount != 1 {
		t.Errorf("Scan after NoReboot: %+v, want still pending reboot", rep.State)
	}
}

func TestInstallOnRealSourceAsksForReboot(t *testing.T) {
	t.Parallel()
	o, out, pub, _ := setup(t)
	o.Source = realSource{o.Source}
	o.Operation, o.RebootOption = "Install", "RebootIfNeeded"
	code, err := Run(t.Context(), o)
	if err != nil || code != ExitReboot {
		t.Fatalf("Install: exit %d, %v; want %d", code, err, ExitReboot)
	}
	// After the reboot (boot time later than the install) the step runs again and reports Installed.
	o.BootTime = time.Now().Add(time.Second)
	code, err = Run(t.Context(), o)
	if err != nil || code != ExitOK {
		t.Fatalf("Install after reboot: exit %d, %v", code, err)
	}
	if rep, _ := lastReport(t, out, pub); rep.State.InstalledCount != 1 || rep.State.InstalledPendingRebootCount != 0 {
		t.Errorf("state after reboot = %+v", rep.State)
	}
}

func TestPickSource(t *testing.T) {
	t.Parallel()
	none := func(string) (string, error) { return "", os.ErrNotExist }
	if _, err := pickSource("", t.TempDir(), none); err == nil {
		t.Error("with no package manager and no selection, a source was picked (the simulated one must never be the default)")
	}
	src, err := pickSource("simulated", "/state", none)
	if _, ok := src.(*simulated.Source); err != nil || !ok {
		t.Errorf("simulated: %T %v", src, err)
	}
	if _, err := pickSource("zypper", "/state", none); err == nil {
		t.Error("an unknown source was accepted")
	}
}
