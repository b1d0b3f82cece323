package sts

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/google/uuid"
)

// ArcTokenDir is where Azure Arc's identity endpoint leaves the secret a caller must read to
// prove it may use the machine's identity (only its user can): the one directory the Azure
// SDKs accept on Linux.
var ArcTokenDir = "/var/opt/azcmagent/tokens"

// arcChallengeTTL is how long a challenge's secret may be used.
const arcChallengeTTL = time.Minute

// arcChallenges are the secrets handed out by the Arc endpoint, each for one host, used once.
type arcChallenges struct {
	mu   sync.Mutex
	keys map[string]arcChallenge // secret -> challenge
}

type arcChallenge struct {
	host    string
	file    string
	expires time.Time
}

// ServeArc serves an Azure Arc-enabled server's local identity endpoint (IDENTITY_ENDPOINT
// with IMDS_ENDPOINT): a request without credentials is answered 401 with
// 'WWW-Authenticate: Basic realm=<file>', a file in ArcTokenDir holding a fresh secret only
// this machine's administrator can read; the same request with 'Authorization: Basic
// <secret>' gets the token. secret names the host, as in the endpoint's path.
func (s *Service) ServeArc(w http.ResponseWriter, r *http.Request, hostSecret string) {
	host, ok := s.HostFromSecret(hostSecret)
	if !ok {
		azerr.WriteOAuth(w, miError(http.StatusUnauthorized, "unauthorized_client", "The IDENTITY_ENDPOINT path does not name a host of this server: run `cerulean env --resource <id>` again."))
		return
	}
	if r.Header.Get("Metadata") != "true" {
		azerr.WriteOAuth(w, miError(http.StatusBadRequest, "bad_request_102", "Required metadata header not specified"))
		return
	}
	now := s.now()
	s.arc.mu.Lock()
	for k, c := range s.arc.keys { // expired challenges go, with their files
		if now.After(c.expires) {
			_ = os.Remove(c.file)
			delete(s.arc.keys, k)
		}
	}
	s.arc.mu.Unlock()
	scheme, secret, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if strings.EqualFold(scheme, "Basic") && secret != "" {
		s.arc.mu.Lock()
		c, ok := s.arc.keys[secret]
		if ok {
			delete(s.arc.keys, secret)
			_ = os.Remove(c.file)
		}
		s.arc.mu.Unlock()
		if !ok || c.host != host {
			azerr.WriteOAuth(w, miError(http.StatusUnauthorized, "unauthorized_client", "The secret is not one this endpoint handed out for this machine, or it was used or expired: ask again without it."))
			return
		}
		s.serveManagedIdentity(w, r, flavorIMDS, host)
		return
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		azerr.WriteOAuth(w, err)
		return
	}
	key := hex.EncodeToString(b)
	if err := os.MkdirAll(ArcTokenDir, 0o700); err != nil {
		azerr.WriteOAuth(w, miError(http.StatusServiceUnavailable, "service_unavailable", "Azure Arc's identity flow needs %s (the Azure SDKs read the secret there): run 'cerulean serve' as root, or create it writable for the server: %v", ArcTokenDir, err))
		return
	}
	file := filepath.Join(ArcTokenDir, uuid.NewString()+".key")
	if err := os.WriteFile(file, []byte(key), 0o600); err != nil {
		azerr.WriteOAuth(w, miError(http.StatusServiceUnavailable, "service_unavailable", "The secret file could not be written in %s: %v", ArcTokenDir, err))
		return
	}
	s.arc.mu.Lock()
	if s.arc.keys == nil {
		s.arc.keys = map[string]arcChallenge{}
	}
	s.arc.keys[key] = arcChallenge{host: host, file: file, expires: now.Add(arcChallengeTTL)}
	s.arc.mu.Unlock()
	w.Header().Set("WWW-Authenticate", "Basic realm="+file)
	azerr.WriteOAuth(w, miError(http.StatusUnauthorized, "unauthorized_client", "Read the secret in %s and send it as 'Authorization: Basic <secret>'.", file))
}
