package fake_test

import (
	"testing"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/fake"
	"github.com/runcmd/runcmd/internal/storetest"
)

func TestPatchBaselineStore(t *testing.T) {
	t.Parallel()
	storetest.TestPatchBaselineStore(t, func(t *testing.T) runcmd.PatchBaselineStore { return fake.NewPatchBaselineStore() })
}

func TestComplianceStore(t *testing.T) {
	t.Parallel()
	storetest.TestComplianceStore(t, func(t *testing.T) runcmd.ComplianceStore { return fake.NewComplianceStore() })
}
