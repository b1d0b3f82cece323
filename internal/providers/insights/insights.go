// Package insights serves Azure Monitor's activity log (Microsoft.Insights
// eventtypes/management/values, api-version 2015-04-01): the events package activity keeps,
// in Azure's EventData shape, selected by Azure's $filter grammar.
package insights

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/activity"
	"github.com/cerulean-azure/cerulean/internal/arm"
	"github.com/cerulean-azure/cerulean/internal/azerr"
)

// EventValuesType is the activity log's ARM type.
const EventValuesType = "Microsoft.Insights/eventtypes/values"

// ReadAction is the RBAC action listing the activity log needs (Reader has it).
const ReadAction = "Microsoft.Insights/eventtypes/values/read"

// maxWindow is the longest time range one query may span, as in Azure.
const maxWindow = 90 * 24 * time.Hour

// Register adds the activity log to ARM.
func Register(s *arm.Service) {
	s.Register(EventValuesType, "2014-04-01", handler{}, arm.Actions{http.MethodGet: ReadAction})
}

type handler struct{}

var (
	clauseRE = regexp.MustCompile(`(?i)^\s*(eventTimestamp|submissionTimestamp)\s+(ge|le|gt|lt)\s+'?([0-9][^' ]*)'?\s*$`)
	eqRE     = regexp.MustCompile(`(?i)^\s*(resourceGroupName|resourceUri|resourceId|correlationId|caller|resourceProvider|category)\s+eq\s+'([^']*)'\s*$`)
	andRE    = regexp.MustCompile(`(?i)\s+and\s+`)
)

// query is a parsed $filter.
type query struct {
	filter     activity.Filter
	scope      string // where the caller must be allowed to read
	providerNS string // lower-case resource provider namespace, when filtered by one
}

func parseFilter(subscriptionID, f string) (query, error) {
	sub := "/subscriptions/" + subscriptionID
	q := query{scope: sub, filter: activity.Filter{Scope: sub}}
	bad := func(format string, a ...any) error {
		return azerr.BadRequest("BadRequest", "The $filter is not valid: "+format+
			". Use eventTimestamp ge '<start>' and eventTimestamp le '<end>' [and resourceGroupName eq '<rg>' | resourceUri eq '<id>' | correlationId eq '<id>' | caller eq '<caller>' | resourceProvider eq '<namespace>'].", a...)
	}
	if strings.TrimSpace(f) == "" {
		return q, bad("it is required and must bound eventTimestamp")
	}
	var provider string
	for _, clause := range andRE.Split(f, -1) {
		if m := clauseRE.FindStringSubmatch(clause); m != nil {
			t, ok := parseTime(m[3])
			if !ok {
				return q, bad("%q is not an ISO 8601 time", m[3])
			}
			switch strings.ToLower(m[2]) {
			case "ge", "gt":
				q.filter.From = t
			default:
				q.filter.To = t
			}
			continue
		}
		m := eqRE.FindStringSubmatch(clause)
		if m == nil {
			return q, bad("the clause %q is not supported", strings.TrimSpace(clause))
		}
		switch v := m[2]; strings.ToLower(m[1]) {
		case "resourcegroupname":
			q.scope = sub + "/resourceGroups/" + v
			q.filter.Scope = q.scope
		case "resourceuri", "resourceid":
			if !strings.HasPrefix(strings.ToLower(v), strings.ToLower(sub)+"/") {
				return q, bad("resourceUri %q is not in subscription %s", v, subscriptionID)
			}
			q.scope, q.filter.Scope = strings.TrimRight(v, "/"), strings.TrimRight(v, "/")
		case "correlationid":
			q.filter.CorrelationID = v
		case "caller":
			q.filter.Caller = v
		case "category":
			q.filter.Category = v
		case "resourceprovider":
			provider = v
		}
	}
	if q.filter.From.IsZero() {
		return q, bad("eventTimestamp ge '<start>' is required")
	}
	if q.filter.To.IsZero() {
		q.filter.To = time.Now().UTC()
	}
	if q.filter.To.Sub(q.filter.From) > maxWindow {
		return q, bad("the time range may span at most 90 days")
	}
	if provider != "" {
		q.providerNS = strings.ToLower(provider)
	}
	return q, nil
}

// parseTime reads the ISO 8601 forms clients send: with a zone, or without one (UTC, as the
// Azure CLI sends), or a bare date.
func parseTime(v string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func (handler) ServeARM(c *arm.Call) (int, any, error) {
	if c.R.Method != http.MethodGet || len(c.ID.Names) != 1 || !strings.EqualFold(c.ID.Names[0], "management") || c.ID.ResourceGroup != "" {
		return 0, nil, azerr.NotFound("NotFound", "The activity log is GET /subscriptions/{id}/providers/Microsoft.Insights/eventtypes/management/values.")
	}
	q, err := parseFilter(c.ID.SubscriptionID, c.R.URL.Query().Get("$filter"))
	if err != nil {
		return 0, nil, err
	}
	if err := c.Authorize(ReadAction, q.scope); err != nil {
		return 0, nil, err
	}
	events, err := c.Svc.Activity().List(c.Ctx, q.filter, 1000)
	if err != nil {
		return 0, nil, err
	}
	values := []any{}
	for _, e := range events {
		if q.providerNS != "" && !strings.Contains(strings.ToLower(e.Scope), "/providers/"+q.providerNS+"/") {
			continue
		}
		values = append(values, view(c.ID.SubscriptionID, e))
	}
	return http.StatusOK, map[string]any{"value": values}, nil
}

func localized(v string) map[string]string { return map[string]string{"value": v, "localizedValue": v} }

// view renders an event as Azure's EventData.
func view(sub string, e activity.Event) map[string]any {
	rg, provider, typ := "", "", ""
	segs := strings.Split(strings.Trim(e.Scope, "/"), "/")
	for i := 0; i+1 < len(segs); i++ {
		switch strings.ToLower(segs[i]) {
		case "resourcegroups":
			rg = segs[i+1]
		case "providers":
			provider = segs[i+1]
			if i+2 < len(segs) {
				typ = provider + "/" + segs[i+2]
			}
		}
	}
	subStatus := http.StatusText(e.StatusCode)
	props := map[string]string{"statusCode": subStatus, "eventCategory": e.Category, "entity": e.Scope}
	if e.ErrorCode != "" {
		props["statusMessage"] = fmt.Sprintf(`{"error":{"code":%q,"message":%q}}`, e.ErrorCode, e.Message)
	}
	if len(e.Policies) == 2 {
		// Azure carries the policies as a JSON string, as every property value is one.
		b, _ := json.Marshal([]map[string]string{{"policyAssignmentId": e.Policies[0], "policyDefinitionId": e.Policies[1]}})
		props["policies"] = string(b)
	}
	ticks := e.Time.UnixNano()/100 + 621355968000000000 // .NET ticks, as Azure's event ids carry
	return map[string]any{
		"authorization": map[string]any{"action": e.Operation, "scope": e.Scope},
		"caller":        e.Caller, "channels": "Operation",
		"claims":        map[string]string{"http://schemas.microsoft.com/identity/claims/objectidentifier": e.CallerObjectID},
		"correlationId": e.CorrelationID, "description": e.Message,
		"eventDataId": e.ID, "eventName": localized("EndRequest"),
		"category": localized(e.Category), "eventTimestamp": e.Time.Format(time.RFC3339Nano),
		"id":    fmt.Sprintf("%s/events/%s/ticks/%d", e.Scope, e.ID, ticks),
		"level": e.Level, "operationId": e.CorrelationID, "operationName": localized(e.Operation),
		"resourceGroupName": rg, "resourceProviderName": localized(provider), "resourceType": localized(typ),
		"resourceId": e.Scope, "status": localized(e.Status), "subStatus": localized(subStatus),
		"submissionTimestamp": e.Time.Format(time.RFC3339Nano), "subscriptionId": sub, "tenantId": e.TenantID,
		"properties": props,
	}
}
