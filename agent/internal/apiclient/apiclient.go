// Package apiclient is the agent's small client for the runcmd api (SSM's JSON 1.1 protocol): it
// registers the node and fetches documents for aws:runDocument. It uses only the standard library, so
// the agent links no SSM SDK.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// maxResponseBytes bounds a response: the largest is a GetDocument of a 64 KB document.
const maxResponseBytes = 4 << 20

// Client calls SSM operations on one endpoint.
type Client struct {
	Endpoint string // e.g. https://abc.execute-api.us-east-1.amazonaws.com or http://127.0.0.1:8080
	HTTP     *http.Client
}

// New returns a client for endpoint with a 30 s timeout per call.
func New(endpoint string) *Client {
	return &Client{Endpoint: strings.TrimRight(endpoint, "/"), HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// Error is an error the api answered with: SSM's error name and message.
type Error struct {
	Status  int
	Type    string
	Message string
}

func (e *Error) Error() string { return e.Type + ": " + e.Message }

// Call sends AmazonSSM.<op> with in as the JSON body and decodes the answer into out.
func (c *Client) Call(ctx context.Context, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s: encode request: %w", op, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Endpoint+"/", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonSSM."+op)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("%s: read response: %w", op, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
			Msg     string `json:"Message"`
		}
		if json.Unmarshal(b, &e) != nil || e.Type == "" {
			return fmt.Errorf("%s: HTTP %d from %s", op, resp.StatusCode, c.Endpoint)
		}
		if _, name, ok := strings.Cut(e.Type, "#"); ok {
			e.Type = name
		}
		return &Error{Status: resp.StatusCode, Type: e.Type, Message: e.Message + e.Msg}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s: decode response: %w", op, err)
	}
	return nil
}

// IsType reports whether err is an api error named name.
func IsType(err error, name string) bool {
	var e *Error
	return errors.As(err, &e) && e.Type == name
}
