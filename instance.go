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
}

// PingStatus is Online when the node was heard from within ConnectionLostAfter, else ConnectionLost.
func (i *Instance) PingStatus(now time.Time) string {
	if now.Sub(i.LastPingAt) <= ConnectionLostAfter {
		return PingOnline
	}
	return PingConnectionLost
}
