package patch

import (
	"testing"
	"time"
)

func FuzzParseOverrideList(f *testing.F) {
	f.Add([]byte("patches:\n  - id: 'kernel.x86_64'\n    title: 'kernel.x86_64:0:4.14.238-182.422.amzn2'\n"))
	f.Add([]byte(`{"patches":[{"id":"a.x86_64"}]}`))
	f.Add([]byte("patches:\n  -\n    id: \"a\\\"b\" # c\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ParseOverrideList(data)
		if err != nil {
			return
		}
		for _, p := range l.Patches {
			if p.ID == "" {
				t.Fatalf("accepted a patch without id: %+v", l.Patches)
			}
		}
		// Whatever it accepted must be usable on an inventory.
		l.Select(Baseline{OperatingSystem: AmazonLinux2023}, Inventory{Packages: []Package{
			{Name: "a", Arch: "x86_64", Installed: &Installed{}, Updates: []Version{{Version: "1-1"}}}}})
	})
}

func FuzzGlob(f *testing.F) {
	f.Add("open*", "openssl")
	f.Add("lib[!a-c]?*", "libd2")
	f.Add("[", "[")
	f.Add("*a*b*c*d*e*", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		got := Glob(pattern, s)
		if Glob("*", s) != true {
			t.Fatalf("* does not match %q", s)
		}
		if got != Glob("*"+pattern, s) && got {
			t.Fatalf("Glob(%q, %q) but not with a leading *", pattern, s)
		}
	})
}

func FuzzParseOSRelease(f *testing.F) {
	f.Add([]byte("ID=ubuntu\nVERSION_ID=\"22.04\"\n"))
	f.Add([]byte("ID=\"amzn\"\nVERSION_ID='2023'\n# c\n=\n\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ProductFromOSRelease(data)
	})
}

// FuzzEvaluate checks that any baseline that validates, over any one-package inventory, evaluates
// without panicking and to a known state.
func FuzzEvaluate(f *testing.F) {
	f.Add("Security", "Critical", "*", "openssl", "x86_64", int64(0), true, 7)
	f.Add("", "", "open*", "a", "amd64", int64(1e9), false, 0)
	f.Fuzz(func(t *testing.T, class, sev, pattern, name, arch string, released int64, installed bool, days int) {
		b := Baseline{Name: "fuzz", OperatingSystem: AmazonLinux2023, ApprovedPatches: []string{pattern},
			RejectedPatches: []string{pattern + "x"}, RejectedPatchesAction: Block,
			ApprovalRules: &RuleGroup{PatchRules: []Rule{{PatchFilterGroup: FilterGroup{PatchFilters: []Filter{
				{Key: KeyClassification, Values: []string{"*"}}}}, ApproveAfterDays: &days}}}}
		if b.Validate() != nil {
			return
		}
		p := Package{Name: name, Arch: arch, Updates: []Version{{Version: "1-2", Classification: class, Severity: sev,
			ReleaseDate: time.Unix(released, 0)}}}
		if installed {
			p.Installed = &Installed{Version: Version{Version: "1-1"}}
		}
		ev := Evaluate(b, Inventory{Packages: []Package{p}}, EvalOptions{Now: time.Unix(2e9, 0)})
		for _, pt := range ev.Patches {
			if _, ok := ParseState(string(pt.State)); !ok {
				t.Fatalf("unknown state %q", pt.State)
			}
		}
	})
}

// FuzzParseBaselineOverride checks that whatever the parser accepts carries no identity of its own and
// can be selected from without panicking.
func FuzzParseBaselineOverride(f *testing.F) {
	f.Add([]byte(`[{"OperatingSystem":"UBUNTU","ApprovalRules":{"PatchRules":[{"PatchFilterGroup":{"PatchFilters":[{"Key":"PRIORITY","Values":["Required"]}]}}]}}]`))
	f.Add([]byte(`[{"BaselineId":"pb-0123456789abcdef0","Name":"x","OperatingSystem":"AMAZON_LINUX_2023","ApprovedPatches":["a"]},{"OperatingSystem":"WINDOWS"}]`))
	f.Add([]byte(`{"OperatingSystem":"UBUNTU"}`))
	f.Add([]byte(`[1, null, "x"]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		list, err := ParseBaselineOverride(data)
		if err != nil {
			return
		}
		for _, b := range list {
			if b.BaselineID != "" || b.Name != "" {
				t.Fatalf("kept an identity: %+v", b)
			}
			if sel, err := SelectBaselineOverride(list, b.OperatingSystem); err == nil && sel.OperatingSystem != b.OperatingSystem {
				t.Fatalf("selected %s for %s", sel.OperatingSystem, b.OperatingSystem)
			}
		}
	})
}
