package files

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/access"
	"github.com/cerulean-azure/cerulean/internal/azerr"
)

// Data actions of the File service, as Azure RBAC names them.
const (
	actionRead            = "Microsoft.Storage/storageAccounts/fileServices/fileshares/files/read"
	actionWrite           = "Microsoft.Storage/storageAccounts/fileServices/fileshares/files/write"
	actionDelete          = "Microsoft.Storage/storageAccounts/fileServices/fileshares/files/delete"
	actionReadBackup      = "Microsoft.Storage/storageAccounts/fileServices/readFileBackupSemantics/action"
	actionWriteBackup     = "Microsoft.Storage/storageAccounts/fileServices/writeFileBackupSemantics/action"
	oauthMinShareVersion  = "2024-11-04"
	oauthMinObjectVersion = "2022-11-02"
)

// checkBearer authenticates an OAuth request and authorizes it: Azure Files over REST takes
// tokens only with the backup intent (x-ms-file-request-intent: backup), and then needs the
// operation's data action plus the backup-semantics privilege (Storage File Data Privileged
// Reader/Contributor, SMB Admin) at the share. With them, file ACLs are bypassed, as in Azure.
func (s *Service) checkBearer(r *http.Request, a Account, share, path string, op *operation) (access.Principal, error) {
	if s.tokens == nil || s.gate == nil {
		return access.Principal{}, azerr.Unauthorized("InvalidAuthenticationInfo", "OAuth is not configured on this server.")
	}
	claims, err := s.tokens.VerifyBearer(r, []string{"https://storage.azure.com", "https://" + a.Name + DNSSuffix})
	if err != nil {
		e := azerr.From(err)
		return access.Principal{}, azerr.Unauthorized("InvalidAuthenticationInfo", "Authentication information is not given in the correct format: %s", e.Message).
			WithHeader("WWW-Authenticate", `Bearer authorization_uri=https://login.microsoftonline.com/`+claims.TenantID+`/oauth2/authorize resource_id=https://storage.azure.com`)
	}
	control := op.controlAction() != ""
	if !control && !strings.EqualFold(r.Header.Get("x-ms-file-request-intent"), "backup") {
		return access.Principal{}, missingHeader("x-ms-file-request-intent")
	}
	v := r.Header.Get("x-ms-version")
	if op.Level == 's' || op.Level == 'c' {
		if v < oauthMinShareVersion {
			return access.Principal{}, azerr.Forbidden("AuthorizationFailure", "Share and service operations accept OAuth from version %s; this request uses %s. Use Shared Key or Resource Manager.", oauthMinShareVersion, v)
		}
	} else if v < oauthMinObjectVersion {
		return access.Principal{}, azerr.Forbidden("AuthorizationFailure", "File and directory operations accept OAuth from version %s; this request uses %s.", oauthMinObjectVersion, v)
	}
	actions := op.actions()
	display := claims.AppID
	if display == "" {
		display = claims.AuthorizedParty
	}
	p := access.Principal{ObjectID: claims.ObjectID, Display: display, IssuedAt: time.Unix(claims.IssuedAt, 0)}
	return p, s.authorizeAt(r.Context(), p, a, share, actions, !control)
}

// authorizeData checks a principal holds every one of the data actions at a share of the
// account (or at the File service, for share == ""): 403 AuthorizationPermissionMismatch.
func (s *Service) authorizeData(ctx context.Context, p access.Principal, a Account, share string, actions []string) error {
	return s.authorizeAt(ctx, p, a, share, actions, true)
}

// authorizeAt is authorizeData for data actions (data) or Resource Manager actions.
func (s *Service) authorizeAt(ctx context.Context, p access.Principal, a Account, share string, actions []string, data bool) error {
	scope := a.ResourceID + "/fileServices/default"
	if share != "" {
		scope += "/fileshares/" + share
	}
	for _, act := range actions {
		d, err := s.gate.Decide(ctx, access.Request{Principal: p, Action: act, DataAction: data, Scope: scope})
		if err != nil {
			return err
		}
		if !d.Allowed {
			return azerr.Forbidden("AuthorizationPermissionMismatch", "This request is not authorized to perform this operation using this permission.")
		}
	}
	return nil
}
