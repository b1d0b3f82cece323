package keyvault

import (
	"strings"
)

// An operation is one Key Vault data-plane API, declared with the data action (and, for
// vaults that use access policies, the permission) it needs and the scope that is checked:
// the router authorizes it before the handler runs or anything is looked up. A request that
// matches no operation never reaches a handler. Operations lists them, so a test can send
// each one.
type operation struct {
	Method string
	// Path is the path after the vault, segment by segment: a literal, or "{name}" (any
	// segment; the handler validates it), "{version}" (32 hex digits, or empty for the
	// latest), "{op}" (a cryptographic operation, whose action comes from cryptoOps).
	Path   []string
	Action string
	Perm   permission
	// OnVault checks the action at the vault rather than at the named key or secret.
	OnVault bool
	// Unsupported operations answer NotSupported without touching anything.
	Unsupported string

	h func(c *call, p opParams) (int, any, error)
}

type opParams struct{ name, version, op string }

// Operation is an operation as tests and documentation see it.
type Operation struct {
	Method, Path, Action string
	Unsupported          bool
}

const (
	actKeyRead      = "Microsoft.KeyVault/vaults/keys/read"
	actSecretMeta   = "Microsoft.KeyVault/vaults/secrets/readMetadata/action"
	actSecretGet    = "Microsoft.KeyVault/vaults/secrets/getSecret/action"
	actSecretUpdate = "Microsoft.KeyVault/vaults/secrets/update/action"
	actKeyUpdate    = "Microsoft.KeyVault/vaults/keys/update/action"
	actCertRead     = "Microsoft.KeyVault/vaults/certificates/read"
	actCertUpdate   = "Microsoft.KeyVault/vaults/certificates/update/action"
	actCertCreate   = "Microsoft.KeyVault/vaults/certificates/create/action"
	actCertContacts = "Microsoft.KeyVault/vaults/certificatecontacts/write"
	actIssuerRead   = "Microsoft.KeyVault/vaults/certificatecas/read"
	actIssuerWrite  = "Microsoft.KeyVault/vaults/certificatecas/write"
)

func keys(p ...string) []string    { return append([]string{"keys"}, p...) }
func secrets(p ...string) []string { return append([]string{"secrets"}, p...) }

func certs(p ...string) []string { return append([]string{"certificates"}, p...) }

func kp(name string) permission { return permission{"keys", name} }
func sp(name string) permission { return permission{"secrets", name} }
func cp(name string) permission { return permission{"certificates", name} }

// operations is the Key Vault data plane. Order matters: literals before placeholders.
var operations = []operation{
	{Method: "GET", Path: keys(), Action: actKeyRead, Perm: kp("list"), OnVault: true, h: func(c *call, _ opParams) (int, any, error) { return c.listKeys() }},
	{Method: "POST", Path: keys("restore"), Action: "Microsoft.KeyVault/vaults/keys/restore/action", Perm: kp("restore"), OnVault: true, h: func(c *call, _ opParams) (int, any, error) { return c.restoreKey() }},
	{Method: "GET", Path: keys("{name}"), Action: actKeyRead, Perm: kp("get"), h: func(c *call, p opParams) (int, any, error) { return c.getKey(p.name, "") }},
	{Method: "PATCH", Path: keys("{name}"), Action: actKeyUpdate, Perm: kp("update"), h: func(c *call, p opParams) (int, any, error) { return c.updateKey(p.name, "") }},
	{Method: "PUT", Path: keys("{name}"), Action: "Microsoft.KeyVault/vaults/keys/import/action", Perm: kp("import"), h: func(c *call, p opParams) (int, any, error) { return c.importKey(p.name) }},
	{Method: "DELETE", Path: keys("{name}"), Action: "Microsoft.KeyVault/vaults/keys/delete", Perm: kp("delete"), h: func(c *call, p opParams) (int, any, error) { return c.deleteKey(p.name) }},
	{Method: "POST", Path: keys("{name}", "create"), Action: "Microsoft.KeyVault/vaults/keys/create/action", Perm: kp("create"), h: func(c *call, p opParams) (int, any, error) { return c.createKey(p.name) }},
	{Method: "GET", Path: keys("{name}", "versions"), Action: actKeyRead, Perm: kp("list"), h: func(c *call, p opParams) (int, any, error) { return c.listKeyVersions(p.name) }},
	{Method: "POST", Path: keys("{name}", "rotate"), Action: "Microsoft.KeyVault/vaults/keys/rotate/action", Perm: kp("rotate"), h: func(c *call, p opParams) (int, any, error) { return c.rotateKey(p.name) }},
	{Method: "GET", Path: keys("{name}", "rotationpolicy"), Action: "Microsoft.KeyVault/vaults/keyrotationpolicies/read", Perm: kp("getrotationpolicy"), h: func(c *call, p opParams) (int, any, error) { return c.rotationPolicy(p.name) }},
	{Method: "PUT", Path: keys("{name}", "rotationpolicy"), Action: "Microsoft.KeyVault/vaults/keyrotationpolicies/write", Perm: kp("setrotationpolicy"), h: func(c *call, p opParams) (int, any, error) { return c.rotationPolicy(p.name) }},
	{Method: "POST", Path: keys("{name}", "backup"), Action: "Microsoft.KeyVault/vaults/keys/backup/action", Perm: kp("backup"), h: func(c *call, p opParams) (int, any, error) { return c.backupKey(p.name) }},
	{Method: "POST", Path: keys("{name}", "release"), Unsupported: "Key release (secure key release)"},
	{Method: "POST", Path: keys("{name}", "{version}", "release"), Unsupported: "Key release (secure key release)"},
	{Method: "POST", Path: keys("{name}", "{op}"), h: func(c *call, p opParams) (int, any, error) { return c.cryptoOp(p.name, "", p.op) }},
	{Method: "GET", Path: keys("{name}", "{version}"), Action: actKeyRead, Perm: kp("get"), h: func(c *call, p opParams) (int, any, error) { return c.getKey(p.name, p.version) }},
	{Method: "PATCH", Path: keys("{name}", "{version}"), Action: actKeyUpdate, Perm: kp("update"), h: func(c *call, p opParams) (int, any, error) { return c.updateKey(p.name, p.version) }},
	{Method: "POST", Path: keys("{name}", "{version}", "{op}"), h: func(c *call, p opParams) (int, any, error) { return c.cryptoOp(p.name, p.version, p.op) }},

	{Method: "GET", Path: []string{"deletedkeys"}, Action: actKeyRead, Perm: kp("list"), OnVault: true, h: func(c *call, _ opParams) (int, any, error) { return c.listDeletedKeys() }},
	{Method: "GET", Path: []string{"deletedkeys", "{name}"}, Action: actKeyRead, Perm: kp("get"), h: func(c *call, p opParams) (int, any, error) { return c.getDeletedKey(p.name) }},
	{Method: "DELETE", Path: []string{"deletedkeys", "{name}"}, Action: "Microsoft.KeyVault/vaults/keys/purge/action", Perm: kp("purge"), h: func(c *call, p opParams) (int, any, error) { return c.purgeKey(p.name) }},
	{Method: "POST", Path: []string{"deletedkeys", "{name}", "recover"}, Action: "Microsoft.KeyVault/vaults/keys/recover/action", Perm: kp("recover"), h: func(c *call, p opParams) (int, any, error) { return c.recoverKey(p.name) }},

	{Method: "GET", Path: secrets(), Action: actSecretMeta, Perm: sp("list"), OnVault: true, h: func(c *call, _ opParams) (int, any, error) { return c.listSecrets() }},
	{Method: "POST", Path: secrets("restore"), Action: "Microsoft.KeyVault/vaults/secrets/restore/action", Perm: sp("restore"), OnVault: true, h: func(c *call, _ opParams) (int, any, error) { return c.restoreSecret() }},
	{Method: "PUT", Path: secrets("{name}"), Action: "Microsoft.KeyVault/vaults/secrets/setSecret/action", Perm: sp("set"), h: func(c *call, p opParams) (int, any, error) { return c.setSecret(p.name) }},
	{Method: "DELETE", Path: secrets("{name}"), Action: "Microsoft.KeyVault/vaults/secrets/delete", Perm: sp("delete"), h: func(c *call, p opParams) (int, any, error) { return c.deleteSecret(p.name) }},
	{Method: "GET", Path: secrets("{name}"), Action: actSecretGet, Perm: sp("get"), h: func(c *call, p opParams) (int, any, error) { return c.getSecret(p.name, "") }},
	{Method: "PATCH", Path: secrets("{name}"), Action: actSecretUpdate, Perm: sp("set"), h: func(c *call, p opParams) (int, any, error) { return c.updateSecret(p.name, "") }},
	{Method: "GET", Path: secrets("{name}", "versions"), Action: actSecretMeta, Perm: sp("list"), h: func(c *call, p opParams) (int, any, error) { return c.listSecretVersions(p.name) }},
	{Method: "POST", Path: secrets("{name}", "backup"), Action: "Microsoft.KeyVault/vaults/secrets/backup/action", Perm: sp("backup"), h: func(c *call, p opParams) (int, any, error) { return c.backupSecret(p.name) }},
	{Method: "GET", Path: secrets("{name}", "{version}"), Action: actSecretGet, Perm: sp("get"), h: func(c *call, p opParams) (int, any, error) { return c.getSecret(p.name, p.version) }},
	{Method: "PATCH", Path: secrets("{name}", "{version}"), Action: actSecretUpdate, Perm: sp("set"), h: func(c *call, p opParams) (int, any, error) { return c.updateSecret(p.name, p.version) }},

	{Method: "GET", Path: []string{"deletedsecrets"}, Action: actSecretMeta, Perm: sp("list"), OnVault: true, h: func(c *call, _ opParams) (int, any, error) { return c.listDeletedSecrets() }},
	{Method: "GET", Path: []string{"deletedsecrets", "{name}"}, Action: actSecretMeta, Perm: sp("get"), h: func(c *call, p opParams) (int, any, error) { return c.getDeletedSecret(p.name) }},
	{Method: "DELETE", Path: []string{"deletedsecrets", "{name}"}, Action: "Microsoft.KeyVault/vaults/secrets/purge/action", Perm: sp("purge"), h: func(c *call, p opParams) (int, any, error) { return c.purgeSecret(p.name) }},
	{Method: "POST", Path: []string{"deletedsecrets", "{name}", "recover"}, Action: "Microsoft.KeyVault/vaults/secrets/recover/action", Perm: sp("recover"), h: func(c *call, p opParams) (int, any, error) { return c.recoverSecret(p.name) }},

	{Method: "GET", Path: certs(), Action: actCertRead, Perm: cp("list"), OnVault: true, h: func(c *call, _ opParams) (int, any, error) { return c.listCertificates() }},
	{Method: "GET", Path: certs("contacts"), Action: actCertContacts, Perm: cp("managecontacts"), OnVault: true, h: func(c *call, _ opParams) (int, any, error) { return c.certContacts() }},
	{Method: "PUT", Path: certs("contacts"), Action: actCertContacts, Perm: cp("managecontacts"), OnVault: true, h: func(c *call, _ opParams) (int, any, error) { return c.certContacts() }},
	{Method: "DELETE", Path: certs("contacts"), Action: actCertContacts, Perm: cp("managecontacts"), OnVault: true, h: func(c *call, _ opParams) (int, any, error) { return c.certContacts() }},
	{Method: "GET", Path: certs("issuers"), Action: actIssuerRead, Perm: cp("listissuers"), OnVault: true, h: func(c *call, _ opParams) (int, any, error) { return c.listIssuers() }},
	{Method: "GET", Path: certs("issuers", "{name}"), Action: actIssuerRead, Perm: cp("getissuers"), OnVault: true, h: func(c *call, p opParams) (int, any, error) { return c.getIssuer(p.name) }},
	{Method: "PUT", Path: certs("issuers", "{name}"), Action: actIssuerWrite, Perm: cp("setissuers"), OnVault: true, h: func(c *call, p opParams) (int, any, error) { return c.setIssuer(p.name) }},
	{Method: "PATCH", Path: certs("issuers", "{name}"), Action: actIssuerWrite, Perm: cp("setissuers"), OnVault: true, h: func(c *call, p opParams) (int, any, error) { return c.setIssuer(p.name) }},
	{Method: "DELETE", Path: certs("issuers", "{name}"), Action: "Microsoft.KeyVault/vaults/certificatecas/delete", Perm: cp("deleteissuers"), OnVault: true, h: func(c *call, p opParams) (int, any, error) { return c.deleteIssuer(p.name) }},
	{Method: "POST", Path: certs("restore"), Action: "Microsoft.KeyVault/vaults/certificates/restore/action", Perm: cp("restore"), OnVault: true, h: func(c *call, _ opParams) (int, any, error) { return c.restoreCertificate() }},
	{Method: "GET", Path: certs("{name}"), Action: actCertRead, Perm: cp("get"), h: func(c *call, p opParams) (int, any, error) { return c.getCertificate(p.name, "") }},
	{Method: "PATCH", Path: certs("{name}"), Action: actCertUpdate, Perm: cp("update"), h: func(c *call, p opParams) (int, any, error) { return c.updateCertificate(p.name, "") }},
	{Method: "DELETE", Path: certs("{name}"), Action: "Microsoft.KeyVault/vaults/certificates/delete", Perm: cp("delete"), h: func(c *call, p opParams) (int, any, error) { return c.deleteCertificate(p.name) }},
	{Method: "POST", Path: certs("{name}", "create"), Action: actCertCreate, Perm: cp("create"), h: func(c *call, p opParams) (int, any, error) { return c.createCertificate(p.name) }},
	{Method: "POST", Path: certs("{name}", "import"), Action: "Microsoft.KeyVault/vaults/certificates/import/action", Perm: cp("import"), h: func(c *call, p opParams) (int, any, error) { return c.importCertificate(p.name) }},
	{Method: "GET", Path: certs("{name}", "versions"), Action: actCertRead, Perm: cp("list"), h: func(c *call, p opParams) (int, any, error) { return c.listCertificateVersions(p.name) }},
	{Method: "GET", Path: certs("{name}", "policy"), Action: actCertRead, Perm: cp("get"), h: func(c *call, p opParams) (int, any, error) { return c.certificatePolicy(p.name) }},
	{Method: "PATCH", Path: certs("{name}", "policy"), Action: actCertUpdate, Perm: cp("update"), h: func(c *call, p opParams) (int, any, error) { return c.certificatePolicy(p.name) }},
	{Method: "GET", Path: certs("{name}", "pending"), Action: actCertRead, Perm: cp("get"), h: func(c *call, p opParams) (int, any, error) { return c.getCertOperation(p.name) }},
	{Method: "PATCH", Path: certs("{name}", "pending"), Action: actCertUpdate, Perm: cp("update"), h: func(c *call, p opParams) (int, any, error) { return c.updateCertOperation(p.name) }},
	{Method: "DELETE", Path: certs("{name}", "pending"), Action: actCertUpdate, Perm: cp("update"), h: func(c *call, p opParams) (int, any, error) { return c.deleteCertOperation(p.name) }},
	{Method: "POST", Path: certs("{name}", "pending", "merge"), Action: actCertCreate, Perm: cp("create"), h: func(c *call, p opParams) (int, any, error) { return c.mergeCertificate(p.name) }},
	{Method: "POST", Path: certs("{name}", "backup"), Action: "Microsoft.KeyVault/vaults/certificates/backup/action", Perm: cp("backup"), h: func(c *call, p opParams) (int, any, error) { return c.backupCertificate(p.name) }},
	{Method: "GET", Path: certs("{name}", "{version}"), Action: actCertRead, Perm: cp("get"), h: func(c *call, p opParams) (int, any, error) { return c.getCertificate(p.name, p.version) }},
	{Method: "PATCH", Path: certs("{name}", "{version}"), Action: actCertUpdate, Perm: cp("update"), h: func(c *call, p opParams) (int, any, error) { return c.updateCertificate(p.name, p.version) }},

	{Method: "GET", Path: []string{"deletedcertificates"}, Action: actCertRead, Perm: cp("list"), OnVault: true, h: func(c *call, _ opParams) (int, any, error) { return c.listDeletedCertificates() }},
	{Method: "GET", Path: []string{"deletedcertificates", "{name}"}, Action: actCertRead, Perm: cp("get"), h: func(c *call, p opParams) (int, any, error) { return c.getDeletedCertificate(p.name) }},
	{Method: "DELETE", Path: []string{"deletedcertificates", "{name}"}, Action: "Microsoft.KeyVault/vaults/certificates/purge/action", Perm: cp("purge"), h: func(c *call, p opParams) (int, any, error) { return c.purgeCertificate(p.name) }},
	{Method: "POST", Path: []string{"deletedcertificates", "{name}", "recover"}, Action: "Microsoft.KeyVault/vaults/certificates/recover/action", Perm: cp("recover"), h: func(c *call, p opParams) (int, any, error) { return c.recoverCertificate(p.name) }},
}

// unsupportedCollections answer NotSupported whatever the rest of the path.
var unsupportedCollections = map[string]string{
	"storage": "The /storage API", "deletedstorage": "The /deletedstorage API", "rng": "The /rng API", "securitydomain": "The /securitydomain API",
}

// Operations lists the data plane's operations with their declared actions, in order; a
// "{op}" path is listed once per cryptographic operation.
func Operations() []Operation {
	var out []Operation
	for _, o := range operations {
		ops := []string{""}
		if o.Path[len(o.Path)-1] == "{op}" {
			ops = ops[:0]
			for op := range cryptoOps {
				ops = append(ops, op)
			}
		}
		for _, op := range ops {
			path := "/" + strings.Join(o.Path, "/")
			action := o.Action
			if op != "" {
				path = strings.Replace(path, "{op}", op, 1)
				action = cryptoOps[op].action
			}
			out = append(out, Operation{Method: o.Method, Path: path, Action: action, Unsupported: o.Unsupported != ""})
		}
	}
	return out
}

// match finds the operation for the method and path segments: the operation, its
// parameters, and whether the path names an operation under another method (405, not 404).
func match(method string, segs []string) (*operation, opParams, bool) {
	// A trailing slash names the latest version: /keys/k/ is /keys/k.
	if n := len(segs); n > 1 && segs[n-1] == "" && !(n > 2 && segs[n-2] == "") {
		segs = segs[:n-1]
	}
	pathFound := false
	for i := range operations {
		o := &operations[i]
		p, ok := o.matchPath(segs)
		if !ok {
			continue
		}
		if o.Method == method {
			return o, p, true
		}
		pathFound = true
	}
	return nil, opParams{}, pathFound
}

func (o *operation) matchPath(segs []string) (opParams, bool) {
	var p opParams
	if len(segs) != len(o.Path) {
		return p, false
	}
	for i, want := range o.Path {
		got := segs[i]
		switch want {
		case "{name}":
			if got == "" {
				return p, false
			}
			p.name = got
		case "{version}":
			if got != "" && !versionRE.MatchString(got) {
				return p, false
			}
			p.version = strings.ToLower(got)
		case "{op}":
			op := strings.ToLower(got)
			if _, ok := cryptoOps[op]; !ok {
				return p, false
			}
			p.op = op
		default:
			if !strings.EqualFold(got, want) {
				return p, false
			}
		}
	}
	return p, true
}

// dispatch authorizes the matched operation and runs its handler.
func (c *call) dispatch(o *operation, p opParams) (int, any, error) {
	if o.Unsupported != "" {
		return 0, nil, notSupported(o.Unsupported)
	}
	action, perm := o.Action, o.Perm
	if p.op != "" {
		spec := cryptoOps[p.op]
		action, perm = spec.action, kp(spec.perm)
	}
	kind, scopeOf := "key", c.keyScope
	switch o.Path[0] {
	case "secrets", "deletedsecrets":
		kind, scopeOf = "secret", c.secretScope
	case "certificates", "deletedcertificates":
		kind, scopeOf = "certificate", c.certScope
		if len(o.Path) > 1 && o.Path[1] == "issuers" {
			kind = "issuer"
		}
	}
	if p.name != "" {
		if err := checkName(kind, p.name); err != nil {
			return 0, nil, err
		}
	}
	scope := c.vault.ResourceID
	if !o.OnVault {
		scope = scopeOf(p.name)
	}
	if err := c.authorize(action, scope, perm); err != nil {
		return 0, nil, err
	}
	return o.h(c, p)
}

func methodNotAllowedOr404(c *call, pathFound bool, segs []string) error {
	if pathFound {
		return methodNotAllowed(c.r)
	}
	if what, ok := unsupportedCollections[strings.ToLower(segs[0])]; ok {
		return notSupported(what)
	}
	if len(segs) == 3 && segs[1] != "" {
		// /keys/{name}/{something}: neither an operation nor a version.
		switch strings.ToLower(segs[0]) {
		case "keys":
			return keyNotFound(segs[1] + "/" + segs[2])
		case "secrets":
			return secretKind.notFound(segs[1] + "/" + segs[2])
		case "certificates":
			return certKind.notFound(segs[1] + "/" + segs[2])
		}
	}
	return notFoundPath(segs)
}
