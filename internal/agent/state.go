// Package agent is Cerulean's Azure File Sync agent: the server side of File Sync on this
// machine. A folder stands for a server's volume; the agent registers the server with a
// Storage Sync Service (its certificate is the server's credential), heartbeats, and syncs
// each of the server's endpoints with its sync group's Azure file share through the File
// REST API as a real client (azfile), with a durable journal so that a crash loses or
// duplicates nothing (docs/design/filesync.md).
package agent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
)

// Version is the agent version reported to the Storage Sync Service (managed identities
// need 20.0.0.0 or later).
const Version = "20.0.0.0"

// State is a registered server's identity on this machine, kept in its state folder.
type State struct {
	Dir string `json:"-"`
	// ServerID is the registered server's id (its resource name); ServiceID the Storage Sync
	// Service's resource id; ResourceID the registered server's.
	ServerID   string `json:"serverId"`
	ServiceID  string `json:"serviceId"`
	ResourceID string `json:"resourceId"`
	Name       string `json:"name"`
	// ManagementEndpoint is where the server talks to its service (managementEndpointUri).
	ManagementEndpoint string `json:"managementEndpoint"`
	Certificate        string `json:"certificate"` // base64 DER

	key *ecdsa.PrivateKey
}

const (
	stateFile = "server.json"
	keyFile   = "server-key.pem"
)

// NewState creates a server's identity: an id, a key and a self-signed certificate, in dir
// (created 0700; the key file 0600). It refuses a folder that already holds a server.
func NewState(dir, serviceID, name string) (*State, error) {
	if _, err := os.Stat(filepath.Join(dir, stateFile)); err == nil {
		return nil, fmt.Errorf("%s already holds a registered server: use another --state folder, or 'cerulean agent unregister' first", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	id := uuid.NewString()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name, OrganizationalUnit: []string{id}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	s := &State{Dir: dir, ServerID: id, ServiceID: serviceID, ResourceID: serviceID + "/registeredServers/" + id, Name: name,
		Certificate: base64.StdEncoding.EncodeToString(der), key: key}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, keyFile), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return nil, err
	}
	return s, nil
}

// Save writes the state (0600).
func (s *State) Save() error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.Dir, stateFile+".new")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(s.Dir, stateFile))
}

// LoadState reads a registered server's state folder.
func LoadState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s holds no registered server: run 'cerulean agent register' first", dir)
	}
	if err != nil {
		return nil, err
	}
	s := &State{Dir: dir}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, stateFile), err)
	}
	kb, err := os.ReadFile(filepath.Join(dir, keyFile))
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(kb)
	if block == nil {
		return nil, fmt.Errorf("%s holds no PEM key", filepath.Join(dir, keyFile))
	}
	if s.key, err = x509.ParseECPrivateKey(block.Bytes); err != nil {
		return nil, err
	}
	return s, nil
}
