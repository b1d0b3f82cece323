package arm

import (
	"net/http"
	"strings"

	"github.com/cerulean-azure/cerulean/internal/azerr"
)

// ID is a parsed ARM path: an optional scope (subscription, resource group, or any resource
// for extension resources) followed by a provider namespace with alternating type and name
// segments. A path ending in a type is a collection.
type ID struct {
	// Raw is the path as the client sent it (cleaned of a trailing slash).
	Raw            string
	SubscriptionID string
	ResourceGroup  string
	// Scope is everything before the last /providers/ segment (the parent of an extension
	// resource, or the subscription/resource group of a tracked resource).
	Scope     string
	Namespace string
	Types     []string
	Names     []string
}

// IsCollection reports whether the path names a collection rather than one resource.
func (id ID) IsCollection() bool { return len(id.Names) < len(id.Types) }

// FullType is "Namespace/type[/childType...]", e.g. "Microsoft.Compute/virtualMachines".
func (id ID) FullType() string {
	if id.Namespace == "" {
		return ""
	}
	return id.Namespace + "/" + strings.Join(id.Types, "/")
}

// Name is the last name segment.
func (id ID) Name() string {
	if len(id.Names) == 0 {
		return ""
	}
	return id.Names[len(id.Names)-1]
}

// ResourceID is the canonical id of the named resource (or of the collection's parent).
func (id ID) ResourceID() string {
	var b strings.Builder
	b.WriteString(id.Scope)
	if id.Namespace == "" {
		return b.String()
	}
	b.WriteString("/providers/")
	b.WriteString(id.Namespace)
	for i, t := range id.Types {
		if i >= len(id.Names) {
			break
		}
		b.WriteString("/")
		b.WriteString(t)
		b.WriteString("/")
		b.WriteString(id.Names[i])
	}
	return b.String()
}

// Parent is the id of the collection's parent: the scope for a top-level type, or the
// parent resource for a child type.
func (id ID) Parent() string {
	p := id
	p.Types = id.Types[:len(id.Names)]
	if len(p.Names) == 0 {
		return id.Scope
	}
	return p.ResourceID()
}

func badPath(format string, args ...any) *azerr.Error {
	return azerr.New(http.StatusBadRequest, "InvalidResourceId", format, args...)
}

// CleanPath splits an escaped URL path into segments, refusing path tricks: dot segments,
// backslashes, encoded slashes or backslashes, control characters. Empty segments (a
// doubled slash) are dropped.
func CleanPath(escaped string) ([]string, error) {
	lower := strings.ToLower(escaped)
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") || strings.Contains(lower, "%00") || strings.Contains(escaped, "\\") {
		return nil, badPath("The path '%s' contains an encoded slash, backslash or NUL; resource ids are plain '/'-separated segments.", escaped)
	}
	var segs []string
	for _, s := range strings.Split(escaped, "/") {
		if s == "" {
			continue
		}
		u, err := unescape(s)
		if err != nil {
			return nil, badPath("The path segment '%s' is not correctly percent-encoded.", s)
		}
		if u == "." || u == ".." {
			return nil, badPath("The path '%s' contains a '.' or '..' segment, which resource ids never have.", escaped)
		}
		for _, r := range u {
			if r < 0x20 || r == 0x7f {
				return nil, badPath("The path '%s' contains a control character.", escaped)
			}
		}
		segs = append(segs, u)
	}
	return segs, nil
}

func unescape(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return "", errBadEscape
		}
		b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
		i += 2
	}
	return b.String(), nil
}

var errBadEscape = badPath("bad percent-encoding")

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// ParseID parses path segments as an ARM id. It accepts:
//
//	/subscriptions/{s}[/resourceGroups/{rg}][/providers/{ns}/{type}[/{name}[/{type}[/{name}]...]]]
//	/providers/{ns}/{type}... (tenant-level, e.g. built-in role definitions)
//	{any resource id}/providers/{ns}/{type}... (extension resources)
func ParseID(segs []string) (ID, error) {
	id := ID{Raw: "/" + strings.Join(segs, "/")}
	// The last "providers" segment at an even offset from a scope boundary starts the
	// resource part.
	last := -1
	for i := 0; i < len(segs); i++ {
		if strings.EqualFold(segs[i], "providers") && i+1 < len(segs) {
			if isScopePrefix(segs[:i]) {
				last = i
			}
		}
	}
	scopeSegs := segs
	if last >= 0 {
		scopeSegs = segs[:last]
	}
	if !isScopePrefix(scopeSegs) {
		return id, badPath("The resource id '%s' is not valid: expected /subscriptions/{id}[/resourceGroups/{name}][/providers/{namespace}/{type}/{name}].", id.Raw)
	}
	if len(scopeSegs) >= 2 && strings.EqualFold(scopeSegs[0], "subscriptions") {
		id.SubscriptionID = scopeSegs[1]
		if len(scopeSegs) >= 4 && strings.EqualFold(scopeSegs[2], "resourceGroups") {
			id.ResourceGroup = scopeSegs[3]
		}
	}
	id.Scope = canonicalScope(scopeSegs)
	if last < 0 {
		return id, nil
	}
	rest := segs[last+1:]
	id.Namespace = rest[0]
	for i := 1; i < len(rest); i++ {
		if i%2 == 1 {
			id.Types = append(id.Types, rest[i])
		} else {
			id.Names = append(id.Names, rest[i])
		}
	}
	return id, nil
}

// isScopePrefix reports whether segs is "", "subscriptions/{s}",
// "subscriptions/{s}/resourceGroups/{rg}", or a full resource id (which ends in a name).
func isScopePrefix(segs []string) bool {
	switch {
	case len(segs) == 0:
		return true
	case !strings.EqualFold(segs[0], "subscriptions"):
		// Tenant-level "providers/{ns}/{type}/{name}" scopes (management groups).
		return len(segs) >= 4 && strings.EqualFold(segs[0], "providers") && len(segs)%2 == 0
	case len(segs) == 2:
		return true
	case len(segs) == 4:
		return strings.EqualFold(segs[2], "resourceGroups")
	case len(segs) < 6:
		return false
	}
	// subscriptions/{s}[/resourceGroups/{rg}]/providers/{ns}/{type}/{name}[/{type}/{name}]...
	i := 2
	if strings.EqualFold(segs[2], "resourceGroups") {
		i = 4
	}
	if i >= len(segs) || !strings.EqualFold(segs[i], "providers") {
		return false
	}
	rest := len(segs) - i - 2 // after "providers/{ns}"
	return rest >= 2 && rest%2 == 0
}

// canonicalScope spells the fixed segments of a scope the way ARM echoes them.
func canonicalScope(segs []string) string {
	if len(segs) == 0 {
		return ""
	}
	out := make([]string, len(segs))
	copy(out, segs)
	for i := range out {
		switch strings.ToLower(out[i]) {
		case "subscriptions":
			if i == 0 {
				out[i] = "subscriptions"
			}
		case "resourcegroups":
			if i == 2 {
				out[i] = "resourceGroups"
			}
		case "providers":
			out[i] = "providers"
		}
	}
	return "/" + strings.Join(out, "/")
}

// Key is the case-folded form of an id, used as a store key and for comparisons.
func Key(id string) string { return strings.ToLower(strings.TrimRight(id, "/")) }
