package dynamo

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/runcmd/runcmd"
)

// The patch baselines and compliance tables share one generic layout: PK, SK and a sparse index
// ByList (LPK, LSK) for the listings.
//
//	patchbaselines  B#<id> B                          baseline; LPK baselines, LSK id; Groups is a string set
//	                D#<os> D                          the registered default of an operating system
//	                G#<group> <os>                    patch group mapping; LPK groups, LSK group\0os
//	                S#<snapshot> <os>\0<group>        frozen snapshot, TTL after SnapshotReuse
//	compliance      R#<resource> T#<type>             resource summary; LPK resources, LSK resource\0type;
//	                                                  Gen names the generation of its item chunks
//	                R#<resource> I#<type>#<gen>#<n>   item chunks (JSON, < 300 KB each: DynamoDB's items are ≤ 400 KB)
//	                A#<type> A                        per-type resource counts; LPK types, LSK type
//	                P#<instance> P                    patch state; LPK pg#<group>, LSK instance; Ver for optimistic writes
//	                G#<group> G                       per-group node counts
//
// Every summary changes in one transaction with the write that changes what it summarises, by adding
// the difference between the old and the new contribution, so no listing ever scans.
const (
	attrPK       = "PK"
	attrSK       = "SK"
	attrLPK      = "LPK"
	attrLSK      = "LSK"
	attrBody     = "Body"
	attrStateVer = "Ver"

	indexByList = "ByList"

	// maxChunkBytes keeps an item chunk well under DynamoDB's 400 KB item limit.
	maxChunkBytes = 300_000
)

var (
	_ runcmd.PatchBaselineStore = (*PatchBaselineStore)(nil)
	_ runcmd.ComplianceStore    = (*ComplianceStore)(nil)
)

// patchingTableSpecs are the patch baselines and compliance tables, for CreateTables.
func patchingTableSpecs(baselines, compliance string) []*dynamodb.CreateTableInput {
	s := func(n string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(n), AttributeType: types.ScalarAttributeTypeS}
	}
	k := func(n string, t types.KeyType) types.KeySchemaElement {
		return types.KeySchemaElement{AttributeName: aws.String(n), KeyType: t}
	}
	spec := func(name string) *dynamodb.CreateTableInput {
		return &dynamodb.CreateTableInput{
			TableName:            aws.String(name),
			BillingMode:          types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{s(attrPK), s(attrSK), s(attrLPK), s(attrLSK)},
			KeySchema:            []types.KeySchemaElement{k(attrPK, types.KeyTypeHash), k(attrSK, types.KeyTypeRange)},
			GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
				IndexName:  aws.String(indexByList),
				KeySchema:  []types.KeySchemaElement{k(attrLPK, types.KeyTypeHash), k(attrLSK, types.KeyTypeRange)},
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
			}},
		}
	}
	return []*dynamodb.CreateTableInput{spec(baselines), spec(compliance)}
}

var listKeyAttrs = []string{attrPK, attrSK, attrLPK, attrLSK}

func pk(p, s string) item { return item{attrPK: str(p), attrSK: str(s)} }

// listPage queries the ByList index partition lpk.
func listPage(ctx context.Context, c *dynamodb.Client, table, lpk string, limit int, token string) ([]item, string, error) {
	e := newExprs()
	in := dynamodb.QueryInput{TableName: aws.String(table), IndexName: aws.String(indexByList),
		KeyConditionExpression: aws.String(e.name(attrLPK) + " = " + e.value(str(lpk)))}
	in.ExpressionAttributeNames, in.ExpressionAttributeValues = e.attrNames(), e.attrValues()
	return queryPage(ctx, c, in, listKeyAttrs, limit, token)
}

// queryPrefix returns every item of partition p whose sort key starts with prefix, in sort-key order.
func queryPrefix(ctx context.Context, c *dynamodb.Client, table, p, prefix string) ([]item, error) {
	e := newExprs()
	in := &dynamodb.QueryInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String(fmt.Sprintf("%s = %s AND begins_with(%s, %s)", e.name(attrPK), e.value(str(p)), e.name(attrSK), e.value(str(prefix))))}
	in.ExpressionAttributeNames, in.ExpressionAttributeValues = e.attrNames(), e.attrValues()
	var out []item
	for {
		res, err := c.Query(ctx, in)
		if err != nil {
			return nil, err
		}
		out = append(out, res.Items...)
		if len(res.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}

// PatchBaselineStore is a runcmd.PatchBaselineStore over the patch baselines table.
type PatchBaselineStore struct {
	client *dynamodb.Client
	table  string
}

// NewPatchBaselineStore returns a PatchBaselineStore over an existing table.
func NewPatchBaselineStore(client *dynamodb.Client, table string) *PatchBaselineStore {
	return &PatchBaselineStore{client: client, table: table}
}

func baselineNotFound(id string) error {
	return runcmd.Errorf(runcmd.ENOTFOUND, "DoesNotExistException", "Patch Baseline %s does not exist.", id)
}

// CreateBaseline stores a new baseline.
func (s *PatchBaselineStore) CreateBaseline(ctx context.Context, b *runcmd.PatchBaseline) error {
	it := pk("B#"+b.BaselineID, "B")
	it[attrLPK], it[attrLSK] = str("baselines"), str(b.BaselineID)
	it["Name"], it["OperatingSystem"], it[attrBody] = str(b.Name), str(b.OperatingSystem), str(string(b.Body))
	it["CreatedDate"], it["ModifiedDate"] = timeAttr(b.CreatedDate), timeAttr(b.ModifiedDate)
	if b.Description != "" {
		it["Description"] = str(b.Description)
	}
	if len(b.Tags) > 0 {
		it[attrTags] = stringMap(b.Tags)
	}
	_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: it,
		ConditionExpression: aws.String("attribute_not_exists(PK)")})
	if isConditionFailed(err) {
		return runcmd.Errorf(runcmd.ECONFLICT, "", "patch baseline %s already exists", b.BaselineID)
	}
	if err != nil {
		return fmt.Errorf("put patch baseline %s: %w", b.BaselineID, err)
	}
	return nil
}

func decodeBaselineItem(it item) (*runcmd.PatchBaseline, error) {
	d := decoder{it: it}
	b := &runcmd.PatchBaseline{BaselineID: strings.TrimPrefix(d.str(attrPK), "B#"), Name: d.str("Name"),
		OperatingSystem: d.str("OperatingSystem"), Description: d.str("Description"), Body: []byte(d.str(attrBody)),
		CreatedDate: d.time("CreatedDate"), ModifiedDate: d.time("ModifiedDate")}
	if ss, ok := it["Groups"].(*types.AttributeValueMemberSS); ok {
		b.PatchGroups = slices.Sorted(slices.Values(ss.Value))
	}
	tags, err := decodeStringMap(it, attrTags)
	if err != nil {
		d.fail(attrTags, err)
	}
	if len(tags) > 0 {
		b.Tags = tags
	}
	if d.err != nil {
		return nil, fmt.Errorf("decode patch baseline: %w", d.err)
	}
	return b, nil
}

// GetBaseline returns a stored baseline.
func (s *PatchBaselineStore) GetBaseline(ctx context.Context, id string) (*runcmd.PatchBaseline, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: pk("B#"+id, "B"), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("get patch baseline %s: %w", id, err)
	}
	if out.Item == nil {
		return nil, baselineNotFound(id)
	}
	return decodeBaselineItem(out.Item)
}

// UpdateBaseline replaces a baseline's mutable fields.
func (s *PatchBaselineStore) UpdateBaseline(ctx context.Context, b *runcmd.PatchBaseline) error {
	e := newExprs()
	set := []string{
		e.name("Name") + " = " + e.value(str(b.Name)),
		e.name(attrBody) + " = " + e.value(str(string(b.Body))),
		e.name("ModifiedDate") + " = " + e.value(timeAttr(b.ModifiedDate)),
	}
	var remove []string
	if b.Description != "" {
		set = append(set, e.name("Description")+" = "+e.value(str(b.Description)))
	} else {
		remove = append(remove, e.name("Description"))
	}
	if len(b.Tags) > 0 {
		set = append(set, e.name(attrTags)+" = "+e.value(stringMap(b.Tags)))
	} else {
		remove = append(remove, e.name(attrTags)) // RemoveTagsFromResource took the last one
	}
	expr := "SET " + strings.Join(set, ", ")
	if len(remove) > 0 {
		expr += " REMOVE " + strings.Join(remove, ", ")
	}
	in := &dynamodb.UpdateItemInput{TableName: aws.String(s.table), Key: pk("B#"+b.BaselineID, "B"),
		UpdateExpression: aws.String(expr), ConditionExpression: aws.String("attribute_exists(" + e.name(attrPK) + ")")}
	in.ExpressionAttributeNames, in.ExpressionAttributeValues = e.attrNames(), e.attrValues()
	_, err := s.client.UpdateItem(ctx, in)
	if isConditionFailed(err) {
		return baselineNotFound(b.BaselineID)
	}
	if err != nil {
		return fmt.Errorf("update patch baseline %s: %w", b.BaselineID, err)
	}
	return nil
}

// DeleteBaseline deletes a baseline registered for no patch group.
func (s *PatchBaselineStore) DeleteBaseline(ctx context.Context, id string) error {
	_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table), Key: pk("B#"+id, "B"),
		ConditionExpression: aws.String("attribute_not_exists(#g)"), ExpressionAttributeNames: map[string]string{"#g": "Groups"}})
	if isConditionFailed(err) {
		return runcmd.Errorf(runcmd.ECONFLICT, "ResourceInUseException",
			"Patch Baseline %s is registered for a patch group; deregister it first.", id)
	}
	if err != nil {
		return fmt.Errorf("delete patch baseline %s: %w", id, err)
	}
	return nil
}

// ListBaselines pages through baselines in id order.
func (s *PatchBaselineStore) ListBaselines(ctx context.Context, next string, limit int) ([]*runcmd.PatchBaseline, string, error) {
	items, tok, err := listPage(ctx, s.client, s.table, "baselines", pageSize(limit, 50, 0), next)
	if err != nil {
		return nil, "", fmt.Errorf("list patch baselines: %w", err)
	}
	out := make([]*runcmd.PatchBaseline, 0, len(items))
	for _, it := range items {
		b, err := decodeBaselineItem(it)
		if err != nil {
			return nil, "", err
		}
		out = append(out, b)
	}
	return out, tok, nil
}

// SetDefaultBaseline records the default baseline of an operating system.
func (s *PatchBaselineStore) SetDefaultBaseline(ctx context.Context, os, id string) error {
	it := pk("D#"+os, "D")
	it["BaselineId"] = str(id)
	if _, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: it}); err != nil {
		return fmt.Errorf("set default patch baseline of %s: %w", os, err)
	}
	return nil
}

// GetDefaultBaseline returns the registered default of os.
func (s *PatchBaselineStore) GetDefaultBaseline(ctx context.Context, os string) (string, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: pk("D#"+os, "D"), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return "", fmt.Errorf("get default patch baseline of %s: %w", os, err)
	}
	if out.Item == nil {
		return "", runcmd.Errorf(runcmd.ENOTFOUND, "DoesNotExistException", "no default patch baseline registered for %s", os)
	}
	d := decoder{it: out.Item}
	return d.str("BaselineId"), d.err
}

func groupItemKey(group, os string) item { return pk("G#"+group, os) }

// RegisterPatchGroup stores a mapping and, for a stored baseline, adds the group to its Groups, in one
// transaction.
func (s *PatchBaselineStore) RegisterPatchGroup(ctx context.Context, m runcmd.PatchGroupMapping) error {
	it := groupItemKey(m.PatchGroup, m.OperatingSystem)
	it[attrLPK], it[attrLSK] = str("groups"), str(m.PatchGroup+"\x00"+m.OperatingSystem)
	it["BaselineId"], it["Stored"] = str(m.BaselineID), boolean(m.Stored)
	ops := []types.TransactWriteItem{{Put: &types.Put{TableName: aws.String(s.table), Item: it,
		ConditionExpression: aws.String("attribute_not_exists(PK)")}}}
	if m.Stored {
		ops = append(ops, types.TransactWriteItem{Update: &types.Update{TableName: aws.String(s.table), Key: pk("B#"+m.BaselineID, "B"),
			UpdateExpression:          aws.String("ADD #g :g"),
			ConditionExpression:       aws.String("attribute_exists(PK)"),
			ExpressionAttributeNames:  map[string]string{"#g": "Groups"},
			ExpressionAttributeValues: item{":g": &types.AttributeValueMemberSS{Value: []string{m.PatchGroup}}}}})
	}
	_, err := s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: ops})
	if codes, ok := cancelReasons(err); ok {
		if codes[0] == codeConditionFailed {
			old, gerr := s.GetPatchGroup(ctx, m.PatchGroup, m.OperatingSystem)
			if gerr != nil {
				return gerr
			}
			return runcmd.Errorf(runcmd.ECONFLICT, "AlreadyExistsException",
				"Patch Group %s is already registered with baseline %s for operating system %s.", m.PatchGroup, old.BaselineID, m.OperatingSystem)
		}
		if len(codes) > 1 && codes[1] == codeConditionFailed {
			return baselineNotFound(m.BaselineID)
		}
	}
	if err != nil {
		return fmt.Errorf("register patch group %s: %w", m.PatchGroup, err)
	}
	return nil
}

// DeregisterPatchGroup removes a mapping and the group from its baseline's Groups.
func (s *PatchBaselineStore) DeregisterPatchGroup(ctx context.Context, m runcmd.PatchGroupMapping) error {
	ops := []types.TransactWriteItem{{Delete: &types.Delete{TableName: aws.String(s.table), Key: groupItemKey(m.PatchGroup, m.OperatingSystem),
		ConditionExpression:       aws.String("BaselineId = :id"),
		ExpressionAttributeValues: item{":id": str(m.BaselineID)}}}}
	if m.Stored {
		ops = append(ops, types.TransactWriteItem{Update: &types.Update{TableName: aws.String(s.table), Key: pk("B#"+m.BaselineID, "B"),
			UpdateExpression:          aws.String("DELETE #g :g"),
			ConditionExpression:       aws.String("attribute_exists(PK)"),
			ExpressionAttributeNames:  map[string]string{"#g": "Groups"},
			ExpressionAttributeValues: item{":g": &types.AttributeValueMemberSS{Value: []string{m.PatchGroup}}}}})
	}
	_, err := s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: ops})
	if _, ok := cancelReasons(err); ok {
		return runcmd.Errorf(runcmd.ENOTFOUND, "DoesNotExistException",
			"Patch Group %s is not registered with baseline %s.", m.PatchGroup, m.BaselineID)
	}
	if err != nil {
		return fmt.Errorf("deregister patch group %s: %w", m.PatchGroup, err)
	}
	return nil
}

func decodeGroupItem(it item) runcmd.PatchGroupMapping {
	d := decoder{it: it}
	return runcmd.PatchGroupMapping{PatchGroup: strings.TrimPrefix(d.str(attrPK), "G#"), OperatingSystem: d.str(attrSK),
		BaselineID: d.str("BaselineId"), Stored: d.boolean("Stored")}
}

// GetPatchGroup returns a group's mapping for os.
func (s *PatchBaselineStore) GetPatchGroup(ctx context.Context, group, os string) (runcmd.PatchGroupMapping, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: groupItemKey(group, os), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return runcmd.PatchGroupMapping{}, fmt.Errorf("get patch group %s: %w", group, err)
	}
	if out.Item == nil {
		return runcmd.PatchGroupMapping{}, runcmd.Errorf(runcmd.ENOTFOUND, "DoesNotExistException", "Patch Group %s has no baseline for %s.", group, os)
	}
	return decodeGroupItem(out.Item), nil
}

// ListPatchGroups pages through mappings in (group, os) order.
func (s *PatchBaselineStore) ListPatchGroups(ctx context.Context, next string, limit int) ([]runcmd.PatchGroupMapping, string, error) {
	items, tok, err := listPage(ctx, s.client, s.table, "groups", pageSize(limit, 50, 0), next)
	if err != nil {
		return nil, "", fmt.Errorf("list patch groups: %w", err)
	}
	out := make([]runcmd.PatchGroupMapping, 0, len(items))
	for _, it := range items {
		out = append(out, decodeGroupItem(it))
	}
	return out, tok, nil
}

// PutSnapshot stores a snapshot unless a young enough one exists, which it returns instead.
func (s *PatchBaselineStore) PutSnapshot(ctx context.Context, snap *runcmd.PatchSnapshot, reuse time.Duration) (*runcmd.PatchSnapshot, error) {
	key := pk("S#"+snap.SnapshotID, snap.OperatingSystem+"\x00"+snap.PatchGroup)
	it := pk("S#"+snap.SnapshotID, snap.OperatingSystem+"\x00"+snap.PatchGroup)
	it[attrBody], it["CreatedAt"], it[attrExpireAt] = str(string(snap.Body)), timeAttr(snap.CreatedAt), epoch(snap.CreatedAt.Add(reuse))
	_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: it,
		ConditionExpression:       aws.String("attribute_not_exists(PK) OR CreatedAt <= :cutoff"),
		ExpressionAttributeValues: item{":cutoff": timeAttr(snap.CreatedAt.Add(-reuse))}})
	if err == nil {
		c := *snap
		return &c, nil
	}
	if !isConditionFailed(err) {
		return nil, fmt.Errorf("put patch snapshot %s: %w", snap.SnapshotID, err)
	}
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("get patch snapshot %s: %w", snap.SnapshotID, err)
	}
	if out.Item == nil {
		return nil, fmt.Errorf("get patch snapshot %s: deleted while being read", snap.SnapshotID)
	}
	d := decoder{it: out.Item}
	got := &runcmd.PatchSnapshot{SnapshotID: snap.SnapshotID, OperatingSystem: snap.OperatingSystem, PatchGroup: snap.PatchGroup,
		Body: []byte(d.str(attrBody)), CreatedAt: d.time("CreatedAt")}
	return got, d.err
}

// ComplianceStore is a runcmd.ComplianceStore over the compliance table.
type ComplianceStore struct {
	client *dynamodb.Client
	table  string
}

// NewComplianceStore returns a ComplianceStore over an existing table.
func NewComplianceStore(client *dynamodb.Client, table string) *ComplianceStore {
	return &ComplianceStore{client: client, table: table}
}

// storedSummary is a resource summary item: the summary (as JSON) with its chunk generation.
type storedSummary struct {
	runcmd.ResourceComplianceSummary
	Gen    string
	Chunks int
}

func (s *ComplianceStore) getSummary(ctx context.Context, resource, typ string) (*storedSummary, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: pk("R#"+resource, "T#"+typ), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("get compliance summary %s/%s: %w", resource, typ, err)
	}
	if out.Item == nil {
		return nil, nil
	}
	return decodeSummaryItem(out.Item)
}

func decodeSummaryItem(it item) (*storedSummary, error) {
	d := decoder{it: it}
	var st storedSummary
	if err := json.Unmarshal([]byte(d.str(attrBody)), &st); err != nil {
		return nil, fmt.Errorf("decode compliance summary %s: %w", d.str(attrPK), err)
	}
	return &st, d.err
}

func chunkPrefix(typ, gen string) string { return "I#" + typ + "#" + gen + "#" }

// chunkItems splits items into JSON chunks under maxChunkBytes.
func chunkItems(items []runcmd.ComplianceItem) ([]string, error) {
	var chunks []string
	var cur []runcmd.ComplianceItem
	size := 0
	flush := func() error {
		b, err := json.Marshal(cur)
		if err != nil {
			return fmt.Errorf("encode compliance items: %w", err)
		}
		chunks = append(chunks, string(b))
		cur, size = nil, 0
		return nil
	}
	for _, it := range items {
		b, err := json.Marshal(it)
		if err != nil {
			return nil, fmt.Errorf("encode compliance item %s: %w", it.ID, err)
		}
		if len(b) > maxChunkBytes {
			return nil, runcmd.Errorf(runcmd.EINVALID, "ItemSizeLimitExceededException", "Compliance item %s is larger than %d bytes.", it.ID, maxChunkBytes)
		}
		if size+len(b) > maxChunkBytes {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		cur = append(cur, it)
		size += len(b) + 1
	}
	if len(cur) > 0 {
		if err := flush(); err != nil {
			return nil, err
		}
	}
	return chunks, nil
}

func (s *ComplianceStore) readItems(ctx context.Context, resource, typ, gen string) ([]runcmd.ComplianceItem, error) {
	rows, err := queryPrefix(ctx, s.client, s.table, "R#"+resource, chunkPrefix(typ, gen))
	if err != nil {
		return nil, fmt.Errorf("read compliance items %s/%s: %w", resource, typ, err)
	}
	var out []runcmd.ComplianceItem
	for _, r := range rows {
		d := decoder{it: r}
		var chunk []runcmd.ComplianceItem
		if err := json.Unmarshal([]byte(d.str(attrBody)), &chunk); err != nil {
			return nil, fmt.Errorf("decode compliance items %s/%s: %w", resource, typ, err)
		}
		out = append(out, chunk...)
	}
	return out, nil
}

func (s *ComplianceStore) deleteChunks(ctx context.Context, resource, typ, gen string, n int) error {
	for i := range n {
		_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table),
			Key: pk("R#"+resource, fmt.Sprintf("%s%05d", chunkPrefix(typ, gen), i))})
		if err != nil {
			return fmt.Errorf("delete compliance chunk %s/%s/%s/%d: %w", resource, typ, gen, i, err)
		}
	}
	return nil
}

var severityAttrs = map[string]string{
	runcmd.SeverityCritical: "Critical", runcmd.SeverityHigh: "High", runcmd.SeverityMedium: "Medium",
	runcmd.SeverityLow: "Low", runcmd.SeverityInformational: "Informational", runcmd.SeverityUnspecified: "Unspecified",
}

// bucket is the type-summary counter a resource summary counts in.
func bucket(s runcmd.ResourceComplianceSummary) string {
	p := "C_"
	if s.Status == runcmd.ComplianceNonCompliant {
		p = "N_"
	}
	return p + cmp.Or(severityAttrs[s.OverallSeverity], "Unspecified")
}

func newChunkGen() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// PutComplianceItems writes the new items under a fresh generation, then in one transaction swaps the
// resource summary to it (on condition that nobody swapped it meanwhile) and moves the resource's
// count in its type summary from the old bucket to the new one; then it deletes the old generation.
// A lost race deletes its own chunks and starts again.
func (s *ComplianceStore) PutComplianceItems(ctx context.Context, u runcmd.ComplianceUpload) (bool, error) {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return false, err
			}
		}
		done, changed, err := s.tryPut(ctx, u)
		if err != nil || done {
			return changed, err
		}
	}
	return false, fmt.Errorf("put compliance items %s/%s: too much contention", u.ResourceID, u.ComplianceType)
}

func (s *ComplianceStore) tryPut(ctx context.Context, u runcmd.ComplianceUpload) (done, changed bool, err error) {
	old, err := s.getSummary(ctx, u.ResourceID, u.ComplianceType)
	if err != nil {
		return true, false, err
	}
	if old != nil && u.ContentHash != "" && old.ContentHash == u.ContentHash {
		return true, false, nil
	}
	if old == nil && strings.HasPrefix(u.ComplianceType, "Custom:") {
		rows, err := queryPrefix(ctx, s.client, s.table, "R#"+u.ResourceID, "T#Custom:")
		if err != nil {
			return true, false, fmt.Errorf("count custom compliance types of %s: %w", u.ResourceID, err)
		}
		if len(rows) >= runcmd.MaxCustomComplianceTypes {
			return true, false, runcmd.Errorf(runcmd.ELIMIT, "ComplianceTypeCountLimitExceededException",
				"Resource %s already has %d custom compliance types.", u.ResourceID, len(rows))
		}
	}
	items := u.Items
	if u.Partial && old != nil {
		prev, err := s.readItems(ctx, u.ResourceID, u.ComplianceType, old.Gen)
		if err != nil {
			return true, false, err
		}
		items = runcmd.MergeComplianceItems(prev, items)
	}
	chunks, err := chunkItems(items)
	if err != nil {
		return true, false, err
	}
	sum := storedSummary{ResourceComplianceSummary: runcmd.SummarizeCompliance(items), Gen: newChunkGen(), Chunks: len(chunks)}
	sum.ResourceID, sum.ResourceType, sum.ComplianceType = u.ResourceID, u.ResourceType, u.ComplianceType
	sum.Execution, sum.ContentHash = u.Execution, u.ContentHash
	for i, c := range chunks {
		it := pk("R#"+u.ResourceID, fmt.Sprintf("%s%05d", chunkPrefix(u.ComplianceType, sum.Gen), i))
		it[attrBody] = str(c)
		if _, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: it}); err != nil {
			_ = s.deleteChunks(ctx, u.ResourceID, u.ComplianceType, sum.Gen, i) // best effort: invisible garbage otherwise
			return true, false, fmt.Errorf("put compliance chunk %s/%s: %w", u.ResourceID, u.ComplianceType, err)
		}
	}
	body, err := json.Marshal(sum)
	if err != nil {
		return true, false, fmt.Errorf("encode compliance summary: %w", err)
	}
	sit := pk("R#"+u.ResourceID, "T#"+u.ComplianceType)
	sit[attrLPK], sit[attrLSK], sit[attrBody] = str("resources"), str(u.ResourceID+"\x00"+u.ComplianceType), str(string(body))
	sit["Gen"] = str(sum.Gen)
	put := &types.Put{TableName: aws.String(s.table), Item: sit}
	if old == nil {
		put.ConditionExpression = aws.String("attribute_not_exists(PK)")
	} else {
		put.ConditionExpression = aws.String("Gen = :gen")
		put.ExpressionAttributeValues = item{":gen": str(old.Gen)}
	}
	ops := []types.TransactWriteItem{{Put: put}}
	newB := bucket(sum.ResourceComplianceSummary)
	oldB := ""
	if old != nil {
		oldB = bucket(old.ResourceComplianceSummary)
	}
	if oldB != newB {
		e := newExprs()
		add := []string{e.name(newB) + " " + e.value(num(1))}
		if oldB != "" {
			add = append(add, e.name(oldB)+" "+e.value(num(-1)))
		}
		upd := &types.Update{TableName: aws.String(s.table), Key: pk("A#"+u.ComplianceType, "A"),
			UpdateExpression: aws.String(fmt.Sprintf("SET %s = %s, %s = %s ADD %s", e.name(attrLPK), e.value(str("types")),
				e.name(attrLSK), e.value(str(u.ComplianceType)), strings.Join(add, ", ")))}
		upd.ExpressionAttributeNames, upd.ExpressionAttributeValues = e.attrNames(), e.attrValues()
		ops = append(ops, types.TransactWriteItem{Update: upd})
	}
	_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: ops})
	if codes, ok := cancelReasons(err); ok && (codes[0] == codeConditionFailed || slices.Contains(codes, "TransactionConflict")) {
		if derr := s.deleteChunks(ctx, u.ResourceID, u.ComplianceType, sum.Gen, len(chunks)); derr != nil {
			return true, false, derr
		}
		return false, false, nil // lost a race: start again
	}
	if err != nil {
		return true, false, fmt.Errorf("put compliance summary %s/%s: %w", u.ResourceID, u.ComplianceType, err)
	}
	if old != nil {
		if err := s.deleteChunks(ctx, u.ResourceID, u.ComplianceType, old.Gen, old.Chunks); err != nil {
			return true, true, err
		}
	}
	return true, true, nil
}

// keyPage pages a key-sorted slice with tokens "k:"+key, as the fakes do.
func keyPage[T any](all []T, key func(T) string, limit int, token string) ([]T, string, error) {
	after := ""
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || !strings.HasPrefix(string(b), "k:") {
			return nil, "", runcmd.Errorf(runcmd.EINVALID, "InvalidNextToken", "the next token is not valid")
		}
		after = string(b[2:])
	}
	slices.SortFunc(all, func(a, b T) int { return cmp.Compare(key(a), key(b)) })
	i := 0
	for token != "" && i < len(all) && key(all[i]) <= after {
		i++
	}
	all = all[i:]
	if len(all) <= limit {
		return all, "", nil
	}
	all = all[:limit]
	return all, base64.RawURLEncoding.EncodeToString([]byte("k:" + key(all[limit-1]))), nil
}

func (s *ComplianceStore) summariesOf(ctx context.Context, resource string) ([]*storedSummary, error) {
	rows, err := queryPrefix(ctx, s.client, s.table, "R#"+resource, "T#")
	if err != nil {
		return nil, fmt.Errorf("compliance summaries of %s: %w", resource, err)
	}
	out := make([]*storedSummary, 0, len(rows))
	for _, r := range rows {
		st, err := decodeSummaryItem(r)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// ListComplianceItems pages through one resource's items (it reads all of them: at most a few
// thousand per resource and type).
func (s *ComplianceStore) ListComplianceItems(ctx context.Context, resourceID string, typs []string, limit int, next string) ([]runcmd.StoredComplianceItem, string, error) {
	sums, err := s.summariesOf(ctx, resourceID)
	if err != nil {
		return nil, "", err
	}
	var all []runcmd.StoredComplianceItem
	for _, sm := range sums {
		if len(typs) > 0 && !slices.Contains(typs, sm.ComplianceType) {
			continue
		}
		items, err := s.readItems(ctx, resourceID, sm.ComplianceType, sm.Gen)
		if err != nil {
			return nil, "", err
		}
		for _, it := range items {
			all = append(all, runcmd.StoredComplianceItem{ResourceID: resourceID, ResourceType: sm.ResourceType,
				ComplianceType: sm.ComplianceType, Execution: sm.Execution, ComplianceItem: it})
		}
	}
	return keyPage(all, func(i runcmd.StoredComplianceItem) string { return i.ComplianceType + "\x00" + i.ID }, pageSize(limit, 50, 0), next)
}

// ListResourceSummaries pages through resource summaries.
func (s *ComplianceStore) ListResourceSummaries(ctx context.Context, resourceID string, limit int, next string) ([]runcmd.ResourceComplianceSummary, string, error) {
	var all []runcmd.ResourceComplianceSummary
	if resourceID != "" {
		sums, err := s.summariesOf(ctx, resourceID)
		if err != nil {
			return nil, "", err
		}
		for _, sm := range sums {
			all = append(all, sm.ResourceComplianceSummary)
		}
		return keyPage(all, func(r runcmd.ResourceComplianceSummary) string { return r.ResourceID + "\x00" + r.ComplianceType }, pageSize(limit, 50, 0), next)
	}
	items, tok, err := listPage(ctx, s.client, s.table, "resources", pageSize(limit, 50, 0), next)
	if err != nil {
		return nil, "", fmt.Errorf("list resource compliance summaries: %w", err)
	}
	for _, it := range items {
		sm, err := decodeSummaryItem(it)
		if err != nil {
			return nil, "", err
		}
		all = append(all, sm.ResourceComplianceSummary)
	}
	return all, tok, nil
}

// ListTypeSummaries pages through per-type counts.
func (s *ComplianceStore) ListTypeSummaries(ctx context.Context, limit int, next string) ([]runcmd.ComplianceTypeSummary, string, error) {
	items, tok, err := listPage(ctx, s.client, s.table, "types", pageSize(limit, 50, 0), next)
	if err != nil {
		return nil, "", fmt.Errorf("list compliance summaries: %w", err)
	}
	out := make([]runcmd.ComplianceTypeSummary, 0, len(items))
	for _, it := range items {
		d := decoder{it: it}
		t := runcmd.ComplianceTypeSummary{ComplianceType: d.str(attrLSK)}
		for sev, a := range severityAttrs {
			t.Compliant.Add(sev, d.num("C_"+a))
			t.NonCompliant.Add(sev, d.num("N_"+a))
		}
		if d.err != nil {
			return nil, "", fmt.Errorf("decode compliance summary %s: %w", t.ComplianceType, d.err)
		}
		out = append(out, t)
	}
	return out, tok, nil
}

// groupCounters lists a PatchGroupState's counters by attribute name.
func groupCounters(g *runcmd.PatchGroupState) []struct {
	name string
	v    *int
} {
	return []struct {
		name string
		v    *int
	}{
		{"Instances", &g.Instances}, {"Installed", &g.InstancesWithInstalledPatches},
		{"InstalledOther", &g.InstancesWithInstalledOtherPatches}, {"PendingReboot", &g.InstancesWithInstalledPendingRebootPatches},
		{"Rejected", &g.InstancesWithInstalledRejectedPatches}, {"Missing", &g.InstancesWithMissingPatches},
		{"Failed", &g.InstancesWithFailedPatches}, {"NotApplicable", &g.InstancesWithNotApplicablePatches},
		{"UnreportedNotApplicable", &g.InstancesWithUnreportedNotApplicablePatches},
		{"Critical", &g.InstancesWithCriticalNonCompliantPatches}, {"Security", &g.InstancesWithSecurityNonCompliantPatches},
		{"Other", &g.InstancesWithOtherNonCompliantPatches},
	}
}

// groupUpdate adds delta to a group's counters; nil when delta is all zero.
func (s *ComplianceStore) groupUpdate(group string, delta runcmd.PatchGroupState) *types.TransactWriteItem {
	e := newExprs()
	var add []string
	for _, c := range groupCounters(&delta) {
		if *c.v != 0 {
			add = append(add, e.name(c.name)+" "+e.value(num(*c.v)))
		}
	}
	if len(add) == 0 {
		return nil
	}
	u := &types.Update{TableName: aws.String(s.table), Key: pk("G#"+group, "G"), UpdateExpression: aws.String("ADD " + strings.Join(add, ", "))}
	u.ExpressionAttributeNames, u.ExpressionAttributeValues = e.attrNames(), e.attrValues()
	return &types.TransactWriteItem{Update: u}
}

type storedState struct {
	state runcmd.InstancePatchState
	ver   int
}

func decodeStateItem(it item) (storedState, error) {
	d := decoder{it: it}
	var st storedState
	if err := json.Unmarshal([]byte(d.str(attrBody)), &st.state); err != nil {
		return st, fmt.Errorf("decode patch state %s: %w", d.str(attrPK), err)
	}
	st.ver = d.num(attrStateVer)
	return st, d.err
}

// PutInstancePatchState stores a node's state and moves its group counts, in one transaction
// conditioned on the version it read.
func (s *ComplianceStore) PutInstancePatchState(ctx context.Context, st runcmd.InstancePatchState) (bool, error) {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return false, err
			}
		}
		out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: pk("P#"+st.InstanceID, "P"), ConsistentRead: aws.Bool(true)})
		if err != nil {
			return false, fmt.Errorf("get patch state %s: %w", st.InstanceID, err)
		}
		var old *storedState
		if out.Item != nil {
			o, err := decodeStateItem(out.Item)
			if err != nil {
				return false, err
			}
			old = &o
			if st.OperationStartTime.Before(o.state.OperationStartTime) {
				return false, nil
			}
		}
		body, err := json.Marshal(st)
		if err != nil {
			return false, fmt.Errorf("encode patch state %s: %w", st.InstanceID, err)
		}
		it := pk("P#"+st.InstanceID, "P")
		it[attrLPK], it[attrLSK], it[attrBody] = str("pg#"+st.PatchGroup), str(st.InstanceID), str(string(body))
		put := &types.Put{TableName: aws.String(s.table), Item: it}
		if old == nil {
			it[attrStateVer] = num(1)
			put.ConditionExpression = aws.String("attribute_not_exists(PK)")
		} else {
			it[attrStateVer] = num(old.ver + 1)
			put.ConditionExpression = aws.String(attrStateVer + " = :v")
			put.ExpressionAttributeValues = item{":v": num(old.ver)}
		}
		ops := []types.TransactWriteItem{{Put: put}}
		var plus, minus runcmd.PatchGroupState
		plus.Add(st, 1)
		if old != nil {
			minus.Add(old.state, -1)
		}
		if old != nil && old.state.PatchGroup == st.PatchGroup {
			for i, c := range groupCounters(&plus) {
				*c.v += *groupCounters(&minus)[i].v
			}
			if u := s.groupUpdate(st.PatchGroup, plus); u != nil {
				ops = append(ops, *u)
			}
		} else {
			if u := s.groupUpdate(st.PatchGroup, plus); u != nil {
				ops = append(ops, *u)
			}
			if old != nil {
				if u := s.groupUpdate(old.state.PatchGroup, minus); u != nil {
					ops = append(ops, *u)
				}
			}
		}
		_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: ops})
		if codes, ok := cancelReasons(err); ok && (codes[0] == codeConditionFailed || slices.Contains(codes, "TransactionConflict")) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("put patch state %s: %w", st.InstanceID, err)
		}
		return true, nil
	}
	return false, fmt.Errorf("put patch state %s: too much contention", st.InstanceID)
}

// GetInstancePatchStates returns the states of ids.
func (s *ComplianceStore) GetInstancePatchStates(ctx context.Context, ids []string) (map[string]runcmd.InstancePatchState, error) {
	keys := make([]item, 0, len(ids))
	seen := map[string]bool{}
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			keys = append(keys, pk("P#"+id, "P"))
		}
	}
	items, err := batchGet(ctx, s.client, s.table, keys, true)
	if err != nil {
		return nil, fmt.Errorf("get patch states: %w", err)
	}
	out := map[string]runcmd.InstancePatchState{}
	for _, it := range items {
		st, err := decodeStateItem(it)
		if err != nil {
			return nil, err
		}
		out[st.state.InstanceID] = st.state
	}
	return out, nil
}

// ListPatchGroupStates pages through a group's node states.
func (s *ComplianceStore) ListPatchGroupStates(ctx context.Context, group string, limit int, next string) ([]runcmd.InstancePatchState, string, error) {
	items, tok, err := listPage(ctx, s.client, s.table, "pg#"+group, pageSize(limit, 50, 0), next)
	if err != nil {
		return nil, "", fmt.Errorf("list patch states of group %s: %w", group, err)
	}
	out := make([]runcmd.InstancePatchState, 0, len(items))
	for _, it := range items {
		st, err := decodeStateItem(it)
		if err != nil {
			return nil, "", err
		}
		out = append(out, st.state)
	}
	return out, tok, nil
}

// GetPatchGroupState returns a group's counts.
func (s *ComplianceStore) GetPatchGroupState(ctx context.Context, group string) (runcmd.PatchGroupState, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: pk("G#"+group, "G"), ConsistentRead: aws.Bool(true)})
	var g runcmd.PatchGroupState
	if err != nil {
		return g, fmt.Errorf("get patch group state %s: %w", group, err)
	}
	if out.Item == nil {
		return g, nil
	}
	d := decoder{it: out.Item}
	for _, c := range groupCounters(&g) {
		*c.v = d.num(c.name)
	}
	return g, d.err
}
