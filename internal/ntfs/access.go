package ntfs

import (
	"fmt"
	"strconv"
	"strings"
)

// Access rights of files and directories (winnt.h). Directories reuse the low bits: 0x1
// lists, 0x2 adds a file, 0x4 adds a subdirectory, 0x20 traverses, 0x40 deletes a child.
const (
	FileReadData         uint32 = 0x1
	FileWriteData        uint32 = 0x2
	FileAppendData       uint32 = 0x4
	FileReadEA           uint32 = 0x8
	FileWriteEA          uint32 = 0x10
	FileExecute          uint32 = 0x20
	FileDeleteChild      uint32 = 0x40
	FileReadAttributes   uint32 = 0x80
	FileWriteAttributes  uint32 = 0x100
	Delete               uint32 = 0x10000
	ReadControl          uint32 = 0x20000
	WriteDAC             uint32 = 0x40000
	WriteOwner           uint32 = 0x80000
	Synchronize          uint32 = 0x100000
	AccessSystemSecurity uint32 = 0x1000000
	MaximumAllowed       uint32 = 0x2000000
	GenericAll           uint32 = 0x10000000
	GenericExecute       uint32 = 0x20000000
	GenericWrite         uint32 = 0x40000000
	GenericRead          uint32 = 0x80000000

	// The file generic mapping.
	FileAllAccess      uint32 = 0x1f01ff
	FileGenericRead    uint32 = 0x120089
	FileGenericWrite   uint32 = 0x120116
	FileGenericExecute uint32 = 0x1200a0
)

// MapGeneric replaces generic rights with the file rights they stand for.
func MapGeneric(m uint32) uint32 {
	if m&GenericAll != 0 {
		m |= FileAllAccess
	}
	if m&GenericRead != 0 {
		m |= FileGenericRead
	}
	if m&GenericWrite != 0 {
		m |= FileGenericWrite
	}
	if m&GenericExecute != 0 {
		m |= FileGenericExecute
	}
	return m &^ (GenericAll | GenericRead | GenericWrite | GenericExecute)
}

// Well-known SIDs.
const (
	SIDEveryone           = "S-1-1-0"
	SIDCreatorOwner       = "S-1-3-0"
	SIDCreatorGroup       = "S-1-3-1"
	SIDOwnerRights        = "S-1-3-4"
	SIDAuthenticatedUsers = "S-1-5-11"
	SIDSystem             = "S-1-5-18"
	SIDAdministrators     = "S-1-5-32-544"
	SIDUsers              = "S-1-5-32-545"
)

// aliasSIDs are the SDDL aliases a file's descriptor meets, as full SIDs.
var aliasSIDs = map[string]string{
	"WD": SIDEveryone, "CO": SIDCreatorOwner, "CG": SIDCreatorGroup, "OW": SIDOwnerRights,
	"AU": SIDAuthenticatedUsers, "SY": SIDSystem, "BA": SIDAdministrators, "BU": SIDUsers,
	"BG": "S-1-5-32-546", "PU": "S-1-5-32-547", "AO": "S-1-5-32-548", "SO": "S-1-5-32-549",
	"PO": "S-1-5-32-550", "BO": "S-1-5-32-551", "RE": "S-1-5-32-552", "RU": "S-1-5-32-554",
	"RD": "S-1-5-32-555", "NO": "S-1-5-32-556", "AN": "S-1-5-7", "NU": "S-1-5-2", "IU": "S-1-5-4",
	"SU": "S-1-5-6", "PS": "S-1-5-10", "RC": "S-1-5-12", "ED": "S-1-5-9", "LS": "S-1-5-19",
	"NS": "S-1-5-20", "ER": "S-1-5-32-573", "IS": "S-1-5-32-568", "CY": "S-1-5-32-569",
}

// CanonicalSID spells a SID or SDDL alias as a full SID string ("BU" → "S-1-5-32-545"), in
// upper case; domain-relative aliases (DA, DU, ...) stay as they are: they name no principal
// of Cerulean's directory.
func CanonicalSID(s string) string {
	if full, ok := aliasSIDs[s]; ok {
		return full
	}
	return strings.ToUpper(s)
}

// sid is a SID with its hash, so that matching an ACE against a token compares integers
// first and strings only on a hash match.
type sid struct {
	h uint64
	s string
}

func newSID(s string) sid {
	s = CanonicalSID(s)
	return sid{h: fnv64(s), s: s}
}

func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// Token is who asks for access: the principal's SID and every SID it counts as — its groups
// (nested membership already resolved by the caller) and the well-known SIDs Azure Files gives
// every authenticated principal: Everyone, Authenticated Users and BUILTIN\Users (which, with
// no server to configure it, holds exactly the authenticated users). BUILTIN\Administrators and
// SYSTEM hold no one.
type Token struct {
	User string
	sids []sid
}

// NewToken builds the token of a principal with the given SID and group SIDs.
func NewToken(user string, groups ...string) *Token {
	t := &Token{User: CanonicalSID(user)}
	for _, s := range append([]string{user, SIDEveryone, SIDAuthenticatedUsers, SIDUsers}, groups...) {
		n := newSID(s)
		if n.s == SIDAdministrators || n.s == SIDSystem || n.s == SIDCreatorOwner || n.s == SIDOwnerRights {
			continue // nobody holds these, whatever a caller passes
		}
		if !t.has(n) {
			t.sids = append(t.sids, n)
		}
	}
	return t
}

func (t *Token) has(s sid) bool {
	for _, x := range t.sids {
		if x.h == s.h && x.s == s.s {
			return true
		}
	}
	return false
}

// Has reports whether the token counts as the SID (or alias).
func (t *Token) Has(s string) bool { return t.has(newSID(s)) }

// compiledACE is an ACE ready for evaluation.
type compiledACE struct {
	deny, inheritOnly, inherited bool
	mask                         uint32
	sid                          sid
}

// Compiled is a descriptor compiled for access checks: aliases resolved, rights as masks with
// the generic ones mapped, ACEs that grant nothing on files dropped (audit, alarm, object and
// conditional allow ACEs; a conditional deny is kept as a deny, failing closed).
type Compiled struct {
	owner       sid
	nullDACL    bool
	ownerRights bool // an effective OWNER RIGHTS ACE replaces the owner's implicit rights
	aces        []compiledACE
}

// Compile prepares a descriptor for access checks.
func Compile(sd *SecurityDescriptor) (*Compiled, error) {
	c := &Compiled{owner: newSID(sd.Owner)}
	if !sd.HasDACL || strings.Contains(sd.DACLFlags, "NO_ACCESS_CONTROL") {
		c.nullDACL = true
		return c, nil
	}
	for _, a := range sd.DACL {
		var deny bool
		switch a.Type {
		case "A":
		case "D", "XD":
			deny = true
		default:
			continue
		}
		mask, err := RightsMask(a.Rights)
		if err != nil {
			return nil, err
		}
		ca := compiledACE{deny: deny, inheritOnly: hasFlag(a.Flags, "IO"), inherited: hasFlag(a.Flags, "ID"), mask: MapGeneric(mask), sid: newSID(a.SID)}
		if ca.sid.s == SIDOwnerRights && !ca.inheritOnly {
			c.ownerRights = true
		}
		c.aces = append(c.aces, ca)
	}
	return c, nil
}

// rightLetters are SDDL's two-letter rights as file rights (the directory-service letters
// name the same low bits).
var rightLetters = map[string]uint32{
	"GA": GenericAll, "GR": GenericRead, "GW": GenericWrite, "GX": GenericExecute,
	"RC": ReadControl, "SD": Delete, "WD": WriteDAC, "WO": WriteOwner,
	"CC": 0x1, "DC": 0x2, "LC": 0x4, "SW": 0x8, "RP": 0x10, "WP": 0x20, "DT": 0x40, "LO": 0x80, "CR": 0x100,
	"FA": FileAllAccess, "FR": FileGenericRead, "FW": FileGenericWrite, "FX": FileGenericExecute,
	"KA": 0xf003f, "KR": 0x20019, "KW": 0x20006, "KX": 0x20019,
	"NR": 0x1, "NW": 0x2, "NX": 0x4,
}

// RightsMask reads an ACE's rights: a 0x mask or two-letter codes.
func RightsMask(r string) (uint32, error) {
	if strings.HasPrefix(r, "0x") || strings.HasPrefix(r, "0X") {
		v, err := strconv.ParseUint(r[2:], 16, 32)
		if err != nil {
			return 0, fmt.Errorf("'%s' is not an access mask", r)
		}
		return uint32(v), nil
	}
	if len(r)%2 != 0 {
		return 0, fmt.Errorf("'%s' are not access rights", r)
	}
	var m uint32
	for i := 0; i < len(r); i += 2 {
		v, ok := rightLetters[r[i:i+2]]
		if !ok {
			return 0, fmt.Errorf("'%s' is not an access right", r[i:i+2])
		}
		m |= v
	}
	return m, nil
}

// MaximumAllowed returns every right the token is granted by the descriptor, as Windows
// computes MAXIMUM_ALLOWED: the owner's implicit READ_CONTROL and WRITE_DAC first (unless an
// OWNER RIGHTS ACE says otherwise), then the ACEs in their stored order, skipping inherit-only
// ones; a right denied by an earlier ACE is not granted by a later one, and one granted
// earlier is not taken back by a later deny. A NULL DACL grants everything; an empty DACL
// grants nothing but the owner's implicit rights. CREATOR OWNER in an effective ACE matches
// no one (it is a placeholder for inheritance); an ACE naming a SID nobody holds grants
// nothing.
func (c *Compiled) MaximumAllowed(t *Token) uint32 {
	if c.nullDACL {
		return FileAllAccess | AccessSystemSecurity
	}
	var granted, denied uint32
	if !c.ownerRights && t.has(c.owner) {
		granted = ReadControl | WriteDAC
	}
	isOwner := c.ownerRights && t.has(c.owner)
	for i := range c.aces {
		a := &c.aces[i]
		if a.inheritOnly {
			continue
		}
		match := t.has(a.sid) || (isOwner && a.sid.s == SIDOwnerRights)
		if !match {
			continue
		}
		if a.deny {
			denied |= a.mask &^ granted
		} else {
			granted |= a.mask &^ denied
		}
	}
	return granted
}

// Check reports whether the token is granted every desired right (generic rights mapped).
func (c *Compiled) Check(t *Token, desired uint32) bool {
	d := MapGeneric(desired &^ MaximumAllowed)
	return c.MaximumAllowed(t)&d == d
}

// Owner is the owner's SID.
func (c *Compiled) Owner() string { return c.owner.s }

// ACEEffect is what one ACE did for a token: the rights it granted or denied (those not
// already settled by an earlier ACE), and whether it was inherited.
type ACEEffect struct {
	Index     int // position in the DACL
	Deny      bool
	Inherited bool
	SID       string
	Rights    uint32 // the rights this ACE settled
}

// Explain replays MaximumAllowed and reports every ACE that settled rights for the token,
// and whether the owner's implicit rights applied. It allocates; use it only to explain.
func (c *Compiled) Explain(t *Token) (effects []ACEEffect, ownerImplicit bool) {
	if c.nullDACL {
		return nil, false
	}
	var granted, denied uint32
	if !c.ownerRights && t.has(c.owner) {
		granted, ownerImplicit = ReadControl|WriteDAC, true
	}
	isOwner := c.ownerRights && t.has(c.owner)
	for i := range c.aces {
		a := &c.aces[i]
		if a.inheritOnly || !(t.has(a.sid) || (isOwner && a.sid.s == SIDOwnerRights)) {
			continue
		}
		var settled uint32
		if a.deny {
			settled = a.mask &^ granted &^ denied
			denied |= settled
		} else {
			settled = a.mask &^ denied &^ granted
			granted |= settled
		}
		if settled != 0 {
			effects = append(effects, ACEEffect{Index: i, Deny: a.deny, Inherited: a.inherited, SID: a.sid.s, Rights: settled})
		}
	}
	return effects, ownerImplicit
}

// NullDACL reports whether the descriptor has no DACL (everyone may do everything).
func (c *Compiled) NullDACL() bool { return c.nullDACL }

// RightsNames spells a mask with icacls' names: F, M, RX, R, W when it is exactly one of
// them, else the specific rights in icacls' short form (RD, WD, AD, REA, WEA, X, DC, RA, WA,
// DE, RC, WDAC, WO, S).
func RightsNames(m uint32) string {
	for _, n := range []struct {
		name string
		mask uint32
	}{{"F", FileAllAccess}, {"M", 0x1301bf}, {"RX", 0x1200a9}, {"R", FileGenericRead}, {"W", 0x100116}} {
		if m == n.mask {
			return n.name
		}
	}
	var parts []string
	for _, r := range []struct {
		name string
		bit  uint32
	}{{"RD", FileReadData}, {"WD", FileWriteData}, {"AD", FileAppendData}, {"REA", FileReadEA}, {"WEA", FileWriteEA},
		{"X", FileExecute}, {"DC", FileDeleteChild}, {"RA", FileReadAttributes}, {"WA", FileWriteAttributes},
		{"DE", Delete}, {"RC", ReadControl}, {"WDAC", WriteDAC}, {"WO", WriteOwner}, {"S", Synchronize}, {"AS", AccessSystemSecurity}} {
		if m&r.bit != 0 {
			parts = append(parts, r.name)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}
