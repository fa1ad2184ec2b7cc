package patch

import (
	"strings"
	"testing"
	"time"

	"github.com/runcmd/runcmd"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	manyValues := make([]string, MaxFilterValues+1)
	for i := range manyValues {
		manyValues[i] = "Security"
	}
	manyRules := make([]Rule, MaxApprovalRules+1)
	for i := range manyRules {
		manyRules[i] = Rule{ApproveAfterDays: ptr(1)}
	}
	manyPatches := make([]string, MaxPatchListEntries+1)
	for i := range manyPatches {
		manyPatches[i] = "pkg"
	}
	tests := []struct {
		name    string
		mutate  func(*Baseline)
		wantErr string // substring; "" means valid
	}{
		{"valid AL2023", func(b *Baseline) {}, ""},
		{"bad name", func(b *Baseline) { b.Name = "x" }, "at 'name'"},
		{"bad OS", func(b *Baseline) { b.OperatingSystem = "BEOS" }, "at 'operatingSystem'"},
		{"PRIORITY is not a yum key", func(b *Baseline) {
			b.ApprovalRules.PatchRules[0].PatchFilterGroup.PatchFilters[0] = f(KeyPriority, "Required")
		}, "Invalid filter key PRIORITY for operating system AMAZON_LINUX_2023"},
		{"bad classification value", func(b *Baseline) {
			b.ApprovalRules.PatchRules[0].PatchFilterGroup.PatchFilters[0] = f(KeyClassification, "Sekurity")
		}, "Invalid value Sekurity for filter key CLASSIFICATION"},
		{"Moderate is not an AL2023 severity", func(b *Baseline) {
			b.ApprovalRules.PatchRules[0].PatchFilterGroup.PatchFilters[1] = f(KeySeverity, "Moderate")
		}, "Invalid value Moderate for filter key SEVERITY"},
		{"duplicate key", func(b *Baseline) {
			b.ApprovalRules.PatchRules[0].PatchFilterGroup.PatchFilters[1] = f(KeyClassification, "Bugfix")
		}, "Duplicate filter key CLASSIFICATION"},
		{"too many values", func(b *Baseline) {
			b.ApprovalRules.PatchRules[0].PatchFilterGroup.PatchFilters[0] = f(KeyClassification, manyValues...)
		}, "Member must have length between 1 and 20"},
		{"value too long", func(b *Baseline) {
			b.ApprovalRules.PatchRules[0].PatchFilterGroup.PatchFilters[0] = f(KeyProduct, strings.Repeat("x", 65))
		}, "length between 1 and 64"},
		{"no values", func(b *Baseline) {
			b.ApprovalRules.PatchRules[0].PatchFilterGroup.PatchFilters[0] = f(KeyProduct)
		}, "length between 1 and 20"},
		{"too many rules", func(b *Baseline) { b.ApprovalRules.PatchRules = manyRules }, "less than or equal to 10"},
		{"too many global filters", func(b *Baseline) {
			b.GlobalFilters = &FilterGroup{PatchFilters: []Filter{f(KeyProduct, "*"), f(KeyClassification, "*"),
				f(KeySeverity, "*"), f(KeyProduct, "*"), f(KeyProduct, "*")}}
		}, "'globalFilters.patchFilters' failed to satisfy constraint: Member must have length less than or equal to 4"},
		{"approve after 361 days", func(b *Baseline) { b.ApprovalRules.PatchRules[0].ApproveAfterDays = ptr(361) }, "between 0 and 360"},
		{"approve after 360 days is fine", func(b *Baseline) { b.ApprovalRules.PatchRules[0].ApproveAfterDays = ptr(360) }, ""},
		{"both days and date", func(b *Baseline) { b.ApprovalRules.PatchRules[0].ApproveUntilDate = "2025-01-01" }, "not both"},
		{"neither days nor date", func(b *Baseline) { b.ApprovalRules.PatchRules[0].ApproveAfterDays = nil }, "requires ApproveAfterDays or ApproveUntilDate"},
		{"bad until date", func(b *Baseline) {
			b.ApprovalRules.PatchRules[0].ApproveAfterDays = nil
			b.ApprovalRules.PatchRules[0].ApproveUntilDate = "2025-13-01"
		}, "not a date"},
		{"apt rule needs no date", func(b *Baseline) {
			b.OperatingSystem = Ubuntu
			b.ApprovalRules.PatchRules = []Rule{{PatchFilterGroup: filters(f(KeyPriority, "Required"), f(KeySection, "libs"))}}
		}, ""},
		{"SEVERITY is not an apt key", func(b *Baseline) { b.OperatingSystem = Debian }, "Invalid filter key CLASSIFICATION for operating system DEBIAN"},
		{"too many approved patches", func(b *Baseline) { b.ApprovedPatches = manyPatches }, "'approvedPatches' failed to satisfy constraint"},
		{"patch name too long", func(b *Baseline) { b.RejectedPatches = []string{strings.Repeat("a", 101)} }, "between 1 and 100"},
		{"patch name with a space", func(b *Baseline) { b.RejectedPatches = []string{"a b"} }, "spaces"},
		{"bad rejected action", func(b *Baseline) { b.RejectedPatchesAction = "DROP" }, "rejectedPatchesAction"},
		{"bad compliance level", func(b *Baseline) { b.ApprovalRules.PatchRules[0].ComplianceLevel = "SEVERE" }, "complianceLevel"},
		{"EnableNonSecurity on Windows", func(b *Baseline) {
			b.OperatingSystem = Windows
			b.ApprovalRules.PatchRules = []Rule{{ApproveAfterDays: ptr(7), EnableNonSecurity: true}}
		}, "EnableNonSecurity is supported on Linux"},
		{"Sources on Windows", func(b *Baseline) {
			b.OperatingSystem = ""
			b.ApprovalRules = nil
			b.Sources = []PatchSource{{Name: "src", Products: []string{"x"}, Configuration: "c"}}
		}, "Sources are supported on Linux"},
		{"bad source name", func(b *Baseline) {
			b.Sources = []PatchSource{{Name: "s", Products: []string{"x"}, Configuration: "c"}}
		}, "sources.1.member.name"},
		{"several errors are counted", func(b *Baseline) { b.Name = "x"; b.RejectedPatchesAction = "DROP" }, "2 validation errors detected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := al2023()
			tt.mutate(&b)
			err := b.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.wantErr)
			}
			if runcmd.ErrorCode(err) != runcmd.EINVALID || runcmd.ErrorName(err) != "ValidationException" {
				t.Errorf("error code/name = %s/%s, want invalid/ValidationException", runcmd.ErrorCode(err), runcmd.ErrorName(err))
			}
		})
	}
}

func TestPredefined(t *testing.T) {
	t.Parallel()
	bs := Predefined("eu-west-1")
	seen := map[OperatingSystem]bool{}
	for _, b := range bs {
		if err := b.Validate(); err != nil {
			t.Errorf("%s: %v", b.Name, err)
		}
		if !strings.HasPrefix(b.BaselineID, "arn:aws:ssm:eu-west-1:"+AWSOwnerAccount+":patchbaseline/pb-") {
			t.Errorf("%s id = %s", b.Name, b.BaselineID)
		}
		if !IsPredefined(b.BaselineID) {
			t.Errorf("IsPredefined(%s) = false", b.BaselineID)
		}
		if seen[b.OperatingSystem] {
			t.Errorf("two predefined baselines for %s", b.OperatingSystem)
		}
		seen[b.OperatingSystem] = true
	}
	for _, os := range []OperatingSystem{Debian, Ubuntu, AmazonLinux2023, RedhatEnterpriseLinux, RockyLinux, AlmaLinux, CentOS, Windows} {
		if !seen[os] {
			t.Errorf("no predefined baseline for %s", os)
		}
	}
	b, err := PredefinedByID("us-east-1", IDUbuntuDefault)
	if err != nil || b.Name != "AWS-UbuntuDefaultPatchBaseline" || b.BaselineID != "arn:aws:ssm:us-east-1:075727635805:patchbaseline/pb-0c7e89f711c3095f4" {
		t.Errorf("PredefinedByID = %+v, %v", b, err)
	}
	if _, err := PredefinedByID("us-east-1", "pb-00000000000000000"); runcmd.ErrorCode(err) != runcmd.ENOTFOUND {
		t.Errorf("unknown id: err = %v, want not found", err)
	}
	def, err := PredefinedDefault("us-east-1", "")
	if err != nil || def.OperatingSystem != Windows {
		t.Errorf("default for empty OS = %+v, %v; want WINDOWS", def, err)
	}
	if IsPredefined("pb-0123456789abcdef0") {
		t.Error("custom id reported as predefined")
	}
	if bare, isARN := ParseBaselineID("arn:aws-cn:ssm:cn-north-1::patchbaseline/pb-0c7e89f711c3095f4"); bare != IDUbuntuDefault || !isARN {
		t.Errorf("ParseBaselineID = %q, %v", bare, isARN)
	}
	// Snapshots must not share memory with the catalog.
	b.ApprovalRules.PatchRules[0].PatchFilterGroup.PatchFilters[0].Values[0] = "changed"
	again, _ := PredefinedByID("us-east-1", IDUbuntuDefault)
	if again.ApprovalRules.PatchRules[0].PatchFilterGroup.PatchFilters[0].Values[0] == "changed" {
		t.Error("predefined baselines share slices between calls")
	}
}

func TestCloneIsDeep(t *testing.T) {
	t.Parallel()
	b := al2023()
	b.ApprovedPatches = []string{"a"}
	c := b.Clone()
	*c.ApprovalRules.PatchRules[0].ApproveAfterDays = 99
	c.ApprovalRules.PatchRules[0].PatchFilterGroup.PatchFilters[0].Values[0] = "x"
	c.ApprovedPatches[0] = "b"
	if *b.ApprovalRules.PatchRules[0].ApproveAfterDays != 7 || b.ApprovalRules.PatchRules[0].PatchFilterGroup.PatchFilters[0].Values[0] != "Security" || b.ApprovedPatches[0] != "a" {
		t.Error("Clone shares memory with the original")
	}
}

func TestSnapshot(t *testing.T) {
	t.Parallel()
	id, err := NewSnapshotID()
	if err != nil || !ValidSnapshotID(id) {
		t.Fatalf("NewSnapshotID = %q, %v", id, err)
	}
	s, err := NewSnapshot(id, "i-0123456789abcdef0", "prod", al2023(), now)
	if err != nil {
		t.Fatal(err)
	}
	if s.Baseline.RejectedPatchesAction != AllowAsDependency || s.Baseline.ApprovedPatchesComplianceLevel != LevelUnspecified {
		t.Errorf("snapshot baseline lacks defaults: %+v", s.Baseline)
	}
	if !s.Reusable(now.Add(71*time.Hour)) || s.Reusable(now.Add(72*time.Hour)) {
		t.Error("snapshot reuse window is not 3 days")
	}
	if _, err := NewSnapshot("not-a-guid", "", "", al2023(), now); runcmd.ErrorCode(err) != runcmd.EINVALID {
		t.Errorf("bad id: err = %v", err)
	}
}

func TestProductFromOSRelease(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"ID=ubuntu\nVERSION_ID=\"22.04\"\n":                       "Ubuntu22.04",
		"ID=debian\nVERSION_ID=\"12\"\n":                          "Debian12",
		"NAME=\"Amazon Linux\"\nID=\"amzn\"\nVERSION_ID=\"2023\"": "AmazonLinux2023",
		"ID=\"rhel\"\nVERSION_ID=\"9.4\"\n":                       "RedhatEnterpriseLinux9.4",
		"# comment\nID=rocky\nVERSION_ID='8.10'\n":                "RockyLinux8.10",
	}
	for in, want := range tests {
		if got := ProductFromOSRelease([]byte(in)); got != want {
			t.Errorf("ProductFromOSRelease(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPatchGroupFromTags(t *testing.T) {
	t.Parallel()
	if g := PatchGroupFromTags(map[string]string{"Patch Group": "a", "PatchGroup": "b"}); g != "a" {
		t.Errorf("got %q, want the 'Patch Group' tag", g)
	}
	if g := PatchGroupFromTags(map[string]string{"patchgroup": "x"}); g != "" {
		t.Errorf("got %q, tag keys are case-sensitive", g)
	}
}
