package dynamo

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/runcmd/runcmd"
)

var _ runcmd.CommandStore = (*CommandStore)(nil)

// Command and invocation attributes (besides the key and index attributes in tables.go).
const (
	attrSpec        = "Spec" // the command's fields fixed at send time, as JSON
	attrDetail      = "Detail"
	attrTargetCount = "TargetCount"
	attrResolved    = "Resolved"
	attrCursor      = "Cursor"
	attrDispatched  = "Dispatched"
	attrSentDone    = "SentDone"
	countPrefix     = "Cnt" // + a terminal Detail: one counter per terminal detail

	attrInstanceName = "InstanceName"
	attrQueueURL     = "QueueURL"
	attrDocumentName = "DocumentName"
	attrComment      = "Comment"
	attrRequestedAt  = "RequestedAt"
	attrExpiresAt    = "ExpiresAt"
	attrExecTimeout  = "ExecTimeout"
	attrNotify       = "Notify" // the command's NotificationConfig, as JSON, when it names a topic
	attrSent         = "Sent"
	attrUpdatedAt    = "UpdatedAt"
	attrResult       = "Result"   // JSON
	attrResultGz     = "ResultGz" // gzip-compressed JSON, for results too big to store plainly
	attrVer          = "Ver"      // bumped by every write to an invocation: the optimistic lock
)

// Page sizes.
const (
	defaultPage     = 50  // ListCommands, ListInvocations, ListInstances: SSM's largest MaxResults
	defaultInternal = 100 // PendingInvocations, ExpiredInvocations, FindByTag
)

// Results are stored as JSON. A DynamoDB item holds at most 400 KB, and a result may carry 24,000
// characters of stdout and 8,000 of stderr per step, so a result over resultInline bytes is stored
// gzip-compressed (step output compresses well); one still over maxStoredResult is refused with ELIMIT
// rather than failing the write with a validation error.
const (
	resultInline    = 32 << 10
	maxStoredResult = 360_000
)

// CommandStore is a runcmd.CommandStore over two DynamoDB tables (see CreateTables).
type CommandStore struct {
	client      *dynamodb.Client
	commands    string
	invocations string
}

// NewCommandStore returns a CommandStore over existing tables.
func NewCommandStore(client *dynamodb.Client, commandsTable, invocationsTable string) *CommandStore {
	return &CommandStore{client: client, commands: commandsTable, invocations: invocationsTable}
}

func commandKey(id string) item { return item{attrCommandID: str(id)} }

func invocationKey(cmd, instance string) item {
	return item{attrCommandID: str(cmd), attrInstanceID: str(instance)}
}

func commandNotFound(id string) error {
	return runcmd.Errorf(runcmd.ENOTFOUND, "InvalidCommandId", "command %s does not exist", id)
}

func invocationNotFound(cmd, instance string) error {
	return runcmd.Errorf(runcmd.ENOTFOUND, "InvocationDoesNotExist", "invocation %s/%s does not exist", cmd, instance)
}

// commandItem encodes a command. The fields fixed at send time go into one JSON attribute, since they
// are only ever read whole; the detail and the counters are attributes of their own so that updates can
// ADD to them. DocumentName is repeated outside the JSON as the key of ByDocument, and Detail is the key
// of ByStatus, so every write that changes the detail moves the command between ByStatus partitions
// without further work. An empty value is left out (index keys cannot be empty).
func commandItem(c *runcmd.Command, counts map[runcmd.Detail]int) (item, error) {
	spec := *c
	spec.Detail, spec.TargetCount, spec.Resolved, spec.Cursor = "", 0, false, 0
	spec.Dispatched, spec.SentDone, spec.Counts = 0, 0, nil
	b, err := json.Marshal(&spec)
	if err != nil {
		return nil, fmt.Errorf("encode command %s: %w", c.CommandID, err)
	}
	it := item{
		attrCommandID:    str(c.CommandID),
		attrListPK:       str(listPK),
		attrRequestedKey: str(timeKey(c.RequestedAt) + "#" + c.CommandID),
		attrSpec:         str(string(b)),
		attrTargetCount:  num(c.TargetCount),
		attrResolved:     boolean(c.Resolved),
		attrCursor:       num(c.Cursor),
		attrDispatched:   num(c.Dispatched),
		attrSentDone:     num(c.SentDone),
		attrExpireAt:     epoch(c.RequestedAt.Add(runcmd.Retention)),
	}
	if c.Detail != "" {
		it[attrDetail] = str(string(c.Detail))
	}
	if c.DocumentName != "" {
		it[attrDocumentName] = str(c.DocumentName)
	}
	for d, n := range counts {
		if n != 0 {
			it[countPrefix+string(d)] = num(n)
		}
	}
	return it, nil
}

func decodeCommand(it item) (*runcmd.Command, error) {
	d := decoder{it: it}
	var c runcmd.Command
	if err := json.Unmarshal([]byte(d.str(attrSpec)), &c); err != nil {
		return nil, fmt.Errorf("decode command %s: %w", d.str(attrCommandID), err)
	}
	c.Detail = runcmd.CommandDetail(d.str(attrDetail))
	c.TargetCount = d.num(attrTargetCount)
	c.Resolved = d.boolean(attrResolved)
	c.Cursor = d.num(attrCursor)
	c.Dispatched = d.num(attrDispatched)
	c.SentDone = d.num(attrSentDone)
	c.Counts = map[runcmd.Detail]int{}
	for _, td := range runcmd.TerminalDetails {
		if n := d.num(countPrefix + string(td)); n != 0 {
			c.Counts[td] = n
		}
	}
	if d.err != nil {
		return nil, fmt.Errorf("decode command %s: %w", c.CommandID, d.err)
	}
	return &c, nil
}

func invocationItem(inv *runcmd.Invocation) (item, error) {
	name, res, err := encodeResult(inv.Result)
	if err != nil {
		return nil, fmt.Errorf("encode invocation %s/%s: %w", inv.CommandID, inv.InstanceID, err)
	}
	it := item{
		attrCommandID:    str(inv.CommandID),
		attrInstanceID:   str(inv.InstanceID),
		attrInstanceName: str(inv.InstanceName),
		attrSeq:          num(inv.Seq),
		attrQueueURL:     str(inv.QueueURL),
		attrDocumentName: str(inv.DocumentName),
		attrComment:      str(inv.Comment),
		attrRequestedAt:  timeAttr(inv.RequestedAt),
		attrRequestedKey: str(timeKey(inv.RequestedAt) + "#" + inv.CommandID),
		attrExpiresAt:    timeAttr(inv.ExpiresAt),
		attrPlatformType: str(inv.PlatformType),
		attrExecTimeout:  num(inv.ExecTimeoutSeconds),
		attrDetail:       str(string(inv.Detail)),
		attrSent:         boolean(inv.Sent),
		attrUpdatedAt:    timeAttr(inv.UpdatedAt),
		name:             res,
		attrVer:          num(0),
		attrExpireAt:     epoch(inv.RequestedAt.Add(runcmd.Retention)),
	}
	if !inv.Detail.Terminal() {
		it[attrOpenShard] = str(openShard)
		it[attrExpiresKey] = str(expiresKey(inv))
	}
	if inv.Detail == runcmd.DetailPending {
		it[attrPendingSeq] = num(inv.Seq)
	}
	if inv.NotificationConfig.NotificationArn != "" {
		b, err := json.Marshal(inv.NotificationConfig)
		if err != nil {
			return nil, fmt.Errorf("encode invocation %s/%s: %w", inv.CommandID, inv.InstanceID, err)
		}
		it[attrNotify] = str(string(b))
	}
	return it, nil
}

// expiresKey is the invocation's sort key in the index of open invocations: its deadline first.
func expiresKey(inv *runcmd.Invocation) string {
	return timeKey(inv.Deadline()) + "#" + inv.CommandID + "#" + inv.InstanceID
}

// decodeInvocation returns the invocation and its version.
func decodeInvocation(it item) (*runcmd.Invocation, int, error) {
	d := decoder{it: it}
	inv := &runcmd.Invocation{
		CommandID:    d.str(attrCommandID),
		InstanceID:   d.str(attrInstanceID),
		InstanceName: d.str(attrInstanceName),
		Seq:          d.num(attrSeq),
		QueueURL:     d.str(attrQueueURL),
		DocumentName: d.str(attrDocumentName),
		Comment:      d.str(attrComment),
		RequestedAt:  d.time(attrRequestedAt),
		ExpiresAt:    d.time(attrExpiresAt),
		PlatformType: d.str(attrPlatformType),
		Detail:       runcmd.Detail(d.str(attrDetail)),

		ExecTimeoutSeconds: d.num(attrExecTimeout),
		Sent:               d.boolean(attrSent),
		UpdatedAt:          d.time(attrUpdatedAt),
	}
	ver := d.num(attrVer)
	if d.err != nil {
		return nil, 0, fmt.Errorf("decode invocation %s/%s: %w", inv.CommandID, inv.InstanceID, d.err)
	}
	res, err := decodeResult(it)
	if err != nil {
		return nil, 0, fmt.Errorf("decode invocation %s/%s: %w", inv.CommandID, inv.InstanceID, err)
	}
	inv.Result = res
	if n := d.str(attrNotify); n != "" {
		if err := json.Unmarshal([]byte(n), &inv.NotificationConfig); err != nil {
			return nil, 0, fmt.Errorf("decode invocation %s/%s: notification config: %w", inv.CommandID, inv.InstanceID, err)
		}
	}
	return inv, ver, nil
}

// encodeResult returns the attribute to store r in (Result or ResultGz) and its value.
func encodeResult(r runcmd.Result) (string, types.AttributeValue, error) {
	b, err := json.Marshal(&r)
	if err != nil {
		return "", nil, err
	}
	if len(b) <= resultInline {
		return attrResult, str(string(b)), nil
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		return "", nil, err
	}
	if err := zw.Close(); err != nil {
		return "", nil, err
	}
	if buf.Len() > maxStoredResult {
		return "", nil, runcmd.Errorf(runcmd.ELIMIT, "", "result is too large to store (%d bytes compressed)", buf.Len())
	}
	return attrResultGz, &types.AttributeValueMemberB{Value: buf.Bytes()}, nil
}

func decodeResult(it item) (runcmd.Result, error) {
	var (
		r   runcmd.Result
		raw []byte
	)
	switch v := it[attrResultGz].(type) {
	case *types.AttributeValueMemberB:
		zr, err := gzip.NewReader(bytes.NewReader(v.Value))
		if err != nil {
			return r, fmt.Errorf("result: %w", err)
		}
		if raw, err = io.ReadAll(zr); err != nil {
			return r, fmt.Errorf("result: %w", err)
		}
	default:
		s, ok := it[attrResult].(*types.AttributeValueMemberS)
		if !ok {
			return r, nil
		}
		raw = []byte(s.Value)
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return r, fmt.Errorf("result: %w", err)
	}
	return r, nil
}

// CreateCommand writes the command and its invocations in one transaction (at most 51 items of
// TransactWriteItems' 100). The counters start from cmd's values; terminal invocations stored with it
// are counted.
func (s *CommandStore) CreateCommand(ctx context.Context, cmd *runcmd.Command, invs []*runcmd.Invocation) error {
	if cmd.CommandID == "" {
		return runcmd.Errorf(runcmd.EINVALID, "", "command id is empty")
	}
	if len(invs) > runcmd.MaxInstanceIDs {
		return runcmd.Errorf(runcmd.EINVALID, "", "at most %d invocations can be created with a command, got %d",
			runcmd.MaxInstanceIDs, len(invs))
	}
	counts := map[runcmd.Detail]int{}
	for d, n := range cmd.Counts {
		counts[d] = n
	}
	seen := map[string]bool{}
	var ops []types.TransactWriteItem
	for _, inv := range invs {
		if inv.CommandID != cmd.CommandID || inv.InstanceID == "" || seen[inv.InstanceID] {
			return runcmd.Errorf(runcmd.EINVALID, "", "invocation %s/%s does not belong to command %s or is repeated",
				inv.CommandID, inv.InstanceID, cmd.CommandID)
		}
		seen[inv.InstanceID] = true
		if inv.Detail.Terminal() {
			counts[inv.Detail]++
		}
		it, err := invocationItem(inv)
		if err != nil {
			return err
		}
		ops = append(ops, s.putNew(s.invocations, it))
	}
	it, err := commandItem(cmd, counts)
	if err != nil {
		return err
	}
	ops = append([]types.TransactWriteItem{s.putNew(s.commands, it)}, ops...)
	_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: ops})
	if reasons, ok := cancelReasons(err); ok && slices.Contains(reasons, codeConditionFailed) {
		return runcmd.Errorf(runcmd.ECONFLICT, "", "command %s already exists", cmd.CommandID)
	}
	if err != nil {
		return fmt.Errorf("create command %s: %w", cmd.CommandID, err)
	}
	return nil
}

// putNew is a transactional put that fails if the item exists (every table's keys include CommandId or
// InstanceId as the partition key, and a key attribute exists on every item).
func (s *CommandStore) putNew(table string, it item) types.TransactWriteItem {
	return types.TransactWriteItem{Put: &types.Put{
		TableName:                aws.String(table),
		Item:                     it,
		ConditionExpression:      aws.String("attribute_not_exists(#k)"),
		ExpressionAttributeNames: map[string]string{"#k": attrCommandID},
	}}
}

// GetCommand reads a command with a strongly consistent read.
func (s *CommandStore) GetCommand(ctx context.Context, commandID string) (*runcmd.Command, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.commands), Key: commandKey(commandID), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("get command %s: %w", commandID, err)
	}
	if len(out.Item) == 0 {
		return nil, commandNotFound(commandID)
	}
	return decodeCommand(out.Item)
}

// ListCommands picks the most selective way to the commands q asks for (commandSource), reads that
// index's keys newest first, merging its partitions, and reads the commands they name with consistent
// BatchGetItem calls; whatever q asks beyond the index's key is checked on those commands. The indexes
// are KEYS_ONLY, so the counter updates of a running command cost them nothing; being global, they are
// eventually consistent: a command that just changed detail may be missing from its new ByStatus
// partition for a moment, but is never listed under a detail it has left. NextToken is the RequestedKey
// of the last command returned, which is a position in every one of these indexes.
func (s *CommandStore) ListCommands(ctx context.Context, q runcmd.CommandQuery) (runcmd.CommandPage, error) {
	details, all, err := q.Details()
	if err != nil {
		return runcmd.CommandPage{}, err
	}
	after, err := decodeCommandToken(q.NextToken)
	if err != nil {
		return runcmd.CommandPage{}, err
	}
	if !all && len(details) == 0 {
		return runcmd.CommandPage{}, nil
	}
	if q.CommandID != "" {
		return s.listCommand(ctx, q)
	}
	lo, hi := requestedRange(q.InvokedAfter, q.InvokedBefore)
	if after != "" && (hi == "" || after < hi) {
		hi = after // inclusive: the entry equal to the token is skipped below
	}
	if lo != "" && hi != "" && lo > hi {
		return runcmd.CommandPage{}, nil
	}
	src := s.commandSource(q, details, all)
	streams := make([]*keyStream, len(src.values))
	for i, v := range src.values {
		e := newExprs()
		streams[i] = &keyStream{in: dynamodb.QueryInput{
			TableName:                 aws.String(src.table),
			IndexName:                 aws.String(src.index),
			KeyConditionExpression:    aws.String(e.name(src.part) + " = " + e.value(str(v)) + keyRange(e, attrRequestedKey, lo, hi)),
			ExpressionAttributeNames:  e.attrNames(),
			ExpressionAttributeValues: e.attrValues(),
			ScanIndexForward:          aws.Bool(false),
		}}
	}
	limit := pageSize(q.Limit, defaultPage, defaultPage)
	var (
		page []*runcmd.Command
		last []string // the index key of each command in page
	)
	// Stop at one more than the page holds, so that NextToken is set only when more follow.
	for len(page) <= limit {
		want := limit + 1 - len(page)
		var batch []item
		for len(batch) < want {
			it, err := newest(ctx, s.client, streams, want)
			if err != nil {
				return runcmd.CommandPage{}, fmt.Errorf("list commands by %s: %w", src.index, err)
			}
			if it == nil {
				break
			}
			if keyOf(it, attrRequestedKey) != after {
				batch = append(batch, it)
			}
		}
		if len(batch) == 0 {
			break
		}
		keys := make([]item, len(batch))
		for i, it := range batch {
			keys[i] = commandKey(keyOf(it, attrCommandID))
		}
		got, err := batchGet(ctx, s.client, s.commands, keys, true)
		if err != nil {
			return runcmd.CommandPage{}, fmt.Errorf("list commands by %s: %w", src.index, err)
		}
		byID := map[string]*runcmd.Command{}
		for _, it := range got {
			c, err := decodeCommand(it)
			if err != nil {
				return runcmd.CommandPage{}, err
			}
			byID[c.CommandID] = c
		}
		for _, it := range batch {
			// Missing: expired since the index was read.
			if c, ok := byID[keyOf(it, attrCommandID)]; ok && q.Match(c) {
				page, last = append(page, c), append(last, keyOf(it, attrRequestedKey))
			}
		}
	}
	if len(page) <= limit {
		return runcmd.CommandPage{Commands: page}, nil
	}
	next, err := encodeToken(item{attrRequestedKey: str(last[limit-1])})
	if err != nil {
		return runcmd.CommandPage{}, err
	}
	return runcmd.CommandPage{Commands: page[:limit], NextToken: next}, nil
}

// listCommand answers a query that names the command: one read, and one more for its invocation on
// q.InstanceID.
func (s *CommandStore) listCommand(ctx context.Context, q runcmd.CommandQuery) (runcmd.CommandPage, error) {
	c, err := s.GetCommand(ctx, q.CommandID)
	if runcmd.ErrorCode(err) == runcmd.ENOTFOUND {
		return runcmd.CommandPage{}, nil
	}
	if err != nil {
		return runcmd.CommandPage{}, err
	}
	if !q.Match(c) {
		return runcmd.CommandPage{}, nil
	}
	if q.InstanceID != "" {
		_, _, err := s.getInvocation(ctx, q.CommandID, q.InstanceID)
		if runcmd.ErrorCode(err) == runcmd.ENOTFOUND {
			return runcmd.CommandPage{}, nil
		}
		if err != nil {
			return runcmd.CommandPage{}, err
		}
	}
	return runcmd.CommandPage{Commands: []*runcmd.Command{c}}, nil
}

// commandSource is where ListCommands finds command ids: an index whose sort key is a RequestedKey
// (time + "#" + command id), in one or more partitions that are merged newest first.
type commandSource struct {
	table, index string
	part         string   // the partition key attribute
	values       []string // the partitions
}

// commandSource picks the index for q; the filters it does not key on are checked on the commands read.
//
//   - InstanceID: ByInstance on the invocations table, one partition per node, bounded by what the node
//     ran in the retention period.
//   - Status/ExecutionStage that allow only Pending, InProgress or Cancelling: ByStatus, those details'
//     partitions. Running commands are few, whatever else is asked.
//   - DocumentName: ByDocument.
//   - any other Status/ExecutionStage: ByStatus, one partition per detail it allows (at most eight, for
//     ExecutionStage Complete). Rare details (Incomplete, AccessDenied, ...) are small partitions; a
//     broad one (Success) is no worse than ByRequested.
//   - otherwise ByRequested, all commands.
//
// The time range is a key condition in each.
func (s *CommandStore) commandSource(q runcmd.CommandQuery, details []runcmd.CommandDetail, all bool) commandSource {
	byStatus := commandSource{table: s.commands, index: indexByStatus, part: attrDetail}
	for _, d := range details {
		byStatus.values = append(byStatus.values, string(d))
	}
	switch {
	case q.InstanceID != "":
		return commandSource{table: s.invocations, index: indexByInstance, part: attrInstanceID, values: []string{q.InstanceID}}
	case !all && !slices.ContainsFunc(details, runcmd.CommandDetail.Terminal):
		return byStatus
	case q.DocumentName != "":
		return commandSource{table: s.commands, index: indexByDocument, part: attrDocumentName, values: []string{q.DocumentName}}
	case !all:
		return byStatus
	}
	return commandSource{table: s.commands, index: indexByRequested, part: attrListPK, values: []string{listPK}}
}

// decodeCommandToken returns the RequestedKey a ListCommands NextToken holds.
func decodeCommandToken(token string) (string, error) {
	key, err := decodeToken(token)
	if err != nil || key == nil {
		return "", err
	}
	v, ok := key[attrRequestedKey].(*types.AttributeValueMemberS)
	if len(key) != 1 || !ok || v.Value == "" {
		return "", runcmd.Errorf(runcmd.EINVALID, "InvalidNextToken", "the next token is not valid")
	}
	return v.Value, nil
}

// keyStream pages through one partition of an index, holding the keys read but not yet taken.
type keyStream struct {
	in   dynamodb.QueryInput
	buf  []item
	done bool
}

// newest takes the entry with the greatest RequestedKey among the heads of streams, reading up to n more
// keys into any stream that has run dry; nil when every stream is exhausted.
func newest(ctx context.Context, c *dynamodb.Client, streams []*keyStream, n int) (item, error) {
	var best *keyStream
	for _, st := range streams {
		for len(st.buf) == 0 && !st.done {
			st.in.Limit = aws.Int32(int32(max(n, 1)))
			out, err := c.Query(ctx, &st.in)
			if err != nil {
				return nil, err
			}
			st.buf, st.in.ExclusiveStartKey = out.Items, out.LastEvaluatedKey
			st.done = len(out.LastEvaluatedKey) == 0
		}
		if len(st.buf) > 0 && (best == nil || keyOf(st.buf[0], attrRequestedKey) > keyOf(best.buf[0], attrRequestedKey)) {
			best = st
		}
	}
	if best == nil {
		return nil, nil
	}
	it := best.buf[0]
	best.buf = best.buf[1:]
	return it, nil
}

// keyOf returns a string attribute of an index entry ("" if absent).
func keyOf(it item, attr string) string {
	if v, ok := it[attr].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// requestedRange turns an inclusive time range into inclusive RequestedKey bounds ("" when open). Keys
// are time + "#" + id, and "$" sorts right after "#".
func requestedRange(after, before time.Time) (lo, hi string) {
	if !after.IsZero() {
		lo = timeKey(after)
	}
	if !before.IsZero() {
		hi = timeKey(before) + "$"
	}
	return lo, hi
}

// keyRange returns the sort key part of a key condition (with a leading " AND ") for inclusive bounds
// lo and hi, or "" when both are open.
func keyRange(e *exprs, attr, lo, hi string) string {
	switch {
	case lo != "" && hi != "":
		return " AND " + e.name(attr) + " BETWEEN " + e.value(str(lo)) + " AND " + e.value(str(hi))
	case lo != "":
		return " AND " + e.name(attr) + " >= " + e.value(str(lo))
	case hi != "":
		return " AND " + e.name(attr) + " <= " + e.value(str(hi))
	}
	return ""
}

// AddInvocations writes invocations that do not exist yet, per command in transactions of up to 99 puts
// plus the command's counter update (or an existence check). A put whose item exists is dropped, using
// the cancellation reasons, and the rest retried.
func (s *CommandStore) AddInvocations(ctx context.Context, invs []*runcmd.Invocation) error {
	byCommand := map[string][]*runcmd.Invocation{}
	var order []string
	seen := map[[2]string]bool{}
	for _, inv := range invs {
		if inv.CommandID == "" || inv.InstanceID == "" {
			return runcmd.Errorf(runcmd.EINVALID, "", "invocation %s/%s lacks an id", inv.CommandID, inv.InstanceID)
		}
		k := [2]string{inv.CommandID, inv.InstanceID}
		if seen[k] {
			continue
		}
		seen[k] = true
		if _, ok := byCommand[inv.CommandID]; !ok {
			order = append(order, inv.CommandID)
		}
		byCommand[inv.CommandID] = append(byCommand[inv.CommandID], inv)
	}
	for _, cmd := range order {
		for chunk := range slices.Chunk(byCommand[cmd], 99) {
			if err := s.addChunk(ctx, cmd, chunk); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *CommandStore) addChunk(ctx context.Context, commandID string, invs []*runcmd.Invocation) error {
	for attempt := range maxAttempts {
		if len(invs) == 0 {
			return nil
		}
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
		}
		var ops []types.TransactWriteItem
		counts := map[runcmd.Detail]int{}
		for _, inv := range invs {
			it, err := invocationItem(inv)
			if err != nil {
				return err
			}
			ops = append(ops, s.putNew(s.invocations, it))
			if inv.Detail.Terminal() {
				counts[inv.Detail]++
			}
		}
		e := newExprs()
		cond := aws.String("attribute_exists(" + e.name(attrCommandID) + ")")
		if len(counts) == 0 {
			ops = append(ops, types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
				TableName: aws.String(s.commands), Key: commandKey(commandID),
				ConditionExpression: cond, ExpressionAttributeNames: e.attrNames(),
			}})
		} else {
			var adds []string
			for _, d := range runcmd.TerminalDetails {
				if counts[d] > 0 {
					adds = append(adds, e.name(countPrefix+string(d))+" "+e.value(num(counts[d])))
				}
			}
			ops = append(ops, types.TransactWriteItem{Update: &types.Update{
				TableName: aws.String(s.commands), Key: commandKey(commandID),
				UpdateExpression: aws.String("ADD " + strings.Join(adds, ", ")), ConditionExpression: cond,
				ExpressionAttributeNames: e.attrNames(), ExpressionAttributeValues: e.attrValues(),
			}})
		}
		_, err := s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: ops})
		reasons, cancelled := cancelReasons(err)
		if !cancelled {
			if err != nil {
				return fmt.Errorf("add invocations of %s: %w", commandID, err)
			}
			return nil
		}
		if len(reasons) != len(ops) {
			return fmt.Errorf("add invocations of %s: %d cancellation reasons for %d items: %w", commandID, len(reasons), len(ops), err)
		}
		if reasons[len(ops)-1] == codeConditionFailed {
			return commandNotFound(commandID)
		}
		var keep []*runcmd.Invocation
		for i, inv := range invs {
			if reasons[i] != codeConditionFailed {
				keep = append(keep, inv)
			}
		}
		invs = keep
	}
	return fmt.Errorf("add invocations of %s: still contended after %d attempts", commandID, maxAttempts)
}

// SetResolved records the final target count.
func (s *CommandStore) SetResolved(ctx context.Context, commandID string, targetCount int) error {
	e := newExprs()
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.commands),
		Key:       commandKey(commandID),
		UpdateExpression: aws.String("SET " + e.name(attrTargetCount) + " = " + e.value(num(targetCount)) + ", " +
			e.name(attrResolved) + " = " + e.value(boolean(true))),
		ConditionExpression:       aws.String("attribute_exists(" + e.name(attrCommandID) + ")"),
		ExpressionAttributeNames:  e.attrNames(),
		ExpressionAttributeValues: e.attrValues(),
	})
	if isConditionFailed(err) {
		return commandNotFound(commandID)
	}
	if err != nil {
		return fmt.Errorf("set resolved %s: %w", commandID, err)
	}
	return nil
}

// GetInvocation reads one invocation with a strongly consistent read.
func (s *CommandStore) GetInvocation(ctx context.Context, commandID, instanceID string) (*runcmd.Invocation, error) {
	inv, _, err := s.getInvocation(ctx, commandID, instanceID)
	return inv, err
}

func (s *CommandStore) getInvocation(ctx context.Context, commandID, instanceID string) (*runcmd.Invocation, int, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.invocations), Key: invocationKey(commandID, instanceID), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, 0, fmt.Errorf("get invocation %s/%s: %w", commandID, instanceID, err)
	}
	if len(out.Item) == 0 {
		return nil, 0, invocationNotFound(commandID, instanceID)
	}
	return decodeInvocation(out.Item)
}

// ListInvocations queries the invocations of a command (the table, by instance id, strongly
// consistent) or of a node (the KEYS_ONLY ByInstance index, newest first, then a consistent
// BatchGetItem of the invocations it names). EINVALID when neither id is set: there is no index over
// all invocations. The time range is a key condition on ByInstance; on a command's invocations, which
// all carry the command's time, it is a filter.
func (s *CommandStore) ListInvocations(ctx context.Context, q runcmd.InvocationQuery) (runcmd.InvocationPage, error) {
	limit := pageSize(q.Limit, defaultPage, defaultPage)
	e := newExprs()
	switch {
	case q.CommandID != "" && q.InstanceID != "":
		inv, err := s.GetInvocation(ctx, q.CommandID, q.InstanceID)
		if runcmd.ErrorCode(err) == runcmd.ENOTFOUND {
			return runcmd.InvocationPage{}, nil
		}
		if err != nil {
			return runcmd.InvocationPage{}, err
		}
		if !q.Match(inv) {
			return runcmd.InvocationPage{}, nil
		}
		return runcmd.InvocationPage{Invocations: []*runcmd.Invocation{inv}}, nil

	case q.CommandID != "":
		in := dynamodb.QueryInput{
			TableName:              aws.String(s.invocations),
			KeyConditionExpression: aws.String(e.name(attrCommandID) + " = " + e.value(str(q.CommandID))),
			ConsistentRead:         aws.Bool(true),
		}
		var filter []string
		if !q.InvokedAfter.IsZero() {
			filter = append(filter, e.name(attrRequestedAt)+" >= "+e.value(timeAttr(q.InvokedAfter)))
		}
		if !q.InvokedBefore.IsZero() {
			filter = append(filter, e.name(attrRequestedAt)+" <= "+e.value(timeAttr(q.InvokedBefore)))
		}
		if len(filter) > 0 {
			in.FilterExpression = aws.String(strings.Join(filter, " AND "))
		}
		in.ExpressionAttributeNames, in.ExpressionAttributeValues = e.attrNames(), e.attrValues()
		items, next, err := queryPage(ctx, s.client, in, []string{attrCommandID, attrInstanceID}, limit, q.NextToken)
		if err != nil {
			return runcmd.InvocationPage{}, fmt.Errorf("list invocations of %s: %w", q.CommandID, err)
		}
		p := runcmd.InvocationPage{NextToken: next}
		for _, it := range items {
			inv, _, err := decodeInvocation(it)
			if err != nil {
				return runcmd.InvocationPage{}, err
			}
			p.Invocations = append(p.Invocations, inv)
		}
		return p, nil

	case q.InstanceID != "":
		lo, hi := requestedRange(q.InvokedAfter, q.InvokedBefore)
		if lo != "" && hi != "" && lo > hi { // an empty range, which BETWEEN refuses
			_, err := decodeToken(q.NextToken)
			return runcmd.InvocationPage{}, err
		}
		keys, next, err := queryPage(ctx, s.client, dynamodb.QueryInput{
			TableName:                 aws.String(s.invocations),
			IndexName:                 aws.String(indexByInstance),
			KeyConditionExpression:    aws.String(e.name(attrInstanceID) + " = " + e.value(str(q.InstanceID)) + keyRange(e, attrRequestedKey, lo, hi)),
			ExpressionAttributeNames:  e.attrNames(),
			ExpressionAttributeValues: e.attrValues(),
			ScanIndexForward:          aws.Bool(false),
		}, []string{attrCommandID, attrInstanceID, attrRequestedKey}, limit, q.NextToken)
		if err != nil {
			return runcmd.InvocationPage{}, fmt.Errorf("list invocations of node %s: %w", q.InstanceID, err)
		}
		invs, err := s.invocationsAt(ctx, keys)
		if err != nil {
			return runcmd.InvocationPage{}, fmt.Errorf("list invocations of node %s: %w", q.InstanceID, err)
		}
		return runcmd.InvocationPage{Invocations: invs, NextToken: next}, nil
	}
	return runcmd.InvocationPage{}, runcmd.Errorf(runcmd.EINVALID, "", "list invocations needs a command id or an instance id")
}

// invocationsAt reads the invocations that index entries name, in their order, with consistent reads;
// one that expired since the index was read is left out.
func (s *CommandStore) invocationsAt(ctx context.Context, entries []item) ([]*runcmd.Invocation, error) {
	keys := make([]item, len(entries))
	for i, it := range entries {
		keys[i] = invocationKey(keyOf(it, attrCommandID), keyOf(it, attrInstanceID))
	}
	got, err := batchGet(ctx, s.client, s.invocations, keys, true)
	if err != nil {
		return nil, err
	}
	byKey := map[runcmd.InvocationKey]*runcmd.Invocation{}
	for _, it := range got {
		inv, _, err := decodeInvocation(it)
		if err != nil {
			return nil, err
		}
		byKey[runcmd.InvocationKey{CommandID: inv.CommandID, InstanceID: inv.InstanceID}] = inv
	}
	var out []*runcmd.Invocation
	for _, it := range entries {
		if inv, ok := byKey[runcmd.InvocationKey{CommandID: keyOf(it, attrCommandID), InstanceID: keyOf(it, attrInstanceID)}]; ok {
			out = append(out, inv)
		}
	}
	return out, nil
}

// PendingInvocations queries the sparse Pending local index with a strongly consistent read. An
// invocation is in it (PendingSeq set) only while it is Pending, and the index projects everything an
// invocation holds while Pending, so the query alone answers.
func (s *CommandStore) PendingInvocations(ctx context.Context, commandID string, afterSeq, limit int) ([]*runcmd.Invocation, error) {
	e := newExprs()
	items, _, err := queryPage(ctx, s.client, dynamodb.QueryInput{
		TableName:                 aws.String(s.invocations),
		IndexName:                 aws.String(indexPending),
		KeyConditionExpression:    aws.String(e.name(attrCommandID) + " = " + e.value(str(commandID)) + " AND " + e.name(attrPendingSeq) + " > " + e.value(num(afterSeq))),
		ExpressionAttributeNames:  e.attrNames(),
		ExpressionAttributeValues: e.attrValues(),
		ConsistentRead:            aws.Bool(true),
	}, []string{attrCommandID, attrInstanceID, attrPendingSeq}, pageSize(limit, defaultInternal, 0), "")
	if err != nil {
		return nil, fmt.Errorf("pending invocations of %s after %d: %w", commandID, afterSeq, err)
	}
	var out []*runcmd.Invocation
	for _, it := range items {
		inv, _, err := decodeInvocation(it)
		if err != nil {
			return nil, err
		}
		out = append(out, inv)
	}
	return out, nil
}

// MarkSent writes every move and the command's update in one transaction, each invocation conditioned
// on still being Pending and the command on being Pending or InProgress. When the transaction is
// cancelled, the invocations whose condition failed are dropped and the rest tried again; a failed
// command condition means it is cancelling, ended or gone. Each move removes PendingSeq, taking the
// invocation out of the Pending index.
func (s *CommandStore) MarkSent(ctx context.Context, commandID string, invs []*runcmd.Invocation, cursor int, at time.Time) ([]*runcmd.Invocation, error) {
	if len(invs) > 99 {
		return nil, runcmd.Errorf(runcmd.EINVALID, "", "mark sent: at most 99 invocations per call, got %d", len(invs))
	}
	var pending []*runcmd.Invocation
	seen := map[string]bool{}
	for _, inv := range invs {
		if !seen[inv.InstanceID] && inv.InstanceID != "" && inv.Detail == runcmd.DetailPending {
			seen[inv.InstanceID] = true
			c := *inv
			pending = append(pending, &c)
		}
	}
	for attempt := range maxAttempts {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return nil, err
			}
		}
		var ops []types.TransactWriteItem
		for _, inv := range pending {
			e := newExprs()
			ops = append(ops, types.TransactWriteItem{Update: &types.Update{
				TableName: aws.String(s.invocations),
				Key:       invocationKey(commandID, inv.InstanceID),
				UpdateExpression: aws.String("SET " + e.name(attrDetail) + " = " + e.value(str(string(runcmd.DetailInProgress))) +
					", " + e.name(attrSent) + " = " + e.value(boolean(true)) +
					", " + e.name(attrUpdatedAt) + " = " + e.value(timeAttr(at)) +
					" REMOVE " + e.name(attrPendingSeq) +
					" ADD " + e.name(attrVer) + " " + e.value(num(1))),
				ConditionExpression:       aws.String(e.name(attrDetail) + " = " + e.value(str(string(runcmd.DetailPending)))),
				ExpressionAttributeNames:  e.attrNames(),
				ExpressionAttributeValues: e.attrValues(),
			}})
		}
		e := newExprs()
		inProgress := e.value(str(string(runcmd.CommandDetailInProgress)))
		update := &types.Update{
			TableName: aws.String(s.commands),
			Key:       commandKey(commandID),
			UpdateExpression: aws.String("SET " + e.name(attrCursor) + " = " + e.value(num(cursor)) + ", " + e.name(attrDetail) + " = " + inProgress +
				" ADD " + e.name(attrDispatched) + " " + e.value(num(len(pending)))),
			ConditionExpression:       aws.String(e.name(attrDetail) + " IN (" + e.value(str(string(runcmd.CommandDetailPending))) + ", " + inProgress + ")"),
			ExpressionAttributeNames:  e.attrNames(),
			ExpressionAttributeValues: e.attrValues(),
		}
		if len(pending) == 0 {
			_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName: update.TableName, Key: update.Key, UpdateExpression: update.UpdateExpression,
				ConditionExpression: update.ConditionExpression, ExpressionAttributeNames: update.ExpressionAttributeNames,
				ExpressionAttributeValues: update.ExpressionAttributeValues,
			})
			if isConditionFailed(err) {
				return nil, s.notDispatchable(ctx, commandID)
			}
			if err != nil {
				return nil, fmt.Errorf("mark sent %s: %w", commandID, err)
			}
			return nil, nil
		}
		ops = append(ops, types.TransactWriteItem{Update: update})
		_, err := s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: ops})
		reasons, cancelled := cancelReasons(err)
		if !cancelled {
			if err != nil {
				return nil, fmt.Errorf("mark sent %s: %w", commandID, err)
			}
			for _, inv := range pending {
				inv.Detail, inv.Sent, inv.UpdatedAt = runcmd.DetailInProgress, true, at
			}
			return pending, nil
		}
		if len(reasons) != len(ops) {
			return nil, fmt.Errorf("mark sent %s: %d cancellation reasons for %d items: %w", commandID, len(reasons), len(ops), err)
		}
		if reasons[len(ops)-1] == codeConditionFailed {
			return nil, s.notDispatchable(ctx, commandID)
		}
		var keep []*runcmd.Invocation
		for i, inv := range pending {
			if reasons[i] != codeConditionFailed {
				keep = append(keep, inv)
			}
		}
		pending = keep
	}
	return nil, fmt.Errorf("mark sent %s: still contended after %d attempts", commandID, maxAttempts)
}

// notDispatchable explains a failed MarkSent command condition: ENOTFOUND, or ECONFLICT for a command
// that is cancelling or has ended.
func (s *CommandStore) notDispatchable(ctx context.Context, commandID string) error {
	cmd, err := s.GetCommand(ctx, commandID)
	if err != nil {
		return err
	}
	return runcmd.Errorf(runcmd.ECONFLICT, "", "command %s is %s: nothing more is sent", commandID, cmd.Detail)
}

// Transition reads the invocation, checks runcmd.CanTransition and writes the change conditioned on the
// version read; a terminal change updates the command's counters in the same transaction. A lost race
// is retried from the read, so a transition that is no longer allowed ends in ECONFLICT.
func (s *CommandStore) Transition(ctx context.Context, t runcmd.Transition) (*runcmd.Invocation, error) {
	for attempt := range maxAttempts {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return nil, err
			}
		}
		inv, ver, err := s.getInvocation(ctx, t.CommandID, t.InstanceID)
		if err != nil {
			return nil, err
		}
		p, err := planTransition(s.invocations, t, inv, ver)
		if err != nil {
			return nil, err
		}
		retry, err := s.write(ctx, []*transitionPlan{p})
		if retry {
			continue
		}
		if err != nil {
			return nil, err
		}
		return p.next, nil
	}
	return nil, fmt.Errorf("transition invocation %s/%s to %s: still contended after %d attempts",
		t.CommandID, t.InstanceID, t.To, maxAttempts)
}

// transitionChunk bounds the transitions written in one TransactWriteItems: with their commands'
// counter updates they stay far below its 100 items, and their results (each under the 256 KiB an
// agent's reply may carry) below its 4 MB.
const transitionChunk = 10

// Transitions reads a chunk of invocations with one BatchGetItem and writes all their changes, plus
// one counter update per command, in one TransactWriteItems: a batch of ten replies costs two
// requests instead of twenty. A transition that repeats an invocation already in the chunk, and every
// transition of a chunk whose transaction is cancelled (one invocation changed under us, or a
// conflict), is applied alone through Transition afterwards, in order, so the outcome is always what
// calling Transition for each would give.
func (s *CommandStore) Transitions(ctx context.Context, ts []runcmd.Transition) ([]*runcmd.Invocation, []error) {
	invs, errs := make([]*runcmd.Invocation, len(ts)), make([]error, len(ts))
	var chunk, alone []int
	inChunk := map[runcmd.InvocationKey]bool{}
	flush := func() {
		alone = append(alone, s.transitionChunk(ctx, ts, chunk, invs, errs)...)
		chunk, inChunk = nil, map[runcmd.InvocationKey]bool{}
	}
	for i, t := range ts {
		k := runcmd.InvocationKey{CommandID: t.CommandID, InstanceID: t.InstanceID}
		switch {
		case inChunk[k]:
			alone = append(alone, i)
			continue
		case len(chunk) == transitionChunk:
			flush()
		}
		inChunk[k] = true
		chunk = append(chunk, i)
	}
	flush()
	slices.Sort(alone)
	for _, i := range alone {
		invs[i], errs[i] = s.Transition(ctx, ts[i])
	}
	return invs, errs
}

// transitionChunk applies the transitions ts[at...] (distinct invocations) together, filling invs and
// errs, and returns the indexes that must be applied one by one instead.
func (s *CommandStore) transitionChunk(ctx context.Context, ts []runcmd.Transition, at []int, invs []*runcmd.Invocation, errs []error) []int {
	if len(at) == 0 {
		return nil
	}
	keys := make([]item, len(at))
	for j, i := range at {
		keys[j] = invocationKey(ts[i].CommandID, ts[i].InstanceID)
	}
	got, err := batchGet(ctx, s.client, s.invocations, keys, true)
	if err != nil {
		for _, i := range at {
			errs[i] = fmt.Errorf("transition invocation %s/%s: %w", ts[i].CommandID, ts[i].InstanceID, err)
		}
		return nil
	}
	type read struct {
		inv *runcmd.Invocation
		ver int
	}
	current := map[runcmd.InvocationKey]read{}
	for _, it := range got {
		inv, ver, err := decodeInvocation(it)
		if err != nil {
			return at // let Transition report it for each
		}
		current[runcmd.InvocationKey{CommandID: inv.CommandID, InstanceID: inv.InstanceID}] = read{inv, ver}
	}
	var plans []*transitionPlan
	var planned []int
	for _, i := range at {
		t := ts[i]
		r, ok := current[runcmd.InvocationKey{CommandID: t.CommandID, InstanceID: t.InstanceID}]
		if !ok {
			errs[i] = invocationNotFound(t.CommandID, t.InstanceID)
			continue
		}
		p, err := planTransition(s.invocations, t, r.inv, r.ver)
		if err != nil {
			errs[i] = err
			continue
		}
		plans, planned = append(plans, p), append(planned, i)
	}
	if len(plans) == 0 {
		return nil
	}
	retry, err := s.write(ctx, plans)
	if retry {
		return planned
	}
	for j, i := range planned {
		invs[i], errs[i] = plans[j].next, err
		if err != nil {
			invs[i] = nil
		}
	}
	return nil
}

// transitionPlan is one transition worked out against the invocation as read: the conditional update
// of the invocation, the invocation after it, and the command counters a terminal change adds to.
type transitionPlan struct {
	t        runcmd.Transition
	next     *runcmd.Invocation
	update   *types.Update
	counters []string // attribute names, each to be incremented by one
}

// planTransition checks t against inv (read at version ver) and builds its write.
func planTransition(table string, t runcmd.Transition, inv *runcmd.Invocation, ver int) (*transitionPlan, error) {
	if t.FromNode && !inv.Sent {
		return nil, runcmd.Errorf(runcmd.EUNAUTHORIZED, "", "invocation %s/%s was never sent to its node", t.CommandID, t.InstanceID)
	}
	if !runcmd.CanTransition(inv.Detail, t.To) {
		return nil, runcmd.Errorf(runcmd.ECONFLICT, "", "invocation %s/%s cannot move from %s to %s",
			t.CommandID, t.InstanceID, inv.Detail, t.To)
	}
	next := *inv
	next.Detail, next.UpdatedAt = t.To, t.At
	e := newExprs()
	set := []string{
		e.name(attrDetail) + " = " + e.value(str(string(t.To))),
		e.name(attrUpdatedAt) + " = " + e.value(timeAttr(t.At)),
		e.name(attrVer) + " = " + e.value(num(ver+1)),
	}
	var remove []string
	if t.Result != nil {
		next.Result = inv.Result.Merge(*t.Result, t.To.Terminal())
		name, v, err := encodeResult(next.Result)
		if err != nil {
			return nil, fmt.Errorf("transition invocation %s/%s: %w", t.CommandID, t.InstanceID, err)
		}
		set = append(set, e.name(name)+" = "+e.value(v))
		if name == attrResult {
			remove = append(remove, e.name(attrResultGz))
		} else {
			remove = append(remove, e.name(attrResult))
		}
	}
	if inv.Detail == runcmd.DetailPending {
		remove = append(remove, e.name(attrPendingSeq)) // leaves the Pending index (t.To is never Pending)
	}
	var counters []string
	switch {
	case t.To.Terminal():
		remove = append(remove, e.name(attrOpenShard), e.name(attrExpiresKey))
		counters = append(counters, countPrefix+string(t.To))
		if inv.Sent {
			counters = append(counters, attrSentDone)
		}
	case next.Deadline() != inv.Deadline():
		// The node reported the start: the deadline moves to start + execution timeout.
		set = append(set, e.name(attrExpiresKey)+" = "+e.value(str(expiresKey(&next))))
	}
	expr := "SET " + strings.Join(set, ", ")
	if len(remove) > 0 {
		expr += " REMOVE " + strings.Join(remove, ", ")
	}
	return &transitionPlan{t: t, next: &next, counters: counters, update: &types.Update{
		TableName:                 aws.String(table),
		Key:                       invocationKey(t.CommandID, t.InstanceID),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String(e.name(attrVer) + " = " + e.value(num(ver))),
		ExpressionAttributeNames:  e.attrNames(),
		ExpressionAttributeValues: e.attrValues(),
	}}, nil
}

// write stores planned transitions of distinct invocations atomically: a single non-terminal change
// is one conditional UpdateItem; otherwise one transaction holds every invocation update and, per
// command, one update adding up its counters. retry reports a lost race (nothing was written).
func (s *CommandStore) write(ctx context.Context, plans []*transitionPlan) (retry bool, err error) {
	if len(plans) == 1 && len(plans[0].counters) == 0 {
		u := plans[0].update
		_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: u.TableName, Key: u.Key, UpdateExpression: u.UpdateExpression,
			ConditionExpression: u.ConditionExpression, ExpressionAttributeNames: u.ExpressionAttributeNames,
			ExpressionAttributeValues: u.ExpressionAttributeValues,
		})
		if isConditionFailed(err) {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("transition invocation %s/%s: %w", plans[0].t.CommandID, plans[0].t.InstanceID, err)
		}
		return false, nil
	}
	ops := make([]types.TransactWriteItem, 0, len(plans)+1)
	counts := map[string]map[string]int{} // command id -> counter -> increment
	var commands []string
	for _, p := range plans {
		ops = append(ops, types.TransactWriteItem{Update: p.update})
		if len(p.counters) == 0 {
			continue
		}
		if counts[p.t.CommandID] == nil {
			counts[p.t.CommandID] = map[string]int{}
			commands = append(commands, p.t.CommandID)
		}
		for _, c := range p.counters {
			counts[p.t.CommandID][c]++
		}
	}
	for _, id := range commands {
		e := newExprs()
		var add []string
		for _, c := range slices.Sorted(maps.Keys(counts[id])) {
			add = append(add, e.name(c)+" "+e.value(num(counts[id][c])))
		}
		ops = append(ops, types.TransactWriteItem{Update: &types.Update{
			TableName:                 aws.String(s.commands),
			Key:                       commandKey(id),
			UpdateExpression:          aws.String("ADD " + strings.Join(add, ", ")),
			ConditionExpression:       aws.String("attribute_exists(" + e.name(attrCommandID) + ")"),
			ExpressionAttributeNames:  e.attrNames(),
			ExpressionAttributeValues: e.attrValues(),
		}})
	}
	_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: ops})
	if reasons, ok := cancelReasons(err); ok {
		if len(plans) == 1 && len(reasons) == 2 && reasons[1] == codeConditionFailed {
			return false, commandNotFound(plans[0].t.CommandID)
		}
		return true, nil // an invocation changed under us, or a transaction conflict
	}
	if err != nil {
		if len(plans) == 1 {
			return false, fmt.Errorf("transition invocation %s/%s: %w", plans[0].t.CommandID, plans[0].t.InstanceID, err)
		}
		return false, fmt.Errorf("transition %d invocations: %w", len(plans), err)
	}
	return false, nil
}

// SetCommandDetail updates the detail conditioned on its current value; on a failed condition it reads
// the command to tell ENOTFOUND from ECONFLICT.
func (s *CommandStore) SetCommandDetail(ctx context.Context, commandID string, from []runcmd.CommandDetail, to runcmd.CommandDetail) error {
	conflict := func() error {
		if _, err := s.GetCommand(ctx, commandID); err != nil {
			return err
		}
		return runcmd.Errorf(runcmd.ECONFLICT, "", "command %s is not in one of %v", commandID, from)
	}
	if len(from) == 0 {
		return conflict()
	}
	e := newExprs()
	var vals []string
	for _, f := range from {
		vals = append(vals, e.value(str(string(f))))
	}
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.commands),
		Key:                       commandKey(commandID),
		UpdateExpression:          aws.String("SET " + e.name(attrDetail) + " = " + e.value(str(string(to)))),
		ConditionExpression:       aws.String("attribute_exists(" + e.name(attrCommandID) + ") AND " + e.name(attrDetail) + " IN (" + strings.Join(vals, ", ") + ")"),
		ExpressionAttributeNames:  e.attrNames(),
		ExpressionAttributeValues: e.attrValues(),
	})
	if isConditionFailed(err) {
		return conflict()
	}
	if err != nil {
		return fmt.Errorf("set command detail %s: %w", commandID, err)
	}
	return nil
}

// ExpiredInvocations queries the sparse Open index (invocations leave it when they turn terminal),
// oldest expiry first. The index is eventually consistent, so a key may name an invocation that has just
// finished; moving it then fails with ECONFLICT, which the sweeper treats as done.
func (s *CommandStore) ExpiredInvocations(ctx context.Context, before time.Time, limit int) ([]runcmd.InvocationKey, error) {
	e := newExprs()
	items, _, err := queryPage(ctx, s.client, dynamodb.QueryInput{
		TableName:                 aws.String(s.invocations),
		IndexName:                 aws.String(indexOpen),
		KeyConditionExpression:    aws.String(e.name(attrOpenShard) + " = " + e.value(str(openShard)) + " AND " + e.name(attrExpiresKey) + " < " + e.value(str(timeKey(before)))),
		ExpressionAttributeNames:  e.attrNames(),
		ExpressionAttributeValues: e.attrValues(),
	}, []string{attrCommandID, attrInstanceID, attrOpenShard, attrExpiresKey}, pageSize(limit, defaultInternal, 0), "")
	if err != nil {
		return nil, fmt.Errorf("expired invocations before %s: %w", before.UTC().Format(time.RFC3339), err)
	}
	var out []runcmd.InvocationKey
	for _, it := range items {
		d := decoder{it: it}
		k := runcmd.InvocationKey{CommandID: d.str(attrCommandID), InstanceID: d.str(attrInstanceID)}
		if d.err != nil {
			return nil, fmt.Errorf("expired invocations: %w", d.err)
		}
		out = append(out, k)
	}
	return out, nil
}

// pageSize applies a default to a non-positive limit and caps it at max (no cap when max is 0).
func pageSize(limit, def, max int) int {
	if limit <= 0 {
		return def
	}
	if max > 0 && limit > max {
		return max
	}
	return limit
}
