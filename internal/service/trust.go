package service

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/runcmd/runcmd"
)

// Key cache lifetimes and size. A Lambda container keeps its cache between batches, so a busy ingest
// function reads each node's key about once a minute. A deregistered node's key may be used for up to
// keyTTL after deregistration; everything it then sends is still checked against its invocations.
const (
	keyTTL        = time.Minute
	missingKeyTTL = 15 * time.Second // unknown nodes: forged ids cost one read per id per 15 s

	// DefaultMaxNodeKeys bounds the cache when NodeKeys.MaxEntries is 0: under 2 MB (an entry is
	// about 160 bytes plus its id: the id, the key, the expiry and two list links). A fleet that
	// replies faster than the cache turns over costs one BatchGetItem per batch for the nodes
	// evicted, never more memory.
	DefaultMaxNodeKeys = 10_000
)

// NodeKeys caches registered nodes' public keys in memory, so verifying a batch costs at most one
// BatchGetItem for the nodes not seen within keyTTL. It is a least-recently-used cache of at most
// MaxEntries entries: a lookup is O(1) whatever the fleet's size, and an entry expires keyTTL after
// it was read from the store however often it is used (a hit does not extend it). It is safe for
// concurrent use.
type NodeKeys struct {
	Instances runcmd.InstanceStore
	Now       Clock
	// MaxEntries bounds the number of cached nodes, unknown ones included; 0 means
	// DefaultMaxNodeKeys. Set it before the first Load.
	MaxEntries int

	mu    sync.Mutex
	index map[string]int32 // node id -> slot
	// slots holds the entries in a doubly linked list by recency, threaded through slot indices so
	// that a full cache reuses its slots instead of allocating. Slot 0 is the list's sentinel:
	// slots[0].next is the most recently used entry, slots[0].prev the least.
	slots []keySlot
	free  []int32 // slots of forgotten entries
}

type keySlot struct {
	id         string
	key        ed25519.PublicKey // nil: no such node, or no key; never written once shared
	expires    time.Time
	prev, next int32
}

// NewNodeKeys returns an empty cache over instances, of DefaultMaxNodeKeys entries.
func NewNodeKeys(instances runcmd.InstanceStore) *NodeKeys {
	return &NodeKeys{Instances: instances, Now: time.Now}
}

// Load returns the keys of ids (absent: unknown node or no key), reading the ones not cached in one
// call.
func (k *NodeKeys) Load(ctx context.Context, ids []string) (map[string]ed25519.PublicKey, error) {
	now := k.Now()
	out := make(map[string]ed25519.PublicKey, len(ids))
	var missing []string
	var asked map[string]bool // ids in missing: a batch repeats its signers
	k.mu.Lock()
	k.init()
	for _, id := range ids {
		if i, ok := k.index[id]; ok && now.Before(k.slots[i].expires) {
			k.touch(i)
			if key := k.slots[i].key; key != nil {
				out[id] = key
			}
			continue
		}
		if asked == nil {
			asked = map[string]bool{}
		}
		if !asked[id] {
			asked[id] = true
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
	for _, id := range missing {
		n, ok := nodes[id]
		if !ok || len(n.PublicKey) != ed25519.PublicKeySize {
			k.put(id, nil, now.Add(missingKeyTTL))
			continue
		}
		key := ed25519.PublicKey(slices.Clone(n.PublicKey))
		k.put(id, key, now.Add(keyTTL))
		out[id] = key
	}
	return out, nil
}

// Forget drops a node's cached key (after it registers again or is deregistered in this process).
func (k *NodeKeys) Forget(id string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if i, ok := k.index[id]; ok {
		k.unlink(i)
		delete(k.index, id)
		k.slots[i] = keySlot{}
		k.free = append(k.free, i)
	}
}

// init makes the empty cache. k.mu is held.
func (k *NodeKeys) init() {
	if k.index == nil {
		k.index = map[string]int32{}
		k.slots = []keySlot{{}} // the sentinel, linked to itself
	}
}

// limit is the most entries the cache holds.
func (k *NodeKeys) limit() int {
	if k.MaxEntries > 0 {
		return min(k.MaxEntries, math.MaxInt32-1)
	}
	return DefaultMaxNodeKeys
}

// put caches id's key (nil: none) until expires as the most recently used entry, evicting the least
// recently used one when the cache is full. k.mu is held.
func (k *NodeKeys) put(id string, key ed25519.PublicKey, expires time.Time) {
	i, ok := k.index[id]
	switch {
	case ok: // read again after it expired, or by a concurrent Load
		k.unlink(i)
	case len(k.free) > 0:
		i = k.free[len(k.free)-1]
		k.free = k.free[:len(k.free)-1]
	case len(k.slots)-1 < k.limit():
		k.slots = append(k.slots, keySlot{})
		i = int32(len(k.slots) - 1)
	default:
		i = k.slots[0].prev
		k.unlink(i)
		delete(k.index, k.slots[i].id)
	}
	k.slots[i] = keySlot{id: id, key: key, expires: expires}
	k.index[id] = i
	k.pushFront(i)
}

// touch makes slot i the most recently used. k.mu is held.
func (k *NodeKeys) touch(i int32) {
	if k.slots[0].next != i {
		k.unlink(i)
		k.pushFront(i)
	}
}

func (k *NodeKeys) unlink(i int32) {
	s := &k.slots[i]
	k.slots[s.prev].next, k.slots[s.next].prev = s.next, s.prev
	s.prev, s.next = 0, 0
}

func (k *NodeKeys) pushFront(i int32) {
	first := k.slots[0].next
	k.slots[i].prev, k.slots[i].next = 0, first
	k.slots[first].prev, k.slots[0].next = i, i
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
