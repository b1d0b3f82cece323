package authz

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ABAC v2 conditions, as Azure writes them on role assignments and inside role definition
// permissions:
//
//	((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR
//	 (@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {a, b}))
//
// Supported: AND/&&, OR/||, NOT/!, parentheses (mixing AND and OR at one level without
// parentheses is rejected, as Azure requires), ActionMatches{'pattern'} (the permission
// wildcard rules), SubOperationMatches{'name'}, attributes @Request[...], @Resource[...],
// @Principal[...] and @Environment[...], the String*, Guid*, Numeric*, Bool* and DateTime*
// operator families, the four ForAnyOf/ForAllOf cross-product prefixes, and set literals of
// single-quoted strings or bare values ({a, b}); GUIDs may omit dashes. Conditions are parsed
// once into a tree. Evaluation fails closed: a missing attribute, or a value that is not of
// the operator's type, makes that comparison false.

// ConditionAttributes supplies the attribute values a condition may test. Each method returns
// the attribute's values and whether the attribute exists for this request. Names are given
// as written inside the brackets, e.g.
// "Microsoft.Authorization/roleAssignments:RoleDefinitionId".
type ConditionAttributes interface {
	Request(attr string) ([]string, bool)
	Resource(attr string) ([]string, bool)
	Principal(attr string) ([]string, bool)
}

// EnvironmentAttributes may additionally be implemented by a ConditionAttributes to answer
// @Environment[...] (isPrivateLink, Microsoft.Network/privateEndpoints, UtcNow, ...). Without
// it, @Environment[UtcNow] is the current UTC time and every other environment attribute is
// missing.
type EnvironmentAttributes interface {
	Environment(attr string) ([]string, bool)
}

// ConditionError describes why a condition does not parse. Offset is a byte offset into the
// condition text.
type ConditionError struct {
	Offset int
	Msg    string
}

func (e *ConditionError) Error() string {
	return fmt.Sprintf("invalid condition at offset %d: %s", e.Offset, e.Msg)
}

// ParseCondition checks that s is a well-formed ABAC v2 condition this engine can evaluate.
// The API uses it to reject a bad condition with 400 before storing it; an assignment whose
// condition does not parse grants nothing.
func ParseCondition(s string) error {
	_, err := parseCondition(s)
	return err
}

// ValidateCondition is what the role assignment API accepts, beyond ParseCondition: no
// control characters other than line breaks (Azure refuses tabs and the rest as "The given
// role assignment condition is invalid"), and only attributes Azure defines (an unknown
// attribute name is refused when the assignment is written, not silently never matched).
func ValidateCondition(s string) error {
	for i, r := range s {
		if (r < 0x20 && r != '\r' && r != '\n') || r == 0x7f || r == utf8.RuneError {
			return &ConditionError{i, fmt.Sprintf("control or invalid character %q", r)}
		}
	}
	toks, err := lex(s)
	if err != nil {
		return err
	}
	if _, err := parseCondition(s); err != nil {
		return err
	}
	for _, t := range toks {
		if t.kind == tAttr && !knownAttribute(t.src, t.text) {
			return &ConditionError{t.pos, fmt.Sprintf("unknown attribute %q: see the attributes Azure defines for conditions (Microsoft.Authorization/roleAssignments:RoleDefinitionId, ...)", t.text)}
		}
	}
	return nil
}

// conditionAttributes are the attribute names Azure defines for role assignment conditions
// (request and resource attributes; principal attributes are custom security attributes,
// environment attributes are listed in knownAttribute), compared case-insensitively.
var conditionAttributes = map[string]bool{
	"microsoft.authorization/roleassignments:roledefinitionid":                         true,
	"microsoft.authorization/roleassignments:principalid":                              true,
	"microsoft.authorization/roleassignments:principaltype":                            true,
	"microsoft.storage/storageaccounts:name":                                           true,
	"microsoft.storage/storageaccounts:ishnsenabled":                                   true,
	"microsoft.storage/storageaccounts/encryptionscopes:name":                          true,
	"microsoft.storage/storageaccounts/blobservices/containers:name":                   true,
	"microsoft.storage/storageaccounts/blobservices/containers/blobs:path":             true,
	"microsoft.storage/storageaccounts/blobservices/containers/blobs:prefix":           true,
	"microsoft.storage/storageaccounts/blobservices/containers/blobs:versionid":        true,
	"microsoft.storage/storageaccounts/blobservices/containers/blobs:snapshot":         true,
	"microsoft.storage/storageaccounts/blobservices/containers/blobs:include":          true,
	"microsoft.storage/storageaccounts/blobservices/containers/blobs:iscurrentversion": true,
	"microsoft.storage/storageaccounts/blobservices/containers/blobs/tags&$keys$&":     true,
	"microsoft.storage/storageaccounts/queueservices/queues:name":                      true,
	"suboperation": true,
}

// conditionAttributePrefixes are attribute families whose last part is the user's own key.
var conditionAttributePrefixes = []string{
	"microsoft.storage/storageaccounts/blobservices/containers/blobs/tags:",
	"microsoft.storage/storageaccounts/blobservices/containers/metadata:",
}

func knownAttribute(src attrSource, name string) bool {
	n := strings.ToLower(name)
	switch src {
	case srcPrincipal:
		rest, ok := strings.CutPrefix(n, "microsoft.directory/customsecurityattributes/id:")
		return ok && rest != ""
	case srcEnvironment:
		switch n {
		case "isprivatelink", "microsoft.network/privateendpoints", "microsoft.network/virtualnetworks/subnets", "utcnow":
			return true
		}
		return false
	}
	if conditionAttributes[n] {
		return true
	}
	for _, p := range conditionAttributePrefixes {
		if rest, ok := strings.CutPrefix(n, p); ok && rest != "" {
			return true
		}
	}
	return false
}

// maxConditionDepth bounds nesting so that hostile input cannot exhaust the stack.
const maxConditionDepth = 64

// ---- evaluation ----

// evalCtx is what a condition sees of one request.
type evalCtx struct {
	action, subOp string
	attrs         ConditionAttributes
}

type condNode interface {
	eval(c *evalCtx) bool
}

type andNode []condNode

func (n andNode) eval(c *evalCtx) bool {
	for _, k := range n {
		if !k.eval(c) {
			return false
		}
	}
	return true
}

type orNode []condNode

func (n orNode) eval(c *evalCtx) bool {
	for _, k := range n {
		if k.eval(c) {
			return true
		}
	}
	return false
}

type notNode struct{ x condNode }

func (n notNode) eval(c *evalCtx) bool { return !n.x.eval(c) }

type actionMatchesNode struct{ p actionPattern }

func (n *actionMatchesNode) eval(c *evalCtx) bool { return n.p.match(c.action) }

type subOpMatchesNode struct{ p actionPattern }

func (n *subOpMatchesNode) eval(c *evalCtx) bool { return c.subOp != "" && n.p.match(c.subOp) }

type attrSource uint8

const (
	srcLiteral attrSource = iota
	srcRequest
	srcResource
	srcPrincipal
	srcEnvironment
)

// operand is either an attribute reference or a literal value set.
type operand struct {
	src  attrSource
	name string   // attribute name, for attributes
	lits []string // literal values (unquoted), for literals
}

func (o *operand) values(c *evalCtx) ([]string, bool) {
	switch o.src {
	case srcLiteral:
		return o.lits, true
	case srcRequest:
		if c.attrs != nil {
			if v, ok := c.attrs.Request(o.name); ok {
				return v, true
			}
		}
		if strings.EqualFold(o.name, "subOperation") && c.subOp != "" {
			return []string{c.subOp}, true
		}
		return nil, false
	case srcResource:
		if c.attrs != nil {
			return c.attrs.Resource(o.name)
		}
		return nil, false
	case srcPrincipal:
		if c.attrs != nil {
			return c.attrs.Principal(o.name)
		}
		return nil, false
	case srcEnvironment:
		if e, ok := c.attrs.(EnvironmentAttributes); ok {
			if v, ok := e.Environment(o.name); ok {
				return v, true
			}
		}
		if strings.EqualFold(o.name, "UtcNow") {
			return []string{time.Now().UTC().Format(time.RFC3339Nano)}, true
		}
		return nil, false
	}
	return nil, false
}

type opClass uint8

const (
	clsString opClass = iota
	clsGuid
	clsNumeric
	clsBool
	clsDateTime
)

type opKind uint8

const (
	kEquals opKind = iota
	kStartsWith
	kLike
	kLess
	kLessEq
	kGreater
	kGreaterEq
)

type quantifier uint8

const (
	qSingle quantifier = iota // no prefix: one value on each side
	qAnyOfAny
	qAllOfAny
	qAnyOfAll
	qAllOfAll
)

type opSpec struct {
	class      opClass
	kind       opKind
	negate     bool
	ignoreCase bool
}

// operators maps each base operator name (lower-case) to its meaning.
var operators = map[string]opSpec{
	"stringequals":                  {clsString, kEquals, false, false},
	"stringequalsignorecase":        {clsString, kEquals, false, true},
	"stringnotequals":               {clsString, kEquals, true, false},
	"stringnotequalsignorecase":     {clsString, kEquals, true, true},
	"stringstartswith":              {clsString, kStartsWith, false, false},
	"stringstartswithignorecase":    {clsString, kStartsWith, false, true},
	"stringnotstartswith":           {clsString, kStartsWith, true, false},
	"stringnotstartswithignorecase": {clsString, kStartsWith, true, true},
	"stringlike":                    {clsString, kLike, false, false},
	"stringlikeignorecase":          {clsString, kLike, false, true},
	"stringnotlike":                 {clsString, kLike, true, false},
	"stringnotlikeignorecase":       {clsString, kLike, true, true},
	"guidequals":                    {clsGuid, kEquals, false, false},
	"guidnotequals":                 {clsGuid, kEquals, true, false},
	"numericequals":                 {clsNumeric, kEquals, false, false},
	"numericnotequals":              {clsNumeric, kEquals, true, false},
	"numericlessthan":               {clsNumeric, kLess, false, false},
	"numericlessthanequals":         {clsNumeric, kLessEq, false, false},
	"numericgreaterthan":            {clsNumeric, kGreater, false, false},
	"numericgreaterthanequals":      {clsNumeric, kGreaterEq, false, false},
	"boolequals":                    {clsBool, kEquals, false, false},
	"boolnotequals":                 {clsBool, kEquals, true, false},
	"datetimeequals":                {clsDateTime, kEquals, false, false},
	"datetimenotequals":             {clsDateTime, kEquals, true, false},
	"datetimelessthan":              {clsDateTime, kLess, false, false},
	"datetimelessthanequals":        {clsDateTime, kLessEq, false, false},
	"datetimegreaterthan":           {clsDateTime, kGreater, false, false},
	"datetimegreaterthanequals":     {clsDateTime, kGreaterEq, false, false},
}

var quantifiers = map[string]quantifier{
	"foranyofanyvalues": qAnyOfAny,
	"forallofanyvalues": qAllOfAny,
	"foranyofallvalues": qAnyOfAll,
	"forallofallvalues": qAllOfAll,
}

type compareNode struct {
	left, right operand
	op          opSpec
	quant       quantifier
}

func (n *compareNode) eval(c *evalCtx) bool {
	l, ok := n.left.values(c)
	if !ok || len(l) == 0 {
		return false
	}
	r, ok := n.right.values(c)
	if !ok || len(r) == 0 {
		return false
	}
	switch n.quant {
	case qSingle:
		return len(l) == 1 && len(r) == 1 && n.pair(l[0], r[0])
	case qAnyOfAny:
		for _, a := range l {
			for _, b := range r {
				if n.pair(a, b) {
					return true
				}
			}
		}
		return false
	case qAllOfAny:
		for _, a := range l {
			if !n.anyRight(a, r) {
				return false
			}
		}
		return true
	case qAnyOfAll:
		for _, a := range l {
			if n.allRight(a, r) {
				return true
			}
		}
		return false
	case qAllOfAll:
		for _, a := range l {
			if !n.allRight(a, r) {
				return false
			}
		}
		return true
	}
	return false
}

func (n *compareNode) anyRight(a string, r []string) bool {
	for _, b := range r {
		if n.pair(a, b) {
			return true
		}
	}
	return false
}

func (n *compareNode) allRight(a string, r []string) bool {
	for _, b := range r {
		if !n.pair(a, b) {
			return false
		}
	}
	return true
}

// pair compares one left value with one right value. A value that is not of the operator's
// type makes the comparison false whatever the negation (fail closed).
func (n *compareNode) pair(a, b string) bool {
	var res bool
	switch n.op.class {
	case clsString:
		switch n.op.kind {
		case kEquals:
			if n.op.ignoreCase {
				res = strings.EqualFold(a, b)
			} else {
				res = a == b
			}
		case kStartsWith:
			if n.op.ignoreCase {
				res = strings.HasPrefix(strings.ToLower(a), strings.ToLower(b))
			} else {
				res = strings.HasPrefix(a, b)
			}
		case kLike:
			if n.op.ignoreCase {
				res = likeMatch(strings.ToLower(b), strings.ToLower(a))
			} else {
				res = likeMatch(b, a)
			}
		}
	case clsGuid:
		ga, ok1 := normalizeGUID(a)
		gb, ok2 := normalizeGUID(b)
		if !ok1 || !ok2 {
			return false
		}
		res = ga == gb
	case clsNumeric:
		x, err1 := strconv.ParseInt(strings.TrimSpace(a), 10, 64)
		y, err2 := strconv.ParseInt(strings.TrimSpace(b), 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		res = compareOrdered(n.op.kind, x, y)
	case clsBool:
		x, err1 := strconv.ParseBool(strings.ToLower(strings.TrimSpace(a)))
		y, err2 := strconv.ParseBool(strings.ToLower(strings.TrimSpace(b)))
		if err1 != nil || err2 != nil {
			return false
		}
		res = x == y
	case clsDateTime:
		x, err1 := time.Parse(time.RFC3339Nano, strings.TrimSpace(a))
		y, err2 := time.Parse(time.RFC3339Nano, strings.TrimSpace(b))
		if err1 != nil || err2 != nil {
			return false
		}
		res = compareOrdered(n.op.kind, x.UnixNano(), y.UnixNano())
	}
	if n.op.negate {
		return !res
	}
	return res
}

func compareOrdered(k opKind, x, y int64) bool {
	switch k {
	case kEquals:
		return x == y
	case kLess:
		return x < y
	case kLessEq:
		return x <= y
	case kGreater:
		return x > y
	case kGreaterEq:
		return x >= y
	}
	return false
}

// normalizeGUID returns g as 32 lower-case hex digits. It accepts dashes or none, optional
// braces, and a resource ID ending in a GUID (".../roleDefinitions/<guid>").
func normalizeGUID(g string) (string, bool) {
	g = strings.TrimSpace(g)
	if i := strings.LastIndexByte(g, '/'); i >= 0 {
		g = g[i+1:]
	}
	g = strings.TrimSuffix(strings.TrimPrefix(g, "{"), "}")
	var buf [32]byte
	n := 0
	for i := 0; i < len(g); i++ {
		c := lowerASCII(g[i])
		switch {
		case c == '-':
			continue
		case ('0' <= c && c <= '9') || ('a' <= c && c <= 'f'):
			if n == len(buf) {
				return "", false
			}
			buf[n] = c
			n++
		default:
			return "", false
		}
	}
	if n != len(buf) {
		return "", false
	}
	return string(buf[:]), true
}

// likeMatch matches s against an Azure StringLike pattern: "*" any run, "?" one character,
// "\*" and "\?" (and "\" before any character) a literal.
func likeMatch(pat, s string) bool {
	px, sx := 0, 0
	starPx, starSx := -1, 0
	for sx < len(s) {
		if px < len(pat) {
			switch c := pat[px]; {
			case c == '*':
				starPx, starSx = px, sx
				px++
				continue
			case c == '?':
				_, size := utf8.DecodeRuneInString(s[sx:])
				px++
				sx += size
				continue
			case c == '\\' && px+1 < len(pat):
				if pat[px+1] == s[sx] {
					px += 2
					sx++
					continue
				}
			default:
				if c == s[sx] {
					px++
					sx++
					continue
				}
			}
		}
		if starPx < 0 {
			return false
		}
		_, size := utf8.DecodeRuneInString(s[starSx:])
		starSx += size
		px, sx = starPx+1, starSx
	}
	for px < len(pat) && pat[px] == '*' {
		px++
	}
	return px == len(pat)
}

// ---- lexing ----

type tokKind uint8

const (
	tEOF tokKind = iota
	tLParen
	tRParen
	tLBrace
	tRBrace
	tComma
	tNot
	tAnd
	tOr
	tString // single-quoted; text is unquoted
	tAttr   // @Source[name]; src and text (the name)
	tWord   // operator, function name or bare value
)

type token struct {
	kind tokKind
	text string
	src  attrSource
	pos  int
}

func isWordByte(c byte) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') ||
		c == '_' || c == '.' || c == ':' || c == '-' || c == '+'
}

func lex(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '(':
			toks = append(toks, token{kind: tLParen, pos: i})
			i++
		case c == ')':
			toks = append(toks, token{kind: tRParen, pos: i})
			i++
		case c == '{':
			toks = append(toks, token{kind: tLBrace, pos: i})
			i++
		case c == '}':
			toks = append(toks, token{kind: tRBrace, pos: i})
			i++
		case c == ',':
			toks = append(toks, token{kind: tComma, pos: i})
			i++
		case c == '!':
			toks = append(toks, token{kind: tNot, pos: i})
			i++
		case c == '&' || c == '|':
			if i+1 >= len(s) || s[i+1] != c {
				return nil, &ConditionError{i, fmt.Sprintf("expected %c%c", c, c)}
			}
			k := tAnd
			if c == '|' {
				k = tOr
			}
			toks = append(toks, token{kind: k, pos: i})
			i += 2
		case c == '\'':
			start := i
			var b strings.Builder
			i++
			closed := false
		str:
			for i < len(s) {
				switch {
				case s[i] == '\\' && i+1 < len(s):
					if s[i+1] != '\'' {
						b.WriteByte('\\') // kept for StringLike's \* and \?
					}
					b.WriteByte(s[i+1])
					i += 2
				case s[i] == '\'':
					closed = true
					break str
				default:
					b.WriteByte(s[i])
					i++
				}
			}
			if !closed {
				return nil, &ConditionError{start, "unterminated string"}
			}
			i++ // closing quote
			toks = append(toks, token{kind: tString, text: b.String(), pos: start})
		case c == '@':
			start := i
			j := i + 1
			for j < len(s) && (('a' <= s[j] && s[j] <= 'z') || ('A' <= s[j] && s[j] <= 'Z')) {
				j++
			}
			var src attrSource
			switch strings.ToLower(s[i+1 : j]) {
			case "request":
				src = srcRequest
			case "resource":
				src = srcResource
			case "principal":
				src = srcPrincipal
			case "environment":
				src = srcEnvironment
			default:
				return nil, &ConditionError{start, fmt.Sprintf("unknown attribute source %q", s[i:j])}
			}
			if j >= len(s) || s[j] != '[' {
				return nil, &ConditionError{j, "expected '[' after attribute source"}
			}
			end := strings.IndexByte(s[j+1:], ']')
			if end < 0 {
				return nil, &ConditionError{j, "unterminated attribute name"}
			}
			name := strings.TrimSpace(s[j+1 : j+1+end])
			if name == "" {
				return nil, &ConditionError{j, "empty attribute name"}
			}
			toks = append(toks, token{kind: tAttr, src: src, text: name, pos: start})
			i = j + 1 + end + 1
		case isWordByte(c):
			start := i
			for i < len(s) && isWordByte(s[i]) {
				i++
			}
			w := s[start:i]
			k := tWord
			switch {
			case strings.EqualFold(w, "AND"):
				k = tAnd
			case strings.EqualFold(w, "OR"):
				k = tOr
			case strings.EqualFold(w, "NOT"):
				k = tNot
			}
			toks = append(toks, token{kind: k, text: w, pos: start})
		default:
			return nil, &ConditionError{i, fmt.Sprintf("unexpected character %q", rune(c))}
		}
	}
	toks = append(toks, token{kind: tEOF, pos: len(s)})
	return toks, nil
}

// ---- parsing ----

type parser struct {
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) errf(t token, format string, args ...any) error {
	return &ConditionError{t.pos, fmt.Sprintf(format, args...)}
}

func (p *parser) expect(k tokKind, what string) (token, error) {
	t := p.next()
	if t.kind != k {
		return t, p.errf(t, "expected %s", what)
	}
	return t, nil
}

func parseCondition(s string) (condNode, error) {
	if strings.TrimSpace(s) == "" {
		return nil, &ConditionError{0, "condition is empty"}
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	n, err := p.parseExpr(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.errf(t, "unexpected %s after the end of the expression", describe(t))
	}
	return n, nil
}

func describe(t token) string {
	switch t.kind {
	case tEOF:
		return "end of condition"
	case tLParen:
		return "'('"
	case tRParen:
		return "')'"
	case tLBrace:
		return "'{'"
	case tRBrace:
		return "'}'"
	case tComma:
		return "','"
	case tNot:
		return "NOT"
	case tAnd:
		return "AND"
	case tOr:
		return "OR"
	case tString:
		return "string '" + t.text + "'"
	case tAttr:
		return "attribute [" + t.text + "]"
	}
	return "'" + t.text + "'"
}

// parseExpr parses a chain of unary expressions joined by one kind of boolean operator.
func (p *parser) parseExpr(depth int) (condNode, error) {
	if depth > maxConditionDepth {
		return nil, p.errf(p.peek(), "condition nests too deeply")
	}
	first, err := p.parseUnary(depth)
	if err != nil {
		return nil, err
	}
	kids := []condNode{first}
	var op tokKind
	for {
		t := p.peek()
		if t.kind != tAnd && t.kind != tOr {
			break
		}
		if op != 0 && t.kind != op {
			return nil, p.errf(t, "mixing AND and OR requires parentheses")
		}
		op = t.kind
		p.next()
		k, err := p.parseUnary(depth)
		if err != nil {
			return nil, err
		}
		kids = append(kids, k)
	}
	switch op {
	case tAnd:
		return andNode(kids), nil
	case tOr:
		return orNode(kids), nil
	}
	return first, nil
}

func (p *parser) parseUnary(depth int) (condNode, error) {
	if depth > maxConditionDepth {
		return nil, p.errf(p.peek(), "condition nests too deeply")
	}
	if p.peek().kind == tNot {
		p.next()
		x, err := p.parseUnary(depth + 1)
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	}
	return p.parsePrimary(depth)
}

func (p *parser) parsePrimary(depth int) (condNode, error) {
	t := p.peek()
	switch {
	case t.kind == tLParen:
		p.next()
		n, err := p.parseExpr(depth + 1)
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tRParen, "')'"); err != nil {
			return nil, err
		}
		return n, nil
	case t.kind == tWord && (strings.EqualFold(t.text, "ActionMatches") || strings.EqualFold(t.text, "SubOperationMatches")):
		p.next()
		if _, err := p.expect(tLBrace, "'{' after "+t.text); err != nil {
			return nil, err
		}
		s, err := p.expect(tString, "a quoted pattern")
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tRBrace, "'}'"); err != nil {
			return nil, err
		}
		ap := compilePattern(s.text)
		if !ap.all && len(ap.alts) == 0 {
			return nil, p.errf(s, "empty pattern")
		}
		if strings.EqualFold(t.text, "ActionMatches") {
			return &actionMatchesNode{ap}, nil
		}
		return &subOpMatchesNode{ap}, nil
	}
	return p.parseComparison()
}

func (p *parser) parseComparison() (condNode, error) {
	left, err := p.parseOperand()
	if err != nil {
		return nil, err
	}
	opTok := p.next()
	if opTok.kind != tWord {
		return nil, p.errf(opTok, "expected an operator, found %s", describe(opTok))
	}
	n := &compareNode{left: left}
	name := opTok.text
	if i := strings.IndexByte(name, ':'); i >= 0 {
		q, ok := quantifiers[strings.ToLower(name[:i])]
		if !ok {
			return nil, p.errf(opTok, "unknown operator prefix %q", name[:i])
		}
		n.quant = q
		name = name[i+1:]
	}
	spec, ok := operators[strings.ToLower(name)]
	if !ok {
		return nil, p.errf(opTok, "unknown operator %q", name)
	}
	n.op = spec
	if n.right, err = p.parseOperand(); err != nil {
		return nil, err
	}
	for _, o := range []*operand{&n.left, &n.right} {
		if o.src != srcLiteral {
			continue
		}
		if n.quant == qSingle && len(o.lits) != 1 {
			return nil, p.errf(opTok, "%s compares single values; use a ForAnyOfAnyValues: (or other For...Values:) prefix to compare sets", name)
		}
		for _, v := range o.lits {
			if err := checkLiteral(spec.class, v); err != nil {
				return nil, p.errf(opTok, "%s: %v", name, err)
			}
		}
	}
	return n, nil
}

// parseOperand parses an attribute, a single literal or a brace-enclosed literal set.
func (p *parser) parseOperand() (operand, error) {
	t := p.next()
	switch t.kind {
	case tAttr:
		return operand{src: t.src, name: t.text}, nil
	case tString, tWord:
		return operand{lits: []string{t.text}}, nil
	case tLBrace:
		var o operand
		for {
			v := p.next()
			if v.kind != tString && v.kind != tWord {
				return o, p.errf(v, "expected a value in the set, found %s", describe(v))
			}
			o.lits = append(o.lits, v.text)
			sep := p.next()
			if sep.kind == tRBrace {
				return o, nil
			}
			if sep.kind != tComma {
				return o, p.errf(sep, "expected ',' or '}' in the set, found %s", describe(sep))
			}
		}
	}
	return operand{}, p.errf(t, "expected an attribute or a value, found %s", describe(t))
}

func checkLiteral(class opClass, v string) error {
	switch class {
	case clsGuid:
		if _, ok := normalizeGUID(v); !ok {
			return fmt.Errorf("%q is not a GUID", v)
		}
	case clsNumeric:
		if _, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
	case clsBool:
		if _, err := strconv.ParseBool(strings.ToLower(strings.TrimSpace(v))); err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
	case clsDateTime:
		if _, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(v)); err != nil {
			return fmt.Errorf("%q is not an RFC 3339 date-time", v)
		}
	}
	return nil
}
