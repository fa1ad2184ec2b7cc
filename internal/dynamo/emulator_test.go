package dynamo

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// overlapClient records the most requests of each kind that were in flight at once.
type overlapClient struct {
	writes, reads, maxWrites, maxReads atomic.Int32
}

func (c *overlapClient) Do(req *http.Request) (*http.Response, error) {
	n, m := &c.reads, &c.maxReads
	if req.Header.Get("X-Amz-Target") != "DynamoDB_20120810.GetItem" {
		n, m = &c.writes, &c.maxWrites
	}
	cur := n.Add(1)
	for old := m.Load(); cur > old && !m.CompareAndSwap(old, cur); old = m.Load() {
	}
	time.Sleep(20 * time.Millisecond)
	n.Add(-1)
	return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
}

func TestSerializeWritesForEmulator(t *testing.T) {
	t.Parallel()
	c := &overlapClient{}
	o := dynamodb.Options{HTTPClient: c}
	SerializeWritesForEmulator(&o)
	var wg sync.WaitGroup
	for i := range 16 {
		op := []string{"TransactWriteItems", "UpdateItem", "PutItem", "GetItem"}[i%4]
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, "http://emulator", nil)
			req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
			if _, err := o.HTTPClient.Do(req); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := c.maxWrites.Load(); got != 1 {
		t.Errorf("%d writes ran at once, want 1", got)
	}
	if got := c.maxReads.Load(); got < 2 {
		t.Errorf("reads ran one at a time (%d at most); only writes should wait", got)
	}
}
