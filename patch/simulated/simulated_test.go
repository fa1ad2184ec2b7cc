package simulated

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/patch"
)

var now = time.Date(2025, 2, 1, 12, 0, 0, 0, time.UTC)

func copyNode(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/al2023-critical.json")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "node.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestInventory(t *testing.T) {
	t.Parallel()
	src := New(copyNode(t), nil)
	inv, err := src.Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if inv.Product != "AmazonLinux2023" || len(inv.Packages) != 5 {
		t.Fatalf("inventory = %+v", inv)
	}
	want := patch.Package{Name: "kernel", Arch: "x86_64",
		Installed: &patch.Installed{Version: patch.Version{Version: "0:6.1.115-126.197.amzn2023"}},
		Updates: []patch.Version{{Version: "0:6.1.119-129.201.amzn2023", Classification: "Security", Severity: "Important",
			ReleaseDate: time.Date(2025, 1, 5, 0, 0, 0, 0, time.UTC), RebootRequired: true,
			CVEIDs: []string{"CVE-2024-50264"}, AdvisoryIDs: []string{"ALAS2023-2025-007"}}}}
	if diff := cmp.Diff(want, inv.Packages[1]); diff != "" {
		t.Errorf("kernel (-want +got):\n%s", diff)
	}
}

func TestInstallRewritesFile(t *testing.T) {
	t.Parallel()
	path := copyNode(t)
	src := New(path, func() time.Time { return now })
	ctx := context.Background()
	res, err := src.Install(ctx, []patch.Target{
		{Name: "kernel", Arch: "x86_64", Version: "0:6.1.119-129.201.amzn2023"},
		{Name: "bash", Arch: "x86_64", Version: "9"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 1 {
		t.Errorf("exit code = %d, want 1 for the version that is not offered", res.ExitCode)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := ParseFile(b)
	if err != nil {
		t.Fatal(err)
	}
	k := f.Packages[1]
	want := &Installed{Version: "0:6.1.119-129.201.amzn2023", Classification: "Security", Severity: "Important",
		InstalledTime: now, PendingReboot: true}
	if diff := cmp.Diff(want, k.Installed); diff != "" || len(k.Updates) != 0 {
		t.Errorf("kernel after install (-want +got):\n%s\nupdates %v", diff, k.Updates)
	}
	if err := src.Reboot(ctx); err != nil {
		t.Fatal(err)
	}
	inv, _ := src.Inventory(ctx)
	if inv.Packages[1].Installed.PendingReboot {
		t.Error("Reboot left pendingReboot set")
	}
}

func TestParseFileErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`{`,
		`{"packages":[{"name":"","arch":"x86_64"}]}`,
		`{"packages":[{"name":"-rf","arch":"x86_64"}]}`,
		`{"packages":[{"name":"a","arch":"x86_64","installed":{}}]}`,
		`{"packages":[{"name":"a","arch":"x86_64","updates":[{}]}]}`,
	} {
		if _, err := ParseFile([]byte(in)); runcmd.ErrorCode(err) != runcmd.EINVALID {
			t.Errorf("ParseFile(%s) err = %v, want EINVALID", in, err)
		}
	}
}

func FuzzParseFile(f *testing.F) {
	b, err := os.ReadFile("testdata/al2023-critical.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"packages":[{"name":"a","arch":"all","updates":[{"version":"1"}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := ParseFile(data)
		if err != nil {
			return
		}
		for _, p := range file.Packages {
			if p.Name == "" || p.Arch == "" {
				t.Fatalf("accepted a package without name or arch: %+v", p)
			}
		}
	})
}
