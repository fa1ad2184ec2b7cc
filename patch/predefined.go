package patch

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/runcmd/runcmd"
)

// AWSOwnerAccount owns the predefined baselines in their ARNs. It is the us-east-1 owner; AWS uses other
// accounts and other pb- ids in some Regions, and we use this account and the us-east-1 ids everywhere
// (docs/compatibility.md).
const AWSOwnerAccount = "075727635805"

// Predefined baseline ids (us-east-1). CentOS's real id is not in our sources: ours is made up in the
// same shape.
const (
	IDAmazonLinux2Default    = "pb-0be8c61cde3be63f3"
	IDAmazonLinux2023Default = "pb-05c9c9bf778d4c4d0"
	IDDebianDefault          = "pb-09a5f8eb62bde80b1"
	IDUbuntuDefault          = "pb-0c7e89f711c3095f4"
	IDRedHatDefault          = "pb-0cbb3a633de00f07c"
	IDRockyLinuxDefault      = "pb-03ec98bc512aa3ac0"
	IDAlmaLinuxDefault       = "pb-0cb0c4966f86b059b"
	IDOracleLinuxDefault     = "pb-06bff38e95fe85c02"
	IDCentOSDefault          = "pb-0c0f9e5e0b1a2c3d4"
	IDWindowsDefault         = "pb-09ca3fb51f0412ec3"
)

var arnRE = regexp.MustCompile(`^arn:(aws[a-z-]*):ssm:([a-z0-9-]*):([0-9]*):patchbaseline/(pb-[0-9a-f]{17})$`)

// PredefinedARN returns the ARN under which AWS shows a predefined baseline in region, the form
// RegisterDefaultPatchBaseline needs to go back to an AWS baseline.
func PredefinedARN(region, id string) string {
	return "arn:aws:ssm:" + region + ":" + AWSOwnerAccount + ":patchbaseline/" + id
}

// ParseBaselineID returns the bare pb- id of a baseline id or patch-baseline ARN (any partition,
// Region or account), and whether id was an ARN.
func ParseBaselineID(id string) (bare string, isARN bool) {
	if m := arnRE.FindStringSubmatch(id); m != nil {
		return m[4], true
	}
	return id, false
}

// days returns a pointer for Rule.ApproveAfterDays.
func days(n int) *int { return &n }

func rule(level ComplianceLevel, after *int, nonSecurity bool, filters ...Filter) Rule {
	return Rule{
		PatchFilterGroup:  FilterGroup{PatchFilters: filters},
		ComplianceLevel:   level,
		ApproveAfterDays:  after,
		EnableNonSecurity: nonSecurity,
	}
}

func f(key FilterKey, values ...string) Filter { return Filter{Key: key, Values: values} }

// predefined returns the AWS-owned baselines with bare ids. The Ubuntu content is the 2021 snapshot
// (reference B5.3); the others follow the guide's prose in the same shape, which is inferred.
func predefined() []Baseline {
	allProducts := &FilterGroup{PatchFilters: []Filter{f(KeyProduct, "*")}}
	aptRules := &RuleGroup{PatchRules: []Rule{rule(LevelUnspecified, days(7), false,
		f(KeyPriority, "Required", "Important", "Standard", "Optional", "Extra"))}}
	secAndBugfix := func(sev ...string) *RuleGroup {
		return &RuleGroup{PatchRules: []Rule{
			rule(LevelUnspecified, days(7), false, f(KeyClassification, "Security"), f(KeySeverity, sev...)),
			rule(LevelUnspecified, days(7), false, f(KeyClassification, "Bugfix")),
		}}
	}
	base := func(id, name, desc string, os OperatingSystem, rules *RuleGroup) Baseline {
		return Baseline{
			BaselineID: id, Name: name, Description: desc, OperatingSystem: os,
			GlobalFilters: allProducts, ApprovalRules: rules,
			ApprovedPatchesComplianceLevel: LevelUnspecified, RejectedPatchesAction: AllowAsDependency,
		}
	}
	return []Baseline{
		base(IDWindowsDefault, "AWS-DefaultPatchBaseline", "Default Patch Baseline Provided by AWS.", Windows,
			&RuleGroup{PatchRules: []Rule{rule(LevelUnspecified, days(7), false,
				f(KeyClassification, "CriticalUpdates", "SecurityUpdates"), f(KeyMSRCSeverity, "Critical", "Important"))}}),
		base(IDAmazonLinux2Default, "AWS-AmazonLinux2DefaultPatchBaseline",
			"Baseline containing all Security and Bugfix updates approved for Amazon Linux 2 instances",
			AmazonLinux2, secAndBugfix("Critical", "Important")),
		base(IDAmazonLinux2023Default, "AWS-AmazonLinux2023DefaultPatchBaseline",
			"Default Patch Baseline for Amazon Linux 2023 Provided by AWS.", AmazonLinux2023,
			secAndBugfix("Critical", "Important")),
		base(IDUbuntuDefault, "AWS-UbuntuDefaultPatchBaseline", "Default Patch Baseline for Ubuntu Provided by AWS.",
			Ubuntu, aptRules),
		base(IDDebianDefault, "AWS-DebianDefaultPatchBaseline", "Default Patch Baseline for Debian Provided by AWS.",
			Debian, aptRules),
		base(IDRedHatDefault, "AWS-RedHatDefaultPatchBaseline",
			"Default Patch Baseline for Redhat Enterprise Linux Provided by AWS.", RedhatEnterpriseLinux,
			secAndBugfix("Critical", "Important")),
		base(IDRockyLinuxDefault, "AWS-RockyLinuxDefaultPatchBaseline",
			"Default Patch Baseline for Rocky Linux Provided by AWS.", RockyLinux, secAndBugfix("Critical", "Important")),
		base(IDAlmaLinuxDefault, "AWS-AlmaLinuxDefaultPatchBaseline",
			"Default Patch Baseline for Alma Linux Provided by AWS.", AlmaLinux, secAndBugfix("Critical", "Important")),
		base(IDOracleLinuxDefault, "AWS-OracleLinuxDefaultPatchBaseline",
			"Default Patch Baseline for Oracle Linux Server Provided by AWS.", OracleLinux,
			secAndBugfix("Important", "Moderate")),
		base(IDCentOSDefault, "AWS-CentOSDefaultPatchBaseline", "Default Patch Baseline for CentOS Provided by AWS.",
			CentOS, &RuleGroup{PatchRules: []Rule{rule(LevelUnspecified, days(7), true, f(KeyClassification, "*"))}}),
	}
}

// Predefined returns the AWS-owned baselines of region, one default per supported operating system,
// with ARN ids as AWS shows them. They cannot be edited or deleted (IsPredefined).
func Predefined(region string) []Baseline {
	bs := predefined()
	for i := range bs {
		bs[i].BaselineID = PredefinedARN(region, bs[i].BaselineID)
	}
	return bs
}

// PredefinedByID returns the predefined baseline with id (bare pb- id or ARN), ARN-identified in
// region, or ENOTFOUND/DoesNotExistException.
func PredefinedByID(region, id string) (Baseline, error) {
	bare, _ := ParseBaselineID(id)
	for _, b := range predefined() {
		if b.BaselineID == bare {
			b.BaselineID = PredefinedARN(region, bare)
			return b, nil
		}
	}
	return Baseline{}, runcmd.Errorf(runcmd.ENOTFOUND, "DoesNotExistException",
		"Patch Baseline %s does not exist.", id)
}

// PredefinedDefault returns AWS's default baseline for os in region (WINDOWS when os is empty), or
// ENOTFOUND/DoesNotExistException for an operating system we ship no predefined baseline for.
func PredefinedDefault(region string, os OperatingSystem) (Baseline, error) {
	os = os.OrDefault()
	for _, b := range Predefined(region) {
		if b.OperatingSystem == os {
			return b, nil
		}
	}
	return Baseline{}, runcmd.Errorf(runcmd.ENOTFOUND, "DoesNotExistException",
		"no predefined patch baseline for operating system %s", os)
}

// IsPredefined reports whether id (bare or ARN) names an AWS-owned baseline.
func IsPredefined(id string) bool {
	bare, _ := ParseBaselineID(id)
	for _, b := range predefined() {
		if b.BaselineID == bare {
			return true
		}
	}
	return false
}

// ErrPredefinedReadOnly is returned for an attempt to change an AWS-owned baseline.
func ErrPredefinedReadOnly(id string) error {
	return runcmd.Errorf(runcmd.EINVALID, ErrValidation, "%s", fmt.Sprintf(
		"Patch Baseline %s is owned by AWS and cannot be modified or deleted.", strings.TrimSpace(id)))
}
