package dnf

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/patch"
	"github.com/runcmd/runcmd/patch/internal/command"
)

func testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func date(s string) time.Time {
	t, err := time.Parse(time.DateTime, s)
	if err != nil {
		panic(err) // test helper with constant input
	}
	return t
}

func TestParseNEVRA(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want NEVRA
		ok   bool
	}{
		{"openssl-libs-1:3.0.7-27.el9.x86_64", NEVRA{"openssl-libs", "1", "3.0.7", "27.el9", "x86_64"}, true},
		{"kernel-5.14.0-427.16.1.el9_4.x86_64", NEVRA{"kernel", "", "5.14.0", "427.16.1.el9_4", "x86_64"}, true},
		{"openssl-3.0.7-27.el9.x86_64.rpm", NEVRA{"openssl", "", "3.0.7", "27.el9", "x86_64"}, true},
		{"vim-data-2:9.0.2153-1.amzn2023.0.1.noarch", NEVRA{"vim-data", "2", "9.0.2153", "1.amzn2023.0.1", "noarch"}, true},
		{"noarch", NEVRA{}, false},
		{"a-1.x86_64", NEVRA{}, false},
		{"-1-2.x", NEVRA{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseNEVRA(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseNEVRA(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestCompareEVR(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want int
	}{
		{"1.0-1", "1.0-1", 0}, {"1.0-1", "1.0-2", -1}, {"1:1.0-1", "0:2.0-1", 1}, {"1.0-1", "0:1.0-1", 0},
		{"1.10-1", "1.9-1", 1}, {"1.0~rc1-1", "1.0-1", -1}, {"1.0^git1-1", "1.0-1", 1}, {"1.0^git1-1", "1.0.1-1", -1},
		{"1.0a-1", "1.0-1", 1}, {"1.0-1.el9", "1.0-1.el9_4", -1}, {"2024a-1", "2023c-1", 1}, {"1.001-1", "1.1-1", 0},
		{"5.14.0-427.16.1.el9_4", "5.14.0-362.24.1.el9_3", 1}, {"1.0a-1", "1.0.1-1", -1},
	}
	for _, tt := range tests {
		if got := CompareEVR(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareEVR(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := CompareEVR(tt.b, tt.a); got != -tt.want {
			t.Errorf("CompareEVR(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

func TestParseRPMQuery(t *testing.T) {
	t.Parallel()
	pkgs := ParseRPMQuery(testdata(t, "constructed-rpm-qa-rhel9.txt"))
	if len(pkgs) != 8 {
		t.Fatalf("parsed %d packages, want 8 (gpg-pubkey skipped)", len(pkgs))
	}
	want := RPMPackage{NEVRA: NEVRA{"tzdata", "0", "2023c", "1.el9", "noarch"}, InstallTime: time.Unix(1700000000, 0).UTC()}
	if diff := cmp.Diff(want, pkgs[2]); diff != "" {
		t.Errorf("tzdata (-want +got):\n%s", diff)
	}
	if pkgs[7].EVR() != "2:8.2.2637-20.el9_1" {
		t.Errorf("vim-minimal EVR = %s", pkgs[7].EVR())
	}
}

func TestParseCheckUpdate(t *testing.T) {
	t.Parallel()
	avs := ParseCheckUpdate(testdata(t, "constructed-dnf-check-update-rhel9.txt"))
	var keys []string
	for _, a := range avs {
		keys = append(keys, a.Key()+" "+a.EVR())
	}
	want := []string{
		"curl.x86_64 0:7.76.1-29.el9_4", "kernel.x86_64 0:5.14.0-427.16.1.el9_4", "openssl.x86_64 1:3.0.7-27.el9",
		"openssl-libs.x86_64 1:3.0.7-27.el9", "tzdata.noarch 0:2024a-1.el9", "vim-minimal.x86_64 2:8.2.2637-20.el9_1.1",
		"python3-a-package-with-a-very-long-name.noarch 0:1.2-3.el9",
	}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("check-update (-want +got):\n%s", diff)
	}
	if avs[0].Repository != "rhel-9-for-x86_64-baseos-rpms" {
		t.Errorf("repository = %q", avs[0].Repository)
	}
}

func TestParseUpdateinfoList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file  string
		count int
		idx   int
		want  Notice
	}{
		{"constructed-dnf-updateinfo-list-v-rhel9.txt", 7, 1, Notice{AdvisoryID: "RHSA-2024:2447", Classification: "Security",
			Severity: "Moderate", Package: NEVRA{"openssl", "1", "3.0.7", "27.el9", "x86_64"}, Date: date("2024-04-30 11:52:41")}},
		{"constructed-dnf-updateinfo-list-v-rhel9.txt", 7, 0, Notice{AdvisoryID: "RHBA-2024:2431", Classification: "Bugfix",
			Package: NEVRA{"tzdata", "", "2024a", "1.el9", "noarch"}, Date: date("2024-04-30 10:14:22")}},
		{"constructed-dnf-updateinfo-list-v-rhel9.txt", 7, 6, Notice{AdvisoryID: "RHEA-2024:3001", Classification: "Enhancement",
			Package: NEVRA{"vim-minimal", "2", "8.2.2637", "20.el9_1.1", "x86_64"}, Date: date("2024-05-23 12:00:00")}},
		{"constructed-yum-updateinfo-list-al2.txt", 5, 2, Notice{AdvisoryID: "ALAS2-2024-2480", Classification: "Security",
			Severity: "Medium", Package: NEVRA{"openssh", "", "7.4p1", "22.amzn2.0.7", "x86_64"}}},
		{"constructed-yum-updateinfo-list-al2.txt", 5, 3, Notice{AdvisoryID: "ALAS2-2024-2471", Classification: "Security",
			Severity: "Critical", Package: NEVRA{"glibc", "", "2.26", "64.amzn2.0.2", "x86_64"}}},
		{"constructed-dnf-updateinfo-list-al2023.txt", 5, 4, Notice{AdvisoryID: "ALAS2023-2024-536", Classification: "Security",
			Package: NEVRA{"vim-data", "2", "9.0.2153", "1.amzn2023.0.1", "noarch"}, Date: date("2024-02-01 19:57:00")}},
	}
	for _, tt := range tests {
		ns := ParseUpdateinfoList(testdata(t, tt.file))
		if len(ns) != tt.count {
			t.Errorf("%s: %d notices, want %d", tt.file, len(ns), tt.count)
			continue
		}
		if diff := cmp.Diff(tt.want, ns[tt.idx]); diff != "" {
			t.Errorf("%s[%d] (-want +got):\n%s", tt.file, tt.idx, diff)
		}
	}
}

func TestParseUpdateinfoInfo(t *testing.T) {
	t.Parallel()
	advs := ParseUpdateinfoInfo(testdata(t, "constructed-dnf-updateinfo-info-rhel9.txt"))
	if len(advs) != 4 {
		t.Fatalf("parsed %d advisories, want 4", len(advs))
	}
	want := Advisory{
		ID: "RHSA-2024:2447", Title: "Moderate: openssl security and bug fix update", Classification: "Security",
		Severity: "Moderate", Updated: date("2024-04-30 11:52:41"),
		CVEIDs:      []string{"CVE-2023-3446", "CVE-2023-3817", "CVE-2023-5678"},
		BugzillaIDs: []string{"2224962", "2227852"},
		Files:       []NEVRA{{"openssl", "", "3.0.7", "27.el9", "x86_64"}, {"openssl-libs", "", "3.0.7", "27.el9", "x86_64"}},
	}
	if diff := cmp.Diff(want, advs[1]); diff != "" {
		t.Errorf("RHSA-2024:2447 (-want +got):\n%s", diff)
	}
	if advs[0].Classification != "Bugfix" || advs[0].Severity != "None" {
		t.Errorf("bugfix advisory = %+v", advs[0])
	}
}

func recorded(t *testing.T) *command.Recorded {
	return &command.Recorded{Entries: []command.Entry{
		{Match: command.ArgsHave("rpm", "-qa"), Result: command.Result{Stdout: testdata(t, "constructed-rpm-qa-rhel9.txt")}},
		{Match: command.ArgsHave("dnf", "check-update"), Result: command.Result{Stdout: testdata(t, "constructed-dnf-check-update-rhel9.txt"), ExitCode: 100}},
		{Match: command.ArgsHave("dnf", "updateinfo", "list"), Result: command.Result{Stdout: testdata(t, "constructed-dnf-updateinfo-list-v-rhel9.txt")}},
		{Match: command.ArgsHave("dnf", "updateinfo", "info"), Result: command.Result{Stdout: testdata(t, "constructed-dnf-updateinfo-info-rhel9.txt")}},
		{Match: command.ArgsHave("dnf", "upgrade"), Result: command.Result{Stdout: []byte("Complete!\n")}},
	}}
}

func TestInventoryAndRHELDefault(t *testing.T) {
	t.Parallel()
	src := New(Options{Runner: recorded(t)})
	inv, err := src.Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]patch.Package{}
	for _, p := range inv.Packages {
		byKey[p.Key()] = p
	}
	openssl := byKey["openssl.x86_64"]
	wantOpenssl := patch.Package{Name: "openssl", Arch: "x86_64",
		Installed: &patch.Installed{Version: patch.Version{Version: "1:3.0.7-25.el9_3"}, InstalledTime: time.Unix(1712745600, 0).UTC()},
		Updates: []patch.Version{{Version: "1:3.0.7-27.el9", Classification: "Security", Severity: "Moderate",
			Repository: "rhel-9-for-x86_64-baseos-rpms", ReleaseDate: date("2024-04-30 11:52:41"),
			AdvisoryIDs: []string{"RHSA-2024:2447"}, CVEIDs: []string{"CVE-2023-3446", "CVE-2023-3817", "CVE-2023-5678"},
			BugzillaIDs: []string{"2224962", "2227852"}}},
	}
	if diff := cmp.Diff(wantOpenssl, openssl); diff != "" {
		t.Errorf("openssl (-want +got):\n%s", diff)
	}
	if k := byKey["kernel.x86_64"]; k.Installed.Version.Version != "0:5.14.0-362.24.1.el9_3" {
		t.Errorf("kernel installed = %s, want the newest of the side-by-side kernels", k.Installed.Version.Version)
	}
	if c := byKey["curl.x86_64"]; c.Updates[0].Classification != "Security" || len(c.Updates[0].AdvisoryIDs) != 2 {
		t.Errorf("curl = %+v, want the security advisory to win and both ids", c.Updates)
	}
	if _, ok := byKey["python3-a-package-with-a-very-long-name.noarch"]; ok {
		t.Error("an update for a package that is not installed was listed")
	}

	def, _ := patch.PredefinedDefault("us-east-1", patch.RedhatEnterpriseLinux)
	ev := patch.Evaluate(def, inv, patch.EvalOptions{Now: date("2024-06-01 00:00:00")})
	got := map[string]patch.State{}
	for _, p := range ev.Patches {
		got[p.KBID] = p.State
	}
	want := map[string]patch.State{
		"openssl.x86_64": patch.StateInstalledOther, "openssl-libs.x86_64": patch.StateInstalledOther, // Moderate
		"kernel.x86_64": patch.StateMissing, "curl.x86_64": patch.StateMissing, "tzdata.noarch": patch.StateMissing,
		"vim-minimal.x86_64": patch.StateInstalledOther, "bash.x86_64": patch.StateInstalledOther,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RHEL default states (-want +got):\n%s", diff)
	}
	// Seven days after the kernel advisory (2024-05-22 08:10:05) it is not approved yet.
	ev = patch.Evaluate(def, inv, patch.EvalOptions{Now: date("2024-05-29 08:10:05")})
	for _, p := range ev.Patches {
		if p.KBID == "kernel.x86_64" && p.State != patch.StateInstalledOther {
			t.Errorf("kernel at the 7-day boundary = %s, want InstalledOther", p.State)
		}
	}
}

func TestInstall(t *testing.T) {
	t.Parallel()
	rec := recorded(t)
	src := New(Options{Runner: rec})
	res, err := src.Install(context.Background(), []patch.Target{{Name: "openssl", Arch: "x86_64", Version: "1:3.0.7-27.el9"}})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Install = %+v, %v", res, err)
	}
	if diff := cmp.Diff([]string{"upgrade", "-y", "openssl-1:3.0.7-27.el9.x86_64"}, rec.Calls[0].Args); diff != "" {
		t.Errorf("argv (-want +got):\n%s", diff)
	}
	args, err := InstallArgs(true, []patch.Target{{Name: "curl", Arch: "x86_64", Version: "0:8.3.0-1.amzn2.0.6"}})
	if err != nil || args[0] != "update" {
		t.Errorf("yum args = %v, %v", args, err)
	}
	for _, tg := range []patch.Target{
		{Name: "--setopt=x", Arch: "x86_64", Version: "1-1"}, {Name: "a b", Arch: "x86_64", Version: "1-1"},
		{Name: "a", Arch: "x86_64", Version: "1"}, {Name: "a", Arch: "x86_64"},
	} {
		if _, err := src.Install(context.Background(), []patch.Target{tg}); runcmd.ErrorCode(err) != runcmd.EINVALID {
			t.Errorf("Install(%+v) err = %v, want EINVALID", tg, err)
		}
	}
}
