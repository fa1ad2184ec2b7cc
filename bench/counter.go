package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"

	"github.com/runcmd/runcmd/internal/config"
)

// Counter counts every AWS request made through an aws.Config it is installed in (the functions' and
// the agents'), by service, operation and, for SQS, the queue's role. It also keeps what the DynamoDB
// cost model needs: the keys written (sizes are read back afterwards, see WriteUnits) and the sizes
// of items read. Counting is off until Start, so set-up traffic is never counted.
type Counter struct {
	res config.Resources

	mu           sync.Mutex
	on           bool
	ops          map[string]*OpCount
	emptyPolls   map[string]int // ReceiveMessage calls that returned nothing, by queue role
	heartbeats   int            // SendMessage calls carrying an agent heartbeat
	heartbeatsIn int            // heartbeats the functions received from the results queue
	maxBody      int            // largest SQS message body sent, bytes
	writes       []ddbWrite
	readUnits    float64
	ddbErrors    int
}

// OpCount is the tally of one service operation (one queue role for SQS).
type OpCount struct {
	Service   string `json:"service"`
	Operation string `json:"operation"`
	// Resource is the queue's role for SQS (dispatch, results, node) and the table(s) for DynamoDB
	// (commands, invocations, instances, tags).
	Resource string  `json:"resource,omitempty"`
	Count    int     `json:"count"`
	Errors   int     `json:"errors,omitempty"` // requests that failed (the emulator's HTTP 500s among them)
	TotalMS  float64 `json:"total_ms"`         // time spent in these requests, summed over callers
}

// ddbWrite is one item written: transactional writes cost double, and the size of an updated item
// is only known by reading it back.
type ddbWrite struct {
	table         string
	role          string // commands, invocations, instances, tags
	key           map[string]ddbtypes.AttributeValue
	size          int // known for puts
	transactional bool
	kind          string // Put, Update, Delete, ConditionCheck
}

// NewCounter returns a stopped counter that knows the queue names of res.
func NewCounter(res config.Resources) *Counter {
	return &Counter{res: res, ops: map[string]*OpCount{}, emptyPolls: map[string]int{}}
}

// Install returns a copy of cfg whose clients report to c.
func (c *Counter) Install(cfg aws.Config) aws.Config {
	out := cfg.Copy()
	out.APIOptions = append(slices.Clip(out.APIOptions), c.register)
	return out
}

// Start clears the tallies and starts counting.
func (c *Counter) Start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.on = true
	c.ops = map[string]*OpCount{}
	c.emptyPolls = map[string]int{}
	c.heartbeats, c.heartbeatsIn, c.maxBody, c.readUnits, c.ddbErrors = 0, 0, 0, 0, 0
	c.writes = nil
}

// Stop stops counting and returns what was counted.
func (c *Counter) Stop() Tally {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.on = false
	t := Tally{EmptyPolls: map[string]int{}, Heartbeats: c.heartbeats, HeartbeatsReceived: c.heartbeatsIn, MaxSQSBody: c.maxBody,
		ReadUnits: c.readUnits, writes: slices.Clone(c.writes)}
	for _, o := range c.ops {
		t.Ops = append(t.Ops, *o)
	}
	for k, v := range c.emptyPolls {
		t.EmptyPolls[k] = v
	}
	slices.SortFunc(t.Ops, func(a, b OpCount) int { return b.Count - a.Count })
	return t
}

// Tally is what a counting window saw.
type Tally struct {
	Ops        []OpCount      `json:"ops"`
	EmptyPolls map[string]int `json:"empty_polls"`
	Heartbeats int            `json:"heartbeats"`
	// HeartbeatsReceived counts heartbeats in the results queue's ReceiveMessage answers: the ones the
	// functions handled, whoever sent them (a counted agent or a separate process).
	HeartbeatsReceived int     `json:"heartbeats_received"`
	MaxSQSBody         int     `json:"max_sqs_body_bytes"`
	ReadUnits          float64 `json:"dynamodb_read_units"`
	writes             []ddbWrite
}

// Total is the number of requests counted (empty long polls excluded).
func (t Tally) Total() int {
	n := 0
	for _, o := range t.Ops {
		n += o.Count
	}
	return n
}

type inputKey struct{}

// register adds two middlewares: one that keeps the operation's input where the second, in the
// deserialize step (one call per HTTP attempt), can classify the request and look at its output.
func (c *Counter) register(stack *middleware.Stack) error {
	err := stack.Initialize.Add(middleware.InitializeMiddlewareFunc("BenchKeepInput",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			return next.HandleInitialize(middleware.WithStackValue(ctx, inputKey{}, in.Parameters), in)
		}), middleware.After)
	if err != nil {
		return err
	}
	return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("BenchCount",
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			start := time.Now()
			out, md, err := next.HandleDeserialize(ctx, in)
			c.record(ctx, middleware.GetStackValue(ctx, inputKey{}), out.Result, err, time.Since(start))
			return out, md, err
		}), middleware.Before)
}

func (c *Counter) record(ctx context.Context, input, output any, err error, took time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.on {
		return
	}
	service, op := awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx)
	queue := c.tables(input)
	switch in := input.(type) {
	case *sqs.ReceiveMessageInput:
		queue = c.queueRole(aws.ToString(in.QueueUrl))
		if out, ok := output.(*sqs.ReceiveMessageOutput); ok && err == nil {
			if len(out.Messages) == 0 {
				c.emptyPolls[queue]++
				return
			}
			if queue == "results" {
				for _, m := range out.Messages {
					if strings.Contains(aws.ToString(m.Body), `"kind":"heartbeat"`) {
						c.heartbeatsIn++
					}
				}
			}
		}
	case *sqs.SendMessageInput:
		queue = c.queueRole(aws.ToString(in.QueueUrl))
		body := aws.ToString(in.MessageBody)
		c.maxBody = max(c.maxBody, len(body))
		if strings.Contains(body, `"kind":"heartbeat"`) {
			c.heartbeats++
		}
	case *sqs.SendMessageBatchInput:
		queue = c.queueRole(aws.ToString(in.QueueUrl))
		for _, e := range in.Entries {
			c.maxBody = max(c.maxBody, len(aws.ToString(e.MessageBody)))
			if strings.Contains(aws.ToString(e.MessageBody), `"kind":"heartbeat"`) {
				c.heartbeats++
			}
		}
	case *sqs.DeleteMessageInput:
		queue = c.queueRole(aws.ToString(in.QueueUrl))
	case *sqs.DeleteMessageBatchInput:
		queue = c.queueRole(aws.ToString(in.QueueUrl))
	}
	if service == "DynamoDB" {
		if err != nil {
			c.ddbErrors++
		}
		c.dynamo(input, output)
	}
	key := service + " " + op + " " + queue
	o := c.ops[key]
	if o == nil {
		o = &OpCount{Service: service, Operation: op, Resource: queue}
		c.ops[key] = o
	}
	o.Count++
	if err != nil {
		o.Errors++
	}
	o.TotalMS += ms(took)
}

// queueRole names the queue behind a URL: dispatch, results, node (a node's own queue) or other.
func (c *Counter) queueRole(url string) string {
	name := url[strings.LastIndex(url, "/")+1:]
	switch {
	case name == c.res.DispatchQueue:
		return "dispatch"
	case name == c.res.ResultsQueue:
		return "results"
	case strings.HasPrefix(name, c.res.NodeQueuePrefix):
		return "node"
	}
	return "other"
}

// tables names the DynamoDB tables a request touches by their role, "" for other services.
func (c *Counter) tables(input any) string {
	var names []string
	switch in := input.(type) {
	case *dynamodb.GetItemInput:
		names = []string{aws.ToString(in.TableName)}
	case *dynamodb.PutItemInput:
		names = []string{aws.ToString(in.TableName)}
	case *dynamodb.UpdateItemInput:
		names = []string{aws.ToString(in.TableName)}
	case *dynamodb.DeleteItemInput:
		names = []string{aws.ToString(in.TableName)}
	case *dynamodb.QueryInput:
		names = []string{aws.ToString(in.TableName)}
	case *dynamodb.BatchGetItemInput:
		for t := range in.RequestItems {
			names = append(names, t)
		}
	case *dynamodb.BatchWriteItemInput:
		for t := range in.RequestItems {
			names = append(names, t)
		}
	case *dynamodb.TransactWriteItemsInput:
		for _, it := range in.TransactItems {
			switch {
			case it.Put != nil:
				names = append(names, aws.ToString(it.Put.TableName))
			case it.Update != nil:
				names = append(names, aws.ToString(it.Update.TableName))
			case it.Delete != nil:
				names = append(names, aws.ToString(it.Delete.TableName))
			case it.ConditionCheck != nil:
				names = append(names, aws.ToString(it.ConditionCheck.TableName))
			}
		}
	case *dynamodb.TransactGetItemsInput:
		for _, it := range in.TransactItems {
			if it.Get != nil {
				names = append(names, aws.ToString(it.Get.TableName))
			}
		}
	}
	var out []string
	for _, n := range names {
		r := c.tableRole(n)
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return strings.Join(out, "+")
}

// tableRole names a table by its role.
func (c *Counter) tableRole(name string) string {
	switch name {
	case c.res.CommandsTable:
		return "commands"
	case c.res.InvocationsTable:
		return "invocations"
	case c.res.InstancesTable:
		return "instances"
	case c.res.TagsTable:
		return "tags"
	}
	return strings.TrimPrefix(name, strings.TrimSuffix(c.res.CommandsTable, "commands"))
}

// dynamo records the items a DynamoDB request writes and the read units it consumes. c.mu is held.
func (c *Counter) dynamo(input, output any) {
	start := len(c.writes)
	defer func() {
		for i := start; i < len(c.writes); i++ {
			c.writes[i].role = c.tableRole(c.writes[i].table)
		}
	}()
	switch in := input.(type) {
	case *dynamodb.PutItemInput:
		c.writes = append(c.writes, ddbWrite{table: aws.ToString(in.TableName), size: ItemSize(in.Item), kind: "Put"})
	case *dynamodb.UpdateItemInput:
		c.writes = append(c.writes, ddbWrite{table: aws.ToString(in.TableName), key: in.Key, kind: "Update"})
	case *dynamodb.DeleteItemInput:
		c.writes = append(c.writes, ddbWrite{table: aws.ToString(in.TableName), key: in.Key, kind: "Delete"})
	case *dynamodb.BatchWriteItemInput:
		for table, reqs := range in.RequestItems {
			for _, r := range reqs {
				switch {
				case r.PutRequest != nil:
					c.writes = append(c.writes, ddbWrite{table: table, size: ItemSize(r.PutRequest.Item), kind: "Put"})
				case r.DeleteRequest != nil:
					c.writes = append(c.writes, ddbWrite{table: table, key: r.DeleteRequest.Key, kind: "Delete"})
				}
			}
		}
	case *dynamodb.TransactWriteItemsInput:
		for _, it := range in.TransactItems {
			switch {
			case it.Put != nil:
				c.writes = append(c.writes, ddbWrite{table: aws.ToString(it.Put.TableName), size: ItemSize(it.Put.Item), transactional: true, kind: "Put"})
			case it.Update != nil:
				c.writes = append(c.writes, ddbWrite{table: aws.ToString(it.Update.TableName), key: it.Update.Key, transactional: true, kind: "Update"})
			case it.Delete != nil:
				c.writes = append(c.writes, ddbWrite{table: aws.ToString(it.Delete.TableName), key: it.Delete.Key, transactional: true, kind: "Delete"})
			case it.ConditionCheck != nil:
				c.writes = append(c.writes, ddbWrite{table: aws.ToString(it.ConditionCheck.TableName), key: it.ConditionCheck.Key, transactional: true, kind: "ConditionCheck"})
			}
		}
	case *dynamodb.GetItemInput:
		if out, ok := output.(*dynamodb.GetItemOutput); ok {
			c.readUnits += readUnits(ItemSize(out.Item), aws.ToBool(in.ConsistentRead))
		}
	case *dynamodb.QueryInput:
		if out, ok := output.(*dynamodb.QueryOutput); ok {
			size := 0
			for _, it := range out.Items {
				size += ItemSize(it)
			}
			c.readUnits += readUnits(size, aws.ToBool(in.ConsistentRead))
		}
	case *dynamodb.BatchGetItemInput:
		if out, ok := output.(*dynamodb.BatchGetItemOutput); ok {
			for table, items := range out.Responses {
				consistent := aws.ToBool(in.RequestItems[table].ConsistentRead)
				for _, it := range items {
					c.readUnits += readUnits(ItemSize(it), consistent)
				}
			}
		}
	case *dynamodb.TransactGetItemsInput:
		if out, ok := output.(*dynamodb.TransactGetItemsOutput); ok {
			for _, r := range out.Responses {
				c.readUnits += 2 * readUnits(ItemSize(r.Item), true)
			}
		}
	}
}

// readUnits is DynamoDB's read request units for size bytes: one per 4 KB strongly consistent, half
// that eventually consistent, at least one request's worth.
func readUnits(size int, consistent bool) float64 {
	u := float64(max(1, (size+4095)/4096))
	if !consistent {
		u /= 2
	}
	return u
}

// ItemSize is an item's size by DynamoDB's published rules: attribute names plus values, numbers
// about one byte per two significant digits plus one, 3 bytes of overhead per map or list and one per
// element.
func ItemSize(item map[string]ddbtypes.AttributeValue) int {
	n := 0
	for k, v := range item {
		n += len(k) + valueSize(v)
	}
	return n
}

func valueSize(v ddbtypes.AttributeValue) int {
	switch t := v.(type) {
	case *ddbtypes.AttributeValueMemberS:
		return len(t.Value)
	case *ddbtypes.AttributeValueMemberN:
		return numberSize(t.Value)
	case *ddbtypes.AttributeValueMemberB:
		return len(t.Value)
	case *ddbtypes.AttributeValueMemberBOOL, *ddbtypes.AttributeValueMemberNULL:
		return 1
	case *ddbtypes.AttributeValueMemberSS:
		n := 0
		for _, s := range t.Value {
			n += len(s)
		}
		return n
	case *ddbtypes.AttributeValueMemberNS:
		n := 0
		for _, s := range t.Value {
			n += numberSize(s)
		}
		return n
	case *ddbtypes.AttributeValueMemberBS:
		n := 0
		for _, b := range t.Value {
			n += len(b)
		}
		return n
	case *ddbtypes.AttributeValueMemberM:
		n := 3
		for k, e := range t.Value {
			n += len(k) + valueSize(e) + 1
		}
		return n
	case *ddbtypes.AttributeValueMemberL:
		n := 3
		for _, e := range t.Value {
			n += valueSize(e) + 1
		}
		return n
	}
	return 0
}

func numberSize(s string) int {
	digits := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			digits++
		}
	}
	return (digits+1)/2 + 1
}

// WriteUnits computes the DynamoDB write request units of the items a tally saw written: one per KB
// of item (the larger of before and after; we read the item back after the run, which for items that
// only grow is the larger), two for transactional writes and condition checks. Deleted items that can
// no longer be read count one unit. It reads each distinct key once through get (not counted). The
// breakdown is by kind and table ("TransactUpdate commands"), with the mean item size of each.
func (t Tally) WriteUnits(ctx context.Context, get func(ctx context.Context, table string, key map[string]ddbtypes.AttributeValue) (int, error)) (float64, map[string]WriteKind, error) {
	sizes := map[string]int{}
	byKind := map[string]WriteKind{}
	total := 0.0
	for _, w := range t.writes {
		size := w.size
		if w.key != nil {
			id := w.table + "|" + keyString(w.key)
			s, ok := sizes[id]
			if !ok {
				var err error
				if s, err = get(ctx, w.table, w.key); err != nil {
					return 0, nil, fmt.Errorf("read back %s: %w", w.table, err)
				}
				sizes[id] = s
			}
			size = s
		}
		u := float64(max(1, (size+1023)/1024))
		if w.transactional {
			u *= 2
		}
		total += u
		kind := w.kind
		if w.transactional {
			kind = "Transact" + kind
		}
		k := byKind[kind+" "+w.role]
		k.Items++
		k.Units += u
		k.MeanBytes += (float64(size) - k.MeanBytes) / float64(k.Items)
		byKind[kind+" "+w.role] = k
	}
	return total, byKind, nil
}

// WriteKind is the write units of one kind of write to one table.
type WriteKind struct {
	Items     int     `json:"items"`
	Units     float64 `json:"units"`
	MeanBytes float64 `json:"mean_item_bytes"`
}

func keyString(key map[string]ddbtypes.AttributeValue) string {
	names := make([]string, 0, len(key))
	for k := range key {
		names = append(names, k)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, k := range names {
		b.WriteString(k)
		b.WriteByte('=')
		switch v := key[k].(type) {
		case *ddbtypes.AttributeValueMemberS:
			b.WriteString(v.Value)
		case *ddbtypes.AttributeValueMemberN:
			b.WriteString(v.Value)
		case *ddbtypes.AttributeValueMemberB:
			b.Write(v.Value)
		}
		b.WriteByte(';')
	}
	return b.String()
}
