package authz

import "strings"

// Action pattern matching, Azure style:
//   - matching is case-insensitive (ASCII folding: action strings are ASCII);
//   - "*" matches any run of characters, including "/" and the empty run;
//   - a "*" standing alone between two slashes may also stand for no segment at all, so
//     "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action" matches
//     "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action". Azure relies on this:
//     Managed Identity Operator grants exactly that action through that pattern, and
//     "Microsoft.KeyVault/vaults/*/read" is what lets Key Vault Reader read a vault [infer
//     from the built-in roles and the LinkedAuthorizationFailed message];
//   - a pattern without "*" is an exact match.
// Patterns are lower-cased and split once, at Index build time; matching allocates nothing
// and uses no regular expressions.

// maxVariants caps how many slash-collapse variants one pattern expands to (2^k for k
// occurrences of "/*/"); beyond it the remaining occurrences only match a non-empty segment.
const maxVariants = 16

// actionPattern is one compiled action pattern.
type actionPattern struct {
	raw  string
	all  bool   // the pattern is "*"
	alts []glob // alternatives: the pattern itself and its "/*/" -> "/" collapses
}

// glob is a lower-case pattern split at its stars: len(parts) == stars+1.
type glob struct {
	parts []string
}

func compilePattern(raw string) actionPattern {
	p := strings.ToLower(strings.TrimSpace(raw))
	ap := actionPattern{raw: raw}
	if p == "" {
		return ap // matches nothing
	}
	// Runs of stars mean the same as one star.
	for strings.Contains(p, "**") {
		p = strings.ReplaceAll(p, "**", "*")
	}
	if p == "*" {
		ap.all = true
		return ap
	}
	var variants []string
	expandCollapses(p, 0, &variants)
	seen := make(map[string]bool, len(variants))
	for _, v := range variants {
		if seen[v] {
			continue
		}
		seen[v] = true
		ap.alts = append(ap.alts, glob{parts: strings.Split(v, "*")})
	}
	return ap
}

// expandCollapses appends p and every variant of p in which some "/*/" (searching from
// index from) is replaced by "/".
func expandCollapses(p string, from int, out *[]string) {
	j := strings.Index(p[from:], "/*/")
	if j < 0 || len(*out) >= maxVariants-1 {
		*out = append(*out, p)
		return
	}
	i := from + j
	expandCollapses(p, i+2, out)           // keep this star; its closing "/" may open another
	expandCollapses(p[:i]+p[i+2:], i, out) // drop "/*", leaving the single "/"
}

// match reports whether action matches the pattern.
func (ap *actionPattern) match(action string) bool {
	if ap.all {
		return true
	}
	for i := range ap.alts {
		if ap.alts[i].match(action) {
			return true
		}
	}
	return false
}

func (g *glob) match(s string) bool {
	parts := g.parts
	if len(parts) == 1 {
		return len(s) == len(parts[0]) && hasPrefixFold(s, parts[0])
	}
	first, last := parts[0], parts[len(parts)-1]
	if len(s) < len(first)+len(last) || !hasPrefixFold(s, first) || !hasPrefixFold(s[len(s)-len(last):], last) {
		return false
	}
	// With only "*" wildcards, placing each middle literal at its leftmost possible position
	// is optimal, so one forward scan decides the match.
	rest := s[len(first) : len(s)-len(last)]
	for _, mid := range parts[1 : len(parts)-1] {
		k := indexFold(rest, mid)
		if k < 0 {
			return false
		}
		rest = rest[k+len(mid):]
	}
	return true
}

// lowerASCII folds one byte.
func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// hasPrefixFold reports whether s starts with lower (already lower-case), ignoring ASCII case.
func hasPrefixFold(s, lower string) bool {
	if len(s) < len(lower) {
		return false
	}
	for i := 0; i < len(lower); i++ {
		if lowerASCII(s[i]) != lower[i] {
			return false
		}
	}
	return true
}

// indexFold returns the first index of lower (already lower-case) in s ignoring ASCII case,
// or -1.
func indexFold(s, lower string) int {
	if lower == "" {
		return 0
	}
	c0 := lower[0]
	for i := 0; i+len(lower) <= len(s); i++ {
		if lowerASCII(s[i]) == c0 && hasPrefixFold(s[i:], lower) {
			return i
		}
	}
	return -1
}

// actionSet is a compiled list of action patterns (one of actions, notActions, dataActions,
// notDataActions).
type actionSet struct {
	all  bool
	pats []actionPattern
}

func compileSet(patterns []string) actionSet {
	var s actionSet
	for _, raw := range patterns {
		ap := compilePattern(raw)
		if ap.all {
			s.all = true
		}
		if ap.all || len(ap.alts) > 0 {
			s.pats = append(s.pats, ap)
		}
	}
	return s
}

func (s *actionSet) empty() bool { return !s.all && len(s.pats) == 0 }

func (s *actionSet) match(action string) bool {
	if s.all {
		return true
	}
	for i := range s.pats {
		if s.pats[i].match(action) {
			return true
		}
	}
	return false
}

// MatchAction reports whether action matches pattern under Azure's rules (case-insensitive,
// "*" matches any run of characters including "/"). It compiles the pattern on every call;
// the engine compiles once.
func MatchAction(pattern, action string) bool {
	ap := compilePattern(pattern)
	return ap.match(action)
}
