package policy

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cerulean-azure/cerulean/internal/azerr"
)

var doc = map[string]any{
	"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct", "name": "acct",
	"type": "Microsoft.Storage/storageAccounts", "location": "westus", "kind": "StorageV2",
	"tags":       map[string]any{"env": "prod", "Owner": "finance"},
	"sku":        map[string]any{"name": "Standard_LRS"},
	"properties": map[string]any{"encryption": map[string]any{"keySource": "Microsoft.Storage"}, "minimumTlsVersion": "TLS1_2", "allowSharedKeyAccess": true},
}

func effect(t *testing.T, rule string, params map[string]any) string {
	t.Helper()
	r, err := CompileRule(json.RawMessage(rule))
	if err != nil {
		t.Fatalf("compile %s: %v", rule, err)
	}
	e, err := r.Effect(doc, params)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestRule_Operators(t *testing.T) {
	for _, tt := range []struct {
		cond  string
		match bool
	}{
		{`{"field":"type","equals":"microsoft.storage/storageaccounts"}`, true},
		{`{"field":"type","notEquals":"Microsoft.Storage/storageAccounts"}`, false},
		{`{"field":"location","equals":"West US"}`, true},
		{`{"field":"name","like":"ac*"}`, true},
		{`{"field":"name","notLike":"ac*"}`, false},
		{`{"field":"name","match":"????"}`, true},
		{`{"field":"name","match":"ACCT"}`, false},
		{`{"field":"name","matchInsensitively":"ACCT"}`, true},
		{`{"field":"name","contains":"CC"}`, true},
		{`{"field":"location","in":["eastus","westus"]}`, true},
		{`{"field":"location","notIn":["eastus","westus"]}`, false},
		{`{"field":"tags","containsKey":"env"}`, true},
		{`{"field":"tags['owner']","equals":"finance"}`, true},
		{`{"field":"tags.missing","exists":"false"}`, true},
		{`{"field":"Microsoft.Storage/storageAccounts/encryption.keySource","notEquals":"Microsoft.Keyvault"}`, true},
		{`{"field":"Microsoft.Storage/storageAccounts/sku.name","equals":"Standard_LRS"}`, true},
		{`{"field":"Microsoft.Compute/virtualMachines/licenseType","exists":true}`, false},
		{`{"field":"Microsoft.Storage/storageAccounts/minimumTlsVersion","greaterOrEquals":"TLS1_2"}`, true},
		{`{"allOf":[{"field":"type","equals":"Microsoft.Storage/storageAccounts"},{"not":{"field":"kind","equals":"FileStorage"}}]}`, true},
		{`{"anyOf":[{"field":"kind","equals":"FileStorage"},{"field":"kind","equals":"BlobStorage"}]}`, false},
	} {
		got := effect(t, `{"if":`+tt.cond+`,"then":{"effect":"deny"}}`, nil)
		if (got == "deny") != tt.match {
			t.Errorf("%s: matched %v, want %v", tt.cond, got == "deny", tt.match)
		}
	}
}

func TestRule_Parameters(t *testing.T) {
	rule := `{"if":{"field":"location","notIn":"[parameters('allowed')]"},"then":{"effect":"[parameters('effect')]"}}`
	if got := effect(t, rule, map[string]any{"allowed": []any{"eastus"}, "effect": "Audit"}); got != "audit" {
		t.Fatalf("got %q, want audit", got)
	}
	if got := effect(t, rule, map[string]any{"allowed": []any{"westus"}, "effect": "Deny"}); got != "" {
		t.Fatalf("got %q, want no effect", got)
	}
}

func TestRule_Refused(t *testing.T) {
	deep := strings.Repeat(`{"not":`, 40) + `{"field":"type","equals":"x"}` + strings.Repeat(`}`, 40)
	many := `{"anyOf":[` + strings.TrimSuffix(strings.Repeat(`{"field":"type","equals":"x"},`, 2100), ",") + `]}`
	for _, rule := range []string{
		`{"if":` + deep + `,"then":{"effect":"deny"}}`,
		`{"if":` + many + `,"then":{"effect":"deny"}}`,
		`{"if":{"field":"type","bogus":"x"},"then":{"effect":"deny"}}`,
		`{"if":{"field":"type","equals":"x","notEquals":"y"},"then":{"effect":"deny"}}`,
		`{"if":{"field":"type","in":"not an array"},"then":{"effect":"deny"}}`,
		`{"if":{"allOf":[]},"then":{"effect":"deny"}}`,
		`{"then":{"effect":"deny"}}`,
		`{"if":{"field":"type","equals":"x"},"then":{}}`,
		`{"if":{"field":"type","equals":"x"},"then":{"effect":"modify"}}`,
		`[]`,
	} {
		_, err := CompileRule(json.RawMessage(rule))
		if e, ok := azerr.As(err); !ok || e.Status != 400 {
			t.Errorf("rule %.60s: %v, want a 400", rule, err)
		}
	}
}

// A whole definition where only its rule goes (az policy definition create --rules @file with
// seed 003's JSON) is refused with what to pass instead.
func TestRule_WholeDefinitionRefusedWithAdvice(t *testing.T) {
	_, err := CompileRule(json.RawMessage(`{"mode":"All","policyRule":{"if":{"field":"type","equals":"x"},"then":{"effect":"deny"}},"parameters":{}}`))
	if e, ok := azerr.As(err); !ok || e.Status != 400 || e.Code != "InvalidPolicyRule" || !strings.Contains(e.Message, "jq .policyRule") {
		t.Fatalf("whole definition as the rule: %v", err)
	}
}

func FuzzPolicyRule(f *testing.F) {
	f.Add(`{"if":{"field":"type","equals":"Microsoft.Storage/storageAccounts"},"then":{"effect":"deny"}}`)
	f.Add(`{"if":{"allOf":[{"field":"tags['a']","exists":true},{"not":{"field":"location","in":["x"]}}]},"then":{"effect":"audit"}}`)
	f.Add(`{"if":{"field":"name","like":"[parameters('p')]"},"then":{"effect":"[parameters('e')]"}}`)
	f.Fuzz(func(t *testing.T, rule string) {
		d := Definition{Name: "f", PolicyRule: json.RawMessage(rule), Parameters: map[string]ParamDef{
			"p": {Type: "String", AllowedValues: []any{"x*", "y"}, DefaultValue: "x*"}, "e": {Type: "String"}}}
		if err := ValidateDefinition(&d); err != nil {
			if e, ok := azerr.As(err); !ok || e.Status != 400 {
				t.Fatalf("ValidateDefinition(%q): %v, want a 400", rule, err)
			}
		}
		r, err := CompileRule(json.RawMessage(rule))
		if err != nil {
			if e, ok := azerr.As(err); !ok || e.Status != 400 {
				t.Fatalf("%q: %v, want a 400", rule, err)
			}
			return
		}
		if _, err := r.Effect(doc, map[string]any{"p": "x*", "e": "deny"}); err != nil {
			if e, ok := azerr.As(err); !ok || e.Status != 400 {
				t.Fatalf("%q: evaluation failed with %v", rule, err)
			}
		}
	})
}

func TestValidateDefinition_Parameters(t *testing.T) {
	rule := json.RawMessage(`{"if":{"allOf":[{"field":"location","in":"[parameters('locs')]"},{"field":"[concat('tags[', parameters('tag'), ']')]","exists":false}]},"then":{"effect":"[parameters('effect')]"}}`)
	full := map[string]ParamDef{"locs": {Type: "Array", AllowedValues: []any{"westus", "eastus"}, DefaultValue: []any{"westus"}},
		"tag": {Type: "String"}, "effect": {Type: "String", AllowedValues: []any{"audit", "deny"}, DefaultValue: "deny"}}
	for _, tt := range []struct {
		name   string
		params map[string]ParamDef
		code   string
	}{
		{"all defined", full, ""},
		{"one undefined", map[string]ParamDef{"locs": full["locs"], "effect": full["effect"]}, "InvalidPolicyRule"},
		{"default outside allowed (case)", map[string]ParamDef{"locs": full["locs"], "tag": full["tag"], "effect": {Type: "String", AllowedValues: []any{"audit", "deny"}, DefaultValue: "Deny"}}, "PolicyParameterAllowedAndDefaultValuesMismatch"},
		{"array default element outside allowed", map[string]ParamDef{"locs": {Type: "Array", AllowedValues: []any{"westus"}, DefaultValue: []any{"westus", "mars"}}, "tag": full["tag"], "effect": full["effect"]}, "PolicyParameterAllowedAndDefaultValuesMismatch"},
	} {
		d := Definition{Name: "p", PolicyRule: rule, Parameters: tt.params}
		err := ValidateDefinition(&d)
		got := ""
		if e, ok := azerr.As(err); ok {
			got = e.Code
		} else if err != nil {
			got = err.Error()
		}
		if got != tt.code {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.code)
		}
	}
	d := Definition{Name: "p", PolicyRule: rule, Parameters: full}
	for v, want := range map[string]string{`"deny"`: "", `"Deny"`: "PolicyParameterValueNotAllowed", `"disabled"`: "PolicyParameterValueNotAllowed"} {
		var val any
		_ = json.Unmarshal([]byte(v), &val)
		_, err := parameters(d, Assignment{Parameters: map[string]ParameterValue{"effect": {Value: val}, "tag": {Value: "env"}}})
		got := ""
		if e, ok := azerr.As(err); ok {
			got = e.Code
		}
		if got != want {
			t.Errorf("assignment effect %s: got %q, want %q", v, got, want)
		}
	}
}
