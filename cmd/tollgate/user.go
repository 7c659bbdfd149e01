package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tollgate/tollgate/internal/auth"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/sqlstore"
)

// newUserCmd is `tollgate user ...`: user management directly on the
// configured database, for bootstrapping on the server host. Running
// servers hear of the changes at once (pushed; their poll within
// auth.cache_sync_interval is the fallback).
func newUserCmd(e env, gf *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage users directly in the configured database"}
	storeFlags(cmd, gf)
	cmd.AddCommand(newUserCreateCmd(e, gf), newUserListCmd(e, gf), newUserSetRoleCmd(e, gf), newUserDeactivateCmd(e, gf),
		newUserActivateCmd(e, gf), newUserDeleteCmd(e, gf), newUserResetPasswordCmd(e, gf))
	return cmd
}

// storeFlags are the flags of the commands that work on the database
// directly.
func storeFlags(cmd *cobra.Command, gf *globalFlags) {
	cmd.PersistentFlags().StringVar(&gf.databaseURL, "database-url", "", "database URL (database.url)")
	cmd.PersistentFlags().BoolVar(&gf.init, "init", false, "create and migrate the database if it does not exist yet")
}

// checkDatabaseExists refuses to work on a SQLite file that does not
// exist: a command run from the wrong directory would otherwise create an
// empty database and, say, a user nobody's server sees.
func checkDatabaseExists(dbURL string, init bool) error {
	path, ok := strings.CutPrefix(dbURL, "sqlite://")
	if !ok || init {
		return nil
	}
	path, _, _ = strings.Cut(path, "?")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no database at %s (database.url = %s): run this where the server runs, point --database-url (or --config) at its database, "+
			"or create a new one with `tollgate migrate` or --init", path, dbURL)
	}
	return nil
}

// withStore opens (and migrates) the configured database for a CLI
// command that works on it directly, and runs fn with an identity service
// on it (no background sync, no setup token).
func withStore(ctx context.Context, e env, gf *globalFlags, fn func(*sqlstore.Store, *auth.Service) error) error {
	cfg, err := loadConfig(e, gf)
	if err != nil {
		return err
	}
	if err := checkDatabaseExists(cfg.DatabaseURL(), gf.init); err != nil {
		return err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	// Running servers hear of a revocation or role change at once.
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	feed, rc, err := changeFeed(cfg, st, nil, log)
	if err != nil {
		return err
	}
	if rc != nil {
		defer rc.Close()
	}
	publishChanges(st, feed, log)
	return fn(st, auth.New(auth.Options{Users: st, Sessions: st, Mode: cfg.Auth.Mode, Hashes: newHashLimiter(cfg), Audit: cliAudit(st)}))
}

// withUsers runs fn with an identity service on the configured database.
func withUsers(ctx context.Context, e env, gf *globalFlags, fn func(*auth.Service) error) error {
	return withStore(ctx, e, gf, func(_ *sqlstore.Store, s *auth.Service) error { return fn(s) })
}

func newUserCreateCmd(e env, gf *globalFlags) *cobra.Command {
	var email, role, name, password string
	var fromStdin bool
	cmd := &cobra.Command{
		Use:   "create --email E --role R [--name N] [--password-stdin]",
		Short: "Create a user (the password is prompted for, or read from stdin)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := gateway.ParseRole(role)
			if err != nil {
				return fmt.Errorf("--role: %w", err)
			}
			var pw gateway.Secret
			switch {
			case password != "":
				fmt.Fprintln(e.stderr, "warning: a password given with --password is visible in the process list and shell history; prefer the prompt or --password-stdin")
				pw = gateway.Secret(password)
			default:
				if pw, err = readPassword(e, fromStdin); err != nil {
					return err
				}
			}
			return withUsers(cmd.Context(), e, gf, func(s *auth.Service) error {
				u, err := s.CreateUser(cmd.Context(), gateway.NewUser{Email: email, Password: pw, DisplayName: name, Role: r})
				if err != nil {
					return cliError(err)
				}
				_, err = fmt.Fprintf(e.stdout, "created user %s (%s) with role %s\n", u.Email, u.ID, u.Role)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&email, "email", "", "email address (required)")
	cmd.Flags().StringVar(&role, "role", "", "viewer, contributor or admin (required)")
	cmd.Flags().StringVar(&name, "name", "", "display name")
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from stdin (one trailing newline is removed)")
	cmd.Flags().StringVar(&password, "password", "", "the password (discouraged: visible to other local users)")
	_ = cmd.MarkFlagRequired("email")
	_ = cmd.MarkFlagRequired("role")
	return cmd
}

// readPassword prompts without echo when stdin is a terminal (twice, to
// confirm) unless fromStdin is set; otherwise it reads stdin whole and
// removes one trailing newline.
func readPassword(e env, fromStdin bool) (gateway.Secret, error) {
	if f, ok := e.stdin.(*os.File); ok && !fromStdin && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(e.stderr, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(e.stderr, "Repeat password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if !bytes.Equal(a, b) {
			return "", errors.New("the passwords do not match")
		}
		return gateway.Secret(a), nil
	}
	b, err := io.ReadAll(io.LimitReader(e.stdin, auth.MaxPasswordBytes+3))
	if err != nil {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 {
		return "", errors.New("no password on stdin")
	}
	return gateway.Secret(b), nil
}

// cliError renders a *gateway.Error as its message (and param).
func cliError(err error) error {
	if ge, ok := gateway.AsError(err); ok && ge.Kind != gateway.KindInternal {
		if ge.Param != "" {
			return fmt.Errorf("%s (%s)", ge.Message, ge.Param)
		}
		return errors.New(ge.Message)
	}
	return err
}

func newUserListCmd(e env, gf *globalFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list [-o table|json]",
		Short: "List users",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			return withUsers(cmd.Context(), e, gf, func(s *auth.Service) error {
				var all []gateway.User
				cursor := ""
				for {
					users, next, err := s.ListUsers(cmd.Context(), cursor, 200)
					if err != nil {
						return cliError(err)
					}
					all = append(all, users...)
					if next == "" {
						break
					}
					cursor = next
				}
				if output == "json" {
					out := make([]userJSON, 0, len(all))
					for _, u := range all {
						out = append(out, userJSON{ID: u.ID, Email: u.Email, Name: u.DisplayName, Role: u.Role.String(), Active: u.Active, CreatedAt: u.CreatedAt})
					}
					return writeJSONOut(e, out)
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tEMAIL\tROLE\tACTIVE\tNAME")
				for _, u := range all {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\n", u.ID, u.Email, u.Role, u.Active, u.DisplayName)
				}
				return tw.Flush()
			})
		},
	}
	outputFlag(cmd, &output)
	return cmd
}

// userJSON is a user in `user list -o json`.
type userJSON struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"created_at"`
}

// outputFlag adds -o/--output (table or json) to a list command.
func outputFlag(cmd *cobra.Command, output *string) {
	cmd.Flags().StringVarP(output, "output", "o", "table", "output format: table or json")
}

func checkOutput(o string) error {
	if o != "table" && o != "json" {
		return fmt.Errorf("-o/--output: %q is not table or json", o)
	}
	return nil
}

// writeJSONOut writes v as indented JSON to stdout.
func writeJSONOut(e env, v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newUserSetRoleCmd(e env, gf *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "set-role EMAIL ROLE",
		Short: "Change a user's role (takes effect on their next request)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := gateway.ParseRole(args[1])
			if err != nil {
				return err
			}
			return updateByEmail(cmd.Context(), e, gf, args[0], gateway.UserPatch{Role: &r})
		},
	}
}

func newUserDeactivateCmd(e env, gf *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "deactivate EMAIL",
		Short: "Deactivate a user: every credential of theirs stops working",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			no := false
			return updateByEmail(cmd.Context(), e, gf, args[0], gateway.UserPatch{Active: &no})
		},
	}
}

func newUserActivateCmd(e env, gf *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "activate EMAIL",
		Short: "Activate a deactivated user (their old tokens stay invalid; they log in again)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			yes := true
			return updateByEmail(cmd.Context(), e, gf, args[0], gateway.UserPatch{Active: &yes})
		},
	}
}

// newUserDeleteCmd is a soft delete: the user is deactivated (every token
// dies) and every API key of theirs is revoked (auth.Service.SoftDelete, as
// DELETE /api/admin/users/{id}); their conversations and usage are kept.
// The last active admin cannot be deleted.
func newUserDeleteCmd(e env, gf *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete EMAIL",
		Short: "Delete a user: deactivate them and revoke every API key of theirs (their data is kept)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return withKeys(ctx, e, gf, func(s *auth.Service, keys *auth.Keys) error {
				u, err := userByEmail(ctx, s, args[0])
				if err != nil {
					return err
				}
				u, revoked, err := s.SoftDelete(ctx, u.ID, keys)
				if err != nil {
					return cliError(err)
				}
				_, err = fmt.Fprintf(e.stdout, "deleted user %s: deactivated, %d API key(s) revoked; their data is kept\n", u.Email, revoked)
				return err
			})
		},
	}
}

func newUserResetPasswordCmd(e env, gf *globalFlags) *cobra.Command {
	var fromStdin bool
	cmd := &cobra.Command{
		Use:   "reset-password EMAIL [--password-stdin]",
		Short: "Set a user's password (prompted for, or read from stdin); their existing tokens stop working",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := readPassword(e, fromStdin)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			return withUsers(ctx, e, gf, func(s *auth.Service) error {
				u, err := userByEmail(ctx, s, args[0])
				if err != nil {
					return err
				}
				if _, err := s.UpdateUser(ctx, u.ID, gateway.UserPatch{Password: &pw}); err != nil {
					return cliError(err)
				}
				_, err = fmt.Fprintf(e.stdout, "password of %s reset; their existing tokens no longer work\n", u.Email)
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from stdin (one trailing newline is removed)")
	return cmd
}

// userByEmail finds a user or says there is none.
func userByEmail(ctx context.Context, s *auth.Service, email string) (gateway.User, error) {
	u, err := s.UserByEmail(ctx, email)
	if err != nil {
		if ge, ok := gateway.AsError(err); ok && ge.Kind == gateway.KindNotFound {
			return u, fmt.Errorf("no user with email %s", email)
		}
		return u, cliError(err)
	}
	return u, nil
}

func updateByEmail(ctx context.Context, e env, gf *globalFlags, email string, p gateway.UserPatch) error {
	return withUsers(ctx, e, gf, func(s *auth.Service) error {
		u, err := s.UserByEmail(ctx, email)
		if err != nil {
			if ge, ok := gateway.AsError(err); ok && ge.Kind == gateway.KindNotFound {
				return fmt.Errorf("no user with email %s", email)
			}
			return cliError(err)
		}
		if u, err = s.UpdateUser(ctx, u.ID, p); err != nil {
			return cliError(err)
		}
		_, err = fmt.Fprintf(e.stdout, "user %s: role %s, active %t\n", u.Email, u.Role, u.Active)
		return err
	})
}
