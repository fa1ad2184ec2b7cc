package sqsq

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// BatchFailure is one entry of a batch call that SQS did not accept.
type BatchFailure struct {
	Index       int    // position in the slice passed to SendBatch or DeleteBatch
	Code        string // SQS's error code, "MessageTooLong", or "RequestFailed" when the whole call failed
	Message     string
	SenderFault bool // the entry itself is bad; retrying it unchanged will fail again
}

// BatchError reports the entries of SendBatch or DeleteBatch that failed; the others succeeded.
type BatchError struct {
	Op       string // "send" or "delete"
	QueueURL string
	Total    int
	Failures []BatchFailure
	// Err is the first error of a whole failed call, if any (network, throttling, missing queue), so
	// errors.Is/As and runcmd.ErrorCode see it.
	Err error
}

// Failed returns the indexes of the failed entries, in the order they were reported.
func (e *BatchError) Failed() []int {
	idx := make([]int, len(e.Failures))
	for i, f := range e.Failures {
		idx[i] = f.Index
	}
	return idx
}

// Error names the operation, the queue, how many entries failed, and the first few failures.
func (e *BatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s batch in %s: %d of %d entries failed", e.Op, e.QueueURL, len(e.Failures), e.Total)
	for i, f := range e.Failures {
		if i == 3 {
			fmt.Fprintf(&b, "; ...")
			break
		}
		fmt.Fprintf(&b, "; entry %d: %s: %s", f.Index, f.Code, f.Message)
	}
	return b.String()
}

// Unwrap returns the first whole-call error, or nil.
func (e *BatchError) Unwrap() error { return e.Err }

func (e *BatchError) add(f BatchFailure) { e.Failures = append(e.Failures, f) }

func (e *BatchError) addEntry(id, code, msg *string, senderFault bool) {
	i, err := strconv.Atoi(aws.ToString(id))
	if err != nil {
		i = -1 // SQS echoes our ids; anything else is a protocol surprise, still reported
	}
	e.add(BatchFailure{Index: i, Code: aws.ToString(code), Message: aws.ToString(msg), SenderFault: senderFault})
}

func (e *BatchError) failAll(idx []int, err error) {
	if e.Err == nil {
		e.Err = err
	}
	for _, i := range idx {
		e.add(BatchFailure{Index: i, Code: "RequestFailed", Message: err.Error()})
	}
}

func (e *BatchError) orNil() error {
	if len(e.Failures) == 0 {
		return nil
	}
	return e
}
