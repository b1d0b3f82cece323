package files

import (
	"math"
	"net/http"
	"strconv"
	"time"
)

// Premium (provisioned) file shares: a share of a FileStorage account is provisioned by its
// quota, and reports what that buys with Azure's published formulas for the provisioned v1
// model (IOPS: 3,000 + 1 per GiB, up to 100,000; bandwidth: 100 + 0.04 + 0.06 MiB/s per GiB,
// split into ingress and egress), and when its quota may next be lowered (24 hours after it
// was set). Paid bursting settings are kept and reported as given; Cerulean does not throttle.

// PaidBursting is a premium share's paid bursting settings.
type PaidBursting struct {
	Enabled           bool  `json:"enabled"`
	MaxIops           int64 `json:"maxIops,omitempty"`
	MaxBandwidthMibps int64 `json:"maxBandwidthMibps,omitempty"`
}

type provisioned struct {
	IOPS, IngressMBps, EgressMBps, BandwidthMiBps int
	NextDowngrade                                 time.Time
}

func provisionedFor(s Share) provisioned {
	gib := float64(s.Quota)
	ingress := min(40+int(math.Ceil(0.04*gib)), 4136)
	egress := min(60+int(math.Ceil(0.06*gib)), 6204)
	return provisioned{
		IOPS:           min(3000+s.Quota, 100000),
		IngressMBps:    ingress,
		EgressMBps:     egress,
		BandwidthMiBps: min(ingress+egress, 10340),
		NextDowngrade:  s.Created.Add(24 * time.Hour),
	}
}

// premiumHeaders are Get Share Properties' headers of a premium share.
func premiumHeaders(w http.ResponseWriter, s Share) {
	p := provisionedFor(s)
	h := w.Header()
	h.Set("x-ms-share-provisioned-iops", strconv.Itoa(p.IOPS))
	h.Set("x-ms-share-provisioned-ingress-mbps", strconv.Itoa(p.IngressMBps))
	h.Set("x-ms-share-provisioned-egress-mbps", strconv.Itoa(p.EgressMBps))
	h.Set("x-ms-share-provisioned-bandwidth-mibps", strconv.Itoa(p.BandwidthMiBps))
	h.Set("x-ms-share-next-allowed-quota-downgrade-time", p.NextDowngrade.Format(http.TimeFormat))
	if b := s.PaidBursting; b != nil {
		h.Set("x-ms-share-paid-bursting-enabled", strconv.FormatBool(b.Enabled))
		if b.MaxIops > 0 {
			h.Set("x-ms-share-paid-bursting-max-iops", strconv.FormatInt(b.MaxIops, 10))
		}
		if b.MaxBandwidthMibps > 0 {
			h.Set("x-ms-share-paid-bursting-max-bandwidth-mibps", strconv.FormatInt(b.MaxBandwidthMibps, 10))
		}
	}
}

// setPaidBursting takes x-ms-share-paid-bursting-* on Create Share and Set Share
// Properties: only premium shares burst (400 otherwise), and the limits need bursting on.
func (s *Share) setPaidBursting(a Account, h http.Header) error {
	on, iops, bw := h.Get("x-ms-share-paid-bursting-enabled"), h.Get("x-ms-share-paid-bursting-max-iops"), h.Get("x-ms-share-paid-bursting-max-bandwidth-mibps")
	if on == "" && iops == "" && bw == "" {
		return nil
	}
	if !a.Premium {
		return invalidHeader("x-ms-share-paid-bursting-enabled", "applies to premium (FileStorage) accounts' shares only")
	}
	b := PaidBursting{}
	if s.PaidBursting != nil {
		b = *s.PaidBursting
	}
	if on != "" {
		v, err := strconv.ParseBool(on)
		if err != nil {
			return invalidHeader("x-ms-share-paid-bursting-enabled", "must be true or false")
		}
		b.Enabled = v
	}
	for _, f := range []struct {
		name, v string
		to      *int64
		max     int64
	}{{"x-ms-share-paid-bursting-max-iops", iops, &b.MaxIops, 102400}, {"x-ms-share-paid-bursting-max-bandwidth-mibps", bw, &b.MaxBandwidthMibps, 10340}} {
		if f.v == "" {
			continue
		}
		n, err := strconv.ParseInt(f.v, 10, 64)
		if err != nil || n < 1 || n > f.max {
			return invalidHeader(f.name, "must be 1-"+strconv.FormatInt(f.max, 10))
		}
		if !b.Enabled {
			return invalidHeader(f.name, "needs x-ms-share-paid-bursting-enabled: true")
		}
		*f.to = n
	}
	s.PaidBursting = &b
	return nil
}
