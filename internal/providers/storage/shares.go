package storage

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/arm"
	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/files"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// fileServices is .../storageAccounts/{a}/fileServices[/default]: the account's one file
// service, with its (echoed) properties.
type fileServices struct{}

func (fileServices) ServeARM(c *arm.Call) (int, any, error) {
	account := c.ID.Names[0]
	accountID := c.ID.Scope + "/providers/Microsoft.Storage/storageAccounts/" + account
	if err := checkAccount(c, accountID); err != nil {
		return 0, nil, err
	}
	if !c.ID.IsCollection() && !strings.EqualFold(c.ID.Name(), "default") {
		return 0, nil, azerr.NotFound("ResourceNotFound", "The file service '%s' does not exist: an account has one file service, 'default'.", c.ID.Name())
	}
	view := func(p files.ServiceProperties) map[string]any {
		rules := []map[string]any{}
		for _, r := range p.Cors {
			rules = append(rules, map[string]any{"allowedOrigins": nonNilStrings(r.AllowedOrigins), "allowedMethods": nonNilStrings(r.AllowedMethods),
				"allowedHeaders": nonNilStrings(r.AllowedHeaders), "exposedHeaders": nonNilStrings(r.ExposedHeaders), "maxAgeInSeconds": r.MaxAgeInSeconds})
		}
		smb := map[string]any{}
		if p.SMB.Multichannel != nil {
			smb["multichannel"] = map[string]any{"enabled": *p.SMB.Multichannel}
		}
		for k, v := range map[string]string{"versions": p.SMB.Versions, "authenticationMethods": p.SMB.AuthenticationMethods,
			"kerberosTicketEncryption": p.SMB.KerberosTicketEncryption, "channelEncryption": p.SMB.ChannelEncryption} {
			if v != "" {
				smb[k] = v
			}
		}
		retention := map[string]any{"enabled": p.ShareDeleteRetention.Enabled}
		if p.ShareDeleteRetention.Days > 0 {
			retention["days"] = p.ShareDeleteRetention.Days
		}
		return map[string]any{"id": accountID + "/fileServices/default", "name": "default", "type": "Microsoft.Storage/storageAccounts/fileServices",
			"properties": map[string]any{"cors": map[string]any{"corsRules": rules}, "shareDeleteRetentionPolicy": retention,
				"protocolSettings": map[string]any{"smb": smb}}}
	}
	var props files.ServiceProperties
	switch c.R.Method {
	case http.MethodGet:
		if err := c.Authorize("Microsoft.Storage/storageAccounts/fileServices/read", accountID); err != nil {
			return 0, nil, err
		}
		if err := c.Svc.Store().View(c.Ctx, func(tx store.Tx) error {
			var err error
			props, err = files.GetServicePropertiesTx(tx, account)
			return err
		}); err != nil {
			return 0, nil, err
		}
		if c.ID.IsCollection() {
			return http.StatusOK, map[string]any{"value": []any{view(props)}}, nil
		}
		return http.StatusOK, view(props), nil
	case http.MethodPut, http.MethodPatch:
		if c.ID.IsCollection() {
			return 0, nil, methodNotAllowed(c.R)
		}
		if err := c.Authorize("Microsoft.Storage/storageAccounts/fileServices/write", accountID); err != nil {
			return 0, nil, err
		}
		var in struct {
			Properties struct {
				Cors *struct {
					CorsRules []struct {
						AllowedOrigins  []string `json:"allowedOrigins"`
						AllowedMethods  []string `json:"allowedMethods"`
						AllowedHeaders  []string `json:"allowedHeaders"`
						ExposedHeaders  []string `json:"exposedHeaders"`
						MaxAgeInSeconds int      `json:"maxAgeInSeconds"`
					} `json:"corsRules"`
				} `json:"cors"`
				ShareDeleteRetentionPolicy *struct {
					Enabled bool `json:"enabled"`
					Days    int  `json:"days"`
				} `json:"shareDeleteRetentionPolicy"`
				ProtocolSettings *struct {
					SMB *struct {
						Multichannel *struct {
							Enabled bool `json:"enabled"`
						} `json:"multichannel"`
						Versions                 string `json:"versions"`
						AuthenticationMethods    string `json:"authenticationMethods"`
						KerberosTicketEncryption string `json:"kerberosTicketEncryption"`
						ChannelEncryption        string `json:"channelEncryption"`
					} `json:"smb"`
				} `json:"protocolSettings"`
			} `json:"properties"`
		}
		if err := c.Decode(&in); err != nil {
			return 0, nil, err
		}
		// The properties a request carries replace the stored ones; the others stay.
		err := c.Svc.Store().Update(c.Ctx, func(tx store.Tx) error {
			var err error
			if props, err = files.GetServicePropertiesTx(tx, account); err != nil {
				return err
			}
			p := in.Properties
			if p.Cors != nil {
				props.Cors = nil
				for _, r := range p.Cors.CorsRules {
					props.Cors = append(props.Cors, files.CorsRule{AllowedOrigins: r.AllowedOrigins, AllowedMethods: r.AllowedMethods,
						AllowedHeaders: r.AllowedHeaders, ExposedHeaders: r.ExposedHeaders, MaxAgeInSeconds: r.MaxAgeInSeconds})
				}
			}
			if r := p.ShareDeleteRetentionPolicy; r != nil {
				props.ShareDeleteRetention = files.Retention{Enabled: r.Enabled, Days: r.Days}
			}
			if ps := p.ProtocolSettings; ps != nil && ps.SMB != nil {
				s := ps.SMB
				props.SMB = files.SMBSettings{Versions: s.Versions, AuthenticationMethods: s.AuthenticationMethods,
					KerberosTicketEncryption: s.KerberosTicketEncryption, ChannelEncryption: s.ChannelEncryption}
				if s.Multichannel != nil {
					props.SMB.Multichannel = &s.Multichannel.Enabled
				}
			}
			return files.PutServicePropertiesTx(tx, account, props)
		})
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, view(props), nil
	}
	return 0, nil, methodNotAllowed(c.R)
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func checkAccount(c *arm.Call, accountID string) error {
	return c.Svc.Store().View(c.Ctx, func(tx store.Tx) error {
		_, err := arm.GetResourceTx(tx, accountID)
		return err
	})
}

// shares is .../fileServices/default/shares[/{share}].
type shares struct{}

func shareView(accountID string, s files.Share) map[string]any {
	meta := s.Metadata
	if meta == nil {
		meta = map[string]string{}
	}
	props := map[string]any{"shareQuota": s.Quota, "accessTier": s.AccessTier, "enabledProtocols": s.EnabledProtocols,
		"lastModifiedTime": s.LastModified, "metadata": meta, "shareUsageBytes": s.UsedBytes, "accessTierChangeTime": s.Created}
	status, state, duration := files.LeaseView(s, time.Now())
	props["leaseStatus"], props["leaseState"] = status, state
	if duration != "" {
		props["leaseDuration"] = duration
	}
	return map[string]any{"id": accountID + "/fileServices/default/shares/" + s.Name, "name": s.Name, "type": ShareType,
		"etag": s.ETag, "properties": props}
}

// shareLease is fileServices/default/shares/{share}/lease (POST), Resource Manager's lease
// action on a share.
type shareLease struct{}

func (shareLease) ServeARM(c *arm.Call) (int, any, error) {
	if c.R.Method != http.MethodPost || len(c.ID.Names) < 3 {
		return 0, nil, methodNotAllowed(c.R)
	}
	account, name := c.ID.Names[0], c.ID.Names[2]
	id := c.ID.Parent()
	if err := c.Authorize(ShareType+"/lease/action", id); err != nil {
		return 0, nil, err
	}
	var in struct {
		Action          string `json:"action"`
		LeaseID         string `json:"leaseId"`
		BreakPeriod     *int   `json:"breakPeriod"`
		LeaseDuration   *int   `json:"leaseDuration"`
		ProposedLeaseID string `json:"proposedLeaseId"`
	}
	if err := c.Decode(&in); err != nil {
		return 0, nil, err
	}
	r := files.ShareLeaseRequest{Action: in.Action, ID: in.LeaseID, ProposedID: in.ProposedLeaseID, Duration: -1, BreakPeriod: in.BreakPeriod}
	if in.LeaseDuration != nil {
		r.Duration = *in.LeaseDuration
	}
	var res files.ShareLeaseResult
	err := c.Svc.Store().Update(c.Ctx, func(tx store.Tx) error {
		var err error
		res, err = files.LeaseShareTx(tx, account, name, r, time.Now())
		return err
	})
	if err != nil {
		return 0, nil, asARMNotFound(err, id)
	}
	out := map[string]any{}
	if res.ID != "" && !strings.EqualFold(in.Action, "release") {
		out["leaseId"] = res.ID
	}
	if strings.EqualFold(in.Action, "break") {
		out["leaseTimeSeconds"] = strconv.Itoa(res.Seconds)
	}
	return http.StatusOK, out, nil
}

func (shares) ServeARM(c *arm.Call) (int, any, error) {
	if len(c.ID.Names) < 2 || !strings.EqualFold(c.ID.Names[1], "default") {
		return 0, nil, azerr.NotFound("ResourceNotFound", "Shares live under fileServices/default.")
	}
	account := c.ID.Names[0]
	accountID := c.ID.Scope + "/providers/Microsoft.Storage/storageAccounts/" + account
	if err := checkAccount(c, accountID); err != nil {
		return 0, nil, err
	}
	if c.ID.IsCollection() {
		if c.R.Method != http.MethodGet {
			return 0, nil, methodNotAllowed(c.R)
		}
		if err := c.Authorize(ShareType+"/read", accountID+"/fileServices/default"); err != nil {
			return 0, nil, err
		}
		var list []files.Share
		if err := c.Svc.Store().View(c.Ctx, func(tx store.Tx) error {
			var err error
			list, err = files.ListSharesTx(tx, account)
			return err
		}); err != nil {
			return 0, nil, err
		}
		out := []any{}
		for _, s := range list {
			out = append(out, shareView(accountID, s))
		}
		return http.StatusOK, map[string]any{"value": out}, nil
	}
	name := c.ID.Name()
	id := accountID + "/fileServices/default/shares/" + name
	switch c.R.Method {
	case http.MethodGet:
		if err := c.Authorize(ShareType+"/read", id); err != nil {
			return 0, nil, err
		}
		var s files.Share
		err := c.Svc.Store().View(c.Ctx, func(tx store.Tx) error {
			var err error
			s, err = files.GetShareTx(tx, account, name)
			return err
		})
		if err != nil {
			return 0, nil, asARMNotFound(err, id)
		}
		return http.StatusOK, shareView(accountID, s), nil
	case http.MethodPut, http.MethodPatch:
		if err := c.Authorize(ShareType+"/write", id); err != nil {
			return 0, nil, err
		}
		var in struct {
			Properties struct {
				ShareQuota       *int              `json:"shareQuota"`
				AccessTier       *string           `json:"accessTier"`
				EnabledProtocols *string           `json:"enabledProtocols"`
				Metadata         map[string]string `json:"metadata"`
			} `json:"properties"`
		}
		if len(c.Body) > 0 {
			if err := c.Decode(&in); err != nil {
				return 0, nil, err
			}
		}
		p := in.Properties
		if p.AccessTier != nil {
			switch *p.AccessTier {
			case "TransactionOptimized", "Hot", "Cool", "Premium":
			default:
				return 0, nil, bad("InvalidValuesForRequestParameters", "accessTier '%s' is invalid: use TransactionOptimized, Hot, Cool or Premium.", *p.AccessTier)
			}
		}
		if p.EnabledProtocols != nil && *p.EnabledProtocols != "SMB" && *p.EnabledProtocols != "NFS" {
			return 0, nil, bad("InvalidValuesForRequestParameters", "enabledProtocols '%s' is invalid: use SMB or NFS.", *p.EnabledProtocols)
		}
		status := http.StatusOK
		var out files.Share
		now := time.Now()
		err := c.Svc.Store().Update(c.Ctx, func(tx store.Tx) error {
			s, err := files.GetShareTx(tx, account, name)
			exists := err == nil
			if !exists {
				if c.R.Method == http.MethodPatch {
					return asARMNotFound(err, id)
				}
				s = files.Share{Name: name}
			}
			if p.ShareQuota != nil {
				if *p.ShareQuota < 1 || *p.ShareQuota > files.DefaultQuota {
					return bad("InvalidValuesForRequestParameters", "shareQuota must be between 1 and %d GiB.", files.DefaultQuota)
				}
				if exists && int64(*p.ShareQuota)<<30 < s.UsedBytes {
					return bad("InvalidValuesForRequestParameters", "shareQuota %d GiB is less than the share's usage.", *p.ShareQuota)
				}
				s.Quota = *p.ShareQuota
			}
			if p.AccessTier != nil {
				s.AccessTier = *p.AccessTier
			}
			if p.EnabledProtocols != nil {
				if exists && *p.EnabledProtocols != s.EnabledProtocols {
					return bad("InvalidValuesForRequestParameters", "enabledProtocols cannot be changed once the share exists.")
				}
				s.EnabledProtocols = *p.EnabledProtocols
			}
			if p.Metadata != nil {
				s.Metadata = p.Metadata
			}
			if !exists {
				status = http.StatusCreated
				out, err = files.CreateShareTx(tx, account, s, now)
				return err
			}
			s.LastModified = now.UTC()
			out = s
			return files.PutShareTx(tx, account, s)
		})
		if err != nil {
			return 0, nil, err
		}
		return status, shareView(accountID, out), nil
	case http.MethodDelete:
		if err := c.Authorize(ShareType+"/delete", id); err != nil {
			return 0, nil, err
		}
		status := http.StatusOK
		err := c.Svc.Store().Update(c.Ctx, func(tx store.Tx) error {
			if s, err := files.GetShareTx(tx, account, name); err == nil {
				// A leased share stays until its lease is released or broken.
				if err := files.CheckShareDelete(s, "", time.Now()); err != nil {
					return err
				}
			}
			// $include: snapshots (the default) or leased-snapshots delete the share's
			// snapshots with it; none refuses while it has any.
			include := "include"
			if strings.EqualFold(c.R.URL.Query().Get("$include"), "none") {
				include = ""
			}
			err := files.DeleteShareWithSnapshotsTx(tx, account, name, include, time.Now())
			if e, ok := azerr.As(err); ok && e.Status == http.StatusNotFound {
				status = http.StatusNoContent
				return nil
			}
			return err
		})
		return status, nil, err
	}
	return 0, nil, methodNotAllowed(c.R)
}

func asARMNotFound(err error, id string) error {
	if e, ok := azerr.As(err); ok && e.Status == http.StatusNotFound {
		return azerr.NotFound("ResourceNotFound", "The share '%s' was not found.", id)
	}
	return err
}

var _ = json.Marshal
