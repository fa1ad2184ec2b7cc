package service

import (
	"context"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/runcmd/runcmd"
)

// faultyQueues fails EnsureNodeQueue with err; cancel, when set, is called first (the caller going away).
type faultyQueues struct {
	runcmd.NodeQueueAdmin
	err    error
	cancel context.CancelFunc
}

func (q faultyQueues) EnsureNodeQueue(ctx context.Context, id string) (string, error) {
	if q.cancel != nil {
		q.cancel()
		return "", ctx.Err()
	}
	return "", q.err
}

// faultyNodes fails RegisterInstance with registerErr, after writing the node when written is set (a
// write whose answer was lost), and DeregisterInstance with deregisterErr.
type faultyNodes struct {
	runcmd.NodeRegistry
	registerErr   error
	written       bool
	deregisterErr error
}

func (n faultyNodes) RegisterInstance(ctx context.Context, node *runcmd.Instance) error {
	if n.written {
		if err := n.NodeRegistry.RegisterInstance(ctx, node); err != nil {
			return err
		}
	}
	return n.registerErr
}

func (n faultyNodes) DeregisterInstance(ctx context.Context, id string) error {
	if n.deregisterErr != nil {
		return n.deregisterErr
	}
	return n.NodeRegistry.DeregisterInstance(ctx, id)
}

// faultyAudit refuses to record allowed events.
type faultyAudit struct{ runcmd.AuditStore }

func (a faultyAudit) RecordAudit(ctx context.Context, e runcmd.AuditEvent) error {
	if e.Outcome == runcmd.AuditAllowed {
		return errors.New("audit table unavailable")
	}
	return a.AuditStore.RecordAudit(ctx, e)
}

// ctxActivations is the fake ActivationStore that, like a real adapter, fails calls on a done context.
type ctxActivations struct{ runcmd.ActivationStore }

func (a ctxActivations) ReleaseRegistration(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return a.ActivationStore.ReleaseRegistration(ctx, id)
}

// TestFailedRegistrationReleasesSlot makes registrations fail after they took their activation's only
// slot: each failure gives the slot back (the next node registers), takes back the node and the queue
// it made, and fails closed when it cannot tell whether a node holds the slot.
func TestFailedRegistrationReleasesSlot(t *testing.T) {
	t.Parallel()
	const newID = "mi-0000000000000000f"
	internal := errors.New("connection reset")
	tests := []struct {
		name string
		// break_ swaps in faulty ports; it gets the request's context and its cancel.
		break_    func(h *trustHarness, cancel context.CancelFunc)
		wantCode  string
		wantCount int  // RegistrationsCount after the failure
		wantNode  bool // whether the node's record exists after the failure
		madeQueue bool // whether the failure came after the queue was made (then it must be gone)
	}{
		{"queue creation fails", func(h *trustHarness, _ context.CancelFunc) {
			h.reg.Queues = faultyQueues{NodeQueueAdmin: h.queues, err: internal}
		}, runcmd.EINTERNAL, 0, false, false},
		{"node write refused", func(h *trustHarness, _ context.CancelFunc) {
			h.reg.Nodes = faultyNodes{NodeRegistry: h.insts, registerErr: runcmd.Errorf(runcmd.EINVALID, "", "bad tag")}
		}, runcmd.EINVALID, 0, false, true},
		{"node written but its answer lost", func(h *trustHarness, _ context.CancelFunc) {
			h.reg.Nodes = faultyNodes{NodeRegistry: h.insts, registerErr: internal, written: true}
		}, runcmd.EINTERNAL, 0, false, true},
		{"audit of the success fails", func(h *trustHarness, _ context.CancelFunc) {
			h.reg.Audit = faultyAudit{h.audit}
		}, runcmd.EINTERNAL, 0, false, true},
		{"caller goes away", func(h *trustHarness, cancel context.CancelFunc) {
			h.reg.Queues = faultyQueues{NodeQueueAdmin: h.queues, cancel: cancel}
		}, runcmd.EINTERNAL, 0, false, false},
		// The node may hold the slot and cannot be removed: the slot stays taken rather than let the
		// activation register more nodes than its limit.
		{"node cannot be removed", func(h *trustHarness, _ context.CancelFunc) {
			h.reg.Nodes = faultyNodes{NodeRegistry: h.insts, registerErr: internal, written: true, deregisterErr: internal}
		}, runcmd.EINTERNAL, 1, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newTrustHarness(t)
			h.reg.Activations = ctxActivations{h.reg.Activations}
			h.reg.NewInstanceID = func() string { return newID }
			act := h.activation(t, 1)
			working := *h.reg
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tt.break_(h, cancel)

			_, err := h.reg.RegisterManagedInstance(ctx, RegisterManagedInstanceInput{ActivationCode: act.ActivationCode,
				ActivationID: act.ActivationID, PublicKey: pubB64(newKey(t)), PublicKeyType: runcmd.PublicKeyTypeEd25519, Fingerprint: "f"})
			if runcmd.ErrorCode(err) != tt.wantCode {
				t.Fatalf("registration: %v, want a %s error", err, tt.wantCode)
			}
			a, err := working.Activations.GetActivation(context.Background(), act.ActivationID)
			if err != nil {
				t.Fatal(err)
			}
			if a.RegistrationsCount != tt.wantCount {
				t.Errorf("RegistrationsCount = %d after the failure, want %d", a.RegistrationsCount, tt.wantCount)
			}
			nodes, _ := h.insts.GetInstances(context.Background(), []string{newID})
			if _, ok := nodes[newID]; ok != tt.wantNode {
				t.Errorf("node record exists = %v after the failure, want %v", ok, tt.wantNode)
			}
			if tt.madeQueue && !tt.wantNode {
				if err := h.queues.Send(context.Background(), "node/"+newID, runcmd.NodeMessage{}); runcmd.ErrorCode(err) != runcmd.ENOTFOUND {
					t.Errorf("queue of the failed registration: %v, want it deleted", err)
				}
			}

			// With the fault gone, the slot is (or, failing closed, is not) there for the node's retry.
			h.reg = &working
			h.reg.NewInstanceID = NewInstanceID
			_, err = h.register(act, newKey(t))
			if tt.wantCount == 0 && err != nil {
				t.Errorf("retry after the failure: %v, want the released slot", err)
			}
			if tt.wantCount == 1 && runcmd.ErrorCode(err) != runcmd.ELIMIT {
				t.Errorf("retry after a failure that kept the slot: %v, want the limit", err)
			}
		})
	}
}

// TestFailedReRegistrationReleasesSlot: a node that proved its key and keeps its id was counted when it
// first registered; its failed re-registration gives the new slot back and leaves its record and queue.
func TestFailedReRegistrationReleasesSlot(t *testing.T) {
	t.Parallel()
	h := newTrustHarness(t)
	ctx := context.Background()
	key := newKey(t)
	out, err := h.register(h.activation(t, 1), key)
	if err != nil {
		t.Fatal(err)
	}
	act := h.activation(t, 1)
	h.reg.Nodes = faultyNodes{NodeRegistry: h.insts, registerErr: errors.New("throttled"), written: true}
	in := RegisterManagedInstanceInput{ActivationCode: act.ActivationCode, ActivationID: act.ActivationID,
		PublicKey: pubB64(key), PublicKeyType: runcmd.PublicKeyTypeEd25519, Fingerprint: "f", InstanceID: out.InstanceID,
		SignedAt: h.now}
	in.Signature = ed25519.Sign(key, runcmd.RegistrationProof(in.ActivationID, in.InstanceID, in.PublicKey, in.SignedAt))
	if _, err := h.reg.RegisterManagedInstance(ctx, in); err == nil {
		t.Fatal("re-registration succeeded through a failing store")
	}
	if a, _ := h.reg.Activations.GetActivation(ctx, act.ActivationID); a.RegistrationsCount != 0 {
		t.Errorf("RegistrationsCount = %d after the failed re-registration, want 0", a.RegistrationsCount)
	}
	h.insts.Node(t, out.InstanceID) // still registered
	if err := h.queues.Send(ctx, out.QueueURL, runcmd.NodeMessage{}); err != nil {
		t.Errorf("the node's queue after its failed re-registration: %v", err)
	}
	h.reg.Nodes = h.insts
	h.now = h.now.Add(time.Second)
	in.SignedAt = h.now
	in.Signature = ed25519.Sign(key, runcmd.RegistrationProof(in.ActivationID, in.InstanceID, in.PublicKey, in.SignedAt))
	if got, err := h.reg.RegisterManagedInstance(ctx, in); err != nil || got.InstanceID != out.InstanceID {
		t.Errorf("retry: %+v, %v; want %s kept", got, err, out.InstanceID)
	}
}
