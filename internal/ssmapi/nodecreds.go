package ssmapi

import (
	"context"
	"crypto/ed25519"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/service"
)

// CredentialsBackend serves runcmd's GetManagedInstanceCredentials, beyond Backend. The handler answers
// with UnsupportedOperationException when its backend lacks it.
type CredentialsBackend interface {
	GetManagedInstanceCredentials(ctx context.Context, in service.GetManagedInstanceCredentialsInput) (runcmd.NodeCredentials, error)
}

var _ CredentialsBackend = (*service.API)(nil)

// credentialsOp adapts an operation on CredentialsBackend to the table's form.
func credentialsOp[In any, PIn interface {
	*In
	request
}, Out any](fn func(ctx context.Context, b CredentialsBackend, in *In) (Out, error)) func(context.Context, Backend, []byte) (any, error) {
	return handle[In, PIn](func(ctx context.Context, b Backend, in *In) (Out, error) {
		c, ok := b.(CredentialsBackend)
		if !ok {
			var zero Out
			return zero, runcmd.Errorf(runcmd.EINVALID, "UnsupportedOperationException", "This endpoint does not issue node credentials.")
		}
		return fn(ctx, c, in)
	})
}

// getManagedInstanceCredentialsRequest is runcmd's GetManagedInstanceCredentials (not an SSM operation;
// docs/compatibility.md): a registered node's id, the time it signed the request (epoch seconds, read to
// the millisecond) and its ed25519 signature (base64) of runcmd.CredentialsProof.
type getManagedInstanceCredentialsRequest struct {
	InstanceID *string       `json:"InstanceId"`
	SignedAt   *epochSeconds `json:"SignedAt"`
	Signature  []byte        `json:"Signature"`
}

func (r *getManagedInstanceCredentialsRequest) validate() error {
	var v violations
	v.required("instanceId", r.InstanceID != nil)
	v.str("instanceId", r.InstanceID, 0, 124, &patManagedInstanceID)
	v.required("signedAt", r.SignedAt != nil)
	v.required("signature", r.Signature != nil)
	if r.Signature != nil && len(r.Signature) != ed25519.SignatureSize {
		v.add("...", "signature", "Member must be a 64-byte Ed25519 signature")
	}
	return v.err()
}

func getManagedInstanceCredentials(ctx context.Context, b CredentialsBackend, r *getManagedInstanceCredentialsRequest) (any, error) {
	out, err := b.GetManagedInstanceCredentials(ctx, service.GetManagedInstanceCredentialsInput{
		InstanceID: deref(r.InstanceID),
		SignedAt:   *r.SignedAt.time(),
		Signature:  r.Signature,
	})
	if err != nil {
		return nil, err
	}
	// STS's Credentials, flat: what an aws.CredentialsProvider needs.
	return struct {
		AccessKeyID     string `json:"AccessKeyId"`
		SecretAccessKey string `json:"SecretAccessKey"`
		SessionToken    string `json:"SessionToken"`
		Expiration      epoch  `json:"Expiration"`
	}{out.AccessKeyID, out.SecretAccessKey, out.SessionToken, epoch(out.Expiration)}, nil
}
