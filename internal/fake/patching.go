package fake

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/runcmd/runcmd"
)

var (
	_ runcmd.PatchBaselineStore = (*PatchBaselineStore)(nil)
	_ runcmd.ComplianceStore    = (*ComplianceStore)(nil)
)

func baselineNotFound(id string) error {
	return runcmd.Errorf(runcmd.ENOTFOUND, "DoesNotExistException", "Patch Baseline %s does not exist.", id)
}

// PatchBaselineStore is an in-memory runcmd.PatchBaselineStore.
type PatchBaselineStore struct {
	mu        sync.Mutex
	baselines map[string]*runcmd.PatchBaseline
	defaults  map[string]string
	groups    map[string]runcmd.PatchGroupMapping // key group + "\x00" + os
	snapshots map[string]*runcmd.PatchSnapshot    // key id + "\x00" + os + "\x00" + group
}

// NewPatchBaselineStore returns an empty PatchBaselineStore.
func NewPatchBaselineStore() *PatchBaselineStore {
	return &PatchBaselineStore{baselines: map[string]*runcmd.PatchBaseline{}, defaults: map[string]string{},
		groups: map[string]runcmd.PatchGroupMapping{}, snapshots: map[string]*runcmd.PatchSnapshot{}}
}

func cloneBaseline(b *runcmd.PatchBaseline) *runcmd.PatchBaseline {
	c := *b
	c.Body = slices.Clone(b.Body)
	c.PatchGroups = slices.Clone(b.PatchGroups)
	c.Tags = maps.Clone(b.Tags)
	return &c
}

// CreateBaseline stores a new baseline.
func (s *PatchBaselineStore) CreateBaseline(ctx context.Context, b *runcmd.PatchBaseline) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.baselines[b.BaselineID]; ok {
		return runcmd.Errorf(runcmd.ECONFLICT, "", "patch baseline %s already exists", b.BaselineID)
	}
	c := cloneBaseline(b)
	c.PatchGroups = nil
	s.baselines[b.BaselineID] = c
	return nil
}

// GetBaseline returns a stored baseline.
func (s *PatchBaselineStore) GetBaseline(ctx context.Context, id string) (*runcmd.PatchBaseline, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.baselines[id]
	if !ok {
		return nil, baselineNotFound(id)
	}
	return cloneBaseline(b), nil
}

// UpdateBaseline replaces a baseline's mutable fields.
func (s *PatchBaselineStore) UpdateBaseline(ctx context.Context, b *runcmd.PatchBaseline) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.baselines[b.BaselineID]
	if !ok {
		return baselineNotFound(b.BaselineID)
	}
	c := cloneBaseline(b)
	c.PatchGroups, c.OperatingSystem, c.CreatedDate = old.PatchGroups, old.OperatingSystem, old.CreatedDate
	s.baselines[b.BaselineID] = c
	return nil
}

// DeleteBaseline deletes a baseline not registered for any patch group.
func (s *PatchBaselineStore) DeleteBaseline(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.baselines[id]
	if !ok {
		return nil
	}
	if len(b.PatchGroups) > 0 {
		return baselineInUse(id)
	}
	delete(s.baselines, id)
	return nil
}

func baselineInUse(id string) error {
	return runcmd.Errorf(runcmd.ECONFLICT, "ResourceInUseException",
		"Patch Baseline %s is registered for a patch group; deregister it first.", id)
}

// ListBaselines pages through stored baselines in id order.
func (s *PatchBaselineStore) ListBaselines(ctx context.Context, next string, limit int) ([]*runcmd.PatchBaseline, string, error) {
	s.mu.Lock()
	var all []*runcmd.PatchBaseline
	for _, b := range s.baselines {
		all = append(all, cloneBaseline(b))
	}
	s.mu.Unlock()
	return page(all, func(b *runcmd.PatchBaseline) string { return b.BaselineID }, false, pageSize(limit, 50, 0), next)
}

// SetDefaultBaseline records the default baseline of an operating system.
func (s *PatchBaselineStore) SetDefaultBaseline(ctx context.Context, os, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.defaults[os] = id
	return nil
}

// GetDefaultBaseline returns the registered default of os.
func (s *PatchBaselineStore) GetDefaultBaseline(ctx context.Context, os string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.defaults[os]
	if !ok {
		return "", runcmd.Errorf(runcmd.ENOTFOUND, "DoesNotExistException", "no default patch baseline registered for %s", os)
	}
	return id, nil
}

func groupKey(group, os string) string { return group + "\x00" + os }

// RegisterPatchGroup stores a mapping.
func (s *PatchBaselineStore) RegisterPatchGroup(ctx context.Context, m runcmd.PatchGroupMapping) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := groupKey(m.PatchGroup, m.OperatingSystem)
	if old, ok := s.groups[k]; ok {
		return runcmd.Errorf(runcmd.ECONFLICT, "AlreadyExistsException",
			"Patch Group %s is already registered with baseline %s for operating system %s.", m.PatchGroup, old.BaselineID, m.OperatingSystem)
	}
	if m.Stored {
		b, ok := s.baselines[m.BaselineID]
		if !ok {
			return baselineNotFound(m.BaselineID)
		}
		b.PatchGroups = append(b.PatchGroups, m.PatchGroup)
		slices.Sort(b.PatchGroups)
	}
	s.groups[k] = m
	return nil
}

// DeregisterPatchGroup removes a mapping.
func (s *PatchBaselineStore) DeregisterPatchGroup(ctx context.Context, m runcmd.PatchGroupMapping) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := groupKey(m.PatchGroup, m.OperatingSystem)
	old, ok := s.groups[k]
	if !ok || old.BaselineID != m.BaselineID {
		return groupNotRegistered(m)
	}
	delete(s.groups, k)
	if b, ok := s.baselines[m.BaselineID]; ok {
		b.PatchGroups = slices.DeleteFunc(b.PatchGroups, func(g string) bool { return g == m.PatchGroup })
	}
	return nil
}

func groupNotRegistered(m runcmd.PatchGroupMapping) error {
	return runcmd.Errorf(runcmd.ENOTFOUND, "DoesNotExistException",
		"Patch Group %s is not registered with baseline %s.", m.PatchGroup, m.BaselineID)
}

// GetPatchGroup returns a group's mapping for os.
func (s *PatchBaselineStore) GetPatchGroup(ctx context.Context, group, os string) (runcmd.PatchGroupMapping, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.groups[groupKey(group, os)]
	if !ok {
		return runcmd.PatchGroupMapping{}, runcmd.Errorf(runcmd.ENOTFOUND, "DoesNotExistException",
			"Patch Group %s has no baseline for %s.", group, os)
	}
	return m, nil
}

// ListPatchGroups pages through mappings in (group, os) order.
func (s *PatchBaselineStore) ListPatchGroups(ctx context.Context, next string, limit int) ([]runcmd.PatchGroupMapping, string, error) {
	s.mu.Lock()
	all := slices.Collect(maps.Values(s.groups))
	s.mu.Unlock()
	return page(all, func(m runcmd.PatchGroupMapping) string { return groupKey(m.PatchGroup, m.OperatingSystem) }, false,
		pageSize(limit, 50, 0), next)
}

// PutSnapshot stores a snapshot unless a young enough one exists.
func (s *PatchBaselineStore) PutSnapshot(ctx context.Context, snap *runcmd.PatchSnapshot, reuse time.Duration) (*runcmd.PatchSnapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := snap.SnapshotID + "\x00" + snap.OperatingSystem + "\x00" + snap.PatchGroup
	if old, ok := s.snapshots[k]; ok && snap.CreatedAt.Sub(old.CreatedAt) < reuse {
		c := *old
		c.Body = slices.Clone(old.Body)
		return &c, nil
	}
	c := *snap
	c.Body = slices.Clone(snap.Body)
	s.snapshots[k] = &c
	out := c
	return &out, nil
}

// ComplianceStore is an in-memory runcmd.ComplianceStore.
type ComplianceStore struct {
	mu        sync.Mutex
	items     map[string][]runcmd.ComplianceItem          // resource + "\x00" + type
	summaries map[string]runcmd.ResourceComplianceSummary // same key
	types     map[string]*runcmd.ComplianceTypeSummary
	states    map[string]runcmd.InstancePatchState
	groups    map[string]*runcmd.PatchGroupState
}

// NewComplianceStore returns an empty ComplianceStore.
func NewComplianceStore() *ComplianceStore {
	return &ComplianceStore{items: map[string][]runcmd.ComplianceItem{}, summaries: map[string]runcmd.ResourceComplianceSummary{},
		types: map[string]*runcmd.ComplianceTypeSummary{}, states: map[string]runcmd.InstancePatchState{},
		groups: map[string]*runcmd.PatchGroupState{}}
}

func cloneItems(items []runcmd.ComplianceItem) []runcmd.ComplianceItem {
	out := make([]runcmd.ComplianceItem, len(items))
	for i, it := range items {
		it.Details = maps.Clone(it.Details)
		out[i] = it
	}
	return out
}

// PutComplianceItems replaces or merges one resource's items of one type and moves the summaries.
func (s *ComplianceStore) PutComplianceItems(ctx context.Context, u runcmd.ComplianceUpload) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := u.ResourceID + "\x00" + u.ComplianceType
	old, had := s.summaries[k]
	if had && u.ContentHash != "" && old.ContentHash == u.ContentHash {
		return false, nil
	}
	if !had && strings.HasPrefix(u.ComplianceType, "Custom:") {
		n := 0
		for _, sm := range s.summaries {
			if sm.ResourceID == u.ResourceID && strings.HasPrefix(sm.ComplianceType, "Custom:") {
				n++
			}
		}
		if n >= runcmd.MaxCustomComplianceTypes {
			return false, runcmd.Errorf(runcmd.ELIMIT, "ComplianceTypeCountLimitExceededException",
				"Resource %s already has %d custom compliance types.", u.ResourceID, n)
		}
	}
	items := cloneItems(u.Items)
	if u.Partial {
		items = runcmd.MergeComplianceItems(s.items[k], items)
	}
	sum := runcmd.SummarizeCompliance(items)
	sum.ResourceID, sum.ResourceType, sum.ComplianceType = u.ResourceID, u.ResourceType, u.ComplianceType
	sum.Execution, sum.ContentHash = u.Execution, u.ContentHash
	t := s.types[u.ComplianceType]
	if t == nil {
		t = &runcmd.ComplianceTypeSummary{ComplianceType: u.ComplianceType}
		s.types[u.ComplianceType] = t
	}
	if had {
		addResource(t, old, -1)
	}
	addResource(t, sum, 1)
	s.items[k] = items
	s.summaries[k] = sum
	return true, nil
}

// addResource adds sign times one resource's contribution to its type's counts.
func addResource(t *runcmd.ComplianceTypeSummary, s runcmd.ResourceComplianceSummary, sign int) {
	if s.Status == runcmd.ComplianceNonCompliant {
		t.NonCompliant.Add(s.OverallSeverity, sign)
	} else {
		t.Compliant.Add(s.OverallSeverity, sign)
	}
}

// ListComplianceItems pages through one resource's items.
func (s *ComplianceStore) ListComplianceItems(ctx context.Context, resourceID string, types []string, limit int, next string) ([]runcmd.StoredComplianceItem, string, error) {
	s.mu.Lock()
	var all []runcmd.StoredComplianceItem
	for k, items := range s.items {
		sum := s.summaries[k]
		if sum.ResourceID != resourceID || len(types) > 0 && !slices.Contains(types, sum.ComplianceType) {
			continue
		}
		for _, it := range cloneItems(items) {
			all = append(all, runcmd.StoredComplianceItem{ResourceID: resourceID, ResourceType: sum.ResourceType,
				ComplianceType: sum.ComplianceType, Execution: sum.Execution, ComplianceItem: it})
		}
	}
	s.mu.Unlock()
	return page(all, func(i runcmd.StoredComplianceItem) string { return i.ComplianceType + "\x00" + i.ID }, false,
		pageSize(limit, 50, 0), next)
}

// ListResourceSummaries pages through per-resource summaries.
func (s *ComplianceStore) ListResourceSummaries(ctx context.Context, resourceID string, limit int, next string) ([]runcmd.ResourceComplianceSummary, string, error) {
	s.mu.Lock()
	var all []runcmd.ResourceComplianceSummary
	for _, sum := range s.summaries {
		if resourceID == "" || sum.ResourceID == resourceID {
			all = append(all, sum)
		}
	}
	s.mu.Unlock()
	return page(all, func(r runcmd.ResourceComplianceSummary) string { return r.ResourceID + "\x00" + r.ComplianceType }, false,
		pageSize(limit, 50, 0), next)
}

// ListTypeSummaries pages through per-type counts.
func (s *ComplianceStore) ListTypeSummaries(ctx context.Context, limit int, next string) ([]runcmd.ComplianceTypeSummary, string, error) {
	s.mu.Lock()
	var all []runcmd.ComplianceTypeSummary
	for _, t := range s.types {
		all = append(all, *t)
	}
	s.mu.Unlock()
	return page(all, func(t runcmd.ComplianceTypeSummary) string { return t.ComplianceType }, false, pageSize(limit, 50, 0), next)
}

// PutInstancePatchState stores a node's state and moves its group counts.
func (s *ComplianceStore) PutInstancePatchState(ctx context.Context, st runcmd.InstancePatchState) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := s.states[st.InstanceID]
	if had && st.OperationStartTime.Before(old.OperationStartTime) {
		return false, nil
	}
	if had {
		s.group(old.PatchGroup).Add(old, -1)
	}
	s.group(st.PatchGroup).Add(st, 1)
	s.states[st.InstanceID] = st
	return true, nil
}

func (s *ComplianceStore) group(name string) *runcmd.PatchGroupState {
	g := s.groups[name]
	if g == nil {
		g = &runcmd.PatchGroupState{}
		s.groups[name] = g
	}
	return g
}

// GetInstancePatchStates returns the states of ids.
func (s *ComplianceStore) GetInstancePatchStates(ctx context.Context, ids []string) (map[string]runcmd.InstancePatchState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]runcmd.InstancePatchState{}
	for _, id := range ids {
		if st, ok := s.states[id]; ok {
			out[id] = st
		}
	}
	return out, nil
}

// ListPatchGroupStates pages through a group's node states.
func (s *ComplianceStore) ListPatchGroupStates(ctx context.Context, group string, limit int, next string) ([]runcmd.InstancePatchState, string, error) {
	s.mu.Lock()
	var all []runcmd.InstancePatchState
	for _, st := range s.states {
		if st.PatchGroup == group {
			all = append(all, st)
		}
	}
	s.mu.Unlock()
	return page(all, func(st runcmd.InstancePatchState) string { return st.InstanceID }, false, pageSize(limit, 50, 0), next)
}

// GetPatchGroupState returns a group's counts.
func (s *ComplianceStore) GetPatchGroupState(ctx context.Context, group string) (runcmd.PatchGroupState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.groups[group]; g != nil {
		return *g, nil
	}
	return runcmd.PatchGroupState{}, nil
}
