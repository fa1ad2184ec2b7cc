package service

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/patch"
)

// ComplianceFilter is SSM's ComplianceStringFilter. Type defaults to EQUAL.
type ComplianceFilter struct {
	Key    string
	Values []string
	Type   string
}

// matches reports whether value passes the filter. LESS_THAN and GREATER_THAN compare times when
// both sides parse as RFC 3339 (or epoch seconds), numbers when both are integers, else strings.
func (f ComplianceFilter) matches(value string) bool {
	switch cmp.Or(f.Type, "EQUAL") {
	case "EQUAL":
		return slices.Contains(f.Values, value)
	case "NOT_EQUAL":
		return !slices.Contains(f.Values, value)
	case "BEGIN_WITH":
		return slices.ContainsFunc(f.Values, func(v string) bool { return strings.HasPrefix(value, v) })
	case "LESS_THAN":
		return slices.ContainsFunc(f.Values, func(v string) bool { return compareValues(value, v) < 0 })
	case "GREATER_THAN":
		return slices.ContainsFunc(f.Values, func(v string) bool { return compareValues(value, v) > 0 })
	}
	return false
}

func compareValues(a, b string) int {
	if ta, ok := parseFilterTime(a); ok {
		if tb, ok := parseFilterTime(b); ok {
			return ta.Compare(tb)
		}
	}
	if na, err := strconv.ParseInt(a, 10, 64); err == nil {
		if nb, err := strconv.ParseInt(b, 10, 64); err == nil {
			return cmp.Compare(na, nb)
		}
	}
	return strings.Compare(a, b)
}

func parseFilterTime(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f > 1e9 {
		return time.UnixMilli(int64(f * 1000)), true
	}
	return time.Time{}, false
}

func checkFilterKeys(filters []ComplianceFilter, keys ...string) error {
	for _, f := range filters {
		if !slices.Contains(keys, f.Key) {
			return invalidFilter("Invalid filter key %s: valid keys are %s.", f.Key, strings.Join(keys, ", "))
		}
	}
	return nil
}

func allMatch(filters []ComplianceFilter, value func(key string) string) bool {
	for _, f := range filters {
		if !f.matches(value(f.Key)) {
			return false
		}
	}
	return true
}

// PutComplianceItems stores a resource's items of one compliance type: COMPLETE replaces all of them,
// PARTIAL merges by item Id (runcmd allows PARTIAL for every type, not only Association). Only managed
// nodes the service knows are accepted.
func (p *Patching) PutComplianceItems(ctx context.Context, u runcmd.ComplianceUpload) error {
	if err := p.ready(); err != nil {
		return err
	}
	if u.ResourceType != runcmd.ResourceTypeManagedInstance {
		return runcmd.Errorf(runcmd.EINVALID, "InvalidResourceType", "Resource type %s is not supported: use ManagedInstance.", u.ResourceType)
	}
	if err := p.knownNode(ctx, u.ResourceID); err != nil {
		return err
	}
	ids := map[string]bool{}
	for _, it := range u.Items {
		if ids[it.ID] {
			return runcmd.Errorf(runcmd.EINVALID, "InvalidItemContentException", "Item Id %q appears more than once.", it.ID)
		}
		ids[it.ID] = true
	}
	if _, err := p.Compliance.PutComplianceItems(ctx, u); err != nil {
		return fmt.Errorf("put compliance items %s/%s: %w", u.ResourceID, u.ComplianceType, err)
	}
	return nil
}

func (p *Patching) knownNode(ctx context.Context, id string) error {
	nodes, err := p.Instances.GetInstances(ctx, []string{id})
	if err != nil {
		return fmt.Errorf("get instance %s: %w", id, err)
	}
	if _, ok := nodes[id]; !ok {
		return runcmd.Errorf(runcmd.ENOTFOUND, "InvalidResourceId", "Resource %s is not a managed node.", id)
	}
	return nil
}

// ListComplianceItemsInput is ListComplianceItems' request.
type ListComplianceItemsInput struct {
	ResourceIDs   []string
	ResourceTypes []string
	Filters       []ComplianceFilter
	MaxResults    int
	NextToken     string
}

// ListComplianceItems lists one resource's compliance items (SSM accepts exactly one resource id),
// filtered by ComplianceType, Id, Title, Status, Severity, ExecutionId, ExecutionType, ExecutionTime or
// any Details key (DocumentName, PatchState, Classification, ...).
func (p *Patching) ListComplianceItems(ctx context.Context, in ListComplianceItemsInput) ([]runcmd.StoredComplianceItem, string, error) {
	if err := p.ready(); err != nil {
		return nil, "", err
	}
	if len(in.ResourceIDs) != 1 {
		return nil, "", runcmd.Errorf(runcmd.EINVALID, "InvalidResourceId", "ListComplianceItems needs exactly one resource id.")
	}
	for _, t := range in.ResourceTypes {
		if t != runcmd.ResourceTypeManagedInstance {
			return nil, "", runcmd.Errorf(runcmd.EINVALID, "InvalidResourceType", "Resource type %s is not supported: use ManagedInstance.", t)
		}
	}
	var types []string
	for _, f := range in.Filters {
		if f.Key == "ComplianceType" && cmp.Or(f.Type, "EQUAL") == "EQUAL" {
			types = f.Values
		}
	}
	limit := cmp.Or(in.MaxResults, 10)
	var out []runcmd.StoredComplianceItem
	next := in.NextToken
	for len(out) < limit {
		items, n, err := p.Compliance.ListComplianceItems(ctx, in.ResourceIDs[0], types, limit-len(out), next)
		if err != nil {
			return nil, "", fmt.Errorf("list compliance items of %s: %w", in.ResourceIDs[0], err)
		}
		for _, it := range items {
			if allMatch(in.Filters, func(k string) string { return itemField(it, k) }) {
				out = append(out, it)
			}
		}
		if next = n; next == "" {
			return out, "", nil
		}
	}
	return out, next, nil
}

func itemField(it runcmd.StoredComplianceItem, key string) string {
	switch key {
	case "ComplianceType":
		return it.ComplianceType
	case "Id":
		return it.ID
	case "Title":
		return it.Title
	case "Status":
		return it.Status
	case "Severity":
		return it.Severity
	case "ExecutionId":
		return it.Execution.ExecutionID
	case "ExecutionType":
		return it.Execution.ExecutionType
	case "ExecutionTime":
		return it.Execution.ExecutionTime.UTC().Format(time.RFC3339)
	case "ResourceId", "InstanceId":
		return it.ResourceID
	case "ResourceType":
		return it.ResourceType
	}
	return it.Details[key]
}

// ListComplianceSummaries returns per compliance type the number of compliant and non-compliant
// resources, each counted under its overall severity. The counts are kept by the store as items are
// written; the only filter is ComplianceType (other keys would need a scan: InvalidFilter).
func (p *Patching) ListComplianceSummaries(ctx context.Context, filters []ComplianceFilter, maxResults int, nextToken string) ([]runcmd.ComplianceTypeSummary, string, error) {
	if err := p.ready(); err != nil {
		return nil, "", err
	}
	if err := checkFilterKeys(filters, "ComplianceType"); err != nil {
		return nil, "", err
	}
	limit := cmp.Or(maxResults, 50)
	var out []runcmd.ComplianceTypeSummary
	next := nextToken
	for len(out) < limit {
		sums, n, err := p.Compliance.ListTypeSummaries(ctx, limit-len(out), next)
		if err != nil {
			return nil, "", fmt.Errorf("list compliance summaries: %w", err)
		}
		for _, s := range sums {
			if s.Compliant.Total()+s.NonCompliant.Total() == 0 {
				continue // every resource of the type is gone
			}
			if allMatch(filters, func(string) string { return s.ComplianceType }) {
				out = append(out, s)
			}
		}
		if next = n; next == "" {
			return out, "", nil
		}
	}
	return out, next, nil
}

// ListResourceComplianceSummaries returns per resource and type its item counts, status and overall
// severity, filtered by ComplianceType, Status, OverallSeverity, InstanceId/ResourceId, ResourceType,
// ExecutionId, ExecutionType or ExecutionTime.
func (p *Patching) ListResourceComplianceSummaries(ctx context.Context, filters []ComplianceFilter, maxResults int, nextToken string) ([]runcmd.ResourceComplianceSummary, string, error) {
	if err := p.ready(); err != nil {
		return nil, "", err
	}
	keys := []string{"ComplianceType", "Status", "OverallSeverity", "InstanceId", "ResourceId", "ResourceType", "ExecutionId", "ExecutionType", "ExecutionTime"}
	if err := checkFilterKeys(filters, keys...); err != nil {
		return nil, "", err
	}
	resource := ""
	for _, f := range filters {
		if (f.Key == "InstanceId" || f.Key == "ResourceId") && cmp.Or(f.Type, "EQUAL") == "EQUAL" && len(f.Values) == 1 {
			resource = f.Values[0]
		}
	}
	limit := cmp.Or(maxResults, 50)
	var out []runcmd.ResourceComplianceSummary
	next := nextToken
	for len(out) < limit {
		sums, n, err := p.Compliance.ListResourceSummaries(ctx, resource, limit-len(out), next)
		if err != nil {
			return nil, "", fmt.Errorf("list resource compliance summaries: %w", err)
		}
		for _, s := range sums {
			if allMatch(filters, func(k string) string { return summaryField(s, k) }) {
				out = append(out, s)
			}
		}
		if next = n; next == "" {
			return out, "", nil
		}
	}
	return out, next, nil
}

func summaryField(s runcmd.ResourceComplianceSummary, key string) string {
	switch key {
	case "ComplianceType":
		return s.ComplianceType
	case "Status":
		return s.Status
	case "OverallSeverity":
		return s.OverallSeverity
	case "InstanceId", "ResourceId":
		return s.ResourceID
	case "ResourceType":
		return s.ResourceType
	case "ExecutionId":
		return s.Execution.ExecutionID
	case "ExecutionType":
		return s.Execution.ExecutionType
	case "ExecutionTime":
		return s.Execution.ExecutionTime.UTC().Format(time.RFC3339)
	}
	return ""
}

// DescribeInstancePatchStates returns the patch states of the given nodes that have reported one, in
// the order asked, a page at a time.
func (p *Patching) DescribeInstancePatchStates(ctx context.Context, ids []string, maxResults int, nextToken string) ([]runcmd.InstancePatchState, string, error) {
	if err := p.ready(); err != nil {
		return nil, "", err
	}
	start := 0
	if nextToken != "" {
		tok, err := decodeServiceToken(nextToken)
		if err != nil {
			return nil, "", err
		}
		if start, err = strconv.Atoi(tok); err != nil || start < 0 || start > len(ids) {
			return nil, "", runcmd.Errorf(runcmd.EINVALID, "InvalidNextToken", "The specified token is not valid.")
		}
	}
	states, err := p.Compliance.GetInstancePatchStates(ctx, ids[start:])
	if err != nil {
		return nil, "", fmt.Errorf("describe instance patch states: %w", err)
	}
	limit := cmp.Or(maxResults, 10)
	var out []runcmd.InstancePatchState
	for i := start; i < len(ids); i++ {
		st, ok := states[ids[i]]
		if !ok {
			continue
		}
		if len(out) == limit {
			return out, encodeServiceToken(strconv.Itoa(i)), nil
		}
		out = append(out, st)
	}
	return out, "", nil
}

// InstancePatchStateFilter is DescribeInstancePatchStatesForPatchGroup's filter: a count compared
// with one integer.
type InstancePatchStateFilter struct {
	Key    string
	Values []string
	Type   string // Equal, NotEqual, LessThan, GreaterThan
}

var patchStateFilterKeys = []string{"InstalledCount", "InstalledOtherCount", "InstalledPendingRebootCount", "InstalledRejectedCount",
	"MissingCount", "FailedCount", "UnreportedNotApplicableCount", "NotApplicableCount"}

func patchStateCount(s runcmd.InstancePatchState, key string) int {
	switch key {
	case "InstalledCount":
		return s.InstalledCount
	case "InstalledOtherCount":
		return s.InstalledOtherCount
	case "InstalledPendingRebootCount":
		return s.InstalledPendingRebootCount
	case "InstalledRejectedCount":
		return s.InstalledRejectedCount
	case "MissingCount":
		return s.MissingCount
	case "FailedCount":
		return s.FailedCount
	case "UnreportedNotApplicableCount":
		return s.UnreportedNotApplicableCount
	}
	return s.NotApplicableCount
}

// DescribeInstancePatchStatesForPatchGroup lists the states of a group's nodes, filtered on counts.
func (p *Patching) DescribeInstancePatchStatesForPatchGroup(ctx context.Context, group string, filters []InstancePatchStateFilter, maxResults int, nextToken string) ([]runcmd.InstancePatchState, string, error) {
	if err := p.ready(); err != nil {
		return nil, "", err
	}
	want := make([]int, len(filters))
	for i, f := range filters {
		if !slices.Contains(patchStateFilterKeys, f.Key) {
			return nil, "", invalidFilter("Invalid filter key %s: valid keys are %s.", f.Key, strings.Join(patchStateFilterKeys, ", "))
		}
		n, err := strconv.Atoi(f.Values[0])
		if err != nil || n < 0 {
			return nil, "", invalidFilter("Filter %s needs one whole number, not %q.", f.Key, f.Values[0])
		}
		want[i] = n
	}
	keep := func(s runcmd.InstancePatchState) bool {
		for i, f := range filters {
			c := patchStateCount(s, f.Key)
			ok := map[string]bool{"Equal": c == want[i], "NotEqual": c != want[i], "LessThan": c < want[i], "GreaterThan": c > want[i]}[f.Type]
			if !ok {
				return false
			}
		}
		return true
	}
	limit := cmp.Or(maxResults, 10)
	var out []runcmd.InstancePatchState
	next := nextToken
	for len(out) < limit {
		states, n, err := p.Compliance.ListPatchGroupStates(ctx, group, limit-len(out), next)
		if err != nil {
			return nil, "", fmt.Errorf("describe patch states of group %s: %w", group, err)
		}
		for _, s := range states {
			if keep(s) {
				out = append(out, s)
			}
		}
		if next = n; next == "" {
			return out, "", nil
		}
	}
	return out, next, nil
}

// InstancePatch is one row of DescribeInstancePatches (PatchComplianceData).
type InstancePatch struct {
	Title          string
	KBID           string
	Classification string
	Severity       string
	State          string // the API enum: INSTALLED, MISSING, ...
	InstalledTime  time.Time
	CVEIDs         string
}

// DescribeInstancePatches lists a node's patches from its Patch compliance items, filtered by
// Classification, KBId, Severity or State (either spelling of the state).
func (p *Patching) DescribeInstancePatches(ctx context.Context, instanceID string, filters []PatchFilter, maxResults int, nextToken string) ([]InstancePatch, string, error) {
	if err := p.ready(); err != nil {
		return nil, "", err
	}
	for i, f := range filters {
		switch f.Key {
		case "Classification", "KBId", "Severity":
		case "State":
			vals := make([]string, len(f.Values))
			for j, v := range f.Values {
				st, ok := patch.ParseState(v)
				if !ok {
					return nil, "", invalidFilter("Invalid State %q.", v)
				}
				vals[j] = st.Enum()
			}
			filters[i].Values = vals
		default:
			return nil, "", invalidFilter("Invalid filter key %s: valid keys are Classification, KBId, Severity, State.", f.Key)
		}
	}
	if err := p.knownNode(ctx, instanceID); err != nil {
		return nil, "", runcmd.Errorf(runcmd.ENOTFOUND, "InvalidInstanceId", "Instance %s is not a managed node.", instanceID)
	}
	limit := cmp.Or(maxResults, 10)
	var out []InstancePatch
	next := nextToken
	for len(out) < limit {
		items, n, err := p.Compliance.ListComplianceItems(ctx, instanceID, []string{runcmd.ComplianceTypePatch}, limit-len(out), next)
		if err != nil {
			return nil, "", fmt.Errorf("describe instance patches of %s: %w", instanceID, err)
		}
		for _, it := range items {
			ip := instancePatch(it.ComplianceItem)
			if matchPatch(filters, ip) {
				out = append(out, ip)
			}
		}
		if next = n; next == "" {
			return out, "", nil
		}
	}
	return out, next, nil
}

func instancePatch(it runcmd.ComplianceItem) InstancePatch {
	d := it.Details
	ip := InstancePatch{Title: it.Title, KBID: it.ID, Classification: d["Classification"], Severity: d["PatchSeverity"], CVEIDs: d["CVEIds"]}
	if st, ok := patch.ParseState(d["PatchState"]); ok {
		ip.State = st.Enum()
	}
	if t, err := time.Parse(time.RFC3339, d["InstalledTime"]); err == nil {
		ip.InstalledTime = t
	}
	return ip
}

func matchPatch(filters []PatchFilter, ip InstancePatch) bool {
	for _, f := range filters {
		v := map[string]string{"Classification": ip.Classification, "KBId": ip.KBID, "Severity": ip.Severity, "State": ip.State}[f.Key]
		if !slices.Contains(f.Values, v) {
			return false
		}
	}
	return true
}

// DescribePatchGroupState returns how many of a group's nodes have patches in each state. The store
// keeps the counts as node states arrive.
func (p *Patching) DescribePatchGroupState(ctx context.Context, group string) (runcmd.PatchGroupState, error) {
	if err := p.ready(); err != nil {
		return runcmd.PatchGroupState{}, err
	}
	g, err := p.Compliance.GetPatchGroupState(ctx, group)
	if err != nil {
		return g, fmt.Errorf("describe patch group state %s: %w", group, err)
	}
	return g, nil
}
