package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/runcmd/runcmd"
)

// unique returns a name no other subtest uses, so suites can share one store (tables on the emulator
// are expensive) while counting per-type and per-group summaries exactly.
func unique(t *testing.T, s string) string {
	return s + strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
}

func wantErr(t *testing.T, err error, code, name string) {
	t.Helper()
	if runcmd.ErrorCode(err) != code || runcmd.ErrorName(err) != name {
		t.Fatalf("error %v, want %s %s", err, code, name)
	}
}

// TestPatchBaselineStore runs the PatchBaselineStore conformance suite. newStore may return the same
// store for every subtest: the subtests use ids of their own.
func TestPatchBaselineStore(t *testing.T, newStore func(t *testing.T) runcmd.PatchBaselineStore) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	baseline := func(t *testing.T, n int) *runcmd.PatchBaseline {
		return &runcmd.PatchBaseline{BaselineID: fmt.Sprintf("pb-%s-%02d", unique(t, ""), n), Name: fmt.Sprintf("b%d", n),
			OperatingSystem: "UBUNTU", Description: "d", Body: []byte(`{"Name":"b"}`), CreatedDate: now, ModifiedDate: now,
			Tags: map[string]string{"k": "v"}}
	}
	t.Run("CreateGetUpdateDelete", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := t.Context()
		b := baseline(t, 1)
		must(t, s.CreateBaseline(ctx, b))
		wantErr(t, s.CreateBaseline(ctx, b), runcmd.ECONFLICT, "")
		got, err := s.GetBaseline(ctx, b.BaselineID)
		must(t, err)
		if diff := cmp.Diff(b, got); diff != "" {
			t.Errorf("GetBaseline (-want +got):\n%s", diff)
		}
		upd := *b
		upd.Name, upd.Description, upd.Body, upd.ModifiedDate = "renamed", "", []byte(`{"Name":"renamed"}`), now.Add(time.Hour)
		upd.OperatingSystem = "DEBIAN" // ignored: the operating system never changes
		must(t, s.UpdateBaseline(ctx, &upd))
		got, err = s.GetBaseline(ctx, b.BaselineID)
		must(t, err)
		want := upd
		want.OperatingSystem = "UBUNTU"
		if diff := cmp.Diff(&want, got); diff != "" {
			t.Errorf("after UpdateBaseline (-want +got):\n%s", diff)
		}
		must(t, s.DeleteBaseline(ctx, b.BaselineID))
		_, err = s.GetBaseline(ctx, b.BaselineID)
		wantErr(t, err, runcmd.ENOTFOUND, "DoesNotExistException")
		wantErr(t, s.UpdateBaseline(ctx, &upd), runcmd.ENOTFOUND, "DoesNotExistException")
		must(t, s.DeleteBaseline(ctx, b.BaselineID)) // deleting what is gone succeeds
	})
	t.Run("PatchGroups", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := t.Context()
		b := baseline(t, 1)
		must(t, s.CreateBaseline(ctx, b))
		g := unique(t, "web")
		m := runcmd.PatchGroupMapping{PatchGroup: g, OperatingSystem: "UBUNTU", BaselineID: b.BaselineID, Stored: true}
		must(t, s.RegisterPatchGroup(ctx, m))
		wantErr(t, s.RegisterPatchGroup(ctx, m), runcmd.ECONFLICT, "AlreadyExistsException")
		// Another operating system is another mapping, here to a predefined (unstored) baseline.
		must(t, s.RegisterPatchGroup(ctx, runcmd.PatchGroupMapping{PatchGroup: g, OperatingSystem: "DEBIAN", BaselineID: "pb-09a5f8eb62bde80b1"}))
		wantErr(t, s.RegisterPatchGroup(ctx, runcmd.PatchGroupMapping{PatchGroup: g + "x", OperatingSystem: "UBUNTU", BaselineID: "pb-missing-0000000000", Stored: true}),
			runcmd.ENOTFOUND, "DoesNotExistException")
		got, err := s.GetBaseline(ctx, b.BaselineID)
		must(t, err)
		if diff := cmp.Diff([]string{g}, got.PatchGroups); diff != "" {
			t.Errorf("PatchGroups (-want +got):\n%s", diff)
		}
		wantErr(t, s.DeleteBaseline(ctx, b.BaselineID), runcmd.ECONFLICT, "ResourceInUseException")
		gm, err := s.GetPatchGroup(ctx, g, "UBUNTU")
		must(t, err)
		if diff := cmp.Diff(m, gm); diff != "" {
			t.Errorf("GetPatchGroup (-want +got):\n%s", diff)
		}
		_, err = s.GetPatchGroup(ctx, g, "WINDOWS")
		wantErr(t, err, runcmd.ENOTFOUND, "DoesNotExistException")
		wrong := m
		wrong.BaselineID = "pb-09a5f8eb62bde80b1"
		wantErr(t, s.DeregisterPatchGroup(ctx, wrong), runcmd.ENOTFOUND, "DoesNotExistException")
		must(t, s.DeregisterPatchGroup(ctx, m))
		got, err = s.GetBaseline(ctx, b.BaselineID)
		must(t, err)
		if len(got.PatchGroups) != 0 {
			t.Errorf("PatchGroups after deregistering = %v", got.PatchGroups)
		}
		must(t, s.DeleteBaseline(ctx, b.BaselineID))
	})
	t.Run("ListBaselinesAndGroups", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := t.Context()
		var want []string
		for i := range 5 {
			b := baseline(t, i)
			must(t, s.CreateBaseline(ctx, b))
			want = append(want, b.BaselineID)
			must(t, s.RegisterPatchGroup(ctx, runcmd.PatchGroupMapping{PatchGroup: unique(t, fmt.Sprintf("g%d", i)), OperatingSystem: "UBUNTU", BaselineID: b.BaselineID, Stored: true}))
		}
		var got []string
		next := ""
		for {
			page, n, err := s.ListBaselines(ctx, next, 2)
			must(t, err)
			if len(page) > 2 {
				t.Fatalf("page of %d, want at most 2", len(page))
			}
			for _, b := range page {
				if strings.Contains(b.BaselineID, unique(t, "")) {
					got = append(got, b.BaselineID)
				}
			}
			if next = n; next == "" {
				break
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ListBaselines (-want +got):\n%s", diff)
		}
		n := 0
		next = ""
		for {
			page, tok, err := s.ListPatchGroups(ctx, next, 3)
			must(t, err)
			for _, m := range page {
				if strings.HasSuffix(m.PatchGroup, unique(t, "")) {
					n++
				}
			}
			if next = tok; next == "" {
				break
			}
		}
		if n != 5 {
			t.Errorf("ListPatchGroups found %d of this test's 5 groups", n)
		}
		_, _, err := s.ListBaselines(ctx, "not-a-token", 2)
		wantErr(t, err, runcmd.EINVALID, "InvalidNextToken")
	})
	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := t.Context()
		os := unique(t, "OS")
		_, err := s.GetDefaultBaseline(ctx, os)
		wantErr(t, err, runcmd.ENOTFOUND, "DoesNotExistException")
		must(t, s.SetDefaultBaseline(ctx, os, "pb-1"))
		must(t, s.SetDefaultBaseline(ctx, os, "pb-2"))
		id, err := s.GetDefaultBaseline(ctx, os)
		must(t, err)
		if id != "pb-2" {
			t.Errorf("default = %s, want pb-2", id)
		}
	})
	t.Run("Snapshots", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := t.Context()
		id := unique(t, "snap")
		first := &runcmd.PatchSnapshot{SnapshotID: id, OperatingSystem: "UBUNTU", PatchGroup: "g", Body: []byte("one"), CreatedAt: now}
		got, err := s.PutSnapshot(ctx, first, 72*time.Hour)
		must(t, err)
		if string(got.Body) != "one" {
			t.Fatalf("first snapshot body %q", got.Body)
		}
		// Within the reuse window the first one stays; another group is another snapshot.
		got, err = s.PutSnapshot(ctx, &runcmd.PatchSnapshot{SnapshotID: id, OperatingSystem: "UBUNTU", PatchGroup: "g", Body: []byte("two"), CreatedAt: now.Add(71 * time.Hour)}, 72*time.Hour)
		must(t, err)
		if string(got.Body) != "one" || !got.CreatedAt.Equal(now) {
			t.Errorf("reused snapshot = %q at %v, want the first", got.Body, got.CreatedAt)
		}
		got, err = s.PutSnapshot(ctx, &runcmd.PatchSnapshot{SnapshotID: id, OperatingSystem: "UBUNTU", PatchGroup: "other", Body: []byte("three"), CreatedAt: now.Add(time.Hour)}, 72*time.Hour)
		must(t, err)
		if string(got.Body) != "three" {
			t.Errorf("other group's snapshot = %q", got.Body)
		}
		// After the window a new one replaces it.
		got, err = s.PutSnapshot(ctx, &runcmd.PatchSnapshot{SnapshotID: id, OperatingSystem: "UBUNTU", PatchGroup: "g", Body: []byte("four"), CreatedAt: now.Add(73 * time.Hour)}, 72*time.Hour)
		must(t, err)
		if string(got.Body) != "four" {
			t.Errorf("expired snapshot not replaced: %q", got.Body)
		}
	})
}

// TestComplianceStore runs the ComplianceStore conformance suite. newStore may return the same store
// for every subtest: the subtests use resources, types and groups of their own.
func TestComplianceStore(t *testing.T, newStore func(t *testing.T) runcmd.ComplianceStore) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	item := func(id, sev, status string) runcmd.ComplianceItem {
		return runcmd.ComplianceItem{ID: id, Title: "t-" + id, Severity: sev, Status: status, Details: map[string]string{"PatchState": "x"}}
	}
	typeSummary := func(t *testing.T, s runcmd.ComplianceStore, typ string) runcmd.ComplianceTypeSummary {
		t.Helper()
		next := ""
		for {
			page, n, err := s.ListTypeSummaries(t.Context(), 50, next)
			must(t, err)
			for _, ts := range page {
				if ts.ComplianceType == typ {
					return ts
				}
			}
			if next = n; next == "" {
				return runcmd.ComplianceTypeSummary{ComplianceType: typ}
			}
		}
	}
	t.Run("ReplaceMovesSummaries", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := t.Context()
		typ := "Custom:" + strings.NewReplacer("-", "", "/", "", "_", "").Replace(unique(t, "T"))
		res1, res2 := unique(t, "mi-1"), unique(t, "mi-2")
		up := func(res string, items ...runcmd.ComplianceItem) {
			t.Helper()
			changed, err := s.PutComplianceItems(ctx, runcmd.ComplianceUpload{ResourceID: res, ResourceType: "ManagedInstance",
				ComplianceType: typ, Execution: runcmd.ComplianceExecution{ExecutionTime: at, ExecutionID: "e", ExecutionType: "Command"}, Items: items})
			must(t, err)
			if !changed {
				t.Fatal("PutComplianceItems reported no change")
			}
		}
		up(res1, item("a", "CRITICAL", "NON_COMPLIANT"), item("b", "LOW", "COMPLIANT"))
		up(res2, item("a", "HIGH", "COMPLIANT"))
		want := runcmd.ComplianceTypeSummary{ComplianceType: typ, Compliant: runcmd.SeveritySummary{High: 1}, NonCompliant: runcmd.SeveritySummary{Critical: 1}}
		if diff := cmp.Diff(want, typeSummary(t, s, typ)); diff != "" {
			t.Errorf("type summary (-want +got):\n%s", diff)
		}
		sums, _, err := s.ListResourceSummaries(ctx, res1, 50, "")
		must(t, err)
		wantRes := []runcmd.ResourceComplianceSummary{{ResourceID: res1, ResourceType: "ManagedInstance", ComplianceType: typ,
			Status: "NON_COMPLIANT", OverallSeverity: "CRITICAL", Execution: runcmd.ComplianceExecution{ExecutionTime: at, ExecutionID: "e", ExecutionType: "Command"},
			Compliant: runcmd.SeveritySummary{Low: 1}, NonCompliant: runcmd.SeveritySummary{Critical: 1}}}
		if diff := cmp.Diff(wantRes, sums); diff != "" {
			t.Errorf("resource summary (-want +got):\n%s", diff)
		}
		// res1 is fixed: it moves from non-compliant CRITICAL to compliant CRITICAL.
		up(res1, item("a", "CRITICAL", "COMPLIANT"))
		want = runcmd.ComplianceTypeSummary{ComplianceType: typ, Compliant: runcmd.SeveritySummary{High: 1, Critical: 1}}
		if diff := cmp.Diff(want, typeSummary(t, s, typ)); diff != "" {
			t.Errorf("type summary after the fix (-want +got):\n%s", diff)
		}
		items, _, err := s.ListComplianceItems(ctx, res1, nil, 50, "")
		must(t, err)
		if len(items) != 1 || items[0].ID != "a" || items[0].Status != "COMPLIANT" || items[0].ComplianceType != typ {
			t.Errorf("items after COMPLETE upload = %+v", items)
		}
	})
	t.Run("PartialHashAndPaging", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := t.Context()
		res := unique(t, "mi")
		u := runcmd.ComplianceUpload{ResourceID: res, ResourceType: "ManagedInstance", ComplianceType: "Association",
			Execution: runcmd.ComplianceExecution{ExecutionTime: at}, ContentHash: "h1"}
		for i := range 7 {
			u.Items = append(u.Items, item(fmt.Sprintf("i%d", i), "MEDIUM", "COMPLIANT"))
		}
		_, err := s.PutComplianceItems(ctx, u)
		must(t, err)
		changed, err := s.PutComplianceItems(ctx, u)
		must(t, err)
		if changed {
			t.Error("the same content hash changed the items")
		}
		_, err = s.PutComplianceItems(ctx, runcmd.ComplianceUpload{ResourceID: res, ResourceType: "ManagedInstance", ComplianceType: "Association",
			Execution: runcmd.ComplianceExecution{ExecutionTime: at}, Partial: true, Items: []runcmd.ComplianceItem{item("i3", "HIGH", "NON_COMPLIANT"), item("new", "LOW", "COMPLIANT")}})
		must(t, err)
		var ids []string
		next := ""
		for {
			page, n, err := s.ListComplianceItems(ctx, res, []string{"Association"}, 3, next)
			must(t, err)
			for _, it := range page {
				ids = append(ids, it.ID+"/"+it.Status)
			}
			if next = n; next == "" {
				break
			}
		}
		want := []string{"i0/COMPLIANT", "i1/COMPLIANT", "i2/COMPLIANT", "i3/NON_COMPLIANT", "i4/COMPLIANT", "i5/COMPLIANT", "i6/COMPLIANT", "new/COMPLIANT"}
		if diff := cmp.Diff(want, ids); diff != "" {
			t.Errorf("items after PARTIAL upload (-want +got):\n%s", diff)
		}
		other, _, err := s.ListComplianceItems(ctx, res, []string{"Patch"}, 50, "")
		must(t, err)
		if len(other) != 0 {
			t.Errorf("items of another type: %v", other)
		}
	})
	t.Run("CustomTypeLimit", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := t.Context()
		res := unique(t, "mi")
		put := func(typ string) error {
			_, err := s.PutComplianceItems(ctx, runcmd.ComplianceUpload{ResourceID: res, ResourceType: "ManagedInstance", ComplianceType: typ,
				Execution: runcmd.ComplianceExecution{ExecutionTime: at}, Items: []runcmd.ComplianceItem{item("x", "LOW", "COMPLIANT")}})
			return err
		}
		for i := range runcmd.MaxCustomComplianceTypes {
			must(t, put(fmt.Sprintf("Custom:t%d", i)))
		}
		must(t, put("Custom:t0")) // replacing an existing type is fine
		must(t, put("Patch"))     // and other types do not count
		wantErr(t, put("Custom:one_more"), runcmd.ELIMIT, "ComplianceTypeCountLimitExceededException")
	})
	t.Run("PatchStates", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := t.Context()
		g1, g2 := unique(t, "g1"), unique(t, "g2")
		id := "mi-0123456789abcdef0"
		if strings.Contains(t.Name(), "/") {
			id = unique(t, "mi-")
		}
		scan := runcmd.InstancePatchState{InstanceID: id, PatchGroup: g1, BaselineID: "pb-1", MissingCount: 2, InstalledCount: 3,
			CriticalNonCompliantCount: 1, Operation: "Scan", OperationStartTime: at, OperationEndTime: at.Add(time.Minute)}
		changed, err := s.PutInstancePatchState(ctx, scan)
		must(t, err)
		if !changed {
			t.Fatal("first state not stored")
		}
		g, err := s.GetPatchGroupState(ctx, g1)
		must(t, err)
		if diff := cmp.Diff(runcmd.PatchGroupState{Instances: 1, InstancesWithInstalledPatches: 1, InstancesWithMissingPatches: 1, InstancesWithCriticalNonCompliantPatches: 1}, g); diff != "" {
			t.Errorf("group state (-want +got):\n%s", diff)
		}
		install := scan
		install.Operation, install.MissingCount, install.InstalledCount, install.CriticalNonCompliantCount = "Install", 0, 5, 0
		install.OperationStartTime = at.Add(time.Hour)
		_, err = s.PutInstancePatchState(ctx, install)
		must(t, err)
		changed, err = s.PutInstancePatchState(ctx, scan) // an older report arriving late
		must(t, err)
		if changed {
			t.Error("an older state replaced a newer one")
		}
		got, err := s.GetInstancePatchStates(ctx, []string{id, "mi-00000000000000000"})
		must(t, err)
		if diff := cmp.Diff(map[string]runcmd.InstancePatchState{id: install}, got); diff != "" {
			t.Errorf("GetInstancePatchStates (-want +got):\n%s", diff)
		}
		g, err = s.GetPatchGroupState(ctx, g1)
		must(t, err)
		if diff := cmp.Diff(runcmd.PatchGroupState{Instances: 1, InstancesWithInstalledPatches: 1}, g); diff != "" {
			t.Errorf("group state after install (-want +got):\n%s", diff)
		}
		// Moving to another group moves the node's contribution.
		moved := install
		moved.PatchGroup, moved.OperationStartTime = g2, at.Add(2*time.Hour)
		_, err = s.PutInstancePatchState(ctx, moved)
		must(t, err)
		g, err = s.GetPatchGroupState(ctx, g1)
		must(t, err)
		if g != (runcmd.PatchGroupState{}) {
			t.Errorf("old group still counts the node: %+v", g)
		}
		states, _, err := s.ListPatchGroupStates(ctx, g2, 10, "")
		must(t, err)
		if len(states) != 1 || states[0].InstanceID != id {
			t.Errorf("ListPatchGroupStates(%s) = %+v", g2, states)
		}
		states, _, err = s.ListPatchGroupStates(ctx, g1, 10, "")
		must(t, err)
		if len(states) != 0 {
			t.Errorf("ListPatchGroupStates(%s) = %+v, want none", g1, states)
		}
	})
}
