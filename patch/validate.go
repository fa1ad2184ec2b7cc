package patch

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/runcmd/runcmd"
)

// Baseline limits from the SSM API model (reference B5.1).
const (
	MaxGlobalFilters     = 4
	MaxApprovalRules     = 10
	MaxFiltersPerGroup   = 4
	MaxFilterValues      = 20
	MaxFilterValueLength = 64
	MaxPatchListEntries  = 50  // ApprovedPatches and RejectedPatches each
	MaxPatchNameLength   = 100 // one entry of ApprovedPatches/RejectedPatches
	MaxApproveAfterDays  = 360
	MaxSources           = 20
	MaxSourceProducts    = 20
	MaxDescriptionLength = 1024
)

// ErrValidation is the SSM error name of every baseline validation failure. SSM reports API-model
// violations (lengths, patterns, enums) as ValidationException and so do we for the semantic rules
// (filter keys per OS, ApproveAfterDays vs ApproveUntilDate), whose exact SSM error name the sources
// do not give.
const ErrValidation = "ValidationException"

var (
	baselineNameRE = regexp.MustCompile(`^[a-zA-Z0-9_\-.]{3,128}$`)
	baselineIDRE   = regexp.MustCompile(`^[a-zA-Z0-9_\-:/]{20,128}$`)
	sourceNameRE   = regexp.MustCompile(`^[a-zA-Z0-9_\-.]{3,50}$`)
	untilDateRE    = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
)

// filterKeysFor lists the filter keys each operating system accepts (DescribePatchProperties, with
// SECTION for apt as the payload and the guide support it).
func filterKeysFor(os OperatingSystem) []FilterKey {
	switch os.OrDefault() {
	case Ubuntu, Debian, Raspbian:
		return []FilterKey{KeyProduct, KeyPriority, KeySection}
	case MacOS:
		return []FilterKey{KeyProduct, KeyClassification}
	case Windows:
		return []FilterKey{KeyProduct, KeyProductFamily, KeyClassification, KeyMSRCSeverity, KeyPatchSet}
	default:
		return []FilterKey{KeyProduct, KeyClassification, KeySeverity}
	}
}

// filterValuesFor returns the closed value set of a key on an OS, or nil when any value is accepted.
func filterValuesFor(os OperatingSystem, key FilterKey) []string {
	os = os.OrDefault()
	switch key {
	case KeyPriority:
		return []string{"Required", "Important", "Standard", "Optional", "Extra"}
	case KeyClassification:
		switch os.Family() {
		case FamilyYum:
			return []string{"Security", "Bugfix", "Enhancement", "Recommended", "Newpackage"}
		case FamilySUSE:
			return []string{"Security", "Recommended", "Optional", "Feature", "Document", "Yast"}
		}
	case KeySeverity:
		switch os {
		case AmazonLinux, AmazonLinux2:
			return []string{"Critical", "Important", "Medium", "Low"}
		case AmazonLinux2022, AmazonLinux2023:
			return []string{"Critical", "Important", "Medium", "Low", "None"}
		default:
			return []string{"Critical", "Important", "Moderate", "Low"}
		}
	case KeyPatchSet:
		return []string{"OS", "APPLICATION"}
	}
	return nil
}

// violations collects validation failures and reports them the way SSM's model validation does:
// "N validation error(s) detected: a; b".
type violations []string

func (v *violations) addf(format string, args ...any) { *v = append(*v, fmt.Sprintf(format, args...)) }

func (v violations) err() error {
	if len(v) == 0 {
		return nil
	}
	word := "errors"
	if len(v) == 1 {
		word = "error"
	}
	return runcmd.Errorf(runcmd.EINVALID, ErrValidation, "%d validation %s detected: %s", len(v), word,
		strings.Join(v, "; "))
}

// Validate checks b as CreatePatchBaseline would: required fields, lengths, patterns and enums of the
// API model, the filter keys and values each operating system accepts, one of ApproveAfterDays or
// ApproveUntilDate per rule (optional on apt systems, whose payload never checks dates), and the
// Linux-only fields. BaselineId is checked only when set. The error is EINVALID/ValidationException.
func (b Baseline) Validate() error {
	var v violations
	if !baselineNameRE.MatchString(b.Name) {
		v.addf("Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9_\\-.]{3,128}$", b.Name)
	}
	if b.BaselineID != "" && !baselineIDRE.MatchString(b.BaselineID) {
		v.addf("Value '%s' at 'baselineId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9_\\-:/]{20,128}$", b.BaselineID)
	}
	if len(b.Description) > MaxDescriptionLength {
		v.addf("Value at 'description' failed to satisfy constraint: Member must have length less than or equal to %d", MaxDescriptionLength)
	}
	if !b.OperatingSystem.Valid() {
		v.addf("Value '%s' at 'operatingSystem' failed to satisfy constraint: Member must satisfy enum value set: %v", b.OperatingSystem, OperatingSystems)
	}
	if !b.ApprovedPatchesComplianceLevel.Valid() {
		v.addf("Value '%s' at 'approvedPatchesComplianceLevel' failed to satisfy constraint: Member must satisfy enum value set: [CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL, UNSPECIFIED]", b.ApprovedPatchesComplianceLevel)
	}
	switch b.RejectedPatchesAction {
	case "", AllowAsDependency, Block:
	default:
		v.addf("Value '%s' at 'rejectedPatchesAction' failed to satisfy constraint: Member must satisfy enum value set: [ALLOW_AS_DEPENDENCY, BLOCK]", b.RejectedPatchesAction)
	}
	switch b.AvailableSecurityUpdatesComplianceStatus {
	case "", "COMPLIANT", "NON_COMPLIANT":
	default:
		v.addf("Value '%s' at 'availableSecurityUpdatesComplianceStatus' failed to satisfy constraint: Member must satisfy enum value set: [COMPLIANT, NON_COMPLIANT]", b.AvailableSecurityUpdatesComplianceStatus)
	}
	if len(v) > 0 && !b.OperatingSystem.Valid() {
		return v.err() // the per-OS rules below need a known OS
	}
	os := b.OperatingSystem.OrDefault()

	if b.GlobalFilters != nil {
		if len(b.GlobalFilters.PatchFilters) > MaxGlobalFilters {
			v.addf("Value at 'globalFilters.patchFilters' failed to satisfy constraint: Member must have length less than or equal to %d", MaxGlobalFilters)
		}
		validateGroup(&v, os, "globalFilters", *b.GlobalFilters)
	}
	if b.ApprovalRules != nil {
		if len(b.ApprovalRules.PatchRules) > MaxApprovalRules {
			v.addf("Value at 'approvalRules.patchRules' failed to satisfy constraint: Member must have length less than or equal to %d", MaxApprovalRules)
		}
		for i, r := range b.ApprovalRules.PatchRules {
			validateRule(&v, os, fmt.Sprintf("approvalRules.patchRules.%d.member", i+1), r)
		}
	}
	validatePatchList(&v, "approvedPatches", b.ApprovedPatches)
	validatePatchList(&v, "rejectedPatches", b.RejectedPatches)
	if len(b.Sources) > MaxSources {
		v.addf("Value at 'sources' failed to satisfy constraint: Member must have length less than or equal to %d", MaxSources)
	}
	for i, s := range b.Sources {
		at := fmt.Sprintf("sources.%d.member", i+1)
		if !sourceNameRE.MatchString(s.Name) {
			v.addf("Value '%s' at '%s.name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9_\\-.]{3,50}$", s.Name, at)
		}
		if len(s.Products) < 1 || len(s.Products) > MaxSourceProducts {
			v.addf("Value at '%s.products' failed to satisfy constraint: Member must have length between 1 and %d", at, MaxSourceProducts)
		}
		for _, p := range s.Products {
			if len(p) < 1 || len(p) > 128 {
				v.addf("Value '%s' at '%s.products' failed to satisfy constraint: Member must have length between 1 and 128", p, at)
			}
		}
		if len(s.Configuration) < 1 || len(s.Configuration) > 1024 {
			v.addf("Value at '%s.configuration' failed to satisfy constraint: Member must have length between 1 and 1024", at)
		}
	}

	// Semantic rules, after the model constraints as SSM checks them.
	if !os.Linux() {
		if len(b.Sources) > 0 {
			v.addf("Sources are supported on Linux operating systems only, not %s", os)
		}
		if b.ApprovedPatchesEnableNonSecurity {
			v.addf("ApprovedPatchesEnableNonSecurity is supported on Linux operating systems only, not %s", os)
		}
	}
	if b.AvailableSecurityUpdatesComplianceStatus != "" && os != Windows {
		v.addf("AvailableSecurityUpdatesComplianceStatus is supported on WINDOWS only, not %s", os)
	}
	return v.err()
}

func validateGroup(v *violations, os OperatingSystem, at string, g FilterGroup) {
	allowed := filterKeysFor(os)
	seen := map[FilterKey]bool{}
	for i, f := range g.PatchFilters {
		fat := fmt.Sprintf("%s.patchFilters.%d.member", at, i+1)
		if !slices.Contains(FilterKeys, f.Key) {
			v.addf("Value '%s' at '%s.key' failed to satisfy constraint: Member must satisfy enum value set: %v", f.Key, fat, FilterKeys)
			continue
		}
		if !slices.Contains(allowed, f.Key) {
			v.addf("Invalid filter key %s for operating system %s: valid keys are %v", f.Key, os, allowed)
			continue
		}
		if seen[f.Key] {
			v.addf("Duplicate filter key %s in %s", f.Key, at)
		}
		seen[f.Key] = true
		if len(f.Values) < 1 || len(f.Values) > MaxFilterValues {
			v.addf("Value at '%s.values' failed to satisfy constraint: Member must have length between 1 and %d", fat, MaxFilterValues)
		}
		closed := filterValuesFor(os, f.Key)
		for _, val := range f.Values {
			if len(val) < 1 || len(val) > MaxFilterValueLength {
				v.addf("Value '%s' at '%s.values' failed to satisfy constraint: Member must have length between 1 and %d", val, fat, MaxFilterValueLength)
				continue
			}
			if closed != nil && val != "*" && !slices.ContainsFunc(closed, func(c string) bool { return equalFold(c, val) }) {
				v.addf("Invalid value %s for filter key %s on operating system %s: valid values are %v", val, f.Key, os, closed)
			}
		}
	}
}

func validateRule(v *violations, os OperatingSystem, at string, r Rule) {
	if len(r.PatchFilterGroup.PatchFilters) > MaxFiltersPerGroup {
		v.addf("Value at '%s.patchFilterGroup.patchFilters' failed to satisfy constraint: Member must have length less than or equal to %d", at, MaxFiltersPerGroup)
	}
	validateGroup(v, os, at+".patchFilterGroup", r.PatchFilterGroup)
	if !r.ComplianceLevel.Valid() {
		v.addf("Value '%s' at '%s.complianceLevel' failed to satisfy constraint: Member must satisfy enum value set: [CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL, UNSPECIFIED]", r.ComplianceLevel, at)
	}
	if d := r.ApproveAfterDays; d != nil && (*d < 0 || *d > MaxApproveAfterDays) {
		v.addf("Value '%d' at '%s.approveAfterDays' failed to satisfy constraint: Member must have value between 0 and %d", *d, at, MaxApproveAfterDays)
	}
	if r.ApproveUntilDate != "" {
		if _, err := parseUntilDate(r.ApproveUntilDate); err != nil {
			v.addf("Value '%s' at '%s.approveUntilDate' is not a date in the format YYYY-MM-DD", r.ApproveUntilDate, at)
		}
	}
	switch {
	case r.ApproveAfterDays != nil && r.ApproveUntilDate != "":
		v.addf("A patch rule can have either ApproveAfterDays or ApproveUntilDate, not both (%s)", at)
	case r.ApproveAfterDays == nil && r.ApproveUntilDate == "" && os.Family() != FamilyApt:
		v.addf("A patch rule requires ApproveAfterDays or ApproveUntilDate (%s)", at)
	}
	if r.EnableNonSecurity && !os.Linux() {
		v.addf("EnableNonSecurity is supported on Linux operating systems only, not %s", os)
	}
}

func validatePatchList(v *violations, at string, list []string) {
	if len(list) > MaxPatchListEntries {
		v.addf("Value at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", at, MaxPatchListEntries)
	}
	for _, p := range list {
		if len(p) < 1 || len(p) > MaxPatchNameLength {
			v.addf("Value '%s' at '%s' failed to satisfy constraint: Member must have length between 1 and %d", p, at, MaxPatchNameLength)
			continue
		}
		if strings.ContainsFunc(p, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			v.addf("Value '%s' at '%s' must not contain spaces or control characters", p, at)
		}
	}
}

// parseUntilDate parses an ApproveUntilDate (YYYY-MM-DD, UTC).
func parseUntilDate(s string) (time.Time, error) {
	if !untilDateRE.MatchString(s) {
		return time.Time{}, fmt.Errorf("parse approve-until date %q: want YYYY-MM-DD", s)
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse approve-until date %q: %w", s, err)
	}
	return t, nil
}
