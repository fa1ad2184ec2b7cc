package dynamo_test

import (
	"testing"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/awstest"
	"github.com/runcmd/runcmd/internal/dynamo"
	"github.com/runcmd/runcmd/internal/storetest"
)

func TestActivationStore(t *testing.T) {
	t.Parallel()
	cfg := awstest.Config(t)
	storetest.TestActivationStore(t, func(t *testing.T) runcmd.ActivationStore {
		client, res := tables(t, cfg)
		return dynamo.NewActivationStore(client, res.ActivationsTable)
	})
}

func TestCredentialLedger(t *testing.T) {
	t.Parallel()
	cfg := awstest.Config(t)
	storetest.TestCredentialLedger(t, func(t *testing.T) (runcmd.NodeRegistry, runcmd.CredentialRequestLedger) {
		client, res := tables(t, cfg)
		s := dynamo.NewInstanceStore(client, res.InstancesTable, res.TagsTable)
		return s, s
	})
}
