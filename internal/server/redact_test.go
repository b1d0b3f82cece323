package server

import (
	"strings"
	"testing"
)

func TestLogRedaction(t *testing.T) {
	for _, tc := range []struct{ name, got, want string }{
		{"msi host secret", logPath("/msi/host/aGVsbG8.c2lnbmF0dXJl"), "/msi/host/REDACTED"},
		{"msi host secret, other case", logPath("/MSI/Host/abc/"), "/MSI/Host/REDACTED"},
		{"msi host without secret", logPath("/msi/host/"), "/msi/host/"},
		{"arc host secret", logPath("/arc/aGVsbG8.c2ln/metadata/identity/oauth2/token"), "/arc/REDACTED/metadata/identity/oauth2/token"},
		{"ordinary path", logPath("/subscriptions/x/resourceGroups/y"), "/subscriptions/x/resourceGroups/y"},
		{"host with userinfo", logHost("vm1:secret@127.0.0.1:8443"), "REDACTED@127.0.0.1:8443"},
		{"plain host", logHost("management.azure.com"), "management.azure.com"},
		{"sas", logQuery("sv=2022-11-02&sp=r&sig=abc%2Bdef&se=2030-01-01"), "se=2030-01-01&sig=REDACTED&sp=r&sv=2022-11-02"},
		{"oauth", logQuery("client_id=app&client_secret=s3&client_assertion=eyJ&grant_type=client_credentials"),
			"client_assertion=REDACTED&client_id=app&client_secret=REDACTED&grant_type=client_credentials"},
		{"secret and tokens", logQuery("secret=x&refresh_token=y&x-ms-identity-header=z&api-version=2019-08-01"),
			"api-version=2019-08-01&refresh_token=REDACTED&secret=REDACTED&x-ms-identity-header=REDACTED"},
		{"unparseable", logQuery("sig=%zz"), "REDACTED"},
		{"empty", logQuery(""), ""},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
		if strings.Contains(tc.got, "s3") || strings.Contains(tc.got, "abc") {
			t.Errorf("%s: a secret survived: %q", tc.name, tc.got)
		}
	}
}
