package service

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/runcmd/runcmd"
)

// GetManagedInstanceCredentialsInput is runcmd's GetManagedInstanceCredentials request: a registered
// node's id and its signature, with its registered key, of runcmd.CredentialsProof(InstanceID, SignedAt).
type GetManagedInstanceCredentialsInput struct {
	InstanceID string
	SignedAt   time.Time
	Signature  []byte
}

// GetManagedInstanceCredentials gives a registered node temporary AWS credentials scoped to its own id
// (infra/README.md, "Node credentials"): the node proves it holds its registered key, and the issuer
// (STS AssumeRole on the node role, session tag runcmd-instance-id=<id>) makes the credentials. The proof
// must be signed within runcmd.MaxClockSkew of the service's clock, either way, and later than the last
// proof accepted from the node, so a captured request cannot be used again. Every request, allowed or
// denied, goes to the audit trail; the credentials never do.
func (r *Registry) GetManagedInstanceCredentials(ctx context.Context, in GetManagedInstanceCredentialsInput) (runcmd.NodeCredentials, error) {
	creds, err := r.issue(ctx, in)
	actor := "node:" + in.InstanceID
	if err != nil {
		if runcmd.ErrorCode(err) != runcmd.EINTERNAL {
			if aerr := r.audit(ctx, actor, "GetManagedInstanceCredentials", in.InstanceID, runcmd.AuditDenied,
				runcmd.ErrorMessage(err)); aerr != nil {
				return runcmd.NodeCredentials{}, errors.Join(err, aerr)
			}
		}
		return runcmd.NodeCredentials{}, err
	}
	reason := "credentials issued until " + creds.Expiration.UTC().Format(time.RFC3339)
	if err := r.audit(ctx, actor, "GetManagedInstanceCredentials", in.InstanceID, runcmd.AuditAllowed, reason); err != nil {
		// Credentials nobody can account for are not handed out. They expire on their own.
		return runcmd.NodeCredentials{}, err
	}
	return creds, nil
}

func (r *Registry) issue(ctx context.Context, in GetManagedInstanceCredentialsInput) (runcmd.NodeCredentials, error) {
	if r.Credentials == nil {
		return runcmd.NodeCredentials{}, runcmd.Errorf(runcmd.EINVALID, "UnsupportedOperationException",
			"This deployment issues no node credentials: the api has no node role (RUNCMD_NODE_ROLE_ARN). "+
				"Run the agent with its own AWS credentials (runcmd-agent --credentials ambient).")
	}
	if r.Ledger == nil {
		return runcmd.NodeCredentials{}, fmt.Errorf("credentials for %s: the registry has an issuer but no request ledger", in.InstanceID)
	}
	now := r.Now().UTC()
	nodes, err := r.Instances.GetInstances(ctx, []string{in.InstanceID})
	if err != nil {
		return runcmd.NodeCredentials{}, fmt.Errorf("credentials for %s: %w", in.InstanceID, err)
	}
	n, ok := nodes[in.InstanceID]
	switch {
	case !ok:
		return runcmd.NodeCredentials{}, runcmd.Errorf(runcmd.ENOTFOUND, "InvalidInstanceId",
			"Instance %s is not a registered managed node; register it again.", in.InstanceID)
	case len(n.PublicKey) != ed25519.PublicKeySize:
		return runcmd.NodeCredentials{}, denied(in.InstanceID, "it has no registered key")
	case in.SignedAt.Before(now.Add(-runcmd.MaxClockSkew)):
		return runcmd.NodeCredentials{}, denied(in.InstanceID, "the request was signed more than 5 minutes ago")
	case in.SignedAt.After(now.Add(runcmd.MaxClockSkew)):
		return runcmd.NodeCredentials{}, denied(in.InstanceID, "the request was signed more than 5 minutes in the future (check the node's clock)")
	case !ed25519.Verify(n.PublicKey, runcmd.CredentialsProof(in.InstanceID, in.SignedAt), in.Signature):
		return runcmd.NodeCredentials{}, denied(in.InstanceID, "the request is not signed with its registered key")
	}
	// The ledger's conditional write makes each signature good for one request, and holds only while
	// the key just verified is still the node's.
	switch err := r.Ledger.AcceptCredentialRequest(ctx, in.InstanceID, n.PublicKey, in.SignedAt); runcmd.ErrorCode(err) {
	case "":
	case runcmd.ENOTFOUND:
		return runcmd.NodeCredentials{}, runcmd.Errorf(runcmd.ENOTFOUND, "InvalidInstanceId",
			"Instance %s is not a registered managed node; register it again.", in.InstanceID)
	case runcmd.ECONFLICT:
		return runcmd.NodeCredentials{}, denied(in.InstanceID,
			"the request is a replay or not newer than one already served (sign each request anew)")
	default:
		return runcmd.NodeCredentials{}, fmt.Errorf("credentials for %s: %w", in.InstanceID, err)
	}
	creds, err := r.Credentials.IssueNodeCredentials(ctx, in.InstanceID, runcmd.NodeCredentialsLifetime)
	if err != nil {
		return runcmd.NodeCredentials{}, fmt.Errorf("credentials for %s: %w", in.InstanceID, err)
	}
	return creds, nil
}

func denied(instanceID, why string) error {
	return runcmd.Errorf(runcmd.EUNAUTHORIZED, "AccessDeniedException", "No credentials for %s: %s.", instanceID, why)
}

// GetManagedInstanceCredentials issues a node its credentials (Registry.GetManagedInstanceCredentials).
func (a *API) GetManagedInstanceCredentials(ctx context.Context, in GetManagedInstanceCredentialsInput) (runcmd.NodeCredentials, error) {
	r, err := a.registry()
	if err != nil {
		return runcmd.NodeCredentials{}, err
	}
	return r.GetManagedInstanceCredentials(ctx, in)
}
