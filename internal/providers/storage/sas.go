package storage

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/arm"
	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/files"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// listAccountSas and listServiceSas: shared access signatures the service computes with an
// account key, for callers holding the action (the same tokens a client signs locally).

// sasVersion is the signed version of the tokens made here.
const sasVersion = "2022-11-02"

type sasAction struct {
	p       *Provider
	account bool // listAccountSas; else listServiceSas
}

type sasIn struct {
	// Account SAS.
	Services      string `json:"signedServices"`
	ResourceTypes string `json:"signedResourceTypes"`
	// Service SAS.
	CanonicalizedResource string `json:"canonicalizedResource"`
	Resource              string `json:"signedResource"`
	Identifier            string `json:"signedIdentifier"`
	CacheControl          string `json:"rscc"`
	ContentDisposition    string `json:"rscd"`
	ContentEncoding       string `json:"rsce"`
	ContentLanguage       string `json:"rscl"`
	ContentType           string `json:"rsct"`
	// Both.
	Permission string     `json:"signedPermission"`
	IP         string     `json:"signedIp"`
	Protocol   string     `json:"signedProtocol"`
	Start      *time.Time `json:"signedStart"`
	Expiry     *time.Time `json:"signedExpiry"`
	KeyToSign  string     `json:"keyToSign"`
}

func (s sasAction) ServeARM(c *arm.Call) (int, any, error) {
	if c.R.Method != http.MethodPost {
		return 0, nil, methodNotAllowed(c.R)
	}
	id := c.ID.Parent()
	action := AccountType + "/listServiceSas/action"
	if s.account {
		action = AccountType + "/listAccountSas/action"
	}
	if err := c.Authorize(action, id); err != nil {
		return 0, nil, err
	}
	var in sasIn
	if err := c.Decode(&in); err != nil {
		return 0, nil, err
	}
	bad := func(format string, args ...any) error {
		return azerr.BadRequest("InvalidValuesForRequestParameters", format, args...)
	}
	if in.Expiry == nil {
		return 0, nil, bad("signedExpiry is required.")
	}
	if in.Permission == "" {
		return 0, nil, bad("signedPermission is required.")
	}
	keyName := in.KeyToSign
	if keyName == "" {
		keyName = "key1"
	}
	v := url.Values{"sv": {sasVersion}, "sp": {in.Permission}, "se": {in.Expiry.UTC().Format("2006-01-02T15:04:05Z")}}
	if in.Start != nil {
		v.Set("st", in.Start.UTC().Format("2006-01-02T15:04:05Z"))
	}
	if in.IP != "" {
		v.Set("sip", in.IP)
	}
	if in.Protocol != "" {
		v.Set("spr", in.Protocol)
	}
	var toSign string
	account := c.ID.Names[0]
	if s.account {
		if in.Services == "" || in.ResourceTypes == "" {
			return 0, nil, bad("signedServices and signedResourceTypes are required.")
		}
		v.Set("ss", in.Services)
		v.Set("srt", in.ResourceTypes)
		toSign = files.AccountSASStringToSign(account, v)
	} else {
		parts := strings.SplitN(strings.TrimPrefix(in.CanonicalizedResource, "/"), "/", 3)
		if len(parts) < 3 || !strings.EqualFold(parts[1], account) {
			return 0, nil, bad("canonicalizedResource must be /<service>/%s/<container or share>[/<path>].", account)
		}
		if in.Resource == "" {
			return 0, nil, bad("signedResource is required.")
		}
		v.Set("sr", in.Resource)
		for k, val := range map[string]string{"si": in.Identifier, "rscc": in.CacheControl, "rscd": in.ContentDisposition, "rsce": in.ContentEncoding,
			"rscl": in.ContentLanguage, "rsct": in.ContentType} {
			if val != "" {
				v.Set(k, val)
			}
		}
		switch strings.ToLower(parts[0]) {
		case "file":
			toSign = files.FileSASStringToSign(in.CanonicalizedResource, v)
		case "blob":
			// The Blob service's layout (version 2020-12-06 and later): signed resource,
			// snapshot time and encryption scope between the version and the headers.
			toSign = strings.Join([]string{v.Get("sp"), v.Get("st"), v.Get("se"), in.CanonicalizedResource, v.Get("si"), v.Get("sip"), v.Get("spr"),
				v.Get("sv"), v.Get("sr"), "", "", v.Get("rscc"), v.Get("rscd"), v.Get("rsce"), v.Get("rscl"), v.Get("rsct")}, "\n")
		default:
			return 0, nil, bad("canonicalizedResource must start with /file/ or /blob/.")
		}
	}
	var sig string
	err := c.Svc.Store().View(c.Ctx, func(tx store.Tx) error {
		if _, err := arm.GetResourceTx(tx, id); err != nil {
			return err
		}
		a, err := files.GetAccountTx(tx, account)
		if err != nil {
			return err
		}
		keys, err := files.AccountKeys(s.p.barrier, a)
		if err != nil {
			return err
		}
		key, ok := keys[keyName]
		if !ok {
			return bad("keyToSign '%s' is invalid: use key1 or key2.", keyName)
		}
		if sig, ok = files.SignWithKey(key, toSign); !ok {
			return azerr.New(http.StatusInternalServerError, "InternalError", "The account key cannot sign.")
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	v.Set("sig", sig)
	if s.account {
		return http.StatusOK, map[string]string{"accountSasToken": v.Encode()}, nil
	}
	return http.StatusOK, map[string]string{"serviceSasToken": v.Encode()}, nil
}
