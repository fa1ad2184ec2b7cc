package node

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/runcmd/runcmd"
	"github.com/runcmd/runcmd/agent/internal/apiclient"
	"github.com/runcmd/runcmd/agent/internal/state"
)

// RegisterOptions says how to register a node.
type RegisterOptions struct {
	// StateDir is the agent's state directory; default DefaultStateDir.
	StateDir string
	// Endpoint is the runcmd api's URL.
	Endpoint string
	// Region is recorded for the agent (S3 output URLs, AWS_SSM_REGION_NAME).
	Region string
	// ActivationCode and ActivationID are the activation's code and id (CreateActivation).
	ActivationCode string
	ActivationID   string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Registration is what a registered node knows about itself.
type Registration = state.Registration

// ErrNotRegistered is returned (wrapped) by NewAWS for a state directory that has no registration.
var ErrNotRegistered = state.ErrNotRegistered

// Register exchanges an activation for a managed-instance id through the api's
// AmazonSSM.RegisterManagedInstance operation, and records the result in the state directory. The
// node's ed25519 key pair is created on first use (private key 0600, never sent); only its public key is
// registered. A node already registered asks to keep its id and proves it holds that id's key by
// signing the request; the service otherwise gives it a new id. runcmd-agent register and in-process
// fleets both register through here.
func Register(ctx context.Context, o RegisterOptions) (Registration, error) {
	if o.StateDir == "" {
		o.StateDir = DefaultStateDir
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Endpoint == "" || o.ActivationCode == "" || o.ActivationID == "" {
		return Registration{}, errors.New("register: endpoint, activation code and activation id are required")
	}
	st, err := state.Open(o.StateDir)
	if err != nil {
		return Registration{}, fmt.Errorf("register: %w", err)
	}
	key, err := st.Key()
	if err != nil {
		return Registration{}, fmt.Errorf("register: %w", err)
	}
	pub := base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
	req := struct {
		ActivationCode string  `json:"ActivationCode"`
		ActivationID   string  `json:"ActivationId"`
		PublicKey      string  `json:"PublicKey"`
		PublicKeyType  string  `json:"PublicKeyType"`
		Fingerprint    string  `json:"Fingerprint"`
		InstanceID     string  `json:"InstanceId,omitempty"`
		SignedAt       float64 `json:"SignedAt,omitempty"`
		Signature      []byte  `json:"Signature,omitempty"`
	}{ActivationCode: o.ActivationCode, ActivationID: o.ActivationID, PublicKey: pub,
		PublicKeyType: runcmd.PublicKeyTypeEd25519, Fingerprint: fingerprint(pub)}
	if prev, err := st.Registration(); err == nil {
		// Prove the old identity: sign with the key it registered (this node's only key).
		now := o.Now().UTC().Truncate(time.Millisecond)
		req.InstanceID = prev.InstanceID
		req.SignedAt = float64(now.UnixMilli()) / 1000
		req.Signature = ed25519.Sign(key, runcmd.RegistrationProof(o.ActivationID, prev.InstanceID, pub, now))
	} else if !errors.Is(err, state.ErrNotRegistered) {
		return Registration{}, fmt.Errorf("register: %w", err)
	}
	var resp struct {
		InstanceID      string `json:"InstanceId"`
		QueueURL        string `json:"QueueUrl"`
		ResultsQueueURL string `json:"ResultsQueueUrl"`
	}
	if err := apiclient.New(o.Endpoint).Call(ctx, "RegisterManagedInstance", req, &resp); err != nil {
		return Registration{}, fmt.Errorf("register with activation %s: %w", o.ActivationID, err)
	}
	if !state.ValidInstanceID(resp.InstanceID) || resp.QueueURL == "" || resp.ResultsQueueURL == "" {
		return Registration{}, fmt.Errorf("register with activation %s: incomplete answer (instance id %q)", o.ActivationID, resp.InstanceID)
	}
	reg := Registration{InstanceID: resp.InstanceID, ActivationID: o.ActivationID, QueueURL: resp.QueueURL,
		ResultsQueueURL: resp.ResultsQueueURL, Endpoint: o.Endpoint, Region: o.Region, RegisteredAt: o.Now().UTC()}
	if err := st.SaveRegistration(reg); err != nil {
		return Registration{}, fmt.Errorf("register %s: %w", reg.InstanceID, err)
	}
	return reg, nil
}

// fingerprint identifies the machine to the service, as the SSM agent's Fingerprint does: here a hash
// of the host name and the public key (informational only; trust rests on the key).
func fingerprint(pub string) string {
	host, _ := os.Hostname()
	sum := sha256.Sum256([]byte(host + "\x00" + pub))
	return hex.EncodeToString(sum[:16])
}

// ParsePrivateKey reads a node key file's content (PEM PKCS#8 ed25519), for tools and tests.
func ParsePrivateKey(pemBytes []byte) (ed25519.PrivateKey, error) {
	return state.ParseKey(pemBytes)
}

// apiDocuments fetches documents for aws:runDocument and aws:downloadContent through the api's
// GetDocument.
type apiDocuments struct {
	c *apiclient.Client
}

// GetDocument returns a document's content; version "" is the default version.
func (d apiDocuments) GetDocument(ctx context.Context, name, version string) (string, error) {
	in := struct {
		Name            string `json:"Name"`
		DocumentVersion string `json:"DocumentVersion,omitempty"`
	}{name, version}
	var out struct {
		Content string `json:"Content"`
	}
	if err := d.c.Call(ctx, "GetDocument", in, &out); err != nil {
		return "", err
	}
	return out.Content, nil
}
