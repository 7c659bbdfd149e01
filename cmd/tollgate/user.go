package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tollgate/tollgate/internal/auth"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/sqlstore"
)

// newUserCmd is `tollgate user ...`: user management directly on the
// configured database, for bootstrapping on the server host. Running
// servers see the changes within auth.cache_sync_interval.
func newUserCmd(e env, gf *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage users directly in the configured database"}
	cmd.PersistentFlags().StringVar(&gf.databaseURL, "database-url", "", "database URL (database.url)")
	cmd.AddCommand(newUserCreateCmd(e, gf), newUserListCmd(e, gf), newUserSetRoleCmd(e, gf), newUserDeactivateCmd(e, gf))
	return cmd
}

// withStore opens (and migrates) the configured database for a CLI
// command that works on it directly, and runs fn with an identity service
// on it (no background sync, no setup token).
func withStore(ctx context.Context, e env, gf *globalFlags, fn func(*sqlstore.Store, *auth.Service) error) error {
	cfg, err := loadConfig(e, gf)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(st, auth.New(auth.Options{Users: st, Sessions: st, Mode: cfg.Auth.Mode, Hashes: newHashLimiter(cfg)}))
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
	return &cobra.Command{
		Use:   "list",
		Short: "List users",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withUsers(cmd.Context(), e, gf, func(s *auth.Service) error {
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tEMAIL\tROLE\tACTIVE\tNAME")
				cursor := ""
				for {
					users, next, err := s.ListUsers(cmd.Context(), cursor, 200)
					if err != nil {
						return cliError(err)
					}
					for _, u := range users {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\n", u.ID, u.Email, u.Role, u.Active, u.DisplayName)
					}
					if next == "" {
						return tw.Flush()
					}
					cursor = next
				}
			})
		},
	}
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
