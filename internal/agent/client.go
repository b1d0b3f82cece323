package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/cerulean-azure/cerulean/internal/providers/storagesync"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
)

// Auth modes, as registered servers report them (activeAuthType).
const (
	AuthCertificate     = "Certificate"
	AuthManagedIdentity = "ManagedIdentity"
)

// Client talks to the Storage Sync Service's agent endpoint as the registered server: with
// an assertion of its certificate, or with its machine's managed identity once the service
// has it use that (a refused certificate tells the switch).
type Client struct {
	st   *State
	hc   *http.Client
	mi   azcore.TokenCredential // the machine's managed identity; nil without one
	mode string
}

// NewClient returns a client for the server st; mi is the machine's managed identity (nil
// when it has none).
func NewClient(st *State, hc *http.Client, mi azcore.TokenCredential) *Client {
	return &Client{st: st, hc: hc, mi: mi, mode: AuthCertificate}
}

// Mode is how the client last authenticated.
func (c *Client) Mode() string { return c.mode }

// MachineIdentity is this machine's system-assigned managed identity when it has one (an
// Azure VM's or an Arc-enabled server's: IDENTITY_ENDPOINT/IMDS_ENDPOINT, or IMDS), else
// nil. It is tried once: a machine without one answers an error.
func MachineIdentity(ctx context.Context, hc *http.Client) azcore.TokenCredential {
	if os.Getenv("IDENTITY_ENDPOINT") == "" && os.Getenv("MSI_ENDPOINT") == "" && os.Getenv("IMDS_ENDPOINT") == "" &&
		os.Getenv("HTTP_PROXY") == "" && os.Getenv("http_proxy") == "" {
		return nil
	}
	cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: azcore.ClientOptions{Transport: hc}})
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{storagesync.AgentAudience + "/.default"}}); err != nil {
		return nil
	}
	return cred
}

// assertion proves the server's certificate key for five minutes.
func (c *Client) assertion() (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: c.st.key}, nil)
	if err != nil {
		return "", err
	}
	now := time.Now()
	return jwt.Signed(signer).Claims(jwt.Claims{Issuer: c.st.ServerID, Audience: jwt.Audience{c.st.ManagementEndpoint},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
		Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute)), ID: uuid.NewString()}).Serialize()
}

func (c *Client) identityToken(ctx context.Context) (string, error) {
	if c.mi == nil {
		return "", fmt.Errorf("the machine has no managed identity")
	}
	tok, err := c.mi.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{storagesync.AgentAudience + "/.default"}})
	return tok.Token, err
}

// call sends one request to the agent endpoint, authenticating as the current mode, and on
// a refusal once more the other way (the service switches a server when it is configured).
func (c *Client) call(ctx context.Context, method, op string, in, out any, hdr map[string]string) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	modes := []string{c.mode}
	if c.mi != nil {
		if c.mode == AuthCertificate {
			modes = append(modes, AuthManagedIdentity)
		} else {
			modes = append(modes, AuthCertificate)
		}
	}
	var last error
	for _, mode := range modes {
		var bearer string
		var err error
		if mode == AuthCertificate {
			bearer, err = c.assertion()
		} else {
			bearer, err = c.identityToken(ctx)
		}
		if err != nil {
			last = err
			continue
		}
		req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.st.ManagementEndpoint, "/")+"/"+op, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+bearer)
		req.Header.Set(storagesync.ServerHeader, c.st.ResourceID)
		req.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			return fmt.Errorf("the Storage Sync Service is unreachable: %w", err)
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized {
			last = fmt.Errorf("the Storage Sync Service refused the server (%s): %s", mode, strings.TrimSpace(string(b)))
			continue
		}
		if resp.StatusCode >= 300 {
			return &ServiceError{Status: resp.StatusCode, msg: fmt.Sprintf("the Storage Sync Service answered %d to %s: %s", resp.StatusCode, op, strings.TrimSpace(string(b)))}
		}
		c.mode = mode
		if out != nil && len(b) > 0 {
			return json.Unmarshal(b, out)
		}
		return nil
	}
	return last
}

// ServiceError is the Storage Sync Service's refusal of a call.
type ServiceError struct {
	Status int
	msg    string
}

func (e *ServiceError) Error() string { return e.msg }

// Session asks for (token "") or renews the sync session of a server endpoint's sync group;
// while another server endpoint holds it, the error is a ServiceError with status 409.
func (c *Client) Session(ctx context.Context, endpointID, token string) (storagesync.Session, error) {
	var s storagesync.Session
	err := c.call(ctx, http.MethodPost, "session"+endpointID, struct{}{}, &s, map[string]string{storagesync.SessionHeader: token})
	return s, err
}

// EndSession ends a sync session.
func (c *Client) EndSession(ctx context.Context, endpointID, token string) error {
	return c.call(ctx, http.MethodDelete, "session"+endpointID, nil, nil, map[string]string{storagesync.SessionHeader: token})
}

// Heartbeat reports the agent's version and, when the machine has a managed identity, a
// token of it (which the service shows as latestApplicationId until it is used).
func (c *Client) Heartbeat(ctx context.Context) error {
	hdr := map[string]string{}
	if c.mi != nil {
		if tok, err := c.identityToken(ctx); err == nil {
			hdr[storagesync.IdentityHeader] = tok
		}
	}
	return c.call(ctx, http.MethodPost, "heartbeat", storagesync.Heartbeat{AgentVersion: Version, ServerOSVersion: "Linux"}, nil, hdr)
}

// Config is the server's endpoints and how to reach their shares.
func (c *Client) Config(ctx context.Context) (storagesync.AgentConfig, error) {
	var cfg storagesync.AgentConfig
	err := c.call(ctx, http.MethodGet, "config", nil, &cfg, nil)
	return cfg, err
}

// Report sends a server endpoint's sync status.
func (c *Client) Report(ctx context.Context, endpointID string, st storagesync.EndpointStatus) error {
	return c.call(ctx, http.MethodPost, "status"+endpointID, st, nil, nil)
}
