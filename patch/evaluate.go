package patch

import (
	"sort"
	"strings"
	"time"
)

// State is a patch's compliance state as DescribeInstancePatches shows it. The API model spells the
// enum in UPPER_SNAKE (INSTALLED_OTHER); the CLI samples and the payload use these CamelCase strings.
// ParseState accepts both.
type State string

// Patch states (reference B7.1).
const (
	StateInstalled              State = "Installed"
	StateInstalledOther         State = "InstalledOther"
	StateInstalledPendingReboot State = "InstalledPendingReboot"
	StateInstalledRejected      State = "InstalledRejected"
	StateMissing                State = "Missing"
	StateFailed                 State = "Failed"
	StateNotApplicable          State = "NotApplicable"
)

// States lists the Linux patch states.
var States = []State{StateInstalled, StateInstalledOther, StateInstalledPendingReboot,
	StateInstalledRejected, StateMissing, StateFailed, StateNotApplicable}

// Compliant reports whether a patch in state s is compliant: Installed, InstalledOther and
// NotApplicable are; the others make the node NON_COMPLIANT.
func (s State) Compliant() bool {
	return s == StateInstalled || s == StateInstalledOther || s == StateNotApplicable
}

// Enum returns the API model's spelling: INSTALLED_PENDING_REBOOT for InstalledPendingReboot.
func (s State) Enum() string {
	var b strings.Builder
	for i, r := range string(s) {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

// ParseState accepts either spelling (Missing, MISSING, InstalledOther, INSTALLED_OTHER), any case.
func ParseState(s string) (State, bool) {
	for _, st := range States {
		if strings.EqualFold(s, string(st)) || strings.EqualFold(s, st.Enum()) {
			return st, true
		}
	}
	return "", false
}

// Patch is one package's result: the fields of DescribeInstancePatches (PatchComplianceData) plus the
// compliance level and versions the compliance item and install list need.
type Patch struct {
	// KBID is name.arch on Linux (KBId in the API, Id of the compliance item).
	KBID string `json:"KBId"`
	// Title is "name.arch:version" (the version is rpm's epoch:version-release on the yum family).
	Title string
	Name  string
	Arch  string
	// Classification and Severity are the vendor's (Severity falls back to the apt priority, as the
	// payload's PatchSeverity does).
	Classification string
	Severity       string
	State          State
	InstalledTime  time.Time `json:",omitzero"`
	// CVEIDs are reported for Missing and Failed patches only.
	CVEIDs []string `json:"CVEIds,omitempty"`
	// ComplianceLevel is the level of the rule (or approved list) that approved the patch; it becomes
	// the compliance item's Severity. UNSPECIFIED for patches no rule approved.
	ComplianceLevel  ComplianceLevel
	InstalledVersion string `json:",omitempty"`
	// CandidateVersion is the approved version to install (Missing, Failed, NotApplicable).
	CandidateVersion string `json:",omitempty"`
	RebootRequired   bool   `json:",omitempty"`
}

// Evaluation is the result of checking an inventory against a baseline.
type Evaluation struct {
	// Patches has one entry per package the baseline has an opinion on, sorted by KBID. Installed
	// packages always appear; packages that are only available appear as NotApplicable when approved.
	Patches []Patch
	// Missing lists the approved updates to install for Operation=Install, sorted by name.arch.
	Missing []Target
}

// EvalOptions carries what the evaluation needs besides the baseline and inventory.
type EvalOptions struct {
	// Now is the evaluation time for ApproveAfterDays/ApproveUntilDate.
	Now time.Time
	// PendingReboot holds the name.arch of packages Patch Manager installed with no reboot since; when
	// installed and otherwise compliant they report InstalledPendingReboot.
	PendingReboot map[string]bool
	// Failed holds the name.arch of packages whose install was attempted in this run and failed, with
	// the version that was tried.
	Failed map[string]Target
}

// Evaluate applies baseline b to inv (reference B5.2):
//
//  1. a version matching RejectedPatches is never approved;
//  2. one matching ApprovedPatches is approved with ApprovedPatchesComplianceLevel (the yum family also
//     needs update metadata or ApprovedPatchesEnableNonSecurity), even when GlobalFilters exclude it;
//  3. otherwise it must match GlobalFilters and at least one approval rule, and gets the highest
//     ComplianceLevel of the rules it matches;
//  4. a rule matches when all its filters match, the release date is old enough (not on apt, whose
//     payload never checks dates), and the version carries security metadata (apt: a security origin;
//     yum: any advisory; SUSE: always) unless the rule has EnableNonSecurity;
//  5. per name.arch the newest approved update wins: installed and rejected → InstalledRejected
//     (BLOCK) or InstalledOther (ALLOW_AS_DEPENDENCY); approved update newer than installed → Missing;
//     installed version approved → Installed; other installed → InstalledOther; not installed but
//     approved → NotApplicable.
func Evaluate(b Baseline, inv Inventory, opt EvalOptions) Evaluation {
	e := evaluator{b: b.WithDefaults(), product: inv.Product, now: opt.Now.UTC()}
	e.prepare()
	var ev Evaluation
	for _, pkg := range inv.Packages {
		p, ok := e.patch(pkg, opt)
		if !ok {
			continue
		}
		ev.Patches = append(ev.Patches, p)
		if p.State == StateMissing {
			ev.Missing = append(ev.Missing, Target{Name: pkg.Name, Arch: pkg.Arch, Version: p.CandidateVersion})
		}
	}
	sort.Slice(ev.Patches, func(i, j int) bool { return ev.Patches[i].KBID < ev.Patches[j].KBID })
	sort.Slice(ev.Missing, func(i, j int) bool { return ev.Missing[i].Key() < ev.Missing[j].Key() })
	return ev
}

type evaluator struct {
	b       Baseline
	family  Family
	product string
	now     time.Time
	rules   []compiledRule
}

type compiledRule struct {
	Rule
	until time.Time // exclusive upper bound on the release date
}

func (e *evaluator) prepare() {
	e.family = e.b.OperatingSystem.Family()
	if e.b.ApprovalRules == nil {
		return
	}
	for _, r := range e.b.ApprovalRules.PatchRules {
		cr := compiledRule{Rule: r}
		switch {
		case r.ApproveUntilDate != "":
			d, err := parseUntilDate(r.ApproveUntilDate)
			if err != nil {
				continue // Validate rejects it; an unparseable rule approves nothing
			}
			cr.until = d.AddDate(0, 0, 1) // the whole day, through 23:59:59Z
		case r.ApproveAfterDays != nil:
			cr.until = e.now.AddDate(0, 0, -*r.ApproveAfterDays)
		default:
			cr.until = e.now.Add(time.Nanosecond) // no delay: anything released up to now
		}
		e.rules = append(e.rules, cr)
	}
}

func (e *evaluator) patch(pkg Package, opt EvalOptions) (Patch, bool) {
	key := pkg.Key()
	p := Patch{KBID: key, Name: pkg.Name, Arch: pkg.Arch, ComplianceLevel: LevelUnspecified}

	var cand *Version
	for i := range pkg.Updates {
		if ok, lvl := e.approve(pkg, pkg.Updates[i]); ok {
			cand = &pkg.Updates[i]
			p.ComplianceLevel = lvl
			break
		}
	}
	describe := func(v Version) {
		p.Title = key + ":" + v.Version
		p.Classification = v.Classification
		p.Severity = v.Severity
		if p.Severity == "" {
			p.Severity = v.Priority
		}
	}
	missing := func(v Version) {
		describe(v)
		p.CandidateVersion = v.Version
		p.CVEIDs = v.CVEIDs
		p.RebootRequired = v.RebootRequired
	}

	inst := pkg.Installed
	if inst == nil {
		if cand == nil {
			return Patch{}, false
		}
		missing(*cand)
		p.CVEIDs = nil
		p.State = StateNotApplicable
		return p, true
	}
	p.InstalledVersion = inst.Version.Version
	p.InstalledTime = inst.InstalledTime

	switch {
	case e.rejected(pkg, inst.Version):
		describe(inst.Version)
		p.ComplianceLevel = LevelUnspecified
		p.State = StateInstalledOther
		if e.b.RejectedPatchesAction == Block {
			p.State = StateInstalledRejected
		}
	case opt.Failed[key] != (Target{}):
		if cand != nil {
			missing(*cand)
		} else {
			describe(inst.Version)
		}
		p.CandidateVersion = opt.Failed[key].Version
		p.Title = key + ":" + opt.Failed[key].Version
		p.State = StateFailed
	case cand != nil:
		missing(*cand)
		p.State = StateMissing
	default:
		describe(inst.Version)
		ok, lvl := e.approve(pkg, inst.Version)
		p.State = StateInstalledOther
		if ok {
			p.State = StateInstalled
			p.ComplianceLevel = lvl
		}
		if opt.PendingReboot[key] || inst.PendingReboot {
			p.State = StateInstalledPendingReboot
		}
	}
	if p.State != StateMissing && p.State != StateFailed {
		p.CVEIDs = nil
	}
	return p, true
}

// identities returns the strings ApprovedPatches/RejectedPatches entries are matched against. apt
// lists take package names only; the yum family also takes name.arch, full package names
// (name-version-release.arch, with or without epoch) and, for approval, advisory, CVE and Bugzilla ids.
func (e *evaluator) identities(pkg Package, v Version, approval bool) []string {
	if e.family == FamilyApt {
		return []string{pkg.Name}
	}
	ids := []string{pkg.Name, pkg.Key()}
	if v.Version != "" {
		full := v.Version
		noEpoch := full
		if i := strings.IndexByte(full, ':'); i >= 0 {
			noEpoch = full[i+1:]
		}
		ids = append(ids, pkg.Name+"-"+noEpoch, pkg.Name+"-"+noEpoch+"."+pkg.Arch,
			pkg.Name+"-"+full, pkg.Name+"-"+full+"."+pkg.Arch)
	}
	if approval {
		ids = append(ids, v.AdvisoryIDs...)
		ids = append(ids, v.CVEIDs...)
		ids = append(ids, v.BugzillaIDs...)
	}
	return ids
}

func (e *evaluator) rejected(pkg Package, v Version) bool {
	return anyGlob(e.b.RejectedPatches, e.identities(pkg, v, false)...)
}

// hasMetadata reports whether v can be approved without EnableNonSecurity.
func (e *evaluator) hasMetadata(v Version) bool {
	switch e.family {
	case FamilyApt:
		return equalFold(v.Classification, "Security")
	case FamilySUSE:
		return true
	default:
		return v.Classification != ""
	}
}

// approve decides whether version v of pkg is approved and at which compliance level.
func (e *evaluator) approve(pkg Package, v Version) (bool, ComplianceLevel) {
	if e.rejected(pkg, v) {
		return false, LevelUnspecified
	}
	if anyGlob(e.b.ApprovedPatches, e.identities(pkg, v, true)...) &&
		(e.family == FamilyApt || e.hasMetadata(v) || e.b.ApprovedPatchesEnableNonSecurity) {
		return true, e.b.ApprovedPatchesComplianceLevel
	}
	if e.b.GlobalFilters != nil && !e.groupMatches(*e.b.GlobalFilters, pkg, v) {
		return false, LevelUnspecified
	}
	ok, best := false, LevelUnspecified
	for _, r := range e.rules {
		if !e.ruleMatches(r, pkg, v) {
			continue
		}
		if !ok || r.ComplianceLevel.Rank() > best.Rank() {
			best = r.ComplianceLevel.OrDefault()
		}
		ok = true
	}
	return ok, best
}

func (e *evaluator) ruleMatches(r compiledRule, pkg Package, v Version) bool {
	if !r.EnableNonSecurity && !e.hasMetadata(v) {
		return false
	}
	if e.family != FamilyApt {
		released := v.ReleaseDate
		if released.IsZero() {
			released = time.Unix(0, 0)
		}
		if !released.Before(r.until) {
			return false
		}
	}
	return e.groupMatches(r.PatchFilterGroup, pkg, v)
}

func (e *evaluator) groupMatches(g FilterGroup, pkg Package, v Version) bool {
	for _, f := range g.PatchFilters {
		if !e.filterMatches(f, pkg, v) {
			return false
		}
	}
	return true
}

func (e *evaluator) filterMatches(f Filter, pkg Package, v Version) bool {
	switch f.Key {
	case KeyProduct:
		return anyGlob(f.Values, e.product)
	case KeyClassification:
		return anyGlob(f.Values, v.Classification)
	case KeySeverity:
		sev := []string{v.Severity}
		// AL2022/AL2023 call it Medium in filters and Moderate in some advisories (reference B6.2).
		if e.b.OperatingSystem == AmazonLinux2022 || e.b.OperatingSystem == AmazonLinux2023 {
			switch {
			case equalFold(v.Severity, "Moderate"):
				sev = append(sev, "Medium")
			case equalFold(v.Severity, "Medium"):
				sev = append(sev, "Moderate")
			}
		}
		return anyGlob(f.Values, sev...)
	case KeyPriority:
		return anyGlob(f.Values, v.Priority)
	case KeySection:
		return anyGlob(f.Values, v.Section)
	case KeyArch:
		return anyGlob(f.Values, pkg.Arch)
	case KeyName:
		return anyGlob(f.Values, pkg.Name)
	case KeyRepository:
		return anyGlob(f.Values, v.Repository)
	case KeyVersion:
		return anyGlob(f.Values, v.Version)
	case KeyAdvisoryID:
		return anyGlob(f.Values, v.AdvisoryIDs...)
	case KeyCVEID:
		return anyGlob(f.Values, v.CVEIDs...)
	case KeyBugzillaID:
		return anyGlob(f.Values, v.BugzillaIDs...)
	case KeySecurity:
		sec := "FALSE"
		if equalFold(v.Classification, "Security") {
			sec = "TRUE"
		}
		return anyGlob(f.Values, sec)
	}
	return false // keys with no meaning on Linux match nothing
}
