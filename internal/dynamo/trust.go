package dynamo

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/runcmd/runcmd"
)

// The activations and audit tables, and the registration side of the instances table:
//
//	activations  ActivationId              GSI ById (ListPK, ActivationId)   all activations in id order
//	audit        Day, EventKey             one partition per UTC day; EventKey = time#id sorts by time
//
// Only the hash of an activation code is stored.
const (
	attrActivationID        = "ActivationId"
	attrCodeHash            = "CodeHash"
	attrDescription         = "Description"
	attrDefaultInstanceName = "DefaultInstanceName"
	attrIamRole             = "IamRole"
	attrRegistrationLimit   = "RegistrationLimit"
	attrRegistrationsCount  = "RegistrationsCount"
	attrExpirationDate      = "ExpirationDate"
	attrCreatedDate         = "CreatedDate"
	attrPublicKey           = "PublicKey"
	// attrCredentialsSignedAt is the signing time of the last credentials request accepted from a node.
	attrCredentialsSignedAt = "CredentialsSignedAt"

	attrDay      = "Day"
	attrEventKey = "EventKey"
	attrAt       = "At"
	attrActor    = "Actor"
	attrAction   = "Action"
	attrResource = "Resource"
	attrOutcome  = "Outcome"
	attrReason   = "Reason"
)

var (
	_ runcmd.ActivationStore = (*ActivationStore)(nil)
	_ runcmd.NodeRegistry    = (*InstanceStore)(nil)
	_ runcmd.AuditStore      = (*AuditStore)(nil)

	_ runcmd.CredentialRequestLedger = (*InstanceStore)(nil)
)

// trustTableSpecs are the activations and audit tables, for CreateTables.
func trustTableSpecs(activations, audit string) []*dynamodb.CreateTableInput {
	s := func(n string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(n), AttributeType: types.ScalarAttributeTypeS}
	}
	k := func(n string, t types.KeyType) types.KeySchemaElement {
		return types.KeySchemaElement{AttributeName: aws.String(n), KeyType: t}
	}
	return []*dynamodb.CreateTableInput{
		{
			TableName:            aws.String(activations),
			BillingMode:          types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{s(attrActivationID), s(attrListPK)},
			KeySchema:            []types.KeySchemaElement{k(attrActivationID, types.KeyTypeHash)},
			GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
				IndexName:  aws.String(indexByID),
				KeySchema:  []types.KeySchemaElement{k(attrListPK, types.KeyTypeHash), k(attrActivationID, types.KeyTypeRange)},
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
			}},
		},
		{
			TableName:            aws.String(audit),
			BillingMode:          types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{s(attrDay), s(attrEventKey)},
			KeySchema:            []types.KeySchemaElement{k(attrDay, types.KeyTypeHash), k(attrEventKey, types.KeyTypeRange)},
		},
	}
}

// ActivationStore is a runcmd.ActivationStore over the activations table.
type ActivationStore struct {
	client *dynamodb.Client
	table  string
}

// NewActivationStore returns an ActivationStore over an existing table.
func NewActivationStore(client *dynamodb.Client, table string) *ActivationStore {
	return &ActivationStore{client: client, table: table}
}

func activationKey(id string) item { return item{attrActivationID: str(id)} }

func activationNotFound(id string) error {
	return runcmd.Errorf(runcmd.ENOTFOUND, "InvalidActivationId", "activation %s does not exist", id)
}

func stringMap(m map[string]string) types.AttributeValue {
	out := item{}
	for k, v := range m {
		out[k] = str(v)
	}
	return &types.AttributeValueMemberM{Value: out}
}

func decodeStringMap(it item, name string) (map[string]string, error) {
	out := map[string]string{}
	m, ok := it[name].(*types.AttributeValueMemberM)
	if !ok {
		return out, nil
	}
	for k, v := range m.Value {
		s, ok := v.(*types.AttributeValueMemberS)
		if !ok {
			return nil, fmt.Errorf("attribute %s.%s has type %T", name, k, v)
		}
		out[k] = s.Value
	}
	return out, nil
}

func decodeActivation(it item) (*runcmd.Activation, error) {
	d := decoder{it: it}
	a := &runcmd.Activation{
		ActivationID:        d.str(attrActivationID),
		CodeHash:            d.str(attrCodeHash),
		Description:         d.str(attrDescription),
		DefaultInstanceName: d.str(attrDefaultInstanceName),
		IamRole:             d.str(attrIamRole),
		RegistrationLimit:   d.num(attrRegistrationLimit),
		RegistrationsCount:  d.num(attrRegistrationsCount),
		ExpirationDate:      d.time(attrExpirationDate),
		CreatedDate:         d.time(attrCreatedDate),
	}
	tags, err := decodeStringMap(it, attrTags)
	if err != nil {
		d.fail(attrTags, err)
	}
	a.Tags = tags
	if d.err != nil {
		return nil, fmt.Errorf("decode activation %s: %w", a.ActivationID, d.err)
	}
	return a, nil
}

// CreateActivation puts a new activation, conditioned on its id being free.
func (s *ActivationStore) CreateActivation(ctx context.Context, a *runcmd.Activation) error {
	if a.ActivationID == "" {
		return runcmd.Errorf(runcmd.EINVALID, "", "activation id is empty")
	}
	it := item{
		attrActivationID:        str(a.ActivationID),
		attrListPK:              str(listPK),
		attrCodeHash:            str(a.CodeHash),
		attrDescription:         str(a.Description),
		attrDefaultInstanceName: str(a.DefaultInstanceName),
		attrIamRole:             str(a.IamRole),
		attrRegistrationLimit:   num(a.RegistrationLimit),
		attrRegistrationsCount:  num(a.RegistrationsCount),
		attrExpirationDate:      timeAttr(a.ExpirationDate),
		attrCreatedDate:         timeAttr(a.CreatedDate),
		attrTags:                stringMap(a.Tags),
	}
	_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(s.table),
		Item:                     it,
		ConditionExpression:      aws.String("attribute_not_exists(#id)"),
		ExpressionAttributeNames: map[string]string{"#id": attrActivationID},
	})
	if isConditionFailed(err) {
		return runcmd.Errorf(runcmd.ECONFLICT, "", "activation %s already exists", a.ActivationID)
	}
	if err != nil {
		return fmt.Errorf("create activation %s: %w", a.ActivationID, err)
	}
	return nil
}

// GetActivation reads one activation, strongly consistent.
func (s *ActivationStore) GetActivation(ctx context.Context, id string) (*runcmd.Activation, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: activationKey(id), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("get activation %s: %w", id, err)
	}
	if len(out.Item) == 0 {
		return nil, activationNotFound(id)
	}
	return decodeActivation(out.Item)
}

// ListActivations queries ById for a page of activations in id order.
func (s *ActivationStore) ListActivations(ctx context.Context, limit int, next string) (runcmd.ActivationPage, error) {
	e := newExprs()
	items, tok, err := queryPage(ctx, s.client, dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(indexByID),
		KeyConditionExpression:    aws.String(e.name(attrListPK) + " = " + e.value(str(listPK))),
		ExpressionAttributeNames:  e.attrNames(),
		ExpressionAttributeValues: e.attrValues(),
	}, []string{attrActivationID, attrListPK}, pageSize(limit, defaultPage, defaultPage), next)
	if err != nil {
		return runcmd.ActivationPage{}, fmt.Errorf("list activations: %w", err)
	}
	p := runcmd.ActivationPage{NextToken: tok}
	for _, it := range items {
		a, err := decodeActivation(it)
		if err != nil {
			return runcmd.ActivationPage{}, err
		}
		p.Activations = append(p.Activations, a)
	}
	return p, nil
}

// DeleteActivation deletes an activation, conditioned on it existing.
func (s *ActivationStore) DeleteActivation(ctx context.Context, id string) error {
	_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                aws.String(s.table),
		Key:                      activationKey(id),
		ConditionExpression:      aws.String("attribute_exists(#id)"),
		ExpressionAttributeNames: map[string]string{"#id": attrActivationID},
	})
	if isConditionFailed(err) {
		return activationNotFound(id)
	}
	if err != nil {
		return fmt.Errorf("delete activation %s: %w", id, err)
	}
	return nil
}

// ClaimRegistration adds one to RegistrationsCount in a single conditional update: the activation must
// exist, be below its limit and not be expired at now (fixed-width UTC times compare as strings). When
// the condition fails it reads the activation to say which rule stopped it.
func (s *ActivationStore) ClaimRegistration(ctx context.Context, id string, now time.Time) (*runcmd.Activation, error) {
	e := newExprs()
	count, limit, expires := e.name(attrRegistrationsCount), e.name(attrRegistrationLimit), e.name(attrExpirationDate)
	cond := "attribute_exists(" + e.name(attrActivationID) + ") AND " + count + " < " + limit + " AND " +
		expires + " > " + e.value(timeAttr(now))
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       activationKey(id),
		UpdateExpression:          aws.String("SET " + count + " = " + count + " + " + e.value(num(1))),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  e.attrNames(),
		ExpressionAttributeValues: e.attrValues(),
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err == nil {
		return decodeActivation(out.Attributes)
	}
	if !isConditionFailed(err) {
		return nil, fmt.Errorf("claim registration of %s: %w", id, err)
	}
	a, err := s.GetActivation(ctx, id)
	if err != nil {
		return nil, err
	}
	if a.Expired(now) {
		return nil, runcmd.Errorf(runcmd.EINVALID, "InvalidActivation", "Activation %s expired at %s.",
			id, a.ExpirationDate.UTC().Format(time.RFC3339))
	}
	return nil, runcmd.Errorf(runcmd.ELIMIT, "InvalidActivation", "Activation %s has reached its registration limit of %d.",
		id, a.RegistrationLimit)
}

// ReleaseRegistration subtracts one from RegistrationsCount, conditioned on the activation existing and
// the count being above zero. It is a TransactWriteItems of one update, not an UpdateItem, for the
// transaction's idempotency: the SDK fills in a ClientRequestToken once and sends the same one on each of
// its retries, so a retry of a release whose answer was lost is not applied twice (DynamoDB remembers
// tokens for ten minutes). A second decrement would hand out a slot that a registered node holds.
func (s *ActivationStore) ReleaseRegistration(ctx context.Context, id string) error {
	e := newExprs()
	count := e.name(attrRegistrationsCount)
	in := &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{{Update: &types.Update{
		TableName:                 aws.String(s.table),
		Key:                       activationKey(id),
		UpdateExpression:          aws.String("SET " + count + " = " + count + " - " + e.value(num(1))),
		ConditionExpression:       aws.String("attribute_exists(" + e.name(attrActivationID) + ") AND " + count + " > " + e.value(num(0))),
		ExpressionAttributeNames:  e.attrNames(),
		ExpressionAttributeValues: e.attrValues(),
	}}}}
	for attempt := range maxAttempts {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
		}
		_, err := s.client.TransactWriteItems(ctx, in)
		reasons, cancelled := cancelReasons(err)
		switch {
		case err == nil:
			return nil
		case !cancelled:
			return fmt.Errorf("release registration of %s: %w", id, err)
		case len(reasons) > 0 && reasons[0] == codeConditionFailed:
			if _, err := s.GetActivation(ctx, id); err != nil {
				return err
			}
			return runcmd.Errorf(runcmd.ECONFLICT, "", "activation %s has no registration to release", id)
		}
		// A conflict with a concurrent claim: nothing was applied, so a new transaction (a new token) is
		// safe.
	}
	return fmt.Errorf("release registration of %s: still contended after %d attempts", id, maxAttempts)
}

// registrationFields are the attributes a registration sets on a node.
func registrationFields(n *runcmd.Instance) item {
	it := item{
		attrName:         str(n.Name),
		attrIamRole:      str(n.IamRole),
		attrActivationID: str(n.ActivationID),
		attrQueueURL:     str(n.QueueURL),
		attrRegisteredAt: timeAttr(n.RegisteredAt),
		attrResourceType: str(runcmd.ResourceTypeManagedInstance),
	}
	if len(n.PublicKey) > 0 {
		it[attrPublicKey] = &types.AttributeValueMemberB{Value: n.PublicKey}
	}
	return it
}

// RegisterInstance creates the node with its tags in one transaction or, if it exists, updates its
// registration fields and adds the tags in another.
func (s *InstanceStore) RegisterInstance(ctx context.Context, n *runcmd.Instance) error {
	if n.InstanceID == "" {
		return runcmd.Errorf(runcmd.EINVALID, "", "registration without instance id")
	}
	if err := validTags(n.InstanceID, n.Tags); err != nil {
		return err
	}
	it := registrationFields(n)
	it[attrInstanceID] = str(n.InstanceID)
	it[attrListPK] = str(listPK)
	it[attrTags] = stringMap(n.Tags)
	ops := []types.TransactWriteItem{{Put: &types.Put{
		TableName:                aws.String(s.instances),
		Item:                     it,
		ConditionExpression:      aws.String("attribute_not_exists(#id)"),
		ExpressionAttributeNames: map[string]string{"#id": attrInstanceID},
	}}}
	for _, k := range slices.Sorted(maps.Keys(n.Tags)) {
		ops = append(ops, s.putTag(n.InstanceID, k, n.Tags[k]))
	}
	_, err := s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: ops})
	reasons, cancelled := cancelReasons(err)
	switch {
	case err == nil:
		return nil
	case !cancelled:
		return fmt.Errorf("register node %s: %w", n.InstanceID, err)
	case len(reasons) == 0 || reasons[0] != codeConditionFailed:
		return fmt.Errorf("register node %s: transaction conflict", n.InstanceID)
	}
	// The node exists: a re-registration.
	e := newExprs()
	fields := registrationFields(n)
	var set []string
	for _, a := range slices.Sorted(maps.Keys(fields)) {
		set = append(set, e.name(a)+" = "+e.value(fields[a]))
	}
	var tagOps []types.TransactWriteItem
	for _, k := range slices.Sorted(maps.Keys(n.Tags)) {
		set = append(set, e.name(attrTags)+"."+e.path(k)+" = "+e.value(str(n.Tags[k])))
		tagOps = append(tagOps, s.putTag(n.InstanceID, k, n.Tags[k]))
	}
	return s.writeTags(ctx, n.InstanceID, "SET "+strings.Join(set, ", "), e, tagOps, false)
}

func nodeNotRegistered(id string) error {
	return runcmd.Errorf(runcmd.ENOTFOUND, "InvalidInstanceId", "managed node %s is not registered", id)
}

// DeregisterInstance deletes the node (conditioned on it existing), then its tag items. A tag item left
// behind by a failure points at a node that no longer exists, which every reader skips.
func (s *InstanceStore) DeregisterInstance(ctx context.Context, id string) error {
	out, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                aws.String(s.instances),
		Key:                      instanceKey(id),
		ConditionExpression:      aws.String("attribute_exists(#id)"),
		ExpressionAttributeNames: map[string]string{"#id": attrInstanceID},
		ReturnValues:             types.ReturnValueAllOld,
	})
	if isConditionFailed(err) {
		return nodeNotRegistered(id)
	}
	if err != nil {
		return fmt.Errorf("deregister node %s: %w", id, err)
	}
	tags, err := decodeStringMap(out.Attributes, attrTags)
	if err != nil {
		return fmt.Errorf("deregister node %s: %w", id, err)
	}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		if _, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.tags), Key: tagItemKey(id, k)}); err != nil {
			return fmt.Errorf("deregister node %s: delete tag %s: %w", id, k, err)
		}
	}
	return nil
}

// PingInstance updates a registered node's facts, conditioned on the node existing and LastPingAt not
// moving backwards.
func (s *InstanceStore) PingInstance(ctx context.Context, hb runcmd.Heartbeat) error {
	if hb.InstanceID == "" {
		return runcmd.Errorf(runcmd.EINVALID, "", "heartbeat without instance id")
	}
	facts := heartbeatFacts(hb)
	delete(facts, attrName) // the registration names the node
	delete(facts, attrQueueURL)
	e := newExprs()
	var set []string
	for _, a := range slices.Sorted(maps.Keys(facts)) {
		set = append(set, e.name(a)+" = "+e.value(facts[a]))
	}
	last := e.name(attrLastPingAt)
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(s.instances),
		Key:              instanceKey(hb.InstanceID),
		UpdateExpression: aws.String("SET " + strings.Join(set, ", ")),
		ConditionExpression: aws.String("attribute_exists(" + e.name(attrInstanceID) + ") AND (attribute_not_exists(" + last +
			") OR " + last + " <= " + e.value(timeAttr(hb.At)) + ")"),
		ExpressionAttributeNames:  e.attrNames(),
		ExpressionAttributeValues: e.attrValues(),
	})
	if err == nil {
		return nil
	}
	if !isConditionFailed(err) {
		return fmt.Errorf("ping node %s: %w", hb.InstanceID, err)
	}
	got, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.instances), Key: instanceKey(hb.InstanceID), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return fmt.Errorf("ping node %s: %w", hb.InstanceID, err)
	}
	if len(got.Item) == 0 {
		return nodeNotRegistered(hb.InstanceID)
	}
	return nil // a newer heartbeat was recorded
}

// AcceptCredentialRequest moves the node's CredentialsSignedAt to signedAt in one conditional update: the
// node must exist with publicKey, and signedAt must be later than the stored time (fixed-width UTC times
// compare as strings). When the condition fails it reads the node to tell a missing node from a replay.
func (s *InstanceStore) AcceptCredentialRequest(ctx context.Context, id string, publicKey ed25519.PublicKey, signedAt time.Time) error {
	e := newExprs()
	at := e.name(attrCredentialsSignedAt)
	t := e.value(timeAttr(signedAt))
	cond := "attribute_exists(" + e.name(attrInstanceID) + ") AND " + e.name(attrPublicKey) + " = " +
		e.value(&types.AttributeValueMemberB{Value: publicKey}) + " AND (attribute_not_exists(" + at + ") OR " + at + " < " + t + ")"
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.instances),
		Key:                       instanceKey(id),
		UpdateExpression:          aws.String("SET " + at + " = " + t),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  e.attrNames(),
		ExpressionAttributeValues: e.attrValues(),
	})
	if err == nil {
		return nil
	}
	if !isConditionFailed(err) {
		return fmt.Errorf("accept credentials request of %s: %w", id, err)
	}
	got, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.instances), Key: instanceKey(id), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return fmt.Errorf("accept credentials request of %s: %w", id, err)
	}
	if len(got.Item) == 0 {
		return nodeNotRegistered(id)
	}
	return runcmd.Errorf(runcmd.ECONFLICT, "", "managed node %s: a credentials request signed at %s is not later than the last one accepted, or its key changed",
		id, signedAt.UTC().Format(time.RFC3339Nano))
}

// decodeRegistration reads the registration attributes of a node item into n.
func decodeRegistration(it item, n *runcmd.Instance) {
	d := decoder{it: it}
	n.ActivationID = d.str(attrActivationID)
	n.IamRole = d.str(attrIamRole)
	if b, ok := it[attrPublicKey].(*types.AttributeValueMemberB); ok {
		n.PublicKey = b.Value
	}
}

// AuditStore is a runcmd.AuditStore over the audit table: one partition per UTC day.
type AuditStore struct {
	client *dynamodb.Client
	table  string
}

// NewAuditStore returns an AuditStore over an existing table.
func NewAuditStore(client *dynamodb.Client, table string) *AuditStore {
	return &AuditStore{client: client, table: table}
}

// RecordAudit puts one event; its key is unique, so events are never overwritten.
func (s *AuditStore) RecordAudit(ctx context.Context, ev runcmd.AuditEvent) error {
	if ev.ID == "" {
		ev.ID = rand.Text()
	}
	it := item{
		attrDay:      str(ev.At.UTC().Format(time.DateOnly)),
		attrEventKey: str(timeKey(ev.At) + "#" + ev.ID),
		attrAt:       timeAttr(ev.At),
		attrActor:    str(ev.Actor),
		attrAction:   str(ev.Action),
		attrResource: str(ev.Resource),
		attrOutcome:  str(ev.Outcome),
		attrReason:   str(ev.Reason),
	}
	_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(s.table),
		Item:                     it,
		ConditionExpression:      aws.String("attribute_not_exists(#k)"),
		ExpressionAttributeNames: map[string]string{"#k": attrEventKey},
	})
	if err != nil {
		return fmt.Errorf("record audit %s %s: %w", ev.Action, ev.Resource, err)
	}
	return nil
}

// ListAudit queries one day's partition, newest first.
func (s *AuditStore) ListAudit(ctx context.Context, q runcmd.AuditQuery) (runcmd.AuditPage, error) {
	e := newExprs()
	items, next, err := queryPage(ctx, s.client, dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String(e.name(attrDay) + " = " + e.value(str(q.Day.UTC().Format(time.DateOnly)))),
		ExpressionAttributeNames:  e.attrNames(),
		ExpressionAttributeValues: e.attrValues(),
		ScanIndexForward:          aws.Bool(false),
	}, []string{attrDay, attrEventKey}, pageSize(q.Limit, defaultPage, 0), q.NextToken)
	if err != nil {
		return runcmd.AuditPage{}, fmt.Errorf("list audit: %w", err)
	}
	var p runcmd.AuditPage
	p.NextToken = next
	for _, it := range items {
		d := decoder{it: it}
		key := d.str(attrEventKey)
		_, id, _ := strings.Cut(key, "#")
		ev := runcmd.AuditEvent{ID: id, At: d.time(attrAt), Actor: d.str(attrActor), Action: d.str(attrAction),
			Resource: d.str(attrResource), Outcome: d.str(attrOutcome), Reason: d.str(attrReason)}
		if d.err != nil {
			return runcmd.AuditPage{}, fmt.Errorf("decode audit %s: %w", key, d.err)
		}
		p.Events = append(p.Events, ev)
	}
	return p, nil
}
