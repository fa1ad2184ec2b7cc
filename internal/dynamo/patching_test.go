package dynamo_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/awstest"
	"github.com/runcmd/runcmd/internal/dynamo"
	"github.com/runcmd/runcmd/internal/storetest"
)

// patchingTables creates the two patching tables once for a test (the suites' subtests share them and
// use keys of their own) and deletes them afterwards.
func patchingTables(t *testing.T) (*dynamodb.Client, string, string) {
	t.Helper()
	cfg := awstest.Config(t).Copy()
	cfg.HTTPClient = &serialClient{next: awshttp.NewBuildableClient()}
	client := dynamodb.NewFromConfig(cfg)
	prefix := awstest.Name("p")
	baselines, compliance := prefix+"-patchbaselines", prefix+"-compliance"
	t.Cleanup(func() {
		for _, name := range []string{baselines, compliance} {
			_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
		}
	})
	if err := dynamo.CreatePatchingTables(t.Context(), client, baselines, compliance); err != nil {
		t.Fatal(err)
	}
	return client, baselines, compliance
}

func TestPatchBaselineStore(t *testing.T) {
	t.Parallel()
	client, baselines, _ := patchingTables(t)
	s := dynamo.NewPatchBaselineStore(client, baselines)
	storetest.TestPatchBaselineStore(t, func(t *testing.T) runcmd.PatchBaselineStore { return s })
}

func TestComplianceStore(t *testing.T) {
	t.Parallel()
	client, _, compliance := patchingTables(t)
	s := dynamo.NewComplianceStore(client, compliance)
	storetest.TestComplianceStore(t, func(t *testing.T) runcmd.ComplianceStore { return s })
}

// Removing a baseline's last tag (RemoveTagsFromResource writes the baseline back without tags)
// removes the attribute instead of leaving the old tags in place.
func TestPatchBaselineStoreDropsLastTag(t *testing.T) {
	t.Parallel()
	client, baselines, _ := patchingTables(t)
	s := dynamo.NewPatchBaselineStore(client, baselines)
	ctx := t.Context()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	b := &runcmd.PatchBaseline{BaselineID: "pb-0123456789abcdef0", Name: "tagged", OperatingSystem: "UBUNTU", Body: []byte(`{}`),
		CreatedDate: now, ModifiedDate: now, Tags: map[string]string{"team": "web"}}
	if err := s.CreateBaseline(ctx, b); err != nil {
		t.Fatal(err)
	}
	b.Tags = nil
	if err := s.UpdateBaseline(ctx, b); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetBaseline(ctx, b.BaselineID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Tags) != 0 || got.Name != "tagged" || !got.ModifiedDate.Equal(now) {
		t.Errorf("after dropping the tags: %+v", got)
	}
}
