// Package lambdafn adapts runcmd's services to Lambda event shapes (API Gateway HTTP API, SQS with
// partial batch failures), and holds the poller that stands in for a Lambda event source mapping when the
// functions run in one local process. The functions' mains and `runcmd dev` use the same handlers.
package lambdafn

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/service"
)

// BatchHandler handles the bodies of one SQS batch and returns, per body, nil or its error.
type BatchHandler func(ctx context.Context, bodies []string) []error

// SQSHandler turns a BatchHandler into a Lambda SQS handler that reports partial batch failures.
// Invalid messages (EINVALID: undecodable or breaking a rule) are logged and acknowledged, since
// retrying cannot fix them; other failures are retried by SQS and end in the dead-letter queue. On a
// FIFO queue every message after the first failure is reported failed too, so that order within a
// message group holds.
func SQSHandler(h BatchHandler, fifo bool, log *slog.Logger) func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		bodies := make([]string, len(ev.Records))
		for i, r := range ev.Records {
			bodies[i] = r.Body
		}
		errs := h(ctx, bodies)
		var resp events.SQSEventResponse
		failed := false
		for i, r := range ev.Records {
			err := errs[i]
			switch {
			case failed && fifo:
			case err == nil:
				continue
			case runcmd.ErrorCode(err) == runcmd.EINVALID:
				log.Warn("message_rejected", "message_id", r.MessageId, "err", err)
				continue
			default:
				log.Error("message_failed", "message_id", r.MessageId, "err", err)
				failed = true
			}
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
		}
		return resp, nil
	}
}

// Dispatch decodes dispatch messages and hands them to the dispatcher one by one, in order. A pump
// followed later in the batch by another pump of the same command is acknowledged without running: a
// pump looks at the command's state and acts on it, so the later one does all the earlier would (and
// replies arriving together otherwise cost a command read per reply batch).
func Dispatch(d *service.Dispatcher) BatchHandler {
	return func(ctx context.Context, bodies []string) []error {
		errs := make([]error, len(bodies))
		msgs := make([]*runcmd.DispatchMessage, len(bodies))
		lastPump := map[string]int{}
		for i, b := range bodies {
			var m runcmd.DispatchMessage
			if errs[i] = decode(b, &m); errs[i] != nil {
				continue
			}
			msgs[i] = &m
			if m.Kind == runcmd.DispatchPump {
				lastPump[m.CommandID] = i
			}
		}
		for i, m := range msgs {
			if m == nil || m.Kind == runcmd.DispatchPump && lastPump[m.CommandID] != i {
				continue
			}
			errs[i] = d.Handle(ctx, *m)
		}
		return errs
	}
}

// Ingest decodes agent results and applies them as one batch (so a command is woken once per batch).
func Ingest(g *service.Ingester) BatchHandler {
	return func(ctx context.Context, bodies []string) []error {
		errs := make([]error, len(bodies))
		var msgs []runcmd.ResultMessage
		var idx []int
		for i, b := range bodies {
			var m runcmd.ResultMessage
			if err := decode(b, &m); err != nil {
				errs[i] = err
				continue
			}
			msgs = append(msgs, m)
			idx = append(idx, i)
		}
		for j, err := range g.Handle(ctx, msgs) {
			errs[idx[j]] = err
		}
		return errs
	}
}

func decode(body string, v any) error {
	dec := json.NewDecoder(strings.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return runcmd.Errorf(runcmd.EINVALID, "", "undecodable message: %v", err)
	}
	return nil
}

// HTTPAPI serves an API Gateway HTTP API (payload 2.0) event with an http.Handler.
func HTTPAPI(h http.Handler) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		body := []byte(ev.Body)
		if ev.IsBase64Encoded {
			b, err := base64.StdEncoding.DecodeString(ev.Body)
			if err != nil {
				return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusBadRequest, Body: `{"__type":"SerializationException","message":"body is not valid base64"}`}, nil
			}
			body = b
		}
		path := ev.RawPath
		if path == "" {
			path = "/"
		}
		if ev.RawQueryString != "" {
			path += "?" + ev.RawQueryString
		}
		req, err := http.NewRequestWithContext(ctx, ev.RequestContext.HTTP.Method, path, bytes.NewReader(body))
		if err != nil {
			return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusBadRequest, Body: `{"__type":"ValidationException","message":"bad request line"}`}, nil
		}
		for k, v := range ev.Headers {
			req.Header.Set(k, v)
		}
		req.RemoteAddr = ev.RequestContext.HTTP.SourceIP
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		resp := events.APIGatewayV2HTTPResponse{StatusCode: rec.Code, Headers: map[string]string{}, Body: rec.Body.String()}
		for k := range rec.Header() {
			resp.Headers[k] = rec.Header().Get(k)
		}
		return resp, nil
	}
}
