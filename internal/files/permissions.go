package files

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/cerulean-azure/cerulean/internal/ntfs"
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
	err := tx.Create(colPermissions, shareKey(account, share)+"/"+key, []byte(sddl))
	if errors.Is(err, store.ErrExists) { // stored before: the same descriptor (the key is its hash)
		err = nil
	}
	return key, err
}

// putNewPermissionTx stores a descriptor given inline (x-ms-file-permission on a create,
// a set or a copy) under a key of its own, as Azure issues one for every such request even
// when an equal descriptor is stored: the content's hash, then a random number.
func putNewPermissionTx(tx store.Tx, account, share, sddl string) (string, error) {
	h := sha256.Sum256([]byte(sddl))
	for {
		var r [8]byte
		_, _ = rand.Read(r[:])
		key := strconv.FormatUint(binary.BigEndian.Uint64(h[:8]), 10) + "*" + strconv.FormatUint(binary.BigEndian.Uint64(r[:])>>1, 10)
		err := tx.Create(colPermissions, shareKey(account, share)+"/"+key, []byte(sddl))
		if !errors.Is(err, store.ErrExists) {
			return key, err
		}
	}
}

// getPermissionTx returns the descriptor stored under key.
func getPermissionTx(tx store.Tx, account, share, key string) (string, error) {
	b, err := tx.Get(colPermissions, shareKey(account, share)+"/"+key)
	if errors.Is(err, store.ErrNotFound) {
		return "", errNotFound()
	}
	return string(b), err
}

// decodePermission reads a permission in the format a request names: SDDL (the default) or
// the self-relative binary form, base64-encoded (x-ms-file-permission-format: binary).
func decodePermission(value, format string) (*ntfs.SecurityDescriptor, error) {
	switch strings.ToLower(format) {
	case "", "sddl":
		return ntfs.Parse(value)
	case "binary":
		b, err := base64.StdEncoding.DecodeString(value)
		if err != nil {
			return nil, fmt.Errorf("the binary permission is not base64: %v", err)
		}
		return ntfs.UnmarshalBinary(b)
	}
	return nil, errBadFormat
}

var errBadFormat = errors.New("the permission format must be sddl or binary")

// encodePermission writes a stored (SDDL) permission in the format a request asks for.
func encodePermission(sddl, format string) (string, string, error) {
	if !strings.EqualFold(format, "binary") {
		return sddl, "Sddl", nil
	}
	sd, err := ntfs.Parse(sddl)
	if err != nil {
		return "", "", err
	}
	b, err := sd.MarshalBinary()
	if err != nil {
		return "", "", err
	}
	return base64.StdEncoding.EncodeToString(b), "Binary", nil
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
	format := h.Get("x-ms-file-permission-format")
	sd, err := decodePermission(perm, format)
	if errors.Is(err, errBadFormat) {
		return "", invalidHeader("x-ms-file-permission-format", "must be sddl or binary")
	}
	if err != nil {
		return "", invalidHeader("x-ms-file-permission", "is not a valid "+strings.ToLower(strings.TrimSpace(format+" security descriptor"))+" ("+err.Error()+")")
	}
	return putNewPermissionTx(tx, account, share, sd.String())
}

// inheritedTx is the descriptor a new file (or directory) inherits from a parent whose
// permission key is parentKey. Keys name their descriptor's content (a hash of it, within
// the share), so what one inherits is remembered: most creations skip parsing the parent's.
func (s *Service) inheritedTx(tx store.Tx, account, share, parentKey string, dir bool) (string, error) {
	memo := parentKey + "|f"
	if dir {
		memo = parentKey + "|d"
	}
	s.inheritMu.Lock()
	sddl, ok := s.inherit[memo]
	s.inheritMu.Unlock()
	if ok {
		return sddl, nil
	}
	parentSDDL, err := getPermissionTx(tx, account, share, parentKey)
	if err != nil {
		return "", err
	}
	psd, err := ntfs.Parse(parentSDDL)
	if err != nil {
		return "", err
	}
	sddl = ntfs.Inherit(psd, dir, "").String()
	s.inheritMu.Lock()
	if len(s.inherit) >= inheritMemo {
		clear(s.inherit)
	}
	s.inherit[memo] = sddl
	s.inheritMu.Unlock()
	return sddl, nil
}

// inheritMemo bounds the inherited descriptors remembered.
const inheritMemo = 4096
