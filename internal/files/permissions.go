package files

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
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
