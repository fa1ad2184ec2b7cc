package storetest

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/runcmd/runcmd"
)

// TestActivationStore runs the activation counter's conformance tests: ClaimRegistration and
// ReleaseRegistration keep RegistrationsCount between zero and the limit, under races too.
func TestActivationStore(t *testing.T, newStore func(t *testing.T) runcmd.ActivationStore) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, runcmd.ActivationStore)
	}{
		{"ClaimAndRelease", testClaimAndRelease},
		{"ConcurrentClaimRelease", testConcurrentClaimRelease},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

func newActivation(t *testing.T, s runcmd.ActivationStore, id string, limit int) {
	t.Helper()
	must(t, s.CreateActivation(t.Context(), &runcmd.Activation{ActivationID: id, CodeHash: "h", IamRole: "role",
		RegistrationLimit: limit, ExpirationDate: base.Add(time.Hour), CreatedDate: base}))
}

func registrationsCount(t *testing.T, s runcmd.ActivationStore, id string) int {
	t.Helper()
	a, err := s.GetActivation(t.Context(), id)
	must(t, err)
	return a.RegistrationsCount
}

func testClaimAndRelease(t *testing.T, s runcmd.ActivationStore) {
	ctx := t.Context()
	const id = "11111111-2222-4333-8444-555555555555"
	newActivation(t, s, id, 2)
	_, err := s.ClaimRegistration(ctx, id, base)
	must(t, err)
	a, err := s.ClaimRegistration(ctx, id, base)
	must(t, err)
	if a.RegistrationsCount != 2 {
		t.Errorf("count after two claims = %d, want 2", a.RegistrationsCount)
	}
	_, err = s.ClaimRegistration(ctx, id, base)
	wantCode(t, err, runcmd.ELIMIT, "InvalidActivation")

	// A released slot can be claimed again; the count never goes below zero.
	must(t, s.ReleaseRegistration(ctx, id))
	if n := registrationsCount(t, s, id); n != 1 {
		t.Errorf("count after a release = %d, want 1", n)
	}
	_, err = s.ClaimRegistration(ctx, id, base)
	must(t, err)
	must(t, s.ReleaseRegistration(ctx, id))
	must(t, s.ReleaseRegistration(ctx, id))
	wantCode(t, s.ReleaseRegistration(ctx, id), runcmd.ECONFLICT, "")
	if n := registrationsCount(t, s, id); n != 0 {
		t.Errorf("count after releasing everything = %d, want 0", n)
	}

	// An expired activation claims nothing but still takes back a slot.
	_, err = s.ClaimRegistration(ctx, id, base)
	must(t, err)
	_, err = s.ClaimRegistration(ctx, id, base.Add(time.Hour))
	wantCode(t, err, runcmd.EINVALID, "InvalidActivation")
	must(t, s.ReleaseRegistration(ctx, id))

	wantCode(t, s.ReleaseRegistration(ctx, "99999999-2222-4333-8444-555555555555"), runcmd.ENOTFOUND, "InvalidActivationId")
	must(t, s.DeleteActivation(ctx, id))
	wantCode(t, s.ReleaseRegistration(ctx, id), runcmd.ENOTFOUND, "InvalidActivationId")
}

// testConcurrentClaimRelease races registrations that each claim a slot and give half of them back, as
// failed registrations do: exactly the limit is ever held, and the count ends at the slots kept.
func testConcurrentClaimRelease(t *testing.T, s runcmd.ActivationStore) {
	ctx := context.WithoutCancel(t.Context())
	const id = "11111111-2222-4333-8444-666666666666"
	const limit, n = 4, 12
	newActivation(t, s, id, limit)
	type outcome struct {
		claimed, kept bool
		err           error
	}
	results := make(chan outcome, n)
	for i := range n {
		go func() {
			_, err := s.ClaimRegistration(ctx, id, base)
			switch {
			case runcmd.ErrorCode(err) == runcmd.ELIMIT:
				results <- outcome{}
			case err != nil:
				results <- outcome{err: err}
			case i%2 == 0:
				results <- outcome{claimed: true, err: s.ReleaseRegistration(ctx, id)}
			default:
				results <- outcome{claimed: true, kept: true}
			}
		}()
	}
	kept := 0
	for range n {
		r := <-results
		if r.err != nil {
			t.Errorf("claim or release: %v", r.err)
		}
		if r.kept {
			kept++
		}
	}
	if got := registrationsCount(t, s, id); got != kept {
		t.Errorf("count = %d, want the %d slots kept", got, kept)
	}
	if kept > limit {
		t.Errorf("%d registrations kept, limit %d", kept, limit)
	}
}

// TestCredentialLedger runs the credentials ledger's conformance tests. newStores returns a node store
// and the ledger over the same nodes.
func TestCredentialLedger(t *testing.T, newStores func(t *testing.T) (runcmd.NodeRegistry, runcmd.CredentialRequestLedger)) {
	t.Run("AcceptOnce", func(t *testing.T) {
		t.Parallel()
		nodes, ledger := newStores(t)
		testAcceptOnce(t, nodes, ledger)
	})
}

func testAcceptOnce(t *testing.T, nodes runcmd.NodeRegistry, ledger runcmd.CredentialRequestLedger) {
	ctx := t.Context()
	const id = "mi-0123456789abcdef0"
	pub, _, err := ed25519.GenerateKey(nil)
	must(t, err)
	other, _, err := ed25519.GenerateKey(nil)
	must(t, err)
	wantCode(t, ledger.AcceptCredentialRequest(ctx, id, pub, base), runcmd.ENOTFOUND, "InvalidInstanceId")
	must(t, nodes.RegisterInstance(ctx, &runcmd.Instance{InstanceID: id, Name: "web", QueueURL: "q", RegisteredAt: base,
		ActivationID: "a", IamRole: "role", PublicKey: pub}))

	must(t, ledger.AcceptCredentialRequest(ctx, id, pub, base))
	wantCode(t, ledger.AcceptCredentialRequest(ctx, id, pub, base), runcmd.ECONFLICT, "")                       // a replay
	wantCode(t, ledger.AcceptCredentialRequest(ctx, id, pub, base.Add(-time.Nanosecond)), runcmd.ECONFLICT, "") // older
	must(t, ledger.AcceptCredentialRequest(ctx, id, pub, base.Add(time.Millisecond)))
	wantCode(t, ledger.AcceptCredentialRequest(ctx, id, other, base.Add(time.Second)), runcmd.ECONFLICT, "") // not its key

	// A re-registration with a new key keeps the ledger: requests signed with the new key go on from the
	// last accepted time.
	must(t, nodes.RegisterInstance(ctx, &runcmd.Instance{InstanceID: id, Name: "web", QueueURL: "q", RegisteredAt: base,
		ActivationID: "a", IamRole: "role", PublicKey: other}))
	wantCode(t, ledger.AcceptCredentialRequest(ctx, id, pub, base.Add(time.Minute)), runcmd.ECONFLICT, "")
	wantCode(t, ledger.AcceptCredentialRequest(ctx, id, other, base), runcmd.ECONFLICT, "")
	must(t, ledger.AcceptCredentialRequest(ctx, id, other, base.Add(time.Minute)))

	must(t, nodes.DeregisterInstance(ctx, id))
	wantCode(t, ledger.AcceptCredentialRequest(ctx, id, other, base.Add(time.Hour)), runcmd.ENOTFOUND, "InvalidInstanceId")
}
