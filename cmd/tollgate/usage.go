package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tollgate/tollgate/internal/client"
	"github.com/tollgate/tollgate/internal/gateway"
)

func newUsageCmd(e env) *cobra.Command {
	var groupBy, since, output string
	cmd := &cobra.Command{
		Use:   "usage [--group-by model|key|day|status|served_model] [--since DURATION] [-o json]",
		Short: "Show your own usage: requests, tokens and outcomes",
		Long: "Show the caller's own usage (GET /api/usage) over the last --since (default 30d), one row per group.\n" +
			"For an API key that is the key's usage; for a logged-in user, all of the user's requests and keys.\n" +
			"The server is TOLLGATE_SERVER (default " + defaultServer + "), the credential TOLLGATE_API_KEY or `tollgate login`.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			g, ok := gateway.ParseUsageGroupBy(groupBy)
			if !ok || g == gateway.UsageByUser {
				return fmt.Errorf("--group-by: %q is not model, key, day, status or served_model", groupBy)
			}
			d, err := parseDuration("--since", since)
			if err != nil {
				return err
			}
			now := time.Now().UTC().Truncate(time.Second)
			q := client.UsageQuery{From: now.Add(-d), To: now.Add(time.Second), GroupBy: g}
			r, err := newAPIClient(e.environ()).Usage(cmd.Context(), q)
			if err != nil {
				return fmt.Errorf("usage: %w", serverError(err))
			}
			if output == "json" {
				return writeJSONOut(e, r.Data)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "%s\tREQUESTS\tPROMPT TOKENS\tCOMPLETION TOKENS\tOK\tERROR\tINCOMPLETE\tCANCELED\n", usageHeads[g])
			var total gateway.UsageGroup
			for _, u := range r.Data {
				group := u.Group
				if g == gateway.UsageByKey {
					if group == "" {
						group, u.Name = "-", "(no key)"
					}
					group += "\t" + u.Name
				}
				writeUsageRow(tw, group, u)
				total.Requests += u.Requests
				total.PromptTokens += u.PromptTokens
				total.CompletionTokens += u.CompletionTokens
				total.Statuses.OK += u.Statuses.OK
				total.Statuses.Error += u.Statuses.Error
				total.Statuses.Incomplete += u.Statuses.Incomplete
				total.Statuses.Canceled += u.Statuses.Canceled
			}
			label := "TOTAL"
			if g == gateway.UsageByKey {
				label += "\t"
			}
			writeUsageRow(tw, label, total)
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&groupBy, "group-by", "model", "group rows by model, key, day, status or served_model")
	cmd.Flags().StringVar(&since, "since", "30d", "how far back: a Go duration (24h) or days (7d)")
	outputFlag(cmd, &output)
	return cmd
}

// usageHeads are the group columns' headings by --group-by.
var usageHeads = map[gateway.UsageGroupBy]string{
	gateway.UsageByModel: "MODEL", gateway.UsageByKey: "KEY\tNAME", gateway.UsageByDay: "DAY",
	gateway.UsageByStatus: "STATUS", gateway.UsageByServedModel: "SERVED MODEL",
}

func writeUsageRow(tw *tabwriter.Writer, group string, u gateway.UsageGroup) {
	fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", group, u.Requests, u.PromptTokens, u.CompletionTokens,
		u.Statuses.OK, u.Statuses.Error, u.Statuses.Incomplete, u.Statuses.Canceled)
}
