package ssmapi

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/internal/service"
)

// TrustBackend is what the activation and registration operations need, beyond Backend. The handler
// answers them with UnsupportedOperationException when its backend lacks them.
type TrustBackend interface {
	CreateActivation(ctx context.Context, in service.CreateActivationInput) (service.CreateActivationOutput, error)
	DescribeActivations(ctx context.Context, in service.DescribeActivationsInput) (service.DescribeActivationsOutput, error)
	DeleteActivation(ctx context.Context, activationID string) error
	DeregisterManagedInstance(ctx context.Context, instanceID string) error
	RegisterManagedInstance(ctx context.Context, in service.RegisterManagedInstanceInput) (service.RegisterManagedInstanceOutput, error)
}

var _ TrustBackend = (*service.API)(nil)

var (
	patActivationID       = newPattern(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	patManagedInstanceID  = newPattern(`(^mi-[0-9a-f]{17}$)|(^eks_c:[0-9A-Za-z][A-Za-z0-9\-_]{0,99}_\w{17}$)`)
	patDefaultInstanceNm  = newPattern(`^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`)
	activationFilterKeys  = []string{"ActivationIds", "DefaultInstanceName", "IamRole"}
	supportedPublicKeyTyp = []string{runcmd.PublicKeyTypeEd25519}
)

// trustOp adapts an operation on TrustBackend to the table's form.
func trustOp[In any, PIn interface {
	*In
	request
}, Out any](fn func(ctx context.Context, b TrustBackend, in *In) (Out, error)) func(context.Context, Backend, []byte) (any, error) {
	return handle[In, PIn](func(ctx context.Context, b Backend, in *In) (Out, error) {
		t, ok := b.(TrustBackend)
		if !ok {
			var zero Out
			return zero, runcmd.Errorf(runcmd.EINVALID, "UnsupportedOperationException", "This endpoint does not manage activations.")
		}
		return fn(ctx, t, in)
	})
}

// epochSeconds is a timestamp as the SDKs send it in JSON 1.1 requests: seconds since 1970, with a
// fraction. It is read to the millisecond, the SDKs' precision, so that a float's rounding never
// changes the time a signature covers.
type epochSeconds float64

func (e *epochSeconds) time() *time.Time {
	if e == nil {
		return nil
	}
	t := time.UnixMilli(int64(math.Round(float64(*e) * 1000))).UTC()
	return &t
}

type createActivationRequest struct {
	Description         *string       `json:"Description"`
	DefaultInstanceName *string       `json:"DefaultInstanceName"`
	IamRole             *string       `json:"IamRole"`
	RegistrationLimit   *int          `json:"RegistrationLimit"`
	ExpirationDate      *epochSeconds `json:"ExpirationDate"`
	Tags                []tagRequest  `json:"Tags"`
}

func (r *createActivationRequest) validate() error {
	var v violations
	v.str("description", r.Description, 0, 256, nil)
	v.str("defaultInstanceName", r.DefaultInstanceName, 0, 256, &patDefaultInstanceNm)
	v.required("iamRole", r.IamRole != nil)
	v.str("iamRole", r.IamRole, 0, 64, nil)
	v.intRange("registrationLimit", r.RegistrationLimit, 1, runcmd.MaxRegistrationLimit)
	v.tags("tags", r.Tags)
	return v.err()
}

func createActivation(ctx context.Context, b TrustBackend, r *createActivationRequest) (any, error) {
	out, err := b.CreateActivation(ctx, service.CreateActivationInput{
		Description:         deref(r.Description),
		DefaultInstanceName: deref(r.DefaultInstanceName),
		IamRole:             deref(r.IamRole),
		RegistrationLimit:   r.RegistrationLimit,
		ExpirationDate:      r.ExpirationDate.time(),
		Tags:                tagMap(r.Tags),
	})
	if err != nil {
		return nil, err
	}
	return struct {
		ActivationID   string `json:"ActivationId"`
		ActivationCode string `json:"ActivationCode"`
	}{out.ActivationID, out.ActivationCode}, nil
}

type describeActivationsFilterRequest struct {
	FilterKey    *string  `json:"FilterKey"`
	FilterValues []string `json:"FilterValues"`
}

type describeActivationsRequest struct {
	Filters    []describeActivationsFilterRequest `json:"Filters"`
	MaxResults *int                               `json:"MaxResults"`
	NextToken  *string                            `json:"NextToken"`
}

func (r *describeActivationsRequest) validate() error {
	var v violations
	for i, f := range r.Filters {
		path := fmt.Sprintf("filters.%d.member", i+1)
		v.enum(path+".filterKey", f.FilterKey, activationFilterKeys)
	}
	v.intRange("maxResults", r.MaxResults, 1, 50)
	return v.err()
}

type activationJSON struct {
	ActivationID        string    `json:"ActivationId"`
	Description         string    `json:"Description,omitempty"`
	DefaultInstanceName string    `json:"DefaultInstanceName,omitempty"`
	IamRole             string    `json:"IamRole"`
	RegistrationLimit   int       `json:"RegistrationLimit"`
	RegistrationsCount  int       `json:"RegistrationsCount"`
	ExpirationDate      epoch     `json:"ExpirationDate"`
	Expired             bool      `json:"Expired"`
	CreatedDate         epoch     `json:"CreatedDate"`
	Tags                []tagJSON `json:"Tags"`
}

func describeActivations(ctx context.Context, b TrustBackend, r *describeActivationsRequest) (any, error) {
	in := service.DescribeActivationsInput{MaxResults: derefInt(r.MaxResults), NextToken: deref(r.NextToken)}
	for _, f := range r.Filters {
		in.Filters = append(in.Filters, service.ActivationFilter{Key: deref(f.FilterKey), Values: f.FilterValues})
	}
	out, err := b.DescribeActivations(ctx, in)
	if err != nil {
		return nil, err
	}
	list := make([]activationJSON, 0, len(out.Activations))
	for _, a := range out.Activations {
		list = append(list, activationJSON{
			ActivationID: a.ActivationID, Description: a.Description, DefaultInstanceName: a.DefaultInstanceName,
			IamRole: a.IamRole, RegistrationLimit: a.RegistrationLimit, RegistrationsCount: a.RegistrationsCount,
			ExpirationDate: epoch(a.ExpirationDate), Expired: a.Expired, CreatedDate: epoch(a.CreatedDate),
			Tags: toTags(a.Tags),
		})
	}
	return struct {
		ActivationList []activationJSON `json:"ActivationList"`
		NextToken      string           `json:"NextToken,omitempty"`
	}{list, out.NextToken}, nil
}

type deleteActivationRequest struct {
	ActivationID *string `json:"ActivationId"`
}

func (r *deleteActivationRequest) validate() error {
	var v violations
	v.required("activationId", r.ActivationID != nil)
	v.str("activationId", r.ActivationID, 0, -1, &patActivationID)
	return v.err()
}

func deleteActivation(ctx context.Context, b TrustBackend, r *deleteActivationRequest) (any, error) {
	if err := b.DeleteActivation(ctx, deref(r.ActivationID)); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

type deregisterManagedInstanceRequest struct {
	InstanceID *string `json:"InstanceId"`
}

func (r *deregisterManagedInstanceRequest) validate() error {
	var v violations
	v.required("instanceId", r.InstanceID != nil)
	v.str("instanceId", r.InstanceID, 0, 124, &patManagedInstanceID)
	return v.err()
}

func deregisterManagedInstance(ctx context.Context, b TrustBackend, r *deregisterManagedInstanceRequest) (any, error) {
	if err := b.DeregisterManagedInstance(ctx, deref(r.InstanceID)); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// registerManagedInstanceRequest is SSM's agent-only RegisterManagedInstance (not in the public SDK
// model) with runcmd's re-registration proof: InstanceId, SignedAt and Signature (base64).
type registerManagedInstanceRequest struct {
	ActivationCode *string       `json:"ActivationCode"`
	ActivationID   *string       `json:"ActivationId"`
	PublicKey      *string       `json:"PublicKey"`
	PublicKeyType  *string       `json:"PublicKeyType"`
	Fingerprint    *string       `json:"Fingerprint"`
	InstanceID     *string       `json:"InstanceId"`
	SignedAt       *epochSeconds `json:"SignedAt"`
	Signature      []byte        `json:"Signature"`
}

func (r *registerManagedInstanceRequest) validate() error {
	var v violations
	v.required("activationCode", r.ActivationCode != nil)
	v.str("activationCode", r.ActivationCode, runcmd.ActivationCodeLength, 250, nil)
	v.required("activationId", r.ActivationID != nil)
	v.str("activationId", r.ActivationID, 0, -1, &patActivationID)
	v.required("publicKey", r.PublicKey != nil)
	v.str("publicKey", r.PublicKey, 1, 4096, nil)
	v.required("publicKeyType", r.PublicKeyType != nil)
	v.enum("publicKeyType", r.PublicKeyType, supportedPublicKeyTyp)
	v.required("fingerprint", r.Fingerprint != nil)
	v.str("fingerprint", r.Fingerprint, 1, 256, nil)
	v.str("instanceId", r.InstanceID, 0, -1, &patManagedInstanceID)
	return v.err()
}

func registerManagedInstance(ctx context.Context, b TrustBackend, r *registerManagedInstanceRequest) (any, error) {
	in := service.RegisterManagedInstanceInput{
		ActivationCode: deref(r.ActivationCode),
		ActivationID:   deref(r.ActivationID),
		PublicKey:      deref(r.PublicKey),
		PublicKeyType:  deref(r.PublicKeyType),
		Fingerprint:    deref(r.Fingerprint),
		InstanceID:     deref(r.InstanceID),
		Signature:      r.Signature,
	}
	if t := r.SignedAt.time(); t != nil {
		in.SignedAt = *t
	}
	out, err := b.RegisterManagedInstance(ctx, in)
	if err != nil {
		return nil, err
	}
	// QueueUrl and ResultsQueueUrl are runcmd extensions: where the node polls and where it replies.
	return struct {
		InstanceID      string `json:"InstanceId"`
		QueueURL        string `json:"QueueUrl"`
		ResultsQueueURL string `json:"ResultsQueueUrl"`
	}{out.InstanceID, out.QueueURL, out.ResultsQueueURL}, nil
}
