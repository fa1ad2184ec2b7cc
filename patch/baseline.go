package patch

import (
	"slices"
	"strings"
)

// OperatingSystem is SSM's OperatingSystem enum. The zero value means WINDOWS, SSM's default.
type OperatingSystem string

// Operating systems a baseline can be written for.
const (
	Windows               OperatingSystem = "WINDOWS"
	AmazonLinux           OperatingSystem = "AMAZON_LINUX"
	AmazonLinux2          OperatingSystem = "AMAZON_LINUX_2"
	AmazonLinux2022       OperatingSystem = "AMAZON_LINUX_2022"
	AmazonLinux2023       OperatingSystem = "AMAZON_LINUX_2023"
	Ubuntu                OperatingSystem = "UBUNTU"
	Debian                OperatingSystem = "DEBIAN"
	Raspbian              OperatingSystem = "RASPBIAN"
	RedhatEnterpriseLinux OperatingSystem = "REDHAT_ENTERPRISE_LINUX"
	CentOS                OperatingSystem = "CENTOS"
	OracleLinux           OperatingSystem = "ORACLE_LINUX"
	RockyLinux            OperatingSystem = "ROCKY_LINUX"
	AlmaLinux             OperatingSystem = "ALMA_LINUX"
	SUSE                  OperatingSystem = "SUSE"
	MacOS                 OperatingSystem = "MACOS"
)

// OperatingSystems lists every value of the enum in SSM's order.
var OperatingSystems = []OperatingSystem{
	Windows, AmazonLinux, AmazonLinux2, AmazonLinux2022, AmazonLinux2023, Ubuntu, Debian, Raspbian,
	RedhatEnterpriseLinux, CentOS, OracleLinux, RockyLinux, AlmaLinux, SUSE, MacOS,
}

// Valid reports whether o is one of SSM's operating systems (the empty default included).
func (o OperatingSystem) Valid() bool { return o == "" || slices.Contains(OperatingSystems, o) }

// OrDefault returns o, or WINDOWS when o is empty, as SSM fills it in.
func (o OperatingSystem) OrDefault() OperatingSystem {
	if o == "" {
		return Windows
	}
	return o
}

// Family is the package-manager family whose rules an operating system follows.
type Family int

// Families. They differ in what counts as approvable without EnableNonSecurity and whether dates
// matter (reference B5.2, B6.2).
const (
	FamilyWindows Family = iota
	FamilyApt            // Debian, Ubuntu, Raspbian: security origin decides, no dates
	FamilyYum            // Amazon Linux, RHEL and clones: updateinfo decides, dates apply
	FamilySUSE           // like yum, but packages need no update metadata
	FamilyMacOS
)

// Family returns the rules family of o.
func (o OperatingSystem) Family() Family {
	switch o.OrDefault() {
	case Ubuntu, Debian, Raspbian:
		return FamilyApt
	case SUSE:
		return FamilySUSE
	case MacOS:
		return FamilyMacOS
	case Windows:
		return FamilyWindows
	default:
		return FamilyYum
	}
}

// Linux reports whether o is a Linux distribution (Linux-only baseline fields are allowed).
func (o OperatingSystem) Linux() bool {
	f := o.Family()
	return f == FamilyApt || f == FamilyYum || f == FamilySUSE
}

// FilterKey is SSM's PatchFilterKey.
type FilterKey string

// Patch filter keys (the PatchFilterKey enum). Which ones an operating system accepts is in
// filterKeysFor.
const (
	KeyArch           FilterKey = "ARCH"
	KeyAdvisoryID     FilterKey = "ADVISORY_ID"
	KeyBugzillaID     FilterKey = "BUGZILLA_ID"
	KeyPatchSet       FilterKey = "PATCH_SET"
	KeyProduct        FilterKey = "PRODUCT"
	KeyProductFamily  FilterKey = "PRODUCT_FAMILY"
	KeyClassification FilterKey = "CLASSIFICATION"
	KeyCVEID          FilterKey = "CVE_ID"
	KeyEpoch          FilterKey = "EPOCH"
	KeyMSRCSeverity   FilterKey = "MSRC_SEVERITY"
	KeyName           FilterKey = "NAME"
	KeyPatchID        FilterKey = "PATCH_ID"
	KeySection        FilterKey = "SECTION"
	KeyPriority       FilterKey = "PRIORITY"
	KeyRepository     FilterKey = "REPOSITORY"
	KeyRelease        FilterKey = "RELEASE"
	KeySeverity       FilterKey = "SEVERITY"
	KeySecurity       FilterKey = "SECURITY"
	KeyVersion        FilterKey = "VERSION"
)

// FilterKeys lists the PatchFilterKey enum.
var FilterKeys = []FilterKey{
	KeyArch, KeyAdvisoryID, KeyBugzillaID, KeyPatchSet, KeyProduct, KeyProductFamily, KeyClassification,
	KeyCVEID, KeyEpoch, KeyMSRCSeverity, KeyName, KeyPatchID, KeySection, KeyPriority, KeyRepository,
	KeyRelease, KeySeverity, KeySecurity, KeyVersion,
}

// ComplianceLevel is SSM's PatchComplianceLevel, also the Severity of a Patch compliance item.
type ComplianceLevel string

// Compliance levels, highest first.
const (
	LevelCritical      ComplianceLevel = "CRITICAL"
	LevelHigh          ComplianceLevel = "HIGH"
	LevelMedium        ComplianceLevel = "MEDIUM"
	LevelLow           ComplianceLevel = "LOW"
	LevelInformational ComplianceLevel = "INFORMATIONAL"
	LevelUnspecified   ComplianceLevel = "UNSPECIFIED"
)

// Rank orders levels for "highest matching rule wins": CRITICAL 5 … UNSPECIFIED 0 (and empty 0).
func (l ComplianceLevel) Rank() int {
	switch l {
	case LevelCritical:
		return 5
	case LevelHigh:
		return 4
	case LevelMedium:
		return 3
	case LevelLow:
		return 2
	case LevelInformational:
		return 1
	}
	return 0
}

// Valid reports whether l is in the enum (empty counts as the default UNSPECIFIED).
func (l ComplianceLevel) Valid() bool {
	switch l {
	case "", LevelCritical, LevelHigh, LevelMedium, LevelLow, LevelInformational, LevelUnspecified:
		return true
	}
	return false
}

// OrDefault returns l, or UNSPECIFIED when l is empty.
func (l ComplianceLevel) OrDefault() ComplianceLevel {
	if l == "" {
		return LevelUnspecified
	}
	return l
}

// RejectedPatchesAction is what happens to rejected packages.
type RejectedPatchesAction string

// Rejected-patch actions.
const (
	// AllowAsDependency lets a rejected package in as a dependency; installed ones report
	// InstalledOther (compliant), so InstalledRejectedCount stays 0.
	AllowAsDependency RejectedPatchesAction = "ALLOW_AS_DEPENDENCY"
	// Block never installs a rejected package nor anything that needs it; installed ones report
	// InstalledRejected (non-compliant).
	Block RejectedPatchesAction = "BLOCK"
)

// OrDefault returns a, or ALLOW_AS_DEPENDENCY when a is empty.
func (a RejectedPatchesAction) OrDefault() RejectedPatchesAction {
	if a == "" {
		return AllowAsDependency
	}
	return a
}

// Filter is SSM's PatchFilter: the patch matches when its property for Key matches any of Values
// (case-insensitive globs; "*" matches everything, the empty property included).
type Filter struct {
	Key    FilterKey
	Values []string
}

// FilterGroup is SSM's PatchFilterGroup: all filters must match.
type FilterGroup struct {
	PatchFilters []Filter
}

// Rule is SSM's PatchRule.
type Rule struct {
	PatchFilterGroup FilterGroup
	// ComplianceLevel is the Severity given to compliance items this rule approves.
	ComplianceLevel ComplianceLevel `json:",omitempty"`
	// ApproveAfterDays (0–360) approves a patch once this many days have passed since its release;
	// nil when the rule uses ApproveUntilDate instead.
	ApproveAfterDays *int `json:",omitempty"`
	// ApproveUntilDate (YYYY-MM-DD, UTC) approves patches released up to the end of that day.
	ApproveUntilDate string `json:",omitempty"`
	// EnableNonSecurity (Linux only) also approves packages without security metadata.
	EnableNonSecurity bool `json:",omitempty"`
}

// RuleGroup is SSM's PatchRuleGroup.
type RuleGroup struct {
	PatchRules []Rule
}

// PatchSource is SSM's PatchSource: an alternative repository for Linux nodes.
type PatchSource struct {
	Name          string
	Products      []string
	Configuration string // a yum repository ini section or one apt source line
}

// Baseline is SSM's patch baseline, with the field names of GetPatchBaseline so the API layer can
// encode it as is. Zero values mean SSM's defaults (WINDOWS, UNSPECIFIED, ALLOW_AS_DEPENDENCY).
type Baseline struct {
	BaselineID                       string                `json:"BaselineId,omitempty"`
	Name                             string                `json:",omitempty"`
	Description                      string                `json:",omitempty"`
	OperatingSystem                  OperatingSystem       `json:",omitempty"`
	GlobalFilters                    *FilterGroup          `json:",omitempty"`
	ApprovalRules                    *RuleGroup            `json:",omitempty"`
	ApprovedPatches                  []string              `json:",omitempty"`
	ApprovedPatchesComplianceLevel   ComplianceLevel       `json:",omitempty"`
	ApprovedPatchesEnableNonSecurity bool                  `json:",omitempty"`
	RejectedPatches                  []string              `json:",omitempty"`
	RejectedPatchesAction            RejectedPatchesAction `json:",omitempty"`
	Sources                          []PatchSource         `json:",omitempty"`
	// AvailableSecurityUpdatesComplianceStatus is Windows only; kept so a baseline round-trips.
	AvailableSecurityUpdatesComplianceStatus string `json:",omitempty"`
}

// WithDefaults returns a copy of b with SSM's defaults filled in, as GetPatchBaseline shows them.
func (b Baseline) WithDefaults() Baseline {
	c := b.Clone()
	c.OperatingSystem = c.OperatingSystem.OrDefault()
	c.ApprovedPatchesComplianceLevel = c.ApprovedPatchesComplianceLevel.OrDefault()
	c.RejectedPatchesAction = c.RejectedPatchesAction.OrDefault()
	if c.ApprovalRules != nil {
		for i := range c.ApprovalRules.PatchRules {
			r := &c.ApprovalRules.PatchRules[i]
			r.ComplianceLevel = r.ComplianceLevel.OrDefault()
		}
	}
	return c
}

// Clone returns a deep copy of b, so a snapshot cannot change when its source baseline does.
func (b Baseline) Clone() Baseline {
	c := b
	c.GlobalFilters = cloneGroup(b.GlobalFilters)
	if b.ApprovalRules != nil {
		rules := make([]Rule, len(b.ApprovalRules.PatchRules))
		for i, r := range b.ApprovalRules.PatchRules {
			rules[i] = r
			if g := cloneGroup(&r.PatchFilterGroup); g != nil {
				rules[i].PatchFilterGroup = *g
			}
			if r.ApproveAfterDays != nil {
				d := *r.ApproveAfterDays
				rules[i].ApproveAfterDays = &d
			}
		}
		c.ApprovalRules = &RuleGroup{PatchRules: rules}
	}
	c.ApprovedPatches = slices.Clone(b.ApprovedPatches)
	c.RejectedPatches = slices.Clone(b.RejectedPatches)
	if b.Sources != nil {
		c.Sources = make([]PatchSource, len(b.Sources))
		for i, s := range b.Sources {
			s.Products = slices.Clone(s.Products)
			c.Sources[i] = s
		}
	}
	return c
}

func cloneGroup(g *FilterGroup) *FilterGroup {
	if g == nil {
		return nil
	}
	fs := make([]Filter, len(g.PatchFilters))
	for i, f := range g.PatchFilters {
		fs[i] = Filter{Key: f.Key, Values: slices.Clone(f.Values)}
	}
	if g.PatchFilters == nil {
		fs = nil
	}
	return &FilterGroup{PatchFilters: fs}
}

// PatchGroupTagKeys are the tag keys that put a node in a patch group, in the order they are looked up
// (case-sensitive; "PatchGroup" is the only one allowed in instance-metadata tags).
var PatchGroupTagKeys = []string{"Patch Group", "PatchGroup"}

// PatchGroupFromTags returns the node's patch group from its tags, or "" when it has none.
func PatchGroupFromTags(tags map[string]string) string {
	for _, k := range PatchGroupTagKeys {
		if v, ok := tags[k]; ok {
			return v
		}
	}
	return ""
}

// equalFold reports whether a and b are equal ignoring case; a short name for the many uses below.
func equalFold(a, b string) bool { return strings.EqualFold(a, b) }
