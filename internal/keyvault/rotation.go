package keyvault

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/store"
)

// rotationPolicy is a key's rotation policy.
type rotationPolicy struct {
	LifetimeActions []lifetimeAction `json:"lifetimeActions"`
	Attributes      struct {
		ExpiryTime string `json:"expiryTime,omitempty"`
		Created    int64  `json:"created,omitempty"`
		Updated    int64  `json:"updated,omitempty"`
	} `json:"attributes"`
	// LastRotated is when the scheduler last rotated the key (unix seconds).
	LastRotated int64 `json:"lastRotated,omitempty"`
}

type lifetimeAction struct {
	Trigger struct {
		TimeAfterCreate  string `json:"timeAfterCreate,omitempty"`
		TimeBeforeExpiry string `json:"timeBeforeExpiry,omitempty"`
	} `json:"trigger"`
	Action struct {
		Type string `json:"type"`
	} `json:"action"`
}

// isoDuration is an ISO 8601 duration: years, months and days are calendar units, the rest
// clock time.
type isoDuration struct {
	years, months, days int
	clock               time.Duration
}

var durationRE = regexp.MustCompile(`^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$`)

func parseDuration(s string) (isoDuration, bool) {
	m := durationRE.FindStringSubmatch(strings.ToUpper(s))
	if m == nil || s == "P" || strings.HasSuffix(strings.ToUpper(s), "T") {
		return isoDuration{}, false
	}
	n := func(i int) int {
		if m[i] == "" {
			return 0
		}
		v, err := strconv.Atoi(m[i])
		if err != nil || v > 100000 {
			return -1
		}
		return v
	}
	d := isoDuration{years: n(1), months: n(2), days: n(3)*7 + n(4),
		clock: time.Duration(n(5))*time.Hour + time.Duration(n(6))*time.Minute + time.Duration(n(7))*time.Second}
	if d.years < 0 || d.months < 0 || d.days < 0 || d.clock < 0 {
		return isoDuration{}, false
	}
	return d, true
}

func (d isoDuration) addTo(t time.Time) time.Time {
	return t.AddDate(d.years, d.months, d.days).Add(d.clock)
}
func (d isoDuration) subFrom(t time.Time) time.Time {
	return t.AddDate(-d.years, -d.months, -d.days).Add(-d.clock)
}

// atLeast reports whether the duration is at least min days long (measured from a fixed date).
func (d isoDuration) atLeast(days int) bool {
	base := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	return !d.addTo(base).Before(base.AddDate(0, 0, days))
}

// validate checks a policy as Key Vault does and spells action types canonically.
func (p *rotationPolicy) validate() error {
	var expiry *isoDuration
	if p.Attributes.ExpiryTime != "" {
		d, ok := parseDuration(p.Attributes.ExpiryTime)
		if !ok {
			return badParameter("attributes.expiryTime '%s' is not an ISO 8601 duration such as P90D or P2Y.", p.Attributes.ExpiryTime)
		}
		if !d.atLeast(28) {
			return badParameter("attributes.expiryTime must be at least 28 days (P28D), got %s.", p.Attributes.ExpiryTime)
		}
		expiry = &d
	}
	seen := map[string]bool{}
	for i := range p.LifetimeActions {
		a := &p.LifetimeActions[i]
		switch {
		case strings.EqualFold(a.Action.Type, "Rotate"):
			a.Action.Type = "Rotate"
		case strings.EqualFold(a.Action.Type, "Notify"):
			a.Action.Type = "Notify"
		default:
			return badParameter("lifetimeActions[%d].action.type '%s' is invalid: use Rotate or Notify.", i, a.Action.Type)
		}
		if seen[a.Action.Type] {
			return badParameter("A rotation policy may have at most one %s action.", a.Action.Type)
		}
		seen[a.Action.Type] = true
		t := a.Trigger
		if (t.TimeAfterCreate == "") == (t.TimeBeforeExpiry == "") {
			return badParameter("lifetimeActions[%d].trigger must have exactly one of timeAfterCreate and timeBeforeExpiry.", i)
		}
		if t.TimeAfterCreate != "" {
			d, ok := parseDuration(t.TimeAfterCreate)
			if !ok {
				return badParameter("lifetimeActions[%d].trigger.timeAfterCreate '%s' is not an ISO 8601 duration.", i, t.TimeAfterCreate)
			}
			if !d.atLeast(7) {
				return badParameter("lifetimeActions[%d].trigger.timeAfterCreate must be at least 7 days (P7D), got %s.", i, t.TimeAfterCreate)
			}
			if a.Action.Type == "Notify" {
				return badParameter("A Notify action is triggered by timeBeforeExpiry only.")
			}
		}
		if t.TimeBeforeExpiry != "" {
			d, ok := parseDuration(t.TimeBeforeExpiry)
			if !ok {
				return badParameter("lifetimeActions[%d].trigger.timeBeforeExpiry '%s' is not an ISO 8601 duration.", i, t.TimeBeforeExpiry)
			}
			if !d.atLeast(7) {
				return badParameter("lifetimeActions[%d].trigger.timeBeforeExpiry must be at least 7 days (P7D), got %s.", i, t.TimeBeforeExpiry)
			}
			if expiry != nil {
				base := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
				if !d.addTo(base).Before(expiry.addTo(base)) {
					return badParameter("timeBeforeExpiry (%s) must be shorter than the policy's expiryTime (%s).", t.TimeBeforeExpiry, p.Attributes.ExpiryTime)
				}
			}
		}
	}
	return nil
}

func defaultPolicy() rotationPolicy {
	var p rotationPolicy
	a := lifetimeAction{}
	a.Trigger.TimeBeforeExpiry = "P30D"
	a.Action.Type = "Notify"
	p.LifetimeActions = []lifetimeAction{a}
	return p
}

func (c *call) policyView(name string, p rotationPolicy) map[string]any {
	attrs := map[string]any{}
	if p.Attributes.ExpiryTime != "" {
		attrs["expiryTime"] = p.Attributes.ExpiryTime
	}
	if p.Attributes.Created != 0 {
		attrs["created"], attrs["updated"] = p.Attributes.Created, p.Attributes.Updated
	}
	actions := p.LifetimeActions
	if actions == nil {
		actions = []lifetimeAction{}
	}
	return map[string]any{"id": VaultURI(c.vault.Name) + "/keys/" + name + "/rotationpolicy",
		"lifetimeActions": actions, "attributes": attrs}
}

func (c *call) rotationPolicy(name string) (int, any, error) {
	if c.r.Method == http.MethodGet {
		var o object
		if err := c.svc.st.View(c.ctx, func(tx store.Tx) error {
			var err error
			o, err = c.loadKey(tx, name, false)
			return err
		}); err != nil {
			return 0, nil, err
		}
		if o.Policy == nil {
			return http.StatusOK, c.policyView(o.Name, defaultPolicy()), nil
		}
		return http.StatusOK, c.policyView(o.Name, *o.Policy), nil
	}
	var in rotationPolicy
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	in.LastRotated = 0
	if err := in.validate(); err != nil {
		return 0, nil, err
	}
	var o object
	err := c.svc.st.Update(c.ctx, func(tx store.Tx) error {
		var err error
		if o, err = c.loadKey(tx, name, false); err != nil {
			return err
		}
		if o.Managed {
			return managedByCertificate(keyKind, "setrotationpolicy", name)
		}
		now := c.svc.now().UTC().Unix()
		in.Attributes.Created, in.Attributes.Updated = now, now
		if o.Policy != nil {
			in.Attributes.Created, in.LastRotated = o.Policy.Attributes.Created, o.Policy.LastRotated
		}
		o.Policy = &in
		return putJSON(tx, colKeys, objKey(c.vault.Name, name), o)
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.policyView(o.Name, in), nil
}

// rotationDue reports whether a policy's Rotate action has fired for the current version.
func rotationDue(p *rotationPolicy, cur keyVersion, now time.Time) bool {
	if p == nil {
		return false
	}
	for _, a := range p.LifetimeActions {
		if a.Action.Type != "Rotate" {
			continue
		}
		if a.Trigger.TimeAfterCreate != "" {
			d, ok := parseDuration(a.Trigger.TimeAfterCreate)
			if ok && !now.Before(d.addTo(time.Unix(cur.Attributes.Created, 0).UTC())) {
				return true
			}
		}
		if a.Trigger.TimeBeforeExpiry != "" && cur.Attributes.Expires != nil {
			d, ok := parseDuration(a.Trigger.TimeBeforeExpiry)
			if ok && !now.Before(d.subFrom(time.Unix(*cur.Attributes.Expires, 0).UTC())) {
				return true
			}
		}
	}
	return false
}

// RotateDue rotates every key whose rotation policy's Rotate action has fired, renews every
// Self certificate whose policy's AutoRenew action has fired, and purges soft-deleted keys,
// secrets and certificates past their scheduled purge date. It returns the ids of the new
// key and certificate versions.
func (s *Service) RotateDue(ctx context.Context) ([]string, error) {
	var vaults []Vault
	if err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		vaults, err = ListVaultsTx(tx)
		return err
	}); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	var rotated []string
	for _, v := range vaults {
		if v.Deleted() {
			continue
		}
		c := &call{ctx: ctx, vault: v, svc: s}
		var due, renew []string
		if err := s.st.Update(ctx, func(tx store.Tx) error {
			if err := purgeExpiredTx(tx, v, now); err != nil {
				return err
			}
			objs, cur, err := c.keysTx(tx, false)
			if err != nil {
				return err
			}
			for _, o := range objs {
				if rotationDue(o.Policy, cur[strings.ToLower(o.Name)], now) {
					due = append(due, o.Name)
				}
			}
			certs, current, err := c.certsTx(tx, false, false)
			for _, o := range certs {
				if renewalDue(o.CertPolicy, current[strings.ToLower(o.Name)], now) {
					renew = append(renew, o.Name)
				}
			}
			return err
		}); err != nil {
			return rotated, err
		}
		for _, name := range renew {
			rc := &call{ctx: ctx, vault: v, svc: s, body: []byte("{}")}
			if _, _, err := rc.createCertificate(name); err != nil {
				return rotated, err
			}
			var cv certVersion
			_ = s.st.View(ctx, func(tx store.Tx) error {
				var err error
				_, cv, err = rc.loadCert(tx, name, "")
				return err
			})
			if cv.Version != "" {
				rotated = append(rotated, rc.certID(cv.Name, cv.Version))
			}
		}
		for _, name := range due {
			_, body, err := c.rotate(name)
			if err != nil {
				return rotated, err
			}
			if b, ok := body.(map[string]any); ok {
				if j, ok := b["key"].(jsonWebKey); ok {
					rotated = append(rotated, j.Kid)
				}
			}
			_ = s.st.Update(ctx, func(tx store.Tx) error {
				o, err := c.loadKey(tx, name, false)
				if err != nil || o.Policy == nil {
					return err
				}
				o.Policy.LastRotated = now.Unix()
				return putJSON(tx, colKeys, objKey(v.Name, name), o)
			})
		}
	}
	return rotated, nil
}

// purgeExpiredTx removes soft-deleted keys and secrets of v whose scheduled purge date has
// passed, as Key Vault does at the end of the retention period.
func purgeExpiredTx(tx store.Tx, v Vault, now time.Time) error {
	for _, cols := range [][2]string{{colKeys, colKeyVersions}, {colSecrets, colSecretVersions}, {colCertificates, colCertificateVersions}} {
		items, err := tx.List(cols[0], vaultKey(v.Name)+"/")
		if err != nil {
			return err
		}
		for _, it := range items {
			var o struct {
				Deleted *deletion `json:"deleted"`
			}
			if json.Unmarshal(it.Value, &o) != nil || o.Deleted == nil || now.Unix() < o.Deleted.ScheduledPurgeDate {
				continue
			}
			if err := purgeObjectTx(tx, cols[0], cols[1], it.Key); err != nil {
				return err
			}
		}
	}
	return nil
}

// Run evaluates rotation policies and scheduled purges every RotationInterval until ctx ends.
func (s *Service) Run(ctx context.Context, logf func(msg string, args ...any)) {
	if s.settings.RotationInterval <= 0 {
		return
	}
	t := time.NewTicker(s.settings.RotationInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rotated, err := s.RotateDue(ctx)
			if err != nil && ctx.Err() == nil {
				logf("key rotation sweep failed", "error", err)
			}
			for _, id := range rotated {
				logf("new version made by its policy (key rotation or certificate AutoRenew)", "id", id)
			}
		}
	}
}

// renewalDue reports whether a Self certificate's AutoRenew lifetime action has fired for
// its current version: at a percentage of its lifetime, or days before it expires.
func renewalDue(p *certPolicy, cur *certVersion, now time.Time) bool {
	if p == nil || cur == nil || p.Issuer == nil || !strings.EqualFold(p.Issuer.Name, issuerSelf) ||
		cur.Attributes.NotBefore == nil || cur.Attributes.Expires == nil {
		return false
	}
	nbf, exp := time.Unix(*cur.Attributes.NotBefore, 0), time.Unix(*cur.Attributes.Expires, 0)
	for _, a := range p.LifetimeActions {
		if a.Action.ActionType != "AutoRenew" {
			continue
		}
		var at time.Time
		switch {
		case a.Trigger.LifetimePercentage != nil:
			at = nbf.Add(exp.Sub(nbf) / 100 * time.Duration(*a.Trigger.LifetimePercentage))
		case a.Trigger.DaysBeforeExpiry != nil:
			at = exp.AddDate(0, 0, -*a.Trigger.DaysBeforeExpiry)
		default:
			continue
		}
		if !now.Before(at) {
			return true
		}
	}
	return false
}
