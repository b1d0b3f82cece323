// Package ntfs is Windows security descriptors as Azure Files keeps them: SDDL parsing and
// formatting (owner, group, DACL with its flags and ACEs). Access checks and inheritance
// build on it.
//
// It knows nothing of shares or HTTP.
package ntfs

import (
	"fmt"
	"strconv"
	"strings"
)

// SecurityDescriptor is a parsed descriptor.
type SecurityDescriptor struct {
	Owner, Group string // SID strings or SDDL aliases ("BA")
	HasDACL      bool
	DACLFlags    string // e.g. "P", "AI", "PAI"
	DACL         []ACE
	SACL         string // kept verbatim
}

// ACE is one access control entry.
type ACE struct {
	Type    string // A (allow), D (deny), OA, OD, AU, AL, ...
	Flags   string // OI, CI, NP, IO, ID, SA, FA concatenated
	Rights  string // hex mask or letter codes, as given
	Object  string
	Inherit string
	SID     string
}

var aliases = map[string]bool{"AO": true, "AN": true, "AU": true, "BA": true, "BG": true, "BO": true, "BU": true, "CA": true, "CG": true,
	"CO": true, "DA": true, "DC": true, "DD": true, "DG": true, "DU": true, "EA": true, "ED": true, "WD": true, "PA": true, "IU": true,
	"LA": true, "LG": true, "LS": true, "SY": true, "NU": true, "NO": true, "NS": true, "PO": true, "PS": true, "PU": true, "RS": true,
	"RD": true, "RE": true, "RC": true, "SA": true, "SO": true, "SU": true, "OW": true, "IS": true, "ER": true, "RO": true, "CY": true}

var aceTypes = map[string]bool{"A": true, "D": true, "OA": true, "OD": true, "AU": true, "AL": true, "OU": true, "OL": true, "ML": true, "XA": true, "XD": true}
var aceFlags = []string{"OI", "CI", "NP", "IO", "ID", "SA", "FA"}
var rightCodes = map[string]bool{"GA": true, "GR": true, "GW": true, "GX": true, "RC": true, "SD": true, "WD": true, "WO": true,
	"RP": true, "WP": true, "CC": true, "DC": true, "LC": true, "SW": true, "LO": true, "DT": true, "CR": true,
	"FA": true, "FR": true, "FW": true, "FX": true, "KA": true, "KR": true, "KW": true, "KX": true, "NR": true, "NW": true, "NX": true}

// ParseError says what is wrong with an SDDL string and where.
type ParseError struct {
	Pos int
	Msg string
}

func (e *ParseError) Error() string { return fmt.Sprintf("SDDL at position %d: %s", e.Pos, e.Msg) }

func validSID(s string) bool {
	if aliases[s] {
		return true
	}
	if !strings.HasPrefix(s, "S-1-") {
		return false
	}
	parts := strings.Split(s[4:], "-")
	if len(parts) < 1 || len(parts) > 16 {
		return false
	}
	for _, p := range parts {
		if _, err := strconv.ParseUint(p, 10, 64); err != nil {
			return false
		}
	}
	return true
}

func validRights(r string) bool {
	if strings.HasPrefix(r, "0x") || strings.HasPrefix(r, "0X") {
		_, err := strconv.ParseUint(r[2:], 16, 32)
		return err == nil && len(r) > 2
	}
	if r == "" || len(r)%2 != 0 {
		return false
	}
	for i := 0; i < len(r); i += 2 {
		if !rightCodes[r[i:i+2]] {
			return false
		}
	}
	return true
}

// Parse parses an SDDL security descriptor. Owner, group and DACL are required, as Azure
// Files requires them.
func Parse(s string) (*SecurityDescriptor, error) {
	sd := &SecurityDescriptor{}
	i := 0
	fail := func(msg string, args ...any) (*SecurityDescriptor, error) {
		return nil, &ParseError{Pos: i, Msg: fmt.Sprintf(msg, args...)}
	}
	if len(s) > 64<<10 {
		return fail("the descriptor is longer than 64 KiB")
	}
	seen := map[byte]bool{}
	for i < len(s) {
		if i+1 >= len(s) || s[i+1] != ':' {
			return fail("expected O:, G:, D: or S:")
		}
		part := s[i]
		if seen[part] {
			return fail("%c: appears twice", part)
		}
		seen[part] = true
		i += 2
		end := len(s)
		for _, p := range []string{"O:", "G:", "D:", "S:"} {
			if j := strings.Index(s[i:], p); j >= 0 && i+j < end {
				// only a component marker if not inside parentheses
				if strings.Count(s[i:i+j], "(") == strings.Count(s[i:i+j], ")") {
					end = i + j
				}
			}
		}
		body := s[i:end]
		switch part {
		case 'O', 'G':
			if !validSID(body) {
				return fail("'%s' is not a SID or an SDDL alias", body)
			}
			if part == 'O' {
				sd.Owner = body
			} else {
				sd.Group = body
			}
		case 'D':
			sd.HasDACL = true
			k := strings.IndexByte(body, '(')
			if k < 0 {
				k = len(body)
			}
			sd.DACLFlags = body[:k]
			for _, f := range []string{"PAI", "PAR", "AI", "AR", "P", "NO_ACCESS_CONTROL"} {
				sd.DACLFlags = strings.Replace(sd.DACLFlags, f, strings.Repeat(" ", len(f)), 1)
			}
			if strings.TrimSpace(sd.DACLFlags) != "" {
				return fail("'%s' are not DACL flags (P, AI, AR)", body[:k])
			}
			sd.DACLFlags = body[:k]
			rest := body[k:]
			pos := i + k
			for rest != "" {
				if rest[0] != '(' {
					i = pos
					return fail("expected '(' to start an ACE")
				}
				close := strings.IndexByte(rest, ')')
				if close < 0 {
					i = pos
					return fail("an ACE is not closed with ')'")
				}
				f := strings.Split(rest[1:close], ";")
				if len(f) != 6 {
					i = pos
					return fail("an ACE has %d fields, want 6 (type;flags;rights;object;inherit;sid)", len(f))
				}
				ace := ACE{Type: f[0], Flags: f[1], Rights: f[2], Object: f[3], Inherit: f[4], SID: f[5]}
				if !aceTypes[ace.Type] {
					i = pos
					return fail("'%s' is not an ACE type (A, D, ...)", ace.Type)
				}
				if len(ace.Flags)%2 != 0 {
					i = pos
					return fail("'%s' are not ACE flags", ace.Flags)
				}
				for j := 0; j < len(ace.Flags); j += 2 {
					ok := false
					for _, af := range aceFlags {
						ok = ok || ace.Flags[j:j+2] == af
					}
					if !ok {
						i = pos
						return fail("'%s' is not an ACE flag (OI, CI, NP, IO, ID)", ace.Flags[j:j+2])
					}
				}
				if !validRights(ace.Rights) {
					i = pos
					return fail("'%s' are not access rights (a 0x mask or codes such as FA, FR, GA)", ace.Rights)
				}
				if !validSID(ace.SID) {
					i = pos
					return fail("'%s' is not a SID or an SDDL alias", ace.SID)
				}
				sd.DACL = append(sd.DACL, ace)
				pos += close + 1
				rest = rest[close+1:]
			}
		case 'S':
			sd.SACL = body
		default:
			return fail("'%c:' is not a descriptor component", part)
		}
		i = end
	}
	switch {
	case sd.Owner == "":
		return fail("the descriptor has no owner (O:)")
	case sd.Group == "":
		return fail("the descriptor has no group (G:)")
	case !sd.HasDACL:
		return fail("the descriptor has no DACL (D:)")
	}
	return sd, nil
}

// String formats the descriptor as SDDL.
func (sd *SecurityDescriptor) String() string {
	var b strings.Builder
	b.WriteString("O:" + sd.Owner + "G:" + sd.Group + "D:" + sd.DACLFlags)
	for _, a := range sd.DACL {
		b.WriteString(a.String())
	}
	if sd.SACL != "" {
		b.WriteString("S:" + sd.SACL)
	}
	return b.String()
}
