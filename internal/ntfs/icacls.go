package ntfs

import (
	"fmt"
	"strings"
)

// icacls' notation: permissions "(OI)(CI)F", "(OI)(CI)(IO)(GR,GE)", "(RX,W)"; the edits
// /grant, /grant:r, /deny, /remove[:g|:d], /inheritance:e|d|r, /reset; and its listing
// "NAME:(I)(OI)(CI)(F)".

// simpleRights are icacls' simple permissions.
var simpleRights = map[string]uint32{"F": FileAllAccess, "M": 0x1301bf, "RX": 0x1200a9, "R": FileGenericRead, "W": 0x100116, "D": Delete}

// specificRights are icacls' specific rights.
var specificRights = map[string]uint32{
	"DE": Delete, "RC": ReadControl, "WDAC": WriteDAC, "WO": WriteOwner, "S": Synchronize, "AS": AccessSystemSecurity,
	"MA": MaximumAllowed, "GR": GenericRead, "GW": GenericWrite, "GE": GenericExecute, "GA": GenericAll,
	"RD": FileReadData, "WD": FileWriteData, "AD": FileAppendData, "REA": FileReadEA, "WEA": FileWriteEA,
	"X": FileExecute, "DC": FileDeleteChild, "RA": FileReadAttributes, "WA": FileWriteAttributes,
}

var inheritanceFlags = map[string]string{"OI": "OI", "CI": "CI", "IO": "IO", "NP": "NP"}

// ParsePerm reads an icacls permission: inheritance flags and rights, e.g. "(OI)(CI)F",
// "(OI)(CI)(M)", "(IO)(GR,GE)", "(RX,W)". Flags are returned in SDDL form ("OICI").
func ParsePerm(s string) (flags string, mask uint32, err error) {
	rest := strings.TrimSpace(s)
	var rights []string
	for rest != "" {
		var tok string
		if rest[0] == '(' {
			end := strings.IndexByte(rest, ')')
			if end < 0 {
				return "", 0, fmt.Errorf("'%s': a '(' is not closed", s)
			}
			tok, rest = rest[1:end], rest[end+1:]
		} else {
			end := strings.IndexByte(rest, '(')
			if end < 0 {
				end = len(rest)
			}
			tok, rest = rest[:end], rest[end:]
		}
		u := strings.ToUpper(strings.TrimSpace(tok))
		if f, ok := inheritanceFlags[u]; ok {
			if hasFlag(flags, f) {
				return "", 0, fmt.Errorf("'%s': (%s) appears twice", s, u)
			}
			flags += f
			continue
		}
		if u == "I" {
			return "", 0, fmt.Errorf("'%s': (I) marks inherited entries in listings and cannot be granted", s)
		}
		rights = append(rights, u)
	}
	if len(rights) != 1 {
		return "", 0, fmt.Errorf("'%s': give one permission (F, M, RX, R, W, D) or one list of specific rights such as (RD,WD)", s)
	}
	if hasFlag(flags, "IO") && !hasFlag(flags, "OI") && !hasFlag(flags, "CI") {
		return "", 0, fmt.Errorf("'%s': (IO) needs (OI) or (CI): an inherit-only entry that nothing inherits has no effect", s)
	}
	if m, ok := simpleRights[rights[0]]; ok {
		return flags, m, nil
	}
	for _, r := range strings.Split(rights[0], ",") {
		m, ok := specificRights[strings.TrimSpace(r)]
		if !ok {
			return "", 0, fmt.Errorf("'%s': '%s' is not a permission (F, M, RX, R, W, D) nor a specific right (RD, WD, AD, REA, WEA, X, DC, RA, WA, DE, RC, WDAC, WO, S, AS, GR, GW, GE, GA)", s, r)
		}
		mask |= m
	}
	return flags, mask, nil
}

// FormatPerm writes an ACE's flags and rights as icacls lists them: "(I)(OI)(CI)(F)",
// "(DENY)(W)".
func FormatPerm(a ACE) string {
	var b strings.Builder
	if a.Type == "D" {
		b.WriteString("(DENY)")
	}
	if hasFlag(a.Flags, "ID") {
		b.WriteString("(I)")
	}
	for _, f := range []string{"OI", "CI", "IO", "NP"} {
		if hasFlag(a.Flags, f) {
			b.WriteString("(" + f + ")")
		}
	}
	mask, err := RightsMask(a.Rights)
	if err != nil {
		return b.String() + "(" + a.Rights + ")"
	}
	if mask == GenericAll { // icacls writes GENERIC_ALL as full control
		return b.String() + "(F)"
	}
	for _, n := range []string{"F", "M", "RX", "R", "W"} {
		if simpleRights[n] == mask {
			return b.String() + "(" + n + ")"
		}
	}
	var parts []string
	for _, r := range []string{"GA", "GR", "GW", "GE", "MA", "AS", "DE", "RC", "WDAC", "WO", "S", "RD", "WD", "AD", "REA", "WEA", "X", "DC", "RA", "WA"} {
		if v := specificRights[r]; mask&v == v {
			parts = append(parts, r)
		}
	}
	return b.String() + "(" + strings.Join(parts, ",") + ")"
}

// Canonicalize orders a DACL as Windows requires: explicit denies, explicit allows, then the
// inherited ACEs in the order they were inherited.
func Canonicalize(sd *SecurityDescriptor) {
	var deny, allow, other, inherited []ACE
	for _, a := range sd.DACL {
		switch {
		case hasFlag(a.Flags, "ID"):
			inherited = append(inherited, a)
		case a.Type == "D":
			deny = append(deny, a)
		case a.Type == "A":
			allow = append(allow, a)
		default:
			other = append(other, a)
		}
	}
	all := make([]ACE, 0, len(sd.DACL))
	all = append(all, deny...)
	all = append(all, allow...)
	all = append(all, other...)
	sd.DACL = append(all, inherited...)
}

// Grant adds rights to sid (merging into its explicit allow ACE with the same flags);
// replace (/grant:r) first removes sid's explicit allow ACEs.
func Grant(sd *SecurityDescriptor, sid, flags string, mask uint32, replace bool) {
	if replace {
		Remove(sd, sid, "g")
	}
	addACE(sd, "A", sid, flags, mask)
}

// Deny adds an explicit deny ACE for sid.
func Deny(sd *SecurityDescriptor, sid, flags string, mask uint32) { addACE(sd, "D", sid, flags, mask) }

func addACE(sd *SecurityDescriptor, typ, sid, flags string, mask uint32) {
	want := CanonicalSID(sid)
	for i, a := range sd.DACL {
		if a.Type == typ && !hasFlag(a.Flags, "ID") && CanonicalSID(a.SID) == want && sameFlags(a.Flags, flags) {
			m, err := RightsMask(a.Rights)
			if err == nil {
				sd.DACL[i].Rights = RightsString(m | mask)
				return
			}
		}
	}
	sd.DACL = append(sd.DACL, ACE{Type: typ, Flags: flags, Rights: RightsString(mask), SID: aliasOf(want)})
	Canonicalize(sd)
}

func sameFlags(a, b string) bool {
	for _, f := range []string{"OI", "CI", "IO", "NP"} {
		if hasFlag(a, f) != hasFlag(b, f) {
			return false
		}
	}
	return true
}

// Remove drops sid's explicit ACEs: which is "g" (grants only), "d" (denies only) or "" (both).
func Remove(sd *SecurityDescriptor, sid, which string) {
	want := CanonicalSID(sid)
	out := sd.DACL[:0]
	for _, a := range sd.DACL {
		drop := !hasFlag(a.Flags, "ID") && CanonicalSID(a.SID) == want &&
			(which == "" || (which == "g" && a.Type == "A") || (which == "d" && a.Type == "D"))
		if !drop {
			out = append(out, a)
		}
	}
	sd.DACL = out
}

// SetInheritance is /inheritance: "e" enables it (the parent's inheritable ACEs apply
// again), "d" disables it and keeps the inherited ACEs as explicit copies, "r" disables it and
// removes them. parent is nil for a share's root.
func SetInheritance(sd, parent *SecurityDescriptor, mode string, dir bool) error {
	flags := strings.Replace(strings.Replace(sd.DACLFlags, "P", "", 1), "AI", "", 1)
	switch mode {
	case "e":
		sd.DACLFlags = flags
		if parent != nil {
			*sd = *Reinherit(sd, parent, dir)
		}
	case "d":
		for i := range sd.DACL {
			sd.DACL[i].Flags = withoutFlags(sd.DACL[i].Flags, "ID")
		}
		sd.DACLFlags = "P" + flags
		Canonicalize(sd)
	case "r":
		sd.DACL = explicitACEs(sd)
		sd.DACLFlags = "P" + flags
	default:
		return fmt.Errorf("/inheritance:%s: use e (enable), d (disable, copy) or r (remove)", mode)
	}
	return nil
}

// Reset is /reset: the explicit ACEs go and the descriptor takes what its parent passes down.
func Reset(sd, parent *SecurityDescriptor, dir bool) {
	sd.DACL = nil
	sd.DACLFlags = ""
	if parent != nil {
		*sd = *Reinherit(sd, parent, dir)
	}
}
