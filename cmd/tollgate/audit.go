package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tollgate/tollgate/internal/audit"
	"github.com/tollgate/tollgate/internal/auth"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/sqlstore"
)

// cliAudit is the audit service of the user and key commands: their
// changes are recorded like the API's, with actor "system".
func cliAudit(st *sqlstore.Store) gateway.Auditor {
	a, err := audit.New(audit.Options{Store: st})
	if err != nil { // only metric registration fails, and none is asked for
		panic(err)
	}
	return a
}

// newAuditCmd is `tollgate audit list|export|verify` (SPEC 8.1), on the
// configured database like the user and key commands.
func newAuditCmd(e env, gf *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Read and verify the audit log"}
	storeFlags(cmd, gf)
	cmd.AddCommand(newAuditListCmd(e, gf), newAuditExportCmd(e, gf), newAuditVerifyCmd(e, gf))
	return cmd
}

func sinceFlag(since string) (time.Time, error) {
	if since == "" {
		return time.Time{}, nil
	}
	d, err := parseDuration("--since", since)
	if err != nil {
		return time.Time{}, err
	}
	return time.Now().Add(-d), nil
}

func newAuditListCmd(e env, gf *globalFlags) *cobra.Command {
	var action, since string
	var asJSON bool
	var limit int
	cmd := &cobra.Command{
		Use:   "list [--action A] [--since DURATION] [--json]",
		Short: "List audit records, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			from, err := sinceFlag(since)
			if err != nil {
				return err
			}
			if limit < 1 || limit > 100000 {
				return fmt.Errorf("--limit must be from 1 to 100000")
			}
			return withStore(cmd.Context(), e, gf, func(st *sqlstore.Store, _ *auth.Service) error {
				recs, err := st.ListAudit(cmd.Context(), gateway.AuditFilter{Action: action, From: from, Limit: limit})
				if err != nil {
					return err
				}
				if asJSON {
					if recs == nil {
						recs = []gateway.AuditRecord{}
					}
					return writeJSONOut(e, recs)
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "AT\tACTION\tOUTCOME\tACTOR\tTARGET\tIP\tREQUEST_ID\tID")
				for _, r := range recs {
					target := "-"
					if r.Target != nil {
						target = r.Target.Type + ":" + r.Target.ID
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.At.Format(time.RFC3339), r.Action, r.Outcome,
						r.Actor.Type+":"+r.Actor.ID, target, orDash(r.IP), orDash(r.RequestID), r.ID)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&action, "action", "", "only this action, e.g. key.created")
	cmd.Flags().StringVar(&since, "since", "", "only records of the last DURATION (e.g. 24h, 7d)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().IntVar(&limit, "limit", 1000, "at most this many records")
	return cmd
}

func newAuditExportCmd(e env, gf *globalFlags) *cobra.Command {
	var since string
	cmd := &cobra.Command{
		Use:   "export [--since DURATION]",
		Short: "Write audit records as NDJSON (one JSON object per line), oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			from, err := sinceFlag(since)
			if err != nil {
				return err
			}
			return withStore(cmd.Context(), e, gf, func(st *sqlstore.Store, _ *auth.Service) error {
				enc := json.NewEncoder(e.stdout)
				return st.ScanAudit(cmd.Context(), 0, func(r gateway.AuditRecord) error {
					if !from.IsZero() && r.At.Before(from) {
						return nil
					}
					return enc.Encode(r)
				})
			})
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "only records of the last DURATION (e.g. 24h, 7d)")
	return cmd
}

func newAuditVerifyCmd(e env, gf *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Check the audit log's hash chain; exits non-zero naming the first broken record",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd.Context(), e, gf, func(st *sqlstore.Store, _ *auth.Service) error {
				brk, err := st.VerifyAudit(cmd.Context())
				if err != nil {
					return err
				}
				if brk != nil {
					return errors.New("audit log broken: " + brk.Reason)
				}
				n := 0
				if err := st.ScanAudit(cmd.Context(), 0, func(gateway.AuditRecord) error { n++; return nil }); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "audit log intact: %d records\n", n)
				return nil
			})
		},
	}
}
