package fake

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/runcmd/runcmd"
)

var (
	_ runcmd.ActivationStore = (*ActivationStore)(nil)
	_ runcmd.NodeRegistry    = (*InstanceStore)(nil)
	_ runcmd.AuditStore      = (*AuditStore)(nil)
	_ runcmd.NodeQueueAdmin  = (*NodeQueue)(nil)

	_ runcmd.CredentialRequestLedger = (*CredentialLedger)(nil)
)

func notSent(commandID, instanceID string) error {
	return runcmd.Errorf(runcmd.EUNAUTHORIZED, "", "invocation %s/%s was never sent to its node", commandID, instanceID)
}

func activationNotFound(id string) error {
	return runcmd.Errorf(runcmd.ENOTFOUND, "InvalidActivationId", "activation %s does not exist", id)
}

// ActivationStore is an in-memory runcmd.ActivationStore.
type ActivationStore struct {
	mu   sync.Mutex
	acts map[string]*runcmd.Activation
}

// NewActivationStore returns an empty ActivationStore.
func NewActivationStore() *ActivationStore {
	return &ActivationStore{acts: map[string]*runcmd.Activation{}}
}

func cloneActivation(a *runcmd.Activation) *runcmd.Activation {
	out := *a
	out.Tags = maps.Clone(a.Tags)
	if out.Tags == nil {
		out.Tags = map[string]string{}
	}
	return &out
}

// CreateActivation stores a new activation.
func (s *ActivationStore) CreateActivation(ctx context.Context, a *runcmd.Activation) error {
	if a.ActivationID == "" {
		return runcmd.Errorf(runcmd.EINVALID, "", "activation id is empty")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.acts[a.ActivationID]; ok {
		return runcmd.Errorf(runcmd.ECONFLICT, "", "activation %s already exists", a.ActivationID)
	}
	s.acts[a.ActivationID] = cloneActivation(a)
	return nil
}

// GetActivation returns a copy of an activation.
func (s *ActivationStore) GetActivation(ctx context.Context, id string) (*runcmd.Activation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.acts[id]
	if !ok {
		return nil, activationNotFound(id)
	}
	return cloneActivation(a), nil
}

// ListActivations returns a page of activations in id order.
func (s *ActivationStore) ListActivations(ctx context.Context, limit int, next string) (runcmd.ActivationPage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	got, tok, err := page(slices.Collect(maps.Values(s.acts)), func(a *runcmd.Activation) string { return a.ActivationID },
		false, pageSize(limit, defaultPage, defaultPage), next)
	if err != nil {
		return runcmd.ActivationPage{}, err
	}
	p := runcmd.ActivationPage{NextToken: tok}
	for _, a := range got {
		p.Activations = append(p.Activations, cloneActivation(a))
	}
	return p, nil
}

// DeleteActivation deletes an activation.
func (s *ActivationStore) DeleteActivation(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.acts[id]; !ok {
		return activationNotFound(id)
	}
	delete(s.acts, id)
	return nil
}

// ClaimRegistration counts a registration while the activation is valid and below its limit.
func (s *ActivationStore) ClaimRegistration(ctx context.Context, id string, now time.Time) (*runcmd.Activation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.acts[id]
	if !ok {
		return nil, activationNotFound(id)
	}
	if err := claimable(a, now); err != nil {
		return nil, err
	}
	a.RegistrationsCount++
	return cloneActivation(a), nil
}

// ReleaseRegistration gives back one counted registration.
func (s *ActivationStore) ReleaseRegistration(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.acts[id]
	if !ok {
		return activationNotFound(id)
	}
	if a.RegistrationsCount <= 0 {
		return runcmd.Errorf(runcmd.ECONFLICT, "", "activation %s has no registration to release", id)
	}
	a.RegistrationsCount--
	return nil
}

// claimable explains why a may not register another node at now, or returns nil. The DynamoDB adapter
// uses the same wording.
func claimable(a *runcmd.Activation, now time.Time) error {
	if a.Expired(now) {
		return runcmd.Errorf(runcmd.EINVALID, "InvalidActivation", "Activation %s expired at %s.",
			a.ActivationID, a.ExpirationDate.UTC().Format(time.RFC3339))
	}
	if a.RegistrationsCount >= a.RegistrationLimit {
		return runcmd.Errorf(runcmd.ELIMIT, "InvalidActivation", "Activation %s has reached its registration limit of %d.",
			a.ActivationID, a.RegistrationLimit)
	}
	return nil
}

// RegisterInstance creates a node or replaces its registration fields.
func (s *InstanceStore) RegisterInstance(ctx context.Context, n *runcmd.Instance) error {
	if n.InstanceID == "" {
		return runcmd.Errorf(runcmd.EINVALID, "", "registration without instance id")
	}
	for k := range n.Tags {
		if k == "" {
			return runcmd.Errorf(runcmd.EINVALID, "", "empty tag key for %s", n.InstanceID)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.nodes[n.InstanceID]
	if !ok {
		s.nodes[n.InstanceID] = cloneInstance(n)
		return nil
	}
	cur.Name, cur.IamRole, cur.ActivationID = n.Name, n.IamRole, n.ActivationID
	cur.PublicKey, cur.QueueURL, cur.RegisteredAt = slices.Clone(n.PublicKey), n.QueueURL, n.RegisteredAt
	cur.ResourceType = cmp.Or(n.ResourceType, runcmd.ResourceTypeManagedInstance)
	maps.Copy(cur.Tags, n.Tags)
	return nil
}

// DeregisterInstance deletes a node.
func (s *InstanceStore) DeregisterInstance(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.nodes[id]; !ok {
		return runcmd.Errorf(runcmd.ENOTFOUND, "InvalidInstanceId", "managed node %s is not registered", id)
	}
	delete(s.nodes, id)
	return nil
}

// PingInstance refreshes a registered node's facts.
func (s *InstanceStore) PingInstance(ctx context.Context, hb runcmd.Heartbeat) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nodes[hb.InstanceID]
	if !ok {
		return runcmd.Errorf(runcmd.ENOTFOUND, "InvalidInstanceId", "managed node %s is not registered", hb.InstanceID)
	}
	if hb.At.Before(n.LastPingAt) {
		return nil
	}
	n.ComputerName, n.IPAddress, n.PlatformType = hb.ComputerName, hb.IPAddress, hb.PlatformType
	n.PlatformName, n.PlatformVersion, n.AgentVersion = hb.PlatformName, hb.PlatformVersion, hb.AgentVersion
	n.LastPingAt = hb.At
	return nil
}

// AuditStore is an in-memory runcmd.AuditStore.
type AuditStore struct {
	mu     sync.Mutex
	events []runcmd.AuditEvent
}

// NewAuditStore returns an empty AuditStore.
func NewAuditStore() *AuditStore { return &AuditStore{} }

// RecordAudit adds an event.
func (s *AuditStore) RecordAudit(ctx context.Context, e runcmd.AuditEvent) error {
	if e.ID == "" {
		e.ID = rand.Text()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
	return nil
}

// ListAudit returns a page of one UTC day's events, newest first.
func (s *AuditStore) ListAudit(ctx context.Context, q runcmd.AuditQuery) (runcmd.AuditPage, error) {
	day := q.Day.UTC().Format(time.DateOnly)
	s.mu.Lock()
	var evs []runcmd.AuditEvent
	for _, e := range s.events {
		if e.At.UTC().Format(time.DateOnly) == day {
			evs = append(evs, e)
		}
	}
	s.mu.Unlock()
	got, next, err := page(evs, func(e runcmd.AuditEvent) string { return timeKey(e.At) + "#" + e.ID }, true,
		pageSize(q.Limit, defaultPage, 0), q.NextToken)
	if err != nil {
		return runcmd.AuditPage{}, err
	}
	return runcmd.AuditPage{Events: got, NextToken: next}, nil
}

// Events returns every recorded event, oldest first.
func (s *AuditStore) Events() []runcmd.AuditEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// EnsureNodeQueue returns the URL "node/<instance id>" and makes the queue exist again if it was
// deleted.
func (n *NodeQueue) EnsureNodeQueue(ctx context.Context, instanceID string) (string, error) {
	url := "node/" + instanceID
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.deleted, url)
	n.queue(url)
	return url, nil
}

// DeleteNodeQueue deletes a node's queue: later sends fail with ENOTFOUND.
func (n *NodeQueue) DeleteNodeQueue(ctx context.Context, url string) error {
	n.DeleteQueue(url)
	return nil
}

// Node returns a copy of a node for tests, failing t if it does not exist.
func (s *InstanceStore) Node(t interface {
	Helper()
	Fatalf(string, ...any)
}, id string) *runcmd.Instance {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nodes[id]
	if !ok {
		t.Fatalf("node %s does not exist", id)
	}
	return cloneInstance(n)
}

// CredentialLedger is an in-memory runcmd.CredentialRequestLedger over the nodes of an InstanceStore.
// Like the DynamoDB adapter, which keeps the time on the node's item, it forgets a node's time when the
// node is deleted.
type CredentialLedger struct {
	insts *InstanceStore
	mu    sync.Mutex
	last  map[string]ledgerEntry
}

type ledgerEntry struct {
	node *runcmd.Instance // the record the time belongs to; a node created again is another record
	at   time.Time
}

// NewCredentialLedger returns a ledger that checks nodes and their keys in insts.
func NewCredentialLedger(insts *InstanceStore) *CredentialLedger {
	return &CredentialLedger{insts: insts, last: map[string]ledgerEntry{}}
}

// AcceptCredentialRequest records signedAt for a node registered with publicKey, if later than the last.
func (l *CredentialLedger) AcceptCredentialRequest(ctx context.Context, id string, publicKey ed25519.PublicKey, signedAt time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.insts.mu.Lock()
	defer l.insts.mu.Unlock()
	n, ok := l.insts.nodes[id]
	if !ok {
		return runcmd.Errorf(runcmd.ENOTFOUND, "InvalidInstanceId", "managed node %s is not registered", id)
	}
	if !bytes.Equal(n.PublicKey, publicKey) {
		return runcmd.Errorf(runcmd.ECONFLICT, "", "managed node %s has another registered key", id)
	}
	if last, ok := l.last[id]; ok && last.node == n && !signedAt.After(last.at) {
		return runcmd.Errorf(runcmd.ECONFLICT, "", "managed node %s: a credentials request signed at %s is not later than the last one accepted",
			id, signedAt.UTC().Format(time.RFC3339Nano))
	}
	l.last[id] = ledgerEntry{node: n, at: signedAt}
	return nil
}
