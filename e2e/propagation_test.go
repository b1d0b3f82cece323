package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"testing"
	"time"

	"github.com/google/uuid"
)

// token gets an ARM token for a service principal from the server's authority.
func (s *ownServer) token(t *testing.T, clientID, secret string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret},
		"scope": {"https://management.azure.com/.default"}}
	resp, err := httpClientFor(t, s.env.CACertFile).PostForm(s.env.AuthorityHost+"/"+s.env.TenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token for %s: %d %v", clientID, resp.StatusCode, err)
	}
	return tok.AccessToken
}

// status sends a request with the bearer token and returns the status code.
func (s *ownServer) status(t *testing.T, token, method, path string) int {
	t.Helper()
	req, _ := http.NewRequest(method, s.env.ResourceManagerEndpoint+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := httpClientFor(t, s.env.CACertFile).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestRBACPropagation (issue 5 item 7): with --rbac-propagation, a role assignment reaches a
// token issued before it only after the delay, a token issued after it at once, and a
// removal lingers for old tokens just as long — what seed 003 warns Azure does.
func TestRBACPropagation(t *testing.T) {
	const delay = 4 * time.Second
	s := startOwnServer(t, t.TempDir(), "--rbac-propagation", delay.String())
	defer s.cmd.Process.Kill()
	out, err := exec.Command(binary, "sp", "create", "propagation", "--data", s.data).Output()
	if err != nil {
		t.Fatal(err)
	}
	var sp servicePrincipal
	if err := json.Unmarshal(out, &sp); err != nil {
		t.Fatal(err)
	}
	sub := "/subscriptions/" + s.env.SubscriptionID
	rgPath := sub + "/resourceGroups/prop?api-version=2021-04-01"
	s.arm(t, http.MethodPut, rgPath, `{"location":"westus"}`)

	old := s.token(t, sp.AppID, sp.Password)
	if got := s.status(t, old, http.MethodGet, rgPath); got != http.StatusForbidden {
		t.Fatalf("before any assignment: %d, want 403", got)
	}
	assignment := sub + "/resourceGroups/prop/providers/Microsoft.Authorization/roleAssignments/" + uuid.NewString() + "?api-version=2022-04-01"
	s.arm(t, http.MethodPut, assignment, `{"properties":{"roleDefinitionId":"`+sub+`/providers/Microsoft.Authorization/roleDefinitions/`+roleReader+`","principalId":"`+sp.ObjectID+`","principalType":"ServicePrincipal"}}`)
	granted := time.Now()
	if got := s.status(t, old, http.MethodGet, rgPath); got != http.StatusForbidden {
		t.Fatalf("old token right after the assignment: %d, want 403 while the change propagates", got)
	}
	time.Sleep(1100 * time.Millisecond) // token iat has one-second resolution
	if got := s.status(t, s.token(t, sp.AppID, sp.Password), http.MethodGet, rgPath); got != http.StatusOK {
		t.Fatalf("new token after the assignment: %d, want 200", got)
	}
	waitStatus := func(token string, want int, since time.Time) {
		t.Helper()
		for deadline := since.Add(delay + 5*time.Second); ; time.Sleep(200 * time.Millisecond) {
			got := s.status(t, token, http.MethodGet, rgPath)
			if got == want {
				if waited := time.Since(since); waited < delay-time.Second {
					t.Fatalf("got %d after %v, before the %v propagation delay", got, waited, delay)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("still %d %v after the change, want %d", got, time.Since(since), want)
			}
		}
	}
	waitStatus(old, http.StatusOK, granted)

	// A removal lingers for tokens issued before it.
	fresh := s.token(t, sp.AppID, sp.Password)
	time.Sleep(1100 * time.Millisecond)
	s.arm(t, http.MethodDelete, assignment, "")
	removed := time.Now()
	if got := s.status(t, fresh, http.MethodGet, rgPath); got != http.StatusOK {
		t.Fatalf("token issued before the removal, right after it: %d, want 200 while the change propagates", got)
	}
	waitStatus(fresh, http.StatusForbidden, removed)
}
