package fake_test

import (
	"testing"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/fake"
	"github.com/runcmd/runcmd/internal/storetest"
)

func TestActivationStore(t *testing.T) {
	t.Parallel()
	storetest.TestActivationStore(t, func(t *testing.T) runcmd.ActivationStore { return fake.NewActivationStore() })
}

func TestCredentialLedger(t *testing.T) {
	t.Parallel()
	storetest.TestCredentialLedger(t, func(t *testing.T) (runcmd.NodeRegistry, runcmd.CredentialRequestLedger) {
		insts := fake.NewInstanceStore()
		return insts, fake.NewCredentialLedger(insts)
	})
}
