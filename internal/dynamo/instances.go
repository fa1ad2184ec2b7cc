package dynamo

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/runcmd/runcmd"
)

var _ runcmd.InstanceStore = (*InstanceStore)(nil)

// Instance attributes.
const (
	attrName            = "Name"
	attrComputerName    = "ComputerName"
	attrIPAddress       = "IPAddress"
	attrPlatformType    = "PlatformType"
	attrPlatformName    = "PlatformName"
	attrPlatformVersion = "PlatformVersion"
	attrAgentVersion    = "AgentVersion"
	attrResourceType    = "ResourceType"
	attrRegisteredAt    = "RegisteredAt"
	attrLastPingAt      = "LastPingAt"
	attrTags            = "Tags" // a map kept in sync with the tags table, so reading a node needs no extra reads
)

// maxTagsPerWrite keeps a tag write, plus the node's update, inside TransactWriteItems' 100 items.
const maxTagsPerWrite = 99

// InstanceStore is a runcmd.InstanceStore over the instances and tags tables (see CreateTables). Every
// tag lives twice: in the node's Tags map and as an item of the tags table, which the ByTag and ByTagKey
// indexes make searchable; both are written in one transaction.
type InstanceStore struct {
	client    *dynamodb.Client
	instances string
	tags      string
}

// NewInstanceStore returns an InstanceStore over existing tables.
func NewInstanceStore(client *dynamodb.Client, instancesTable, tagsTable string) *InstanceStore {
	return &InstanceStore{client: client, instances: instancesTable, tags: tagsTable}
}

func instanceKey(id string) item { return item{attrInstanceID: str(id)} }

func tagItemKey(id, key string) item { return item{attrInstanceID: str(id), attrTagKey: str(key)} }

// tagKV encodes a tag key and value for the ByTag index. The key's length makes it unambiguous even when
// keys or values contain the separator.
func tagKV(key, value string) string { return fmt.Sprintf("%d:%s=%s", len(key), key, value) }

func instanceNotFound(id string) error {
	return runcmd.Errorf(runcmd.ENOTFOUND, "InvalidResourceId", "managed node %s does not exist", id)
}

func validTags[V any](id string, tags map[string]V) error {
	if len(tags) > maxTagsPerWrite {
		return runcmd.Errorf(runcmd.EINVALID, "", "too many tags for %s: %d", id, len(tags))
	}
	for k := range tags {
		if k == "" {
			return runcmd.Errorf(runcmd.EINVALID, "", "empty tag key for %s", id)
		}
	}
	return nil
}

func decodeInstance(it item) (*runcmd.Instance, error) {
	d := decoder{it: it}
	n := &runcmd.Instance{
		InstanceID:      d.str(attrInstanceID),
		Name:            d.str(attrName),
		ComputerName:    d.str(attrComputerName),
		IPAddress:       d.str(attrIPAddress),
		PlatformType:    d.str(attrPlatformType),
		PlatformName:    d.str(attrPlatformName),
		PlatformVersion: d.str(attrPlatformVersion),
		AgentVersion:    d.str(attrAgentVersion),
		ResourceType:    d.str(attrResourceType),
		QueueURL:        d.str(attrQueueURL),
		RegisteredAt:    d.time(attrRegisteredAt),
		LastPingAt:      d.time(attrLastPingAt),
		Tags:            map[string]string{},
	}
	if m, ok := it[attrTags].(*types.AttributeValueMemberM); ok {
		for k, v := range m.Value {
			s, ok := v.(*types.AttributeValueMemberS)
			if !ok {
				return nil, fmt.Errorf("decode node %s: tag %s has type %T", n.InstanceID, k, v)
			}
			n.Tags[k] = s.Value
		}
	}
	if d.err != nil {
		return nil, fmt.Errorf("decode node %s: %w", n.InstanceID, d.err)
	}
	decodeRegistration(it, n)
	return n, nil
}

// heartbeatFacts are the attributes every heartbeat sets.
func heartbeatFacts(hb runcmd.Heartbeat) item {
	return item{
		attrName:            str(hb.Name),
		attrComputerName:    str(hb.ComputerName),
		attrIPAddress:       str(hb.IPAddress),
		attrPlatformType:    str(hb.PlatformType),
		attrPlatformName:    str(hb.PlatformName),
		attrPlatformVersion: str(hb.PlatformVersion),
		attrAgentVersion:    str(hb.AgentVersion),
		attrQueueURL:        str(hb.QueueURL),
		attrLastPingAt:      timeAttr(hb.At),
	}
}

// RecordHeartbeat updates a known node's facts, conditioned on the node existing and the heartbeat not
// being older than the last one (out-of-order heartbeats never move LastPingAt backwards). An unknown
// node is created with its tags in one transaction; if another heartbeat created it first, the update
// is retried.
func (s *InstanceStore) RecordHeartbeat(ctx context.Context, hb runcmd.Heartbeat) error {
	if hb.InstanceID == "" {
		return runcmd.Errorf(runcmd.EINVALID, "", "heartbeat without instance id")
	}
	if err := validTags(hb.InstanceID, hb.Tags); err != nil {
		return err
	}
	for attempt := range maxAttempts {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
		}
		e := newExprs()
		facts := heartbeatFacts(hb)
		var set []string
		for _, a := range slices.Sorted(maps.Keys(facts)) {
			set = append(set, e.name(a)+" = "+e.value(facts[a]))
		}
		_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(s.instances),
			Key:                       instanceKey(hb.InstanceID),
			UpdateExpression:          aws.String("SET " + strings.Join(set, ", ")),
			ConditionExpression:       aws.String("attribute_exists(" + e.name(attrInstanceID) + ") AND " + e.name(attrLastPingAt) + " <= " + e.value(timeAttr(hb.At))),
			ExpressionAttributeNames:  e.attrNames(),
			ExpressionAttributeValues: e.attrValues(),
		})
		if err == nil {
			return nil
		}
		if !isConditionFailed(err) {
			return fmt.Errorf("record heartbeat %s: %w", hb.InstanceID, err)
		}
		out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(s.instances), Key: instanceKey(hb.InstanceID), ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return fmt.Errorf("record heartbeat %s: %w", hb.InstanceID, err)
		}
		if len(out.Item) > 0 {
			// Either a newer heartbeat was recorded, or another first heartbeat registered the node
			// between our update and this read: then ours must still be applied.
			d := decoder{it: out.Item}
			if last := d.time(attrLastPingAt); d.err == nil && last.After(hb.At) {
				return nil
			}
			continue
		}
		created, err := s.register(ctx, hb)
		if err != nil || created {
			return err
		}
	}
	return fmt.Errorf("record heartbeat %s: still contended after %d attempts", hb.InstanceID, maxAttempts)
}

// register creates a node and its tag items; created is false when the node exists already.
func (s *InstanceStore) register(ctx context.Context, hb runcmd.Heartbeat) (created bool, err error) {
	it := heartbeatFacts(hb)
	it[attrInstanceID] = str(hb.InstanceID)
	it[attrListPK] = str(listPK)
	it[attrResourceType] = str(runcmd.ResourceTypeManagedInstance)
	it[attrRegisteredAt] = timeAttr(hb.At)
	tags := item{}
	for k, v := range hb.Tags {
		tags[k] = str(v)
	}
	it[attrTags] = &types.AttributeValueMemberM{Value: tags}
	ops := []types.TransactWriteItem{{Put: &types.Put{
		TableName:                aws.String(s.instances),
		Item:                     it,
		ConditionExpression:      aws.String("attribute_not_exists(#id)"),
		ExpressionAttributeNames: map[string]string{"#id": attrInstanceID},
	}}}
	for _, k := range slices.Sorted(maps.Keys(hb.Tags)) {
		ops = append(ops, s.putTag(hb.InstanceID, k, hb.Tags[k]))
	}
	_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: ops})
	if _, ok := cancelReasons(err); ok {
		return false, nil // the node exists already, or a transaction conflict: the caller retries
	}
	if err != nil {
		return false, fmt.Errorf("register node %s: %w", hb.InstanceID, err)
	}
	return true, nil
}

func (s *InstanceStore) putTag(id, key, value string) types.TransactWriteItem {
	return types.TransactWriteItem{Put: &types.Put{
		TableName: aws.String(s.tags),
		Item: item{
			attrInstanceID: str(id),
			attrTagKey:     str(key),
			attrTagValue:   str(value),
			attrTagKV:      str(tagKV(key, value)),
		},
	}}
}

// GetInstances reads nodes with strongly consistent BatchGetItem requests.
func (s *InstanceStore) GetInstances(ctx context.Context, ids []string) (map[string]*runcmd.Instance, error) {
	out := map[string]*runcmd.Instance{}
	var keys []item
	seen := map[string]bool{}
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			keys = append(keys, instanceKey(id))
		}
	}
	items, err := batchGet(ctx, s.client, s.instances, keys, true)
	if err != nil {
		return nil, fmt.Errorf("get nodes: %w", err)
	}
	for _, it := range items {
		n, err := decodeInstance(it)
		if err != nil {
			return nil, err
		}
		out[n.InstanceID] = n
	}
	return out, nil
}

// ListInstances queries ById for all nodes, or reads the requested ones in id order.
func (s *InstanceStore) ListInstances(ctx context.Context, q runcmd.InstanceQuery) (runcmd.InstancePage, error) {
	limit := pageSize(q.Limit, defaultPage, defaultPage)
	if len(q.InstanceIDs) > 0 {
		return s.listSome(ctx, q.InstanceIDs, limit, q.NextToken)
	}
	e := newExprs()
	items, next, err := queryPage(ctx, s.client, dynamodb.QueryInput{
		TableName:                 aws.String(s.instances),
		IndexName:                 aws.String(indexByID),
		KeyConditionExpression:    aws.String(e.name(attrListPK) + " = " + e.value(str(listPK))),
		ExpressionAttributeNames:  e.attrNames(),
		ExpressionAttributeValues: e.attrValues(),
	}, []string{attrInstanceID, attrListPK}, limit, q.NextToken)
	if err != nil {
		return runcmd.InstancePage{}, fmt.Errorf("list nodes: %w", err)
	}
	p := runcmd.InstancePage{NextToken: next}
	for _, it := range items {
		n, err := decodeInstance(it)
		if err != nil {
			return runcmd.InstancePage{}, err
		}
		p.Instances = append(p.Instances, n)
	}
	return p, nil
}

// listSome pages through the known nodes among ids, in id order; the token holds the last id returned.
func (s *InstanceStore) listSome(ctx context.Context, ids []string, limit int, token string) (runcmd.InstancePage, error) {
	start, err := decodeToken(token)
	if err != nil {
		return runcmd.InstancePage{}, err
	}
	after := ""
	if start != nil {
		v, ok := start[attrInstanceID].(*types.AttributeValueMemberS)
		if !ok {
			return runcmd.InstancePage{}, runcmd.Errorf(runcmd.EINVALID, "InvalidNextToken", "the next token is not valid")
		}
		after = v.Value
	}
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	ids = slices.DeleteFunc(ids, func(id string) bool { return id == "" || id <= after })
	var found []*runcmd.Instance
	for chunk := range slices.Chunk(ids, 100) {
		got, err := s.GetInstances(ctx, chunk)
		if err != nil {
			return runcmd.InstancePage{}, err
		}
		for _, id := range chunk {
			if n, ok := got[id]; ok {
				found = append(found, n)
			}
		}
		if len(found) > limit {
			break
		}
	}
	if len(found) <= limit {
		return runcmd.InstancePage{Instances: found}, nil
	}
	found = found[:limit]
	next, err := encodeToken(instanceKey(found[limit-1].InstanceID))
	if err != nil {
		return runcmd.InstancePage{}, err
	}
	return runcmd.InstancePage{Instances: found, NextToken: next}, nil
}

// AddTags sets tags in the node's map and the tags table, in one transaction.
func (s *InstanceStore) AddTags(ctx context.Context, instanceID string, tags map[string]string) error {
	if err := validTags(instanceID, tags); err != nil {
		return err
	}
	e := newExprs()
	var set []string
	var ops []types.TransactWriteItem
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		set = append(set, e.name(attrTags)+"."+e.path(k)+" = "+e.value(str(tags[k])))
		ops = append(ops, s.putTag(instanceID, k, tags[k]))
	}
	return s.writeTags(ctx, instanceID, "SET "+strings.Join(set, ", "), e, ops, len(tags) == 0)
}

// RemoveTags removes keys from the node's map and the tags table, in one transaction.
func (s *InstanceStore) RemoveTags(ctx context.Context, instanceID string, keys []string) error {
	keys = slices.Compact(slices.Sorted(slices.Values(keys)))
	if len(keys) > maxTagsPerWrite {
		return runcmd.Errorf(runcmd.EINVALID, "", "too many tag keys for %s: %d", instanceID, len(keys))
	}
	e := newExprs()
	var remove []string
	var ops []types.TransactWriteItem
	for _, k := range keys {
		remove = append(remove, e.name(attrTags)+"."+e.path(k))
		ops = append(ops, types.TransactWriteItem{Delete: &types.Delete{
			TableName: aws.String(s.tags), Key: tagItemKey(instanceID, k),
		}})
	}
	return s.writeTags(ctx, instanceID, "REMOVE "+strings.Join(remove, ", "), e, ops, len(keys) == 0)
}

// writeTags runs the node update (conditioned on the node existing) and the tag item writes in one
// transaction; with nothing to write it only checks that the node exists.
func (s *InstanceStore) writeTags(ctx context.Context, instanceID, update string, e *exprs, ops []types.TransactWriteItem, empty bool) error {
	if empty {
		out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(s.instances), Key: instanceKey(instanceID), ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return fmt.Errorf("tag node %s: %w", instanceID, err)
		}
		if len(out.Item) == 0 {
			return instanceNotFound(instanceID)
		}
		return nil
	}
	cond := "attribute_exists(" + e.name(attrInstanceID) + ")"
	ops = append([]types.TransactWriteItem{{Update: &types.Update{
		TableName:                 aws.String(s.instances),
		Key:                       instanceKey(instanceID),
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  e.attrNames(),
		ExpressionAttributeValues: e.attrValues(),
	}}}, ops...)
	for attempt := range maxAttempts {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
		}
		_, err := s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: ops})
		reasons, cancelled := cancelReasons(err)
		if !cancelled {
			if err != nil {
				return fmt.Errorf("tag node %s: %w", instanceID, err)
			}
			return nil
		}
		if len(reasons) > 0 && reasons[0] == codeConditionFailed {
			return instanceNotFound(instanceID)
		}
		// A transaction conflict: retry.
	}
	return fmt.Errorf("tag node %s: still contended after %d attempts", instanceID, maxAttempts)
}

// FindByTag queries ByTag (key and value) or ByTagKey (any value), in id order.
func (s *InstanceStore) FindByTag(ctx context.Context, key, value string, anyValue bool, limit int, next string) ([]string, string, error) {
	if key == "" {
		return nil, "", runcmd.Errorf(runcmd.EINVALID, "", "empty tag key")
	}
	e := newExprs()
	in := dynamodb.QueryInput{TableName: aws.String(s.tags)}
	var keyAttrs []string
	if anyValue {
		in.IndexName = aws.String(indexByTagKey)
		in.KeyConditionExpression = aws.String(e.name(attrTagKey) + " = " + e.value(str(key)))
		keyAttrs = []string{attrInstanceID, attrTagKey}
	} else {
		in.IndexName = aws.String(indexByTag)
		in.KeyConditionExpression = aws.String(e.name(attrTagKV) + " = " + e.value(str(tagKV(key, value))))
		keyAttrs = []string{attrInstanceID, attrTagKey, attrTagKV}
	}
	in.ExpressionAttributeNames, in.ExpressionAttributeValues = e.attrNames(), e.attrValues()
	items, tok, err := queryPage(ctx, s.client, in, keyAttrs, pageSize(limit, defaultInternal, 0), next)
	if err != nil {
		return nil, "", fmt.Errorf("find nodes by tag %s: %w", key, err)
	}
	var ids []string
	for _, it := range items {
		d := decoder{it: it}
		ids = append(ids, d.str(attrInstanceID))
		if d.err != nil {
			return nil, "", fmt.Errorf("find nodes by tag %s: %w", key, d.err)
		}
	}
	return ids, tok, nil
}
