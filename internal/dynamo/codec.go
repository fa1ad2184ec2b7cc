// Package dynamo implements runcmd's CommandStore and InstanceStore over Amazon DynamoDB, and creates
// their tables. Every read is a GetItem, BatchGetItem or Query on a key or index, never a Scan; every
// state change is a conditional write, so invocation transitions happen exactly once and the command's
// counters move in the same transaction.
package dynamo

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/runcmd/runcmd"
)

// item is one DynamoDB item or key.
type item = map[string]types.AttributeValue

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func num(v int) types.AttributeValue    { return &types.AttributeValueMemberN{Value: strconv.Itoa(v)} }
func boolean(v bool) types.AttributeValue {
	return &types.AttributeValueMemberBOOL{Value: v}
}

// timeAttr stores a time fixed-width in UTC with nanoseconds (valid RFC 3339), so nothing is lost in a
// round trip and stored times compare as strings in conditions.
func timeAttr(t time.Time) types.AttributeValue { return str(timeKey(t)) }

// timeKey formats t fixed-width in UTC, so that index keys built from it sort in time order.
func timeKey(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

// epoch is a TTL attribute value: seconds since the Unix epoch.
func epoch(t time.Time) types.AttributeValue { return num(int(t.Unix())) }

// decoder reads typed attributes from an item and keeps the first error.
type decoder struct {
	it  item
	err error
}

func (d *decoder) fail(name string, err error) {
	if d.err == nil {
		d.err = fmt.Errorf("attribute %s: %w", name, err)
	}
}

func (d *decoder) str(name string) string {
	switch v := d.it[name].(type) {
	case nil:
		return ""
	case *types.AttributeValueMemberS:
		return v.Value
	default:
		d.fail(name, fmt.Errorf("unexpected type %T", v))
		return ""
	}
}

func (d *decoder) num(name string) int {
	switch v := d.it[name].(type) {
	case nil:
		return 0
	case *types.AttributeValueMemberN:
		n, err := strconv.Atoi(v.Value)
		if err != nil {
			d.fail(name, err)
		}
		return n
	default:
		d.fail(name, fmt.Errorf("unexpected type %T", v))
		return 0
	}
}

func (d *decoder) boolean(name string) bool {
	switch v := d.it[name].(type) {
	case nil:
		return false
	case *types.AttributeValueMemberBOOL:
		return v.Value
	default:
		d.fail(name, fmt.Errorf("unexpected type %T", v))
		return false
	}
}

func (d *decoder) time(name string) time.Time {
	s := d.str(name)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		d.fail(name, err)
	}
	return t
}

// exprs builds expression attribute names and values. Attribute names always go through placeholders,
// because many of ours (Comment, Cursor, Result, ...) are DynamoDB reserved words.
type exprs struct {
	names  map[string]string
	values item
}

func newExprs() *exprs { return &exprs{names: map[string]string{}, values: item{}} }

// name returns the placeholder of an attribute name (ours are alphanumeric).
func (e *exprs) name(attr string) string {
	p := "#" + attr
	e.names[p] = attr
	return p
}

// path returns the placeholder of an arbitrary string used as a map key (a tag key).
func (e *exprs) path(key string) string {
	p := fmt.Sprintf("#p%d", len(e.names))
	e.names[p] = key
	return p
}

func (e *exprs) value(v types.AttributeValue) string {
	p := fmt.Sprintf(":v%d", len(e.values))
	e.values[p] = v
	return p
}

func (e *exprs) attrNames() map[string]string {
	if len(e.names) == 0 {
		return nil
	}
	return e.names
}

func (e *exprs) attrValues() item {
	if len(e.values) == 0 {
		return nil
	}
	return e.values
}

// encodeToken turns a query's exclusive start key into an opaque NextToken.
func encodeToken(key item) (string, error) {
	m := map[string][2]string{}
	for k, v := range key {
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			m[k] = [2]string{"S", v.Value}
		case *types.AttributeValueMemberN:
			m[k] = [2]string{"N", v.Value}
		default:
			return "", fmt.Errorf("encode next token: key attribute %s has type %T", k, v)
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode next token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// decodeToken reverses encodeToken; a token that is not one of ours is EINVALID.
func decodeToken(token string) (item, error) {
	if token == "" {
		return nil, nil
	}
	invalid := runcmd.Errorf(runcmd.EINVALID, "InvalidNextToken", "the next token is not valid")
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return nil, invalid
	}
	var m map[string][2]string
	if err := json.Unmarshal(b, &m); err != nil || len(m) == 0 {
		return nil, invalid
	}
	key := item{}
	for k, v := range m {
		switch v[0] {
		case "S":
			key[k] = str(v[1])
		case "N":
			key[k] = &types.AttributeValueMemberN{Value: v[1]}
		default:
			return nil, invalid
		}
	}
	return key, nil
}

// queryPage runs a query (without a filter) until it has limit items, and returns a NextToken only when
// more items follow, by asking for one more than it returns. keyAttrs names the table's and the index's
// key attributes, which make up the token.
func queryPage(ctx context.Context, c *dynamodb.Client, in dynamodb.QueryInput, keyAttrs []string, limit int, token string) ([]item, string, error) {
	start, err := decodeToken(token)
	if err != nil {
		return nil, "", err
	}
	in.ExclusiveStartKey = start
	var items []item
	for {
		in.Limit = aws.Int32(int32(limit + 1 - len(items)))
		out, err := c.Query(ctx, &in)
		if err != nil {
			return nil, "", err
		}
		items = append(items, out.Items...)
		if len(out.LastEvaluatedKey) == 0 || len(items) > limit {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	if len(items) <= limit {
		return items, "", nil
	}
	items = items[:limit]
	key := item{}
	for _, a := range keyAttrs {
		key[a] = items[limit-1][a]
	}
	next, err := encodeToken(key)
	return items, next, err
}

// batchGet reads items by key, 100 keys per request (BatchGetItem's limit), retrying unprocessed keys.
// Missing items are absent from the result; order is not kept.
func batchGet(ctx context.Context, c *dynamodb.Client, table string, keys []item, consistent bool) ([]item, error) {
	var out []item
	for start := 0; start < len(keys); start += 100 {
		req := map[string]types.KeysAndAttributes{
			table: {Keys: keys[start:min(start+100, len(keys))], ConsistentRead: aws.Bool(consistent)},
		}
		for attempt := 0; len(req) > 0; attempt++ {
			if attempt > 0 {
				if err := backoff(ctx, attempt); err != nil {
					return nil, err
				}
			}
			res, err := c.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, err
			}
			out = append(out, res.Responses[table]...)
			req = res.UnprocessedKeys
		}
	}
	return out, nil
}

// cancelReasons returns the per-item cancellation codes ("None", "ConditionalCheckFailed",
// "TransactionConflict", ...) of a cancelled transaction, and false for any other error.
func cancelReasons(err error) ([]string, bool) {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return nil, false
	}
	codes := make([]string, len(tce.CancellationReasons))
	for i, r := range tce.CancellationReasons {
		codes[i] = aws.ToString(r.Code)
	}
	return codes, true
}

// codeConditionFailed is the cancellation reason of a transaction item whose condition failed.
const codeConditionFailed = "ConditionalCheckFailed"

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// maxAttempts bounds the optimistic-concurrency retries of one write. Each lost race means another
// writer won, so a handful of attempts is enough unless something is badly contended; then the caller
// gets a plain (retryable) error, never a false ECONFLICT.
const maxAttempts = 8

// backoff waits a little longer on each attempt (up to ~100 ms).
func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(min(attempt*attempt, 50)) * 2 * time.Millisecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
