package service

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/runcmd/runcmd"
)

// Registry registers managed nodes: it keeps activations, exchanges one for a managed-instance id and
// the node's own queue (RegisterManagedInstance), deregisters nodes, and issues registered nodes their
// AWS credentials (GetManagedInstanceCredentials). Every registration and credentials request, allowed
// or denied, goes to the audit trail.
type Registry struct {
	Activations runcmd.ActivationStore
	Instances   runcmd.InstanceStore
	Nodes       runcmd.NodeRegistry
	Queues      runcmd.NodeQueueAdmin
	Audit       runcmd.AuditStore
	// ResultsQueueURL is handed to registered nodes: where they send replies and heartbeats.
	ResultsQueueURL string
	// Credentials issues registered nodes their AWS credentials (GetManagedInstanceCredentials, in
	// nodecreds.go); nil when the deployment has no node role, and nodes use credentials of their own.
	// Ledger makes each signed credentials request good once; it must be set with Credentials.
	Credentials runcmd.NodeCredentialIssuer
	Ledger      runcmd.CredentialRequestLedger
	Now         Clock
	// NewID returns a new activation id (a UUID); NewCode a new activation code; NewInstanceID a new
	// managed-instance id. Tests inject their own.
	NewID         func() string
	NewCode       func() string
	NewInstanceID func() string
}

// NewRegistry returns a Registry with the real clock and random ids and codes.
func NewRegistry(acts runcmd.ActivationStore, instances runcmd.InstanceStore, nodes runcmd.NodeRegistry,
	queues runcmd.NodeQueueAdmin, audit runcmd.AuditStore, resultsQueueURL string) *Registry {
	return &Registry{Activations: acts, Instances: instances, Nodes: nodes, Queues: queues, Audit: audit,
		ResultsQueueURL: resultsQueueURL, Now: time.Now, NewID: NewUUID, NewCode: NewActivationCode,
		NewInstanceID: NewInstanceID}
}

// NewActivationCode returns a random activation code: ActivationCodeLength letters and digits (about
// 119 bits).
func NewActivationCode() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, runcmd.ActivationCodeLength)
	for i := range b {
		b[i] = alphabet[randIndex(len(alphabet))]
	}
	return string(b)
}

// randIndex returns a uniform random number in [0, n) for n <= 256, by rejection sampling.
func randIndex(n int) int {
	limit := 256 - 256%n
	var b [1]byte
	for {
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
		if int(b[0]) < limit {
			return int(b[0]) % n
		}
	}
}

// NewInstanceID returns a managed-instance id: "mi-" and 17 lowercase hex characters, as SSM issues.
func NewInstanceID() string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return "mi-" + hex.EncodeToString(b[:])[:17]
}

// hashCode is what the store keeps of an activation code. Codes are long and random, so a plain
// SHA-256 resists guessing as well as a slow hash would.
func hashCode(code string) string {
	sum := sha256.Sum256([]byte("runcmd-activation-code\x00" + code))
	return hex.EncodeToString(sum[:])
}

// CreateActivationInput is CreateActivation's request.
type CreateActivationInput struct {
	Description         string
	DefaultInstanceName string
	IamRole             string
	RegistrationLimit   *int       // nil: DefaultRegistrationLimit
	ExpirationDate      *time.Time // nil: DefaultActivationLifetime from now
	Tags                map[string]string
}

// CreateActivationOutput is CreateActivation's result. The code is shown only here.
type CreateActivationOutput struct {
	ActivationID   string
	ActivationCode string
}

// CreateActivation creates an activation and returns its id and code.
func (r *Registry) CreateActivation(ctx context.Context, in CreateActivationInput) (CreateActivationOutput, error) {
	now := r.Now().UTC()
	limit := runcmd.DefaultRegistrationLimit
	if in.RegistrationLimit != nil {
		limit = *in.RegistrationLimit
	}
	if limit < 1 || limit > runcmd.MaxRegistrationLimit {
		return CreateActivationOutput{}, runcmd.Errorf(runcmd.EINVALID, "ValidationException",
			"RegistrationLimit must be between 1 and %d.", runcmd.MaxRegistrationLimit)
	}
	expires := now.Add(runcmd.DefaultActivationLifetime)
	if in.ExpirationDate != nil {
		expires = in.ExpirationDate.UTC()
		switch {
		case !expires.After(now):
			return CreateActivationOutput{}, runcmd.Errorf(runcmd.EINVALID, "ValidationException",
				"ExpirationDate %s is in the past.", expires.Format(time.RFC3339))
		case expires.After(now.Add(runcmd.MaxActivationLifetime)):
			return CreateActivationOutput{}, runcmd.Errorf(runcmd.EINVALID, "ValidationException",
				"ExpirationDate %s is more than 30 days in the future.", expires.Format(time.RFC3339))
		}
	}
	if strings.TrimSpace(in.IamRole) == "" {
		return CreateActivationOutput{}, runcmd.Errorf(runcmd.EINVALID, "ValidationException", "IamRole is required.")
	}
	code := r.NewCode()
	a := &runcmd.Activation{
		ActivationID:        r.NewID(),
		CodeHash:            hashCode(code),
		Description:         in.Description,
		DefaultInstanceName: in.DefaultInstanceName,
		IamRole:             in.IamRole,
		RegistrationLimit:   limit,
		ExpirationDate:      expires,
		CreatedDate:         now,
		Tags:                maps.Clone(in.Tags),
	}
	if err := r.Activations.CreateActivation(ctx, a); err != nil {
		return CreateActivationOutput{}, fmt.Errorf("create activation: %w", err)
	}
	return CreateActivationOutput{ActivationID: a.ActivationID, ActivationCode: code}, nil
}

// ActivationFilter is a DescribeActivations filter.
type ActivationFilter struct {
	Key    string // ActivationIds, DefaultInstanceName or IamRole
	Values []string
}

// DescribeActivationsInput is DescribeActivations' request.
type DescribeActivationsInput struct {
	Filters    []ActivationFilter
	MaxResults int
	NextToken  string
}

// ActivationView is an activation as DescribeActivations shows it.
type ActivationView struct {
	*runcmd.Activation
	Expired bool
}

// DescribeActivationsOutput is one page of activations.
type DescribeActivationsOutput struct {
	Activations []ActivationView
	NextToken   string
}

// DescribeActivations lists activations in id order. ActivationIds reads those activations by key;
// the other filters keep the activations whose field equals one of the values.
func (r *Registry) DescribeActivations(ctx context.Context, in DescribeActivationsInput) (DescribeActivationsOutput, error) {
	now := r.Now()
	var ids []string
	var keep []func(*runcmd.Activation) bool
	for _, f := range in.Filters {
		switch f.Key {
		case "ActivationIds":
			ids = append(ids, f.Values...)
		case "DefaultInstanceName":
			keep = append(keep, func(a *runcmd.Activation) bool { return slices.Contains(f.Values, a.DefaultInstanceName) })
		case "IamRole":
			keep = append(keep, func(a *runcmd.Activation) bool { return slices.Contains(f.Values, a.IamRole) })
		default:
			return DescribeActivationsOutput{}, runcmd.Errorf(runcmd.EINVALID, "InvalidFilter",
				"Filter key %q is not valid: use ActivationIds, DefaultInstanceName or IamRole.", f.Key)
		}
	}
	var out DescribeActivationsOutput
	add := func(a *runcmd.Activation) {
		if all(keep, a) {
			out.Activations = append(out.Activations, ActivationView{Activation: a, Expired: a.Expired(now)})
		}
	}
	if ids != nil {
		for _, id := range slices.Compact(slices.Sorted(slices.Values(ids))) {
			a, err := r.Activations.GetActivation(ctx, id)
			switch runcmd.ErrorCode(err) {
			case "":
				add(a)
			case runcmd.ENOTFOUND:
			default:
				return DescribeActivationsOutput{}, fmt.Errorf("describe activations: %w", err)
			}
		}
		return out, nil
	}
	limit := cmpOrInt(in.MaxResults, defaultListLimit)
	next := in.NextToken
	for {
		page, err := r.Activations.ListActivations(ctx, limit-len(out.Activations), next)
		if err != nil {
			return DescribeActivationsOutput{}, fmt.Errorf("describe activations: %w", err)
		}
		for _, a := range page.Activations {
			add(a)
		}
		out.NextToken = page.NextToken
		if page.NextToken == "" || len(out.Activations) >= limit {
			return out, nil
		}
		next = page.NextToken
	}
}

// DeleteActivation deletes an activation; the nodes it registered stay registered.
func (r *Registry) DeleteActivation(ctx context.Context, activationID string) error {
	if err := r.Activations.DeleteActivation(ctx, activationID); err != nil {
		return fmt.Errorf("delete activation %s: %w", activationID, err)
	}
	return nil
}

// DeregisterManagedInstance removes a node: its record, its tags and its queue. Commands sent to it
// afterwards fail with InvalidInstanceId; invocations already sent end by their timeouts.
func (r *Registry) DeregisterManagedInstance(ctx context.Context, instanceID string) error {
	nodes, err := r.Instances.GetInstances(ctx, []string{instanceID})
	if err != nil {
		return fmt.Errorf("deregister %s: %w", instanceID, err)
	}
	n, ok := nodes[instanceID]
	if !ok {
		return runcmd.Errorf(runcmd.ENOTFOUND, "InvalidInstanceId", "Instance %s is not a registered managed node.", instanceID)
	}
	if err := r.Nodes.DeregisterInstance(ctx, instanceID); err != nil {
		return fmt.Errorf("deregister %s: %w", instanceID, err)
	}
	if n.QueueURL != "" {
		if err := r.Queues.DeleteNodeQueue(ctx, n.QueueURL); err != nil {
			return fmt.Errorf("deregister %s: %w", instanceID, err)
		}
	}
	return r.audit(ctx, "operator", "DeregisterManagedInstance", instanceID, runcmd.AuditAllowed, "node deregistered")
}

// RegisterManagedInstanceInput is what an agent sends to register (SSM's agent-only operation, plus
// runcmd's re-registration proof).
type RegisterManagedInstanceInput struct {
	ActivationCode string
	ActivationID   string
	PublicKey      string // base64 of the raw 32-byte ed25519 key
	PublicKeyType  string // runcmd.PublicKeyTypeEd25519
	Fingerprint    string // the agent's machine fingerprint; recorded nowhere yet
	// InstanceID, SignedAt and Signature ask to keep an existing id: Signature is the node's current
	// key's signature of runcmd.RegistrationProof(ActivationID, InstanceID, PublicKey, SignedAt).
	InstanceID string
	SignedAt   time.Time
	Signature  []byte
}

// RegisterManagedInstanceOutput is the registration's result.
type RegisterManagedInstanceOutput struct {
	InstanceID      string
	QueueURL        string // the node's own queue
	ResultsQueueURL string // where the node replies
	// Refused says why the node did not keep the id it asked for (it got a new one); empty otherwise.
	Refused string
}

// RegisterManagedInstance exchanges an activation for a managed-instance id, the node's own queue and
// the registration of its public key. The activation must exist, match its code, not be expired and be
// below its registration limit; its counter moves atomically, and a registration that fails after it
// moved gives its slot back (see slot). A node keeps its id only when it proves it holds that id's
// registered key; otherwise it gets a new id.
func (r *Registry) RegisterManagedInstance(ctx context.Context, in RegisterManagedInstanceInput) (RegisterManagedInstanceOutput, error) {
	out, claimed, err := r.register(ctx, in)
	actor := "activation:" + in.ActivationID
	if err != nil {
		if code := runcmd.ErrorCode(err); code != runcmd.EINTERNAL {
			if aerr := r.audit(ctx, actor, "RegisterManagedInstance", cmp.Or(in.InstanceID, in.ActivationID),
				runcmd.AuditDenied, runcmd.ErrorMessage(err)); aerr != nil {
				return out, errors.Join(err, aerr)
			}
		}
		return out, err
	}
	reason := "new node registered"
	switch {
	case out.InstanceID == in.InstanceID:
		reason = "node proved its key and kept its id"
	case out.Refused != "":
		reason = fmt.Sprintf("new node registered; it asked to keep %s, refused: %s", in.InstanceID, out.Refused)
	}
	if err := r.audit(ctx, actor, "RegisterManagedInstance", out.InstanceID, runcmd.AuditAllowed, reason); err != nil {
		// The node never learns its id, so the registration is taken back: an unaudited node must not
		// exist, and the node's retry needs the slot.
		return RegisterManagedInstanceOutput{}, errors.Join(err, claimed.undo(ctx))
	}
	return out, nil
}

// register does the registration; on success it also returns the slot it took, so the caller can still
// give it back.
func (r *Registry) register(ctx context.Context, in RegisterManagedInstanceInput) (RegisterManagedInstanceOutput, *slot, error) {
	now := r.Now().UTC()
	if in.PublicKeyType != runcmd.PublicKeyTypeEd25519 {
		return RegisterManagedInstanceOutput{}, nil, runcmd.Errorf(runcmd.EINVALID, "ValidationException",
			"PublicKeyType %q is not supported: runcmd nodes register %s keys.", in.PublicKeyType, runcmd.PublicKeyTypeEd25519)
	}
	pub, err := base64.StdEncoding.DecodeString(in.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return RegisterManagedInstanceOutput{}, nil, runcmd.Errorf(runcmd.EINVALID, "ValidationException",
			"PublicKey must be the base64 encoding of a %d-byte Ed25519 public key.", ed25519.PublicKeySize)
	}
	a, err := r.Activations.GetActivation(ctx, in.ActivationID)
	if runcmd.ErrorCode(err) == runcmd.ENOTFOUND {
		return RegisterManagedInstanceOutput{}, nil, invalidActivation(in.ActivationID)
	}
	if err != nil {
		return RegisterManagedInstanceOutput{}, nil, fmt.Errorf("register: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(hashCode(in.ActivationCode)), []byte(a.CodeHash)) != 1 {
		return RegisterManagedInstanceOutput{}, nil, invalidActivation(in.ActivationID)
	}
	if a.Expired(now) {
		return RegisterManagedInstanceOutput{}, nil, runcmd.Errorf(runcmd.EINVALID, "InvalidActivation",
			"Activation %s expired at %s; create a new activation.", a.ActivationID, a.ExpirationDate.UTC().Format(time.RFC3339))
	}
	id, refused, err := r.keepID(ctx, in, now)
	if err != nil {
		return RegisterManagedInstanceOutput{}, nil, err
	}
	// The counter moves last among the checks and atomically: concurrent registrations cannot pass
	// the limit, and a request refused above uses up nothing.
	a, err = r.Activations.ClaimRegistration(ctx, in.ActivationID, now)
	if runcmd.ErrorCode(err) == runcmd.ENOTFOUND {
		return RegisterManagedInstanceOutput{}, nil, invalidActivation(in.ActivationID)
	}
	if err != nil {
		return RegisterManagedInstanceOutput{}, nil, fmt.Errorf("register: %w", err)
	}
	claimed := &slot{r: r, activationID: a.ActivationID, instanceID: id, kept: id != ""}
	if id == "" {
		claimed.instanceID = r.NewInstanceID()
	}
	out, err := claimed.fill(ctx, a, pub, now)
	if err != nil {
		return RegisterManagedInstanceOutput{}, nil, errors.Join(err, claimed.undo(ctx))
	}
	out.ResultsQueueURL, out.Refused = r.ResultsQueueURL, refused
	return out, claimed, nil
}

// undoTimeout bounds the compensation of a failed registration. It runs on a context of its own: a
// registration that failed because its caller went away must still give its slot back.
const undoTimeout = 10 * time.Second

// slot is an activation slot that a registration has claimed (ClaimRegistration) and fills with a
// node: the node's queue, then its record. If the registration fails after the claim, undo gives the
// slot back.
//
// Why a compensating release rather than moving the counter in the node record's transaction: the
// counter belongs to the ActivationStore and the node to the NodeRegistry (other tables, other ports),
// and the last step that can fail, the audit record, is in neither; a release covers every failure
// after the claim. Claiming first keeps a request refused for the limit from creating a queue, and
// while a doomed registration holds its slot a concurrent one may be refused for the limit; it only has
// to try again. It is correct under concurrency and retries because:
//
//   - the release is conditional (never below zero) and the store applies one call once even when the
//     SDK resends it (the DynamoDB adapter uses a transaction's idempotency token), so it gives back only
//     this request's slot, never one a registered node holds;
//   - a new node's record is deleted before the release: a write whose answer was lost may still have
//     happened, and a node that exists holds the slot. If that delete fails the slot stays taken: fail
//     closed, an activation may lose a slot but never registers more nodes than its limit;
//   - a node that kept its id was counted when it first registered, so its failed re-registration
//     gives its new slot back whatever its record says, and its record and queue are left alone.
//
// What it cannot cover: a process that dies between the claim and the release (a Lambda timeout) loses
// that one slot.
type slot struct {
	r            *Registry
	activationID string
	instanceID   string
	kept         bool   // the node proved its key and keeps its id: its record and queue existed before
	queueURL     string // set once the queue exists
	written      bool   // the node's record may have been written
}

// fill creates the node's queue and writes its record.
func (c *slot) fill(ctx context.Context, a *runcmd.Activation, pub []byte, now time.Time) (RegisterManagedInstanceOutput, error) {
	queueURL, err := c.r.Queues.EnsureNodeQueue(ctx, c.instanceID)
	if err != nil {
		return RegisterManagedInstanceOutput{}, fmt.Errorf("register %s: %w", c.instanceID, err)
	}
	c.queueURL = queueURL
	node := &runcmd.Instance{
		InstanceID:   c.instanceID,
		Name:         a.DefaultInstanceName,
		ResourceType: runcmd.ResourceTypeManagedInstance,
		QueueURL:     queueURL,
		RegisteredAt: now,
		Tags:         maps.Clone(a.Tags),
		ActivationID: a.ActivationID,
		IamRole:      a.IamRole,
		PublicKey:    pub,
	}
	c.written = true
	if err := c.r.Nodes.RegisterInstance(ctx, node); err != nil {
		return RegisterManagedInstanceOutput{}, fmt.Errorf("register %s: %w", c.instanceID, err)
	}
	return RegisterManagedInstanceOutput{InstanceID: c.instanceID, QueueURL: queueURL}, nil
}

// undo takes back what the registration made and gives the slot back (see slot for the order).
func (c *slot) undo(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	if !c.kept && c.written {
		if err := c.r.Nodes.DeregisterInstance(ctx, c.instanceID); err != nil && runcmd.ErrorCode(err) != runcmd.ENOTFOUND {
			return fmt.Errorf("undo registration of %s: the slot of activation %s stays taken: %w", c.instanceID, c.activationID, err)
		}
	}
	var errs []error
	if err := c.r.Activations.ReleaseRegistration(ctx, c.activationID); err != nil && runcmd.ErrorCode(err) != runcmd.ENOTFOUND {
		errs = append(errs, fmt.Errorf("undo registration of %s: release a slot of activation %s: %w", c.instanceID, c.activationID, err))
	}
	if !c.kept && c.queueURL != "" {
		if err := c.r.Queues.DeleteNodeQueue(ctx, c.queueURL); err != nil {
			errs = append(errs, fmt.Errorf("undo registration of %s: %w", c.instanceID, err))
		}
	}
	return errors.Join(errs...)
}

// keepID returns the id the node asks to keep when it proves it holds that id's registered key.
// Otherwise it returns "" (the node gets a new id) and, when an id was asked for, why it was not kept:
// a node that cannot prove its key never takes over an identity.
func (r *Registry) keepID(ctx context.Context, in RegisterManagedInstanceInput, now time.Time) (id, refused string, err error) {
	if in.InstanceID == "" {
		return "", "", nil
	}
	nodes, err := r.Instances.GetInstances(ctx, []string{in.InstanceID})
	if err != nil {
		return "", "", fmt.Errorf("register %s: %w", in.InstanceID, err)
	}
	n, ok := nodes[in.InstanceID]
	switch {
	case !ok:
		return "", "it is not registered", nil
	case len(n.PublicKey) != ed25519.PublicKeySize:
		return "", "it has no registered key", nil
	case in.SignedAt.After(now.Add(runcmd.MaxClockSkew)) || in.SignedAt.Before(now.Add(-runcmd.MaxClockSkew)):
		return "", "the proof's time is not within 5 minutes of the service's clock", nil
	case !ed25519.Verify(n.PublicKey, runcmd.RegistrationProof(in.ActivationID, in.InstanceID, in.PublicKey, in.SignedAt), in.Signature):
		return "", "the proof is not signed with its registered key", nil
	}
	return in.InstanceID, "", nil
}

func invalidActivation(id string) error {
	return runcmd.Errorf(runcmd.EINVALID, "InvalidActivation",
		"Activation %s is not valid: it does not exist, was deleted, or the activation code does not match.", id)
}

// audit writes one event to the trail.
func (r *Registry) audit(ctx context.Context, actor, action, resource, outcome, reason string) error {
	if r.Audit == nil {
		return nil
	}
	err := r.Audit.RecordAudit(ctx, runcmd.AuditEvent{At: r.Now().UTC(), Actor: actor, Action: action,
		Resource: resource, Outcome: outcome, Reason: reason})
	if err != nil {
		return fmt.Errorf("audit %s %s: %w", action, resource, err)
	}
	return nil
}

// registry returns the Registry, or an error when this API does not register nodes.
func (a *API) registry() (*Registry, error) {
	if a.Registry == nil {
		return nil, runcmd.Errorf(runcmd.EINVALID, "UnsupportedOperationException", "This endpoint does not manage activations or node registration.")
	}
	return a.Registry, nil
}

// CreateActivation creates an activation (Registry.CreateActivation).
func (a *API) CreateActivation(ctx context.Context, in CreateActivationInput) (CreateActivationOutput, error) {
	r, err := a.registry()
	if err != nil {
		return CreateActivationOutput{}, err
	}
	return r.CreateActivation(ctx, in)
}

// DescribeActivations lists activations (Registry.DescribeActivations).
func (a *API) DescribeActivations(ctx context.Context, in DescribeActivationsInput) (DescribeActivationsOutput, error) {
	r, err := a.registry()
	if err != nil {
		return DescribeActivationsOutput{}, err
	}
	return r.DescribeActivations(ctx, in)
}

// DeleteActivation deletes an activation (Registry.DeleteActivation).
func (a *API) DeleteActivation(ctx context.Context, activationID string) error {
	r, err := a.registry()
	if err != nil {
		return err
	}
	return r.DeleteActivation(ctx, activationID)
}

// DeregisterManagedInstance removes a node (Registry.DeregisterManagedInstance).
func (a *API) DeregisterManagedInstance(ctx context.Context, instanceID string) error {
	r, err := a.registry()
	if err != nil {
		return err
	}
	return r.DeregisterManagedInstance(ctx, instanceID)
}

// RegisterManagedInstance registers a node (Registry.RegisterManagedInstance).
func (a *API) RegisterManagedInstance(ctx context.Context, in RegisterManagedInstanceInput) (RegisterManagedInstanceOutput, error) {
	r, err := a.registry()
	if err != nil {
		return RegisterManagedInstanceOutput{}, err
	}
	return r.RegisterManagedInstance(ctx, in)
}
