package service

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/fake"
)

// fakeIssuer records the nodes it issued credentials for.
type fakeIssuer struct {
	mu    sync.Mutex
	calls []string
	err   error
	now   func() time.Time
}

func (f *fakeIssuer) IssueNodeCredentials(ctx context.Context, id string, lifetime time.Duration) (runcmd.NodeCredentials, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return runcmd.NodeCredentials{}, f.err
	}
	if lifetime != runcmd.NodeCredentialsLifetime {
		return runcmd.NodeCredentials{}, errors.New("unexpected lifetime")
	}
	f.calls = append(f.calls, id)
	return runcmd.NodeCredentials{AccessKeyID: "ASIA" + id, SecretAccessKey: "secret-" + id, SessionToken: "token-" + id,
		Expiration: f.now().Add(lifetime)}, nil
}

func credsRequest(key ed25519.PrivateKey, id string, at time.Time) GetManagedInstanceCredentialsInput {
	return GetManagedInstanceCredentialsInput{InstanceID: id, SignedAt: at, Signature: ed25519.Sign(key, runcmd.CredentialsProof(id, at))}
}

func TestGetManagedInstanceCredentials(t *testing.T) {
	t.Parallel()
	h := newTrustHarness(t)
	ctx := context.Background()
	issuer := &fakeIssuer{now: func() time.Time { return h.now }}
	h.reg.Credentials, h.reg.Ledger = issuer, fake.NewCredentialLedger(h.insts)
	act := h.activation(t, 3)
	key, otherKey := newKey(t), newKey(t)
	node, err := h.register(act, key)
	if err != nil {
		t.Fatal(err)
	}
	other, err := h.register(act, otherKey)
	if err != nil {
		t.Fatal(err)
	}
	gone, err := h.register(act, newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.reg.DeregisterManagedInstance(ctx, gone.InstanceID); err != nil {
		t.Fatal(err)
	}
	id, now := node.InstanceID, h.now
	first := credsRequest(key, id, now)

	tests := []struct {
		name     string
		in       GetManagedInstanceCredentialsInput
		wantName string // "" for success
	}{
		{"signed by the node's key", first, ""},
		{"the same request again", first, "AccessDeniedException"},
		{"signed earlier than one served", credsRequest(key, id, now.Add(-time.Second)), "AccessDeniedException"},
		{"signed anew", credsRequest(key, id, now.Add(time.Millisecond)), ""},
		{"signed by another node's key", credsRequest(otherKey, id, now.Add(time.Second)), "AccessDeniedException"},
		{"another node's signature", credsRequest(otherKey, other.InstanceID, now.Add(time.Second)), ""},
		{"proof for another id", func() GetManagedInstanceCredentialsInput {
			in := credsRequest(key, other.InstanceID, now.Add(2*time.Second))
			in.InstanceID = id
			return in
		}(), "AccessDeniedException"},
		{"a registration proof", GetManagedInstanceCredentialsInput{InstanceID: id, SignedAt: now.Add(3 * time.Second),
			Signature: ed25519.Sign(key, runcmd.RegistrationProof(act.ActivationID, id, pubB64(key), now.Add(3*time.Second)))}, "AccessDeniedException"},
		{"unsigned", GetManagedInstanceCredentialsInput{InstanceID: id, SignedAt: now.Add(4 * time.Second)}, "AccessDeniedException"},
		{"stale", credsRequest(key, id, now.Add(-runcmd.MaxClockSkew-time.Second)), "AccessDeniedException"},
		{"from the future", credsRequest(key, id, now.Add(runcmd.MaxClockSkew+time.Second)), "AccessDeniedException"},
		{"deregistered node", credsRequest(key, gone.InstanceID, now.Add(5*time.Second)), "InvalidInstanceId"},
		{"unknown node", credsRequest(key, "mi-0123456789abcdef0", now.Add(5*time.Second)), "InvalidInstanceId"},
	}
	var wantIssued []string
	for _, tt := range tests {
		got, err := h.reg.GetManagedInstanceCredentials(ctx, tt.in)
		if tt.wantName == "" {
			wantIssued = append(wantIssued, tt.in.InstanceID)
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			} else if got.AccessKeyID != "ASIA"+tt.in.InstanceID || !got.Expiration.Equal(now.Add(time.Hour)) {
				t.Errorf("%s: credentials %+v", tt.name, got)
			}
			continue
		}
		if runcmd.ErrorName(err) != tt.wantName || got != (runcmd.NodeCredentials{}) {
			t.Errorf("%s: %+v, %v; want %s and no credentials", tt.name, got, err, tt.wantName)
		}
	}
	if diff := cmp.Diff(wantIssued, issuer.calls); diff != "" {
		t.Errorf("credentials issued for (-want +got):\n%s", diff)
	}

	var allowed, denied int
	for _, e := range h.audit.Events() {
		if e.Action != "GetManagedInstanceCredentials" {
			continue
		}
		if strings.Contains(e.Reason, "secret-") || strings.Contains(e.Reason, "token-") || strings.Contains(e.Reason, "ASIA") {
			t.Errorf("audit holds credentials: %+v", e)
		}
		switch e.Outcome {
		case runcmd.AuditAllowed:
			allowed++
		case runcmd.AuditDenied:
			denied++
		}
	}
	if allowed != len(wantIssued) || denied != len(tests)-len(wantIssued) {
		t.Errorf("audited %d allowed and %d denied, want %d and %d", allowed, denied, len(wantIssued), len(tests)-len(wantIssued))
	}

	// An issuer failure is an internal error; the request's signature is spent all the same, and the
	// node signs its next try anew, as it always does.
	issuer.err = errors.New("sts unavailable")
	if _, err := h.reg.GetManagedInstanceCredentials(ctx, credsRequest(key, id, now.Add(time.Minute))); runcmd.ErrorCode(err) != runcmd.EINTERNAL {
		t.Errorf("issuer failure: %v, want an internal error", err)
	}
}

func TestGetManagedInstanceCredentialsWithoutNodeRole(t *testing.T) {
	t.Parallel()
	h := newTrustHarness(t)
	key := newKey(t)
	node, err := h.register(h.activation(t, 1), key)
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.reg.GetManagedInstanceCredentials(context.Background(), credsRequest(key, node.InstanceID, h.now))
	if runcmd.ErrorName(err) != "UnsupportedOperationException" || !strings.Contains(runcmd.ErrorMessage(err), "RUNCMD_NODE_ROLE_ARN") {
		t.Errorf("no node role: %v, want UnsupportedOperationException naming RUNCMD_NODE_ROLE_ARN", err)
	}
	// Without a Registry at all, the API refuses the same way as for registrations.
	_, err = (&API{}).GetManagedInstanceCredentials(context.Background(), credsRequest(key, node.InstanceID, h.now))
	if runcmd.ErrorName(err) != "UnsupportedOperationException" {
		t.Errorf("no registry: %v", err)
	}
}
