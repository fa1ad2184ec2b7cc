// Package creds gives the agent's SQS and S3 clients the temporary AWS credentials that the runcmd api
// issues to a registered node (GetManagedInstanceCredentials): STS credentials of the deployment's node
// role, tagged with the node's id, so IAM lets the node read only its own queue and write only its own
// output (infra/README.md, "Node credentials"). The node proves its identity by signing each request
// with its registered ed25519 key.
package creds

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"math"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/agent/internal/apiclient"
)

// Source names credentials from this provider in aws.Credentials.Source.
const Source = "RuncmdAPINodeCredentials"

// ExpiryWindow is how long before expiry the cache fetches new credentials; the jitter spreads a fleet's
// refreshes over the window's last half. With one-hour credentials and 20-second long polls this leaves
// minutes to retry a failed refresh before the old credentials stop working.
const (
	ExpiryWindow       = 10 * time.Minute
	expiryWindowJitter = 0.5
)

var _ aws.CredentialsProvider = (*Provider)(nil)

// Provider is an aws.CredentialsProvider that asks the runcmd api for the node's credentials. It does
// not cache: wrap it with NewCache.
type Provider struct {
	api        *apiclient.Client
	instanceID string
	key        ed25519.PrivateKey
	now        func() time.Time
}

// New returns a provider for the node instanceID, registered with key, at the api's endpoint. now nil
// means time.Now.
func New(endpoint, instanceID string, key ed25519.PrivateKey, now func() time.Time) *Provider {
	if now == nil {
		now = time.Now
	}
	return &Provider{api: apiclient.New(endpoint), instanceID: instanceID, key: key, now: now}
}

// NewCache wraps p in the SDK's credentials cache, which shares one set of credentials between clients
// and fetches new ones ExpiryWindow (less jitter) before they expire.
func NewCache(p *Provider) *aws.CredentialsCache {
	return aws.NewCredentialsCache(p, func(o *aws.CredentialsCacheOptions) {
		o.ExpiryWindow = ExpiryWindow
		o.ExpiryWindowJitterFrac = expiryWindowJitter
	})
}

// Retrieve signs a fresh request (the api accepts each signature once, and only within 5 minutes of its
// clock) and returns the credentials the api answers with.
func (p *Provider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	if len(p.key) != ed25519.PrivateKeySize {
		return aws.Credentials{}, fmt.Errorf("node credentials for %s: no node key", p.instanceID)
	}
	// The wire carries the time in milliseconds: sign exactly what the api will read.
	at := p.now().UTC().Truncate(time.Millisecond)
	req := struct {
		InstanceID string  `json:"InstanceId"`
		SignedAt   float64 `json:"SignedAt"`
		Signature  []byte  `json:"Signature"`
	}{p.instanceID, float64(at.UnixMilli()) / 1000, ed25519.Sign(p.key, runcmd.CredentialsProof(p.instanceID, at))}
	var resp struct {
		AccessKeyID     string  `json:"AccessKeyId"`
		SecretAccessKey string  `json:"SecretAccessKey"`
		SessionToken    string  `json:"SessionToken"`
		Expiration      float64 `json:"Expiration"`
	}
	if err := p.api.Call(ctx, "GetManagedInstanceCredentials", req, &resp); err != nil {
		return aws.Credentials{}, fmt.Errorf("node credentials for %s: %w", p.instanceID, err)
	}
	if resp.AccessKeyID == "" || resp.SecretAccessKey == "" || resp.Expiration <= 0 {
		return aws.Credentials{}, fmt.Errorf("node credentials for %s: incomplete answer from %s", p.instanceID, p.api.Endpoint)
	}
	return aws.Credentials{
		AccessKeyID:     resp.AccessKeyID,
		SecretAccessKey: resp.SecretAccessKey,
		SessionToken:    resp.SessionToken,
		Source:          Source,
		CanExpire:       true,
		Expires:         time.UnixMilli(int64(math.Round(resp.Expiration * 1000))).UTC(),
	}, nil
}
