package files

import (
	"net/http"
	"strings"

	"crypto/sha256"
	"encoding/binary"
	"errors"
	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/ntfs"
	"strconv"

	"github.com/cerulean-azure/cerulean/internal/store"
)

// DefaultRootSDDL is the security descriptor of every share's root directory (seed 004):
// BUILTIN\Administrators:(OI)(CI)(F), BUILTIN\Users:(RX), BUILTIN\Users:(OI)(CI)(IO)(GR,GE),
// NT AUTHORITY\Authenticated Users:(OI)(CI)(M), NT AUTHORITY\SYSTEM:(OI)(CI)(F),
// NT AUTHORITY\SYSTEM:(F), CREATOR OWNER:(OI)(CI)(IO)(F).
const DefaultRootSDDL = "O:BAG:SYD:(A;OICI;FA;;;BA)(A;;0x1200a9;;;BU)(A;OICIIO;GXGR;;;BU)(A;OICI;0x1301bf;;;AU)(A;OICI;FA;;;SY)(A;;FA;;;SY)(A;OICIIO;GA;;;CO)"

// permissionKey is the key Azure Files gives a stored descriptor: two decimal 64-bit
// numbers joined by '*', the second constant within a share.
func permissionKey(account, share, sddl string) string {
	h := sha256.Sum256([]byte(sddl))
	s := sha256.Sum256([]byte(account + "/" + share))
	return strconv.FormatUint(binary.BigEndian.Uint64(h[:8]), 10) + "*" + strconv.FormatUint(binary.BigEndian.Uint64(s[:8]), 10)
}

// putPermissionTx stores a descriptor (idempotently) and returns its key.
func putPermissionTx(tx store.Tx, account, share, sddl string) (string, error) {
	key := permissionKey(account, share, sddl)
	return key, tx.Put(colPermissions, shareKey(account, share)+"/"+key, []byte(sddl))
}

// getPermissionTx returns the descriptor stored under key.
func getPermissionTx(tx store.Tx, account, share, key string) (string, error) {
	b, err := tx.Get(colPermissions, shareKey(account, share)+"/"+key)
	if errors.Is(err, store.ErrNotFound) {
		return "", errNotFound()
	}
	return string(b), err
}

// CanonicalSDDL validates an SDDL descriptor and returns its canonical form.
func CanonicalSDDL(s string) (string, error) {
	sd, err := ntfs.Parse(s)
	if err != nil {
		return "", azerr.BadRequest("InvalidInput", "One of the request inputs is not valid: the file permission is not a valid SDDL security descriptor (%v).", err)
	}
	return sd.String(), nil
}

// permissionFor resolves the descriptor a create or set-properties request asks for: an
// explicit SDDL (x-ms-file-permission, at most 8 KiB), a key from Create Permission
// (x-ms-file-permission-key), or "inherit"/absent (the parent's, or keep). It returns the
// permission key to record, or "" to inherit/keep.
func permissionFor(tx store.Tx, h http.Header, account, share string) (string, error) {
	perm, key := h.Get("x-ms-file-permission"), h.Get("x-ms-file-permission-key")
	if perm != "" && key != "" {
		return "", invalidHeader("x-ms-file-permission", "cannot be combined with x-ms-file-permission-key")
	}
	if key != "" {
		if _, err := getPermissionTx(tx, account, share, key); err != nil {
			return "", invalidHeader("x-ms-file-permission-key", "names no permission of this share")
		}
		return key, nil
	}
	if perm == "" || strings.EqualFold(perm, "inherit") || strings.EqualFold(perm, "preserve") {
		return "", nil
	}
	if len(perm) > 8<<10 {
		return "", invalidHeader("x-ms-file-permission", "is over 8 KiB: store it with Create Permission and pass x-ms-file-permission-key")
	}
	sd, err := ntfs.Parse(perm)
	if err != nil {
		return "", invalidHeader("x-ms-file-permission", "is not a valid SDDL security descriptor ("+err.Error()+")")
	}
	return putPermissionTx(tx, account, share, sd.String())
}
