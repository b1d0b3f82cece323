// Package compute registers the identity-bearing host types: Microsoft.Compute virtual
// machines and Microsoft.HybridCompute machines (Azure Arc-enabled servers). Cerulean does
// not run virtual machines; these resources exist so that identities can be enabled on them
// exactly as in Azure, and so code "running on" them can get tokens from the
// managed-identity endpoints.
package compute

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/cerulean-azure/cerulean/internal/arm"
	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/google/uuid"
)

// Resource types.
const (
	VirtualMachineType = "Microsoft.Compute/virtualMachines"
	ArcMachineType     = "Microsoft.HybridCompute/machines"
)

// hostProperties keeps the client's properties and adds what ARM computes.
func hostProperties(idField string) func(c *arm.Call, old, in json.RawMessage) (json.RawMessage, error) {
	return func(c *arm.Call, old, in json.RawMessage) (json.RawMessage, error) {
		props := map[string]any{}
		if old != nil {
			_ = json.Unmarshal(old, &props)
		}
		if len(in) > 0 && string(in) != "null" {
			var req map[string]any
			if err := json.Unmarshal(in, &req); err != nil {
				return nil, azerr.BadRequest("InvalidRequestContent", "The properties of the request must be a JSON object.")
			}
			for k, v := range req {
				props[k] = v
			}
		}
		if _, ok := props[idField]; !ok {
			props[idField] = uuid.NewString()
		}
		props["provisioningState"] = "Succeeded"
		return json.Marshal(props)
	}
}

// Register adds the host types to ARM.
func Register(s *arm.Service) {
	s.Register(VirtualMachineType, "2015-05-01-preview", &arm.TrackedType{
		Type: VirtualMachineType, Identity: true, CombinedSpelling: arm.IdentitySystemAndUser,
		Properties: hostProperties("vmId"),
	}, arm.TrackedActions(VirtualMachineType))
	arc := &arm.TrackedType{
		Type: ArcMachineType, Identity: true,
		Properties: hostProperties("vmId"),
	}
	s.Register(ArcMachineType, "2019-03-18", arcOnlySystemAssigned{arc}, arm.TrackedActions(ArcMachineType))
}

// arcOnlySystemAssigned refuses user-assigned identities: Arc-enabled servers support only
// a system-assigned identity.
type arcOnlySystemAssigned struct{ *arm.TrackedType }

func (a arcOnlySystemAssigned) ServeARM(c *arm.Call) (int, any, error) {
	if c.R.Method == http.MethodPut || c.R.Method == http.MethodPatch {
		var in struct {
			Identity *struct {
				Type string `json:"type"`
			} `json:"identity"`
		}
		if json.Unmarshal(c.Body, &in) == nil && in.Identity != nil {
			switch strings.ToLower(in.Identity.Type) {
			case "", "none", "systemassigned":
			default:
				return 0, nil, azerr.BadRequest("InvalidIdentityType",
					"Azure Arc-enabled servers support only a system-assigned identity: use identity type 'SystemAssigned' or 'None' (got '%s').", in.Identity.Type)
			}
		}
	}
	return a.TrackedType.ServeARM(c)
}
