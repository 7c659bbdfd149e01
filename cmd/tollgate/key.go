package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tollgate/tollgate/internal/auth"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/sqlstore"
)

// newKeyCmd is `tollgate key ...`: API key management directly on the
// configured database. Running servers see revocations within
// auth.cache_sync_interval.
func newKeyCmd(e env, gf *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Manage API keys directly in the configured database"}
	cmd.PersistentFlags().StringVar(&gf.databaseURL, "database-url", "", "database URL (database.url)")
	cmd.AddCommand(newKeyCreateCmd(e, gf), newKeyListCmd(e, gf), newKeyRevokeCmd(e, gf))
	return cmd
}

// withKeys runs fn with the identity service and key manager on the
// configured database.
func withKeys(ctx context.Context, e env, gf *globalFlags, fn func(*auth.Service, *auth.Keys) error) error {
	return withStore(ctx, e, gf, func(st *sqlstore.Store, s *auth.Service) error {
		return fn(s, auth.NewKeys(auth.KeysOptions{Store: st, Users: s}))
	})
}

// parseExpiry parses a Go duration or a number of days ("30d").
func parseExpiry(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("--expires: %q is not a positive number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("--expires: %q is not a positive duration (e.g. 720h or 30d)", s)
	}
	return v, nil
}

func newKeyCreateCmd(e env, gf *globalFlags) *cobra.Command {
	var email, name, role, expires string
	var endUser bool
	cmd := &cobra.Command{
		Use:   "create --user EMAIL --name N [--role R] [--expires DURATION] [--end-user-mode]",
		Short: "Create an API key for a user; the key is printed once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in := gateway.NewAPIKey{Name: name, EndUserMode: endUser}
			if role != "" {
				r, err := gateway.ParseRole(role)
				if err != nil {
					return fmt.Errorf("--role: %w", err)
				}
				in.Role = r
			}
			if expires != "" {
				d, err := parseExpiry(expires)
				if err != nil {
					return err
				}
				in.ExpiresIn = d
			}
			ctx := cmd.Context()
			return withKeys(ctx, e, gf, func(s *auth.Service, keys *auth.Keys) error {
				u, err := s.UserByEmail(ctx, email)
				if err != nil {
					return fmt.Errorf("no user with email %s", email)
				}
				if !u.Active {
					return fmt.Errorf("user %s is deactivated", email)
				}
				k, secret, err := keys.CreateKey(ctx, u.ID, u.Role, in)
				if err != nil {
					return cliError(err)
				}
				fmt.Fprintf(e.stderr, "created key %s (%s) for %s with role %s; it is shown only now:\n", k.ID, k.Name, u.Email, k.Role)
				_, err = fmt.Fprintln(e.stdout, secret.Reveal())
				return err
			})
		},
	}
	cmd.Flags().StringVar(&email, "user", "", "the owner's email (required)")
	cmd.Flags().StringVar(&name, "name", "", "key name (required)")
	cmd.Flags().StringVar(&role, "role", "", "viewer, contributor or admin (default and maximum: the owner's role)")
	cmd.Flags().StringVar(&expires, "expires", "", "lifetime, e.g. 720h or 30d (default: never)")
	cmd.Flags().BoolVar(&endUser, "end-user-mode", false, "an app credential acting for end users (X-End-User-Id)")
	_ = cmd.MarkFlagRequired("user")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func newKeyListCmd(e env, gf *globalFlags) *cobra.Command {
	var email string
	cmd := &cobra.Command{
		Use:   "list [--user EMAIL]",
		Short: "List API keys (prefix only, never the secret)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return withKeys(ctx, e, gf, func(s *auth.Service, keys *auth.Keys) error {
				owner := ""
				if email != "" {
					u, err := s.UserByEmail(ctx, email)
					if err != nil {
						return fmt.Errorf("no user with email %s", email)
					}
					owner = u.ID
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tOWNER\tROLE\tEND_USER_MODE\tEXPIRES\tLAST_USED\tREVOKED")
				cursor := ""
				for {
					page, next, err := keys.ListKeys(ctx, owner, cursor, 200)
					if err != nil {
						return cliError(err)
					}
					for _, k := range page {
						fmt.Fprintf(tw, "%s\t%s\ttg_%s…\t%s\t%s\t%t\t%s\t%s\t%s\n", k.ID, k.Name, k.Prefix, k.OwnerID, k.Role,
							k.EndUserMode, timeOrDash(k.ExpiresAt), timeOrDash(k.LastUsedAt), timeOrDash(k.RevokedAt))
					}
					if next == "" {
						return tw.Flush()
					}
					cursor = next
				}
			})
		},
	}
	cmd.Flags().StringVar(&email, "user", "", "only this user's keys")
	return cmd
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func newKeyRevokeCmd(e env, gf *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API key (running servers stop accepting it within auth.cache_sync_interval)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withKeys(cmd.Context(), e, gf, func(_ *auth.Service, keys *auth.Keys) error {
				if err := keys.RevokeKey(cmd.Context(), args[0], ""); err != nil {
					return cliError(err)
				}
				_, err := fmt.Fprintf(e.stdout, "revoked key %s\n", args[0])
				return err
			})
		},
	}
}
