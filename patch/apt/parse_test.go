package apt

import (
	"context"
	"os"
	"strings"
	"testing"

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

func TestParseDpkgQuery(t *testing.T) {
	t.Parallel()
	raw := testdata(t, "dpkg-query-bookworm.txt")
	pkgs := ParseDpkgQuery(raw)
	if want := strings.Count(string(raw), "\tinstall ok installed\t"); len(pkgs) != want || want < 500 {
		t.Fatalf("parsed %d packages, want %d", len(pkgs), want)
	}
	byName := map[string]Installed{}
	for _, p := range pkgs {
		byName[p.Name] = p
	}
	want := Installed{Name: "libc6", Arch: "amd64", Version: "2.36-9+deb12u14", Status: "install ok installed",
		Priority: "optional", Section: "libs", Binary: "libc6:amd64"}
	if diff := cmp.Diff(want, byName["libc6"]); diff != "" {
		t.Errorf("libc6 (-want +got):\n%s", diff)
	}
	if got := byName["adduser"]; got.Arch != "all" || got.Binary != "adduser" {
		t.Errorf("adduser = %+v", got)
	}
	for _, in := range []string{"", "a\tb\n", "x\tamd64\t1\tdeinstall ok config-files\toptional\tlibs\tx\n"} {
		if got := ParseDpkgQuery([]byte(in)); len(got) != 0 {
			t.Errorf("ParseDpkgQuery(%q) = %v, want nothing", in, got)
		}
	}
}

func TestParsePolicy(t *testing.T) {
	t.Parallel()
	pols := map[string]Policy{}
	for _, p := range ParsePolicy(testdata(t, "apt-cache-policy-bookworm.txt")) {
		pols[p.Name] = p
	}
	for _, p := range ParsePolicy(testdata(t, "apt-cache-policy-isolated.txt")) {
		pols[p.Name] = p
	}
	tests := []struct {
		pkg              string
		installed        string
		newer            []string
		newerSecurity    bool
		installedFromSec bool
	}{
		// A security fix also published to the main suite: security, because one origin is.
		{"libcups2", "2.4.2-3+deb12u8", []string{"2.4.2-3+deb12u9"}, true, false},
		// Installed from bookworm-security, the newer candidate is a point release from bookworm.
		{"openssl", "3.0.19-1~deb12u2", []string{"3.0.20-1~deb12u1"}, false, true},
		{"libc6", "2.36-9+deb12u14", nil, false, false},
		{"runcmd-demo-a", "1.0", []string{"2.0"}, false, false},
		{"runcmd-demo-b", "1.0", []string{"2.0"}, true, false},
	}
	for _, tt := range tests {
		p, ok := pols[tt.pkg]
		if !ok {
			t.Errorf("%s: not parsed", tt.pkg)
			continue
		}
		var newer []string
		sec := false
		for _, v := range p.Newer() {
			newer = append(newer, v.Version)
			sec = sec || v.Security()
		}
		row, _ := p.InstalledRow()
		got := []any{p.Installed, newer, sec, row.Security()}
		want := []any{tt.installed, tt.newer, tt.newerSecurity, tt.installedFromSec}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: installed, newer, security, installed-from-security (-want +got):\n%s", tt.pkg, diff)
		}
	}
	if _, ok := pols["nonexistent-pkg-xyz"]; ok {
		t.Error("unknown package parsed")
	}
	o := pols["libcups2"].Versions[0].Origins[1]
	if diff := cmp.Diff(Origin{Pin: "500", URI: "http://deb.debian.org/debian-security", Suite: "bookworm-security", Component: "main"}, o); diff != "" {
		t.Errorf("origin (-want +got):\n%s", diff)
	}
}

func TestOriginSecurity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		o    Origin
		want bool
	}{
		{Origin{URI: "http://archive.ubuntu.com/ubuntu", Suite: "jammy-security"}, true},
		{Origin{URI: "http://security.debian.org/debian-security", Suite: "buster/updates"}, true},
		{Origin{URI: "http://archive.ubuntu.com/ubuntu", Suite: "jammy-updates"}, false},
		{Origin{URI: "/var/lib/dpkg/status"}, false},
	}
	for _, tt := range tests {
		if got := tt.o.Security(); got != tt.want {
			t.Errorf("%+v.Security() = %v, want %v", tt.o, got, tt.want)
		}
	}
}

func TestParseShow(t *testing.T) {
	t.Parallel()
	ss := ParseShow(testdata(t, "apt-cache-show-bookworm.txt"))
	if len(ss) < 4 {
		t.Fatalf("parsed %d stanzas", len(ss))
	}
	want := Stanza{Package: "openssl", Version: "3.0.20-1~deb12u1", Architecture: "amd64", Priority: "optional", Section: "utils"}
	if diff := cmp.Diff(want, ss[0]); diff != "" {
		t.Errorf("first stanza (-want +got):\n%s", diff)
	}
	tz := 0
	for _, s := range ss {
		if s.Package == "tzdata" {
			tz++
			if s.Priority != "required" || s.Section != "localization" {
				t.Errorf("tzdata = %+v", s)
			}
		}
	}
	if tz < 2 {
		t.Errorf("tzdata stanzas = %d, want every version", tz)
	}
}

func TestParseSimulate(t *testing.T) {
	t.Parallel()
	raw := testdata(t, "apt-get-s-upgrade-bookworm.txt")
	acts := ParseSimulate(raw)
	if want := strings.Count(string(raw), "\nInst "); len(acts) != want || want == 0 {
		t.Fatalf("parsed %d Inst lines, want %d", len(acts), want)
	}
	var cups Action
	for _, a := range acts {
		if a.Name == "libcups2" {
			cups = a
		}
	}
	want := Action{Name: "libcups2", Arch: "amd64", OldVersion: "2.4.2-3+deb12u8", Version: "2.4.2-3+deb12u9",
		Releases: []string{"Debian:12.14/oldstable", "Debian-Security:12/oldstable-security"}}
	if diff := cmp.Diff(want, cups); diff != "" {
		t.Errorf("libcups2 (-want +got):\n%s", diff)
	}
	iso := ParseSimulate(testdata(t, "apt-get-s-install-isolated.txt"))
	if diff := cmp.Diff([]Action{
		{Name: "runcmd-demo-a", Arch: "all", OldVersion: "1.0", Version: "2.0", Releases: []string{"runcmd-test:stable"}},
		{Name: "runcmd-demo-b", Arch: "all", OldVersion: "1.0", Version: "2.0", Releases: []string{"runcmd-test:stable-security"}},
	}, iso); diff != "" {
		t.Errorf("isolated (-want +got):\n%s", diff)
	}
}

// TestInventoryRecorded runs Inventory over the recorded bookworm outputs and checks the merge.
func TestInventoryRecorded(t *testing.T) {
	t.Parallel()
	rec := &command.Recorded{Entries: []command.Entry{
		{Match: command.ArgsHave("dpkg-query", "-W"), Result: command.Result{Stdout: testdata(t, "dpkg-query-bookworm.txt")}},
		{Match: command.ArgsHave("apt-cache", "policy"), Result: command.Result{Stdout: testdata(t, "apt-cache-policy-bookworm.txt")}},
		{Match: command.ArgsHave("apt-cache", "show"), Result: command.Result{Stdout: testdata(t, "apt-cache-show-bookworm.txt")}},
	}}
	src := New(Options{Runner: rec})
	inv, err := src.Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]patch.Package{}
	for _, p := range inv.Packages {
		byKey[p.Key()] = p
	}
	openssl := byKey["openssl.amd64"]
	if openssl.Installed == nil || openssl.Installed.Version.Classification != "Security" || len(openssl.Updates) != 1 ||
		openssl.Updates[0].Version != "3.0.20-1~deb12u1" || openssl.Updates[0].Classification != "" ||
		openssl.Updates[0].Section != "utils" || openssl.Updates[0].Priority != "optional" {
		t.Errorf("openssl = %+v", openssl)
	}
	if cups := byKey["libcups2.amd64"]; len(cups.Updates) != 1 || cups.Updates[0].Classification != "Security" {
		t.Errorf("libcups2 = %+v", cups)
	}
	// Debian's default baseline: security updates are Missing, point releases are not.
	def, _ := patch.PredefinedDefault("us-east-1", patch.Debian)
	ev := patch.Evaluate(def, inv, patch.EvalOptions{})
	st := map[string]patch.State{}
	for _, p := range ev.Patches {
		st[p.KBID] = p.State
	}
	if st["libcups2.amd64"] != patch.StateMissing || st["openssl.amd64"] != patch.StateInstalled || st["bash.amd64"] != patch.StateInstalledOther {
		t.Errorf("libcups2 %s, openssl %s, bash %s", st["libcups2.amd64"], st["openssl.amd64"], st["bash.amd64"])
	}
	// dpkg-query was pointed at the host's database and apt got no isolated config.
	if c := rec.Calls[0]; !slicesContain(c.Args, "--admindir=/var/lib/dpkg") || slicesContainPrefix(c.Env, "APT_CONFIG=") {
		t.Errorf("dpkg-query call = %+v", c)
	}
}

func slicesContain(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func slicesContainPrefix(list []string, p string) bool {
	for _, x := range list {
		if strings.HasPrefix(x, p) {
			return true
		}
	}
	return false
}

func TestInstallRejectsBadNames(t *testing.T) {
	t.Parallel()
	rec := &command.Recorded{}
	src := New(Options{Runner: rec})
	for _, tg := range []patch.Target{
		{Name: "-oAPT::Foo=1", Arch: "amd64", Version: "1"},
		{Name: "bash", Arch: "amd64", Version: "1; rm -rf /"},
		{Name: "Bash", Arch: "amd64", Version: "1"},
		{Name: "bash", Arch: "amd64"},
	} {
		if _, err := src.Install(context.Background(), []patch.Target{tg}); runcmd.ErrorCode(err) != runcmd.EINVALID {
			t.Errorf("Install(%+v) err = %v, want EINVALID", tg, err)
		}
	}
	if len(rec.Calls) != 0 {
		t.Errorf("commands ran: %v", rec.Calls)
	}
	rec.Entries = []command.Entry{{Match: command.ArgsHave("apt-get", "install"), Result: command.Result{ExitCode: 100}}}
	res, err := src.Install(context.Background(), []patch.Target{{Name: "libc6", Arch: "amd64", Version: "2.36-9+deb12u15"}})
	if err != nil || res.ExitCode != 100 {
		t.Errorf("failed install = %+v, %v; want exit code as data", res, err)
	}
	if got := rec.Calls[0].Args; got[len(got)-2] != "--" || got[len(got)-1] != "libc6:amd64=2.36-9+deb12u15" {
		t.Errorf("argv = %v", got)
	}
}

func TestPrepareRootRejectsUnsafePaths(t *testing.T) {
	t.Parallel()
	for _, root := range []string{"relative", "/tmp/a\"b", "/tmp/a;b"} {
		if err := PrepareRoot(root, nil); runcmd.ErrorCode(err) != runcmd.EINVALID {
			t.Errorf("PrepareRoot(%q) = %v, want EINVALID", root, err)
		}
	}
	if err := PrepareRoot(t.TempDir(), []string{"deb file:/x stable main\ndeb file:/y stable main"}); runcmd.ErrorCode(err) != runcmd.EINVALID {
		t.Errorf("multi-line source: err = %v", err)
	}
}

func TestProductFromRecordedOSRelease(t *testing.T) {
	t.Parallel()
	if got := patch.ProductFromOSRelease(testdata(t, "os-release-bookworm.txt")); got != "Debian12" {
		t.Errorf("product = %q, want Debian12", got)
	}
}
