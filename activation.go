package runcmd

import (
	"context"
	"time"
)

// Activation limits (SSM's CreateActivation, reference: botocore's SSM model and the user guide).
const (
	// DefaultRegistrationLimit is how many nodes an activation registers when the request names no limit.
	DefaultRegistrationLimit = 1
	// MaxRegistrationLimit is the most nodes one activation may register.
	MaxRegistrationLimit = 1000
	// DefaultActivationLifetime is how long an activation lasts when the request names no expiry.
	DefaultActivationLifetime = 24 * time.Hour
	// MaxActivationLifetime is how far ahead an activation may expire.
	MaxActivationLifetime = 30 * 24 * time.Hour
	// ActivationCodeLength is the length of the codes CreateActivation issues (SSM's are 20 characters).
	ActivationCodeLength = 20
)

// Activation lets agents register managed nodes. Only a hash of its code is kept: the code itself is
// shown once, by CreateActivation, like a password.
type Activation struct {
	ActivationID        string
	CodeHash            string // hex SHA-256 of the activation code
	Description         string
	DefaultInstanceName string
	IamRole             string
	RegistrationLimit   int
	RegistrationsCount  int
	ExpirationDate      time.Time
	CreatedDate         time.Time
	Tags                map[string]string
}

// Expired reports whether the activation can no longer register nodes at now.
func (a *Activation) Expired(now time.Time) bool { return !now.Before(a.ExpirationDate) }

// ActivationPage is one page of activations, in id order.
type ActivationPage struct {
	Activations []*Activation
	NextToken   string
}

// ActivationStore keeps activations. Errors carry SSM's names: InvalidActivationId (ENOTFOUND) for an
// activation that does not exist.
type ActivationStore interface {
	// CreateActivation stores a new activation; ECONFLICT if the id exists.
	CreateActivation(ctx context.Context, a *Activation) error
	// GetActivation returns one activation (strongly consistent).
	GetActivation(ctx context.Context, activationID string) (*Activation, error)
	// ListActivations returns a page of activations in id order through an index, never a scan; limit
	// 0 means 50.
	ListActivations(ctx context.Context, limit int, nextToken string) (ActivationPage, error)
	// DeleteActivation deletes an activation. Nodes it registered stay registered.
	DeleteActivation(ctx context.Context, activationID string) error
	// ClaimRegistration counts one more registration, atomically and only while the activation exists,
	// has not expired at now and is below its RegistrationLimit, and returns the activation after the
	// change. When one of those fails it changes nothing and returns ELIMIT InvalidActivation (limit
	// reached), EINVALID InvalidActivation (expired) or ENOTFOUND InvalidActivationId (gone).
	ClaimRegistration(ctx context.Context, activationID string, now time.Time) (*Activation, error)
	// ReleaseRegistration gives back one registration that ClaimRegistration counted, for a registration
	// that did not take effect: it subtracts one, atomically and only while RegistrationsCount is above
	// zero, whatever the expiry. One call subtracts at most once, even when the store retries a request
	// whose answer was lost. ECONFLICT if the count is already zero, ENOTFOUND InvalidActivationId if the
	// activation is gone.
	ReleaseRegistration(ctx context.Context, activationID string) error
}

// NodeRegistry is the trust side of the managed-node store: it creates nodes from registrations,
// refreshes only nodes that exist, and removes nodes. The same stores implement InstanceStore.
type NodeRegistry interface {
	// RegisterInstance stores a registered node: it creates the node with n's tags or, when the node
	// exists (a node that proved its key registers again), replaces its registration fields (Name,
	// IamRole, ActivationID, PublicKey, QueueURL, RegisteredAt, ResourceType) and adds n's tags,
	// keeping its platform facts and other tags.
	RegisterInstance(ctx context.Context, n *Instance) error
	// DeregisterInstance deletes a node and its tags; ENOTFOUND InvalidInstanceId if there is none.
	DeregisterInstance(ctx context.Context, instanceID string) error
	// PingInstance records a heartbeat of a registered node: platform facts, agent version and
	// LastPingAt (never moving it backwards). It never creates a node, never changes the node's queue or
	// name: ENOTFOUND InvalidInstanceId for an unknown node.
	PingInstance(ctx context.Context, hb Heartbeat) error
}

// NodeQueueAdmin creates and deletes managed nodes' own queues. The service owns them: a node cannot
// choose or create a queue, and deregistration removes it.
type NodeQueueAdmin interface {
	// EnsureNodeQueue creates the queue of a node, or finds it, and returns its URL.
	EnsureNodeQueue(ctx context.Context, instanceID string) (queueURL string, err error)
	// DeleteNodeQueue deletes a node's queue; a queue that is already gone is not an error.
	DeleteNodeQueue(ctx context.Context, queueURL string) error
}

// Audit outcomes.
const (
	AuditAllowed = "allowed"
	AuditDenied  = "denied"
)

// AuditEvent is one entry of the audit trail: who did what to which resource, whether it was allowed,
// why, and when. It never holds secrets (activation codes, keys), parameter values or output.
type AuditEvent struct {
	ID       string // unique; set by the store when empty
	At       time.Time
	Actor    string // who: "node:<instance id>" as the message claims, "activation:<id>", an operator
	Action   string // what: an SSM operation or an internal action such as "ingest:reply"
	Resource string // what it was about: "<command id>/<instance id>", an activation or node id
	Outcome  string // AuditAllowed or AuditDenied
	Reason   string // why, in plain words
}

// AuditQuery selects audit events of one UTC day, newest first.
type AuditQuery struct {
	Day       time.Time // any time within the day
	Limit     int       // 0 means 50
	NextToken string
}

// AuditPage is one page of audit events.
type AuditPage struct {
	Events    []AuditEvent
	NextToken string
}

// AuditStore keeps the audit trail. Events are only ever added.
type AuditStore interface {
	// RecordAudit adds an event.
	RecordAudit(ctx context.Context, e AuditEvent) error
	// ListAudit returns a page of one day's events, newest first, through the table's key.
	ListAudit(ctx context.Context, q AuditQuery) (AuditPage, error)
}
