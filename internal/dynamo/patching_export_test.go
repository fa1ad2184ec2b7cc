package dynamo

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// CreatePatchingTables creates only the patch baselines and compliance tables, so their tests do not
// make the emulator hold every table.
func CreatePatchingTables(ctx context.Context, client *dynamodb.Client, baselines, compliance string) error {
	for _, in := range patchingTableSpecs(baselines, compliance) {
		if err := createTable(ctx, client, in); err != nil {
			return err
		}
	}
	return nil
}
