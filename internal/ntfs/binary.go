package ntfs

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// The self-relative binary form of a security descriptor ([MS-DTYP] 2.4.6): what SMB's
// query/set security info carries, what Samba keeps in its NTACL xattr, and what Azure Files
// takes and returns with x-ms-file-permission-format: binary.

// MaxDescriptor is the largest descriptor accepted (Azure File Sync's limit; the SDDL parser
// applies the same bound).
const MaxDescriptor = 64 << 10

// Control flags.
const (
	ctlDACLPresent       = 0x0004
	ctlSACLPresent       = 0x0010
	ctlDACLAutoInhReq    = 0x0100
	ctlSACLAutoInhReq    = 0x0200
	ctlDACLAutoInherited = 0x0400
	ctlSACLAutoInherited = 0x0800
	ctlDACLProtected     = 0x1000
	ctlSACLProtected     = 0x2000
	ctlSelfRelative      = 0x8000
)

var aceTypeCodes = map[string]byte{"A": 0, "D": 1, "AU": 2, "AL": 3, "ML": 0x11}
var aceTypeNames = map[byte]string{0: "A", 1: "D", 2: "AU", 3: "AL", 0x11: "ML"}

var aceFlagBits = []struct {
	code string
	bit  byte
}{{"OI", 0x1}, {"CI", 0x2}, {"NP", 0x4}, {"IO", 0x8}, {"ID", 0x10}, {"SA", 0x40}, {"FA", 0x80}}

// BinaryError says what is wrong with a binary descriptor and at which byte.
type BinaryError struct {
	Offset int
	Msg    string
}

func (e *BinaryError) Error() string {
	return fmt.Sprintf("binary security descriptor at byte %d: %s", e.Offset, e.Msg)
}

// MarshalBinary encodes the descriptor in self-relative form: owner, group, SACL, DACL.
func (sd *SecurityDescriptor) MarshalBinary() ([]byte, error) {
	owner, err := sidBytes(sd.Owner)
	if err != nil {
		return nil, err
	}
	group, err := sidBytes(sd.Group)
	if err != nil {
		return nil, err
	}
	ctl := uint16(ctlSelfRelative)
	var dacl, sacl []byte
	if sd.HasDACL {
		flags := strings.Replace(sd.DACLFlags, "NO_ACCESS_CONTROL", "", 1)
		ctl |= ctlDACLPresent | aclControl(flags, ctlDACLProtected, ctlDACLAutoInhReq, ctlDACLAutoInherited)
		if flags == sd.DACLFlags { // NO_ACCESS_CONTROL is a NULL DACL: present, without an ACL
			if dacl, err = aclBytes(sd.DACL); err != nil {
				return nil, err
			}
		}
	}
	if sd.SACL != "" {
		flags, aces, err := parseACL(sd.SACL)
		if err != nil {
			return nil, err
		}
		ctl |= ctlSACLPresent | aclControl(flags, ctlSACLProtected, ctlSACLAutoInhReq, ctlSACLAutoInherited)
		if sacl, err = aclBytes(aces); err != nil {
			return nil, err
		}
	}
	out := make([]byte, 20, 20+len(owner)+len(group)+len(sacl)+len(dacl))
	out[0] = 1
	binary.LittleEndian.PutUint16(out[2:], ctl)
	put := func(field int, b []byte) {
		if b == nil {
			return
		}
		binary.LittleEndian.PutUint32(out[field:], uint32(len(out)))
		out = append(out, b...)
	}
	put(4, owner)
	put(8, group)
	put(12, sacl)
	put(16, dacl)
	if len(out) > MaxDescriptor {
		return nil, fmt.Errorf("the descriptor is %d bytes, more than 64 KiB", len(out))
	}
	return out, nil
}

func aclControl(flags string, protected, autoReq, autoInh uint16) uint16 {
	var c uint16
	if strings.Contains(flags, "P") {
		c |= protected
	}
	if strings.Contains(flags, "AR") {
		c |= autoReq
	}
	if strings.Contains(flags, "AI") {
		c |= autoInh
	}
	return c
}

func aclFlags(ctl, protected, autoReq, autoInh uint16) string {
	var b strings.Builder
	if ctl&protected != 0 {
		b.WriteString("P")
	}
	if ctl&autoReq != 0 {
		b.WriteString("AR")
	}
	if ctl&autoInh != 0 {
		b.WriteString("AI")
	}
	return b.String()
}

func aclBytes(aces []ACE) ([]byte, error) {
	out := make([]byte, 8, 8+len(aces)*28)
	out[0] = 2
	for _, a := range aces {
		typ, ok := aceTypeCodes[a.Type]
		if !ok {
			return nil, fmt.Errorf("ACE type '%s' has no binary form here (A, D, AU, AL, ML)", a.Type)
		}
		mask, err := RightsMask(a.Rights)
		if err != nil {
			return nil, err
		}
		s, err := sidBytes(a.SID)
		if err != nil {
			return nil, err
		}
		var flags byte
		for _, f := range aceFlagBits {
			if hasFlag(a.Flags, f.code) {
				flags |= f.bit
			}
		}
		size := 8 + len(s)
		ace := make([]byte, 8, size)
		ace[0], ace[1] = typ, flags
		binary.LittleEndian.PutUint16(ace[2:], uint16(size))
		binary.LittleEndian.PutUint32(ace[4:], mask)
		out = append(out, append(ace, s...)...)
	}
	if len(out) > 0xffff {
		return nil, fmt.Errorf("the ACL is larger than 64 KiB")
	}
	binary.LittleEndian.PutUint16(out[2:], uint16(len(out)))
	binary.LittleEndian.PutUint16(out[4:], uint16(len(aces)))
	return out, nil
}

// sidBytes encodes a SID string or alias.
func sidBytes(s string) ([]byte, error) {
	full := CanonicalSID(s)
	if !strings.HasPrefix(full, "S-1-") {
		return nil, fmt.Errorf("'%s' is not a SID this server can encode", s)
	}
	parts := strings.Split(full[4:], "-")
	if len(parts) < 1 || len(parts) > 16 {
		return nil, fmt.Errorf("'%s' is not a SID", s)
	}
	auth, err := strconv.ParseUint(parts[0], 10, 48)
	if err != nil {
		return nil, fmt.Errorf("'%s' is not a SID: %v", s, err)
	}
	out := make([]byte, 8, 8+4*(len(parts)-1))
	out[0], out[1] = 1, byte(len(parts)-1)
	for i := 0; i < 6; i++ {
		out[2+i] = byte(auth >> (8 * (5 - i)))
	}
	for _, p := range parts[1:] {
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("'%s' is not a SID: %v", s, err)
		}
		out = binary.LittleEndian.AppendUint32(out, uint32(v))
	}
	return out, nil
}

// UnmarshalBinary decodes a self-relative descriptor. Owner, group and DACL must be present,
// as Azure Files requires them; SIDs are spelled with SDDL's aliases where one exists, and
// access masks as SDDL letters when the mask is exactly such a combination, as Windows
// converts them.
func UnmarshalBinary(b []byte) (*SecurityDescriptor, error) {
	fail := func(off int, format string, args ...any) (*SecurityDescriptor, error) {
		return nil, &BinaryError{off, fmt.Sprintf(format, args...)}
	}
	if len(b) > MaxDescriptor {
		return fail(MaxDescriptor, "the descriptor is %d bytes, more than 64 KiB", len(b))
	}
	if len(b) < 20 {
		return fail(len(b), "a descriptor has a 20-byte header")
	}
	if b[0] != 1 {
		return fail(0, "revision %d, want 1", b[0])
	}
	ctl := binary.LittleEndian.Uint16(b[2:])
	if ctl&ctlSelfRelative == 0 {
		return fail(2, "the descriptor is not self-relative")
	}
	off := func(i int) int { return int(binary.LittleEndian.Uint32(b[i:])) }
	sd := &SecurityDescriptor{}
	var err error
	if off(4) == 0 {
		return fail(4, "the descriptor has no owner")
	}
	if sd.Owner, err = readSID(b, off(4)); err != nil {
		return nil, err
	}
	if off(8) == 0 {
		return fail(8, "the descriptor has no group")
	}
	if sd.Group, err = readSID(b, off(8)); err != nil {
		return nil, err
	}
	if ctl&ctlDACLPresent == 0 {
		return fail(2, "the descriptor has no DACL")
	}
	sd.HasDACL = true
	sd.DACLFlags = aclFlags(ctl, ctlDACLProtected, ctlDACLAutoInhReq, ctlDACLAutoInherited)
	if off(16) != 0 {
		if sd.DACL, err = readACL(b, off(16)); err != nil {
			return nil, err
		}
	} else {
		sd.DACLFlags += "NO_ACCESS_CONTROL"
	}
	if ctl&ctlSACLPresent != 0 && off(12) != 0 {
		aces, err := readACL(b, off(12))
		if err != nil {
			return nil, err
		}
		var s strings.Builder
		s.WriteString(aclFlags(ctl, ctlSACLProtected, ctlSACLAutoInhReq, ctlSACLAutoInherited))
		for _, a := range aces {
			s.WriteString(a.String())
		}
		sd.SACL = s.String()
	}
	// What is decoded must also be valid SDDL (the store keeps that form).
	if _, err := Parse(sd.String()); err != nil {
		return nil, err
	}
	return sd, nil
}

func readSID(b []byte, at int) (string, error) {
	if at < 20 || at+8 > len(b) {
		return "", &BinaryError{at, "a SID lies outside the descriptor"}
	}
	if b[at] != 1 {
		return "", &BinaryError{at, fmt.Sprintf("SID revision %d, want 1", b[at])}
	}
	n := int(b[at+1])
	if n > 15 || at+8+4*n > len(b) {
		return "", &BinaryError{at + 1, fmt.Sprintf("a SID with %d sub-authorities does not fit", n)}
	}
	var auth uint64
	for i := 0; i < 6; i++ {
		auth = auth<<8 | uint64(b[at+2+i])
	}
	var s strings.Builder
	s.WriteString("S-1-" + strconv.FormatUint(auth, 10))
	for i := 0; i < n; i++ {
		s.WriteString("-" + strconv.FormatUint(uint64(binary.LittleEndian.Uint32(b[at+8+4*i:])), 10))
	}
	return aliasOf(s.String()), nil
}

var sidAliases = func() map[string]string {
	m := map[string]string{}
	for a, s := range aliasSIDs {
		m[s] = a
	}
	return m
}()

// aliasOf spells a well-known SID with its SDDL alias, as Windows does.
func aliasOf(sid string) string {
	if a, ok := sidAliases[sid]; ok {
		return a
	}
	return sid
}

func readACL(b []byte, at int) ([]ACE, error) {
	if at < 20 || at+8 > len(b) {
		return nil, &BinaryError{at, "an ACL lies outside the descriptor"}
	}
	if rev := b[at]; rev != 2 && rev != 4 {
		return nil, &BinaryError{at, fmt.Sprintf("ACL revision %d, want 2 or 4", rev)}
	}
	size := int(binary.LittleEndian.Uint16(b[at+2:]))
	count := int(binary.LittleEndian.Uint16(b[at+4:]))
	if size < 8 || at+size > len(b) {
		return nil, &BinaryError{at + 2, fmt.Sprintf("an ACL of %d bytes does not fit", size)}
	}
	end := at + size
	p := at + 8
	aces := make([]ACE, 0, min(count, 1024))
	for i := 0; i < count; i++ {
		if p+8 > end {
			return nil, &BinaryError{p, fmt.Sprintf("ACE %d of %d lies outside its ACL", i+1, count)}
		}
		typ, flags := b[p], b[p+1]
		asize := int(binary.LittleEndian.Uint16(b[p+2:]))
		if asize < 16 || asize%4 != 0 || p+asize > end {
			return nil, &BinaryError{p + 2, fmt.Sprintf("ACE %d has a size of %d bytes", i+1, asize)}
		}
		name, ok := aceTypeNames[typ]
		if !ok {
			return nil, &BinaryError{p, fmt.Sprintf("ACE type %#x is not supported on files (allowed, denied, audit, alarm, mandatory label)", typ)}
		}
		mask := binary.LittleEndian.Uint32(b[p+4:])
		sid, err := readSID(b[:p+asize], p+8)
		if err != nil {
			return nil, err
		}
		var fl strings.Builder
		for _, f := range aceFlagBits {
			if flags&f.bit != 0 {
				fl.WriteString(f.code)
			}
		}
		if rest := flags &^ 0xdf; rest != 0 {
			return nil, &BinaryError{p + 1, fmt.Sprintf("unknown ACE flags %#x", rest)}
		}
		aces = append(aces, ACE{Type: name, Flags: fl.String(), Rights: RightsString(mask), SID: sid})
		p += asize
	}
	return aces, nil
}

// String formats one ACE as SDDL.
func (a ACE) String() string {
	return "(" + a.Type + ";" + a.Flags + ";" + a.Rights + ";" + a.Object + ";" + a.Inherit + ";" + a.SID + ")"
}

// letterOrder is the order Windows writes rights letters in: by ascending bit
// ("CCDCLCSWRPWPDTLOCRSDRCWDWO", "GXGR").
var letterOrder = []string{"CC", "DC", "LC", "SW", "RP", "WP", "DT", "LO", "CR", "SD", "RC", "WD", "WO", "GA", "GX", "GW", "GR"}

// RightsString spells an access mask as Windows' SDDL does: FA, FR, FW or FX when it is
// exactly one of them, letters when the mask is made only of lettered rights, else hex.
func RightsString(m uint32) string {
	for _, c := range []string{"FA", "FR", "FW", "FX"} {
		if rightLetters[c] == m {
			return c
		}
	}
	var b strings.Builder
	rest := m
	for _, c := range letterOrder {
		if v := rightLetters[c]; m&v == v && v != 0 {
			b.WriteString(c)
			rest &^= v
		}
	}
	if rest != 0 || m == 0 {
		return "0x" + strconv.FormatUint(uint64(m), 16)
	}
	return b.String()
}

// parseACL parses an ACL body in SDDL ("PAI(A;;FA;;;BA)..."): its flags and its ACEs.
func parseACL(body string) (string, []ACE, error) {
	sd, err := Parse("O:BAG:BAD:" + body)
	if err != nil {
		return "", nil, err
	}
	return sd.DACLFlags, sd.DACL, nil
}
