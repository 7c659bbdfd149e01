package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tollgate/tollgate/internal/auth"
	"github.com/tollgate/tollgate/internal/budget"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/sqlstore"
)

// newKeyCmd is `tollgate key ...`: API key management directly on the
// configured database. The change is pushed to running servers before
// the command exits (their poll, auth.cache_sync_interval, is the
// fallback).
func newKeyCmd(e env, gf *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Manage API keys directly in the configured database"}
	storeFlags(cmd, gf)
	cmd.AddCommand(newKeyCreateCmd(e, gf), newKeyListCmd(e, gf), newKeyRevokeCmd(e, gf), newKeyRotateCmd(e, gf))
	return cmd
}

// withKeys runs fn with the identity service and key manager on the
// configured database.
func withKeys(ctx context.Context, e env, gf *globalFlags, fn func(*auth.Service, *auth.Keys) error) error {
	return withStore(ctx, e, gf, func(st *sqlstore.Store, s *auth.Service) error {
		return fn(s, auth.NewKeys(auth.KeysOptions{Store: st, Users: s, Audit: cliAudit(st)}))
	})
}

// withKeyStore is withKeys that also hands fn the store (to read one key).
func withKeyStore(ctx context.Context, e env, gf *globalFlags, fn func(*sqlstore.Store, *auth.Keys) error) error {
	return withStore(ctx, e, gf, func(st *sqlstore.Store, s *auth.Service) error {
		return fn(st, auth.NewKeys(auth.KeysOptions{Store: st, Users: s, Audit: cliAudit(st)}))
	})
}

// parseExpiry parses a Go duration or a number of days ("30d").
func parseExpiry(s string) (time.Duration, error) { return parseDuration("--expires", s) }

// parseDuration parses flag's value: a positive Go duration or a number
// of days ("30d").
func parseDuration(flag, s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%s: %q is not a positive number of days", flag, s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%s: %q is not a positive duration (e.g. 720h or 30d)", flag, s)
	}
	return v, nil
}

func newKeyCreateCmd(e env, gf *globalFlags) *cobra.Command {
	var email, name, role, expires, budgetCost, budgetPeriod string
	var models []string
	var budgetTokens int64
	var endUser bool
	cmd := &cobra.Command{
		Use:   "create --user EMAIL --name N [--role R] [--expires DURATION] [--end-user-mode] [--models M,...] [--budget-tokens N] [--budget-cost AMOUNT] [--budget-period day|week|month|total]",
		Short: "Create an API key for a user; the key is printed once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in := gateway.NewAPIKey{Name: name, EndUserMode: endUser, AllowedModels: models}
			var bud *gateway.Budget
			if cmd.Flags().Changed("budget-tokens") || budgetCost != "" {
				bud = &gateway.Budget{SubjectType: gateway.BudgetKey, Period: gateway.BudgetPeriod(budgetPeriod)}
				if cmd.Flags().Changed("budget-tokens") {
					bud.MaxTokens = &budgetTokens
				}
				if budgetCost != "" {
					c, err := gateway.ParseMicros(budgetCost)
					if err != nil {
						return fmt.Errorf("--budget-cost: %w", err)
					}
					bud.MaxCost = &c
				}
				bud.Subject = "pending" // validated now, set to the key id below
				if err := budget.Validate(bud); err != nil {
					ge, _ := gateway.AsError(err)
					return fmt.Errorf("--budget-%s: %s", strings.TrimPrefix(strings.ReplaceAll(ge.Param, "max_", ""), "body."), ge.Message)
				}
			} else if cmd.Flags().Changed("budget-period") {
				return errors.New("--budget-period needs --budget-tokens or --budget-cost")
			}
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
			return withStore(ctx, e, gf, func(st *sqlstore.Store, s *auth.Service) error {
				keys := auth.NewKeys(auth.KeysOptions{Store: st, Users: s, Audit: cliAudit(st)})
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
				if bud != nil {
					bud.Subject = k.ID
					if err := budget.New(budget.Options{Store: st, Audit: cliAudit(st)}).Create(ctx, bud); err != nil {
						return cliError(err)
					}
				}
				fmt.Fprintf(e.stderr, "created key %s (%s) for %s with role %s; it is shown only now:\n", k.ID, k.Name, u.Email, k.Role)
				if bud != nil {
					fmt.Fprintf(e.stderr, "budget %s: %s\n", bud.ID, describeBudget(*bud))
				}
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
	cmd.Flags().StringSliceVar(&models, "models", nil, "allowed models: names and prefix* patterns, comma-separated (default: all)")
	cmd.Flags().Int64Var(&budgetTokens, "budget-tokens", 0, "a budget on the key: at most N tokens per --budget-period")
	cmd.Flags().StringVar(&budgetCost, "budget-cost", "", "a budget on the key: at most AMOUNT (pricing.currency, e.g. 1.50) per --budget-period")
	cmd.Flags().StringVar(&budgetPeriod, "budget-period", "day", "the budget's period: day, week, month or total (UTC)")
	_ = cmd.MarkFlagRequired("user")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func newKeyListCmd(e env, gf *globalFlags) *cobra.Command {
	var email, output string
	cmd := &cobra.Command{
		Use:   "list [--user EMAIL] [-o table|json]",
		Short: "List API keys with their owners (prefix only, never the secret)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			ctx := cmd.Context()
			return withKeys(ctx, e, gf, func(s *auth.Service, keys *auth.Keys) error {
				owner := ""
				if email != "" {
					u, err := userByEmail(ctx, s, email)
					if err != nil {
						return err
					}
					owner = u.ID
				}
				var all []keyJSON
				owners := map[string]gateway.User{}
				cursor := ""
				for {
					page, next, err := keys.ListKeys(ctx, owner, cursor, 200)
					if err != nil {
						return cliError(err)
					}
					for _, k := range page {
						u, ok := owners[k.OwnerID]
						if !ok {
							u, _ = s.User(ctx, k.OwnerID) // a missing owner shows as empty
							owners[k.OwnerID] = u
						}
						all = append(all, keyJSON{ID: k.ID, Name: k.Name, Prefix: "tg_" + k.Prefix, OwnerID: k.OwnerID,
							OwnerEmail: u.Email, OwnerName: u.DisplayName, Role: k.Role.String(), EndUserMode: k.EndUserMode,
							CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt})
					}
					if next == "" {
						break
					}
					cursor = next
				}
				if output == "json" {
					if all == nil {
						all = []keyJSON{}
					}
					return writeJSONOut(e, all)
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tOWNER\tOWNER_NAME\tROLE\tEND_USER_MODE\tEXPIRES\tLAST_USED\tREVOKED")
				for _, k := range all {
					fmt.Fprintf(tw, "%s\t%s\t%s…\t%s\t%s\t%s\t%t\t%s\t%s\t%s\n", k.ID, k.Name, k.Prefix, orDash(k.OwnerEmail), orDash(k.OwnerName), k.Role,
						k.EndUserMode, timeOrDash(k.ExpiresAt), timeOrDash(k.LastUsedAt), timeOrDash(k.RevokedAt))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&email, "user", "", "only this user's keys")
	outputFlag(cmd, &output)
	return cmd
}

// keyJSON is a key in `key list -o json`.
type keyJSON struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Prefix      string     `json:"prefix"`
	OwnerID     string     `json:"owner_id"`
	OwnerEmail  string     `json:"owner_email"`
	OwnerName   string     `json:"owner_name"`
	Role        string     `json:"role"`
	EndUserMode bool       `json:"end_user_mode"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at"`
	LastUsedAt  *time.Time `json:"last_used_at"`
	RevokedAt   *time.Time `json:"revoked_at"`
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// findKey reads key id, or says there is none.
func findKey(ctx context.Context, st *sqlstore.Store, id string) (gateway.APIKey, error) {
	k, err := st.APIKey(ctx, id)
	if errors.Is(err, gateway.ErrNotFound) {
		return k, fmt.Errorf("no API key with id %s", id)
	}
	return k, err
}

func newKeyRevokeCmd(e env, gf *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API key (pushed to running servers at once; their poll is the fallback)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return withKeyStore(ctx, e, gf, func(st *sqlstore.Store, keys *auth.Keys) error {
				k, err := findKey(ctx, st, args[0])
				if err != nil {
					return err
				}
				if k.RevokedAt != nil {
					return fmt.Errorf("key %s (%s) is already revoked (since %s)", k.ID, k.Name, k.RevokedAt.UTC().Format(time.RFC3339))
				}
				if err := keys.RevokeKey(ctx, k.ID, ""); err != nil {
					return cliError(err)
				}
				_, err = fmt.Fprintf(e.stdout, "revoked key %s (%s)\n", k.ID, k.Name)
				return err
			})
		},
	}
}

func newKeyRotateCmd(e env, gf *globalFlags) *cobra.Command {
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "rotate ID [--grace DURATION]",
		Short: "Give an API key a new secret (printed once); the old one keeps working for --grace",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if grace < 0 {
				return fmt.Errorf("--grace: %s is negative", grace)
			}
			ctx := cmd.Context()
			return withKeyStore(ctx, e, gf, func(st *sqlstore.Store, keys *auth.Keys) error {
				k, err := findKey(ctx, st, args[0])
				if err != nil {
					return err
				}
				if k.RevokedAt != nil {
					return fmt.Errorf("key %s (%s) is revoked; create a new one", k.ID, k.Name)
				}
				k, secret, err := keys.RotateKey(ctx, k.ID, "", grace)
				if err != nil {
					return cliError(err)
				}
				old := "stops working now"
				if grace > 0 {
					old = "keeps working for " + grace.String()
				}
				fmt.Fprintf(e.stderr, "rotated key %s (%s); the old secret %s; the new one is shown only now:\n", k.ID, k.Name, old)
				_, err = fmt.Fprintln(e.stdout, secret.Reveal())
				return err
			})
		},
	}
	cmd.Flags().DurationVar(&grace, "grace", 0, "how long the old secret keeps working, e.g. 10m (default: not at all)")
	return cmd
}

// describeBudget is "1.000000 per day", "5000 tokens per week", or both.
func describeBudget(b gateway.Budget) string {
	var caps []string
	if b.MaxTokens != nil {
		caps = append(caps, fmt.Sprintf("%d tokens", *b.MaxTokens))
	}
	if b.MaxCost != nil {
		caps = append(caps, b.MaxCost.String())
	}
	per := "per " + string(b.Period)
	if b.Period == gateway.PeriodTotal {
		per = "in total"
	}
	return strings.Join(caps, " and ") + " " + per
}
