package patch

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var now = time.Date(2025, 11, 16, 18, 0, 0, 0, time.UTC)

func ptr(n int) *int { return &n }

func filters(fs ...Filter) FilterGroup { return FilterGroup{PatchFilters: fs} }

func yumPkg(name string, installed string, updates ...Version) Package {
	p := Package{Name: name, Arch: "x86_64", Updates: updates}
	if installed != "" {
		p.Installed = &Installed{Version: Version{Version: installed}}
	}
	return p
}

func sec(version, severity string, released time.Time) Version {
	return Version{Version: version, Classification: "Security", Severity: severity, ReleaseDate: released,
		AdvisoryIDs: []string{"ALAS-2025-1"}, CVEIDs: []string{"CVE-2025-0001"}}
}

// al2023 approves Security Critical/Important after 7 days (CRITICAL) and Bugfix after 7 days (LOW).
func al2023() Baseline {
	return Baseline{
		Name: "test", OperatingSystem: AmazonLinux2023,
		ApprovalRules: &RuleGroup{PatchRules: []Rule{
			{PatchFilterGroup: filters(f(KeyClassification, "Security"), f(KeySeverity, "Critical", "Important")),
				ComplianceLevel: LevelCritical, ApproveAfterDays: ptr(7)},
			{PatchFilterGroup: filters(f(KeyClassification, "Bugfix")), ComplianceLevel: LevelLow, ApproveAfterDays: ptr(7)},
		}},
	}
}

func TestEvaluateRules(t *testing.T) {
	t.Parallel()
	old := now.AddDate(0, -1, 0)
	boundary := now.AddDate(0, 0, -7) // released exactly ApproveAfterDays ago
	tests := []struct {
		name      string
		baseline  func() Baseline
		pkg       Package
		wantState State
		wantLevel ComplianceLevel
		wantCand  string
	}{
		{"security critical old enough is missing", al2023,
			yumPkg("openssl", "1:3.0.8-1", sec("1:3.0.8-2", "Critical", old)), StateMissing, LevelCritical, "1:3.0.8-2"},
		{"severity filter excludes Low", al2023,
			yumPkg("openssl", "1:3.0.8-1", sec("1:3.0.8-2", "Low", old)), StateInstalledOther, LevelUnspecified, ""},
		{"classification filter: bugfix rule gives its level", al2023,
			yumPkg("tzdata", "2024a-1", Version{Version: "2024b-1", Classification: "Bugfix", ReleaseDate: old}),
			StateMissing, LevelLow, "2024b-1"},
		{"enhancement matches no rule", al2023,
			yumPkg("vim", "9.0-1", Version{Version: "9.0-2", Classification: "Enhancement", ReleaseDate: old}),
			StateInstalledOther, LevelUnspecified, ""},
		{"approve-after-days exactly at the boundary is not yet approved", al2023,
			yumPkg("openssl", "1:3.0.8-1", sec("1:3.0.8-2", "Critical", boundary)), StateInstalledOther, LevelUnspecified, ""},
		{"approve-after-days one second past the boundary is approved", al2023,
			yumPkg("openssl", "1:3.0.8-1", sec("1:3.0.8-2", "Critical", boundary.Add(-time.Second))), StateMissing, LevelCritical, "1:3.0.8-2"},
		{"newest approved version wins over a too-new one", al2023,
			yumPkg("openssl", "1:3.0.8-1", sec("1:3.0.8-3", "Critical", now), sec("1:3.0.8-2", "Critical", old)),
			StateMissing, LevelCritical, "1:3.0.8-2"},
		{"no metadata and no EnableNonSecurity is not approved", func() Baseline {
			b := al2023()
			b.ApprovalRules.PatchRules[0].PatchFilterGroup = filters(f(KeyClassification, "*"))
			return b
		}, yumPkg("foo", "1-1", Version{Version: "1-2", ReleaseDate: old}), StateInstalledOther, LevelUnspecified, ""},
		{"EnableNonSecurity approves packages without advisories", func() Baseline {
			b := al2023()
			b.ApprovalRules.PatchRules[0].PatchFilterGroup = filters(f(KeyClassification, "*"))
			b.ApprovalRules.PatchRules[0].EnableNonSecurity = true
			return b
		}, yumPkg("foo", "1-1", Version{Version: "1-2", ReleaseDate: old}), StateMissing, LevelCritical, "1-2"},
		{"approve-until-date covers the whole day", func() Baseline {
			b := al2023()
			b.ApprovalRules.PatchRules[0].ApproveAfterDays = nil
			b.ApprovalRules.PatchRules[0].ApproveUntilDate = "2025-11-16"
			return b
		}, yumPkg("openssl", "1:3.0.8-1", sec("1:3.0.8-2", "Critical", time.Date(2025, 11, 16, 23, 59, 59, 0, time.UTC))),
			StateMissing, LevelCritical, "1:3.0.8-2"},
		{"approve-until-date excludes the next day", func() Baseline {
			b := al2023()
			b.ApprovalRules.PatchRules[0].ApproveAfterDays = nil
			b.ApprovalRules.PatchRules[0].ApproveUntilDate = "2025-11-16"
			return b
		}, yumPkg("openssl", "1:3.0.8-1", sec("1:3.0.8-2", "Critical", time.Date(2025, 11, 17, 0, 0, 0, 0, time.UTC))),
			StateInstalledOther, LevelUnspecified, ""},
		{"several rules match: highest level wins", func() Baseline {
			b := al2023()
			b.ApprovalRules.PatchRules = append(b.ApprovalRules.PatchRules,
				Rule{PatchFilterGroup: filters(f(KeyClassification, "Security")), ComplianceLevel: LevelMedium, ApproveAfterDays: ptr(0)})
			b.ApprovalRules.PatchRules[0].ComplianceLevel = LevelHigh
			return b
		}, yumPkg("openssl", "1:3.0.8-1", sec("1:3.0.8-2", "Critical", old)), StateMissing, LevelHigh, "1:3.0.8-2"},
		{"global filter excludes the product", func() Baseline {
			b := al2023()
			b.GlobalFilters = &FilterGroup{PatchFilters: []Filter{f(KeyProduct, "AmazonLinux2")}}
			return b
		}, yumPkg("openssl", "1:3.0.8-1", sec("1:3.0.8-2", "Critical", old)), StateInstalledOther, LevelUnspecified, ""},
		{"approved list overrides filters with its own level", func() Baseline {
			b := al2023()
			b.GlobalFilters = &FilterGroup{PatchFilters: []Filter{f(KeyProduct, "AmazonLinux2")}}
			b.ApprovedPatches = []string{"open*"}
			b.ApprovedPatchesComplianceLevel = LevelMedium
			return b
		}, yumPkg("openssl", "1:3.0.8-1", sec("1:3.0.8-2", "Low", now)), StateMissing, LevelMedium, "1:3.0.8-2"},
		{"approved list by advisory id", func() Baseline {
			b := al2023()
			b.ApprovedPatches = []string{"ALAS-2025-1"}
			b.ApprovedPatchesComplianceLevel = LevelHigh
			return b
		}, yumPkg("openssl", "1:3.0.8-1", sec("1:3.0.8-2", "Low", now)), StateMissing, LevelHigh, "1:3.0.8-2"},
		{"approved list needs metadata on yum", func() Baseline {
			b := al2023()
			b.ApprovedPatches = []string{"foo"}
			return b
		}, yumPkg("foo", "1-1", Version{Version: "1-2"}), StateInstalledOther, LevelUnspecified, ""},
		{"approved list with ApprovedPatchesEnableNonSecurity", func() Baseline {
			b := al2023()
			b.ApprovedPatches = []string{"foo"}
			b.ApprovedPatchesEnableNonSecurity = true
			return b
		}, yumPkg("foo", "1-1", Version{Version: "1-2"}), StateMissing, LevelUnspecified, "1-2"},
		{"rejected beats approved", func() Baseline {
			b := al2023()
			b.ApprovedPatches = []string{"openssl"}
			b.RejectedPatches = []string{"openssl-1:3.0.8-2"}
			return b
		}, yumPkg("openssl", "1:3.0.8-1", sec("1:3.0.8-2", "Critical", old)), StateInstalledOther, LevelUnspecified, ""},
		{"rejected installed with ALLOW_AS_DEPENDENCY is InstalledOther", func() Baseline {
			b := al2023()
			b.RejectedPatches = []string{"openssl"}
			return b
		}, yumPkg("openssl", "1:3.0.8-1", sec("1:3.0.8-2", "Critical", old)), StateInstalledOther, LevelUnspecified, ""},
		{"rejected installed with BLOCK is InstalledRejected", func() Baseline {
			b := al2023()
			b.RejectedPatches = []string{"openssl.x86_64"}
			b.RejectedPatchesAction = Block
			return b
		}, yumPkg("openssl", "1:3.0.8-1", sec("1:3.0.8-2", "Critical", old)), StateInstalledRejected, LevelUnspecified, ""},
		{"installed approved version is Installed", al2023,
			Package{Name: "openssl", Arch: "x86_64", Installed: &Installed{Version: sec("1:3.0.8-2", "Critical", old)}},
			StateInstalled, LevelCritical, ""},
		{"not installed but approved is NotApplicable", al2023,
			yumPkg("nginx", "", sec("1:1.24-1", "Important", old)), StateNotApplicable, LevelCritical, "1:1.24-1"},
		{"AL2023 Medium filter matches Moderate advisories", func() Baseline {
			b := al2023()
			b.ApprovalRules.PatchRules[0].PatchFilterGroup = filters(f(KeyClassification, "Security"), f(KeySeverity, "Medium"))
			return b
		}, yumPkg("expat", "2.5-1", sec("2.5-2", "Moderate", old)), StateMissing, LevelCritical, "2.5-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := Evaluate(tt.baseline(), Inventory{Product: "AmazonLinux2023", Packages: []Package{tt.pkg}}, EvalOptions{Now: now})
			if len(ev.Patches) != 1 {
				t.Fatalf("got %d patches, want 1: %+v", len(ev.Patches), ev.Patches)
			}
			p := ev.Patches[0]
			got := [3]string{string(p.State), string(p.ComplianceLevel), p.CandidateVersion}
			want := [3]string{string(tt.wantState), string(tt.wantLevel), tt.wantCand}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("state, level, candidate (-want +got):\n%s", diff)
			}
			if (p.State == StateMissing) != (len(ev.Missing) == 1) {
				t.Errorf("Missing list %v does not match state %s", ev.Missing, p.State)
			}
		})
	}
}

func aptPkg(name, priority string, installedSecurity bool, updates ...Version) Package {
	inst := Version{Version: "1.0", Priority: priority}
	if installedSecurity {
		inst.Classification = "Security"
	}
	return Package{Name: name, Arch: "amd64", Installed: &Installed{Version: inst}, Updates: updates}
}

func TestEvaluateApt(t *testing.T) {
	t.Parallel()
	ubuntu, err := PredefinedDefault("us-east-1", Ubuntu)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		baseline  Baseline
		pkg       Package
		wantState State
		wantCand  string
	}{
		{"security update with an approved priority is missing at once (no dates on apt)", ubuntu,
			aptPkg("openssl", "optional", false, Version{Version: "2.0", Classification: "Security", Priority: "optional", ReleaseDate: now}),
			StateMissing, "2.0"},
		{"non-security update is not approved", ubuntu,
			aptPkg("tzdata", "required", false, Version{Version: "2.0", Priority: "required"}), StateInstalledOther, ""},
		{"newest security version under a newer non-security one", ubuntu,
			aptPkg("libssl3", "optional", false,
				Version{Version: "3.0", Priority: "optional"},
				Version{Version: "2.0", Classification: "Security", Priority: "optional"}),
			StateMissing, "2.0"},
		{"installed from the security suite is Installed", ubuntu,
			aptPkg("bash", "required", true), StateInstalled, ""},
		{"section filter", Baseline{Name: "s", OperatingSystem: Ubuntu, ApprovalRules: &RuleGroup{PatchRules: []Rule{{
			PatchFilterGroup: filters(f(KeySection, "contrib/*")), EnableNonSecurity: true}}}},
			aptPkg("x", "optional", false, Version{Version: "2.0", Section: "contrib/net"}), StateMissing, "2.0"},
		{"priority filter excludes", Baseline{Name: "p", OperatingSystem: Ubuntu, ApprovalRules: &RuleGroup{PatchRules: []Rule{{
			PatchFilterGroup: filters(f(KeyPriority, "Required")), EnableNonSecurity: true}}}},
			aptPkg("x", "optional", false, Version{Version: "2.0", Priority: "optional"}), StateInstalledOther, ""},
		{"apt approved list needs no security origin", Baseline{Name: "a", OperatingSystem: Debian, ApprovedPatches: []string{"x"}},
			aptPkg("x", "optional", false, Version{Version: "2.0"}), StateMissing, "2.0"},
		{"apt lists match names only, not name.arch", Baseline{Name: "a", OperatingSystem: Debian, ApprovedPatches: []string{"x.amd64"}},
			aptPkg("x", "optional", false, Version{Version: "2.0"}), StateInstalledOther, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := Evaluate(tt.baseline, Inventory{Product: "Ubuntu22.04", Packages: []Package{tt.pkg}}, EvalOptions{Now: now})
			p := ev.Patches[0]
			if p.State != tt.wantState || p.CandidateVersion != tt.wantCand {
				t.Errorf("got %s %q, want %s %q", p.State, p.CandidateVersion, tt.wantState, tt.wantCand)
			}
		})
	}
}

func TestEvaluatePendingAndFailed(t *testing.T) {
	t.Parallel()
	old := now.AddDate(0, -1, 0)
	inv := Inventory{Packages: []Package{
		{Name: "a", Arch: "x86_64", Installed: &Installed{Version: sec("1-2", "Critical", old)}},
		{Name: "b", Arch: "x86_64", Installed: &Installed{Version: Version{Version: "1-1"}}, Updates: []Version{sec("1-2", "Critical", old)}},
		{Name: "c", Arch: "x86_64", Installed: &Installed{Version: Version{Version: "1-1"}, PendingReboot: true}},
	}}
	ev := Evaluate(al2023(), inv, EvalOptions{Now: now, PendingReboot: map[string]bool{"a.x86_64": true},
		Failed: map[string]Target{"b.x86_64": {Name: "b", Arch: "x86_64", Version: "1-2"}}})
	got := map[string]State{}
	for _, p := range ev.Patches {
		got[p.KBID] = p.State
	}
	want := map[string]State{"a.x86_64": StateInstalledPendingReboot, "b.x86_64": StateFailed, "c.x86_64": StateInstalledPendingReboot}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
	s := Summarize(ev.Patches)
	if s.InstalledPendingRebootCount != 2 || s.FailedCount != 1 || !s.NonCompliant() {
		t.Errorf("summary = %+v", s)
	}
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	patches := []Patch{
		{State: StateMissing, ComplianceLevel: LevelCritical, Classification: "Security"},
		{State: StateMissing, ComplianceLevel: LevelCritical, Classification: "Bugfix"},
		{State: StateFailed, ComplianceLevel: LevelLow, Classification: "Security"},
		{State: StateInstalledRejected, ComplianceLevel: LevelUnspecified},
		{State: StateInstalled, ComplianceLevel: LevelCritical, Classification: "Security"},
		{State: StateInstalledOther},
		{State: StateNotApplicable, ComplianceLevel: LevelCritical},
	}
	got := Summarize(patches)
	want := InstancePatchState{MissingCount: 2, FailedCount: 1, InstalledRejectedCount: 1, InstalledCount: 1,
		InstalledOtherCount: 1, NotApplicableCount: 1,
		CriticalNonCompliantCount: 2, SecurityNonCompliantCount: 2, OtherNonCompliantCount: 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Summarize (-want +got):\n%s", diff)
	}
}

func TestComplianceItems(t *testing.T) {
	t.Parallel()
	installed := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	r := Report{Summary: InstancePatchState{BaselineID: "pb-0123456789abcdef0", PatchGroup: "prod"}, Patches: []Patch{
		{KBID: "a.x86_64", Title: "a.x86_64:0:1-2", State: StateMissing, ComplianceLevel: LevelCritical,
			Classification: "Security", Severity: "Critical", CVEIDs: []string{"CVE-1", "CVE-2"}},
		{KBID: "b.x86_64", Title: "b.x86_64:0:1-1", State: StateInstalledOther, InstalledTime: installed, Classification: "Bugfix"},
	}}
	got := ComplianceItems(r)
	want := []ComplianceItem{
		{ID: "a.x86_64", Title: "a.x86_64:0:1-2", Severity: LevelCritical, Status: NonCompliant, Details: map[string]string{
			"DocumentName": "", "DocumentVersion": "", "PatchBaselineId": "pb-0123456789abcdef0", "PatchGroup": "prod",
			"PatchState": "Missing", "Classification": "Security", "PatchSeverity": "Critical", "CVEIds": "CVE-1,CVE-2"}},
		{ID: "b.x86_64", Title: "b.x86_64:0:1-1", Severity: LevelUnspecified, Status: Compliant, Details: map[string]string{
			"DocumentName": "", "DocumentVersion": "", "PatchBaselineId": "pb-0123456789abcdef0", "PatchGroup": "prod",
			"PatchState": "InstalledOther", "InstalledTime": "2025-01-02T03:04:05Z"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ComplianceItems (-want +got):\n%s", diff)
	}
}

func TestStateSpellings(t *testing.T) {
	t.Parallel()
	for _, s := range States {
		for _, in := range []string{string(s), s.Enum()} {
			if got, ok := ParseState(in); !ok || got != s {
				t.Errorf("ParseState(%q) = %q, %v; want %q", in, got, ok, s)
			}
		}
	}
	if StateInstalledPendingReboot.Enum() != "INSTALLED_PENDING_REBOOT" {
		t.Errorf("Enum = %q", StateInstalledPendingReboot.Enum())
	}
}

func TestGlob(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true}, {"*", "anything", true}, {"open*", "OpenSSL", true}, {"open?sl", "openssl", true},
		{"contrib/*", "contrib/net", true}, {"kernel*", "kernel-devel", true}, {"kernel", "kernel-devel", false},
		{"lib[a-c]*", "libb2", true}, {"lib[!a-c]*", "libb2", false}, {"lib[", "lib[", false},
		{"*a*b*c*", "xxaxxbxxcxx", true}, {"*a*b*c*", "xxaxxcxxbxx", false},
	}
	for _, tt := range tests {
		if got := Glob(tt.pattern, tt.s); got != tt.want {
			t.Errorf("Glob(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}
