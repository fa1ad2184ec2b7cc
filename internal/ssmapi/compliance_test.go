package ssmapi

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/google/go-cmp/cmp"

	"github.com/runcmd/runcmd"
)

// putItems uploads compliance items of one type for a node through the SDK.
func (e *patchEnv) putItems(t *testing.T, node, complianceType string, items ...types.ComplianceItemEntry) {
	t.Helper()
	_, err := e.client.PutComplianceItems(t.Context(), &ssm.PutComplianceItemsInput{ResourceId: aws.String(node), ResourceType: aws.String("ManagedInstance"),
		ComplianceType: aws.String(complianceType), ExecutionSummary: &types.ComplianceExecutionSummary{ExecutionTime: aws.Time(patchNow),
			ExecutionId: aws.String("exec-1"), ExecutionType: aws.String("Command")}, Items: items})
	if err != nil {
		t.Fatalf("PutComplianceItems %s %s: %v", node, complianceType, err)
	}
}

func item(id string, sev types.ComplianceSeverity, status types.ComplianceStatus, details map[string]string) types.ComplianceItemEntry {
	return types.ComplianceItemEntry{Id: aws.String(id), Title: aws.String("title of " + id), Severity: sev, Status: status, Details: details}
}

func eq(key string, values ...string) types.ComplianceStringFilter {
	return types.ComplianceStringFilter{Key: aws.String(key), Values: values, Type: types.ComplianceQueryOperatorTypeEqual}
}

// antivirusFleet uploads Custom:Antivirus items for three nodes: node 1 non-compliant HIGH, node 2
// compliant, node 3 non-compliant CRITICAL.
func antivirusFleet(t *testing.T, e *patchEnv) {
	t.Helper()
	for i := 1; i <= 3; i++ {
		e.addNode(t, nodeID(i), nil)
	}
	e.putItems(t, nodeID(1), "Custom:Antivirus",
		item("definitions", types.ComplianceSeverityHigh, types.ComplianceStatusNonCompliant, map[string]string{"Engine": "clam"}),
		item("daemon", types.ComplianceSeverityLow, types.ComplianceStatusCompliant, nil))
	e.putItems(t, nodeID(2), "Custom:Antivirus",
		item("definitions", types.ComplianceSeverityMedium, types.ComplianceStatusCompliant, nil))
	e.putItems(t, nodeID(3), "Custom:Antivirus",
		item("definitions", types.ComplianceSeverityCritical, types.ComplianceStatusNonCompliant, nil))
}

func TestSDKComplianceItems(t *testing.T) {
	t.Parallel()
	e := newPatchEnv(t)
	c, ctx := e.client, t.Context()
	antivirusFleet(t, e)
	node := nodeID(1)

	list := func(max int32, filters ...types.ComplianceStringFilter) []string {
		t.Helper()
		var ids []string
		for p := ssm.NewListComplianceItemsPaginator(c, &ssm.ListComplianceItemsInput{ResourceIds: []string{node},
			ResourceTypes: []string{"ManagedInstance"}, Filters: filters, MaxResults: aws.Int32(max)}); p.HasMorePages(); {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.ComplianceItems) > int(max) {
				t.Fatalf("page of %d items, MaxResults %d", len(page.ComplianceItems), max)
			}
			for _, it := range page.ComplianceItems {
				ids = append(ids, aws.ToString(it.Id))
			}
		}
		return ids
	}
	out, err := c.ListComplianceItems(ctx, &ssm.ListComplianceItemsInput{ResourceIds: []string{node}})
	if err != nil || len(out.ComplianceItems) != 2 {
		t.Fatalf("ListComplianceItems: %v %+v", err, out)
	}
	def := out.ComplianceItems[1]
	if aws.ToString(def.Id) != "definitions" || def.Status != types.ComplianceStatusNonCompliant || def.Severity != types.ComplianceSeverityHigh ||
		aws.ToString(def.ComplianceType) != "Custom:Antivirus" || aws.ToString(def.ResourceType) != "ManagedInstance" ||
		aws.ToString(def.ResourceId) != node || aws.ToString(def.Title) != "title of definitions" || def.Details["Engine"] != "clam" ||
		!def.ExecutionSummary.ExecutionTime.Equal(patchNow) || aws.ToString(def.ExecutionSummary.ExecutionId) != "exec-1" {
		t.Errorf("item: %+v", def)
	}
	tests := []struct {
		name    string
		filters []types.ComplianceStringFilter
		want    []string
	}{
		{"all, one per page", nil, []string{"daemon", "definitions"}},
		{"by type", []types.ComplianceStringFilter{eq("ComplianceType", "Custom:Antivirus")}, []string{"daemon", "definitions"}},
		{"other type", []types.ComplianceStringFilter{eq("ComplianceType", "Patch")}, nil},
		{"by status", []types.ComplianceStringFilter{eq("Status", "NON_COMPLIANT")}, []string{"definitions"}},
		{"by severity", []types.ComplianceStringFilter{eq("Severity", "LOW", "CRITICAL")}, []string{"daemon"}},
		{"not equal", []types.ComplianceStringFilter{{Key: aws.String("Status"), Values: []string{"COMPLIANT"}, Type: types.ComplianceQueryOperatorTypeNotEqual}}, []string{"definitions"}},
		{"begin with", []types.ComplianceStringFilter{{Key: aws.String("Id"), Values: []string{"da"}, Type: types.ComplianceQueryOperatorTypeBeginWith}}, []string{"daemon"}},
		{"details key", []types.ComplianceStringFilter{eq("Engine", "clam")}, []string{"definitions"}},
		{"execution time after", []types.ComplianceStringFilter{{Key: aws.String("ExecutionTime"), Values: []string{patchNow.Add(-time.Hour).Format(time.RFC3339)},
			Type: types.ComplianceQueryOperatorTypeGreaterThan}}, []string{"daemon", "definitions"}},
		{"execution time before", []types.ComplianceStringFilter{{Key: aws.String("ExecutionTime"), Values: []string{patchNow.Add(-time.Hour).Format(time.RFC3339)},
			Type: types.ComplianceQueryOperatorTypeLessThan}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, list(1, tt.filters...)); diff != "" {
				t.Errorf("items (-want +got):\n%s", diff)
			}
		})
	}

	// COMPLETE (the default) replaces every item of the type; PARTIAL merges by Id.
	e.putItems(t, node, "Custom:Antivirus", item("scanner", types.ComplianceSeverityLow, types.ComplianceStatusCompliant, nil))
	if diff := cmp.Diff([]string{"scanner"}, list(10)); diff != "" {
		t.Errorf("after a COMPLETE upload (-want +got):\n%s", diff)
	}
	_, err = c.PutComplianceItems(ctx, &ssm.PutComplianceItemsInput{ResourceId: aws.String(node), ResourceType: aws.String("ManagedInstance"),
		ComplianceType: aws.String("Custom:Antivirus"), ExecutionSummary: &types.ComplianceExecutionSummary{ExecutionTime: aws.Time(patchNow)},
		UploadType: types.ComplianceUploadTypePartial, Items: []types.ComplianceItemEntry{item("daemon", types.ComplianceSeverityLow, types.ComplianceStatusCompliant, nil)}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"daemon", "scanner"}, list(10)); diff != "" {
		t.Errorf("after a PARTIAL upload (-want +got):\n%s", diff)
	}
	// The same content hash makes an upload a no-op.
	hashed := func(items ...types.ComplianceItemEntry) error {
		_, err := c.PutComplianceItems(ctx, &ssm.PutComplianceItemsInput{ResourceId: aws.String(node), ResourceType: aws.String("ManagedInstance"),
			ComplianceType: aws.String("Custom:Hashed"), ExecutionSummary: &types.ComplianceExecutionSummary{ExecutionTime: aws.Time(patchNow)},
			ItemContentHash: aws.String("d41d8cd98f00b204e9800998ecf8427e"), Items: items})
		return err
	}
	if err := hashed(item("a", types.ComplianceSeverityLow, types.ComplianceStatusCompliant, nil)); err != nil {
		t.Fatal(err)
	}
	if err := hashed(item("b", types.ComplianceSeverityLow, types.ComplianceStatusCompliant, nil)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a"}, list(10, eq("ComplianceType", "Custom:Hashed"))); diff != "" {
		t.Errorf("upload with an unchanged hash changed the items (-want +got):\n%s", diff)
	}
}

func TestSDKComplianceErrors(t *testing.T) {
	t.Parallel()
	e := newPatchEnv(t)
	c, ctx := e.client, t.Context()
	node := nodeID(1)
	e.addNode(t, node, nil)
	put := func(resourceID, resourceType, complianceType string, items ...types.ComplianceItemEntry) func() error {
		return func() error {
			_, err := c.PutComplianceItems(ctx, &ssm.PutComplianceItemsInput{ResourceId: aws.String(resourceID), ResourceType: aws.String(resourceType),
				ComplianceType: aws.String(complianceType), ExecutionSummary: &types.ComplianceExecutionSummary{ExecutionTime: aws.Time(patchNow)}, Items: items})
			return err
		}
	}
	ok := item("x", types.ComplianceSeverityLow, types.ComplianceStatusCompliant, nil)
	for i := range 10 {
		if err := put(node, "ManagedInstance", fmt.Sprintf("Custom:Type%d", i), ok)(); err != nil {
			t.Fatalf("custom type %d: %v", i, err)
		}
	}
	tests := []struct {
		name string
		call func() error
		code string
	}{
		{"unknown node", put(nodeID(99), "ManagedInstance", "Custom:AB", ok), "InvalidResourceId"},
		{"resource type", put(node, "Document", "Custom:AB", ok), "InvalidResourceType"},
		{"duplicate ids", put(node, "ManagedInstance", "Custom:AB", ok, ok), "InvalidItemContentException"},
		{"eleventh custom type", put(node, "ManagedInstance", "Custom:Type10", ok), "ComplianceTypeCountLimitExceededException"},
		{"list two resources", func() error {
			_, err := c.ListComplianceItems(ctx, &ssm.ListComplianceItemsInput{ResourceIds: []string{node, nodeID(2)}})
			return err
		}, "InvalidResourceId"},
		{"list other resource type", func() error {
			_, err := c.ListComplianceItems(ctx, &ssm.ListComplianceItemsInput{ResourceIds: []string{node}, ResourceTypes: []string{"Document"}})
			return err
		}, "InvalidResourceType"},
		{"list with a forged token", func() error {
			_, err := c.ListComplianceItems(ctx, &ssm.ListComplianceItemsInput{ResourceIds: []string{node}, NextToken: aws.String("%%%")})
			return err
		}, "InvalidNextToken"},
		{"summaries by a key runcmd cannot filter", func() error {
			_, err := c.ListComplianceSummaries(ctx, &ssm.ListComplianceSummariesInput{Filters: []types.ComplianceStringFilter{eq("Status", "COMPLIANT")}})
			return err
		}, "InvalidFilter"},
		{"resource summaries by an unknown key", func() error {
			_, err := c.ListResourceComplianceSummaries(ctx, &ssm.ListResourceComplianceSummariesInput{Filters: []types.ComplianceStringFilter{eq("Colour", "red")}})
			return err
		}, "InvalidFilter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantAPIError(t, tt.call(), tt.code)
		})
	}
	// Replacing one of the ten custom types is not an eleventh.
	if err := put(node, "ManagedInstance", "Custom:Type9", ok)(); err != nil {
		t.Errorf("re-upload of an existing custom type: %v", err)
	}
}

func TestSDKComplianceSummaries(t *testing.T) {
	t.Parallel()
	e := newPatchEnv(t)
	c, ctx := e.client, t.Context()
	antivirusFleet(t, e)
	e.putItems(t, nodeID(2), "Patch", item("openssl.x86_64", types.ComplianceSeverityCritical, types.ComplianceStatusNonCompliant, nil))

	var sums []types.ComplianceSummaryItem
	for p := ssm.NewListComplianceSummariesPaginator(c, &ssm.ListComplianceSummariesInput{MaxResults: aws.Int32(1)}); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sums = append(sums, page.ComplianceSummaryItems...)
	}
	if len(sums) != 2 || aws.ToString(sums[0].ComplianceType) != "Custom:Antivirus" || aws.ToString(sums[1].ComplianceType) != "Patch" {
		t.Fatalf("ListComplianceSummaries: %+v", sums)
	}
	// Counts are resources, each under its overall severity.
	av := sums[0]
	if av.CompliantSummary.CompliantCount != 1 || av.CompliantSummary.SeveritySummary.MediumCount != 1 ||
		av.NonCompliantSummary.NonCompliantCount != 2 || av.NonCompliantSummary.SeveritySummary.HighCount != 1 ||
		av.NonCompliantSummary.SeveritySummary.CriticalCount != 1 {
		t.Errorf("Custom:Antivirus summary: compliant %+v non-compliant %+v", av.CompliantSummary, av.NonCompliantSummary)
	}
	one, err := c.ListComplianceSummaries(ctx, &ssm.ListComplianceSummariesInput{Filters: []types.ComplianceStringFilter{eq("ComplianceType", "Patch")}})
	if err != nil || len(one.ComplianceSummaryItems) != 1 || one.ComplianceSummaryItems[0].NonCompliantSummary.NonCompliantCount != 1 {
		t.Errorf("ListComplianceSummaries ComplianceType Patch: %v %+v", err, one)
	}

	resources := func(filters ...types.ComplianceStringFilter) []string {
		t.Helper()
		var out []string
		for p := ssm.NewListResourceComplianceSummariesPaginator(c, &ssm.ListResourceComplianceSummariesInput{Filters: filters,
			MaxResults: aws.Int32(1)}); p.HasMorePages(); {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range page.ResourceComplianceSummaryItems {
				id := aws.ToString(s.ResourceId)
				out = append(out, fmt.Sprintf("%s %s %s %s", id[len(id)-1:], aws.ToString(s.ComplianceType), s.Status, s.OverallSeverity))
			}
		}
		return out
	}
	tests := []struct {
		name    string
		filters []types.ComplianceStringFilter
		want    []string
	}{
		{"all", nil, []string{"1 Custom:Antivirus NON_COMPLIANT HIGH", "2 Custom:Antivirus COMPLIANT MEDIUM", "2 Patch NON_COMPLIANT CRITICAL",
			"3 Custom:Antivirus NON_COMPLIANT CRITICAL"}},
		{"non-compliant antivirus", []types.ComplianceStringFilter{eq("Status", "NON_COMPLIANT"), eq("ComplianceType", "Custom:Antivirus")},
			[]string{"1 Custom:Antivirus NON_COMPLIANT HIGH", "3 Custom:Antivirus NON_COMPLIANT CRITICAL"}},
		{"critical", []types.ComplianceStringFilter{eq("OverallSeverity", "CRITICAL")}, []string{"2 Patch NON_COMPLIANT CRITICAL", "3 Custom:Antivirus NON_COMPLIANT CRITICAL"}},
		{"one node", []types.ComplianceStringFilter{eq("InstanceId", nodeID(2))}, []string{"2 Custom:Antivirus COMPLIANT MEDIUM", "2 Patch NON_COMPLIANT CRITICAL"}},
		{"execution type", []types.ComplianceStringFilter{eq("ExecutionType", "Association")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, resources(tt.filters...)); diff != "" {
				t.Errorf("resource summaries (-want +got):\n%s", diff)
			}
		})
	}
	rs, err := c.ListResourceComplianceSummaries(ctx, &ssm.ListResourceComplianceSummariesInput{Filters: []types.ComplianceStringFilter{eq("InstanceId", nodeID(1))}})
	if err != nil || len(rs.ResourceComplianceSummaryItems) != 1 {
		t.Fatalf("ListResourceComplianceSummaries node 1: %v %+v", err, rs)
	}
	s := rs.ResourceComplianceSummaryItems[0]
	if aws.ToString(s.ResourceType) != "ManagedInstance" || s.CompliantSummary.CompliantCount != 1 || s.CompliantSummary.SeveritySummary.LowCount != 1 ||
		s.NonCompliantSummary.NonCompliantCount != 1 || s.NonCompliantSummary.SeveritySummary.HighCount != 1 ||
		aws.ToString(s.ExecutionSummary.ExecutionType) != "Command" || !s.ExecutionSummary.ExecutionTime.Equal(patchNow) {
		t.Errorf("node 1 summary: %+v", s)
	}
}

// patchFleet stores the patch states twelve nodes of group web reported, and node 1's Patch items:
// node i misses i%3 patches (critical ones when any).
func patchFleet(t *testing.T, e *patchEnv) []string {
	t.Helper()
	var ids []string
	for i := 1; i <= 12; i++ {
		id := nodeID(i)
		ids = append(ids, id)
		e.addNode(t, id, map[string]string{"Patch Group": "web"})
		st := runcmd.InstancePatchState{InstanceID: id, PatchGroup: "web", BaselineID: "pb-0123456789abcdef0", Operation: "Scan",
			SnapshotID: "11111111-2222-4333-8444-555555555555", InstalledCount: 5, MissingCount: i % 3,
			OperationStartTime: patchNow, OperationEndTime: patchNow.Add(time.Minute), RebootOption: "RebootIfNeeded"}
		if st.MissingCount > 0 {
			st.CriticalNonCompliantCount = st.MissingCount
		}
		if _, err := e.compliance.PutInstancePatchState(t.Context(), st); err != nil {
			t.Fatal(err)
		}
	}
	var items []types.ComplianceItemEntry
	for i := range 12 {
		state, sev, installed := "Installed", "Important", patchNow.Add(-24*time.Hour).Format(time.RFC3339)
		switch i % 4 {
		case 1:
			state, installed = "Missing", ""
		case 2:
			state, sev, installed = "Missing", "Critical", ""
		}
		d := map[string]string{"PatchState": state, "Classification": "Security", "PatchSeverity": sev, "PatchGroup": "web",
			"PatchBaselineId": "pb-0123456789abcdef0"}
		if installed != "" {
			d["InstalledTime"] = installed
		}
		status := types.ComplianceStatusCompliant
		if state == "Missing" {
			status, d["CVEIds"] = types.ComplianceStatusNonCompliant, "CVE-2025-000"+fmt.Sprint(i%10)
		}
		items = append(items, item(fmt.Sprintf("pkg%02d.x86_64", i), types.ComplianceSeverityCritical, status, d))
	}
	e.putItems(t, ids[0], "Patch", items...)
	return ids
}

func TestSDKInstancePatchStates(t *testing.T) {
	t.Parallel()
	e := newPatchEnv(t)
	c, ctx := e.client, t.Context()
	ids := patchFleet(t, e)

	// In the order asked, nodes without a state left out, ten to a page.
	asked := append([]string{nodeID(99)}, ids...)
	var got []string
	pages := 0
	for p := ssm.NewDescribeInstancePatchStatesPaginator(c, &ssm.DescribeInstancePatchStatesInput{InstanceIds: asked, MaxResults: aws.Int32(10)}); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, s := range page.InstancePatchStates {
			got = append(got, aws.ToString(s.InstanceId))
		}
	}
	if diff := cmp.Diff(ids, got); diff != "" || pages != 2 {
		t.Errorf("DescribeInstancePatchStates in %d pages (-want +got):\n%s", pages, diff)
	}
	one, err := c.DescribeInstancePatchStates(ctx, &ssm.DescribeInstancePatchStatesInput{InstanceIds: ids[1:2]})
	if err != nil || len(one.InstancePatchStates) != 1 {
		t.Fatalf("DescribeInstancePatchStates: %v %+v", err, one)
	}
	s := one.InstancePatchStates[0]
	if aws.ToString(s.PatchGroup) != "web" || aws.ToString(s.BaselineId) != "pb-0123456789abcdef0" || s.Operation != types.PatchOperationTypeScan ||
		s.InstalledCount != 5 || s.MissingCount != 2 || aws.ToInt32(s.CriticalNonCompliantCount) != 2 || !s.OperationStartTime.Equal(patchNow) ||
		s.RebootOption != types.RebootOptionRebootIfNeeded || aws.ToString(s.SnapshotId) != "11111111-2222-4333-8444-555555555555" {
		t.Errorf("state of node 2: %+v", s)
	}
	_, err = c.DescribeInstancePatchStates(ctx, &ssm.DescribeInstancePatchStatesInput{InstanceIds: ids, NextToken: aws.String("forged")})
	wantAPIError(t, err, "InvalidNextToken")

	group := func(filters ...types.InstancePatchStateFilter) (int, error) {
		n := 0
		for p := ssm.NewDescribeInstancePatchStatesForPatchGroupPaginator(c, &ssm.DescribeInstancePatchStatesForPatchGroupInput{
			PatchGroup: aws.String("web"), Filters: filters, MaxResults: aws.Int32(10)}); p.HasMorePages(); {
			page, err := p.NextPage(ctx)
			if err != nil {
				return n, err
			}
			n += len(page.InstancePatchStates)
		}
		return n, nil
	}
	f := func(key, value string, typ types.InstancePatchStateOperatorType) types.InstancePatchStateFilter {
		return types.InstancePatchStateFilter{Key: aws.String(key), Values: []string{value}, Type: typ}
	}
	counts := []struct {
		name   string
		filter []types.InstancePatchStateFilter
		want   int
	}{
		{"all", nil, 12},
		{"missing some", []types.InstancePatchStateFilter{f("MissingCount", "0", types.InstancePatchStateOperatorTypeGreaterThan)}, 8},
		{"missing two", []types.InstancePatchStateFilter{f("MissingCount", "2", types.InstancePatchStateOperatorTypeEqual)}, 4},
		{"missing fewer than two and installed five", []types.InstancePatchStateFilter{f("MissingCount", "2", types.InstancePatchStateOperatorTypeLessThan),
			f("InstalledCount", "5", types.InstancePatchStateOperatorTypeEqual)}, 8},
		{"failed not zero", []types.InstancePatchStateFilter{f("FailedCount", "0", types.InstancePatchStateOperatorTypeNotEqual)}, 0},
	}
	for _, tt := range counts {
		t.Run(tt.name, func(t *testing.T) {
			if n, err := group(tt.filter...); err != nil || n != tt.want {
				t.Errorf("DescribeInstancePatchStatesForPatchGroup: %d states, %v; want %d", n, err, tt.want)
			}
		})
	}
	_, err = group(f("CriticalNonCompliantCount", "0", types.InstancePatchStateOperatorTypeEqual))
	wantAPIError(t, err, "InvalidFilter")
	_, err = group(f("MissingCount", "many", types.InstancePatchStateOperatorTypeEqual))
	wantAPIError(t, err, "InvalidFilter")

	gs, err := c.DescribePatchGroupState(ctx, &ssm.DescribePatchGroupStateInput{PatchGroup: aws.String("web")})
	if err != nil || gs.Instances != 12 || gs.InstancesWithInstalledPatches != 12 || gs.InstancesWithMissingPatches != 8 ||
		aws.ToInt32(gs.InstancesWithCriticalNonCompliantPatches) != 8 || gs.InstancesWithFailedPatches != 0 ||
		gs.InstancesWithAvailableSecurityUpdates == nil {
		t.Errorf("DescribePatchGroupState web: %v %+v", err, gs)
	}
	gs, err = c.DescribePatchGroupState(ctx, &ssm.DescribePatchGroupStateInput{PatchGroup: aws.String("nobody")})
	if err != nil || gs.Instances != 0 {
		t.Errorf("DescribePatchGroupState of an unknown group: %v %+v", err, gs)
	}
}

func TestSDKDescribeInstancePatches(t *testing.T) {
	t.Parallel()
	e := newPatchEnv(t)
	c, ctx := e.client, t.Context()
	ids := patchFleet(t, e)
	patches := func(filters ...types.PatchOrchestratorFilter) ([]types.PatchComplianceData, error) {
		var out []types.PatchComplianceData
		for p := ssm.NewDescribeInstancePatchesPaginator(c, &ssm.DescribeInstancePatchesInput{InstanceId: aws.String(ids[0]),
			Filters: filters, MaxResults: aws.Int32(10)}); p.HasMorePages(); {
			page, err := p.NextPage(ctx)
			if err != nil {
				return out, err
			}
			out = append(out, page.Patches...)
		}
		return out, nil
	}
	all, err := patches()
	if err != nil || len(all) != 12 {
		t.Fatalf("DescribeInstancePatches: %d patches, %v; want 12", len(all), err)
	}
	installed, missing := all[0], all[1]
	if aws.ToString(installed.KBId) != "pkg00.x86_64" || installed.State != types.PatchComplianceDataStateInstalled ||
		!installed.InstalledTime.Equal(patchNow.Add(-24*time.Hour)) || aws.ToString(installed.Classification) != "Security" ||
		aws.ToString(installed.Severity) != "Important" || aws.ToString(installed.Title) != "title of pkg00.x86_64" || installed.CVEIds != nil {
		t.Errorf("installed patch: %+v", installed)
	}
	if missing.State != types.PatchComplianceDataStateMissing || missing.InstalledTime.Unix() != 0 || aws.ToString(missing.CVEIds) != "CVE-2025-0001" {
		t.Errorf("missing patch: %+v", missing)
	}
	by := func(key string, values ...string) types.PatchOrchestratorFilter {
		return types.PatchOrchestratorFilter{Key: aws.String(key), Values: values}
	}
	tests := []struct {
		name   string
		filter types.PatchOrchestratorFilter
		want   int
	}{
		{"state as the CLI samples spell it", by("State", "Missing"), 6},
		{"state as the enum spells it", by("State", "MISSING", "INSTALLED"), 12},
		{"severity", by("Severity", "Critical"), 3},
		{"classification", by("Classification", "Bugfix"), 0},
		{"KB id", by("KBId", "pkg05.x86_64", "pkg06.x86_64"), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := patches(tt.filter); err != nil || len(got) != tt.want {
				t.Errorf("%d patches, %v; want %d", len(got), err, tt.want)
			}
		})
	}
	_, err = patches(by("Product", "x"))
	wantAPIError(t, err, "InvalidFilter")
	_, err = patches(by("State", "Lost"))
	wantAPIError(t, err, "InvalidFilter")
	_, err = c.DescribeInstancePatches(ctx, &ssm.DescribeInstancePatchesInput{InstanceId: aws.String(nodeID(99))})
	wantAPIError(t, err, "InvalidInstanceId")
	// A node that never reported has no patches.
	e.addNode(t, nodeID(50), nil)
	if out, err := c.DescribeInstancePatches(ctx, &ssm.DescribeInstancePatchesInput{InstanceId: aws.String(nodeID(50))}); err != nil || len(out.Patches) != 0 {
		t.Errorf("DescribeInstancePatches of a silent node: %v %+v", err, out)
	}
}

// Model constraints of the compliance and patch-state operations, sent raw.
func TestComplianceOpsValidation(t *testing.T) {
	t.Parallel()
	e := newPatchEnv(t)
	const put = `"ResourceId":"mi-0123456789abcdef0","ResourceType":"ManagedInstance","ComplianceType":"Custom:AB","ExecutionSummary":{"ExecutionTime":1700000000}`
	it := func(s string) string { return `{` + put + `,"Items":[` + s + `]}` }
	tests := []struct{ op, body, message string }{
		{"PutComplianceItems", `{"ResourceType":"ManagedInstance","ComplianceType":"Custom:AB","ExecutionSummary":{"ExecutionTime":1},"Items":[]}`, "Value null at 'resourceId'"},
		{"PutComplianceItems", `{` + put + `}`, "Value null at 'items'"},
		{"PutComplianceItems", `{"ResourceId":"mi-0123456789abcdef0","ResourceType":"ManagedInstance","ComplianceType":"Custom:AB","Items":[]}`, "Value null at 'executionSummary'"},
		{"PutComplianceItems", `{"ResourceId":"mi-0123456789abcdef0","ResourceType":"ManagedInstance","ComplianceType":"Custom:AB","ExecutionSummary":{},"Items":[]}`,
			"Value null at 'executionSummary.executionTime'"},
		{"PutComplianceItems", strings.Replace(it(""), "Custom:AB", "!bad", 1), "at 'complianceType' failed to satisfy constraint: Member must satisfy regular expression pattern"},
		{"PutComplianceItems", strings.Replace(it(""), `"ResourceId":"mi-0123456789abcdef0"`, `"ResourceId":"`+strings.Repeat("m", 101)+`"`, 1), "at 'resourceId'"},
		{"PutComplianceItems", it(`{"Id":"a","Status":"COMPLIANT"}`), "Value null at 'items.1.member.severity'"},
		{"PutComplianceItems", it(`{"Id":"a","Severity":"SEVERE","Status":"COMPLIANT"}`), "at 'items.1.member.severity' failed to satisfy constraint: Member must satisfy enum value set"},
		{"PutComplianceItems", it(`{"Id":"a","Severity":"LOW","Status":"OK"}`), "at 'items.1.member.status'"},
		{"PutComplianceItems", it(`{"Id":"a","Severity":"LOW","Status":"OK","Title":"` + strings.Repeat("t", 501) + `"}`), "at 'items.1.member.title'"},
		{"PutComplianceItems", it(`{"Id":"a","Severity":"LOW","Status":"COMPLIANT","Details":{"` + strings.Repeat("k", 65) + `":"v"}}`), "at 'items.1.member.details'"},
		{"PutComplianceItems", strings.Replace(it(""), `"Items"`, `"UploadType":"SOME","Items"`, 1), "at 'uploadType'"},
		{"ListComplianceItems", `{"MaxResults":51}`, "at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 50"},
		{"ListComplianceItems", `{"ResourceIds":[]}`, "at 'resourceIds' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"ListComplianceItems", `{"Filters":[{"Key":"Status","Values":["COMPLIANT"],"Type":"LIKE"}]}`, "at 'filters.1.member.type'"},
		{"ListComplianceSummaries", `{"MaxResults":0}`, "at 'maxResults'"},
		{"ListComplianceSummaries", `{"Filters":[{"Key":"ComplianceType","Values":[]}]}`, "at 'filters.1.member.values' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"ListResourceComplianceSummaries", `{"Filters":[{"Key":"","Values":["x"]}]}`, "at 'filters.1.member.key'"},
		{"DescribeInstancePatchStates", `{}`, "Value null at 'instanceIds'"},
		{"DescribeInstancePatchStates", `{"InstanceIds":["node-1"]}`, "at 'instanceIds'"},
		{"DescribeInstancePatchStates", `{"InstanceIds":["mi-0123456789abcdef0"],"MaxResults":9}`, "Member must have value greater than or equal to 10"},
		{"DescribeInstancePatchStatesForPatchGroup", `{}`, "Value null at 'patchGroup'"},
		{"DescribeInstancePatchStatesForPatchGroup", `{"PatchGroup":"web","Filters":[{"Key":"MissingCount","Values":["1","2"],"Type":"Equal"}]}`,
			"at 'filters.1.member.values' failed to satisfy constraint: Member must have length less than or equal to 1"},
		{"DescribeInstancePatchStatesForPatchGroup", `{"PatchGroup":"web","Filters":[{"Key":"MissingCount","Values":["1"],"Type":"EQUAL"}]}`, "at 'filters.1.member.type'"},
		{"DescribeInstancePatchStatesForPatchGroup", `{"PatchGroup":"web","Filters":[{"Key":"MissingCount","Values":["1"]}]}`, "Value null at 'filters.1.member.type'"},
		{"DescribeInstancePatchStatesForPatchGroup", `{"PatchGroup":"web","MaxResults":101}`, "at 'maxResults'"},
		{"DescribeInstancePatches", `{}`, "Value null at 'instanceId'"},
		{"DescribeInstancePatches", `{"InstanceId":"mi-0123456789abcdef0","MaxResults":101}`, "at 'maxResults'"},
		{"DescribePatchGroupState", `{}`, "Value null at 'patchGroup'"},
	}
	for _, tt := range tests {
		t.Run(tt.op+" "+tt.body, func(t *testing.T) {
			t.Parallel()
			code, name, body := e.raw(t, tt.op, tt.body)
			if code != 400 || name != "ValidationException" || !strings.Contains(body, tt.message) {
				t.Errorf("status %d body %s, want ValidationException containing %q", code, body, tt.message)
			}
		})
	}
}
