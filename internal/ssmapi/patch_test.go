package ssmapi

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/google/go-cmp/cmp"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/fake"
	"github.com/runcmd/runcmd/internal/service"
	"github.com/runcmd/runcmd/patch"
)

// patchNow is the patching service's clock in these tests.
var patchNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// patchEnv is a service.API with Patch Manager and Compliance over the in-memory fakes, served through
// the real handler: an SDK client for it and the raw handler for requests the SDK would refuse to send.
type patchEnv struct {
	client     *ssm.Client
	handler    *handler
	api        *service.API
	compliance *fake.ComplianceStore
}

func newPatchEnv(t *testing.T) *patchEnv {
	t.Helper()
	c, api := newServiceClient(t)
	comp := fake.NewComplianceStore()
	api.Patching = service.NewPatching(fake.NewPatchBaselineStore(), comp, api.Instances, "us-east-1")
	api.Patching.Now = func() time.Time { return patchNow }
	return &patchEnv{client: c, handler: NewHandler(api, nil).(*handler), api: api, compliance: comp}
}

// addNode records an Ubuntu 22.04 node with tags, as its first heartbeat does.
func (e *patchEnv) addNode(t *testing.T, id string, tags map[string]string) {
	t.Helper()
	err := e.api.Instances.RecordHeartbeat(t.Context(), runcmd.Heartbeat{InstanceID: id, PlatformType: "Linux", PlatformName: "Ubuntu",
		PlatformVersion: "22.04", QueueURL: "q", Tags: tags, At: patchNow})
	if err != nil {
		t.Fatal(err)
	}
}

// raw posts body to op through the handler and returns the status and the error name ("" on success).
func (e *patchEnv) raw(t *testing.T, op, body string) (int, string, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, newRequest("AmazonSSM."+op, body))
	if rec.Code == 200 {
		return rec.Code, "", rec.Body.String()
	}
	return rec.Code, errorType(t, rec), rec.Body.String()
}

// nodeID returns the n-th test node id (mi- and 17 hex digits).
func nodeID(n int) string { return fmt.Sprintf("mi-%017x", n) }

// ubuntuBaseline approves Required and Important apt updates as CRITICAL.
func ubuntuBaseline(name string) *ssm.CreatePatchBaselineInput {
	return &ssm.CreatePatchBaselineInput{Name: aws.String(name), OperatingSystem: types.OperatingSystemUbuntu,
		Description: aws.String("important apt updates"),
		ApprovalRules: &types.PatchRuleGroup{PatchRules: []types.PatchRule{{ComplianceLevel: types.PatchComplianceLevelCritical,
			PatchFilterGroup: &types.PatchFilterGroup{PatchFilters: []types.PatchFilter{
				{Key: types.PatchFilterKeyPriority, Values: []string{"Required", "Important"}}}}}}},
		RejectedPatches: []string{"telnet"}, RejectedPatchesAction: types.PatchActionBlock}
}

func (e *patchEnv) createBaseline(t *testing.T, in *ssm.CreatePatchBaselineInput) string {
	t.Helper()
	out, err := e.client.CreatePatchBaseline(t.Context(), in)
	if err != nil {
		t.Fatalf("CreatePatchBaseline %s: %v", aws.ToString(in.Name), err)
	}
	return aws.ToString(out.BaselineId)
}

// Create, get, update and delete a baseline, with SSM's defaults filled in on the way out.
func TestSDKPatchBaselineLifecycle(t *testing.T) {
	t.Parallel()
	e := newPatchEnv(t)
	c, ctx := e.client, t.Context()

	in := ubuntuBaseline("web-critical")
	in.ClientToken = aws.String("token-1")
	id := e.createBaseline(t, in)
	if !strings.HasPrefix(id, "pb-") || len(id) != 20 {
		t.Errorf("BaselineId %q, want pb- and 17 hex digits", id)
	}
	if again := e.createBaseline(t, in); again != id {
		t.Errorf("retry with the same ClientToken made %s, want %s", again, id)
	}

	got, err := c.GetPatchBaseline(ctx, &ssm.GetPatchBaselineInput{BaselineId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(got.BaselineId) != id || aws.ToString(got.Name) != "web-critical" || got.OperatingSystem != types.OperatingSystemUbuntu ||
		got.ApprovedPatchesComplianceLevel != types.PatchComplianceLevelUnspecified || got.RejectedPatchesAction != types.PatchActionBlock ||
		aws.ToString(got.Description) != "important apt updates" || !got.CreatedDate.Equal(patchNow) || !got.ModifiedDate.Equal(patchNow) {
		t.Errorf("GetPatchBaseline: %+v", got)
	}
	if diff := cmp.Diff([]string{"telnet"}, got.RejectedPatches); diff != "" {
		t.Errorf("RejectedPatches (-want +got):\n%s", diff)
	}
	if _, _, body := e.raw(t, "GetPatchBaseline", `{"BaselineId":"`+id+`"}`); !strings.Contains(body, `"PatchGroups":[]`) ||
		!strings.Contains(body, `"ApprovedPatches":[]`) || !strings.Contains(body, `"Sources":[]`) {
		t.Errorf("GetPatchBaseline body %s: PatchGroups and ApprovedPatches must be empty lists, not absent", body)
	}
	rules := got.ApprovalRules.PatchRules
	if len(rules) != 1 || rules[0].ComplianceLevel != types.PatchComplianceLevelCritical ||
		rules[0].PatchFilterGroup.PatchFilters[0].Key != types.PatchFilterKeyPriority {
		t.Errorf("ApprovalRules: %+v", rules)
	}

	// A partial update changes only what it names.
	up, err := c.UpdatePatchBaseline(ctx, &ssm.UpdatePatchBaselineInput{BaselineId: aws.String(id), Name: aws.String("web-critical-2"),
		ApprovedPatches: []string{"openssl"}, ApprovedPatchesComplianceLevel: types.PatchComplianceLevelHigh})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(up.Name) != "web-critical-2" || aws.ToString(up.Description) != "important apt updates" ||
		up.ApprovedPatchesComplianceLevel != types.PatchComplianceLevelHigh || len(up.ApprovedPatches) != 1 || len(up.RejectedPatches) != 1 {
		t.Errorf("UpdatePatchBaseline: %+v", up)
	}
	// Replace resets every field the request leaves out.
	rep, err := c.UpdatePatchBaseline(ctx, &ssm.UpdatePatchBaselineInput{BaselineId: aws.String(id), Name: aws.String("bare"), Replace: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(rep.Description) != "" || len(rep.RejectedPatches) != 0 || rep.ApprovalRules != nil ||
		rep.RejectedPatchesAction != types.PatchActionAllowAsDependency || rep.OperatingSystem != types.OperatingSystemUbuntu {
		t.Errorf("UpdatePatchBaseline with Replace: %+v", rep)
	}
	_, err = c.UpdatePatchBaseline(ctx, &ssm.UpdatePatchBaselineInput{BaselineId: aws.String(id), Replace: aws.Bool(true)})
	wantAPIError(t, err, "ValidationException")

	del, err := c.DeletePatchBaseline(ctx, &ssm.DeletePatchBaselineInput{BaselineId: aws.String(id)})
	if err != nil || aws.ToString(del.BaselineId) != id {
		t.Fatalf("DeletePatchBaseline: %v %+v", err, del)
	}
	_, err = c.GetPatchBaseline(ctx, &ssm.GetPatchBaselineInput{BaselineId: aws.String(id)})
	wantAPIError(t, err, "DoesNotExistException")
	// SSM answers the delete of an unknown baseline with its id.
	if del, err := c.DeletePatchBaseline(ctx, &ssm.DeletePatchBaselineInput{BaselineId: aws.String(id)}); err != nil || aws.ToString(del.BaselineId) != id {
		t.Errorf("second DeletePatchBaseline: %v %+v", err, del)
	}
}

func TestSDKPatchBaselineErrors(t *testing.T) {
	t.Parallel()
	e := newPatchEnv(t)
	c, ctx := e.client, t.Context()
	id := e.createBaseline(t, ubuntuBaseline("errors-base"))
	predefined := patch.PredefinedARN("us-east-1", patch.IDUbuntuDefault)
	tests := []struct {
		name string
		call func() error
		code string
	}{
		{"get unknown", func() error {
			_, err := c.GetPatchBaseline(ctx, &ssm.GetPatchBaselineInput{BaselineId: aws.String("pb-00000000000000000")})
			return err
		}, "DoesNotExistException"},
		{"update unknown", func() error {
			_, err := c.UpdatePatchBaseline(ctx, &ssm.UpdatePatchBaselineInput{BaselineId: aws.String("pb-00000000000000000"), Name: aws.String("x-y-z")})
			return err
		}, "DoesNotExistException"},
		{"update predefined", func() error {
			_, err := c.UpdatePatchBaseline(ctx, &ssm.UpdatePatchBaselineInput{BaselineId: aws.String(predefined), Name: aws.String("mine")})
			return err
		}, "ValidationException"},
		{"delete predefined", func() error {
			_, err := c.DeletePatchBaseline(ctx, &ssm.DeletePatchBaselineInput{BaselineId: aws.String(predefined)})
			return err
		}, "ValidationException"},
		{"filter key the OS does not have", func() error {
			in := ubuntuBaseline("bad-key")
			in.ApprovalRules.PatchRules[0].PatchFilterGroup.PatchFilters[0].Key = types.PatchFilterKeyMsrcSeverity
			_, err := c.CreatePatchBaseline(ctx, in)
			return err
		}, "ValidationException"},
		{"Linux-only field on Windows", func() error {
			_, err := c.CreatePatchBaseline(ctx, &ssm.CreatePatchBaselineInput{Name: aws.String("win-src"),
				Sources: []types.PatchSource{{Name: aws.String("repo"), Products: []string{"*"}, Configuration: aws.String("x")}}})
			return err
		}, "ValidationException"},
		{"same token other content", func() error {
			a, b := ubuntuBaseline("tok-a"), ubuntuBaseline("tok-b")
			a.ClientToken, b.ClientToken = aws.String("shared"), aws.String("shared")
			if _, err := c.CreatePatchBaseline(ctx, a); err != nil {
				return err
			}
			_, err := c.CreatePatchBaseline(ctx, b)
			return err
		}, "IdempotentParameterMismatch"},
		{"delete the default", func() error {
			other := e.createBaseline(t, ubuntuBaseline("default-one"))
			if _, err := c.RegisterDefaultPatchBaseline(ctx, &ssm.RegisterDefaultPatchBaselineInput{BaselineId: aws.String(other)}); err != nil {
				return err
			}
			_, err := c.DeletePatchBaseline(ctx, &ssm.DeletePatchBaselineInput{BaselineId: aws.String(other)})
			return err
		}, "ResourceInUseException"},
		{"delete while registered for a group", func() error {
			if _, err := c.RegisterPatchBaselineForPatchGroup(ctx, &ssm.RegisterPatchBaselineForPatchGroupInput{
				BaselineId: aws.String(id), PatchGroup: aws.String("in-use")}); err != nil {
				return err
			}
			_, err := c.DeletePatchBaseline(ctx, &ssm.DeletePatchBaselineInput{BaselineId: aws.String(id)})
			return err
		}, "ResourceInUseException"},
		{"register default unknown", func() error {
			_, err := c.RegisterDefaultPatchBaseline(ctx, &ssm.RegisterDefaultPatchBaselineInput{BaselineId: aws.String("pb-00000000000000000")})
			return err
		}, "DoesNotExistException"},
		{"group already has a baseline for the OS", func() error {
			a, b := e.createBaseline(t, ubuntuBaseline("group-a")), e.createBaseline(t, ubuntuBaseline("group-b"))
			if _, err := c.RegisterPatchBaselineForPatchGroup(ctx, &ssm.RegisterPatchBaselineForPatchGroupInput{
				BaselineId: aws.String(a), PatchGroup: aws.String("taken")}); err != nil {
				return err
			}
			_, err := c.RegisterPatchBaselineForPatchGroup(ctx, &ssm.RegisterPatchBaselineForPatchGroupInput{
				BaselineId: aws.String(b), PatchGroup: aws.String("taken")})
			return err
		}, "AlreadyExistsException"},
		{"register group to unknown baseline", func() error {
			_, err := c.RegisterPatchBaselineForPatchGroup(ctx, &ssm.RegisterPatchBaselineForPatchGroupInput{
				BaselineId: aws.String("pb-00000000000000000"), PatchGroup: aws.String("nobody")})
			return err
		}, "DoesNotExistException"},
		{"deregister a group never registered", func() error {
			_, err := c.DeregisterPatchBaselineForPatchGroup(ctx, &ssm.DeregisterPatchBaselineForPatchGroupInput{
				BaselineId: aws.String(id), PatchGroup: aws.String("never")})
			return err
		}, "DoesNotExistException"},
		{"describe baselines with an unknown filter key", func() error {
			_, err := c.DescribePatchBaselines(ctx, &ssm.DescribePatchBaselinesInput{Filters: []types.PatchOrchestratorFilter{
				{Key: aws.String("PRODUCT"), Values: []string{"x"}}}})
			return err
		}, "InvalidFilter"},
		{"describe baselines with a forged token", func() error {
			_, err := c.DescribePatchBaselines(ctx, &ssm.DescribePatchBaselinesInput{NextToken: aws.String("bm90LWEtdG9rZW4")})
			return err
		}, "InvalidNextToken"},
		{"describe groups with an unknown filter key", func() error {
			_, err := c.DescribePatchGroups(ctx, &ssm.DescribePatchGroupsInput{Filters: []types.PatchOrchestratorFilter{
				{Key: aws.String("OWNER"), Values: []string{"Self"}}}})
			return err
		}, "InvalidFilter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantAPIError(t, tt.call(), tt.code)
		})
	}
}

// DescribePatchBaselines lists the predefined baselines, then the account's, with filters and paging.
func TestSDKDescribePatchBaselines(t *testing.T) {
	t.Parallel()
	e := newPatchEnv(t)
	c, ctx := e.client, t.Context()
	mine := map[string]bool{}
	for i := range 5 {
		mine[e.createBaseline(t, ubuntuBaseline(fmt.Sprintf("team-%d", i)))] = true
	}
	all := func(in *ssm.DescribePatchBaselinesInput) []types.PatchBaselineIdentity {
		t.Helper()
		var out []types.PatchBaselineIdentity
		for p := ssm.NewDescribePatchBaselinesPaginator(c, in); p.HasMorePages(); {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if in.MaxResults != nil && len(page.BaselineIdentities) > int(*in.MaxResults) {
				t.Fatalf("page of %d, MaxResults %d", len(page.BaselineIdentities), *in.MaxResults)
			}
			out = append(out, page.BaselineIdentities...)
		}
		return out
	}
	whole := all(&ssm.DescribePatchBaselinesInput{MaxResults: aws.Int32(100)})
	if want := len(patch.Predefined("us-east-1")) + len(mine); len(whole) != want {
		t.Fatalf("%d baselines, want %d", len(whole), want)
	}
	// Small pages cross from the predefined list into the stored baselines without losing or repeating one.
	if diff := cmp.Diff(whole, all(&ssm.DescribePatchBaselinesInput{MaxResults: aws.Int32(3)}), cmp.AllowUnexported(types.PatchBaselineIdentity{})); diff != "" {
		t.Errorf("paged listing differs from one page (-want +got):\n%s", diff)
	}

	self := all(&ssm.DescribePatchBaselinesInput{MaxResults: aws.Int32(2), Filters: []types.PatchOrchestratorFilter{
		{Key: aws.String("OWNER"), Values: []string{"Self"}}}})
	if len(self) != len(mine) {
		t.Errorf("OWNER Self: %d baselines, want %d", len(self), len(mine))
	}
	for _, b := range self {
		if !mine[aws.ToString(b.BaselineId)] || b.OperatingSystem != types.OperatingSystemUbuntu || b.DefaultBaseline {
			t.Errorf("OWNER Self listed %+v", b)
		}
	}
	aws_ := all(&ssm.DescribePatchBaselinesInput{Filters: []types.PatchOrchestratorFilter{
		{Key: aws.String("OWNER"), Values: []string{"AWS"}}, {Key: aws.String("OPERATING_SYSTEM"), Values: []string{"UBUNTU"}}}})
	if len(aws_) != 1 || aws.ToString(aws_[0].BaselineName) != "AWS-UbuntuDefaultPatchBaseline" || !aws_[0].DefaultBaseline {
		t.Errorf("OWNER AWS, OPERATING_SYSTEM UBUNTU: %+v", aws_)
	}
	prefix := all(&ssm.DescribePatchBaselinesInput{Filters: []types.PatchOrchestratorFilter{
		{Key: aws.String("NAME_PREFIX"), Values: []string{"team-3", "team-4"}}}})
	if len(prefix) != 2 {
		t.Errorf("NAME_PREFIX team-3|team-4: %+v", prefix)
	}
}

// Default baselines and patch groups: registration, lookup, listing and what a node's snapshot uses.
func TestSDKDefaultBaselineAndPatchGroups(t *testing.T) {
	t.Parallel()
	e := newPatchEnv(t)
	c, ctx := e.client, t.Context()

	def, err := c.GetDefaultPatchBaseline(ctx, &ssm.GetDefaultPatchBaselineInput{})
	if err != nil || def.OperatingSystem != types.OperatingSystemWindows || !strings.Contains(aws.ToString(def.BaselineId), patch.IDWindowsDefault) {
		t.Errorf("GetDefaultPatchBaseline with no OperatingSystem: %v %+v, want the WINDOWS default", err, def)
	}
	id := e.createBaseline(t, ubuntuBaseline("ubuntu-default"))
	reg, err := c.RegisterDefaultPatchBaseline(ctx, &ssm.RegisterDefaultPatchBaselineInput{BaselineId: aws.String(id)})
	if err != nil || aws.ToString(reg.BaselineId) != id {
		t.Fatalf("RegisterDefaultPatchBaseline: %v %+v", err, reg)
	}
	def, err = c.GetDefaultPatchBaseline(ctx, &ssm.GetDefaultPatchBaselineInput{OperatingSystem: types.OperatingSystemUbuntu})
	if err != nil || aws.ToString(def.BaselineId) != id || def.OperatingSystem != types.OperatingSystemUbuntu {
		t.Errorf("GetDefaultPatchBaseline UBUNTU: %v %+v", err, def)
	}
	// Going back to AWS's default takes the predefined baseline's ARN.
	arn := patch.PredefinedARN("us-east-1", patch.IDUbuntuDefault)
	if _, err := c.RegisterDefaultPatchBaseline(ctx, &ssm.RegisterDefaultPatchBaselineInput{BaselineId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	def, _ = c.GetDefaultPatchBaseline(ctx, &ssm.GetDefaultPatchBaselineInput{OperatingSystem: types.OperatingSystemUbuntu})
	if !strings.Contains(aws.ToString(def.BaselineId), patch.IDUbuntuDefault) {
		t.Errorf("after registering the ARN the default is %s", aws.ToString(def.BaselineId))
	}

	for _, g := range []string{"web", "db", "batch"} {
		r, err := c.RegisterPatchBaselineForPatchGroup(ctx, &ssm.RegisterPatchBaselineForPatchGroupInput{BaselineId: aws.String(id), PatchGroup: aws.String(g)})
		if err != nil || aws.ToString(r.PatchGroup) != g || aws.ToString(r.BaselineId) != id {
			t.Fatalf("RegisterPatchBaselineForPatchGroup %s: %v %+v", g, err, r)
		}
	}
	pg, err := c.GetPatchBaselineForPatchGroup(ctx, &ssm.GetPatchBaselineForPatchGroupInput{PatchGroup: aws.String("web"), OperatingSystem: types.OperatingSystemUbuntu})
	if err != nil || aws.ToString(pg.BaselineId) != id || aws.ToString(pg.PatchGroup) != "web" || pg.OperatingSystem != types.OperatingSystemUbuntu {
		t.Errorf("GetPatchBaselineForPatchGroup web: %v %+v", err, pg)
	}
	// A group without a baseline for the OS gets the OS's default.
	pg, err = c.GetPatchBaselineForPatchGroup(ctx, &ssm.GetPatchBaselineForPatchGroupInput{PatchGroup: aws.String("web"), OperatingSystem: types.OperatingSystemDebian})
	if err != nil || !strings.Contains(aws.ToString(pg.BaselineId), patch.IDDebianDefault) {
		t.Errorf("GetPatchBaselineForPatchGroup web DEBIAN: %v %+v", err, pg)
	}
	got, _ := c.GetPatchBaseline(ctx, &ssm.GetPatchBaselineInput{BaselineId: aws.String(id)})
	if diff := cmp.Diff([]string{"batch", "db", "web"}, slices.Sorted(slices.Values(got.PatchGroups))); diff != "" {
		t.Errorf("GetPatchBaseline PatchGroups (-want +got):\n%s", diff)
	}

	var groups []string
	for p := ssm.NewDescribePatchGroupsPaginator(c, &ssm.DescribePatchGroupsInput{MaxResults: aws.Int32(1)}); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page.Mappings {
			if aws.ToString(m.BaselineIdentity.BaselineId) != id || aws.ToString(m.BaselineIdentity.BaselineName) != "ubuntu-default" {
				t.Errorf("mapping %s: %+v", aws.ToString(m.PatchGroup), m.BaselineIdentity)
			}
			groups = append(groups, aws.ToString(m.PatchGroup))
		}
	}
	if diff := cmp.Diff([]string{"batch", "db", "web"}, groups); diff != "" {
		t.Errorf("DescribePatchGroups one per page (-want +got):\n%s", diff)
	}
	filtered, err := c.DescribePatchGroups(ctx, &ssm.DescribePatchGroupsInput{Filters: []types.PatchOrchestratorFilter{
		{Key: aws.String("NAME_PREFIX"), Values: []string{"w"}}, {Key: aws.String("OPERATING_SYSTEM"), Values: []string{"UBUNTU"}}}})
	if err != nil || len(filtered.Mappings) != 1 || aws.ToString(filtered.Mappings[0].PatchGroup) != "web" {
		t.Errorf("DescribePatchGroups NAME_PREFIX w: %v %+v", err, filtered)
	}

	dereg, err := c.DeregisterPatchBaselineForPatchGroup(ctx, &ssm.DeregisterPatchBaselineForPatchGroupInput{BaselineId: aws.String(id), PatchGroup: aws.String("db")})
	if err != nil || aws.ToString(dereg.PatchGroup) != "db" {
		t.Fatalf("DeregisterPatchBaselineForPatchGroup: %v %+v", err, dereg)
	}
	pg, _ = c.GetPatchBaselineForPatchGroup(ctx, &ssm.GetPatchBaselineForPatchGroupInput{PatchGroup: aws.String("db"), OperatingSystem: types.OperatingSystemUbuntu})
	if !strings.Contains(aws.ToString(pg.BaselineId), patch.IDUbuntuDefault) {
		t.Errorf("deregistered group db still uses %s", aws.ToString(pg.BaselineId))
	}
}

// snapshotBaseline decodes the baseline of a data: SnapshotDownloadUrl.
func snapshotBaseline(t *testing.T, url string) patch.Snapshot {
	t.Helper()
	body, ok := strings.CutPrefix(url, service.SnapshotDataURLPrefix)
	if !ok {
		t.Fatalf("SnapshotDownloadUrl %q is not a data URL", url)
	}
	b, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		t.Fatal(err)
	}
	var s patch.Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSDKGetDeployablePatchSnapshotForInstance(t *testing.T) {
	t.Parallel()
	e := newPatchEnv(t)
	c, ctx := e.client, t.Context()
	node := nodeID(1)
	e.addNode(t, node, map[string]string{"Patch Group": "web"})
	id := e.createBaseline(t, ubuntuBaseline("web-snap"))
	if _, err := c.RegisterPatchBaselineForPatchGroup(ctx, &ssm.RegisterPatchBaselineForPatchGroupInput{BaselineId: aws.String(id), PatchGroup: aws.String("web")}); err != nil {
		t.Fatal(err)
	}
	const snapID = "11111111-2222-4333-8444-555555555555"
	out, err := c.GetDeployablePatchSnapshotForInstance(ctx, &ssm.GetDeployablePatchSnapshotForInstanceInput{InstanceId: aws.String(node), SnapshotId: aws.String(snapID)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.InstanceId) != node || aws.ToString(out.SnapshotId) != snapID || aws.ToString(out.Product) != "Ubuntu22.04" {
		t.Errorf("snapshot: %+v", out)
	}
	snap := snapshotBaseline(t, aws.ToString(out.SnapshotDownloadUrl))
	if snap.Baseline.BaselineID != id || snap.PatchGroup != "web" {
		t.Errorf("snapshot baseline %s group %q, want %s web", snap.Baseline.BaselineID, snap.PatchGroup, id)
	}

	// A BaselineOverride for the node's OS replaces the group's baseline; one for another OS is refused.
	override := &types.BaselineOverride{OperatingSystem: types.OperatingSystemUbuntu, ApprovedPatches: []string{"curl"},
		ApprovedPatchesComplianceLevel: types.PatchComplianceLevelHigh}
	out, err = c.GetDeployablePatchSnapshotForInstance(ctx, &ssm.GetDeployablePatchSnapshotForInstanceInput{InstanceId: aws.String(node),
		SnapshotId: aws.String("21111111-2222-4333-8444-555555555555"), BaselineOverride: override})
	if err != nil {
		t.Fatal(err)
	}
	if snap := snapshotBaseline(t, aws.ToString(out.SnapshotDownloadUrl)); len(snap.Baseline.ApprovedPatches) != 1 || snap.Baseline.ApprovedPatchesComplianceLevel != patch.LevelHigh {
		t.Errorf("override snapshot baseline: %+v", snap.Baseline)
	}
	// The SnapshotId takes precedence: a changed override under the same id gets the first one's snapshot.
	changed := *override
	changed.ApprovedPatches = []string{"wget"}
	again, err := c.GetDeployablePatchSnapshotForInstance(ctx, &ssm.GetDeployablePatchSnapshotForInstanceInput{InstanceId: aws.String(node),
		SnapshotId: aws.String("21111111-2222-4333-8444-555555555555"), BaselineOverride: &changed})
	if err != nil || aws.ToString(again.SnapshotDownloadUrl) != aws.ToString(out.SnapshotDownloadUrl) {
		t.Errorf("same SnapshotId with a changed override: %v, snapshot %s", err, aws.ToString(again.SnapshotDownloadUrl))
	}
	override.OperatingSystem = types.OperatingSystemAmazonLinux2023
	_, err = c.GetDeployablePatchSnapshotForInstance(ctx, &ssm.GetDeployablePatchSnapshotForInstanceInput{InstanceId: aws.String(node),
		SnapshotId: aws.String("31111111-2222-4333-8444-555555555555"), BaselineOverride: override})
	wantAPIError(t, err, "ValidationException")

	_, err = c.GetDeployablePatchSnapshotForInstance(ctx, &ssm.GetDeployablePatchSnapshotForInstanceInput{InstanceId: aws.String(nodeID(99)), SnapshotId: aws.String(snapID)})
	wantAPIError(t, err, "InvalidInstanceId")
}

// Tags on patch baselines go through the generic tagging operations with ResourceType PatchBaseline,
// beside (and without disturbing) document and managed-node tags.
func TestSDKPatchBaselineTags(t *testing.T) {
	t.Parallel()
	e := newPatchEnv(t)
	c, ctx := e.client, t.Context()
	in := ubuntuBaseline("tagged")
	in.Tags = []types.Tag{{Key: aws.String("team"), Value: aws.String("web")}}
	id := e.createBaseline(t, in)
	list := func(id string) map[string]string {
		t.Helper()
		out, err := c.ListTagsForResource(ctx, &ssm.ListTagsForResourceInput{ResourceType: types.ResourceTypeForTaggingPatchBaseline, ResourceId: aws.String(id)})
		if err != nil {
			t.Fatalf("ListTagsForResource %s: %v", id, err)
		}
		m := map[string]string{}
		for _, tag := range out.TagList {
			m[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
		}
		return m
	}
	if diff := cmp.Diff(map[string]string{"team": "web"}, list(id)); diff != "" {
		t.Errorf("tags from CreatePatchBaseline (-want +got):\n%s", diff)
	}
	if _, err := c.AddTagsToResource(ctx, &ssm.AddTagsToResourceInput{ResourceType: types.ResourceTypeForTaggingPatchBaseline, ResourceId: aws.String(id),
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("platform")}, {Key: aws.String("env"), Value: aws.String("")}}}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"team": "platform", "env": ""}, list(id)); diff != "" {
		t.Errorf("tags after AddTagsToResource (-want +got):\n%s", diff)
	}
	before, _ := c.GetPatchBaseline(ctx, &ssm.GetPatchBaselineInput{BaselineId: aws.String(id)})
	if _, err := c.RemoveTagsFromResource(ctx, &ssm.RemoveTagsFromResourceInput{ResourceType: types.ResourceTypeForTaggingPatchBaseline, ResourceId: aws.String(id),
		TagKeys: []string{"team", "absent"}}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"env": ""}, list(id)); diff != "" {
		t.Errorf("tags after RemoveTagsFromResource (-want +got):\n%s", diff)
	}
	after, _ := c.GetPatchBaseline(ctx, &ssm.GetPatchBaselineInput{BaselineId: aws.String(id)})
	if aws.ToString(after.Name) != "tagged" || !after.ModifiedDate.Equal(*before.ModifiedDate) || len(after.ApprovalRules.PatchRules) != 1 {
		t.Errorf("tagging changed the baseline: %+v", after)
	}
	// AWS-owned baselines have no tags and can't get any.
	arn := patch.PredefinedARN("us-east-1", patch.IDUbuntuDefault)
	if got := list(arn); len(got) != 0 {
		t.Errorf("predefined baseline tags: %v", got)
	}

	many := make([]types.Tag, 0, 50)
	for i := range 50 {
		many = append(many, types.Tag{Key: aws.String(fmt.Sprintf("k%02d", i)), Value: aws.String("v")})
	}
	tag := func(id string, tags ...types.Tag) func() error {
		return func() error {
			_, err := c.AddTagsToResource(ctx, &ssm.AddTagsToResourceInput{ResourceType: types.ResourceTypeForTaggingPatchBaseline, ResourceId: aws.String(id), Tags: tags})
			return err
		}
	}
	kv := func(k, v string) types.Tag { return types.Tag{Key: aws.String(k), Value: aws.String(v)} }
	tests := []struct {
		name string
		call func() error
		code string
	}{
		{"unknown baseline", tag("pb-00000000000000000", kv("a", "b")), "InvalidResourceId"},
		{"list unknown baseline", func() error {
			_, err := c.ListTagsForResource(ctx, &ssm.ListTagsForResourceInput{ResourceType: types.ResourceTypeForTaggingPatchBaseline, ResourceId: aws.String("pb-00000000000000000")})
			return err
		}, "InvalidResourceId"},
		{"untag unknown baseline", func() error {
			_, err := c.RemoveTagsFromResource(ctx, &ssm.RemoveTagsFromResourceInput{ResourceType: types.ResourceTypeForTaggingPatchBaseline,
				ResourceId: aws.String("pb-00000000000000000"), TagKeys: []string{"a"}})
			return err
		}, "InvalidResourceId"},
		{"AWS-owned baseline", tag(arn, kv("a", "b")), "InvalidResourceId"},
		{"51st tag", tag(id, many...), "TooManyTagsError"},
		{"aws: prefix", tag(id, kv("AWS:team", "x")), "InvalidTag"},
		{"key of 129", tag(id, kv(strings.Repeat("k", 129), "x")), "ValidationException"},
		{"value of 257", tag(id, kv("k", strings.Repeat("v", 257))), "ValidationException"},
		{"resource type runcmd does not tag", func() error {
			_, err := c.AddTagsToResource(ctx, &ssm.AddTagsToResourceInput{ResourceType: types.ResourceTypeForTaggingMaintenanceWindow,
				ResourceId: aws.String("mw-0123456789abcdef0"), Tags: []types.Tag{kv("a", "b")}})
			return err
		}, "InvalidResourceType"},
		{"create with 51 tags", func() error {
			in := ubuntuBaseline("too-many-tags")
			in.Tags = append(append([]types.Tag(nil), many...), kv("one-more", "x"))
			_, err := c.CreatePatchBaseline(ctx, in)
			return err
		}, "TooManyTagsError"},
		{"create with an aws: tag", func() error {
			in := ubuntuBaseline("reserved-tag")
			in.Tags = []types.Tag{kv("aws:x", "y")}
			_, err := c.CreatePatchBaseline(ctx, in)
			return err
		}, "InvalidTag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantAPIError(t, tt.call(), tt.code)
		})
	}
	// 49 more tags fit beside the one left: 50 in all.
	if err := tag(id, many[:49]...)(); err != nil {
		t.Errorf("tagging up to 50: %v", err)
	}
	if n := len(list(id)); n != 50 {
		t.Errorf("%d tags, want 50", n)
	}

	// Documents and managed nodes are tagged as before.
	node := nodeID(7)
	e.addNode(t, node, nil)
	if err := tag(node, kv("x", "y"))(); err == nil {
		t.Error("a node id was accepted as a patch baseline")
	}
	if _, err := c.AddTagsToResource(ctx, &ssm.AddTagsToResourceInput{ResourceType: types.ResourceTypeForTaggingManagedInstance,
		ResourceId: aws.String(node), Tags: []types.Tag{kv("x", "y")}}); err != nil {
		t.Errorf("tag a managed node: %v", err)
	}
	if _, err := c.CreateDocument(ctx, &ssm.CreateDocumentInput{Name: aws.String("TaggedDoc"), Content: aws.String(greeterV2)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddTagsToResource(ctx, &ssm.AddTagsToResourceInput{ResourceType: types.ResourceTypeForTaggingDocument,
		ResourceId: aws.String("TaggedDoc"), Tags: []types.Tag{kv("x", "y")}}); err != nil {
		t.Errorf("tag a document: %v", err)
	}
}

// Required members, lengths, patterns and enums of the patch operations, sent raw (the SDK checks
// required members itself): each is a ValidationException naming the member.
func TestPatchOpsValidation(t *testing.T) {
	t.Parallel()
	e := newPatchEnv(t)
	const pb = `"BaselineId":"pb-0123456789abcdef0"`
	tests := []struct{ op, body, message string }{
		{"CreatePatchBaseline", `{}`, "Value null at 'name' failed to satisfy constraint: Member must not be null"},
		{"CreatePatchBaseline", `{"Name":"ab"}`, "at 'name' failed to satisfy constraint"},
		{"CreatePatchBaseline", `{"Name":"abc","OperatingSystem":"BEOS"}`, "at 'operatingSystem' failed to satisfy constraint: Member must satisfy enum value set"},
		{"CreatePatchBaseline", `{"Name":"abc","ApprovedPatchesComplianceLevel":"SEVERE"}`, "at 'approvedPatchesComplianceLevel'"},
		{"CreatePatchBaseline", `{"Name":"abc","RejectedPatchesAction":"DROP"}`, "at 'rejectedPatchesAction'"},
		{"CreatePatchBaseline", `{"Name":"abc","ClientToken":""}`, "at 'clientToken' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"CreatePatchBaseline", `{"Name":"abc","Description":""}`, "at 'description'"},
		{"CreatePatchBaseline", `{"Name":"abc","Tags":[{"Key":"a"}]}`, "Value null at 'tags.1.member.value'"},
		{"GetPatchBaseline", `{}`, "Value null at 'baselineId'"},
		{"GetPatchBaseline", `{"BaselineId":"pb-short"}`, "at 'baselineId' failed to satisfy constraint: Member must have length greater than or equal to 20"},
		{"GetPatchBaseline", `{"BaselineId":"pb-0123456789abcdef0 x"}`, "at 'baselineId' failed to satisfy constraint: Member must satisfy regular expression pattern"},
		{"UpdatePatchBaseline", `{"Name":"abc"}`, "Value null at 'baselineId'"},
		{"UpdatePatchBaseline", `{` + pb + `,"OperatingSystem":"UBUNTU"}`, "OperatingSystem cannot be changed"},
		{"DeletePatchBaseline", `{}`, "Value null at 'baselineId'"},
		{"DescribePatchBaselines", `{"MaxResults":101}`, "at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 100"},
		{"DescribePatchBaselines", `{"MaxResults":0}`, "Member must have value greater than or equal to 1"},
		{"DescribePatchBaselines", `{"Filters":[{},{},{},{},{},{}]}`, "at 'filters' failed to satisfy constraint: Member must have length less than or equal to 5"},
		{"RegisterDefaultPatchBaseline", `{}`, "Value null at 'baselineId'"},
		{"GetDefaultPatchBaseline", `{"OperatingSystem":"DOS"}`, "at 'operatingSystem'"},
		{"RegisterPatchBaselineForPatchGroup", `{` + pb + `}`, "Value null at 'patchGroup'"},
		{"RegisterPatchBaselineForPatchGroup", `{` + pb + `,"PatchGroup":""}`, "at 'patchGroup' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"RegisterPatchBaselineForPatchGroup", `{` + pb + `,"PatchGroup":"a|b"}`, "at 'patchGroup' failed to satisfy constraint: Member must satisfy regular expression pattern"},
		{"DeregisterPatchBaselineForPatchGroup", `{"PatchGroup":"web"}`, "Value null at 'baselineId'"},
		{"GetPatchBaselineForPatchGroup", `{}`, "Value null at 'patchGroup'"},
		{"GetPatchBaselineForPatchGroup", `{"PatchGroup":"` + strings.Repeat("g", 257) + `"}`, "Member must have length less than or equal to 256"},
		{"DescribePatchGroups", `{"MaxResults":101}`, "at 'maxResults'"},
		{"GetDeployablePatchSnapshotForInstance", `{"SnapshotId":"11111111-2222-4333-8444-555555555555"}`, "Value null at 'instanceId'"},
		{"GetDeployablePatchSnapshotForInstance", `{"InstanceId":"mi-0123456789abcdef0","SnapshotId":"not-a-guid"}`, "at 'snapshotId'"},
		{"GetDeployablePatchSnapshotForInstance", `{"InstanceId":"node-1","SnapshotId":"11111111-2222-4333-8444-555555555555"}`, "at 'instanceId'"},
		{"GetDeployablePatchSnapshotForInstance", `{"InstanceId":"mi-0123456789abcdef0","SnapshotId":"11111111-2222-4333-8444-555555555555",` +
			`"BaselineOverride":{"OperatingSystem":"PLAN9"}}`, "at 'operatingSystem'"},
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

// A backend without Patch Manager answers its operations with a clear error, and so does a service
// whose Patching is not configured.
func TestPatchOpsNeedPatchBackend(t *testing.T) {
	t.Parallel()
	_, err := newClient(t, newFake()).GetDefaultPatchBaseline(t.Context(), &ssm.GetDefaultPatchBaselineInput{})
	wantAPIError(t, err, "UnsupportedOperationException")
	c, _ := newServiceClient(t)
	_, err = c.ListComplianceSummaries(t.Context(), &ssm.ListComplianceSummariesInput{})
	wantAPIError(t, err, "UnsupportedOperationException")
	_, err = c.ListTagsForResource(t.Context(), &ssm.ListTagsForResourceInput{ResourceType: types.ResourceTypeForTaggingPatchBaseline, ResourceId: aws.String("pb-0123456789abcdef0")})
	wantAPIError(t, err, "UnsupportedOperationException")
}
