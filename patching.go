package runcmd

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"
)

// Patch Manager and Compliance: the records the stores keep and the ports that keep them. The baseline
// rules themselves live in package patch; a stored baseline carries them as an opaque JSON body, so
// the stores only index what the API lists and filters by.

// Compliance statuses and severities (SSM's ComplianceStatus and ComplianceSeverity enums).
const (
	ComplianceCompliant    = "COMPLIANT"
	ComplianceNonCompliant = "NON_COMPLIANT"

	SeverityCritical      = "CRITICAL"
	SeverityHigh          = "HIGH"
	SeverityMedium        = "MEDIUM"
	SeverityLow           = "LOW"
	SeverityInformational = "INFORMATIONAL"
	SeverityUnspecified   = "UNSPECIFIED"

	// ComplianceTypePatch is the type Patch Manager reports under.
	ComplianceTypePatch = "Patch"
	// MaxCustomComplianceTypes is how many Custom: compliance types one resource may carry
	// (ComplianceTypeCountLimitExceededException).
	MaxCustomComplianceTypes = 10
	// MaxComplianceItems is how many items one PutComplianceItems may carry.
	MaxComplianceItems = 10000
)

// Severities lists the compliance severities, highest first.
var Severities = []string{SeverityCritical, SeverityHigh, SeverityMedium, SeverityLow, SeverityInformational, SeverityUnspecified}

// SeverityRank orders severities: CRITICAL 5 … UNSPECIFIED 0 (unknown values rank 0).
func SeverityRank(s string) int {
	switch s {
	case SeverityCritical:
		return 5
	case SeverityHigh:
		return 4
	case SeverityMedium:
		return 3
	case SeverityLow:
		return 2
	case SeverityInformational:
		return 1
	}
	return 0
}

// PatchBaseline is a user-owned patch baseline as the store keeps it. Body is the baseline's JSON
// (package patch's Baseline); the other fields are what listings show and filter on. Predefined
// AWS-owned baselines are never stored.
type PatchBaseline struct {
	BaselineID      string
	Name            string
	OperatingSystem string
	Description     string
	Body            []byte
	// PatchGroups are the groups the baseline is registered for, kept by RegisterPatchGroup and
	// DeregisterPatchGroup in the same write as the mapping, so DeleteBaseline can refuse atomically.
	PatchGroups  []string
	CreatedDate  time.Time
	ModifiedDate time.Time
	Tags         map[string]string
}

// PatchGroupMapping registers a baseline for a patch group and operating system: a group maps to at
// most one baseline per operating system.
type PatchGroupMapping struct {
	PatchGroup      string
	OperatingSystem string
	BaselineID      string
	// Stored is set when BaselineID names a stored (user) baseline, whose PatchGroups the store keeps
	// in step; predefined baselines are not stored.
	Stored bool
}

// PatchSnapshot is a baseline frozen for one AWS-RunPatchBaseline run: per SnapshotId, operating
// system and patch group, as SSM keys them. Body is the snapshot's JSON (package patch's Snapshot).
type PatchSnapshot struct {
	SnapshotID      string
	OperatingSystem string
	PatchGroup      string
	Body            []byte
	CreatedAt       time.Time
}

// PatchBaselineStore keeps user patch baselines, the default baseline per operating system, patch
// group registrations and snapshots. Errors carry SSM's names.
type PatchBaselineStore interface {
	// CreateBaseline stores a new baseline; ECONFLICT if the id exists.
	CreateBaseline(ctx context.Context, b *PatchBaseline) error
	// GetBaseline returns a stored baseline; ENOTFOUND DoesNotExistException if there is none.
	GetBaseline(ctx context.Context, id string) (*PatchBaseline, error)
	// UpdateBaseline replaces a stored baseline's name, description, body, tags and ModifiedDate;
	// PatchGroups, OperatingSystem and CreatedDate are kept. ENOTFOUND DoesNotExistException if there
	// is none.
	UpdateBaseline(ctx context.Context, b *PatchBaseline) error
	// DeleteBaseline deletes a baseline; ECONFLICT ResourceInUseException while it is registered for a
	// patch group. Deleting a baseline that does not exist succeeds.
	DeleteBaseline(ctx context.Context, id string) error
	// ListBaselines returns up to limit stored baselines in id order after the token, and the token to
	// continue with ("" at the end).
	ListBaselines(ctx context.Context, next string, limit int) ([]*PatchBaseline, string, error)
	// SetDefaultBaseline makes id the default baseline of operating system os.
	SetDefaultBaseline(ctx context.Context, os, id string) error
	// GetDefaultBaseline returns the default registered for os; ENOTFOUND when none is registered (the
	// predefined default applies).
	GetDefaultBaseline(ctx context.Context, os string) (string, error)
	// RegisterPatchGroup stores a mapping. ECONFLICT AlreadyExistsException when the group already has
	// a baseline for that operating system; ENOTFOUND DoesNotExistException when m.Stored and the
	// baseline does not exist.
	RegisterPatchGroup(ctx context.Context, m PatchGroupMapping) error
	// DeregisterPatchGroup removes a mapping; ENOTFOUND DoesNotExistException when the group is not
	// registered to m.BaselineID for m.OperatingSystem.
	DeregisterPatchGroup(ctx context.Context, m PatchGroupMapping) error
	// GetPatchGroup returns the mapping of group for os; ENOTFOUND when there is none.
	GetPatchGroup(ctx context.Context, group, os string) (PatchGroupMapping, error)
	// ListPatchGroups returns up to limit mappings in (group, os) order after the token, and the token
	// to continue with ("" at the end).
	ListPatchGroups(ctx context.Context, next string, limit int) ([]PatchGroupMapping, string, error)
	// PutSnapshot stores s unless a snapshot with the same id, operating system and group exists that
	// is younger than reuse; it returns the snapshot in effect (s, or the existing one).
	PutSnapshot(ctx context.Context, s *PatchSnapshot, reuse time.Duration) (*PatchSnapshot, error)
}

// ComplianceExecution is SSM's ComplianceExecutionSummary.
type ComplianceExecution struct {
	ExecutionTime time.Time
	ExecutionID   string `json:",omitempty"`
	ExecutionType string `json:",omitempty"`
}

// ComplianceItem is one compliance item of a resource (ComplianceItemEntry).
type ComplianceItem struct {
	ID       string `json:"Id,omitempty"`
	Title    string `json:",omitempty"`
	Severity string
	Status   string
	Details  map[string]string `json:",omitempty"`
}

// ComplianceUpload is one PutComplianceItems call, validated.
type ComplianceUpload struct {
	ResourceID     string
	ResourceType   string
	ComplianceType string
	Execution      ComplianceExecution
	Items          []ComplianceItem
	// ContentHash, when equal to the stored one, makes the upload a no-op.
	ContentHash string
	// Partial merges Items into the stored ones by Id (UploadType PARTIAL) instead of replacing all
	// items of the type (COMPLETE).
	Partial bool
}

// SeveritySummary counts by severity.
type SeveritySummary struct {
	Critical, High, Medium, Low, Informational, Unspecified int
}

// Add adds n to the count of severity s (unknown severities count as UNSPECIFIED).
func (s *SeveritySummary) Add(severity string, n int) {
	switch severity {
	case SeverityCritical:
		s.Critical += n
	case SeverityHigh:
		s.High += n
	case SeverityMedium:
		s.Medium += n
	case SeverityLow:
		s.Low += n
	case SeverityInformational:
		s.Informational += n
	default:
		s.Unspecified += n
	}
}

// Total is the sum of all counts.
func (s SeveritySummary) Total() int {
	return s.Critical + s.High + s.Medium + s.Low + s.Informational + s.Unspecified
}

// ResourceComplianceSummary is one resource's compliance for one type: counts of its items by status
// and severity. Status is NON_COMPLIANT when any item is; OverallSeverity is the highest severity of
// the non-compliant items when there are some, else of all items (UNSPECIFIED for none).
type ResourceComplianceSummary struct {
	ResourceID      string
	ResourceType    string
	ComplianceType  string
	Status          string
	OverallSeverity string
	Execution       ComplianceExecution
	Compliant       SeveritySummary
	NonCompliant    SeveritySummary
	ContentHash     string
}

// SummarizeCompliance computes a resource's summary of items (identity fields left for the caller).
func SummarizeCompliance(items []ComplianceItem) ResourceComplianceSummary {
	s := ResourceComplianceSummary{Status: ComplianceCompliant, OverallSeverity: SeverityUnspecified}
	worstAll, worstNon := -1, -1
	for _, it := range items {
		r := SeverityRank(it.Severity)
		if it.Status == ComplianceNonCompliant {
			s.NonCompliant.Add(it.Severity, 1)
			worstNon = max(worstNon, r)
		} else {
			s.Compliant.Add(it.Severity, 1)
		}
		worstAll = max(worstAll, r)
	}
	worst := worstAll
	if worstNon >= 0 {
		s.Status, worst = ComplianceNonCompliant, worstNon
	}
	if worst >= 0 {
		s.OverallSeverity = Severities[5-worst]
	}
	return s
}

// MergeComplianceItems returns the items of a PARTIAL upload merged into old by Id: new items replace
// old ones with the same Id, the rest are kept, in Id order. Stores share it so they agree.
func MergeComplianceItems(old, upd []ComplianceItem) []ComplianceItem {
	byID := map[string]ComplianceItem{}
	for _, it := range old {
		byID[it.ID] = it
	}
	for _, it := range upd {
		byID[it.ID] = it
	}
	out := slices.Collect(maps.Values(byID))
	slices.SortFunc(out, func(a, b ComplianceItem) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// ComplianceTypeSummary counts resources per compliance type: compliant ones by their overall
// severity and non-compliant ones by theirs (ListComplianceSummaries).
type ComplianceTypeSummary struct {
	ComplianceType string
	Compliant      SeveritySummary
	NonCompliant   SeveritySummary
}

// StoredComplianceItem is an item with the resource and type it belongs to (ListComplianceItems).
type StoredComplianceItem struct {
	ResourceID     string
	ResourceType   string
	ComplianceType string
	Execution      ComplianceExecution
	ComplianceItem
}

// InstancePatchState is a node's patch summary after its last Scan or Install
// (DescribeInstancePatchStates), as the ingest function stores it from the node's report.
type InstancePatchState struct {
	InstanceID                       string
	PatchGroup                       string
	BaselineID                       string
	SnapshotID                       string `json:",omitempty"`
	InstallOverrideList              string `json:",omitempty"`
	OwnerInformation                 string `json:",omitempty"`
	InstalledCount                   int
	InstalledOtherCount              int
	InstalledPendingRebootCount      int
	InstalledRejectedCount           int
	MissingCount                     int
	FailedCount                      int
	UnreportedNotApplicableCount     int
	NotApplicableCount               int
	CriticalNonCompliantCount        int
	SecurityNonCompliantCount        int
	OtherNonCompliantCount           int
	Operation                        string // Scan or Install
	OperationStartTime               time.Time
	OperationEndTime                 time.Time
	RebootOption                     string    `json:",omitempty"`
	LastNoRebootInstallOperationTime time.Time `json:",omitzero"`
}

// PatchGroupState counts the nodes of a patch group with at least one patch in each state
// (DescribePatchGroupState). Stores keep it up to date with every InstancePatchState they write.
type PatchGroupState struct {
	Instances                                   int
	InstancesWithInstalledPatches               int
	InstancesWithInstalledOtherPatches          int
	InstancesWithInstalledPendingRebootPatches  int
	InstancesWithInstalledRejectedPatches       int
	InstancesWithMissingPatches                 int
	InstancesWithFailedPatches                  int
	InstancesWithNotApplicablePatches           int
	InstancesWithUnreportedNotApplicablePatches int
	InstancesWithCriticalNonCompliantPatches    int
	InstancesWithSecurityNonCompliantPatches    int
	InstancesWithOtherNonCompliantPatches       int
}

// Add adds sign (+1 or -1) times the contribution of one node's state s.
func (g *PatchGroupState) Add(s InstancePatchState, sign int) {
	b := func(n int) int {
		if n > 0 {
			return sign
		}
		return 0
	}
	g.Instances += sign
	g.InstancesWithInstalledPatches += b(s.InstalledCount)
	g.InstancesWithInstalledOtherPatches += b(s.InstalledOtherCount)
	g.InstancesWithInstalledPendingRebootPatches += b(s.InstalledPendingRebootCount)
	g.InstancesWithInstalledRejectedPatches += b(s.InstalledRejectedCount)
	g.InstancesWithMissingPatches += b(s.MissingCount)
	g.InstancesWithFailedPatches += b(s.FailedCount)
	g.InstancesWithNotApplicablePatches += b(s.NotApplicableCount)
	g.InstancesWithUnreportedNotApplicablePatches += b(s.UnreportedNotApplicableCount)
	g.InstancesWithCriticalNonCompliantPatches += b(s.CriticalNonCompliantCount)
	g.InstancesWithSecurityNonCompliantPatches += b(s.SecurityNonCompliantCount)
	g.InstancesWithOtherNonCompliantPatches += b(s.OtherNonCompliantCount)
}

// ComplianceStore keeps compliance items, the per-resource and per-type summaries derived from them,
// and nodes' patch states with their per-group counts. Summaries are maintained incrementally: a
// write replaces the old contribution with the new one in the same transaction, so no listing ever
// scans.
type ComplianceStore interface {
	// PutComplianceItems replaces (or, Partial, merges) the items of one type on one resource and
	// updates the resource's summary and the type's counts atomically. It reports false when the
	// content hash matched and nothing changed. ELIMIT ComplianceTypeCountLimitExceededException when
	// the resource would carry more than MaxCustomComplianceTypes Custom: types.
	PutComplianceItems(ctx context.Context, u ComplianceUpload) (bool, error)
	// ListComplianceItems returns a page of one resource's items, by type then item order, optionally
	// of the given types only.
	ListComplianceItems(ctx context.Context, resourceID string, types []string, limit int, next string) ([]StoredComplianceItem, string, error)
	// ListResourceSummaries returns a page of per-resource summaries in (resource, type) order, of one
	// resource when resourceID is set.
	ListResourceSummaries(ctx context.Context, resourceID string, limit int, next string) ([]ResourceComplianceSummary, string, error)
	// ListTypeSummaries returns a page of per-type resource counts in type order.
	ListTypeSummaries(ctx context.Context, limit int, next string) ([]ComplianceTypeSummary, string, error)
	// PutInstancePatchState stores a node's patch state and moves its contribution to the per-group
	// counts from its old group and state to the new ones, atomically. A state whose
	// OperationStartTime is older than the stored one is ignored (reported false): reports may arrive
	// out of order.
	PutInstancePatchState(ctx context.Context, s InstancePatchState) (bool, error)
	// GetInstancePatchStates returns the states of the given nodes; nodes without one are absent.
	GetInstancePatchStates(ctx context.Context, ids []string) (map[string]InstancePatchState, error)
	// ListPatchGroupStates returns a page of the states of a group's nodes in instance id order.
	ListPatchGroupStates(ctx context.Context, group string, limit int, next string) ([]InstancePatchState, string, error)
	// GetPatchGroupState returns a group's counts (zero for an unknown group).
	GetPatchGroupState(ctx context.Context, group string) (PatchGroupState, error)
}

// KindPatchReport is the results-queue kind of a node's patch report.
const KindPatchReport = "patchReport"

// MaxPatchItemsBytes bounds a patch report's decompressed items, so a hostile report cannot make
// ingest inflate gigabytes.
const MaxPatchItemsBytes = 32 << 20

// PatchReport is what a node's AWS-RunPatchBaseline step reports after a Scan or Install: its patch
// state and its Patch compliance items. The items travel gzip-compressed JSON (a node with a thousand
// packages reports a thousand items, several times SQS's 256 KiB as plain JSON).
type PatchReport struct {
	CommandID  string              `json:"commandId"`
	InstanceID string              `json:"instanceId"`
	State      InstancePatchState  `json:"state"`
	Execution  ComplianceExecution `json:"execution"`
	ItemsGzip  []byte              `json:"itemsGzip"`
}

// EncodeComplianceItems compresses items for PatchReport.ItemsGzip.
func EncodeComplianceItems(items []ComplianceItem) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(items); err != nil {
		return nil, fmt.Errorf("encode %d compliance items: %w", len(items), err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress %d compliance items: %w", len(items), err)
	}
	return buf.Bytes(), nil
}

// Items decompresses the report's compliance items; EINVALID when they are not valid gzip JSON or
// inflate beyond MaxPatchItemsBytes.
func (r *PatchReport) Items() ([]ComplianceItem, error) {
	zr, err := gzip.NewReader(bytes.NewReader(r.ItemsGzip))
	if err != nil {
		return nil, Errorf(EINVALID, "", "patch report of %s: items are not gzip: %v", r.InstanceID, err)
	}
	b, err := io.ReadAll(io.LimitReader(zr, MaxPatchItemsBytes+1))
	if err != nil {
		return nil, Errorf(EINVALID, "", "patch report of %s: read items: %v", r.InstanceID, err)
	}
	if len(b) > MaxPatchItemsBytes {
		return nil, Errorf(EINVALID, "", "patch report of %s: items exceed %d bytes", r.InstanceID, MaxPatchItemsBytes)
	}
	var items []ComplianceItem
	if err := json.Unmarshal(b, &items); err != nil {
		return nil, Errorf(EINVALID, "", "patch report of %s: items are not JSON: %v", r.InstanceID, err)
	}
	return items, nil
}
