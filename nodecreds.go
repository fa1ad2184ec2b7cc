package runcmd

import (
	"context"
	"crypto/ed25519"
	"time"
)

// Node credentials (runcmd's GetManagedInstanceCredentials; infra/README.md, "Node credentials"): a
// registered node proves it holds its registered key and gets short-lived AWS credentials whose principal
// tag names its id, so IAM confines it to its own queue and output. The node signs each request; the
// service accepts a signature once.

// NodeCredentialsLifetime is how long issued node credentials last. One hour is also the most STS
// grants when the issuer itself acts with a role's credentials (role chaining), as the api function does.
const NodeCredentialsLifetime = time.Hour

// NodeCredentials are temporary AWS credentials for one managed node. They are a secret: never logged,
// audited or stored.
type NodeCredentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
}

// NodeCredentialIssuer issues a node credentials scoped to its own id (STS AssumeRole on the node role
// with the session tag runcmd-instance-id=<id>).
type NodeCredentialIssuer interface {
	// IssueNodeCredentials returns credentials for instanceID that last about lifetime.
	IssueNodeCredentials(ctx context.Context, instanceID string, lifetime time.Duration) (NodeCredentials, error)
}

// CredentialRequestLedger remembers, per node, the signing time of the last credentials request it
// accepted, so that a signed request cannot be used twice: each must be signed later than the last.
type CredentialRequestLedger interface {
	// AcceptCredentialRequest records that the node instanceID, registered with publicKey, signed a
	// credentials request at signedAt. It is atomic and applies only while the node exists with that
	// key and signedAt is later than the last time it recorded for the node; otherwise it changes
	// nothing and returns ENOTFOUND InvalidInstanceId (no such node) or ECONFLICT (a replay, a request
	// older than one already accepted, or the node's key changed meanwhile).
	AcceptCredentialRequest(ctx context.Context, instanceID string, publicKey ed25519.PublicKey, signedAt time.Time) error
}

// CredentialsProof returns the bytes a node signs with its registered key to ask for credentials: its
// id and the signing time. The context line differs from RegistrationProof's and from the result
// messages', so no signature made for one purpose passes for another.
func CredentialsProof(instanceID string, at time.Time) []byte {
	return []byte("runcmd-credentials-v1\n" + instanceID + "\n" + at.UTC().Format(time.RFC3339Nano))
}
