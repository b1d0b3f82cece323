package ntfs

import "strings"

// generic maps a generic right to the file-specific rights it stands for.
var generic = map[string]string{"GA": "FA", "GR": "0x120089", "GW": "0x120116", "GX": "0x1200a0"}

func hasFlag(flags, f string) bool {
	for i := 0; i+1 < len(flags); i += 2 {
		if flags[i:i+2] == f {
			return true
		}
	}
	return false
}

// mapGeneric replaces generic rights with file rights when the rights are all generic.
func mapGeneric(r string) (string, bool) {
	if strings.HasPrefix(r, "0x") {
		return r, false
	}
	var out []string
	changed := false
	for i := 0; i+1 < len(r); i += 2 {
		c := r[i : i+2]
		if m, ok := generic[c]; ok {
			out, changed = append(out, m), true
		} else {
			out = append(out, c)
		}
	}
	if !changed {
		return r, false
	}
	if len(out) == 1 {
		return out[0], true
	}
	var mask uint64
	for _, c := range out {
		m, ok := fileMask[c]
		if !ok {
			return r, false
		}
		mask |= m
	}
	return "0x" + strings.ToLower(strconvHex(mask)), true
}

var fileMask = map[string]uint64{"FA": 0x1f01ff, "FR": 0x120089, "FW": 0x120116, "FX": 0x1200a0,
	"0x120089": 0x120089, "0x120116": 0x120116, "0x1200a0": 0x1200a0}

func strconvHex(v uint64) string {
	const digits = "0123456789abcdef"
	if v == 0 {
		return "0"
	}
	var b [16]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = digits[v&0xf]
		v >>= 4
	}
	return string(b[i:])
}

// Inherit computes the descriptor of a new child (a directory if dir) of parent, owned by
// owner ("" keeps the parent's owner), with Windows' inheritance rules: ACEs flagged CI pass
// to directories, OI to files; NP stops further propagation; inherit-only (IO) ACEs take
// effect on the child; CREATOR OWNER becomes the owner; generic rights are mapped to file
// rights on the effective ACE, with the generic ACE kept inherit-only when it propagates
// further. Every inherited ACE carries ID, and the child's DACL is auto-inherited (AI).
func Inherit(parent *SecurityDescriptor, dir bool, owner string) *SecurityDescriptor {
	if owner == "" {
		owner = parent.Owner
	}
	child := &SecurityDescriptor{Owner: owner, Group: parent.Group, HasDACL: true, DACLFlags: "AI"}
	child.DACL = inheritedACEs(parent, dir, owner)
	return child
}

// inheritedACEs are the ACEs a child (a directory if dir) owned by owner inherits.
func inheritedACEs(parent *SecurityDescriptor, dir bool, owner string) []ACE {
	var out []ACE
	for _, a := range parent.DACL {
		oi, ci, np := hasFlag(a.Flags, "OI"), hasFlag(a.Flags, "CI"), hasFlag(a.Flags, "NP")
		if !(dir && (ci || oi && !np)) && !(!dir && oi) {
			continue
		}
		effective := a
		effective.Flags = "ID"
		if effective.SID == "CO" || CanonicalSID(effective.SID) == SIDCreatorOwner {
			effective.SID = owner
		}
		rights, mapped := mapGeneric(a.Rights)
		effective.Rights = rights
		propagates := dir && !np && (ci || oi)
		appliesHere := !dir || ci
		isCO := CanonicalSID(a.SID) == SIDCreatorOwner
		if appliesHere {
			if propagates && !mapped && !isCO {
				effective.Flags = withoutFlags(a.Flags, "IO", "NP", "ID") + "ID"
			}
			out = append(out, effective)
		}
		if propagates && (mapped || isCO || !appliesHere) {
			keep := a
			keep.Flags = withoutFlags(a.Flags, "IO", "ID") + "IOID"
			out = append(out, keep)
		}
	}
	return out
}

// withoutFlags drops the named two-letter flags.
func withoutFlags(flags string, drop ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(flags); i += 2 {
		f := flags[i : i+2]
		keep := true
		for _, d := range drop {
			keep = keep && f != d
		}
		if keep {
			b.WriteString(f)
		}
	}
	return b.String()
}

// Reinherit recomputes a child's descriptor after its parent changed: its explicit ACEs stay
// first, its inherited ones are replaced by what the new parent passes down, unless its DACL
// is protected (P), which keeps it as it is.
func Reinherit(child, parent *SecurityDescriptor, dir bool) *SecurityDescriptor {
	if strings.Contains(child.DACLFlags, "P") {
		return child
	}
	out := *child
	out.DACL = append(explicitACEs(child), inheritedACEs(parent, dir, child.Owner)...)
	if !strings.Contains(out.DACLFlags, "AI") {
		out.DACLFlags += "AI"
	}
	return &out
}

// explicitACEs are the ACEs set on the object itself (not inherited).
func explicitACEs(sd *SecurityDescriptor) []ACE {
	var out []ACE
	for _, a := range sd.DACL {
		if !hasFlag(a.Flags, "ID") {
			out = append(out, a)
		}
	}
	return out
}
