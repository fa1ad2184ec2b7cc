package ssmapi

import (
	"context"
	"fmt"
	"time"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/service"
)

type complianceExecutionJSON struct {
	ExecutionTime *epochSeconds `json:"ExecutionTime"`
	ExecutionID   *string       `json:"ExecutionId"`
	ExecutionType *string       `json:"ExecutionType"`
}

type complianceItemEntry struct {
	ID       *string           `json:"Id"`
	Title    *string           `json:"Title"`
	Severity *string           `json:"Severity"`
	Status   *string           `json:"Status"`
	Details  map[string]string `json:"Details"`
}

type putComplianceItemsRequest struct {
	ResourceID       *string                  `json:"ResourceId"`
	ResourceType     *string                  `json:"ResourceType"`
	ComplianceType   *string                  `json:"ComplianceType"`
	ExecutionSummary *complianceExecutionJSON `json:"ExecutionSummary"`
	Items            []complianceItemEntry    `json:"Items"`
	ItemContentHash  *string                  `json:"ItemContentHash"`
	UploadType       *string                  `json:"UploadType"`
}

func (r *putComplianceItemsRequest) validate() error {
	var v violations
	v.required("resourceId", r.ResourceID != nil)
	v.str("resourceId", r.ResourceID, 1, 100, nil)
	v.required("resourceType", r.ResourceType != nil)
	v.str("resourceType", r.ResourceType, 1, 50, nil)
	v.required("complianceType", r.ComplianceType != nil)
	v.str("complianceType", r.ComplianceType, 1, 100, &patComplianceType)
	v.required("executionSummary", r.ExecutionSummary != nil)
	if r.ExecutionSummary != nil {
		v.required("executionSummary.executionTime", r.ExecutionSummary.ExecutionTime != nil)
		v.str("executionSummary.executionId", r.ExecutionSummary.ExecutionID, 0, 100, nil)
		v.str("executionSummary.executionType", r.ExecutionSummary.ExecutionType, 0, 50, nil)
	}
	v.required("items", r.Items != nil)
	v.listLen("items", r.Items != nil, len(r.Items), func() string { return fmt.Sprintf("%d items", len(r.Items)) }, 0, runcmd.MaxComplianceItems)
	for i, it := range r.Items {
		p := fmt.Sprintf("items.%d.member", i+1)
		v.str(p+".title", it.Title, 0, 500, nil)
		v.required(p+".severity", it.Severity != nil)
		v.enum(p+".severity", it.Severity, complianceLevels)
		v.required(p+".status", it.Status != nil)
		v.enum(p+".status", it.Status, complianceStatuses)
		for k, val := range it.Details {
			if utf16Len(k) < 1 || utf16Len(k) > 64 || utf16Len(val) > 4096 {
				v.add(k, p+".details", "Member must have keys of length 1 to 64 and values of at most 4096 characters")
			}
		}
	}
	v.str("itemContentHash", r.ItemContentHash, 0, 256, nil)
	v.enum("uploadType", r.UploadType, []string{"COMPLETE", "PARTIAL"})
	return v.err()
}

func putComplianceItems(ctx context.Context, b PatchBackend, r *putComplianceItemsRequest) (any, error) {
	u := runcmd.ComplianceUpload{
		ResourceID: deref(r.ResourceID), ResourceType: deref(r.ResourceType), ComplianceType: deref(r.ComplianceType),
		Execution: runcmd.ComplianceExecution{ExecutionTime: *r.ExecutionSummary.ExecutionTime.time(),
			ExecutionID: deref(r.ExecutionSummary.ExecutionID), ExecutionType: deref(r.ExecutionSummary.ExecutionType)},
		ContentHash: deref(r.ItemContentHash), Partial: deref(r.UploadType) == "PARTIAL",
	}
	for _, it := range r.Items {
		u.Items = append(u.Items, runcmd.ComplianceItem{ID: deref(it.ID), Title: deref(it.Title), Severity: deref(it.Severity),
			Status: deref(it.Status), Details: it.Details})
	}
	if err := b.PutComplianceItems(ctx, u); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

type complianceStringFilter struct {
	Key    *string  `json:"Key"`
	Values []string `json:"Values"`
	Type   *string  `json:"Type"`
}

func checkComplianceFilters(v *violations, fs []complianceStringFilter) {
	for i, f := range fs {
		p := fmt.Sprintf("filters.%d.member", i+1)
		v.str(p+".key", f.Key, 1, 200, nil)
		v.strList(p+".values", f.Values, 1, 20, nil)
		v.enum(p+".type", f.Type, complianceOps)
	}
}

func complianceFilters(fs []complianceStringFilter) []service.ComplianceFilter {
	var out []service.ComplianceFilter
	for _, f := range fs {
		out = append(out, service.ComplianceFilter{Key: deref(f.Key), Values: f.Values, Type: deref(f.Type)})
	}
	return out
}

type executionSummaryJSON struct {
	ExecutionTime epoch  `json:"ExecutionTime"`
	ExecutionID   string `json:"ExecutionId,omitempty"`
	ExecutionType string `json:"ExecutionType,omitempty"`
}

func toExecutionJSON(e runcmd.ComplianceExecution) executionSummaryJSON {
	return executionSummaryJSON{epoch(e.ExecutionTime), e.ExecutionID, e.ExecutionType}
}

type listComplianceItemsRequest struct {
	Filters       []complianceStringFilter `json:"Filters"`
	ResourceIDs   []string                 `json:"ResourceIds"`
	ResourceTypes []string                 `json:"ResourceTypes"`
	NextToken     *string                  `json:"NextToken"`
	MaxResults    *int                     `json:"MaxResults"`
}

func (r *listComplianceItemsRequest) validate() error {
	var v violations
	checkComplianceFilters(&v, r.Filters)
	v.strList("resourceIds", r.ResourceIDs, 1, -1, memberPattern(1, 100, nil))
	v.strList("resourceTypes", r.ResourceTypes, 1, -1, memberPattern(1, 50, nil))
	v.intRange("maxResults", r.MaxResults, 1, 50)
	return v.err()
}

type complianceItemJSON struct {
	ComplianceType   string               `json:"ComplianceType"`
	ResourceType     string               `json:"ResourceType"`
	ResourceID       string               `json:"ResourceId"`
	ID               string               `json:"Id"`
	Title            string               `json:"Title"`
	Status           string               `json:"Status"`
	Severity         string               `json:"Severity"`
	ExecutionSummary executionSummaryJSON `json:"ExecutionSummary"`
	Details          map[string]string    `json:"Details"`
}

func listComplianceItems(ctx context.Context, b PatchBackend, r *listComplianceItemsRequest) (any, error) {
	items, next, err := b.ListComplianceItems(ctx, service.ListComplianceItemsInput{ResourceIDs: r.ResourceIDs,
		ResourceTypes: r.ResourceTypes, Filters: complianceFilters(r.Filters), MaxResults: derefInt(r.MaxResults), NextToken: deref(r.NextToken)})
	if err != nil {
		return nil, err
	}
	out := make([]complianceItemJSON, 0, len(items))
	for _, it := range items {
		d := it.Details
		if d == nil {
			d = map[string]string{}
		}
		out = append(out, complianceItemJSON{it.ComplianceType, it.ResourceType, it.ResourceID, it.ID, it.Title, it.Status,
			it.Severity, toExecutionJSON(it.Execution), d})
	}
	return struct {
		ComplianceItems []complianceItemJSON `json:"ComplianceItems"`
		NextToken       string               `json:"NextToken,omitempty"`
	}{out, next}, nil
}

type listSummariesRequest struct {
	Filters    []complianceStringFilter `json:"Filters"`
	NextToken  *string                  `json:"NextToken"`
	MaxResults *int                     `json:"MaxResults"`
}

func (r *listSummariesRequest) validate() error {
	var v violations
	checkComplianceFilters(&v, r.Filters)
	v.intRange("maxResults", r.MaxResults, 1, 50)
	return v.err()
}

type severitySummaryJSON struct {
	CriticalCount      int `json:"CriticalCount"`
	HighCount          int `json:"HighCount"`
	MediumCount        int `json:"MediumCount"`
	LowCount           int `json:"LowCount"`
	InformationalCount int `json:"InformationalCount"`
	UnspecifiedCount   int `json:"UnspecifiedCount"`
}

type compliantSummaryJSON struct {
	CompliantCount  int                 `json:"CompliantCount"`
	SeveritySummary severitySummaryJSON `json:"SeveritySummary"`
}

type nonCompliantSummaryJSON struct {
	NonCompliantCount int                 `json:"NonCompliantCount"`
	SeveritySummary   severitySummaryJSON `json:"SeveritySummary"`
}

func toSeverityJSON(s runcmd.SeveritySummary) severitySummaryJSON {
	return severitySummaryJSON{s.Critical, s.High, s.Medium, s.Low, s.Informational, s.Unspecified}
}

func listComplianceSummaries(ctx context.Context, b PatchBackend, r *listSummariesRequest) (any, error) {
	sums, next, err := b.ListComplianceSummaries(ctx, complianceFilters(r.Filters), derefInt(r.MaxResults), deref(r.NextToken))
	if err != nil {
		return nil, err
	}
	type itemJSON struct {
		ComplianceType      string                  `json:"ComplianceType"`
		CompliantSummary    compliantSummaryJSON    `json:"CompliantSummary"`
		NonCompliantSummary nonCompliantSummaryJSON `json:"NonCompliantSummary"`
	}
	out := make([]itemJSON, 0, len(sums))
	for _, s := range sums {
		out = append(out, itemJSON{s.ComplianceType, compliantSummaryJSON{s.Compliant.Total(), toSeverityJSON(s.Compliant)},
			nonCompliantSummaryJSON{s.NonCompliant.Total(), toSeverityJSON(s.NonCompliant)}})
	}
	return struct {
		ComplianceSummaryItems []itemJSON `json:"ComplianceSummaryItems"`
		NextToken              string     `json:"NextToken,omitempty"`
	}{out, next}, nil
}

func listResourceComplianceSummaries(ctx context.Context, b PatchBackend, r *listSummariesRequest) (any, error) {
	sums, next, err := b.ListResourceComplianceSummaries(ctx, complianceFilters(r.Filters), derefInt(r.MaxResults), deref(r.NextToken))
	if err != nil {
		return nil, err
	}
	type itemJSON struct {
		ComplianceType      string                  `json:"ComplianceType"`
		ResourceType        string                  `json:"ResourceType"`
		ResourceID          string                  `json:"ResourceId"`
		Status              string                  `json:"Status"`
		OverallSeverity     string                  `json:"OverallSeverity"`
		ExecutionSummary    executionSummaryJSON    `json:"ExecutionSummary"`
		CompliantSummary    compliantSummaryJSON    `json:"CompliantSummary"`
		NonCompliantSummary nonCompliantSummaryJSON `json:"NonCompliantSummary"`
	}
	out := make([]itemJSON, 0, len(sums))
	for _, s := range sums {
		out = append(out, itemJSON{s.ComplianceType, s.ResourceType, s.ResourceID, s.Status, s.OverallSeverity, toExecutionJSON(s.Execution),
			compliantSummaryJSON{s.Compliant.Total(), toSeverityJSON(s.Compliant)},
			nonCompliantSummaryJSON{s.NonCompliant.Total(), toSeverityJSON(s.NonCompliant)}})
	}
	return struct {
		ResourceComplianceSummaryItems []itemJSON `json:"ResourceComplianceSummaryItems"`
		NextToken                      string     `json:"NextToken,omitempty"`
	}{out, next}, nil
}

type instancePatchStateJSON struct {
	InstanceID                       string `json:"InstanceId"`
	PatchGroup                       string `json:"PatchGroup"`
	BaselineID                       string `json:"BaselineId"`
	SnapshotID                       string `json:"SnapshotId,omitempty"`
	InstallOverrideList              string `json:"InstallOverrideList,omitempty"`
	OwnerInformation                 string `json:"OwnerInformation,omitempty"`
	InstalledCount                   int    `json:"InstalledCount"`
	InstalledOtherCount              int    `json:"InstalledOtherCount"`
	InstalledPendingRebootCount      int    `json:"InstalledPendingRebootCount"`
	InstalledRejectedCount           int    `json:"InstalledRejectedCount"`
	MissingCount                     int    `json:"MissingCount"`
	FailedCount                      int    `json:"FailedCount"`
	UnreportedNotApplicableCount     int    `json:"UnreportedNotApplicableCount"`
	NotApplicableCount               int    `json:"NotApplicableCount"`
	AvailableSecurityUpdateCount     int    `json:"AvailableSecurityUpdateCount"`
	OperationStartTime               epoch  `json:"OperationStartTime"`
	OperationEndTime                 epoch  `json:"OperationEndTime"`
	Operation                        string `json:"Operation"`
	LastNoRebootInstallOperationTime epoch  `json:"LastNoRebootInstallOperationTime,omitzero"`
	RebootOption                     string `json:"RebootOption,omitempty"`
	CriticalNonCompliantCount        int    `json:"CriticalNonCompliantCount"`
	SecurityNonCompliantCount        int    `json:"SecurityNonCompliantCount"`
	OtherNonCompliantCount           int    `json:"OtherNonCompliantCount"`
}

func toPatchStatesJSON(states []runcmd.InstancePatchState) []instancePatchStateJSON {
	out := make([]instancePatchStateJSON, 0, len(states))
	for _, s := range states {
		out = append(out, instancePatchStateJSON{
			InstanceID: s.InstanceID, PatchGroup: s.PatchGroup, BaselineID: s.BaselineID, SnapshotID: s.SnapshotID,
			InstallOverrideList: s.InstallOverrideList, OwnerInformation: s.OwnerInformation,
			InstalledCount: s.InstalledCount, InstalledOtherCount: s.InstalledOtherCount,
			InstalledPendingRebootCount: s.InstalledPendingRebootCount, InstalledRejectedCount: s.InstalledRejectedCount,
			MissingCount: s.MissingCount, FailedCount: s.FailedCount, UnreportedNotApplicableCount: s.UnreportedNotApplicableCount,
			NotApplicableCount: s.NotApplicableCount, OperationStartTime: epoch(s.OperationStartTime),
			OperationEndTime: epoch(s.OperationEndTime), Operation: s.Operation,
			LastNoRebootInstallOperationTime: epoch(s.LastNoRebootInstallOperationTime), RebootOption: s.RebootOption,
			CriticalNonCompliantCount: s.CriticalNonCompliantCount, SecurityNonCompliantCount: s.SecurityNonCompliantCount,
			OtherNonCompliantCount: s.OtherNonCompliantCount,
		})
	}
	return out
}

type describeInstancePatchStatesRequest struct {
	InstanceIDs []string `json:"InstanceIds"`
	NextToken   *string  `json:"NextToken"`
	MaxResults  *int     `json:"MaxResults"`
}

func (r *describeInstancePatchStatesRequest) validate() error {
	var v violations
	v.required("instanceIds", r.InstanceIDs != nil)
	v.strList("instanceIds", r.InstanceIDs, 0, 50, memberPattern(0, -1, &patInstanceID))
	v.intRange("maxResults", r.MaxResults, 10, 100)
	return v.err()
}

func describeInstancePatchStates(ctx context.Context, b PatchBackend, r *describeInstancePatchStatesRequest) (any, error) {
	states, next, err := b.DescribeInstancePatchStates(ctx, r.InstanceIDs, derefInt(r.MaxResults), deref(r.NextToken))
	if err != nil {
		return nil, err
	}
	return struct {
		InstancePatchStates []instancePatchStateJSON `json:"InstancePatchStates"`
		NextToken           string                   `json:"NextToken,omitempty"`
	}{toPatchStatesJSON(states), next}, nil
}

type patchStateFilterJSON struct {
	Key    *string  `json:"Key"`
	Values []string `json:"Values"`
	Type   *string  `json:"Type"`
}

type describeInstancePatchStatesForPatchGroupRequest struct {
	PatchGroup *string                `json:"PatchGroup"`
	Filters    []patchStateFilterJSON `json:"Filters"`
	NextToken  *string                `json:"NextToken"`
	MaxResults *int                   `json:"MaxResults"`
}

func (r *describeInstancePatchStatesForPatchGroupRequest) validate() error {
	var v violations
	v.required("patchGroup", r.PatchGroup != nil)
	v.str("patchGroup", r.PatchGroup, 1, 256, &patPatchGroup)
	v.listLen("filters", r.Filters != nil, len(r.Filters), func() string { return fmt.Sprintf("%d filters", len(r.Filters)) }, 0, 4)
	for i, f := range r.Filters {
		p := fmt.Sprintf("filters.%d.member", i+1)
		v.required(p+".key", f.Key != nil)
		v.str(p+".key", f.Key, 1, 200, nil)
		v.required(p+".values", f.Values != nil)
		v.strList(p+".values", f.Values, 1, 1, nil)
		v.required(p+".type", f.Type != nil)
		v.enum(p+".type", f.Type, patchStateOps)
	}
	v.intRange("maxResults", r.MaxResults, 10, 100)
	return v.err()
}

func describeInstancePatchStatesForPatchGroup(ctx context.Context, b PatchBackend, r *describeInstancePatchStatesForPatchGroupRequest) (any, error) {
	var fs []service.InstancePatchStateFilter
	for _, f := range r.Filters {
		fs = append(fs, service.InstancePatchStateFilter{Key: deref(f.Key), Values: f.Values, Type: deref(f.Type)})
	}
	states, next, err := b.DescribeInstancePatchStatesForPatchGroup(ctx, deref(r.PatchGroup), fs, derefInt(r.MaxResults), deref(r.NextToken))
	if err != nil {
		return nil, err
	}
	return struct {
		InstancePatchStates []instancePatchStateJSON `json:"InstancePatchStates"`
		NextToken           string                   `json:"NextToken,omitempty"`
	}{toPatchStatesJSON(states), next}, nil
}

type describeInstancePatchesRequest struct {
	InstanceID *string              `json:"InstanceId"`
	Filters    []orchestratorFilter `json:"Filters"`
	NextToken  *string              `json:"NextToken"`
	MaxResults *int                 `json:"MaxResults"`
}

func (r *describeInstancePatchesRequest) validate() error {
	var v violations
	v.required("instanceId", r.InstanceID != nil)
	v.str("instanceId", r.InstanceID, 0, -1, &patInstanceID)
	checkOrchestratorFilters(&v, r.Filters, 5)
	v.intRange("maxResults", r.MaxResults, 10, 100)
	return v.err()
}

func describeInstancePatches(ctx context.Context, b PatchBackend, r *describeInstancePatchesRequest) (any, error) {
	patches, next, err := b.DescribeInstancePatches(ctx, deref(r.InstanceID), patchFilters(r.Filters), derefInt(r.MaxResults), deref(r.NextToken))
	if err != nil {
		return nil, err
	}
	type patchJSON struct {
		Title          string `json:"Title"`
		KBID           string `json:"KBId"`
		Classification string `json:"Classification"`
		Severity       string `json:"Severity"`
		State          string `json:"State"`
		InstalledTime  epoch  `json:"InstalledTime"`
		CVEIDs         string `json:"CVEIds,omitempty"`
	}
	out := make([]patchJSON, 0, len(patches))
	for _, p := range patches {
		installed := p.InstalledTime
		if installed.IsZero() {
			installed = time.Unix(0, 0) // required member: 0 for patches not installed
		}
		out = append(out, patchJSON{p.Title, p.KBID, p.Classification, p.Severity, p.State, epoch(installed), p.CVEIDs})
	}
	return struct {
		Patches   []patchJSON `json:"Patches"`
		NextToken string      `json:"NextToken,omitempty"`
	}{out, next}, nil
}

type patchGroupOnlyRequest struct {
	PatchGroup *string `json:"PatchGroup"`
}

func (r *patchGroupOnlyRequest) validate() error {
	var v violations
	v.required("patchGroup", r.PatchGroup != nil)
	v.str("patchGroup", r.PatchGroup, 1, 256, &patPatchGroup)
	return v.err()
}

func describePatchGroupState(ctx context.Context, b PatchBackend, r *patchGroupOnlyRequest) (any, error) {
	g, err := b.DescribePatchGroupState(ctx, deref(r.PatchGroup))
	if err != nil {
		return nil, err
	}
	return struct {
		runcmd.PatchGroupState
		InstancesWithAvailableSecurityUpdates int `json:"InstancesWithAvailableSecurityUpdates"`
	}{PatchGroupState: g}, nil
}
