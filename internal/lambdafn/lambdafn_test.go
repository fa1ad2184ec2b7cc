package lambdafn

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/fake"
	"github.com/runcmd/runcmd/internal/service"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func event(bodies ...string) events.SQSEvent {
	var ev events.SQSEvent
	for i, b := range bodies {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: string(rune('a' + i)), Body: b})
	}
	return ev
}

func failures(r events.SQSEventResponse) []string {
	var ids []string
	for _, f := range r.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	return ids
}

func TestSQSHandlerPartialFailures(t *testing.T) {
	t.Parallel()
	retry := errors.New("store unavailable")
	poison := runcmd.Errorf(runcmd.EINVALID, "", "bad message")
	h := func(_ context.Context, bodies []string) []error {
		errs := make([]error, len(bodies))
		for i, b := range bodies {
			switch b {
			case "retry":
				errs[i] = retry
			case "poison":
				errs[i] = poison
			}
		}
		return errs
	}
	tests := []struct {
		name string
		fifo bool
		want []string
	}{
		// a ok, b retry, c poison (acknowledged), d ok
		{"standard queue reports only retryable failures", false, []string{"b"}},
		// on a FIFO queue everything after the first failure is retried to keep group order
		{"fifo queue fails the rest of the batch", true, []string{"b", "c", "d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := SQSHandler(h, tt.fifo, discard)(context.Background(), event("ok", "retry", "poison", "ok"))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, failures(resp)); diff != "" {
				t.Errorf("failures (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDispatchRejectsUndecodable(t *testing.T) {
	t.Parallel()
	errs := Dispatch(nil)(context.Background(), []string{"{not json"})
	if runcmd.ErrorCode(errs[0]) != runcmd.EINVALID {
		t.Errorf("undecodable dispatch message: %v, want EINVALID (acknowledged, not retried)", errs[0])
	}
}

func TestHTTPAPI(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Target", r.Header.Get("X-Amz-Target"))
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write([]byte(r.Method + " " + r.URL.Path + " " + string(body)))
	})
	ev := events.APIGatewayV2HTTPRequest{
		RawPath: "/", Headers: map[string]string{"x-amz-target": "AmazonSSM.ListCommands"},
		Body: "e30=", IsBase64Encoded: true,
	}
	ev.RequestContext.HTTP.Method = "POST"
	resp, err := HTTPAPI(h)(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusTeapot || resp.Body != "POST / {}" || resp.Headers["X-Target"] != "AmazonSSM.ListCommands" {
		t.Errorf("response = %+v", resp)
	}
	ev.Body = "!!"
	if resp, _ := HTTPAPI(h)(context.Background(), ev); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad base64: status %d, want 400", resp.StatusCode)
	}
}

// TestPollerDeletesOnlySuccesses checks the event-source-mapping stand-in: handled messages are
// deleted, failed ones come back after the visibility timeout.
func TestPollerDeletesOnlySuccesses(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		q := fake.NewQueue("fake://q", fake.QueueOptions{VisibilityTimeout: 30 * time.Second})
		ctx, cancel := context.WithCancel(t.Context())
		for _, b := range []string{"ok", "fail"} {
			if err := q.Send(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		seen := map[string]int{}
		p := &Poller{Queue: q, Batch: 10, Wait: 20 * time.Second, Log: discard,
			Handler: func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
				var resp events.SQSEventResponse
				for _, r := range ev.Records {
					seen[r.Body]++
					if r.Body == "fail" {
						resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
					}
				}
				return resp, nil
			}}
		done := make(chan struct{})
		go func() { p.Run(ctx); close(done) }()
		time.Sleep(45 * time.Second) // one visibility timeout: "fail" is delivered twice
		synctest.Wait()
		cancel()
		<-done
		if seen["ok"] != 1 || seen["fail"] != 2 {
			t.Errorf("deliveries = %v, want ok once and fail twice", seen)
		}
		if visible, inFlight := q.Len(); visible+inFlight != 1 {
			t.Errorf("queue holds %d messages, want only the failing one", visible+inFlight)
		}
	})
}

// pumpCounter records which commands a dispatcher read.
type pumpCounter struct {
	runcmd.CommandStore
	read []string
}

func (p *pumpCounter) GetCommand(_ context.Context, id string) (*runcmd.Command, error) {
	p.read = append(p.read, id)
	return nil, runcmd.Errorf(runcmd.ENOTFOUND, "InvalidCommandId", "no command %s", id)
}

// TestDispatchCoalescesPumps checks that of several pumps of one command in a batch only the last runs,
// and that other commands' pumps and other kinds still run in order.
func TestDispatchCoalescesPumps(t *testing.T) {
	t.Parallel()
	store := &pumpCounter{}
	d := &service.Dispatcher{Commands: store, Log: discard}
	msg := func(kind, id string) string {
		b, err := json.Marshal(runcmd.DispatchMessage{Kind: kind, CommandID: id})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	errs := Dispatch(d)(t.Context(), []string{
		msg(runcmd.DispatchPump, "c1"), msg(runcmd.DispatchPump, "c2"), msg(runcmd.DispatchPump, "c1"),
		msg(runcmd.DispatchCancel, "c3"), msg(runcmd.DispatchPump, "c1"),
	})
	if diff := cmp.Diff([]string{"c2", "c3", "c1"}, store.read); diff != "" {
		t.Errorf("commands handled (-want +got):\n%s", diff)
	}
	for i, want := range []bool{false, true, false, true, true} { // skipped pumps are acknowledged
		if got := errs[i] != nil; got != want {
			t.Errorf("message %d: err %v, want error %v", i, errs[i], want)
		}
	}
}
