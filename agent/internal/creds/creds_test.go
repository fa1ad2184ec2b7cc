package creds_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/agent/internal/apiclient"
	"github.com/runcmd/runcmd/agent/internal/creds"
	"github.com/runcmd/runcmd/internal/fake"
	"github.com/runcmd/runcmd/internal/service"
	"github.com/runcmd/runcmd/internal/ssmapi"
)

// issuer hands out numbered credentials that last lifetime.
type issuer struct {
	mu       sync.Mutex
	n        int
	lifetime time.Duration
}

func (i *issuer) IssueNodeCredentials(ctx context.Context, id string, _ time.Duration) (runcmd.NodeCredentials, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.n++
	return runcmd.NodeCredentials{AccessKeyID: "ASIA" + string(rune('0'+i.n)), SecretAccessKey: "s", SessionToken: "t",
		Expiration: time.Now().Add(i.lifetime).Truncate(time.Millisecond)}, nil
}

func (i *issuer) count() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.n
}

// api is the real api handler over fakes with one registered node; it returns the node's id and key.
func api(t *testing.T, iss runcmd.NodeCredentialIssuer) (endpoint, id string, key ed25519.PrivateKey) {
	t.Helper()
	insts := fake.NewInstanceStore()
	reg := service.NewRegistry(fake.NewActivationStore(), insts, insts, fake.NewNodeQueue(), fake.NewAuditStore(), "results")
	if iss != nil {
		reg.Credentials, reg.Ledger = iss, fake.NewCredentialLedger(insts)
	}
	a := service.NewAPI(fake.NewCommandStore(), insts, fake.NewDispatchQueue(), nil)
	a.Registry = reg
	srv := httptest.NewServer(ssmapi.NewHandler(a, nil))
	t.Cleanup(srv.Close)

	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	limit := 1
	act, err := reg.CreateActivation(t.Context(), service.CreateActivationInput{IamRole: "r", RegistrationLimit: &limit})
	if err != nil {
		t.Fatal(err)
	}
	out, err := reg.RegisterManagedInstance(t.Context(), service.RegisterManagedInstanceInput{ActivationCode: act.ActivationCode,
		ActivationID: act.ActivationID, PublicKey: base64.StdEncoding.EncodeToString(pub), PublicKeyType: runcmd.PublicKeyTypeEd25519,
		Fingerprint: "f"})
	if err != nil {
		t.Fatal(err)
	}
	return srv.URL, out.InstanceID, key
}

func TestRetrieve(t *testing.T) {
	t.Parallel()
	iss := &issuer{lifetime: time.Hour}
	endpoint, id, key := api(t, iss)
	got, err := creds.New(endpoint, id, key, nil).Retrieve(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got.AccessKeyID != "ASIA1" || got.SecretAccessKey != "s" || got.SessionToken != "t" || !got.CanExpire ||
		got.Source != creds.Source || time.Until(got.Expires) < 59*time.Minute {
		t.Errorf("credentials %+v", got)
	}

	// Another node's key, or a clock far off, gets nothing.
	_, other, _ := ed25519.GenerateKey(nil)
	if _, err := creds.New(endpoint, id, other, nil).Retrieve(t.Context()); !apiclient.IsType(err, "AccessDeniedException") {
		t.Errorf("wrong key: %v, want AccessDeniedException", err)
	}
	late := func() time.Time { return time.Now().Add(-time.Hour) }
	if _, err := creds.New(endpoint, id, key, late).Retrieve(t.Context()); !apiclient.IsType(err, "AccessDeniedException") {
		t.Errorf("stale clock: %v, want AccessDeniedException", err)
	}
}

func TestRetrieveWithoutNodeRole(t *testing.T) {
	t.Parallel()
	endpoint, id, key := api(t, nil)
	if _, err := creds.New(endpoint, id, key, nil).Retrieve(t.Context()); !apiclient.IsType(err, "UnsupportedOperationException") {
		t.Errorf("no node role: %v, want UnsupportedOperationException", err)
	}
}

// TestCacheRefreshesBeforeExpiry: the cache keeps credentials that have long to live and fetches new
// ones once the old are within ExpiryWindow of expiring, before they stop working.
func TestCacheRefreshesBeforeExpiry(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		lifetime  time.Duration
		wantCalls int
	}{
		{"fresh credentials are reused", time.Hour, 1},
		{"credentials about to expire are replaced", creds.ExpiryWindow / 3, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			iss := &issuer{lifetime: tt.lifetime}
			endpoint, id, key := api(t, iss)
			// A clock a millisecond ahead at each reading: every request is signed later than the last.
			var mu sync.Mutex
			tick := time.Now()
			now := func() time.Time {
				mu.Lock()
				defer mu.Unlock()
				tick = tick.Add(time.Millisecond)
				return tick
			}
			cache := creds.NewCache(creds.New(endpoint, id, key, now))
			seen := map[string]bool{}
			for range 3 {
				c, err := cache.Retrieve(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				seen[c.AccessKeyID] = true
			}
			if len(seen) != tt.wantCalls {
				t.Errorf("cache handed out %d different keys, want %d", len(seen), tt.wantCalls)
			}
			if got := iss.count(); got != tt.wantCalls {
				t.Errorf("%d credentials requests, want %d", got, tt.wantCalls)
			}
		})
	}
}
