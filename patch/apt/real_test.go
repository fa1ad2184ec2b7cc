package apt_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/runcmd/runcmd/patch"
	"github.com/runcmd/runcmd/patch/apt"
)

// The tests in this file run the real apt and dpkg of the machine against a throwaway repository and
// an isolated root in the test's temp dir (apt.PrepareRoot), and check that the host's dpkg database
// is untouched. They skip only when the Debian tools are absent.

type deb struct {
	name, version, depends string
}

// repoLayout: which suite offers which package versions.
var repoLayout = map[string][]deb{
	"stable": {
		{"runcmd-demo-a", "1.0", ""}, {"runcmd-demo-a", "2.0", ""}, {"runcmd-demo-b", "1.0", ""},
		{"runcmd-demo-c", "1.0", ""}, {"runcmd-demo-d", "1.0", ""},
	},
	"stable-security": {
		{"runcmd-demo-b", "2.0", ""}, {"runcmd-demo-c", "2.0", "runcmd-demo-d"},
	},
}

func requireDebianTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"dpkg-deb", "dpkg", "dpkg-query", "apt-get", "apt-cache"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping the real apt test: %s is not installed (needs a Debian/Ubuntu machine)", tool)
		}
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func control(d deb) string {
	c := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: runcmd tests <tests@runcmd.invalid>\n"+
		"Priority: optional\nSection: misc\n", d.name, d.version)
	if d.depends != "" {
		c += "Depends: " + d.depends + "\n"
	}
	return c + "Description: runcmd patch/apt test package\n"
}

// buildRepo builds every .deb of repoLayout with dpkg-deb and writes a two-suite repository with
// hand-written Packages and Release files (dpkg-scanpackages and apt-ftparchive may be absent).
func buildRepo(t *testing.T, dir, arch string) string {
	t.Helper()
	repo := filepath.Join(dir, "repo")
	for suite, debs := range repoLayout {
		var idx strings.Builder
		for _, d := range debs {
			tree := filepath.Join(dir, "build", d.name+"_"+d.version)
			writeFile(t, filepath.Join(tree, "DEBIAN/control"), control(d))
			writeFile(t, filepath.Join(tree, "usr/share/doc", d.name, "VERSION"), d.version+"\n")
			rel := "pool/" + d.name + "_" + d.version + "_all.deb"
			path := filepath.Join(repo, rel)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			run(t, "dpkg-deb", "--root-owner-group", "--build", tree, path)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&idx, "%sFilename: %s\nSize: %d\nSHA256: %s\n\n", control(d), rel, fi.Size(), fileSHA256(t, path))
		}
		pkgs := filepath.Join(repo, "dists", suite, "main", "binary-"+arch, "Packages")
		writeFile(t, pkgs, idx.String())
		writeFile(t, filepath.Join(repo, "dists", suite, "Release"), fmt.Sprintf(
			"Origin: runcmd-test\nLabel: runcmd-test\nSuite: %s\nCodename: %s\nArchitectures: %s all\n"+
				"Components: main\nDate: Thu, 01 Jan 2026 00:00:00 UTC\nSHA256:\n %s %d main/binary-%s/Packages\n",
			suite, suite, arch, fileSHA256(t, pkgs), len(idx.String()), arch))
	}
	return repo
}

// newRoot prepares an isolated root pointing at repo and installs the given version-1 packages into it
// with dpkg.
func newRoot(t *testing.T, dir, repo string, install ...string) string {
	t.Helper()
	root := filepath.Join(dir, "root-"+strings.Join(install, "-"))
	err := apt.PrepareRoot(root, []string{
		"deb [trusted=yes] file:" + repo + " stable main",
		"deb [trusted=yes] file:" + repo + " stable-security main",
	})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "etc/os-release"), "ID=debian\nVERSION_ID=\"12\"\n")
	args := append(apt.DpkgArgs(root), "-i")
	for _, n := range install {
		args = append(args, filepath.Join(repo, "pool", n+"_1.0_all.deb"))
	}
	run(t, "dpkg", args...)
	return root
}

func states(r patch.Report) map[string]patch.State {
	m := map[string]patch.State{}
	for _, p := range r.Patches {
		m[p.KBID] = p.State
	}
	return m
}

func snapshot(t *testing.T, b patch.Baseline) patch.Snapshot {
	t.Helper()
	if err := b.Validate(); err != nil {
		t.Fatalf("baseline: %v", err)
	}
	s, err := patch.NewSnapshot("6f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b", "i-0123456789abcdef0", "", b, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// everything approves every update, security or not, so both packages are missing.
var everything = patch.Baseline{
	Name: "runcmd-test-everything", OperatingSystem: patch.Debian,
	ApprovalRules: &patch.RuleGroup{PatchRules: []patch.Rule{{
		PatchFilterGroup:  patch.FilterGroup{PatchFilters: []patch.Filter{{Key: patch.KeyPriority, Values: []string{"*"}}}},
		ComplianceLevel:   patch.LevelCritical,
		EnableNonSecurity: true,
	}}},
}

func TestRealAptScanAndInstall(t *testing.T) {
	t.Parallel()
	requireDebianTools(t)
	hostStatus := "/var/lib/dpkg/status"
	var before string
	if _, err := os.Stat(hostStatus); err == nil {
		before = fileSHA256(t, hostStatus)
	}
	dir := t.TempDir()
	arch := strings.TrimSpace(run(t, "dpkg", "--print-architecture"))
	repo := buildRepo(t, dir, arch)
	root := newRoot(t, dir, repo, "runcmd-demo-a", "runcmd-demo-b")
	ctx := context.Background()
	src := apt.New(apt.Options{Root: root, Refresh: true})

	inv, err := src.Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Product != "Debian12" {
		t.Errorf("Product = %q, want Debian12", inv.Product)
	}

	// Scan with a baseline approving everything: two missing updates, one of them Security.
	scan, err := patch.Run(ctx, src, patch.Request{InstanceID: "i-0123456789abcdef0", Snapshot: snapshot(t, everything), Operation: patch.Scan})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]patch.State{"runcmd-demo-a.all": patch.StateMissing, "runcmd-demo-b.all": patch.StateMissing}
	if diff := cmp.Diff(want, states(scan)); diff != "" {
		t.Errorf("scan states (-want +got):\n%s", diff)
	}
	if scan.Summary.MissingCount != 2 || scan.Summary.SecurityNonCompliantCount != 1 || scan.Summary.CriticalNonCompliantCount != 2 {
		t.Errorf("scan summary = %+v, want 2 missing, 1 security, 2 critical", scan.Summary)
	}

	// Scan with AWS's Debian default (security updates only): b is missing, a is someone else's.
	def, err := patch.PredefinedDefault("us-east-1", patch.Debian)
	if err != nil {
		t.Fatal(err)
	}
	scanDef, err := patch.Run(ctx, src, patch.Request{Snapshot: snapshot(t, def), Operation: patch.Scan})
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]patch.State{"runcmd-demo-a.all": patch.StateInstalledOther, "runcmd-demo-b.all": patch.StateMissing}
	if diff := cmp.Diff(want, states(scanDef)); diff != "" {
		t.Errorf("default-baseline scan states (-want +got):\n%s", diff)
	}

	// Install: both at version 2, reported Installed (pending the reboot the report asks for).
	inst, err := patch.Run(ctx, src, patch.Request{Snapshot: snapshot(t, everything), Operation: patch.Install})
	if err != nil {
		t.Fatal(err)
	}
	if len(inst.Installed) != 2 || len(inst.Failed) != 0 {
		t.Fatalf("installed %v, failed %v; output:\n%s", inst.Installed, inst.Failed, inst.InstallOutput)
	}
	want = map[string]patch.State{"runcmd-demo-a.all": patch.StateInstalledPendingReboot, "runcmd-demo-b.all": patch.StateInstalledPendingReboot}
	if diff := cmp.Diff(want, states(inst)); diff != "" {
		t.Errorf("install states (-want +got):\n%s", diff)
	}
	if !inst.RebootRequired {
		t.Error("RebootRequired = false after installing with RebootIfNeeded")
	}
	got := run(t, "dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"), "-W", "-f=${Package} ${Version}\n")
	if diff := cmp.Diff("runcmd-demo-a 2.0\nruncmd-demo-b 2.0\n", got); diff != "" {
		t.Errorf("installed in root (-want +got):\n%s", diff)
	}
	if b, err := os.ReadFile(filepath.Join(root, "usr/share/doc/runcmd-demo-b/VERSION")); err != nil || string(b) != "2.0\n" {
		t.Errorf("root file = %q, %v; want version 2.0 unpacked into the root", b, err)
	}

	// After a reboot (BootTime after the install) a scan reports them Installed and the node compliant.
	after, err := patch.Run(ctx, src, patch.Request{Snapshot: snapshot(t, everything), Operation: patch.Scan,
		Reboot: inst.Reboot, BootTime: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if after.Summary.InstalledCount != 2 || after.Summary.NonCompliant() {
		t.Errorf("post-reboot summary = %+v, want 2 installed, compliant", after.Summary)
	}

	// The host was never touched.
	if _, err := os.Stat("/usr/share/doc/runcmd-demo-a"); err == nil {
		t.Error("runcmd-demo-a was unpacked on the host")
	}
	if before != "" {
		if after := fileSHA256(t, hostStatus); after != before {
			t.Errorf("host %s changed", hostStatus)
		}
	}
}

func TestRealAptBlockRejectedDependency(t *testing.T) {
	t.Parallel()
	requireDebianTools(t)
	dir := t.TempDir()
	arch := strings.TrimSpace(run(t, "dpkg", "--print-architecture"))
	repo := buildRepo(t, dir, arch)
	root := newRoot(t, dir, repo, "runcmd-demo-b", "runcmd-demo-c")
	ctx := context.Background()
	src := apt.New(apt.Options{Root: root, Refresh: true})

	b := everything
	b.RejectedPatches = []string{"runcmd-demo-d"}
	b.RejectedPatchesAction = patch.Block
	scan, err := patch.Run(ctx, src, patch.Request{Snapshot: snapshot(t, b), Operation: patch.Scan})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]patch.State{"runcmd-demo-b.all": patch.StateMissing, "runcmd-demo-c.all": patch.StateMissing}
	if diff := cmp.Diff(want, states(scan)); diff != "" {
		t.Errorf("scan states (-want +got):\n%s", diff)
	}
	inst, err := patch.Run(ctx, src, patch.Request{Snapshot: snapshot(t, b), Operation: patch.Install, RebootOption: patch.NoReboot})
	if err != nil {
		t.Fatal(err)
	}
	// c 2.0 needs the rejected d: not installed, Failed; b goes in.
	want = map[string]patch.State{"runcmd-demo-b.all": patch.StateInstalledPendingReboot, "runcmd-demo-c.all": patch.StateFailed}
	if diff := cmp.Diff(want, states(inst)); diff != "" {
		t.Errorf("install states (-want +got):\n%s\noutput:\n%s", diff, inst.InstallOutput)
	}
	if inst.RebootRequired {
		t.Error("RebootRequired with NoReboot")
	}
	got := run(t, "dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"), "-W", "-f=${Package} ${Version}\n")
	if diff := cmp.Diff("runcmd-demo-b 2.0\nruncmd-demo-c 1.0\n", got); diff != "" {
		t.Errorf("installed in root (-want +got):\n%s", diff)
	}
}
