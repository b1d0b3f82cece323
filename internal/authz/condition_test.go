package authz

import (
	"errors"
	"strings"
	"testing"
)

func TestParseCondition(t *testing.T) {
	valid := []struct{ name, cond string }{
		{"file sync administrator built-in", fileSyncAdminCondition},
		{"delegation with dashless GUID", delegationCondition("4bad4d9e2a13488894bbc8432f6f3040")},
		{"reference backup example", rbacAdminBackupOnly},
		{"principal types", `((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR (@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {5e467623-bb1f-42f4-a55d-6e525e11384b} AND @Request[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase {'User', 'Group'}))`},
		{"symbolic operators", `!(ActionMatches{'a/b'}) || (@Resource[x] StringEquals 'y' && @Resource[z] StringLike 'w*')`},
		{"suboperation", `!(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read'} AND NOT SubOperationMatches{'Blob.List'})`},
		{"legacy suboperation attribute", `!(ActionMatches{'x/read'} AND @Request[subOperation] ForAnyOfAnyValues:StringEqualsIgnoreCase {'Blob.List'})`},
		{"blob container name", `@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:ContainerName] StringEqualsIgnoreCase 'foo_storage_container'`},
		{"tag key with dollar markers", `@Resource[Microsoft.Storage/storageAccounts/blobServices/containers/blobs/tags:Project<$key_case_sensitive$>] StringEquals 'Cascade'`},
		{"principal attribute on the right", `@Resource[Microsoft.Storage/storageAccounts/blobServices/containers/blobs/tags:Project<$key_case_sensitive$>] StringEquals @Principal[Microsoft.Directory/CustomSecurityAttributes/Id:Engineering_Project]`},
		{"numeric set", `{10, 20} ForAnyOfAllValues:NumericLessThan {15, 18}`},
		{"bool", `@Environment[isPrivateLink] BoolEquals true`},
		{"datetime", `@Environment[UtcNow] DateTimeGreaterThan '2023-05-01T13:00:00.000Z'`},
		{"guid not equals", `@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] GuidNotEquals 8e3af657a8ff443ca75c2fe8c4bcb635`},
		{"operators case-insensitive", `@Resource[x] stringequalsignorecase 'a' and @Resource[y] foranyofanyvalues:guidequals {8e3af657-a8ff-443c-a75c-2fe8c4bcb635}`},
		{"escaped quote", `@Resource[x] StringEquals 'it\'s'`},
		{"newlines and tabs", "(\n\t@Resource[x] StringEquals 'a'\n)\nOR\n(\n\t@Resource[x] StringEquals 'b'\n)"},
	}
	for _, tt := range valid {
		t.Run(tt.name, func(t *testing.T) {
			if err := ParseCondition(tt.cond); err != nil {
				t.Errorf("ParseCondition() = %v, want nil", err)
			}
		})
	}
	invalid := []struct{ name, cond, want string }{
		{"empty", "  ", "empty"},
		{"unbalanced", `(@Resource[x] StringEquals 'a'`, "expected ')'"},
		{"extra paren", `@Resource[x] StringEquals 'a')`, "unexpected"},
		{"unknown operator", `@Resource[x] StringSortOf 'a'`, "unknown operator"},
		{"unknown prefix", `@Resource[x] ForSomeValues:StringEquals {'a'}`, "unknown operator prefix"},
		{"mixed AND and OR", `@Resource[x] StringEquals 'a' AND @Resource[y] StringEquals 'b' OR @Resource[z] StringEquals 'c'`, "requires parentheses"},
		{"set without prefix", `@Resource[x] StringEquals {'a', 'b'}`, "single values"},
		{"bad GUID literal", `@Request[r] ForAnyOfAnyValues:GuidEquals {not-a-guid}`, "not a GUID"},
		{"short GUID literal", `@Request[r] GuidEquals 8e3af657a8ff443c`, "not a GUID"},
		{"bad integer", `@Resource[n] NumericLessThan 'ten'`, "not an integer"},
		{"bad date", `@Environment[UtcNow] DateTimeGreaterThan 'yesterday'`, "RFC 3339"},
		{"unterminated string", `@Resource[x] StringEquals 'abc`, "unterminated string"},
		{"unknown source", `@Somewhere[x] StringEquals 'a'`, "unknown attribute source"},
		{"unterminated attribute", `@Resource[x StringEquals 'a'`, "unterminated attribute"},
		{"missing operand", `@Resource[x] StringEquals`, "expected an attribute or a value"},
		{"single ampersand", `@Resource[x] StringEquals 'a' & @Resource[y] StringEquals 'b'`, "expected &&"},
		{"action matches without braces", `ActionMatches 'a'`, "expected '{'"},
		{"empty action pattern", `ActionMatches{''}`, "empty pattern"},
		{"stray character", `@Resource[x] StringEquals 'a' ; drop`, "unexpected character"},
		{"set missing comma", `{'a' 'b'} ForAnyOfAnyValues:StringEquals @Resource[x]`, "expected ',' or '}'"},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			err := ParseCondition(tt.cond)
			if err == nil {
				t.Fatalf("ParseCondition(%q) = nil, want an error", tt.cond)
			}
			var ce *ConditionError
			if !errors.As(err, &ce) {
				t.Errorf("error %T is not a *ConditionError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
	t.Run("deep nesting is refused, not a crash", func(t *testing.T) {
		cond := strings.Repeat("(", 10000) + "@Resource[x] StringEquals 'a'" + strings.Repeat(")", 10000)
		if err := ParseCondition(cond); err == nil || !strings.Contains(err.Error(), "nests too deeply") {
			t.Errorf("ParseCondition(deep) = %v, want a nesting error", err)
		}
		if err := ParseCondition(strings.Repeat("!", 10000) + "@Resource[x] StringEquals 'a'"); err == nil {
			t.Errorf("ParseCondition(many NOTs) = nil, want a nesting error")
		}
	})
}

func evalString(t *testing.T, cond string, ctx evalCtx) bool {
	t.Helper()
	n, err := parseCondition(cond)
	if err != nil {
		t.Fatalf("parseCondition(%q): %v", cond, err)
	}
	return n.eval(&ctx)
}

func TestCondition_Eval(t *testing.T) {
	a := attrs{
		req: map[string][]string{
			attrRoleDefinitionID: {"c12c1c16-33a1-487b-954d-41c89c60f349"},
			attrPrincipalType:    {"ServicePrincipal"},
			"tags":               {"red", "blue"},
			"empty":              {},
		},
		res: map[string][]string{
			"name":  {"abcd"},
			"count": {"12"},
			"flag":  {"True"},
			"when":  {"2024-01-02T03:04:05Z"},
			"id":    {"/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/8E3AF657-A8FF-443C-A75C-2FE8C4BCB635"},
			"bad":   {"not-a-number"},
			"path":  {"a*b"},
		},
		prin: map[string][]string{"project": {"Cascade"}},
		env:  map[string][]string{"isPrivateLink": {"false"}},
	}
	ctx := evalCtx{action: "Microsoft.Authorization/roleAssignments/write", subOp: "Blob.List", attrs: a}
	tests := []struct {
		name, cond string
		want       bool
	}{
		// Azure's operator examples (conditions-format).
		{"like a*c?", `@Resource[name] StringLike 'a*c?'`, true},
		{"like is case-sensitive", `@Resource[name] StringLike 'A*C?'`, false},
		{"like ignore case", `@Resource[name] StringLikeIgnoreCase 'A*C?'`, true},
		{"like needs the whole string", `@Resource[name] StringLike 'a*c'`, false},
		{"like escaped star", `@Resource[path] StringLike 'a\*b'`, true},
		{"like escaped star is literal", `@Resource[name] StringLike 'a\*'`, false},
		{"not like", `@Resource[name] StringNotLike 'x*'`, true},
		{"any of any", `{'red', 'blue'} ForAnyOfAnyValues:StringEquals {'blue', 'green'}`, true},
		{"any of any none", `{'red', 'blue'} ForAnyOfAnyValues:StringEquals {'orange', 'green'}`, false},
		{"all of any", `{'red', 'blue'} ForAllOfAnyValues:StringEquals {'orange', 'red', 'blue'}`, true},
		{"all of any missing one", `{'red', 'blue'} ForAllOfAnyValues:StringEquals {'red', 'green'}`, false},
		{"any of all", `{10, 20} ForAnyOfAllValues:NumericLessThan {15, 18}`, true},
		{"all of all false", `{10, 20} ForAllOfAllValues:NumericLessThan {5, 15, 18}`, false},
		{"all of all true", `{10, 20} ForAllOfAllValues:NumericLessThan {25, 30}`, true},
		{"all of all partly", `{10, 20} ForAllOfAllValues:NumericLessThan {15, 25, 30}`, false},
		// Attributes.
		{"multi-valued attribute any", `@Request[tags] ForAnyOfAnyValues:StringEquals {'blue'}`, true},
		{"multi-valued attribute all", `@Request[tags] ForAllOfAnyValues:StringEquals {'blue', 'red', 'green'}`, true},
		{"multi-valued attribute single operator fails", `@Request[tags] StringEquals 'red'`, false},
		{"string equals is case-sensitive", `@Request[Microsoft.Authorization/roleAssignments:PrincipalType] StringEquals 'serviceprincipal'`, false},
		{"string equals ignore case", `@Request[Microsoft.Authorization/roleAssignments:PrincipalType] StringEqualsIgnoreCase 'serviceprincipal'`, true},
		{"string not equals", `@Request[Microsoft.Authorization/roleAssignments:PrincipalType] StringNotEquals 'User'`, true},
		{"starts with", `@Request[Microsoft.Authorization/roleAssignments:PrincipalType] StringStartsWith 'Service'`, true},
		{"starts with ignore case", `@Request[Microsoft.Authorization/roleAssignments:PrincipalType] StringStartsWithIgnoreCase 'SERVICE'`, true},
		{"not starts with", `@Request[Microsoft.Authorization/roleAssignments:PrincipalType] StringNotStartsWith 'Service'`, false},
		{"not starts with ignore case", `@Request[Microsoft.Authorization/roleAssignments:PrincipalType] StringNotStartsWithIgnoreCase 'user'`, true},
		{"guid dashless literal", `@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] GuidEquals c12c1c1633a1487b954d41c89c60f349`, true},
		{"guid from a resource id", `@Resource[id] GuidEquals 8e3af657-a8ff-443c-a75c-2fe8c4bcb635`, true},
		{"guid not equals", `@Resource[id] GuidNotEquals 8e3af657-a8ff-443c-a75c-2fe8c4bcb635`, false},
		{"guid against a non-GUID value fails closed", `@Resource[name] GuidNotEquals 8e3af657-a8ff-443c-a75c-2fe8c4bcb635`, false},
		{"numeric", `@Resource[count] NumericGreaterThanEquals 12`, true},
		{"numeric not equals", `@Resource[count] NumericNotEquals 12`, false},
		{"numeric bad value fails closed", `@Resource[bad] NumericNotEquals 12`, false},
		{"bool", `@Resource[flag] BoolEquals true`, true},
		{"bool not equals", `@Resource[flag] BoolNotEquals true`, false},
		{"datetime", `@Resource[when] DateTimeLessThan '2024-01-02T03:04:06Z'`, true},
		{"datetime equals other zone", `@Resource[when] DateTimeEquals '2024-01-02T04:04:05+01:00'`, true},
		{"principal attribute", `@Principal[project] StringEquals 'Cascade'`, true},
		{"attribute against attribute", `@Principal[project] StringEqualsIgnoreCase @Principal[project]`, true},
		{"environment from the source", `@Environment[isPrivateLink] BoolEquals false`, true},
		{"environment utc now", `@Environment[UtcNow] DateTimeGreaterThan '2020-01-01T00:00:00Z'`, true},
		{"missing environment attribute", `@Environment[Microsoft.Network/privateEndpoints] StringEquals 'x'`, false},
		// Missing attributes fail closed.
		{"missing attribute", `@Resource[nope] StringEquals 'x'`, false},
		{"missing attribute with negated operator", `@Resource[nope] StringNotEquals 'x'`, false},
		{"empty attribute", `@Request[empty] ForAllOfAnyValues:StringEquals {'x'}`, false},
		{"NOT of a missing attribute", `!(@Resource[nope] StringEquals 'x')`, true},
		// Actions and sub-operations.
		{"action matches", `ActionMatches{'Microsoft.Authorization/roleAssignments/write'}`, true},
		{"action matches wildcard", `ActionMatches{'Microsoft.Authorization/roleAssignments/*'}`, true},
		{"action does not match", `ActionMatches{'Microsoft.Authorization/roleDefinitions/*'}`, false},
		{"suboperation matches", `SubOperationMatches{'blob.list'}`, true},
		{"suboperation differs", `SubOperationMatches{'Blob.Read.WithTagConditions'}`, false},
		{"legacy suboperation attribute", `@Request[subOperation] ForAnyOfAnyValues:StringEqualsIgnoreCase {'Blob.List'}`, true},
		// Boolean structure.
		{"and", `ActionMatches{'*'} AND @Resource[name] StringEquals 'abcd'`, true},
		{"and false", `ActionMatches{'*'} && @Resource[name] StringEquals 'x'`, false},
		{"or", `@Resource[name] StringEquals 'x' OR @Resource[name] StringEquals 'abcd'`, true},
		{"or false", `@Resource[name] StringEquals 'x' || @Resource[name] StringEquals 'y'`, false},
		{"not keyword", `NOT @Resource[name] StringEquals 'x'`, true},
		{"double negation", `!!ActionMatches{'*'}`, true},
		{"nested", `(!(ActionMatches{'x/write'})) OR ((@Resource[name] StringEquals 'x') AND (@Resource[count] NumericEquals 12))`, true},
		{"file sync condition", fileSyncAdminCondition, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := evalString(t, tt.cond, ctx); got != tt.want {
				t.Errorf("eval(%s) = %v, want %v", tt.cond, got, tt.want)
			}
		})
	}
	t.Run("nil attributes", func(t *testing.T) {
		if got := evalString(t, `@Resource[x] StringNotEquals 'y'`, evalCtx{action: "a/b"}); got {
			t.Errorf("eval with nil attributes = true, want false")
		}
		if got := evalString(t, `@Environment[UtcNow] DateTimeGreaterThan '2020-01-01T00:00:00Z'`, evalCtx{}); !got {
			t.Errorf("UtcNow with nil attributes = false, want true")
		}
	})
}

func TestLikeMatch(t *testing.T) {
	tests := []struct {
		pat, s string
		want   bool
	}{
		{"*", "", true},
		{"", "", true},
		{"", "a", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"?", "é", true},
		{"*x*y*", "axbyc", true},
		{"*x*y", "axbyc", false},
		{`\?`, "?", true},
		{`\?`, "a", false},
		{"a**b", "ab", true},
	}
	for _, tt := range tests {
		t.Run(tt.pat+"~"+tt.s, func(t *testing.T) {
			if got := likeMatch(tt.pat, tt.s); got != tt.want {
				t.Errorf("likeMatch(%q, %q) = %v, want %v", tt.pat, tt.s, got, tt.want)
			}
		})
	}
}

func FuzzParseCondition(f *testing.F) {
	for _, s := range []string{
		fileSyncAdminCondition,
		delegationCondition(kvDataRoleGUIDs),
		rbacAdminBackupOnly,
		`{10, 20} ForAnyOfAllValues:NumericLessThan {15, 18}`,
		`!(ActionMatches{'a/*/b'} AND SubOperationMatches{'Blob.List'}) || @Resource[x] StringLike 'a\*?'`,
		`@Environment[UtcNow] DateTimeGreaterThan '2023-05-01T13:00:00.000Z'`,
		`(((`, `'`, `@`, `@Request[`, `{,}`, `!`, "",
	} {
		f.Add(s)
	}
	ctx := evalCtx{
		action: "Microsoft.Authorization/roleAssignments/write",
		subOp:  "Blob.List",
		attrs: attrs{
			req: map[string][]string{attrRoleDefinitionID: {radaID}, attrPrincipalType: {"User"}},
			res: map[string][]string{"x": {"a", "b"}},
		},
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := ValidateCondition(s); err != nil {
			var ce *ConditionError
			if !errors.As(err, &ce) || ce.Offset < 0 || ce.Offset > len(s) {
				t.Fatalf("ValidateCondition: bad error %v for %q", err, s)
			}
		}
		n, err := parseCondition(s)
		if err != nil {
			var ce *ConditionError
			if !errors.As(err, &ce) || ce.Offset < 0 || ce.Offset > len(s) {
				t.Fatalf("bad error %v for %q", err, s)
			}
			return
		}
		if n == nil {
			t.Fatalf("nil tree without error for %q", s)
		}
		n.eval(&ctx) // must not panic
		empty := evalCtx{}
		n.eval(&empty)
	})
}

func TestValidateCondition(t *testing.T) {
	ok := []string{
		"((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR\r\n (@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {c12c1c1633a1487b954d41c89c60f349}))",
		"@Resource[Microsoft.Storage/storageAccounts/blobServices/containers/blobs/tags:Project<$key_case_sensitive$>] StringEquals 'x'",
		"@Principal[Microsoft.Directory/CustomSecurityAttributes/Id:Engineering_Project] StringEquals 'x'",
		"@Environment[isPrivateLink] BoolEquals true",
	}
	for _, c := range ok {
		if err := ValidateCondition(c); err != nil {
			t.Errorf("ValidateCondition(%q) = %v, want nil", c, err)
		}
	}
	bad := []string{
		"@Request[Microsoft.Authorization/roleAssignments:FavouriteColour] StringEquals 'blue'",
		"@Request[Microsoft.Authorization/roleAssignments:PrincipalType]\tStringEquals 'User'",
		"@Request[Microsoft.Authorization/roleAssignments:PrincipalType] StringEquals 'Us\x00er'",
		"@Environment[Weather] StringEquals 'sunny'",
		"@Principal[department] StringEquals 'x'",
		"((",
	}
	for _, c := range bad {
		if err := ValidateCondition(c); err == nil {
			t.Errorf("ValidateCondition(%q) = nil, want an error", c)
		}
	}
}
