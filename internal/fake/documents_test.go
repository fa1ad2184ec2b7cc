package fake_test

import (
	"testing"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/fake"
	"github.com/runcmd/runcmd/internal/storetest"
)

func TestDocumentStore(t *testing.T) {
	t.Parallel()
	storetest.TestDocumentStore(t, func(t *testing.T) runcmd.DocumentStore { return fake.NewDocumentStore() })
}

func TestDocumentStoreLimits(t *testing.T) {
	t.Parallel()
	storetest.TestDocumentStoreLimits(t, func(t *testing.T) runcmd.DocumentStore { return fake.NewDocumentStore() })
}
