package patch

import (
	"strings"
	"time"
)

// InstancePatchState is SSM's InstancePatchState: a node's patch summary after a Scan or Install, as
// DescribeInstancePatchStates returns it (Windows-only AvailableSecurityUpdateCount left out).
type InstancePatchState struct {
	InstanceID                   string `json:"InstanceId"`
	PatchGroup                   string
	BaselineID                   string `json:"BaselineId"`
	SnapshotID                   string `json:"SnapshotId,omitempty"`
	InstallOverrideList          string `json:",omitempty"`
	OwnerInformation             string `json:",omitempty"`
	InstalledCount               int
	InstalledOtherCount          int
	InstalledPendingRebootCount  int
	InstalledRejectedCount       int
	MissingCount                 int
	FailedCount                  int
	UnreportedNotApplicableCount int
	NotApplicableCount           int
	// CriticalNonCompliantCount counts non-compliant patches whose compliance level is CRITICAL,
	// SecurityNonCompliantCount those classified Security, OtherNonCompliantCount those in neither
	// (a patch can be in both of the first two).
	CriticalNonCompliantCount        int
	SecurityNonCompliantCount        int
	OtherNonCompliantCount           int
	Operation                        Operation
	OperationStartTime               time.Time
	OperationEndTime                 time.Time
	RebootOption                     RebootOption `json:",omitempty"`
	LastNoRebootInstallOperationTime time.Time    `json:",omitzero"`
}

// NonCompliant reports whether the node is NON_COMPLIANT for type Patch: any patch Missing, Failed,
// InstalledPendingReboot or InstalledRejected.
func (s InstancePatchState) NonCompliant() bool {
	return s.MissingCount+s.FailedCount+s.InstalledPendingRebootCount+s.InstalledRejectedCount > 0
}

// Summarize counts patches per state and the non-compliant breakdown (reference B7.3). Identity,
// operation and times are left for the caller.
func Summarize(patches []Patch) InstancePatchState {
	var s InstancePatchState
	for _, p := range patches {
		switch p.State {
		case StateInstalled:
			s.InstalledCount++
		case StateInstalledOther:
			s.InstalledOtherCount++
		case StateInstalledPendingReboot:
			s.InstalledPendingRebootCount++
		case StateInstalledRejected:
			s.InstalledRejectedCount++
		case StateMissing:
			s.MissingCount++
		case StateFailed:
			s.FailedCount++
		case StateNotApplicable:
			s.NotApplicableCount++
		}
		if p.State.Compliant() {
			continue
		}
		critical := p.ComplianceLevel == LevelCritical
		security := strings.EqualFold(p.Classification, "Security")
		if critical {
			s.CriticalNonCompliantCount++
		}
		if security {
			s.SecurityNonCompliantCount++
		}
		if !critical && !security {
			s.OtherNonCompliantCount++
		}
	}
	return s
}

// Compliance item statuses.
const (
	Compliant    = "COMPLIANT"
	NonCompliant = "NON_COMPLIANT"
)

// ComplianceItem is one PutComplianceItems entry of type Patch, as the payload builds it
// (reference B7.2).
type ComplianceItem struct {
	ID       string `json:"Id"`
	Title    string
	Severity ComplianceLevel
	Status   string
	Details  map[string]string
}

// ComplianceItems turns a report into the Patch compliance items of its node: Id name.arch, Title, the
// approving rule's level as Severity, COMPLIANT for Installed, InstalledOther and NotApplicable, and the
// conventional Details keys. InstalledTime is only given for installed states, CVEIds only for Missing
// and Failed, Classification and PatchSeverity not for InstalledOther and NotApplicable (which omit
// them to save space, as SSM does).
func ComplianceItems(r Report) []ComplianceItem {
	items := make([]ComplianceItem, 0, len(r.Patches))
	for _, p := range r.Patches {
		status := NonCompliant
		if p.State.Compliant() {
			status = Compliant
		}
		d := map[string]string{
			"DocumentName":    "",
			"DocumentVersion": "",
			"PatchBaselineId": r.Summary.BaselineID,
			"PatchGroup":      r.Summary.PatchGroup,
			"PatchState":      string(p.State),
		}
		if r.Summary.InstallOverrideList != "" {
			d["InstallOverrideList"] = r.Summary.InstallOverrideList
		}
		if p.State != StateInstalledOther && p.State != StateNotApplicable {
			d["Classification"] = p.Classification
			d["PatchSeverity"] = p.Severity
		}
		switch p.State {
		case StateInstalled, StateInstalledOther, StateInstalledPendingReboot, StateInstalledRejected:
			if !p.InstalledTime.IsZero() {
				d["InstalledTime"] = p.InstalledTime.UTC().Format("2006-01-02T15:04:05Z")
			}
		case StateMissing, StateFailed:
			if len(p.CVEIDs) > 0 {
				d["CVEIds"] = strings.Join(p.CVEIDs, ",")
			}
		}
		items = append(items, ComplianceItem{
			ID: p.KBID, Title: p.Title, Severity: p.ComplianceLevel.OrDefault(), Status: status, Details: d,
		})
	}
	return items
}

// ExecutionSummary is the ComplianceExecutionSummary of a report's items: the snapshot id as
// ExecutionId, type Command, the operation's start as ExecutionTime.
type ExecutionSummary struct {
	ExecutionTime time.Time
	ExecutionID   string `json:"ExecutionId"`
	ExecutionType string
}

// Execution returns the execution summary for r's compliance items.
func (r Report) Execution() ExecutionSummary {
	return ExecutionSummary{ExecutionTime: r.Summary.OperationStartTime, ExecutionID: r.Summary.SnapshotID,
		ExecutionType: "Command"}
}
