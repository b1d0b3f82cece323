package files

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// The File service's properties: metrics, CORS rules, share soft delete and SMB settings,
// one record per account that the REST API (Get/Set File Service Properties) and Resource
// Manager (fileServices/default) both read and write.

const colServiceProps = "files.serviceProperties" // account → ServiceProperties

// ServiceProperties are an account's File service properties.
type ServiceProperties struct {
	HourMetrics   Metrics    `json:"hourMetrics"`
	MinuteMetrics Metrics    `json:"minuteMetrics"`
	Cors          []CorsRule `json:"cors,omitempty"`
	// ShareDeleteRetention is share soft delete: deleted shares are kept this many days.
	ShareDeleteRetention Retention   `json:"shareDeleteRetention"`
	SMB                  SMBSettings `json:"smb"`
}

// Metrics is a metrics setting (recorded; Cerulean does not emit storage metrics).
type Metrics struct {
	Version     string    `json:"version"`
	Enabled     bool      `json:"enabled"`
	IncludeAPIs *bool     `json:"includeApis,omitempty"`
	Retention   Retention `json:"retention"`
}

// Retention is a retention policy.
type Retention struct {
	Enabled bool `json:"enabled"`
	Days    int  `json:"days,omitempty"`
}

// CorsRule is one CORS rule; the lists are comma-separated on the REST API, arrays in ARM.
type CorsRule struct {
	AllowedOrigins  []string `json:"allowedOrigins"`
	AllowedMethods  []string `json:"allowedMethods"`
	AllowedHeaders  []string `json:"allowedHeaders"`
	ExposedHeaders  []string `json:"exposedHeaders"`
	MaxAgeInSeconds int      `json:"maxAgeInSeconds"`
}

// SMBSettings are the SMB protocol settings (semicolon-separated lists, as Azure takes them).
type SMBSettings struct {
	Multichannel             *bool  `json:"multichannel,omitempty"`
	Versions                 string `json:"versions,omitempty"`
	AuthenticationMethods    string `json:"authenticationMethods,omitempty"`
	KerberosTicketEncryption string `json:"kerberosTicketEncryption,omitempty"`
	ChannelEncryption        string `json:"channelEncryption,omitempty"`
}

// GetServicePropertiesTx returns an account's File service properties (defaults when never set).
func GetServicePropertiesTx(tx store.Tx, account string) (ServiceProperties, error) {
	p := ServiceProperties{HourMetrics: Metrics{Version: "1.0"}, MinuteMetrics: Metrics{Version: "1.0"}}
	b, err := tx.Get(colServiceProps, accountKey(account))
	if errors.Is(err, store.ErrNotFound) {
		return p, nil
	}
	if err != nil {
		return p, err
	}
	return p, json.Unmarshal(b, &p)
}

// PutServicePropertiesTx validates and stores an account's File service properties.
func PutServicePropertiesTx(tx store.Tx, account string, p ServiceProperties) error {
	if err := p.validate(); err != nil {
		return err
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return tx.Put(colServiceProps, accountKey(account), b)
}

var corsMethods = map[string]bool{"DELETE": true, "GET": true, "HEAD": true, "MERGE": true, "POST": true, "OPTIONS": true, "PUT": true, "PATCH": true}

func (p ServiceProperties) validate() error {
	bad := func(format string, args ...any) error {
		return azerr.BadRequest("InvalidXmlNodeValue", format, args...)
	}
	if len(p.Cors) > 5 {
		return bad("At most 5 CORS rules are allowed, got %d.", len(p.Cors))
	}
	for _, r := range p.Cors {
		if len(r.AllowedOrigins) == 0 || len(r.AllowedMethods) == 0 {
			return bad("A CORS rule needs AllowedOrigins and AllowedMethods.")
		}
		for _, m := range r.AllowedMethods {
			if !corsMethods[strings.ToUpper(m)] {
				return bad("'%s' is not an HTTP method a CORS rule may allow.", m)
			}
		}
		if r.MaxAgeInSeconds < 0 {
			return bad("MaxAgeInSeconds must not be negative.")
		}
	}
	for _, m := range []Metrics{p.HourMetrics, p.MinuteMetrics} {
		if m.Retention.Enabled && (m.Retention.Days < 1 || m.Retention.Days > 365) {
			return bad("A metrics retention policy keeps 1 to 365 days, got %d.", m.Retention.Days)
		}
	}
	if r := p.ShareDeleteRetention; r.Enabled && (r.Days < 1 || r.Days > 365) {
		return bad("A share delete retention policy keeps 1 to 365 days, got %d.", r.Days)
	}
	return nil
}

// XML forms of the REST API.
type xmlRetention struct {
	Enabled bool `xml:"Enabled"`
	Days    *int `xml:"Days,omitempty"`
}

type xmlMetrics struct {
	Version         string       `xml:"Version"`
	Enabled         bool         `xml:"Enabled"`
	IncludeAPIs     *bool        `xml:"IncludeAPIs,omitempty"`
	RetentionPolicy xmlRetention `xml:"RetentionPolicy"`
}

type xmlCorsRule struct {
	AllowedOrigins  string `xml:"AllowedOrigins"`
	AllowedMethods  string `xml:"AllowedMethods"`
	MaxAgeInSeconds int    `xml:"MaxAgeInSeconds"`
	ExposedHeaders  string `xml:"ExposedHeaders"`
	AllowedHeaders  string `xml:"AllowedHeaders"`
}

type xmlServiceProperties struct {
	XMLName       xml.Name    `xml:"StorageServiceProperties"`
	HourMetrics   *xmlMetrics `xml:"HourMetrics"`
	MinuteMetrics *xmlMetrics `xml:"MinuteMetrics"`
	Cors          *struct {
		Rules []xmlCorsRule `xml:"CorsRule"`
	} `xml:"Cors"`
	ShareDeleteRetentionPolicy *xmlRetention `xml:"ShareDeleteRetentionPolicy"`
	ProtocolSettings           *struct {
		SMB *struct {
			Multichannel *struct {
				Enabled bool `xml:"Enabled"`
			} `xml:"Multichannel"`
			Versions                 string `xml:"Versions,omitempty"`
			AuthenticationMethods    string `xml:"AuthenticationMethods,omitempty"`
			KerberosTicketEncryption string `xml:"KerberosTicketEncryption,omitempty"`
			ChannelEncryption        string `xml:"ChannelEncryption,omitempty"`
		} `xml:"SMB"`
	} `xml:"ProtocolSettings"`
}

func splitList(s, sep string) []string {
	var out []string
	for _, p := range strings.Split(s, sep) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func metricsFromXML(m *xmlMetrics, cur Metrics) Metrics {
	if m == nil {
		return cur
	}
	out := Metrics{Version: m.Version, Enabled: m.Enabled, IncludeAPIs: m.IncludeAPIs, Retention: Retention{Enabled: m.RetentionPolicy.Enabled}}
	if out.Version == "" {
		out.Version = "1.0"
	}
	if m.RetentionPolicy.Days != nil {
		out.Retention.Days = *m.RetentionPolicy.Days
	}
	return out
}

func metricsToXML(m Metrics) *xmlMetrics {
	x := &xmlMetrics{Version: m.Version, Enabled: m.Enabled, IncludeAPIs: m.IncludeAPIs, RetentionPolicy: xmlRetention{Enabled: m.Retention.Enabled}}
	if m.Retention.Enabled {
		x.RetentionPolicy.Days = &m.Retention.Days
	}
	if !m.Enabled {
		x.IncludeAPIs = nil
	}
	return x
}

// serviceProperties serves Get and Set File Service Properties: Set replaces the elements
// it carries and keeps the others.
func (q *request) serviceProperties() error {
	if q.r.Method == http.MethodPut {
		var in xmlServiceProperties
		if err := xml.NewDecoder(io.LimitReader(q.r.Body, 64<<10)).Decode(&in); err != nil {
			return azerr.BadRequest("InvalidXmlDocument", "XML specified is not syntactically valid: %v.", err)
		}
		err := q.svc.st.Update(q.ctx, func(tx store.Tx) error {
			p, err := GetServicePropertiesTx(tx, q.account.Name)
			if err != nil {
				return err
			}
			p.HourMetrics, p.MinuteMetrics = metricsFromXML(in.HourMetrics, p.HourMetrics), metricsFromXML(in.MinuteMetrics, p.MinuteMetrics)
			if in.Cors != nil {
				p.Cors = nil
				for _, r := range in.Cors.Rules {
					p.Cors = append(p.Cors, CorsRule{AllowedOrigins: splitList(r.AllowedOrigins, ","), AllowedMethods: splitList(r.AllowedMethods, ","),
						AllowedHeaders: splitList(r.AllowedHeaders, ","), ExposedHeaders: splitList(r.ExposedHeaders, ","), MaxAgeInSeconds: r.MaxAgeInSeconds})
				}
			}
			if r := in.ShareDeleteRetentionPolicy; r != nil {
				p.ShareDeleteRetention = Retention{Enabled: r.Enabled}
				if r.Days != nil {
					p.ShareDeleteRetention.Days = *r.Days
				}
			}
			if ps := in.ProtocolSettings; ps != nil && ps.SMB != nil {
				s := ps.SMB
				p.SMB = SMBSettings{Versions: s.Versions, AuthenticationMethods: s.AuthenticationMethods,
					KerberosTicketEncryption: s.KerberosTicketEncryption, ChannelEncryption: s.ChannelEncryption}
				if s.Multichannel != nil {
					p.SMB.Multichannel = &s.Multichannel.Enabled
				}
			}
			return PutServicePropertiesTx(tx, q.account.Name, p)
		})
		if err != nil {
			return err
		}
		q.w.WriteHeader(http.StatusAccepted)
		return nil
	}
	var p ServiceProperties
	if err := q.svc.st.View(q.ctx, func(tx store.Tx) error {
		var err error
		p, err = GetServicePropertiesTx(tx, q.account.Name)
		return err
	}); err != nil {
		return err
	}
	out := xmlServiceProperties{HourMetrics: metricsToXML(p.HourMetrics), MinuteMetrics: metricsToXML(p.MinuteMetrics)}
	out.Cors = &struct {
		Rules []xmlCorsRule `xml:"CorsRule"`
	}{}
	for _, r := range p.Cors {
		out.Cors.Rules = append(out.Cors.Rules, xmlCorsRule{AllowedOrigins: strings.Join(r.AllowedOrigins, ","), AllowedMethods: strings.Join(r.AllowedMethods, ","),
			AllowedHeaders: strings.Join(r.AllowedHeaders, ","), ExposedHeaders: strings.Join(r.ExposedHeaders, ","), MaxAgeInSeconds: r.MaxAgeInSeconds})
	}
	sd := xmlRetention{Enabled: p.ShareDeleteRetention.Enabled}
	out.ShareDeleteRetentionPolicy = &sd
	return writeXML(q.w, out)
}
