package service

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/patch"
)

// Patching serves Patch Manager and Compliance: patch baselines, patch groups, snapshots, patch
// states and compliance items. It is embedded in API; a nil *Patching answers every operation with
// UnsupportedOperationException, so deployments without the patching tables keep serving Run Command.
type Patching struct {
	Baselines  runcmd.PatchBaselineStore
	Compliance runcmd.ComplianceStore
	Instances  runcmd.InstanceStore
	// Region names the predefined baselines' ARNs; default us-east-1.
	Region string
	Now    Clock
	// NewID returns random bytes for baseline ids; nil uses crypto/rand through NewUUID.
	NewID func() string
}

// NewPatching returns a Patching service over the given stores with the real clock.
func NewPatching(baselines runcmd.PatchBaselineStore, compliance runcmd.ComplianceStore, instances runcmd.InstanceStore, region string) *Patching {
	return &Patching{Baselines: baselines, Compliance: compliance, Instances: instances, Region: region, Now: time.Now}
}

func (p *Patching) ready() error {
	if p == nil || p.Baselines == nil || p.Compliance == nil {
		return runcmd.Errorf(runcmd.EINVALID, "UnsupportedOperationException", "This endpoint does not serve Patch Manager or Compliance.")
	}
	return nil
}

func (p *Patching) region() string { return cmp.Or(p.Region, "us-east-1") }

func (p *Patching) now() time.Time {
	if p.Now == nil {
		return time.Now().UTC()
	}
	return p.Now().UTC()
}

// newBaselineID returns "pb-" and 17 hex digits, the form of SSM's baseline ids. With a client token
// the id is derived from it, so a retried CreatePatchBaseline collides with its first attempt.
func (p *Patching) newBaselineID(clientToken string) string {
	var seed string
	switch {
	case clientToken != "":
		seed = "runcmd-patch-baseline-token\x00" + clientToken
	case p.NewID != nil:
		seed = p.NewID()
	default:
		seed = NewUUID()
	}
	sum := sha256.Sum256([]byte(seed))
	return "pb-" + hex.EncodeToString(sum[:])[:17]
}

// PatchBaselineOutput is GetPatchBaseline's and UpdatePatchBaseline's result.
type PatchBaselineOutput struct {
	patch.Baseline
	PatchGroups  []string
	CreatedDate  time.Time
	ModifiedDate time.Time
}

// CreatePatchBaselineInput is CreatePatchBaseline's request.
type CreatePatchBaselineInput struct {
	Baseline    patch.Baseline // BaselineID ignored
	ClientToken string
	Tags        map[string]string
}

// CreatePatchBaseline validates and stores a new baseline and returns its id. The same ClientToken
// with the same content returns the first baseline's id; with other content it fails with
// IdempotentParameterMismatch.
func (p *Patching) CreatePatchBaseline(ctx context.Context, in CreatePatchBaselineInput) (string, error) {
	if err := p.ready(); err != nil {
		return "", err
	}
	b := in.Baseline.Clone()
	b.BaselineID = ""
	if err := b.Validate(); err != nil {
		return "", err
	}
	if err := checkTags(in.Tags); err != nil {
		return "", err
	}
	b.BaselineID = p.newBaselineID(in.ClientToken)
	body, err := json.Marshal(b)
	if err != nil {
		return "", fmt.Errorf("create patch baseline %s: encode: %w", b.Name, err)
	}
	now := p.now()
	rec := &runcmd.PatchBaseline{BaselineID: b.BaselineID, Name: b.Name, OperatingSystem: string(b.OperatingSystem.OrDefault()),
		Description: b.Description, Body: body, CreatedDate: now, ModifiedDate: now, Tags: in.Tags}
	err = p.Baselines.CreateBaseline(ctx, rec)
	if runcmd.ErrorCode(err) == runcmd.ECONFLICT && in.ClientToken != "" {
		old, gerr := p.Baselines.GetBaseline(ctx, b.BaselineID)
		if gerr != nil {
			return "", fmt.Errorf("create patch baseline %s: read the token's baseline: %w", b.Name, gerr)
		}
		prev, derr := decodeBaseline(old)
		if derr != nil {
			return "", derr
		}
		if !reflect.DeepEqual(prev.WithDefaults(), b.WithDefaults()) {
			return "", runcmd.Errorf(runcmd.ECONFLICT, "IdempotentParameterMismatch",
				"The ClientToken was already used with different parameters.")
		}
		return b.BaselineID, nil
	}
	if err != nil {
		return "", fmt.Errorf("create patch baseline %s: %w", b.Name, err)
	}
	return b.BaselineID, nil
}

func decodeBaseline(rec *runcmd.PatchBaseline) (patch.Baseline, error) {
	var b patch.Baseline
	if err := json.Unmarshal(rec.Body, &b); err != nil {
		return b, fmt.Errorf("decode patch baseline %s: %w", rec.BaselineID, err)
	}
	b.BaselineID = rec.BaselineID
	return b, nil
}

// baseline returns a baseline by id (bare or ARN; predefined or stored) with SSM's defaults filled in,
// and its stored record (nil for predefined ones).
func (p *Patching) baseline(ctx context.Context, id string) (patch.Baseline, *runcmd.PatchBaseline, error) {
	if patch.IsPredefined(id) {
		b, err := patch.PredefinedByID(p.region(), id)
		return b.WithDefaults(), nil, err
	}
	rec, err := p.Baselines.GetBaseline(ctx, id)
	if err != nil {
		return patch.Baseline{}, nil, fmt.Errorf("get patch baseline %s: %w", id, err)
	}
	b, err := decodeBaseline(rec)
	return b.WithDefaults(), rec, err
}

// GetPatchBaseline returns a baseline, predefined or the account's.
func (p *Patching) GetPatchBaseline(ctx context.Context, id string) (PatchBaselineOutput, error) {
	if err := p.ready(); err != nil {
		return PatchBaselineOutput{}, err
	}
	b, rec, err := p.baseline(ctx, id)
	if err != nil {
		return PatchBaselineOutput{}, err
	}
	out := PatchBaselineOutput{Baseline: b, PatchGroups: []string{}}
	if rec != nil {
		out.CreatedDate, out.ModifiedDate = rec.CreatedDate, rec.ModifiedDate
		out.PatchGroups = append(out.PatchGroups, rec.PatchGroups...)
		return out, nil
	}
	// Predefined baselines are not stored; their groups come from the (short) mapping list.
	groups, err := p.groupsOf(ctx, b.BaselineID)
	if err != nil {
		return PatchBaselineOutput{}, err
	}
	out.PatchGroups = append(out.PatchGroups, groups...)
	return out, nil
}

func (p *Patching) groupsOf(ctx context.Context, baselineID string) ([]string, error) {
	bare, _ := patch.ParseBaselineID(baselineID)
	var out []string
	next := ""
	for {
		ms, n, err := p.Baselines.ListPatchGroups(ctx, next, 100)
		if err != nil {
			return nil, fmt.Errorf("list patch groups: %w", err)
		}
		for _, m := range ms {
			if b, _ := patch.ParseBaselineID(m.BaselineID); b == bare {
				out = append(out, m.PatchGroup)
			}
		}
		if next = n; next == "" {
			return out, nil
		}
	}
}

// UpdatePatchBaselineInput is UpdatePatchBaseline's request. Nil fields are left unchanged, unless
// Replace is set: then every field the request leaves out is reset (Name stays required).
type UpdatePatchBaselineInput struct {
	BaselineID                               string
	Name                                     *string
	Description                              *string
	GlobalFilters                            *patch.FilterGroup
	ApprovalRules                            *patch.RuleGroup
	ApprovedPatches                          []string // nil: absent
	ApprovedPatchesComplianceLevel           *string
	ApprovedPatchesEnableNonSecurity         *bool
	RejectedPatches                          []string // nil: absent
	RejectedPatchesAction                    *string
	Sources                                  []patch.PatchSource // nil: absent
	AvailableSecurityUpdatesComplianceStatus *string
	Replace                                  bool
}

// UpdatePatchBaseline changes a user baseline; predefined ones are read-only.
func (p *Patching) UpdatePatchBaseline(ctx context.Context, in UpdatePatchBaselineInput) (PatchBaselineOutput, error) {
	if err := p.ready(); err != nil {
		return PatchBaselineOutput{}, err
	}
	if patch.IsPredefined(in.BaselineID) {
		return PatchBaselineOutput{}, patch.ErrPredefinedReadOnly(in.BaselineID)
	}
	rec, err := p.Baselines.GetBaseline(ctx, in.BaselineID)
	if err != nil {
		return PatchBaselineOutput{}, fmt.Errorf("update patch baseline %s: %w", in.BaselineID, err)
	}
	b, err := decodeBaseline(rec)
	if err != nil {
		return PatchBaselineOutput{}, err
	}
	if in.Replace {
		if in.Name == nil {
			return PatchBaselineOutput{}, runcmd.Errorf(runcmd.EINVALID, patch.ErrValidation, "Name is required when Replace is true.")
		}
		b = patch.Baseline{BaselineID: b.BaselineID, OperatingSystem: b.OperatingSystem}
	}
	if in.Name != nil {
		b.Name = *in.Name
	}
	if in.Description != nil {
		b.Description = *in.Description
	}
	if in.GlobalFilters != nil {
		b.GlobalFilters = in.GlobalFilters
	}
	if in.ApprovalRules != nil {
		b.ApprovalRules = in.ApprovalRules
	}
	if in.ApprovedPatches != nil {
		b.ApprovedPatches = in.ApprovedPatches
	}
	if in.ApprovedPatchesComplianceLevel != nil {
		b.ApprovedPatchesComplianceLevel = patch.ComplianceLevel(*in.ApprovedPatchesComplianceLevel)
	}
	if in.ApprovedPatchesEnableNonSecurity != nil {
		b.ApprovedPatchesEnableNonSecurity = *in.ApprovedPatchesEnableNonSecurity
	}
	if in.RejectedPatches != nil {
		b.RejectedPatches = in.RejectedPatches
	}
	if in.RejectedPatchesAction != nil {
		b.RejectedPatchesAction = patch.RejectedPatchesAction(*in.RejectedPatchesAction)
	}
	if in.Sources != nil {
		b.Sources = in.Sources
	}
	if in.AvailableSecurityUpdatesComplianceStatus != nil {
		b.AvailableSecurityUpdatesComplianceStatus = *in.AvailableSecurityUpdatesComplianceStatus
	}
	if err := b.Validate(); err != nil {
		return PatchBaselineOutput{}, err
	}
	body, err := json.Marshal(b)
	if err != nil {
		return PatchBaselineOutput{}, fmt.Errorf("update patch baseline %s: encode: %w", b.BaselineID, err)
	}
	rec.Name, rec.Description, rec.Body, rec.ModifiedDate = b.Name, b.Description, body, p.now()
	if err := p.Baselines.UpdateBaseline(ctx, rec); err != nil {
		return PatchBaselineOutput{}, fmt.Errorf("update patch baseline %s: %w", b.BaselineID, err)
	}
	return PatchBaselineOutput{Baseline: b.WithDefaults(), PatchGroups: append([]string{}, rec.PatchGroups...),
		CreatedDate: rec.CreatedDate, ModifiedDate: rec.ModifiedDate}, nil
}

// DeletePatchBaseline deletes a user baseline. It fails with ResourceInUseException while the
// baseline is registered for a patch group or is the default of its operating system.
func (p *Patching) DeletePatchBaseline(ctx context.Context, id string) (string, error) {
	if err := p.ready(); err != nil {
		return "", err
	}
	if patch.IsPredefined(id) {
		return "", patch.ErrPredefinedReadOnly(id)
	}
	rec, err := p.Baselines.GetBaseline(ctx, id)
	switch runcmd.ErrorCode(err) {
	case runcmd.ENOTFOUND:
		return id, nil // SSM answers a delete of an unknown baseline with its id
	case "":
	default:
		return "", fmt.Errorf("delete patch baseline %s: %w", id, err)
	}
	def, err := p.Baselines.GetDefaultBaseline(ctx, rec.OperatingSystem)
	if err != nil && runcmd.ErrorCode(err) != runcmd.ENOTFOUND {
		return "", fmt.Errorf("delete patch baseline %s: %w", id, err)
	}
	if def == id {
		return "", runcmd.Errorf(runcmd.ECONFLICT, "ResourceInUseException",
			"Patch Baseline %s is the default baseline for %s; register another default first.", id, rec.OperatingSystem)
	}
	if err := p.Baselines.DeleteBaseline(ctx, id); err != nil {
		return "", fmt.Errorf("delete patch baseline %s: %w", id, err)
	}
	return id, nil
}

// ResourceTypePatchBaseline is the tagging operations' resource type for patch baselines; the
// resource id is the baseline id (pb-...).
const ResourceTypePatchBaseline = "PatchBaseline"

// taggableBaseline returns a stored baseline for a tagging operation. Unknown baselines are
// InvalidResourceId, the tagging operations' not-found error; AWS-owned ones can't be tagged.
func (p *Patching) taggableBaseline(ctx context.Context, id string) (*runcmd.PatchBaseline, error) {
	if err := p.ready(); err != nil {
		return nil, err
	}
	if patch.IsPredefined(id) {
		return nil, runcmd.Errorf(runcmd.EINVALID, "InvalidResourceId", "Patch baseline %s is owned by AWS and can't be tagged.", id)
	}
	rec, err := p.Baselines.GetBaseline(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("tags of patch baseline %s: %w", id, resourceNotFound(err, "patch baseline", id))
	}
	return rec, nil
}

// AddPatchBaselineTags adds or overwrites tags on a user baseline (AddTagsToResource). A baseline
// carries at most MaxDocumentTags tags, the AWS-wide per-resource limit: TooManyTagsError beyond.
// Tagging does not change the baseline's ModifiedDate. The store has no tag-only write, so a tag
// change races with a concurrent UpdatePatchBaseline of the same baseline (the later write wins).
func (p *Patching) AddPatchBaselineTags(ctx context.Context, id string, tags map[string]string) error {
	rec, err := p.taggableBaseline(ctx, id)
	if err != nil {
		return err
	}
	merged := maps.Clone(rec.Tags)
	if merged == nil {
		merged = map[string]string{}
	}
	maps.Copy(merged, tags)
	if len(merged) > runcmd.MaxDocumentTags {
		return runcmd.Errorf(runcmd.ELIMIT, "TooManyTagsError", "A resource can carry at most %d tags; patch baseline %s would carry %d.",
			runcmd.MaxDocumentTags, id, len(merged))
	}
	rec.Tags = merged
	if err := p.Baselines.UpdateBaseline(ctx, rec); err != nil {
		return fmt.Errorf("tag patch baseline %s: %w", id, resourceNotFound(err, "patch baseline", id))
	}
	return nil
}

// RemovePatchBaselineTags removes tag keys from a user baseline; absent keys are ignored.
func (p *Patching) RemovePatchBaselineTags(ctx context.Context, id string, keys []string) error {
	rec, err := p.taggableBaseline(ctx, id)
	if err != nil {
		return err
	}
	for _, k := range keys {
		delete(rec.Tags, k)
	}
	if err := p.Baselines.UpdateBaseline(ctx, rec); err != nil {
		return fmt.Errorf("untag patch baseline %s: %w", id, resourceNotFound(err, "patch baseline", id))
	}
	return nil
}

// ListPatchBaselineTags returns a baseline's tags; AWS-owned baselines have none.
func (p *Patching) ListPatchBaselineTags(ctx context.Context, id string) (map[string]string, error) {
	if err := p.ready(); err != nil {
		return nil, err
	}
	if patch.IsPredefined(id) {
		return map[string]string{}, nil
	}
	rec, err := p.taggableBaseline(ctx, id)
	if err != nil {
		return nil, err
	}
	if rec.Tags == nil {
		return map[string]string{}, nil
	}
	return rec.Tags, nil
}

// PatchFilter is a PatchOrchestratorFilter (DescribePatchBaselines, DescribePatchGroups,
// DescribeInstancePatches).
type PatchFilter struct {
	Key    string
	Values []string
}

// PatchBaselineIdentity is one row of DescribePatchBaselines.
type PatchBaselineIdentity struct {
	BaselineID          string
	BaselineName        string
	OperatingSystem     string
	BaselineDescription string
	DefaultBaseline     bool
}

// DescribePatchBaselinesInput is DescribePatchBaselines' request.
type DescribePatchBaselinesInput struct {
	Filters    []PatchFilter
	MaxResults int
	NextToken  string
}

// DescribePatchBaselinesOutput is DescribePatchBaselines' result.
type DescribePatchBaselinesOutput struct {
	BaselineIdentities []PatchBaselineIdentity
	NextToken          string
}

func invalidFilter(format string, args ...any) error {
	return runcmd.Errorf(runcmd.EINVALID, "InvalidFilter", format, args...)
}

// DescribePatchBaselines lists the predefined baselines and then the account's, filtered by
// NAME_PREFIX, OWNER (AWS or Self) and OPERATING_SYSTEM.
func (p *Patching) DescribePatchBaselines(ctx context.Context, in DescribePatchBaselinesInput) (DescribePatchBaselinesOutput, error) {
	if err := p.ready(); err != nil {
		return DescribePatchBaselinesOutput{}, err
	}
	for _, f := range in.Filters {
		switch f.Key {
		case "NAME_PREFIX", "OWNER", "OPERATING_SYSTEM":
		default:
			return DescribePatchBaselinesOutput{}, invalidFilter("Invalid filter key %s: valid keys are NAME_PREFIX, OWNER, OPERATING_SYSTEM.", f.Key)
		}
	}
	match := func(id PatchBaselineIdentity, owner string) bool {
		for _, f := range in.Filters {
			ok := len(f.Values) == 0
			for _, v := range f.Values {
				switch f.Key {
				case "NAME_PREFIX":
					ok = ok || strings.HasPrefix(id.BaselineName, v)
				case "OWNER":
					ok = ok || strings.EqualFold(v, owner)
				case "OPERATING_SYSTEM":
					ok = ok || v == id.OperatingSystem
				}
			}
			if !ok {
				return false
			}
		}
		return true
	}
	defaults, err := p.defaults(ctx)
	if err != nil {
		return DescribePatchBaselinesOutput{}, err
	}
	limit := cmp.Or(in.MaxResults, 100)
	var out DescribePatchBaselinesOutput
	// The token is "p" + index into the predefined list, or "s" + the store's token.
	tok, err := decodeServiceToken(in.NextToken)
	if err != nil {
		return out, err
	}
	if tok == "" || strings.HasPrefix(tok, "p") {
		start := 0
		if tok != "" {
			fmt.Sscanf(tok[1:], "%d", &start)
		}
		pre := patch.Predefined(p.region())
		for i := start; i < len(pre); i++ {
			b := pre[i]
			id := PatchBaselineIdentity{BaselineID: b.BaselineID, BaselineName: b.Name, OperatingSystem: string(b.OperatingSystem),
				BaselineDescription: b.Description, DefaultBaseline: defaults[string(b.OperatingSystem)] == b.BaselineID}
			if !match(id, "AWS") {
				continue
			}
			if len(out.BaselineIdentities) == limit {
				out.NextToken = encodeServiceToken(fmt.Sprintf("p%d", i))
				return out, nil
			}
			out.BaselineIdentities = append(out.BaselineIdentities, id)
		}
		tok = "s"
	}
	// Ask the store for no more than the page still needs, so its token always resumes exactly.
	next := tok[1:]
	for len(out.BaselineIdentities) < limit {
		recs, n, err := p.Baselines.ListBaselines(ctx, next, limit-len(out.BaselineIdentities))
		if err != nil {
			return out, fmt.Errorf("describe patch baselines: %w", err)
		}
		for _, r := range recs {
			id := PatchBaselineIdentity{BaselineID: r.BaselineID, BaselineName: r.Name, OperatingSystem: r.OperatingSystem,
				BaselineDescription: r.Description, DefaultBaseline: defaults[r.OperatingSystem] == r.BaselineID}
			if match(id, "Self") {
				out.BaselineIdentities = append(out.BaselineIdentities, id)
			}
		}
		if next = n; next == "" {
			return out, nil
		}
	}
	out.NextToken = encodeServiceToken("s" + next)
	return out, nil
}

// encodeServiceToken and decodeServiceToken wrap the service's own paging state.
func encodeServiceToken(s string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("svc:" + s))
}

func decodeServiceToken(t string) (string, error) {
	if t == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil || !strings.HasPrefix(string(b), "svc:") {
		return "", runcmd.Errorf(runcmd.EINVALID, "InvalidNextToken", "The specified token is not valid.")
	}
	return strings.TrimPrefix(string(b), "svc:"), nil
}

// defaults returns the effective default baseline id of every operating system.
func (p *Patching) defaults(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	for _, b := range patch.Predefined(p.region()) {
		out[string(b.OperatingSystem)] = b.BaselineID
	}
	for _, os := range patch.OperatingSystems {
		id, err := p.Baselines.GetDefaultBaseline(ctx, string(os))
		switch runcmd.ErrorCode(err) {
		case "":
			out[string(os)] = id
		case runcmd.ENOTFOUND:
		default:
			return nil, fmt.Errorf("default patch baseline of %s: %w", os, err)
		}
	}
	return out, nil
}

// RegisterDefaultPatchBaseline makes a baseline the default of its operating system. A predefined
// baseline is named by its ARN (or bare id) to go back to AWS's default.
func (p *Patching) RegisterDefaultPatchBaseline(ctx context.Context, id string) (string, error) {
	if err := p.ready(); err != nil {
		return "", err
	}
	b, _, err := p.baseline(ctx, id)
	if err != nil {
		return "", err
	}
	if err := p.Baselines.SetDefaultBaseline(ctx, string(b.OperatingSystem.OrDefault()), b.BaselineID); err != nil {
		return "", fmt.Errorf("register default patch baseline %s: %w", id, err)
	}
	return b.BaselineID, nil
}

// GetDefaultPatchBaseline returns the default baseline of an operating system (WINDOWS when empty).
func (p *Patching) GetDefaultPatchBaseline(ctx context.Context, os string) (string, string, error) {
	if err := p.ready(); err != nil {
		return "", "", err
	}
	o := patch.OperatingSystem(os).OrDefault()
	id, err := p.defaultFor(ctx, o)
	return id, string(o), err
}

func (p *Patching) defaultFor(ctx context.Context, os patch.OperatingSystem) (string, error) {
	id, err := p.Baselines.GetDefaultBaseline(ctx, string(os))
	switch runcmd.ErrorCode(err) {
	case "":
		return id, nil
	case runcmd.ENOTFOUND:
		b, err := patch.PredefinedDefault(p.region(), os)
		if err != nil {
			return "", err
		}
		return b.BaselineID, nil
	}
	return "", fmt.Errorf("default patch baseline of %s: %w", os, err)
}

// RegisterPatchBaselineForPatchGroup maps a patch group to a baseline for the baseline's operating
// system; AlreadyExistsException when the group has a baseline for that system already.
func (p *Patching) RegisterPatchBaselineForPatchGroup(ctx context.Context, id, group string) error {
	if err := p.ready(); err != nil {
		return err
	}
	b, rec, err := p.baseline(ctx, id)
	if err != nil {
		return err
	}
	m := runcmd.PatchGroupMapping{PatchGroup: group, OperatingSystem: string(b.OperatingSystem), BaselineID: b.BaselineID, Stored: rec != nil}
	if err := p.Baselines.RegisterPatchGroup(ctx, m); err != nil {
		return fmt.Errorf("register patch group %s: %w", group, err)
	}
	return nil
}

// DeregisterPatchBaselineForPatchGroup removes a group's mapping to a baseline.
func (p *Patching) DeregisterPatchBaselineForPatchGroup(ctx context.Context, id, group string) error {
	if err := p.ready(); err != nil {
		return err
	}
	b, rec, err := p.baseline(ctx, id)
	if err != nil {
		return err
	}
	m := runcmd.PatchGroupMapping{PatchGroup: group, OperatingSystem: string(b.OperatingSystem), BaselineID: b.BaselineID, Stored: rec != nil}
	if err := p.Baselines.DeregisterPatchGroup(ctx, m); err != nil {
		return fmt.Errorf("deregister patch group %s: %w", group, err)
	}
	return nil
}

// GetPatchBaselineForPatchGroup returns the baseline a group uses on an operating system (WINDOWS
// when empty): its registered one, else the default.
func (p *Patching) GetPatchBaselineForPatchGroup(ctx context.Context, group, os string) (string, string, error) {
	if err := p.ready(); err != nil {
		return "", "", err
	}
	o := patch.OperatingSystem(os).OrDefault()
	id, err := p.groupBaseline(ctx, group, o)
	return id, string(o), err
}

func (p *Patching) groupBaseline(ctx context.Context, group string, os patch.OperatingSystem) (string, error) {
	if group != "" {
		m, err := p.Baselines.GetPatchGroup(ctx, group, string(os))
		switch runcmd.ErrorCode(err) {
		case "":
			return m.BaselineID, nil
		case runcmd.ENOTFOUND:
		default:
			return "", fmt.Errorf("patch group %s: %w", group, err)
		}
	}
	return p.defaultFor(ctx, os)
}

// PatchGroupMappingOutput is one row of DescribePatchGroups.
type PatchGroupMappingOutput struct {
	PatchGroup       string
	BaselineIdentity PatchBaselineIdentity
}

// DescribePatchGroups lists patch group registrations, filtered by NAME_PREFIX and OPERATING_SYSTEM.
func (p *Patching) DescribePatchGroups(ctx context.Context, in DescribePatchBaselinesInput) ([]PatchGroupMappingOutput, string, error) {
	if err := p.ready(); err != nil {
		return nil, "", err
	}
	for _, f := range in.Filters {
		if f.Key != "NAME_PREFIX" && f.Key != "OPERATING_SYSTEM" {
			return nil, "", invalidFilter("Invalid filter key %s: valid keys are NAME_PREFIX, OPERATING_SYSTEM.", f.Key)
		}
	}
	defaults, err := p.defaults(ctx)
	if err != nil {
		return nil, "", err
	}
	limit := cmp.Or(in.MaxResults, 100)
	var out []PatchGroupMappingOutput
	next := in.NextToken
	for len(out) < limit {
		ms, n, err := p.Baselines.ListPatchGroups(ctx, next, limit-len(out))
		if err != nil {
			return nil, "", fmt.Errorf("describe patch groups: %w", err)
		}
		for _, m := range ms {
			if !matchGroup(in.Filters, m) {
				continue
			}
			b, _, err := p.baseline(ctx, m.BaselineID)
			if err != nil && runcmd.ErrorCode(err) != runcmd.ENOTFOUND {
				return nil, "", err
			}
			out = append(out, PatchGroupMappingOutput{PatchGroup: m.PatchGroup, BaselineIdentity: PatchBaselineIdentity{
				BaselineID: m.BaselineID, BaselineName: b.Name, OperatingSystem: m.OperatingSystem,
				BaselineDescription: b.Description, DefaultBaseline: defaults[m.OperatingSystem] == m.BaselineID}})
		}
		if next = n; next == "" {
			return out, "", nil
		}
	}
	return out, next, nil
}

func matchGroup(filters []PatchFilter, m runcmd.PatchGroupMapping) bool {
	for _, f := range filters {
		ok := false
		for _, v := range f.Values {
			ok = ok || f.Key == "NAME_PREFIX" && strings.HasPrefix(m.PatchGroup, v) || f.Key == "OPERATING_SYSTEM" && v == m.OperatingSystem
		}
		if !ok {
			return false
		}
	}
	return true
}

// SnapshotOutput is GetDeployablePatchSnapshotForInstance's result. SnapshotDownloadURL is a data: URL
// holding the snapshot's JSON (SSM presigns an S3 URL; runcmd needs no bucket for it).
type SnapshotOutput struct {
	InstanceID          string
	SnapshotID          string
	SnapshotDownloadURL string
	Product             string
}

// SnapshotDataURLPrefix starts every SnapshotDownloadURL runcmd hands out.
const SnapshotDataURLPrefix = "data:application/json;base64,"

// GetDeployablePatchSnapshotForInstance resolves the node's baseline — BaselineOverride if given,
// else the one registered for the node's patch group (tag "Patch Group" or "PatchGroup") on its
// operating system, else the operating system's default — and freezes it under SnapshotId: the same
// id, system and group return the same snapshot for three days, whatever happens to the baseline or
// the override.
func (p *Patching) GetDeployablePatchSnapshotForInstance(ctx context.Context, instanceID, snapshotID string, override *patch.Baseline) (SnapshotOutput, error) {
	if err := p.ready(); err != nil {
		return SnapshotOutput{}, err
	}
	nodes, err := p.Instances.GetInstances(ctx, []string{instanceID})
	if err != nil {
		return SnapshotOutput{}, fmt.Errorf("snapshot for %s: %w", instanceID, err)
	}
	node, ok := nodes[instanceID]
	if !ok {
		return SnapshotOutput{}, runcmd.Errorf(runcmd.ENOTFOUND, "InvalidInstanceId", "Instance %s is not a managed node.", instanceID)
	}
	os, ok := patch.OperatingSystemFor(node.PlatformType, node.PlatformName, node.PlatformVersion)
	if !ok {
		return SnapshotOutput{}, runcmd.Errorf(runcmd.EINVALID, "UnsupportedOperatingSystem",
			"Patch Manager does not support the operating system of %s (%s %s).", instanceID, node.PlatformName, node.PlatformVersion)
	}
	group := patch.PatchGroupFromTags(node.Tags)
	var b patch.Baseline
	if override != nil {
		b = override.Clone()
		if b.OperatingSystem.OrDefault() != os {
			return SnapshotOutput{}, runcmd.Errorf(runcmd.EINVALID, patch.ErrValidation,
				"BaselineOverride is for %s but %s runs %s.", b.OperatingSystem.OrDefault(), instanceID, os)
		}
		// An override has no id nor name of its own; the names it gets here only label the snapshot.
		b.BaselineID, b.Name = "", cmp.Or(b.Name, "BaselineOverride")
		if err := b.Validate(); err != nil {
			return SnapshotOutput{}, err
		}
		b.BaselineID = "BaselineOverride"
	} else {
		id, err := p.groupBaseline(ctx, group, os)
		if err != nil {
			return SnapshotOutput{}, err
		}
		if b, _, err = p.baseline(ctx, id); err != nil {
			return SnapshotOutput{}, err
		}
	}
	snap, err := patch.NewSnapshot(snapshotID, instanceID, group, b, p.now())
	if err != nil {
		return SnapshotOutput{}, err
	}
	body, err := json.Marshal(snap)
	if err != nil {
		return SnapshotOutput{}, fmt.Errorf("snapshot %s: encode: %w", snapshotID, err)
	}
	// Overrides are frozen too: SSM's SnapshotId "takes precedence over the patch baseline override",
	// so a fleet run whose override file changes midway still patches alike.
	rec := &runcmd.PatchSnapshot{SnapshotID: snapshotID, OperatingSystem: string(os), PatchGroup: group, Body: body, CreatedAt: snap.CreatedTime}
	if rec, err = p.Baselines.PutSnapshot(ctx, rec, patch.SnapshotReuse); err != nil {
		return SnapshotOutput{}, fmt.Errorf("snapshot %s: %w", snapshotID, err)
	}
	return SnapshotOutput{InstanceID: instanceID, SnapshotID: snapshotID,
		SnapshotDownloadURL: SnapshotDataURLPrefix + base64.StdEncoding.EncodeToString(rec.Body),
		Product:             productOf(os, node.PlatformVersion)}, nil
}

// productOf returns the PRODUCT value of a node: Patch Manager's product name and version.
func productOf(os patch.OperatingSystem, version string) string {
	names := map[patch.OperatingSystem]string{
		patch.AmazonLinux: "AmazonLinux", patch.AmazonLinux2: "AmazonLinux2", patch.AmazonLinux2022: "AmazonLinux2022",
		patch.AmazonLinux2023: "AmazonLinux2023", patch.Ubuntu: "Ubuntu", patch.Debian: "Debian", patch.Raspbian: "Raspbian",
		patch.RedhatEnterpriseLinux: "RedhatEnterpriseLinux", patch.CentOS: "CentOS", patch.OracleLinux: "OracleLinux",
		patch.RockyLinux: "RockyLinux", patch.AlmaLinux: "AlmaLinux", patch.SUSE: "SUSE", patch.MacOS: "MacOS", patch.Windows: "WindowsServer",
	}
	n := names[os]
	if slices.Contains([]patch.OperatingSystem{patch.AmazonLinux2, patch.AmazonLinux2022, patch.AmazonLinux2023}, os) {
		return n
	}
	return n + version
}
