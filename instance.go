package runcmd

import "time"

// Managed-node constants.
const (
	// HeartbeatInterval is how often an agent reports itself. SSM uses 5 minutes; ours is shorter so
	// that PingStatus reacts within a few minutes.
	HeartbeatInterval = time.Minute
	// ConnectionLostAfter is how long after its last heartbeat a node shows ConnectionLost: three
	// missed heartbeats (SSM leaves the threshold undocumented; docs/compatibility.md).
	ConnectionLostAfter         = 3 * HeartbeatInterval
	ResourceTypeManagedInstance = "ManagedInstance"
	PingOnline                  = "Online"
	PingConnectionLost          = "ConnectionLost"
)

// Instance is a managed node as the service knows it.
type Instance struct {
	InstanceID      string
	Name            string
	ComputerName    string
	IPAddress       string
	PlatformType    string // Linux, Windows or MacOS
	PlatformName    string
	PlatformVersion string
	AgentVersion    string
	ResourceType    string
	QueueURL        string // the node's own SQS queue
	RegisteredAt    time.Time
	LastPingAt      time.Time
	Tags            map[string]string
	// ActivationID and IamRole come from the activation the node registered with.
	ActivationID string
	IamRole      string
	// PublicKey is the node's ed25519 public key; ingest verifies every message the node signs with it.
	// Empty for nodes that never registered (created by unsigned heartbeats in local-only setups).
	PublicKey []byte
}

// PingStatus is Online when the node was heard from within ConnectionLostAfter, else ConnectionLost.
func (i *Instance) PingStatus(now time.Time) string {
	if now.Sub(i.LastPingAt) <= ConnectionLostAfter {
		return PingOnline
	}
	return PingConnectionLost
}
