package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tollgate/tollgate/internal/client"
	"github.com/tollgate/tollgate/internal/gateway"
)

// credentials is what `tollgate login` stores, mode 0600, in
// $XDG_CONFIG_HOME/tollgate/credentials.json (~/.config when unset).
type credentials struct {
	Server      string `json:"server"`
	AccessToken string `json:"access_token"`
}

func lookupEnv(environ []string, name string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}

// credentialsPath is where login stores its token.
func credentialsPath(environ []string) (string, error) {
	dir := lookupEnv(environ, "XDG_CONFIG_HOME")
	if dir == "" {
		home := lookupEnv(environ, "HOME")
		if home == "" {
			return "", errors.New("neither XDG_CONFIG_HOME nor HOME is set")
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "tollgate", "credentials.json"), nil
}

func loadCredentials(environ []string) (*credentials, error) {
	p, err := credentialsPath(environ)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var c credentials
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return &c, nil
}

func saveCredentials(environ []string, c credentials) (string, error) {
	p, err := credentialsPath(environ)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", err
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return "", err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return "", err
	}
	return p, os.Rename(tmp, p)
}

// readLine reads one line from r without its line ending.
func readLine(r *bufio.Reader) (string, error) {
	s, err := r.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && s != "") {
		return "", err
	}
	return strings.TrimRight(s, "\r\n"), nil
}

func newLoginCmd(e env) *cobra.Command {
	var server, email string
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Log in to a Tollgate server and store the access token for chat and whoami",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			base := newAPIClient(e.environ()).BaseURL()
			if server != "" {
				base = server
			}
			c := client.New(base)
			in := bufio.NewReader(e.stdin)
			if email == "" {
				fmt.Fprint(e.stderr, "Email: ")
				var err error
				if email, err = readLine(in); err != nil || email == "" {
					return errors.New("no email given")
				}
			}
			var password string
			if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				fmt.Fprint(e.stderr, "Password: ")
				b, err := term.ReadPassword(int(f.Fd()))
				fmt.Fprintln(e.stderr)
				if err != nil {
					return fmt.Errorf("read password: %w", err)
				}
				password = string(b)
			} else {
				var err error
				if password, err = readLine(in); err != nil || password == "" {
					return errors.New("no password on stdin")
				}
			}
			res, err := c.Login(cmd.Context(), email, gateway.Secret(password))
			if err != nil {
				return serverError(err)
			}
			p, err := saveCredentials(e.environ(), credentials{Server: c.BaseURL(), AccessToken: res.AccessToken})
			if err != nil {
				return fmt.Errorf("store credentials: %w", err)
			}
			fmt.Fprintf(e.stdout, "logged in to %s as %s (%s); token stored in %s\n", c.BaseURL(), res.User.Email, res.User.Role, p)
			return nil
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "server URL (default $TOLLGATE_SERVER or "+defaultServer+")")
	cmd.Flags().StringVar(&email, "email", "", "email (prompted when not given)")
	return cmd
}

func newLogoutCmd(e env) *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Revoke the stored token on the server and forget it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			creds, err := loadCredentials(e.environ())
			if errors.Is(err, os.ErrNotExist) {
				fmt.Fprintln(e.stdout, "not logged in")
				return nil
			}
			if err != nil {
				return err
			}
			c := client.New(creds.Server).WithToken(creds.AccessToken)
			if err := c.Logout(cmd.Context()); err != nil {
				fmt.Fprintln(e.stderr, "warning: the server did not confirm the logout:", serverError(err))
			}
			p, _ := credentialsPath(e.environ())
			if err := os.Remove(p); err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, "logged out")
			return nil
		},
	}
}

func newWhoamiCmd(e env) *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show who the stored token or TOLLGATE_API_KEY acts as",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := loadCredentials(e.environ()); err != nil && lookupEnv(e.environ(), "TOLLGATE_API_KEY") == "" {
				return errors.New("not logged in: run `tollgate login` or set TOLLGATE_API_KEY")
			}
			c := newAPIClient(e.environ())
			me, err := c.Me(cmd.Context())
			if err != nil {
				return serverError(err)
			}
			name := me.Email
			if name == "" {
				name = me.DisplayName
			}
			fmt.Fprintf(e.stdout, "%s (%s) on %s\n", name, me.Role, c.BaseURL())
			return nil
		},
	}
}
