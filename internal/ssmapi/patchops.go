package ssmapi

import (
	"context"
	"fmt"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/service"
	"github.com/runcmd/runcmd/patch"
)

// PatchBackend is what the Patch Manager and Compliance operations need, beyond Backend. The handler
// answers them with UnsupportedOperationException when its backend lacks them.
type PatchBackend interface {
	CreatePatchBaseline(ctx context.Context, in service.CreatePatchBaselineInput) (string, error)
	GetPatchBaseline(ctx context.Context, id string) (service.PatchBaselineOutput, error)
	UpdatePatchBaseline(ctx context.Context, in service.UpdatePatchBaselineInput) (service.PatchBaselineOutput, error)
	DeletePatchBaseline(ctx context.Context, id string) (string, error)
	DescribePatchBaselines(ctx context.Context, in service.DescribePatchBaselinesInput) (service.DescribePatchBaselinesOutput, error)
	RegisterDefaultPatchBaseline(ctx context.Context, id string) (string, error)
	GetDefaultPatchBaseline(ctx context.Context, os string) (string, string, error)
	RegisterPatchBaselineForPatchGroup(ctx context.Context, id, group string) error
	DeregisterPatchBaselineForPatchGroup(ctx context.Context, id, group string) error
	GetPatchBaselineForPatchGroup(ctx context.Context, group, os string) (string, string, error)
	DescribePatchGroups(ctx context.Context, in service.DescribePatchBaselinesInput) ([]service.PatchGroupMappingOutput, string, error)
	GetDeployablePatchSnapshotForInstance(ctx context.Context, instanceID, snapshotID string, override *patch.Baseline) (service.SnapshotOutput, error)

	PutComplianceItems(ctx context.Context, u runcmd.ComplianceUpload) error
	ListComplianceItems(ctx context.Context, in service.ListComplianceItemsInput) ([]runcmd.StoredComplianceItem, string, error)
	ListComplianceSummaries(ctx context.Context, filters []service.ComplianceFilter, maxResults int, nextToken string) ([]runcmd.ComplianceTypeSummary, string, error)
	ListResourceComplianceSummaries(ctx context.Context, filters []service.ComplianceFilter, maxResults int, nextToken string) ([]runcmd.ResourceComplianceSummary, string, error)
	DescribeInstancePatchStates(ctx context.Context, ids []string, maxResults int, nextToken string) ([]runcmd.InstancePatchState, string, error)
	DescribeInstancePatchStatesForPatchGroup(ctx context.Context, group string, filters []service.InstancePatchStateFilter, maxResults int, nextToken string) ([]runcmd.InstancePatchState, string, error)
	DescribeInstancePatches(ctx context.Context, instanceID string, filters []service.PatchFilter, maxResults int, nextToken string) ([]service.InstancePatch, string, error)
	DescribePatchGroupState(ctx context.Context, group string) (runcmd.PatchGroupState, error)
}

var _ PatchBackend = (*service.API)(nil)

var (
	patBaselineID     = newPattern(`^[a-zA-Z0-9_\-:/]{20,128}$`)
	patBaselineName   = newPattern(`^[a-zA-Z0-9_\-.]{3,128}$`)
	patPatchGroup     = newPattern(`^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`)
	patSnapshotID     = newPattern(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	patComplianceType = newPattern(`[A-Za-z0-9_\-]\w+|Custom:[a-zA-Z0-9_\-]\w+`)
	operatingSystems  = func() []string {
		var out []string
		for _, o := range patch.OperatingSystems {
			out = append(out, string(o))
		}
		return out
	}()
	complianceLevels   = []string{"CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNSPECIFIED"}
	complianceStatuses = []string{runcmd.ComplianceCompliant, runcmd.ComplianceNonCompliant}
	complianceOps      = []string{"EQUAL", "NOT_EQUAL", "BEGIN_WITH", "LESS_THAN", "GREATER_THAN"}
	patchStateOps      = []string{"Equal", "NotEqual", "LessThan", "GreaterThan"}
)

// patchOp adapts an operation on PatchBackend to the table's form.
func patchOp[In any, PIn interface {
	*In
	request
}, Out any](fn func(ctx context.Context, b PatchBackend, in *In) (Out, error)) func(context.Context, Backend, []byte) (any, error) {
	return handle[In, PIn](func(ctx context.Context, b Backend, in *In) (Out, error) {
		p, ok := b.(PatchBackend)
		if !ok {
			var zero Out
			return zero, runcmd.Errorf(runcmd.EINVALID, "UnsupportedOperationException", "This endpoint does not serve Patch Manager or Compliance.")
		}
		return fn(ctx, p, in)
	})
}

// baselineFields are the members CreatePatchBaseline, UpdatePatchBaseline and BaselineOverride share.
// Their rules (lengths, enums, filter keys per operating system) are checked by patch.Baseline.Validate.
type baselineFields struct {
	OperatingSystem                          *string             `json:"OperatingSystem"`
	Name                                     *string             `json:"Name"`
	Description                              *string             `json:"Description"`
	GlobalFilters                            *patch.FilterGroup  `json:"GlobalFilters"`
	ApprovalRules                            *patch.RuleGroup    `json:"ApprovalRules"`
	ApprovedPatches                          []string            `json:"ApprovedPatches"`
	ApprovedPatchesComplianceLevel           *string             `json:"ApprovedPatchesComplianceLevel"`
	ApprovedPatchesEnableNonSecurity         *bool               `json:"ApprovedPatchesEnableNonSecurity"`
	RejectedPatches                          []string            `json:"RejectedPatches"`
	RejectedPatchesAction                    *string             `json:"RejectedPatchesAction"`
	Sources                                  []patch.PatchSource `json:"Sources"`
	AvailableSecurityUpdatesComplianceStatus *string             `json:"AvailableSecurityUpdatesComplianceStatus"`
}

func (f *baselineFields) check(v *violations) {
	v.enum("operatingSystem", f.OperatingSystem, operatingSystems)
	v.str("name", f.Name, 3, 128, &patBaselineName)
	v.str("description", f.Description, 1, 1024, nil)
	v.enum("approvedPatchesComplianceLevel", f.ApprovedPatchesComplianceLevel, complianceLevels)
	v.enum("rejectedPatchesAction", f.RejectedPatchesAction, []string{"ALLOW_AS_DEPENDENCY", "BLOCK"})
	v.enum("availableSecurityUpdatesComplianceStatus", f.AvailableSecurityUpdatesComplianceStatus, complianceStatuses)
}

func (f *baselineFields) baseline() patch.Baseline {
	return patch.Baseline{
		Name: deref(f.Name), Description: deref(f.Description), OperatingSystem: patch.OperatingSystem(deref(f.OperatingSystem)),
		GlobalFilters: f.GlobalFilters, ApprovalRules: f.ApprovalRules, ApprovedPatches: f.ApprovedPatches,
		ApprovedPatchesComplianceLevel:           patch.ComplianceLevel(deref(f.ApprovedPatchesComplianceLevel)),
		ApprovedPatchesEnableNonSecurity:         f.ApprovedPatchesEnableNonSecurity != nil && *f.ApprovedPatchesEnableNonSecurity,
		RejectedPatches:                          f.RejectedPatches,
		RejectedPatchesAction:                    patch.RejectedPatchesAction(deref(f.RejectedPatchesAction)),
		Sources:                                  f.Sources,
		AvailableSecurityUpdatesComplianceStatus: deref(f.AvailableSecurityUpdatesComplianceStatus),
	}
}

type createPatchBaselineRequest struct {
	OperatingSystem                          *string             `json:"OperatingSystem"`
	Name                                     *string             `json:"Name"`
	Description                              *string             `json:"Description"`
	GlobalFilters                            *patch.FilterGroup  `json:"GlobalFilters"`
	ApprovalRules                            *patch.RuleGroup    `json:"ApprovalRules"`
	ApprovedPatches                          []string            `json:"ApprovedPatches"`
	ApprovedPatchesComplianceLevel           *string             `json:"ApprovedPatchesComplianceLevel"`
	ApprovedPatchesEnableNonSecurity         *bool               `json:"ApprovedPatchesEnableNonSecurity"`
	RejectedPatches                          []string            `json:"RejectedPatches"`
	RejectedPatchesAction                    *string             `json:"RejectedPatchesAction"`
	Sources                                  []patch.PatchSource `json:"Sources"`
	AvailableSecurityUpdatesComplianceStatus *string             `json:"AvailableSecurityUpdatesComplianceStatus"`
	ClientToken                              *string             `json:"ClientToken"`
	Tags                                     []tagRequest        `json:"Tags"`
}

// fields returns the baseline members (request types cannot embed them: see decodeRequest).
func (r *createPatchBaselineRequest) fields() *baselineFields {
	return &baselineFields{OperatingSystem: r.OperatingSystem, Name: r.Name, Description: r.Description, GlobalFilters: r.GlobalFilters, ApprovalRules: r.ApprovalRules, ApprovedPatches: r.ApprovedPatches, ApprovedPatchesComplianceLevel: r.ApprovedPatchesComplianceLevel, ApprovedPatchesEnableNonSecurity: r.ApprovedPatchesEnableNonSecurity, RejectedPatches: r.RejectedPatches, RejectedPatchesAction: r.RejectedPatchesAction, Sources: r.Sources, AvailableSecurityUpdatesComplianceStatus: r.AvailableSecurityUpdatesComplianceStatus}
}

func (r *createPatchBaselineRequest) validate() error {
	var v violations
	v.required("name", r.Name != nil)
	r.fields().check(&v)
	v.str("clientToken", r.ClientToken, 1, 64, nil)
	v.tags("tags", r.Tags)
	return v.err()
}

func createPatchBaseline(ctx context.Context, b PatchBackend, r *createPatchBaselineRequest) (any, error) {
	id, err := b.CreatePatchBaseline(ctx, service.CreatePatchBaselineInput{Baseline: r.fields().baseline(), ClientToken: deref(r.ClientToken), Tags: tagMap(r.Tags)})
	if err != nil {
		return nil, err
	}
	return struct {
		BaselineID string `json:"BaselineId"`
	}{id}, nil
}

type baselineIDRequest struct {
	BaselineID *string `json:"BaselineId"`
}

func (r *baselineIDRequest) validate() error {
	var v violations
	v.required("baselineId", r.BaselineID != nil)
	v.str("baselineId", r.BaselineID, 20, 128, &patBaselineID)
	return v.err()
}

// baselineJSON is GetPatchBaseline's and UpdatePatchBaseline's result. The patch lists shadow the
// baseline's (omitted when empty) because SSM always sends them, as [] when empty.
type baselineJSON struct {
	patch.Baseline
	ApprovedPatches []string            `json:"ApprovedPatches"`
	RejectedPatches []string            `json:"RejectedPatches"`
	Sources         []patch.PatchSource `json:"Sources"`
	PatchGroups     []string            `json:"PatchGroups"`
	CreatedDate     epoch               `json:"CreatedDate,omitzero"`
	ModifiedDate    epoch               `json:"ModifiedDate,omitzero"`
}

func toBaselineJSON(o service.PatchBaselineOutput) baselineJSON {
	orEmpty := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	sources := o.Sources
	if sources == nil {
		sources = []patch.PatchSource{}
	}
	return baselineJSON{Baseline: o.Baseline, ApprovedPatches: orEmpty(o.ApprovedPatches), RejectedPatches: orEmpty(o.RejectedPatches),
		Sources: sources, PatchGroups: o.PatchGroups, CreatedDate: epoch(o.CreatedDate), ModifiedDate: epoch(o.ModifiedDate)}
}

func getPatchBaseline(ctx context.Context, b PatchBackend, r *baselineIDRequest) (any, error) {
	out, err := b.GetPatchBaseline(ctx, deref(r.BaselineID))
	if err != nil {
		return nil, err
	}
	return toBaselineJSON(out), nil
}

type updatePatchBaselineRequest struct {
	OperatingSystem                          *string             `json:"OperatingSystem"`
	Name                                     *string             `json:"Name"`
	Description                              *string             `json:"Description"`
	GlobalFilters                            *patch.FilterGroup  `json:"GlobalFilters"`
	ApprovalRules                            *patch.RuleGroup    `json:"ApprovalRules"`
	ApprovedPatches                          []string            `json:"ApprovedPatches"`
	ApprovedPatchesComplianceLevel           *string             `json:"ApprovedPatchesComplianceLevel"`
	ApprovedPatchesEnableNonSecurity         *bool               `json:"ApprovedPatchesEnableNonSecurity"`
	RejectedPatches                          []string            `json:"RejectedPatches"`
	RejectedPatchesAction                    *string             `json:"RejectedPatchesAction"`
	Sources                                  []patch.PatchSource `json:"Sources"`
	AvailableSecurityUpdatesComplianceStatus *string             `json:"AvailableSecurityUpdatesComplianceStatus"`
	BaselineID                               *string             `json:"BaselineId"`
	Replace                                  *bool               `json:"Replace"`
}

func (r *updatePatchBaselineRequest) validate() error {
	var v violations
	v.required("baselineId", r.BaselineID != nil)
	v.str("baselineId", r.BaselineID, 20, 128, &patBaselineID)
	(&baselineFields{OperatingSystem: r.OperatingSystem, Name: r.Name, Description: r.Description, GlobalFilters: r.GlobalFilters, ApprovalRules: r.ApprovalRules, ApprovedPatches: r.ApprovedPatches, ApprovedPatchesComplianceLevel: r.ApprovedPatchesComplianceLevel, ApprovedPatchesEnableNonSecurity: r.ApprovedPatchesEnableNonSecurity, RejectedPatches: r.RejectedPatches, RejectedPatchesAction: r.RejectedPatchesAction, Sources: r.Sources, AvailableSecurityUpdatesComplianceStatus: r.AvailableSecurityUpdatesComplianceStatus}).check(&v)
	if r.OperatingSystem != nil {
		v.msgs = append(v.msgs, "OperatingSystem cannot be changed by UpdatePatchBaseline")
	}
	return v.err()
}

func updatePatchBaseline(ctx context.Context, b PatchBackend, r *updatePatchBaselineRequest) (any, error) {
	out, err := b.UpdatePatchBaseline(ctx, service.UpdatePatchBaselineInput{
		BaselineID: deref(r.BaselineID), Name: r.Name, Description: r.Description, GlobalFilters: r.GlobalFilters,
		ApprovalRules: r.ApprovalRules, ApprovedPatches: r.ApprovedPatches, ApprovedPatchesComplianceLevel: r.ApprovedPatchesComplianceLevel,
		ApprovedPatchesEnableNonSecurity: r.ApprovedPatchesEnableNonSecurity, RejectedPatches: r.RejectedPatches,
		RejectedPatchesAction: r.RejectedPatchesAction, Sources: r.Sources,
		AvailableSecurityUpdatesComplianceStatus: r.AvailableSecurityUpdatesComplianceStatus, Replace: r.Replace != nil && *r.Replace,
	})
	if err != nil {
		return nil, err
	}
	j := toBaselineJSON(out)
	return struct {
		baselineJSON
		PatchGroups []string `json:"PatchGroups,omitempty"` // UpdatePatchBaseline's result has none
	}{baselineJSON: j}, nil
}

type baselineIDResponse struct {
	BaselineID string `json:"BaselineId"`
}

func deletePatchBaseline(ctx context.Context, b PatchBackend, r *baselineIDRequest) (any, error) {
	id, err := b.DeletePatchBaseline(ctx, deref(r.BaselineID))
	if err != nil {
		return nil, err
	}
	return baselineIDResponse{id}, nil
}

type orchestratorFilter struct {
	Key    *string  `json:"Key"`
	Values []string `json:"Values"`
}

type describePatchBaselinesRequest struct {
	Filters    []orchestratorFilter `json:"Filters"`
	MaxResults *int                 `json:"MaxResults"`
	NextToken  *string              `json:"NextToken"`
}

func (r *describePatchBaselinesRequest) validate() error {
	var v violations
	checkOrchestratorFilters(&v, r.Filters, 5)
	v.intRange("maxResults", r.MaxResults, 1, 100)
	return v.err()
}

func checkOrchestratorFilters(v *violations, fs []orchestratorFilter, maxN int) {
	v.listLen("filters", fs != nil, len(fs), func() string { return fmt.Sprintf("%d filters", len(fs)) }, 0, maxN)
	for i, f := range fs {
		v.str(fmt.Sprintf("filters.%d.member.key", i+1), f.Key, 1, 128, nil)
		v.strList(fmt.Sprintf("filters.%d.member.values", i+1), f.Values, 0, -1, memberPattern(1, 256, nil))
	}
}

func patchFilters(fs []orchestratorFilter) []service.PatchFilter {
	var out []service.PatchFilter
	for _, f := range fs {
		out = append(out, service.PatchFilter{Key: deref(f.Key), Values: f.Values})
	}
	return out
}

type baselineIdentityJSON struct {
	BaselineID          string `json:"BaselineId"`
	BaselineName        string `json:"BaselineName"`
	OperatingSystem     string `json:"OperatingSystem"`
	BaselineDescription string `json:"BaselineDescription,omitempty"`
	DefaultBaseline     bool   `json:"DefaultBaseline"`
}

func describePatchBaselines(ctx context.Context, b PatchBackend, r *describePatchBaselinesRequest) (any, error) {
	out, err := b.DescribePatchBaselines(ctx, service.DescribePatchBaselinesInput{Filters: patchFilters(r.Filters),
		MaxResults: derefInt(r.MaxResults), NextToken: deref(r.NextToken)})
	if err != nil {
		return nil, err
	}
	ids := make([]baselineIdentityJSON, 0, len(out.BaselineIdentities))
	for _, id := range out.BaselineIdentities {
		ids = append(ids, baselineIdentityJSON(id))
	}
	return struct {
		BaselineIdentities []baselineIdentityJSON `json:"BaselineIdentities"`
		NextToken          string                 `json:"NextToken,omitempty"`
	}{ids, out.NextToken}, nil
}

func registerDefaultPatchBaseline(ctx context.Context, b PatchBackend, r *baselineIDRequest) (any, error) {
	id, err := b.RegisterDefaultPatchBaseline(ctx, deref(r.BaselineID))
	if err != nil {
		return nil, err
	}
	return baselineIDResponse{id}, nil
}

type operatingSystemRequest struct {
	OperatingSystem *string `json:"OperatingSystem"`
}

func (r *operatingSystemRequest) validate() error {
	var v violations
	v.enum("operatingSystem", r.OperatingSystem, operatingSystems)
	return v.err()
}

func getDefaultPatchBaseline(ctx context.Context, b PatchBackend, r *operatingSystemRequest) (any, error) {
	id, os, err := b.GetDefaultPatchBaseline(ctx, deref(r.OperatingSystem))
	if err != nil {
		return nil, err
	}
	return struct {
		BaselineID      string `json:"BaselineId"`
		OperatingSystem string `json:"OperatingSystem"`
	}{id, os}, nil
}

type patchGroupRequest struct {
	BaselineID *string `json:"BaselineId"`
	PatchGroup *string `json:"PatchGroup"`
}

func (r *patchGroupRequest) validate() error {
	var v violations
	v.required("baselineId", r.BaselineID != nil)
	v.str("baselineId", r.BaselineID, 20, 128, &patBaselineID)
	v.required("patchGroup", r.PatchGroup != nil)
	v.str("patchGroup", r.PatchGroup, 1, 256, &patPatchGroup)
	return v.err()
}

type patchGroupResponse struct {
	BaselineID string `json:"BaselineId"`
	PatchGroup string `json:"PatchGroup"`
}

func registerPatchBaselineForPatchGroup(ctx context.Context, b PatchBackend, r *patchGroupRequest) (any, error) {
	if err := b.RegisterPatchBaselineForPatchGroup(ctx, deref(r.BaselineID), deref(r.PatchGroup)); err != nil {
		return nil, err
	}
	return patchGroupResponse{deref(r.BaselineID), deref(r.PatchGroup)}, nil
}

func deregisterPatchBaselineForPatchGroup(ctx context.Context, b PatchBackend, r *patchGroupRequest) (any, error) {
	if err := b.DeregisterPatchBaselineForPatchGroup(ctx, deref(r.BaselineID), deref(r.PatchGroup)); err != nil {
		return nil, err
	}
	return patchGroupResponse{deref(r.BaselineID), deref(r.PatchGroup)}, nil
}

type getPatchBaselineForPatchGroupRequest struct {
	PatchGroup      *string `json:"PatchGroup"`
	OperatingSystem *string `json:"OperatingSystem"`
}

func (r *getPatchBaselineForPatchGroupRequest) validate() error {
	var v violations
	v.required("patchGroup", r.PatchGroup != nil)
	v.str("patchGroup", r.PatchGroup, 1, 256, &patPatchGroup)
	v.enum("operatingSystem", r.OperatingSystem, operatingSystems)
	return v.err()
}

func getPatchBaselineForPatchGroup(ctx context.Context, b PatchBackend, r *getPatchBaselineForPatchGroupRequest) (any, error) {
	id, os, err := b.GetPatchBaselineForPatchGroup(ctx, deref(r.PatchGroup), deref(r.OperatingSystem))
	if err != nil {
		return nil, err
	}
	return struct {
		BaselineID      string `json:"BaselineId"`
		PatchGroup      string `json:"PatchGroup"`
		OperatingSystem string `json:"OperatingSystem"`
	}{id, deref(r.PatchGroup), os}, nil
}

func describePatchGroups(ctx context.Context, b PatchBackend, r *describePatchBaselinesRequest) (any, error) {
	ms, next, err := b.DescribePatchGroups(ctx, service.DescribePatchBaselinesInput{Filters: patchFilters(r.Filters),
		MaxResults: derefInt(r.MaxResults), NextToken: deref(r.NextToken)})
	if err != nil {
		return nil, err
	}
	type mappingJSON struct {
		PatchGroup       string               `json:"PatchGroup"`
		BaselineIdentity baselineIdentityJSON `json:"BaselineIdentity"`
	}
	out := make([]mappingJSON, 0, len(ms))
	for _, m := range ms {
		out = append(out, mappingJSON{m.PatchGroup, baselineIdentityJSON(m.BaselineIdentity)})
	}
	return struct {
		Mappings  []mappingJSON `json:"Mappings"`
		NextToken string        `json:"NextToken,omitempty"`
	}{out, next}, nil
}

type getDeployablePatchSnapshotRequest struct {
	InstanceID             *string         `json:"InstanceId"`
	SnapshotID             *string         `json:"SnapshotId"`
	BaselineOverride       *baselineFields `json:"BaselineOverride"`
	UseS3DualStackEndpoint *bool           `json:"UseS3DualStackEndpoint"`
}

func (r *getDeployablePatchSnapshotRequest) validate() error {
	var v violations
	v.required("instanceId", r.InstanceID != nil)
	v.str("instanceId", r.InstanceID, 0, -1, &patInstanceID)
	v.required("snapshotId", r.SnapshotID != nil)
	v.str("snapshotId", r.SnapshotID, 36, 36, &patSnapshotID)
	if r.BaselineOverride != nil {
		r.BaselineOverride.check(&v)
	}
	return v.err()
}

func getDeployablePatchSnapshotForInstance(ctx context.Context, b PatchBackend, r *getDeployablePatchSnapshotRequest) (any, error) {
	var override *patch.Baseline
	if r.BaselineOverride != nil {
		bl := r.BaselineOverride.baseline()
		override = &bl
	}
	out, err := b.GetDeployablePatchSnapshotForInstance(ctx, deref(r.InstanceID), deref(r.SnapshotID), override)
	if err != nil {
		return nil, err
	}
	return struct {
		InstanceID          string `json:"InstanceId"`
		SnapshotID          string `json:"SnapshotId"`
		SnapshotDownloadURL string `json:"SnapshotDownloadUrl"`
		Product             string `json:"Product"`
	}{out.InstanceID, out.SnapshotID, out.SnapshotDownloadURL, out.Product}, nil
}
