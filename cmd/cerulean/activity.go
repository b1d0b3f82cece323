package main

import (
	"encoding/json"
	"fmt"
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
	var asJSON bool
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
			fmt.Fprintln(tw, "TIME\tCATEGORY\tSTATUS\tCALLER\tOPERATION\tSCOPE\tCORRELATION ID")
			for _, e := range events {
				status := e.Status
				if e.ErrorCode != "" {
					status += " (" + e.ErrorCode + ")"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Format(time.RFC3339), e.Category, status, e.Caller, e.Operation, e.Scope, e.CorrelationID)
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
	cmd.AddCommand(list)
	return cmd
}
