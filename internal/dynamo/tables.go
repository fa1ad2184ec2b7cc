package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/runcmd/runcmd/internal/config"
)

// Attribute and index names. The tables:
//
//	commands     CommandId                 GSI ByRequested (ListPK, RequestedKey)     newest-first listing
//	                                       GSI ByDocument (DocumentName, RequestedKey) commands of a document
//	                                       GSI ByStatus (Detail, RequestedKey)         commands by detail
//	invocations  CommandId, InstanceId     LSI Pending (CommandId, PendingSeq), sparse dispatch order
//	                                       GSI ByInstance (InstanceId, RequestedKey)   a node's invocations
//	                                       GSI Open (OpenShard, ExpiresKey), sparse    open invocations by expiry
//	instances    InstanceId                GSI ById (ListPK, InstanceId)               all nodes in id order
//	tags         InstanceId, TagKey        GSI ByTag (TagKV, InstanceId)               nodes by tag value
//	                                       GSI ByTagKey (TagKey, InstanceId)           nodes by tag key
//	documents    Name, DocKey              GSI ByName (ListPK, Name), sparse           documents in name order
//	activations, audit                     see trust.go
//	patchbaselines, compliance             see patching.go
//
// RequestedKey and ExpiresKey start with a fixed-width UTC time, so they sort in time order; the ids
// after it make them unique. ByRequested and ById put every item under one constant partition (ListPK):
// fine for commands and nodes, whose write rates are low; invocations have no such index.
//
// Every write to an item is also a write to each index whose projection holds an attribute it changes,
// costing the size of the index entry. So the list indexes of commands and invocations are KEYS_ONLY
// (the lister reads the items with BatchGetItem): a command's counters change once per finished
// invocation and an invocation carries its result (up to hundreds of KB), and neither is then written
// again to an index. Pending holds an invocation only while it is Pending (PendingSeq is removed by the
// write that moves it on), and an invocation is never changed while it stays Pending, so its entry is
// written once and deleted once; it projects what an invocation holds while Pending (pendingProjection),
// which lets dispatch read a window in one strongly consistent query.
const (
	attrCommandID    = "CommandId"
	attrInstanceID   = "InstanceId"
	attrListPK       = "ListPK"
	attrRequestedKey = "RequestedKey"
	attrSeq          = "Seq"
	attrPendingSeq   = "PendingSeq" // Seq, present only while the invocation is Pending
	attrOpenShard    = "OpenShard"
	attrExpiresKey   = "ExpiresKey"
	attrTagKey       = "TagKey"
	attrTagKV        = "TagKV"
	attrTagValue     = "TagValue"
	attrExpireAt     = "ExpireAt" // TTL, epoch seconds

	indexByRequested = "ByRequested"
	indexByDocument  = "ByDocument"
	indexByStatus    = "ByStatus"
	indexPending     = "Pending"
	indexByInstance  = "ByInstance"
	indexOpen        = "Open"
	indexByID        = "ById"
	indexByTag       = "ByTag"
	indexByTagKey    = "ByTagKey"

	listPK    = "all"  // the constant partition of ByRequested and ById
	openShard = "open" // the constant partition of Open; present only while an invocation is open
)

// CreateTables creates the commands, invocations, instances, tags and documents tables named in res, if they do
// not exist, waits until they are active, and turns on TTL (attribute ExpireAt) for commands and
// invocations. It is idempotent. Tables are on-demand (PAY_PER_REQUEST).
func CreateTables(ctx context.Context, client *dynamodb.Client, res config.Resources) error {
	specs := append(tableSpecs(res), trustTableSpecs(res.ActivationsTable, res.AuditTable)...)
	specs = append(specs, patchingTableSpecs(res.PatchBaselinesTable, res.ComplianceTable)...)
	for _, in := range specs {
		if err := createTable(ctx, client, in); err != nil {
			return err
		}
	}
	for _, table := range []string{res.CommandsTable, res.InvocationsTable, res.PatchBaselinesTable} {
		if err := enableTTL(ctx, client, table); err != nil {
			return err
		}
	}
	return nil
}

func createTable(ctx context.Context, client *dynamodb.Client, in *dynamodb.CreateTableInput) error {
	table := aws.ToString(in.TableName)
	_, err := client.CreateTable(ctx, in)
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create table %s: %w", table, err)
	}
	w := dynamodb.NewTableExistsWaiter(client)
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: in.TableName}, 5*time.Minute); err != nil {
		return fmt.Errorf("wait for table %s: %w", table, err)
	}
	return nil
}

func enableTTL(ctx context.Context, client *dynamodb.Client, table string) error {
	out, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		return fmt.Errorf("describe ttl of %s: %w", table, err)
	}
	if d := out.TimeToLiveDescription; d != nil &&
		(d.TimeToLiveStatus == types.TimeToLiveStatusEnabled || d.TimeToLiveStatus == types.TimeToLiveStatusEnabling) {
		return nil
	}
	_, err = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(attrExpireAt),
			Enabled:       aws.Bool(true),
		},
	})
	if err != nil {
		return fmt.Errorf("enable ttl on %s: %w", table, err)
	}
	return nil
}

// pendingProjection is what the Pending index holds besides the keys: every attribute decodeInvocation
// reads, none of which changes while the invocation stays in the index (infra/runcmd.yaml lists the
// same, in this order).
var pendingProjection = []string{
	attrSeq, attrInstanceName, attrPlatformType, attrQueueURL, attrDocumentName, attrComment, attrRequestedAt,
	attrExpiresAt, attrExecTimeout, attrDetail, attrSent, attrUpdatedAt, attrResult, attrResultGz, attrNotify,
}

func tableSpecs(res config.Resources) []*dynamodb.CreateTableInput {
	attrs := func(names ...string) []types.AttributeDefinition {
		var out []types.AttributeDefinition
		for _, n := range names {
			t := types.ScalarAttributeTypeS
			if n == attrPendingSeq {
				t = types.ScalarAttributeTypeN
			}
			out = append(out, types.AttributeDefinition{AttributeName: aws.String(n), AttributeType: t})
		}
		return out
	}
	keys := func(hash, rng string) []types.KeySchemaElement {
		out := []types.KeySchemaElement{{AttributeName: aws.String(hash), KeyType: types.KeyTypeHash}}
		if rng != "" {
			out = append(out, types.KeySchemaElement{AttributeName: aws.String(rng), KeyType: types.KeyTypeRange})
		}
		return out
	}
	gsi := func(name, hash, rng string, p types.ProjectionType) types.GlobalSecondaryIndex {
		return types.GlobalSecondaryIndex{IndexName: aws.String(name), KeySchema: keys(hash, rng),
			Projection: &types.Projection{ProjectionType: p}}
	}
	return []*dynamodb.CreateTableInput{
		{
			TableName:            aws.String(res.CommandsTable),
			BillingMode:          types.BillingModePayPerRequest,
			AttributeDefinitions: attrs(attrCommandID, attrListPK, attrRequestedKey, attrDocumentName, attrDetail),
			KeySchema:            keys(attrCommandID, ""),
			GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
				gsi(indexByRequested, attrListPK, attrRequestedKey, types.ProjectionTypeKeysOnly),
				gsi(indexByDocument, attrDocumentName, attrRequestedKey, types.ProjectionTypeKeysOnly),
				gsi(indexByStatus, attrDetail, attrRequestedKey, types.ProjectionTypeKeysOnly),
			},
		},
		{
			TableName:            aws.String(res.InvocationsTable),
			BillingMode:          types.BillingModePayPerRequest,
			AttributeDefinitions: attrs(attrCommandID, attrInstanceID, attrPendingSeq, attrRequestedKey, attrOpenShard, attrExpiresKey),
			KeySchema:            keys(attrCommandID, attrInstanceID),
			LocalSecondaryIndexes: []types.LocalSecondaryIndex{{
				IndexName: aws.String(indexPending),
				KeySchema: keys(attrCommandID, attrPendingSeq),
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeInclude,
					NonKeyAttributes: pendingProjection},
			}},
			GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
				gsi(indexByInstance, attrInstanceID, attrRequestedKey, types.ProjectionTypeKeysOnly),
				gsi(indexOpen, attrOpenShard, attrExpiresKey, types.ProjectionTypeKeysOnly),
			},
		},
		{
			TableName:            aws.String(res.InstancesTable),
			BillingMode:          types.BillingModePayPerRequest,
			AttributeDefinitions: attrs(attrInstanceID, attrListPK),
			KeySchema:            keys(attrInstanceID, ""),
			GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
				gsi(indexByID, attrListPK, attrInstanceID, types.ProjectionTypeAll),
			},
		},
		{
			TableName:            aws.String(res.TagsTable),
			BillingMode:          types.BillingModePayPerRequest,
			AttributeDefinitions: attrs(attrInstanceID, attrTagKey, attrTagKV),
			KeySchema:            keys(attrInstanceID, attrTagKey),
			GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
				gsi(indexByTag, attrTagKV, attrInstanceID, types.ProjectionTypeKeysOnly),
				gsi(indexByTagKey, attrTagKey, attrInstanceID, types.ProjectionTypeKeysOnly),
			},
		},
		{
			// User documents; see documents.go for the items it holds.
			TableName:            aws.String(res.DocumentsTable),
			BillingMode:          types.BillingModePayPerRequest,
			AttributeDefinitions: attrs(attrDocName, attrDocKey, attrListPK),
			KeySchema:            keys(attrDocName, attrDocKey),
			GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
				gsi(indexDocsByName, attrListPK, attrDocName, types.ProjectionTypeAll),
			},
		},
	}
}
