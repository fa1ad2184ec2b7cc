package state

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Files of the node's identity. The private key never leaves the node: only the agent reads it, and
// the service only ever sees the public key.
const (
	keyFile          = "node.key"          // PEM PKCS#8 ed25519 private key, 0600
	registrationFile = "registration.json" // Registration, 0600
)

// ErrNotRegistered is returned by Registration when the node has not registered yet.
var ErrNotRegistered = errors.New("the node is not registered: run `runcmd-agent register --code CODE --id ID --region REGION`")

// Registration is what the node learned when it registered.
type Registration struct {
	InstanceID      string    `json:"instanceId"`
	ActivationID    string    `json:"activationId"`
	QueueURL        string    `json:"queueUrl"`        // the node's own queue
	ResultsQueueURL string    `json:"resultsQueueUrl"` // where it replies
	Endpoint        string    `json:"endpoint"`        // the api that registered it
	Region          string    `json:"region"`
	RegisteredAt    time.Time `json:"registeredAt"`
}

// Key returns the node's private key, creating and persisting one (0600) on first use.
func (d *Dir) Key() (ed25519.PrivateKey, error) {
	key, err := d.ExistingKey()
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	_, key, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate node key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode node key: %w", err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := writeFileAtomic(d.root, keyFile, b, true); err != nil {
		if errors.Is(err, fs.ErrExist) { // another process made one first: use it
			return d.ExistingKey()
		}
		return nil, fmt.Errorf("write node key: %w", err)
	}
	return key, nil
}

// ExistingKey returns the node's private key; an error wrapping fs.ErrNotExist when it has none.
func (d *Dir) ExistingKey() (ed25519.PrivateKey, error) {
	p := filepath.Join(d.root, keyFile)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read node key %s: %w", p, err)
	}
	key, err := ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("read node key %s: %w", p, err)
	}
	return key, nil
}

// ParseKey decodes a PEM PKCS#8 ed25519 private key.
func ParseKey(b []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM private key")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%T is not an ed25519 key", k)
	}
	return key, nil
}

// Registration returns the node's registration, or an error wrapping ErrNotRegistered.
func (d *Dir) Registration() (Registration, error) {
	p := filepath.Join(d.root, registrationFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Registration{}, ErrNotRegistered
	}
	if err != nil {
		return Registration{}, fmt.Errorf("read registration %s: %w", p, err)
	}
	var r Registration
	if err := json.Unmarshal(b, &r); err != nil {
		return Registration{}, fmt.Errorf("read registration %s: %w", p, err)
	}
	if !ValidInstanceID(r.InstanceID) || r.QueueURL == "" || r.ResultsQueueURL == "" {
		return Registration{}, fmt.Errorf("read registration %s: incomplete (instance id %q)", p, r.InstanceID)
	}
	return r, nil
}

// SaveRegistration records a registration, and the instance id in the instance-id file.
func (d *Dir) SaveRegistration(r Registration) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode registration: %w", err)
	}
	if err := writeFileAtomic(d.root, registrationFile, append(b, '\n'), false); err != nil {
		return fmt.Errorf("write registration: %w", err)
	}
	if err := writeFileAtomic(d.root, instanceIDFile, []byte(r.InstanceID+"\n"), false); err != nil {
		return fmt.Errorf("write instance id: %w", err)
	}
	return nil
}
