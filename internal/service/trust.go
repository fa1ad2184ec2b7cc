package service

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/runcmd/runcmd"
)

// Key cache lifetimes. A Lambda container keeps its cache between batches, so a busy ingest function
// reads each node's key about once a minute. A deregistered node's key may be used for up to
// keyTTL after deregistration; everything it then sends is still checked against its invocations.
const (
	keyTTL        = time.Minute
	missingKeyTTL = 15 * time.Second // unknown nodes: forged ids cost one read per id per 15 s
)

// NodeKeys caches registered nodes' public keys in memory, so verifying a batch costs at most one
// BatchGetItem for the nodes not seen within keyTTL. It is safe for concurrent use.
type NodeKeys struct {
	Instances runcmd.InstanceStore
	Now       Clock

	mu   sync.Mutex
	keys map[string]cachedKey
}

type cachedKey struct {
	key     ed25519.PublicKey // nil: no such node, or no key
	expires time.Time
}

// NewNodeKeys returns an empty cache over instances.
func NewNodeKeys(instances runcmd.InstanceStore) *NodeKeys {
	return &NodeKeys{Instances: instances, Now: time.Now}
}

// Load returns the keys of ids (absent: unknown node or no key), reading the ones not cached in one
// call.
func (k *NodeKeys) Load(ctx context.Context, ids []string) (map[string]ed25519.PublicKey, error) {
	now := k.Now()
	out := map[string]ed25519.PublicKey{}
	var missing []string
	k.mu.Lock()
	if k.keys == nil {
		k.keys = map[string]cachedKey{}
	}
	for _, id := range ids {
		c, ok := k.keys[id]
		switch {
		case ok && now.Before(c.expires):
			if c.key != nil {
				out[id] = c.key
			}
		case !slices.Contains(missing, id):
			missing = append(missing, id)
		}
	}
	k.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	nodes, err := k.Instances.GetInstances(ctx, missing)
	if err != nil {
		return nil, fmt.Errorf("load node keys: %w", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for id, c := range k.keys {
		if !now.Before(c.expires) {
			delete(k.keys, id) // keep the cache as small as the set of active nodes
		}
	}
	for _, id := range missing {
		n, ok := nodes[id]
		if !ok || len(n.PublicKey) != ed25519.PublicKeySize {
			k.keys[id] = cachedKey{expires: now.Add(missingKeyTTL)}
			continue
		}
		key := ed25519.PublicKey(slices.Clone(n.PublicKey))
		k.keys[id] = cachedKey{key: key, expires: now.Add(keyTTL)}
		out[id] = key
	}
	return out, nil
}

// Forget drops a node's cached key (after it registers again or is deregistered in this process).
func (k *NodeKeys) Forget(id string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.keys, id)
}

// errRejected marks a result message refused for trust reasons: it is audited and acknowledged, never
// retried (it would fail the same way every time).
var errRejected = errors.New("rejected")

// authenticate checks one message's signature against its signer's key. A rejected message is written
// to the audit trail and comes back as an EINVALID error, which the ingest handler logs and
// acknowledges. With InsecureAcceptUnsigned set, unsigned messages pass (local-only transition mode).
func (g *Ingester) authenticate(ctx context.Context, m runcmd.ResultMessage, keys map[string]ed25519.PublicKey) error {
	if g.InsecureAcceptUnsigned && len(m.Signature) == 0 {
		return nil
	}
	var why error
	if len(m.Signature) == 0 {
		why = runcmd.ErrUnsigned
	} else if key, ok := keys[m.Signer]; !ok {
		why = runcmd.ErrNoRegisteredKey
	} else {
		why = m.Verify(key, g.Now())
	}
	if why == nil {
		return nil
	}
	return g.reject(ctx, m, why.Error())
}

// reject audits a refused message and returns the EINVALID error that acknowledges it.
func (g *Ingester) reject(ctx context.Context, m runcmd.ResultMessage, why string) error {
	resource := m.Subject()
	action := "ingest:" + m.Kind
	if m.Reply != nil {
		resource = m.Reply.CommandID + "/" + m.Reply.InstanceID
	}
	if g.Audit != nil {
		err := g.Audit.RecordAudit(ctx, runcmd.AuditEvent{At: g.Now().UTC(), Actor: "node:" + m.Signer,
			Action: action, Resource: resource, Outcome: runcmd.AuditDenied, Reason: why})
		if err != nil {
			return fmt.Errorf("audit rejected %s %s: %w", action, resource, err) // retried: the audit must not be lost
		}
	}
	return fmt.Errorf("%w: %w", runcmd.Errorf(runcmd.EINVALID, "", "%s %s from %q rejected: %s", action, resource, m.Signer, why), errRejected)
}

// signerKeys loads the keys of every signer in a batch with one read.
func (g *Ingester) signerKeys(ctx context.Context, batch []runcmd.ResultMessage) (map[string]ed25519.PublicKey, error) {
	if g.Keys == nil {
		return map[string]ed25519.PublicKey{}, nil
	}
	var ids []string
	for _, m := range batch {
		if m.Signer != "" && len(m.Signature) > 0 {
			ids = append(ids, m.Signer)
		}
	}
	return g.Keys.Load(ctx, ids)
}

// ping records a verified heartbeat. A signed heartbeat never creates a node; only the local-only
// InsecureAcceptUnsigned mode lets an unsigned heartbeat register one, as before activations existed.
func (g *Ingester) ping(ctx context.Context, m runcmd.ResultMessage, hb runcmd.Heartbeat) error {
	if g.InsecureAcceptUnsigned && len(m.Signature) == 0 {
		if err := g.Instances.RecordHeartbeat(ctx, hb); err != nil {
			return fmt.Errorf("heartbeat %s: %w", hb.InstanceID, err)
		}
		return nil
	}
	if g.Registry == nil {
		return g.reject(ctx, m, "this ingest function cannot record registered nodes' heartbeats")
	}
	err := g.Registry.PingInstance(ctx, hb)
	switch runcmd.ErrorCode(err) {
	case "":
		return nil
	case runcmd.ENOTFOUND:
		return g.reject(ctx, m, "the node is not registered (deregistered?)")
	}
	return fmt.Errorf("heartbeat %s: %w", hb.InstanceID, err)
}
