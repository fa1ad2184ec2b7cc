package patch

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/runcmd/runcmd"
)

// A GetPatchBaseline output, as an operator saves it from the CLI, in a list with a Windows entry.
const overrideFile = `[
  {
    "BaselineId": "pb-0123456789abcdef0",
    "Name": "prod-critical",
    "OperatingSystem": "UBUNTU",
    "ApprovalRules": {"PatchRules": [{"PatchFilterGroup": {"PatchFilters": [{"Key": "PRIORITY", "Values": ["Required", "Important"]}]},
      "ComplianceLevel": "CRITICAL"}]},
    "ApprovedPatches": ["openssl"],
    "ApprovedPatchesComplianceLevel": "HIGH",
    "RejectedPatches": [],
    "RejectedPatchesAction": "BLOCK",
    "PatchGroups": ["prod"],
    "CreatedDate": 1740830400.0,
    "Description": "from get-patch-baseline"
  },
  {"OperatingSystem": "WINDOWS", "ApprovalRules": {"PatchRules": [{"PatchFilterGroup": {"PatchFilters": [
    {"Key": "CLASSIFICATION", "Values": ["SecurityUpdates"]}]}, "ApproveAfterDays": 7}]}}
]`

func TestParseAndSelectBaselineOverride(t *testing.T) {
	t.Parallel()
	list, err := ParseBaselineOverride([]byte(overrideFile))
	if err != nil {
		t.Fatal(err)
	}
	got, err := SelectBaselineOverride(list, Ubuntu)
	if err != nil {
		t.Fatal(err)
	}
	want := Baseline{OperatingSystem: Ubuntu, ApprovalRules: &RuleGroup{PatchRules: []Rule{{
		PatchFilterGroup: FilterGroup{PatchFilters: []Filter{{Key: KeyPriority, Values: []string{"Required", "Important"}}}},
		ComplianceLevel:  LevelCritical}}}, ApprovedPatches: []string{"openssl"}, ApprovedPatchesComplianceLevel: LevelHigh,
		RejectedPatches: []string{}, RejectedPatchesAction: Block}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("UBUNTU entry (-want +got):\n%s", diff)
	}
	if w, err := SelectBaselineOverride(list, Windows); err != nil || w.OperatingSystem != Windows {
		t.Errorf("WINDOWS entry: %+v, %v", w, err)
	}
}

func TestBaselineOverrideErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		file    string
		os      OperatingSystem
		matches int    // want a *BaselineOverrideError with this count; -1 for a ValidationException
		message string // part of the error
	}{
		{"single object", `{"OperatingSystem":"UBUNTU"}`, Ubuntu, -1, "not a JSON array"},
		{"not JSON", `OperatingSystem: UBUNTU`, Ubuntu, -1, "not a JSON array of baselines"},
		{"entry not an object", `[{"OperatingSystem":"UBUNTU"}, 7]`, Ubuntu, -1, "entry 2 is not a JSON object"},
		{"wrong member type", `[{"OperatingSystem":"UBUNTU","ApprovedPatches":"openssl"}]`, Ubuntu, -1, "entry 1"},
		{"too big", "[" + strings.Repeat(" ", MaxBaselineOverrideSize) + "]", Ubuntu, -1, "larger than"},
		{"no entry for the OS", `[{"OperatingSystem":"DEBIAN"}]`, Ubuntu, 0, "no baseline for operating system UBUNTU"},
		{"entry without OS matches nothing", `[{"ApprovedPatches":["a"]}]`, Windows, 0, "no baseline"},
		{"two entries for the OS", `[{"OperatingSystem":"UBUNTU"},{"OperatingSystem":"UBUNTU"}]`, Ubuntu, 2, "2 baselines"},
		{"invalid entry", `[{"OperatingSystem":"UBUNTU","ApprovalRules":{"PatchRules":[{"PatchFilterGroup":{"PatchFilters":[{"Key":"MSRC_SEVERITY","Values":["Critical"]}]}}]}}]`,
			Ubuntu, -1, "BaselineOverride for UBUNTU"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			list, err := ParseBaselineOverride([]byte(tt.file))
			if err == nil {
				_, err = SelectBaselineOverride(list, tt.os)
			}
			if err == nil || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("error %v, want one containing %q", err, tt.message)
			}
			var oe *BaselineOverrideError
			switch {
			case tt.matches >= 0 && (!errors.As(err, &oe) || oe.Matches != tt.matches):
				t.Errorf("error %v, want a BaselineOverrideError with %d matches", err, tt.matches)
			case tt.matches < 0 && (runcmd.ErrorCode(err) != runcmd.EINVALID || runcmd.ErrorName(err) != ErrValidation):
				t.Errorf("error %v, want EINVALID %s", err, ErrValidation)
			}
		})
	}
}
