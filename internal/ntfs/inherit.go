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
// owner ("" keeps the parent's owner), with Windows' legacy inheritance rules as Azure Files
// applies them over REST: ACEs flagged CI pass to directories, OI to files; NP stops further
// propagation; inherit-only (IO) ACEs take effect on the child; CREATOR OWNER becomes the
// owner; generic rights are mapped to file rights on the effective ACE, with the generic ACE
// kept inherit-only when it propagates further.
func Inherit(parent *SecurityDescriptor, dir bool, owner string) *SecurityDescriptor {
	if owner == "" {
		owner = parent.Owner
	}
	child := &SecurityDescriptor{Owner: owner, Group: parent.Group, HasDACL: true}
	for _, a := range parent.DACL {
		oi, ci, np := hasFlag(a.Flags, "OI"), hasFlag(a.Flags, "CI"), hasFlag(a.Flags, "NP")
		if !(dir && (ci || oi && !np)) && !(!dir && oi) {
			continue
		}
		effective := a
		effective.Flags = ""
		if effective.SID == "CO" {
			effective.SID = owner
		}
		rights, mapped := mapGeneric(a.Rights)
		effective.Rights = rights
		propagates := dir && !np && (ci || oi)
		appliesHere := !dir || ci
		if appliesHere {
			if propagates && !mapped && a.SID != "CO" {
				effective.Flags = strings.ReplaceAll(strings.ReplaceAll(a.Flags, "IO", ""), "NP", "")
			}
			child.DACL = append(child.DACL, effective)
		}
		if propagates && (mapped || a.SID == "CO" || !appliesHere) {
			keep := a
			keep.Flags = strings.ReplaceAll(a.Flags, "IO", "") + "IO"
			child.DACL = append(child.DACL, keep)
		}
	}
	return child
}
