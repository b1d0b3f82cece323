package sts

import (
	"net/http"
	"testing"

	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/directory"
)

func TestSelectIdentity(t *testing.T) {
	sys := directory.Principal{ObjectID: "s-oid", AppID: "s-app", ManagedIdentityType: directory.SystemAssigned}
	u1 := directory.Principal{ObjectID: "u1-oid", AppID: "u1-app", ManagedIdentityType: directory.UserAssigned, ResourceID: "/subscriptions/x/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u1"}
	u2 := directory.Principal{ObjectID: "u2-oid", AppID: "u2-app", ManagedIdentityType: directory.UserAssigned, ResourceID: "/subscriptions/x/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u2"}
	const multiple = "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request"
	tests := []struct {
		name    string
		hi      HostIdentities
		q       map[string]string
		want    string // object id, or the error message
		wantErr bool
	}{
		{"system is the default", HostIdentities{SystemAssigned: &sys, UserAssigned: []directory.Principal{u1, u2}}, nil, "s-oid", false},
		{"single user-assigned is the default", HostIdentities{UserAssigned: []directory.Principal{u1}}, nil, "u1-oid", false},
		{"several user-assigned need a selector", HostIdentities{UserAssigned: []directory.Principal{u1, u2}}, nil, multiple, true},
		{"no identity", HostIdentities{}, nil, "Identity not found", true},
		{"by client_id", HostIdentities{SystemAssigned: &sys, UserAssigned: []directory.Principal{u1, u2}}, map[string]string{"client_id": "U2-APP"}, "u2-oid", false},
		{"by object_id", HostIdentities{UserAssigned: []directory.Principal{u1, u2}}, map[string]string{"object_id": "u1-oid"}, "u1-oid", false},
		{"by msi_res_id", HostIdentities{UserAssigned: []directory.Principal{u1, u2}}, map[string]string{"msi_res_id": u2.ResourceID}, "u2-oid", false},
		{"by mi_res_id, case-insensitive", HostIdentities{UserAssigned: []directory.Principal{u1, u2}}, map[string]string{"mi_res_id": "/SUBSCRIPTIONS/x/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u1"}, "u1-oid", false},
		{"system by client_id", HostIdentities{SystemAssigned: &sys}, map[string]string{"client_id": "s-app"}, "s-oid", false},
		{"not assigned to this host", HostIdentities{SystemAssigned: &sys, UserAssigned: []directory.Principal{u1}}, map[string]string{"client_id": "u2-app"}, "Identity not found", true},
		{"two selectors", HostIdentities{UserAssigned: []directory.Principal{u1}}, map[string]string{"client_id": "u1-app", "object_id": "u1-oid"}, "Only one of client_id, object_id and msi_res_id (mi_res_id) may be specified in the token request", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := selectIdentity(tt.hi, func(k string) string { return tt.q[k] })
			if tt.wantErr {
				e, ok := azerr.As(err)
				if !ok || e.Status != http.StatusBadRequest || e.Message != tt.want {
					t.Fatalf("got %v, want 400 %q", err, tt.want)
				}
				return
			}
			if err != nil || got.ObjectID != tt.want {
				t.Fatalf("got %q, %v; want %q", got.ObjectID, err, tt.want)
			}
		})
	}
}

func TestHostLimiter_Acquire(t *testing.T) {
	t.Run("rate", func(t *testing.T) {
		l := newHostLimiter(Settings{ManagedIdentityRate: 20, ManagedIdentityBurst: 20})
		for i := 0; i < 20; i++ {
			release, err := l.acquire("vm1")
			if err != nil {
				t.Fatalf("request %d refused: %v", i, err)
			}
			release()
		}
		_, err := l.acquire("vm1")
		e, ok := azerr.As(err)
		if !ok || e.Status != http.StatusTooManyRequests || e.Header.Get("Retry-After") == "" {
			t.Fatalf("21st request: got %v, want 429 with Retry-After", err)
		}
		if release, err := l.acquire("vm2"); err != nil {
			t.Fatalf("another host was throttled: %v", err)
		} else {
			release()
		}
	})
	t.Run("concurrency", func(t *testing.T) {
		l := newHostLimiter(Settings{ManagedIdentityConcurrency: 5})
		var releases []func()
		for i := 0; i < 5; i++ {
			r, err := l.acquire("vm1")
			if err != nil {
				t.Fatal(err)
			}
			releases = append(releases, r)
		}
		if _, err := l.acquire("vm1"); err == nil {
			t.Fatal("6th concurrent request admitted")
		}
		releases[0]()
		if r, err := l.acquire("vm1"); err != nil {
			t.Fatalf("after a release: %v", err)
		} else {
			r()
		}
	})
}

func TestHostSecret(t *testing.T) {
	s, _ := newService(t)
	id := "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"
	sec := s.HostSecret(id)
	got, ok := s.HostFromSecret(sec)
	if !ok || got != "/subscriptions/x/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm1" {
		t.Fatalf("HostFromSecret = %q, %v", got, ok)
	}
	for _, bad := range []string{"", sec + "x", "abc.def", HostSecretFor([]byte("another server root key, 32 b!!"), id)} {
		if _, ok := s.HostFromSecret(bad); ok {
			t.Errorf("HostFromSecret(%q) accepted", bad)
		}
	}
}
