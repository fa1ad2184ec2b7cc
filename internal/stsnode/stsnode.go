// Package stsnode issues managed nodes their AWS credentials with STS: AssumeRole on the node role,
// with the node's id as the session name and as the session tag that the node policy's
// ${aws:PrincipalTag/runcmd-instance-id} confines to the node's own queue and output (infra/README.md,
// "Node credentials").
package stsnode

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/runcmd/runcmd"
)

// InstanceIDTag is the session tag that carries the node's id. infra/runcmd.yaml's NodePolicy and
// NodeRole's trust policy name the same key.
const InstanceIDTag = "runcmd-instance-id"

var _ runcmd.NodeCredentialIssuer = (*Issuer)(nil)

// Issuer is a runcmd.NodeCredentialIssuer over STS.
type Issuer struct {
	client  *sts.Client
	roleARN string
}

// New returns an Issuer that assumes roleARN. The caller's credentials need sts:AssumeRole and
// sts:TagSession on it.
func New(client *sts.Client, roleARN string) *Issuer {
	return &Issuer{client: client, roleARN: roleARN}
}

// IssueNodeCredentials assumes the node role for instanceID. STS takes whole seconds from 900 up to the
// role's MaxSessionDuration, and at most an hour when the caller itself acts with role credentials (role
// chaining: the api function). The tag is not transitive: the node's credentials carry no sts:*
// permission, so nothing chains further.
func (i *Issuer) IssueNodeCredentials(ctx context.Context, instanceID string, lifetime time.Duration) (runcmd.NodeCredentials, error) {
	secs := int32(max(lifetime, 15*time.Minute) / time.Second)
	out, err := i.client.AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn:         aws.String(i.roleARN),
		RoleSessionName: aws.String(instanceID),
		DurationSeconds: aws.Int32(secs),
		Tags:            []types.Tag{{Key: aws.String(InstanceIDTag), Value: aws.String(instanceID)}},
	})
	if err != nil {
		return runcmd.NodeCredentials{}, fmt.Errorf("assume node role for %s: %w", instanceID, err)
	}
	c := out.Credentials
	if c == nil || aws.ToString(c.AccessKeyId) == "" || c.Expiration == nil {
		return runcmd.NodeCredentials{}, fmt.Errorf("assume node role for %s: STS answered without credentials", instanceID)
	}
	return runcmd.NodeCredentials{
		AccessKeyID:     aws.ToString(c.AccessKeyId),
		SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken:    aws.ToString(c.SessionToken),
		Expiration:      c.Expiration.UTC(),
	}, nil
}
