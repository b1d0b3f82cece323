package keyvault

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cerulean-azure/cerulean/internal/azerr"
)

// Key Vault's documented service limits, per vault per 10 seconds: key creation and, for
// every other key transaction, a budget by key size and protection (software / HSM). Secret
// and vault transactions share 4,000. Cerulean budgets a transaction on an RSA key by the
// class named in its path when the key is known at admission time; other key operations use
// the RSA-2048 software budget.
const throttleWindow = 10 * time.Second

var throttleBudgets = map[string]int{
	"create":   20,
	"keys":     4000, // RSA-2048 and EC P-256 software keys
	"keys3072": 1000,
	"keys4096": 500,
	"hsm":      2000,
	"hsm3072":  500,
	"hsm4096":  250,
	"secrets":  4000,
}

type throttle struct {
	mu      sync.Mutex
	windows map[string]*window // vault|class
}

type window struct {
	start time.Time
	n     int
}

func newThrottle() *throttle { return &throttle{windows: map[string]*window{}} }

// class names the budget a request draws from.
func (c *call) throttleClass(segs []string) string {
	switch strings.ToLower(segs[0]) {
	case "secrets", "deletedsecrets", "certificates", "deletedcertificates":
		return "secrets"
	}
	if len(segs) >= 3 && strings.EqualFold(segs[2], "create") {
		return "create"
	}
	class := "keys"
	if len(segs) >= 2 {
		if size, hsm, ok := c.svc.keyClass(c, segs[1]); ok {
			if hsm {
				class = "hsm"
			}
			if size > 2048 {
				class += strconv.Itoa(size)
			}
		}
	}
	return class
}

// allow admits a request or answers 429 with Retry-After, when throttling is on.
func (t *throttle) allow(c *call, segs []string) error {
	if !c.svc.settings.Throttle {
		return nil
	}
	class := c.throttleClass(segs)
	budget := throttleBudgets[class]
	now := c.svc.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	k := strings.ToLower(c.vault.Name) + "|" + class
	w := t.windows[k]
	if w == nil || now.Sub(w.start) >= throttleWindow {
		w = &window{start: now}
		t.windows[k] = w
	}
	if w.n >= budget {
		retry := int((throttleWindow - now.Sub(w.start) + time.Second - 1) / time.Second)
		return azerr.New(http.StatusTooManyRequests, "Throttled",
			"Requests are throttled: vault '%s' allows %d %s transactions per 10 seconds. Retry after %d seconds.", c.vault.Name, budget, class, retry).
			WithHeader("Retry-After", strconv.Itoa(retry))
	}
	w.n++
	return nil
}
