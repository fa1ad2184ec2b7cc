package runcmd

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Agents sign every ResultMessage with their node's ed25519 key (DESIGN.md section 4). The signature
// covers a canonical encoding of the whole message: the signer's instance id, a random nonce, the
// signing time and the reply or heartbeat. The canonical encoding is encoding/json of the shared Go
// types below, which is deterministic (struct fields in declaration order, map keys sorted) and
// survives a decode and re-encode unchanged; a field the verifier does not know is lost on decoding,
// so a message from a newer agent with new fields fails verification rather than passing unchecked.
const (
	// PublicKeyTypeEd25519 is the only key type nodes register.
	PublicKeyTypeEd25519 = "Ed25519"
	// MaxClockSkew is how far in the future a message's signing time may be.
	MaxClockSkew = 5 * time.Minute
	// MaxProgressAge is how old a heartbeat or an InProgress reply may be: older ones say nothing
	// current, and accepting them would let a replay make a dead node look alive.
	MaxProgressAge = 15 * time.Minute
	// MaxResultAge is how old a final reply may be. Agents sign again each time they resend, so only
	// a message waiting on the results queue gets old; SQS keeps messages at most 14 days. A replayed
	// final reply changes nothing (an invocation ends once), so the long window costs nothing.
	MaxResultAge = 14 * 24 * time.Hour
)

// signedContent is what a signature covers.
type signedContent struct {
	Version   string     `json:"v"`
	Signer    string     `json:"signer"`
	Nonce     string     `json:"nonce"`
	SignedAt  time.Time  `json:"signedAt"`
	Kind      string     `json:"kind"`
	Reply     *Reply     `json:"reply,omitempty"`
	Heartbeat *Heartbeat `json:"heartbeat,omitempty"`
	// PatchReport is omitted when nil, so signatures of other kinds are unchanged by its addition.
	PatchReport *PatchReport `json:"patchReport,omitempty"`
}

const signatureContext = "runcmd-result-v1\n"

// signedBytes returns the canonical bytes a signature of m covers.
func (m *ResultMessage) signedBytes() ([]byte, error) {
	b, err := json.Marshal(signedContent{Version: "1", Signer: m.Signer, Nonce: m.Nonce, SignedAt: m.SignedAt,
		Kind: m.Kind, Reply: m.Reply, Heartbeat: m.Heartbeat, PatchReport: m.PatchReport})
	if err != nil {
		return nil, fmt.Errorf("encode %s message of %s for signing: %w", m.Kind, m.Signer, err)
	}
	return append([]byte(signatureContext), b...), nil
}

// Sign sets m's signer, a fresh nonce, the signing time now and the signature with key.
func (m *ResultMessage) Sign(instanceID string, key ed25519.PrivateKey, now time.Time) error {
	if len(key) != ed25519.PrivateKeySize {
		return fmt.Errorf("sign %s message of %s: private key has %d bytes, want %d", m.Kind, instanceID, len(key), ed25519.PrivateKeySize)
	}
	m.Signer, m.Nonce, m.SignedAt, m.Signature = instanceID, rand.Text(), now.UTC(), nil
	b, err := m.signedBytes()
	if err != nil {
		return err
	}
	m.Signature = ed25519.Sign(key, b)
	return nil
}

// Subject returns the instance id the message speaks for: the reply's or the heartbeat's.
func (m *ResultMessage) Subject() string {
	switch {
	case m.Reply != nil:
		return m.Reply.InstanceID
	case m.Heartbeat != nil:
		return m.Heartbeat.InstanceID
	case m.PatchReport != nil:
		return m.PatchReport.InstanceID
	}
	return ""
}

// Errors of Verify. They explain a rejection in the audit trail.
var (
	ErrUnsigned        = errors.New("the message is not signed")
	ErrSignerMismatch  = errors.New("the message speaks for another node than the one that signed it")
	ErrBadSignature    = errors.New("the signature does not match the node's registered key")
	ErrStaleMessage    = errors.New("the message was signed too long ago")
	ErrFutureMessage   = errors.New("the message was signed in the future (clock skew beyond the limit)")
	ErrNoRegisteredKey = errors.New("the node has no registered public key")
)

// Verify checks m against the signer's registered public key at time now: it is signed, speaks for
// its signer only, is within its age window (MaxProgressAge for heartbeats and InProgress replies,
// MaxResultAge for final replies, MaxClockSkew ahead), and the signature is valid.
func (m *ResultMessage) Verify(pub ed25519.PublicKey, now time.Time) error {
	if m.Signer == "" || len(m.Signature) == 0 {
		return ErrUnsigned
	}
	if m.Subject() != m.Signer {
		return ErrSignerMismatch
	}
	if len(pub) != ed25519.PublicKeySize {
		return ErrNoRegisteredKey
	}
	if m.SignedAt.After(now.Add(MaxClockSkew)) {
		return ErrFutureMessage
	}
	maxAge := MaxProgressAge
	if m.Reply != nil && m.Reply.Detail.Terminal() || m.PatchReport != nil {
		// A patch report is a finished operation's result; replaying it changes nothing newer
		// (stores ignore reports older than the stored state).
		maxAge = MaxResultAge
	}
	if m.SignedAt.Before(now.Add(-maxAge)) {
		return ErrStaleMessage
	}
	b, err := m.signedBytes()
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, b, m.Signature) {
		return ErrBadSignature
	}
	return nil
}

// RegistrationProof returns the bytes a node signs with its current key to keep its instance id when
// it registers again: the activation, its id, the public key it registers now (base64) and the time.
func RegistrationProof(activationID, instanceID, publicKey string, at time.Time) []byte {
	return []byte("runcmd-register-v1\n" + activationID + "\n" + instanceID + "\n" + publicKey + "\n" +
		at.UTC().Format(time.RFC3339Nano))
}
