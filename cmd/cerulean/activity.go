package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cerulean-azure/cerulean/internal/activity"
	"github.com/cerulean-azure/cerulean/internal/instance"
	"github.com/spf13/cobra"
)

func activityCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "activity", Short: "Read the activity log",
		Long: `The activity log records every Resource Manager write, every authorization failure and
every Azure Policy effect (audit, deny) with its caller, operation, scope, outcome and
correlation id, for 90 days. It is also served as Azure's
GET /subscriptions/{id}/providers/Microsoft.Insights/eventtypes/management/values
(az monitor activity-log list, armmonitor.ActivityLogsClient).`}
	var since time.Duration
	var from, to, scope, correlation, caller, category string
	var asJSON, wide bool
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List events, newest first",
		Example: `  cerulean activity list --since 1h
  cerulean activity list --scope /subscriptions/<id>/resourceGroups/app --category Policy --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := activity.Filter{Scope: scope, CorrelationID: correlation, Caller: caller, Category: category}
			if since > 0 {
				f.From = time.Now().Add(-since)
			}
			for _, p := range []struct {
				flag, v string
				t       *time.Time
			}{{"--from", from, &f.From}, {"--to", to, &f.To}} {
				if p.v == "" {
					continue
				}
				t, err := time.Parse(time.RFC3339, p.v)
				if err != nil {
					return fmt.Errorf("%s %q: give an RFC 3339 time such as 2026-12-01T09:00:00Z", p.flag, p.v)
				}
				*p.t = t
			}
			in, err := instance.Open(cmd.Context(), dataDir(cmd))
			if err != nil {
				return err
			}
			defer in.Close()
			events, err := activity.New(in.Store, nil).List(cmd.Context(), f, limit)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if events == nil {
					events = []activity.Event{}
				}
				return enc.Encode(events)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			if wide {
				fmt.Fprintln(tw, "TIME\tCATEGORY\tSTATUS\tCALLER\tOPERATION\tSCOPE\tCORRELATION ID")
			} else {
				fmt.Fprintln(tw, "TIME\tCATEGORY\tSTATUS\tCALLER\tOPERATION\tRESOURCE")
			}
			now := time.Now()
			for _, e := range events {
				status := e.Status
				if e.ErrorCode != "" {
					status += " (" + e.ErrorCode + ")"
				}
				if wide {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Format(time.RFC3339), e.Category, status, e.Caller, e.Operation, e.Scope, e.CorrelationID)
					continue
				}
				category := e.Category
				if category == "Administrative" {
					category = "Admin"
				}
				resource := shortScope(e.Scope)
				if e.ErrorCode != "" {
					status = e.ErrorCode // a failure's code says it failed
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", shortTime(e.Time, now), category, status, shortID(e.Caller), shortOperation(e.Operation, resource), resource)
			}
			return tw.Flush()
		},
	}
	fl := list.Flags()
	fl.DurationVar(&since, "since", 0, "only events this recent (e.g. 1h)")
	fl.StringVar(&from, "from", "", "only events at or after this RFC 3339 time")
	fl.StringVar(&to, "to", "", "only events at or before this RFC 3339 time")
	fl.StringVar(&scope, "scope", "", "only events at or below this scope (subscription, resource group or resource id)")
	fl.StringVar(&correlation, "correlation-id", "", "only events with this correlation id")
	fl.StringVar(&caller, "caller", "", "only events by this caller (app id, UPN or object id)")
	fl.StringVar(&category, "category", "", "only Administrative or Policy events")
	fl.IntVar(&limit, "limit", 200, "at most this many events (0: all)")
	fl.BoolVar(&asJSON, "json", false, "print JSON")
	fl.BoolVar(&wide, "wide", false, "print full times, caller ids, actions and scopes, and the correlation id (the default table fits a terminal)")
	cmd.AddCommand(list)
	return cmd
}

// The default table fits a terminal: today's times without the date, Administrative as
// Admin, a failure as its error code, callers' ids cut to their first 8 characters, actions without their provider and
// resource type, and resources relative to their subscription (group/type/name). --wide and
// --json print everything.

func shortTime(t, now time.Time) string {
	t = t.Local()
	if y, m, d := t.Date(); y == now.Year() && m == now.Month() && d == now.Day() {
		return t.Format("15:04:05")
	}
	return t.Format("Jan 02 15:04")
}

func shortID(s string) string {
	if len(s) == 36 && strings.Count(s, "-") == 4 {
		return s[:8]
	}
	return s
}

// shortOperation drops the provider, and the resource type the RESOURCE column shows:
// Microsoft.ManagedIdentity/userAssignedIdentities/write on rg/userAssignedIdentities/x is
// write; Microsoft.Authorization/policies/deny/action stays policies/deny/action.
func shortOperation(op, resource string) string {
	if i := strings.Index(op, "/"); i > 0 && strings.Contains(op[:i], ".") {
		op = op[i+1:]
	}
	if rest, ok := strings.CutPrefix(op, "subscriptions/"); ok && strings.Contains(rest, "/") {
		op = rest // subscriptions/resourceGroups/write is resourceGroups/write
	}
	if segs := strings.Split(resource, "/"); len(segs) >= 2 {
		if rest, ok := strings.CutPrefix(op, segs[len(segs)-2]+"/"); ok && !strings.Contains(rest, "/") {
			return rest
		}
	}
	return op
}

// shortScope is a resource id relative to its subscription: the group, then the resource's
// type and name segments without the provider (rg1/userAssignedIdentities/app-id).
func shortScope(id string) string {
	segs := strings.Split(strings.Trim(id, "/"), "/")
	if len(segs) < 2 || !strings.EqualFold(segs[0], "subscriptions") {
		return id
	}
	if len(segs) == 2 {
		return "(subscription)"
	}
	var out []string
	for i := 2; i < len(segs); i++ {
		switch {
		case strings.EqualFold(segs[i], "resourceGroups") && i+1 < len(segs):
			out = append(out, segs[i+1])
			i++
		case strings.EqualFold(segs[i], "providers") && i+1 < len(segs):
			i++ // the namespace
		default:
			out = append(out, segs[i])
		}
	}
	return strings.Join(out, "/")
}
