package files

import (
	"net/url"
	"strings"

	"github.com/cerulean-azure/cerulean/internal/access"
	"github.com/cerulean-azure/cerulean/internal/azerr"
)

// caller is who a request authenticated as: the account key (Shared Key), a shared access
// signature, or an Entra principal (a bearer token). A request that names a second resource,
// the source of a copy or a rename, has that source authorized for the same caller.
type caller struct {
	sharedKey bool
	sas       url.Values       // the request's own SAS, when it used one
	principal access.Principal // the token's principal, when it used one
}

// sourceUse is what a copy or a rename needs at its source: a SAS permission letter, the
// data actions for a bearer, and the error Azure answers when the source is not authorized.
type sourceUse struct {
	header  string
	perm    string
	actions []string
	refuse  func(err error) error
}

var (
	// Copy File reads its source. Azure answers 403 CannotVerifyCopySource when the source
	// cannot be read with the caller's credentials or the SAS in the source URL.
	copySource = sourceUse{header: "x-ms-copy-source", perm: "r", actions: []string{actionRead, actionReadBackup},
		refuse: func(error) error {
			return azerr.Forbidden("CannotVerifyCopySource", "This request is not authorized to perform this operation: the copy source is not readable with the caller's credentials or the SAS in x-ms-copy-source.")
		}}
	// Rename moves its source away, which deletes it under its old name: a bearer needs the
	// delete data action there; a SAS must cover the source with write permission, as the
	// destination's does.
	renameSource = sourceUse{header: "x-ms-file-rename-source", perm: "w", actions: []string{actionDelete, actionWriteBackup},
		refuse: func(err error) error {
			if e, ok := azerr.As(err); ok && e.Code == "AuthorizationPermissionMismatch" {
				return err
			}
			return azerr.Forbidden("AuthorizationFailure", "This request is not authorized to perform this operation: the rename source is not covered by the caller's shared access signature; give x-ms-file-rename-source its own SAS.")
		}}
)

// authorizeSource authorizes a copy or rename source of this account for the caller, before
// anything about it is looked up, so a refusal says nothing of whether it exists. A SAS in
// the source URL authorizes the source on its own; otherwise the account key covers any
// source, the request's SAS must cover this one too, and a principal needs the use's data
// actions at the source's share.
func (q *request) authorizeSource(use sourceUse, share, path string, sas url.Values) error {
	s, a := q.svc, q.account
	var err error
	switch {
	case sas.Get("sig") != "":
		if !a.AllowSharedKeyAccess {
			return use.refuse(errKeyAuthNotPermitted())
		}
		err = s.verifySAS(q.r, sas, a, share, path, 'o', use.perm)
	case q.caller.sharedKey:
		return nil
	case q.caller.sas != nil:
		err = s.verifySAS(q.r, q.caller.sas, a, share, path, 'o', use.perm)
	case q.caller.principal.ObjectID != "":
		err = s.authorizeData(q.ctx, q.caller.principal, a, share, use.actions)
	default:
		err = azerr.Forbidden("AuthorizationFailure", "This request is not authorized to perform this operation.")
	}
	if err != nil {
		return use.refuse(err)
	}
	return nil
}

// sourcePath resolves a copy or rename source URL (or path) to a share and path of this
// account, with the query the URL carries (a SAS for the source, if any).
func (q *request) sourcePath(use sourceUse, raw string) (share, path string, query url.Values, err error) {
	u, perr := url.Parse(raw)
	if perr != nil {
		return "", "", nil, invalidHeader(use.header, "is not a URL")
	}
	p := u.Path
	if !u.IsAbs() && !strings.HasPrefix(p, "/") {
		p = "/" + q.share + "/" + p
	}
	segs := strings.Split(strings.Trim(p, "/"), "/")
	if u.IsAbs() && !strings.HasSuffix(strings.ToLower(u.Hostname()), DNSSuffix) {
		// path-style: /<account>/<share>/<path>
		if len(segs) < 1 || !strings.EqualFold(segs[0], q.account.Name) {
			return "", "", nil, azerr.BadRequest("CannotVerifyCopySource", "The source must be in the same storage account.")
		}
		segs = segs[1:]
	} else if u.IsAbs() && !strings.EqualFold(strings.TrimSuffix(strings.ToLower(u.Hostname()), DNSSuffix), q.account.Name) {
		return "", "", nil, azerr.BadRequest("CannotVerifyCopySource", "The source must be in the same storage account.")
	}
	if len(segs) < 2 {
		return "", "", nil, invalidHeader(use.header, "must name a file or directory: <share>/<path>")
	}
	path = strings.Join(segs[1:], "/")
	if !strings.EqualFold(q.r.Header.Get("x-ms-source-allow-trailing-dot"), "true") {
		path = trimTrailingDots(path)
	}
	if err := ValidPath(path); err != nil {
		return "", "", nil, err
	}
	return segs[0], path, u.Query(), nil
}
