package runcmd

import "time"

// The messages below travel through SQS as JSON. Every SQS message is limited to 256 KiB, so senders
// keep output inside the inline limits and put anything bigger in S3.

// Node-queue message kinds.
const (
	KindSend   = "send"
	KindCancel = "cancel"
)

// NodeMessage is what dispatch puts on a node's own queue: a command to run, or a cancel.
type NodeMessage struct {
	Kind              string              `json:"kind"`
	CommandID         string              `json:"commandId"`
	InstanceID        string              `json:"instanceId"`
	DocumentName      string              `json:"documentName,omitempty"`
	DocumentVersion   string              `json:"documentVersion,omitempty"`
	DocumentContent   string              `json:"documentContent,omitempty"` // JSON document
	Parameters        map[string][]string `json:"parameters,omitempty"`      // validated, defaults filled
	OutputS3Bucket    string              `json:"outputS3BucketName,omitempty"`
	OutputS3KeyPrefix string              `json:"outputS3KeyPrefix,omitempty"`
	ExpiresAt         time.Time           `json:"expiresAt,omitzero"` // do not start after this
	// Wake asks the node to flag its InProgress reply, so that dispatch is woken when the node
	// acknowledges and can grow the window (SSM's slow start). Set only while the window is ramping.
	Wake bool `json:"wake,omitempty"`
}

// Results-queue message kinds.
const (
	KindReply     = "reply"
	KindHeartbeat = "heartbeat"
)

// ResultMessage is what an agent puts on the results queue: exactly one of Reply, Heartbeat or
// PatchReport.
type ResultMessage struct {
	Kind      string     `json:"kind"`
	Reply     *Reply     `json:"reply,omitempty"`
	Heartbeat *Heartbeat `json:"heartbeat,omitempty"`
	// PatchReport is set for KindPatchReport (patching.go).
	PatchReport *PatchReport `json:"patchReport,omitempty"`
	// Signer, Nonce, SignedAt and Signature authenticate the message (sign.go): the node that signed
	// it, a random nonce, when, and its ed25519 signature (base64 in JSON).
	Signer    string    `json:"signer,omitempty"`
	Nonce     string    `json:"nonce,omitempty"`
	SignedAt  time.Time `json:"signedAt,omitzero"`
	Signature []byte    `json:"signature,omitempty"`
}

// Reply reports the progress or the end of an invocation. Detail is InProgress while steps run (a reply
// may carry the steps finished so far) and terminal in the final reply.
type Reply struct {
	CommandID  string    `json:"commandId"`
	InstanceID string    `json:"instanceId"`
	Detail     Detail    `json:"detail"`
	Result     Result    `json:"result"`
	Wake       bool      `json:"wake,omitempty"` // echoes NodeMessage.Wake on the InProgress reply
	SentAt     time.Time `json:"sentAt"`
}

// Heartbeat announces a registered node and its platform facts. Nodes are created by registration
// (RegisterManagedInstance), not by heartbeats; QueueURL and Tags are ignored for registered nodes.
type Heartbeat struct {
	InstanceID      string            `json:"instanceId"`
	Name            string            `json:"name,omitempty"`
	ComputerName    string            `json:"computerName"`
	IPAddress       string            `json:"ipAddress"`
	PlatformType    string            `json:"platformType"`
	PlatformName    string            `json:"platformName"`
	PlatformVersion string            `json:"platformVersion"`
	AgentVersion    string            `json:"agentVersion"`
	QueueURL        string            `json:"queueUrl"`
	Tags            map[string]string `json:"tags,omitempty"` // applied on registration only
	At              time.Time         `json:"at"`
}

// Dispatch-queue message kinds.
const (
	DispatchStart  = "start"  // resolve targets, then pump
	DispatchPump   = "pump"   // send the next window, stop at the error threshold, finish
	DispatchCancel = "cancel" // cancel some or all invocations
)

// DispatchMessage asks the dispatch function to make the next decision about one command. Messages for a
// command share the FIFO message group CommandID, so decisions about one command never run concurrently.
type DispatchMessage struct {
	Kind        string   `json:"kind"`
	CommandID   string   `json:"commandId"`
	InstanceIDs []string `json:"instanceIds,omitempty"` // cancel: only these; empty means all
}
