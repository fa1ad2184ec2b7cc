package dynamo

import (
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// writeOps are the DynamoDB operations that change items.
var writeOps = map[string]bool{
	"TransactWriteItems": true, "UpdateItem": true, "PutItem": true, "DeleteItem": true, "BatchWriteItem": true,
}

// emulatorWrites serializes the writes of every client configured with SerializeWritesForEmulator in
// this process.
var emulatorWrites sync.Mutex

// SerializeWritesForEmulator is a client option for local emulators only: it lets one DynamoDB write
// run at a time. moto 5.2's TransactWriteItems copies the tables it touches and, when the transaction
// is cancelled, restores that copy, silently undoing any write another request made in between (and a
// concurrent write during the copy fails it with an HTTP 500). Real DynamoDB isolates transactions;
// moto runs one request at a time under Python's GIL anyway, so this costs little there.
func SerializeWritesForEmulator(o *dynamodb.Options) {
	next := o.HTTPClient
	if next == nil {
		next = http.DefaultClient
	}
	o.HTTPClient = serialWrites{next}
}

type serialWrites struct{ next aws.HTTPClient }

func (s serialWrites) Do(req *http.Request) (*http.Response, error) {
	op := req.Header.Get("X-Amz-Target")
	if i := strings.LastIndexByte(op, '.'); i >= 0 && writeOps[op[i+1:]] {
		emulatorWrites.Lock()
		defer emulatorWrites.Unlock()
	}
	return s.next.Do(req)
}
