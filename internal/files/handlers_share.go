package files

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/store"
)

func (q *request) serveService() error {
	switch {
	case q.r.Method == http.MethodGet && q.q("comp") == "list":
		return q.listShares()
	case q.r.Method == http.MethodPost && q.q("restype") == "service" && q.q("comp") == "userdelegationkey":
		return q.userDelegationKey()
	case q.q("restype") == "service" && q.q("comp") == "properties":
		return q.serviceProperties()
	}
	return azerr.BadRequest("InvalidQueryParameterValue", "Value for one of the query parameters specified in the request URI is invalid: the account root serves ?comp=list and ?restype=service&comp=properties.")
}

type xmlMetadata map[string]string

func (m xmlMetadata) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	for k, v := range m {
		if err := e.EncodeElement(v, xml.StartElement{Name: xml.Name{Local: k}}); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

func (q *request) listShares() error {
	max, err := maxResults(q)
	if err != nil {
		return err
	}
	var list []Share
	include := q.q("include")
	withSnapshots, withDeleted := strings.Contains(include, "snapshots"), strings.Contains(include, "deleted")
	now := q.svc.now()
	if err := q.svc.st.View(q.ctx, func(tx store.Tx) error {
		all, err := listAllSharesTx(tx, q.account.Name)
		for _, s := range all {
			switch {
			case s.Deleted && (!withDeleted || s.Snapshot != "" || s.expired(now)):
			case s.Snapshot != "" && !withSnapshots:
			default:
				list = append(list, s)
			}
		}
		return err
	}); err != nil {
		return err
	}
	// By name; a share's snapshots, oldest first, before the share itself.
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if (a.Snapshot == "") != (b.Snapshot == "") {
			return b.Snapshot == ""
		}
		if a.Snapshot != b.Snapshot {
			return a.Snapshot < b.Snapshot
		}
		return a.Version < b.Version
	})
	type shareProps struct {
		LastModified     string `xml:"Last-Modified"`
		Etag             string `xml:"Etag"`
		Quota            int    `xml:"Quota"`
		AccessTier       string `xml:"AccessTier"`
		LeaseStatus      string `xml:"LeaseStatus"`
		LeaseState       string `xml:"LeaseState"`
		EnabledProtocols string `xml:"EnabledProtocols"`
		SnapshotVDA      *bool  `xml:"EnableSnapshotVirtualDirectoryAccess,omitempty"`
		SMBDirLease      *bool  `xml:"EnableSMBDirectoryLease,omitempty"`
		DeletedTime      string `xml:"DeletedTime,omitempty"`
		RemainingDays    *int   `xml:"RemainingRetentionDays,omitempty"`
		// A premium share's provisioned figures and paid bursting.
		ProvisionedIops      *int   `xml:"ProvisionedIops,omitempty"`
		ProvisionedIngress   *int   `xml:"ProvisionedIngressMBps,omitempty"`
		ProvisionedEgress    *int   `xml:"ProvisionedEgressMBps,omitempty"`
		ProvisionedBandwidth *int   `xml:"ProvisionedBandwidthMiBps,omitempty"`
		NextDowngrade        string `xml:"NextAllowedQuotaDowngradeTime,omitempty"`
		PaidBursting         *bool  `xml:"PaidBurstingEnabled,omitempty"`
		PaidBurstingIops     *int64 `xml:"PaidBurstingMaxIops,omitempty"`
		PaidBurstingMibps    *int64 `xml:"PaidBurstingMaxBandwidthMibps,omitempty"`
	}
	type shareItem struct {
		Name       string       `xml:"Name"`
		Snapshot   string       `xml:"Snapshot,omitempty"`
		Deleted    bool         `xml:"Deleted,omitempty"`
		Version    string       `xml:"Version,omitempty"`
		Properties shareProps   `xml:"Properties"`
		Metadata   *xmlMetadata `xml:"Metadata,omitempty"`
	}
	prefix, marker := q.q("prefix"), q.q("marker")
	withMeta := strings.Contains(q.q("include"), "metadata")
	var items []shareItem
	next := ""
	for _, s := range list {
		if !strings.HasPrefix(s.Name, prefix) || s.Name < marker {
			continue
		}
		if len(items) == max {
			next = s.Name
			break
		}
		it := shareItem{Name: s.Name, Snapshot: s.Snapshot, Properties: shareProps{LastModified: s.LastModified.Format(http.TimeFormat), Etag: s.ETag,
			Quota: s.Quota, AccessTier: s.AccessTier, LeaseStatus: "unlocked", LeaseState: "available", EnabledProtocols: s.EnabledProtocols,
			SnapshotVDA: s.snapshotVirtualDirectoryAccess(), SMBDirLease: s.smbDirectoryLease()}, Deleted: s.Deleted, Version: s.Version}
		if q.account.Premium {
			pv := provisionedFor(s)
			pr := &it.Properties
			pr.ProvisionedIops, pr.ProvisionedIngress, pr.ProvisionedEgress, pr.ProvisionedBandwidth = &pv.IOPS, &pv.IngressMBps, &pv.EgressMBps, &pv.BandwidthMiBps
			pr.NextDowngrade = pv.NextDowngrade.Format(http.TimeFormat)
			if b := s.PaidBursting; b != nil {
				pr.PaidBursting = &b.Enabled
				if b.MaxIops > 0 {
					pr.PaidBurstingIops = &b.MaxIops
				}
				if b.MaxBandwidthMibps > 0 {
					pr.PaidBurstingMibps = &b.MaxBandwidthMibps
				}
			}
		}
		if s.Deleted {
			days := s.remainingDays(now)
			it.Properties.DeletedTime, it.Properties.RemainingDays = s.DeletedTime.Format(http.TimeFormat), &days
		}
		if withMeta {
			m := xmlMetadata(s.Metadata)
			it.Metadata = &m
		}
		items = append(items, it)
	}
	return writeXML(q.w, struct {
		XMLName         xml.Name    `xml:"EnumerationResults"`
		ServiceEndpoint string      `xml:"ServiceEndpoint,attr"`
		Prefix          string      `xml:"Prefix,omitempty"`
		Marker          string      `xml:"Marker,omitempty"`
		MaxResults      string      `xml:"MaxResults,omitempty"`
		Shares          []shareItem `xml:"Shares>Share"`
		NextMarker      string      `xml:"NextMarker"`
	}{ServiceEndpoint: q.base + "/", Prefix: prefix, Marker: marker, MaxResults: q.q("maxresults"), Shares: items, NextMarker: next})
}

func shareHeaders(w http.ResponseWriter, s Share) {
	w.Header().Set("ETag", s.ETag)
	w.Header().Set("Last-Modified", s.LastModified.Format(http.TimeFormat))
}

func (q *request) serveShare() error {
	m := q.r.Method
	switch comp := q.q("comp"); {
	case comp == "" && m == http.MethodPut:
		meta, err := metadataFrom(q.r.Header)
		if err != nil {
			return err
		}
		s := Share{Name: q.share, Metadata: meta, AccessTier: q.r.Header.Get("x-ms-access-tier"), EnabledProtocols: q.r.Header.Get("x-ms-enabled-protocols")}
		if err := s.setShareFlags(q.r.Header); err != nil {
			return err
		}
		if err := s.setPaidBursting(q.account, q.r.Header); err != nil {
			return err
		}
		if v := q.r.Header.Get("x-ms-share-quota"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > DefaultQuota {
				return invalidHeader("x-ms-share-quota", "must be 1-"+strconv.Itoa(DefaultQuota)+" GiB")
			}
			s.Quota = n
		}
		if q.svc.beingDeleted(q.account.Name, q.share) {
			return errShareBeingDeleted()
		}
		err = q.svc.st.Update(q.ctx, func(tx store.Tx) error {
			var err error
			s, err = CreateShareTx(tx, q.account.Name, s, q.svc.now())
			return err
		})
		if err != nil {
			return err
		}
		shareHeaders(q.w, s)
		q.w.WriteHeader(http.StatusCreated)
		return nil
	case comp == "" && (m == http.MethodGet || m == http.MethodHead):
		s, err := q.viewShare()
		if err != nil {
			return err
		}
		shareHeaders(q.w, s)
		writeMetadata(q.w, s.Metadata)
		q.w.Header().Set("x-ms-share-quota", strconv.Itoa(s.Quota))
		q.w.Header().Set("x-ms-access-tier", s.AccessTier)
		q.w.Header().Set("x-ms-enabled-protocols", s.EnabledProtocols)
		if v := s.snapshotVirtualDirectoryAccess(); v != nil {
			q.w.Header().Set("x-ms-enable-snapshot-virtual-directory-access", strconv.FormatBool(*v))
		}
		if v := s.smbDirectoryLease(); v != nil {
			q.w.Header().Set("x-ms-enable-smb-directory-lease", strconv.FormatBool(*v))
		}
		if q.account.Premium {
			premiumHeaders(q.w, s)
		}
		shareLeaseHeaders(q.w, s.Lease, q.svc.now())
		q.w.WriteHeader(http.StatusOK)
		return nil
	case comp == "lease" && m == http.MethodPut:
		return q.leaseShare()
	case comp == "snapshot" && m == http.MethodPut:
		return q.snapshotShare()
	case comp == "undelete" && m == http.MethodPut:
		return q.restoreShare()
	case comp == "acl" && m == http.MethodPut:
		return q.setShareACL()
	case comp == "acl" && (m == http.MethodGet || m == http.MethodHead):
		return q.getShareACL()
	case comp == "stats" && m == http.MethodGet:
		s, err := q.viewShare()
		if err != nil {
			return err
		}
		shareHeaders(q.w, s)
		return writeXML(q.w, struct {
			XMLName         xml.Name `xml:"ShareStats"`
			ShareUsageBytes int64    `xml:"ShareUsageBytes"`
		}{ShareUsageBytes: s.UsedBytes})
	case comp == "" && m == http.MethodDelete:
		live := false
		if err := q.svc.st.Update(q.ctx, func(tx store.Tx) error {
			s, err := GetShareTx(tx, q.account.Name, q.share)
			if err != nil {
				if e, ok := azerr.As(err); ok && e.Status == http.StatusNotFound && q.svc.beingDeleted(q.account.Name, q.share) {
					return nil // deleted moments ago, and still being deleted: accepted again
				}
				return err
			}
			if s.Snapshot != "" { // ?sharesnapshot=: that snapshot alone
				return DeleteShareTx(tx, q.account.Name, q.share)
			}
			if err := CheckShareDelete(s, q.r.Header.Get("x-ms-lease-id"), q.svc.now()); err != nil {
				return err
			}
			live = true
			return DeleteShareWithSnapshotsTx(tx, q.account.Name, q.share, q.r.Header.Get("x-ms-delete-snapshots"), q.svc.now())
		}); err != nil {
			return err
		}
		if live {
			q.svc.shareDeleted(q.account.Name, q.share)
		}
		q.w.WriteHeader(http.StatusAccepted)
		return nil
	case (comp == "metadata" || comp == "properties") && m == http.MethodPut:
		meta, err := metadataFrom(q.r.Header)
		if err != nil {
			return err
		}
		return q.changeShare(func(s *Share) error {
			if comp == "metadata" {
				s.Metadata = meta
			} else if v := q.r.Header.Get("x-ms-share-quota"); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > DefaultQuota {
					return invalidHeader("x-ms-share-quota", "must be 1-"+strconv.Itoa(DefaultQuota)+" GiB")
				}
				if int64(n)<<30 < s.UsedBytes {
					return azerr.BadRequest("InvalidHeaderValue", "The share quota %d GiB is smaller than the share's usage.", n)
				}
				s.Quota = n
			}
			if v := q.r.Header.Get("x-ms-access-tier"); v != "" && comp == "properties" {
				s.AccessTier = v
			}
			if comp == "properties" {
				if err := s.setPaidBursting(q.account, q.r.Header); err != nil {
					return err
				}
				return s.setShareFlags(q.r.Header)
			}
			return nil
		})
	case comp == "filepermission" && m == http.MethodPut:
		return q.createPermission()
	case comp == "filepermission" && m == http.MethodGet:
		return q.getPermission()
	}
	return azerr.BadRequest("UnsupportedHttpVerb", "The resource doesn't support the specified HTTP verb (%s with comp=%s).", m, q.q("comp"))
}

func (q *request) createPermission() error {
	var in struct {
		Permission string `json:"permission"`
		Format     string `json:"format"`
	}
	body, err := io.ReadAll(io.LimitReader(q.r.Body, 64<<10+1))
	if err != nil || len(body) > 64<<10 {
		return azerr.BadRequest("RequestBodyTooLarge", "The permission is larger than 64 KiB.")
	}
	if err := json.Unmarshal(body, &in); err != nil || in.Permission == "" {
		return azerr.BadRequest("InvalidXmlDocument", "The request body must be JSON {\"permission\": \"<SDDL>\"}.")
	}
	sd, err := decodePermission(in.Permission, in.Format)
	if errors.Is(err, errBadFormat) {
		return azerr.BadRequest("InvalidInput", "One of the request inputs is not valid: format must be sddl or binary, got '%s'.", in.Format)
	}
	if err != nil {
		return azerr.BadRequest("InvalidInput", "One of the request inputs is not valid: the file permission is not a valid security descriptor (%v).", err)
	}
	sddl := sd.String()
	var key string
	err = q.svc.st.Update(q.ctx, func(tx store.Tx) error {
		if _, err := GetShareTx(tx, q.account.Name, q.share); err != nil {
			return err
		}
		key, err = putPermissionTx(tx, q.account.Name, q.share, sddl)
		return err
	})
	if err != nil {
		return err
	}
	q.w.Header().Set("x-ms-file-permission-key", key)
	q.w.WriteHeader(http.StatusCreated)
	return nil
}

func (q *request) getPermission() error {
	key := q.r.Header.Get("x-ms-file-permission-key")
	if key == "" {
		return missingHeader("x-ms-file-permission-key")
	}
	var sddl string
	err := q.svc.st.View(q.ctx, func(tx store.Tx) error {
		if _, err := GetShareTx(tx, q.account.Name, q.share); err != nil {
			return err
		}
		var err error
		sddl, err = getPermissionTx(tx, q.account.Name, q.share, key)
		return err
	})
	if err != nil {
		return err
	}
	format := q.r.Header.Get("x-ms-file-permission-format")
	if f := strings.ToLower(format); f != "" && f != "sddl" && f != "binary" {
		return invalidHeader("x-ms-file-permission-format", "must be sddl or binary")
	}
	perm, name, err := encodePermission(sddl, format)
	if err != nil {
		return err
	}
	q.w.Header().Set("Content-Type", "application/json")
	q.w.WriteHeader(http.StatusOK)
	return json.NewEncoder(q.w).Encode(map[string]string{"permission": perm, "format": name})
}
