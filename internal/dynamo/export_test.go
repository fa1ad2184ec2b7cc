package dynamo

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// SetDocumentCounts overwrites the account's document count and, when name is set, that document's
// version count, so tests reach the limits without thousands of writes.
func SetDocumentCounts(ctx context.Context, s *DocumentStore, documents int, name string, versions int) error {
	e := newExprs()
	if _, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      docKey(accountName, accountCountKey),
		UpdateExpression:         aws.String("SET " + e.name(attrDocAccountSize) + " = " + e.value(num(documents))),
		ExpressionAttributeNames: e.attrNames(), ExpressionAttributeValues: e.attrValues(),
	}); err != nil {
		return err
	}
	if name == "" {
		return nil
	}
	e = newExprs()
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      docKey(name, docHeadKey),
		UpdateExpression:         aws.String("SET " + e.name(attrDocCount) + " = " + e.value(num(versions))),
		ExpressionAttributeNames: e.attrNames(), ExpressionAttributeValues: e.attrValues(),
	})
	return err
}
