// Package msi is the Microsoft.ManagedIdentity resource provider: user-assigned identities.
// Creating one creates its managed-identity principal in the directory (tenantId,
// principalId, clientId); deleting it soft-deletes the principal, so hosts it was attached
// to can no longer get tokens for it while tokens already issued stay valid until expiry.
package msi

import (
	"encoding/json"
	"regexp"

	"github.com/cerulean-azure/cerulean/internal/arm"
	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/directory"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// Type is the user-assigned identity resource type.
const Type = "Microsoft.ManagedIdentity/userAssignedIdentities"

type properties struct {
	TenantID    string `json:"tenantId"`
	PrincipalID string `json:"principalId"`
	ClientID    string `json:"clientId"`
	// IsolationScope is accepted and echoed (None or Regional).
	IsolationScope string `json:"isolationScope,omitempty"`
}

// Register adds the provider's types to ARM.
func Register(s *arm.Service) {
	s.Register(Type, "2015-08-31", &arm.TrackedType{
		Type:   Type,
		NameRE: regexp.MustCompile(`^[A-Za-z0-9][-A-Za-z0-9_]{2,127}$`),
		Properties: func(c *arm.Call, old, in json.RawMessage) (json.RawMessage, error) {
			var p properties
			if old != nil {
				_ = json.Unmarshal(old, &p)
			}
			var req struct {
				IsolationScope string `json:"isolationScope"`
			}
			if len(in) > 0 {
				if err := json.Unmarshal(in, &req); err != nil {
					return nil, azerr.BadRequest("InvalidRequestContent", "The properties of a user-assigned identity must be a JSON object: %v.", err)
				}
			}
			if req.IsolationScope != "" {
				p.IsolationScope = req.IsolationScope
			}
			return json.Marshal(p)
		},
		OnCreate: func(c *arm.Call, tx store.Tx, r *arm.Resource) error {
			t, err := c.Svc.Directory().Tenant(c.Ctx)
			if err != nil {
				return err
			}
			pr, err := c.Svc.Directory().CreatePrincipal(tx, directory.Principal{Kind: directory.KindManagedIdentity,
				ManagedIdentityType: directory.UserAssigned, DisplayName: r.Name, ResourceID: r.ID})
			if err != nil {
				return err
			}
			var p properties
			_ = json.Unmarshal(r.Properties, &p)
			p.TenantID, p.PrincipalID, p.ClientID = t.ID, pr.ObjectID, pr.AppID
			r.Properties, err = json.Marshal(p)
			return err
		},
		OnDelete: func(s *arm.Service, tx store.Tx, r *arm.Resource) error {
			var p properties
			if err := json.Unmarshal(r.Properties, &p); err != nil || p.PrincipalID == "" {
				return err
			}
			return s.Directory().DeleteTx(tx, p.PrincipalID)
		},
	}, arm.TrackedActions(Type))
}
