package fake_test

import (
	"testing"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/fake"
	"github.com/runcmd/runcmd/internal/storetest"
)

func TestCommandStore(t *testing.T) {
	t.Parallel()
	storetest.TestCommandStore(t, func(t *testing.T) runcmd.CommandStore { return fake.NewCommandStore() })
}

func TestInstanceStore(t *testing.T) {
	t.Parallel()
	storetest.TestInstanceStore(t, func(t *testing.T) runcmd.InstanceStore { return fake.NewInstanceStore() })
}
