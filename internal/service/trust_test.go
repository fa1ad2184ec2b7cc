package service

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/fake"
)

// trustHarness is a Registry and an Ingester over the fakes, with a controllable clock.
type trustHarness struct {
	reg    *Registry
	ing    *Ingester
	insts  *fake.InstanceStore
	cmds   *fake.CommandStore
	queues *fake.NodeQueue
	audit  *fake.AuditStore
	now    time.Time
}

func newTrustHarness(t *testing.T) *trustHarness {
	t.Helper()
	h := &trustHarness{insts: fake.NewInstanceStore(), cmds: fake.NewCommandStore(), queues: fake.NewNodeQueue(),
		audit: fake.NewAuditStore(), now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return h.now }
	h.reg = NewRegistry(fake.NewActivationStore(), h.insts, h.insts, h.queues, h.audit, "results")
	h.reg.Now = clock
	notify := &Notifications{Notifier: &fake.Notifier{}, EventsTopic: eventsTopic}
	h.ing = &Ingester{Commands: h.cmds, Instances: h.insts, Dispatch: fake.NewDispatchQueue(), Notify: notify, Now: clock,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Keys: &NodeKeys{Instances: h.insts, Now: clock},
		Registry: h.insts, Audit: h.audit}
	return h
}

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pubB64(k ed25519.PrivateKey) string {
	return base64.StdEncoding.EncodeToString(k.Public().(ed25519.PublicKey))
}

func (h *trustHarness) activation(t *testing.T, limit int) CreateActivationOutput {
	t.Helper()
	out, err := h.reg.CreateActivation(context.Background(), CreateActivationInput{IamRole: "role", DefaultInstanceName: "web",
		RegistrationLimit: &limit, Tags: map[string]string{"Env": "prod"}})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (h *trustHarness) register(act CreateActivationOutput, key ed25519.PrivateKey) (RegisterManagedInstanceOutput, error) {
	return h.reg.RegisterManagedInstance(context.Background(), RegisterManagedInstanceInput{ActivationCode: act.ActivationCode,
		ActivationID: act.ActivationID, PublicKey: pubB64(key), PublicKeyType: runcmd.PublicKeyTypeEd25519, Fingerprint: "f"})
}

func TestRegistration(t *testing.T) {
	t.Parallel()
	h := newTrustHarness(t)
	ctx := context.Background()
	act := h.activation(t, 2)
	if len(act.ActivationCode) != runcmd.ActivationCodeLength {
		t.Errorf("code length %d", len(act.ActivationCode))
	}
	stored, _ := h.reg.Activations.GetActivation(ctx, act.ActivationID)
	if stored.CodeHash == act.ActivationCode || strings.Contains(stored.CodeHash, act.ActivationCode) {
		t.Error("the store keeps the code itself")
	}
	if !stored.ExpirationDate.Equal(h.now.Add(24 * time.Hour)) {
		t.Errorf("default expiry %v", stored.ExpirationDate)
	}

	key := newKey(t)
	out, err := h.register(act, key)
	if err != nil {
		t.Fatal(err)
	}
	if !validInstanceID(out.InstanceID) || !strings.HasPrefix(out.InstanceID, "mi-") || out.QueueURL != "node/"+out.InstanceID || out.ResultsQueueURL != "results" {
		t.Fatalf("registration %+v", out)
	}
	n := h.insts.Node(t, out.InstanceID)
	if n.Name != "web" || n.IamRole != "role" || n.ActivationID != act.ActivationID || n.Tags["Env"] != "prod" ||
		string(n.PublicKey) != string(key.Public().(ed25519.PublicKey)) || !n.RegisteredAt.Equal(h.now) {
		t.Errorf("node %+v", n)
	}

	wrong := act
	wrong.ActivationCode = strings.Repeat("A", 20)
	tests := []struct {
		name     string
		act      CreateActivationOutput
		advance  time.Duration
		wantName string
		wantText string
	}{
		{"wrong code", wrong, 0, "InvalidActivation", "does not match"},
		{"unknown id", CreateActivationOutput{ActivationID: NewUUID(), ActivationCode: act.ActivationCode}, 0, "InvalidActivation", "does not exist"},
	}
	for _, tt := range tests {
		if _, err := h.register(tt.act, newKey(t)); runcmd.ErrorName(err) != tt.wantName || !strings.Contains(runcmd.ErrorMessage(err), tt.wantText) {
			t.Errorf("%s: %v, want %s about %q", tt.name, err, tt.wantName, tt.wantText)
		}
	}
	if _, err := h.register(act, newKey(t)); err != nil {
		t.Fatalf("second of two: %v", err)
	}
	_, err = h.register(act, newKey(t))
	if runcmd.ErrorName(err) != "InvalidActivation" || !strings.Contains(runcmd.ErrorMessage(err), "registration limit of 2") {
		t.Errorf("beyond the limit: %v", err)
	}
	h.now = h.now.Add(25 * time.Hour)
	if _, err := h.register(h.activation(t, 1), newKey(t)); err != nil {
		t.Fatal(err)
	}
	_, err = h.register(act, newKey(t))
	if runcmd.ErrorName(err) != "InvalidActivation" || !strings.Contains(runcmd.ErrorMessage(err), "expired") {
		t.Errorf("expired: %v", err)
	}

	// Re-registration keeps the id only with a proof signed by the registered key.
	act2 := h.activation(t, 3)
	rereg := func(signer ed25519.PrivateKey) string {
		t.Helper()
		in := RegisterManagedInstanceInput{ActivationCode: act2.ActivationCode, ActivationID: act2.ActivationID,
			PublicKey: pubB64(key), PublicKeyType: runcmd.PublicKeyTypeEd25519, Fingerprint: "f", InstanceID: out.InstanceID, SignedAt: h.now}
		in.Signature = ed25519.Sign(signer, runcmd.RegistrationProof(in.ActivationID, in.InstanceID, in.PublicKey, in.SignedAt))
		got, err := h.reg.RegisterManagedInstance(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return got.InstanceID
	}
	if id := rereg(key); id != out.InstanceID {
		t.Errorf("proved re-registration got %s, want %s", id, out.InstanceID)
	}
	if id := rereg(newKey(t)); id == out.InstanceID {
		t.Error("a node without the key took over the id")
	}

	if err := h.reg.DeregisterManagedInstance(ctx, out.InstanceID); err != nil {
		t.Fatal(err)
	}
	if got, _ := h.insts.GetInstances(ctx, []string{out.InstanceID}); len(got) != 0 {
		t.Error("deregistered node still listed")
	}
	if err := h.queues.Send(ctx, out.QueueURL, runcmd.NodeMessage{}); runcmd.ErrorCode(err) != runcmd.ENOTFOUND {
		t.Errorf("queue of a deregistered node: %v", err)
	}
	var denied int
	for _, e := range h.audit.Events() {
		if e.Outcome == runcmd.AuditDenied {
			denied++
		}
		if strings.Contains(e.Reason, act.ActivationCode) {
			t.Errorf("audit holds the code: %+v", e)
		}
	}
	if denied != 4 {
		t.Errorf("%d denied registrations audited, want 4", denied)
	}
}

func TestIngestVerifiesSignatures(t *testing.T) {
	t.Parallel()
	h := newTrustHarness(t)
	ctx := context.Background()
	act := h.activation(t, 2)
	key, other := newKey(t), newKey(t)
	a, _ := h.register(act, key)
	b, _ := h.register(act, other)

	cmd := &runcmd.Command{CommandID: "c-1", Detail: runcmd.CommandDetailInProgress, Counts: map[runcmd.Detail]int{}}
	sentInv := &runcmd.Invocation{CommandID: "c-1", InstanceID: a.InstanceID, Detail: runcmd.DetailInProgress, Sent: true, Result: runcmd.Result{ResponseCode: -1}}
	pending := &runcmd.Invocation{CommandID: "c-1", InstanceID: b.InstanceID, Detail: runcmd.DetailPending, Result: runcmd.Result{ResponseCode: -1}}
	if err := h.cmds.CreateCommand(ctx, cmd, []*runcmd.Invocation{sentInv, pending}); err != nil {
		t.Fatal(err)
	}
	signed := func(m runcmd.ResultMessage, signer string, k ed25519.PrivateKey, at time.Time) runcmd.ResultMessage {
		if err := m.Sign(signer, k, at); err != nil {
			t.Fatal(err)
		}
		return m
	}
	reply := func(instanceID string, d runcmd.Detail) runcmd.ResultMessage {
		return runcmd.ResultMessage{Kind: runcmd.KindReply, Reply: &runcmd.Reply{CommandID: "c-1", InstanceID: instanceID, Detail: d,
			Result: runcmd.Result{ResponseCode: 0}}}
	}
	hb := func(instanceID string) runcmd.ResultMessage {
		return runcmd.ResultMessage{Kind: runcmd.KindHeartbeat, Heartbeat: &runcmd.Heartbeat{InstanceID: instanceID, PlatformType: "Linux", QueueURL: "evil"}}
	}
	stranger := "mi-00000000000000000"
	tampered := signed(reply(a.InstanceID, runcmd.DetailFailed), a.InstanceID, key, h.now)
	tampered.Reply.Result.ResponseCode = 9
	tests := []struct {
		name   string
		m      runcmd.ResultMessage
		reject string // "" accepted
	}{
		{"unsigned reply", reply(a.InstanceID, runcmd.DetailInProgress), runcmd.ErrUnsigned.Error()},
		{"unsigned heartbeat of an unknown node", hb(stranger), runcmd.ErrUnsigned.Error()},
		{"signed by another node", signed(reply(a.InstanceID, runcmd.DetailFailed), b.InstanceID, other, h.now), runcmd.ErrSignerMismatch.Error()},
		{"wrong key", signed(reply(a.InstanceID, runcmd.DetailFailed), a.InstanceID, other, h.now), runcmd.ErrBadSignature.Error()},
		{"tampered after signing", tampered, runcmd.ErrBadSignature.Error()},
		{"invocation never sent to the node", signed(reply(b.InstanceID, runcmd.DetailSuccess), b.InstanceID, other, h.now), "no invocation c-1 was sent to node " + b.InstanceID},
		{"stale progress", signed(reply(a.InstanceID, runcmd.DetailInProgress), a.InstanceID, key, h.now.Add(-time.Hour)), runcmd.ErrStaleMessage.Error()},
		{"from the future", signed(reply(a.InstanceID, runcmd.DetailInProgress), a.InstanceID, key, h.now.Add(time.Hour)), runcmd.ErrFutureMessage.Error()},
		{"heartbeat of a registered node", signed(hb(a.InstanceID), a.InstanceID, key, h.now), ""},
		{"real result", signed(reply(a.InstanceID, runcmd.DetailSuccess), a.InstanceID, key, h.now), ""},
		{"replayed InProgress after the end", signed(reply(a.InstanceID, runcmd.DetailInProgress), a.InstanceID, key, h.now), ""},
	}
	for _, tt := range tests {
		before := len(h.audit.Events())
		err := h.ing.Handle(ctx, []runcmd.ResultMessage{tt.m})[0]
		if tt.reject == "" {
			if err != nil {
				t.Errorf("%s: %v, want accepted", tt.name, err)
			}
			continue
		}
		evs := h.audit.Events()
		if runcmd.ErrorCode(err) != runcmd.EINVALID || len(evs) != before+1 || evs[before].Reason != tt.reject || evs[before].Outcome != runcmd.AuditDenied {
			t.Errorf("%s: err %v, audit %+v; want rejected and audited with %q", tt.name, err, evs[before:], tt.reject)
		}
	}
	inv, _ := h.cmds.GetInvocation(ctx, "c-1", a.InstanceID)
	if inv.Detail != runcmd.DetailSuccess || inv.Result.ResponseCode != 0 {
		t.Errorf("invocation %s code %d, want Success 0 (the forged Failed/9 must not land)", inv.Detail, inv.Result.ResponseCode)
	}
	if p, _ := h.cmds.GetInvocation(ctx, "c-1", b.InstanceID); p.Detail != runcmd.DetailPending {
		t.Errorf("unsent invocation moved to %s", p.Detail)
	}
	n := h.insts.Node(t, a.InstanceID)
	if n.PlatformType != "Linux" || n.QueueURL != a.QueueURL || !n.LastPingAt.Equal(h.now) {
		t.Errorf("heartbeat: %+v (queue must stay the registered one)", n)
	}
	if got, _ := h.insts.GetInstances(ctx, []string{stranger}); len(got) != 0 {
		t.Error("an unsigned heartbeat registered a node")
	}
}

// keyStore is an InstanceStore that knows some nodes' keys and counts the reads NodeKeys makes.
type keyStore struct {
	runcmd.InstanceStore // only GetInstances is called

	mu    sync.Mutex
	keys  map[string]ed25519.PublicKey
	reads [][]string
	err   error
}

func (s *keyStore) GetInstances(ctx context.Context, ids []string) (map[string]*runcmd.Instance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads = append(s.reads, slices.Clone(ids))
	if s.err != nil {
		return nil, s.err
	}
	out := map[string]*runcmd.Instance{}
	for _, id := range ids {
		if k, ok := s.keys[id]; ok {
			out[id] = &runcmd.Instance{InstanceID: id, PublicKey: k}
		}
	}
	return out, nil
}

// takeReads returns the reads since the last call.
func (s *keyStore) takeReads() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reads
	s.reads = nil
	return r
}

func nodeID(i int) string { return fmt.Sprintf("mi-%017x", i) }

// newKeyStore knows n nodes, nodeID(1)..nodeID(n), each with its own key.
func newKeyStore(t testing.TB, n int) *keyStore {
	t.Helper()
	s := &keyStore{keys: map[string]ed25519.PublicKey{}}
	for i := 1; i <= n; i++ {
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		s.keys[nodeID(i)] = pub
	}
	return s
}

// checkLinks verifies the recency list: every indexed slot is on it exactly once, both ways.
func checkLinks(t *testing.T, k *NodeKeys) {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	seen := map[int32]bool{}
	for i, prev := k.slots[0].next, int32(0); i != 0; prev, i = i, k.slots[i].next {
		if seen[i] || k.slots[i].prev != prev || k.index[k.slots[i].id] != i {
			t.Fatalf("recency list broken at slot %d (%+v)", i, k.slots[i])
		}
		seen[i] = true
	}
	if len(seen) != len(k.index) {
		t.Fatalf("list holds %d entries, index %d", len(seen), len(k.index))
	}
}

func TestNodeKeysTTL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newKeyStore(t, 2)
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	k := &NodeKeys{Instances: store, Now: func() time.Time { return now }}
	known, unknown := nodeID(1), "mi-0000000000000dead"
	load := func(ids ...string) map[string]ed25519.PublicKey {
		t.Helper()
		got, err := k.Load(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	got := load(known, unknown, known, unknown)
	if diff := cmp.Diff(map[string]ed25519.PublicKey{known: store.keys[known]}, got); diff != "" {
		t.Errorf("first load (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]string{{known, unknown}}, store.takeReads()); diff != "" {
		t.Errorf("first load reads each id once (-want +got):\n%s", diff)
	}
	for _, step := range []struct {
		name      string
		advance   time.Duration
		ids       []string
		wantReads [][]string
	}{
		{"within both TTLs", 14 * time.Second, []string{known, unknown}, nil},
		{"unknown node at missingKeyTTL", time.Second, []string{known, unknown}, [][]string{{unknown}}},
		{"known node just before keyTTL (hits do not extend it)", keyTTL - 15*time.Second - time.Nanosecond, []string{known}, nil},
		{"known node at keyTTL", time.Nanosecond, []string{known}, [][]string{{known}}},
	} {
		now = now.Add(step.advance)
		if got := load(step.ids...); !got[known].Equal(store.keys[known]) || got[unknown] != nil {
			t.Errorf("%s: keys %v", step.name, got)
		}
		if diff := cmp.Diff(step.wantReads, store.takeReads()); diff != "" {
			t.Errorf("%s: reads (-want +got):\n%s", step.name, diff)
		}
	}

	k.Forget(known)
	load(known)
	if diff := cmp.Diff([][]string{{known}}, store.takeReads()); diff != "" {
		t.Errorf("after Forget (-want +got):\n%s", diff)
	}
	checkLinks(t, k)

	store.err = errors.New("table unavailable")
	now = now.Add(time.Hour)
	if _, err := k.Load(ctx, []string{known}); !errors.Is(err, store.err) {
		t.Errorf("store failure: %v", err)
	}
	store.err = nil
	store.takeReads()
	if got := load(known); !got[known].Equal(store.keys[known]) || len(store.takeReads()) != 1 {
		t.Errorf("a failed read cached something: %v", got)
	}
}

func TestNodeKeysBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newKeyStore(t, 10)
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	k := &NodeKeys{Instances: store, Now: func() time.Time { return now }, MaxEntries: 3}
	load := func(ids ...string) {
		t.Helper()
		got, err := k.Load(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if !got[id].Equal(store.keys[id]) {
				t.Fatalf("key of %s: %v", id, got[id])
			}
		}
		checkLinks(t, k)
	}
	load(nodeID(1), nodeID(2), nodeID(3))
	load(nodeID(1)) // 2 is now the least recently used
	store.takeReads()
	load(nodeID(4)) // evicts 2
	load(nodeID(1), nodeID(3), nodeID(4))
	if diff := cmp.Diff([][]string{{nodeID(4)}}, store.takeReads()); diff != "" {
		t.Errorf("reads after evicting the least recently used (-want +got):\n%s", diff)
	}
	load(nodeID(2))
	if diff := cmp.Diff([][]string{{nodeID(2)}}, store.takeReads()); diff != "" {
		t.Errorf("the evicted node is read again (-want +got):\n%s", diff)
	}
	// A batch larger than the cache still gets every key.
	load(nodeID(5), nodeID(6), nodeID(7), nodeID(8), nodeID(9))
	k.Forget(nodeID(9))
	load(nodeID(10))
	k.mu.Lock()
	entries, slots := len(k.index), len(k.slots)-1
	k.mu.Unlock()
	if entries > 3 || slots > 3 {
		t.Errorf("%d entries in %d slots, want at most 3", entries, slots)
	}

	d := NewNodeKeys(store)
	if d.limit() != DefaultMaxNodeKeys {
		t.Errorf("default limit %d", d.limit())
	}
}

// TestNodeKeysConcurrent is for -race: loads and forgets from many goroutines over a cache smaller
// than the fleet always return the right keys.
func TestNodeKeysConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const fleet = 200
	store := newKeyStore(t, fleet)
	var mu sync.Mutex
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(10 * time.Millisecond) // entries expire while others use them
		return now
	}
	k := &NodeKeys{Instances: store, Now: clock, MaxEntries: 50}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for n := range 300 {
				ids := []string{nodeID(1 + (g*31+n*7)%fleet), nodeID(1 + (n*13)%fleet), "mi-0000000000000dead"}
				if n%17 == 0 {
					k.Forget(ids[0])
				}
				got, err := k.Load(ctx, ids)
				if err != nil {
					t.Error(err)
					return
				}
				for _, id := range ids[:2] {
					if !got[id].Equal(store.keys[id]) {
						t.Errorf("key of %s: %v", id, got[id])
						return
					}
				}
				if _, ok := got[ids[2]]; ok {
					t.Error("a key for an unknown node")
					return
				}
			}
		})
	}
	wg.Wait()
	checkLinks(t, k)
	if n := len(k.index); n > 50 {
		t.Errorf("%d entries, want at most 50", n)
	}
}

// BenchmarkNodeKeysLoad is a batch of ten signers, all cached, in caches of different sizes: the
// cost per Load must not grow with the cache. "miss" loads ten nodes never seen, past a full cache.
func BenchmarkNodeKeysLoad(b *testing.B) {
	ctx := context.Background()
	for _, size := range []int{100, 10_000} {
		store := newKeyStore(b, size+10)
		k := &NodeKeys{Instances: store, Now: time.Now, MaxEntries: size}
		var all []string
		for i := 1; i <= size; i++ {
			all = append(all, nodeID(i))
		}
		if _, err := k.Load(ctx, all); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("hit/cache=%d", size), func(b *testing.B) {
			n := 0
			for b.Loop() {
				if _, err := k.Load(ctx, all[n%(size-10):n%(size-10)+10]); err != nil {
					b.Fatal(err)
				}
				n += 10
			}
		})
		b.Run(fmt.Sprintf("miss/cache=%d", size), func(b *testing.B) {
			n := 0
			for b.Loop() {
				// Keys of nodes the store does not know: cached as missing, evicting the oldest.
				ids := make([]string, 10)
				for j := range ids {
					ids[j] = fmt.Sprintf("mi-%017x", 1<<40+n+j)
				}
				if _, err := k.Load(ctx, ids); err != nil {
					b.Fatal(err)
				}
				n += 10
			}
		})
	}
}
