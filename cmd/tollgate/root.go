package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/tollgate/tollgate/internal/config"
)

// env is the process environment a command runs in; tests substitute it.
type env struct {
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
	environ func() []string
}

// globalFlags are the flags every command that reads config accepts.
type globalFlags struct {
	configFile  string
	addr        string
	databaseURL string
}

func newRootCmd(e env) *cobra.Command {
	var gf globalFlags
	root := &cobra.Command{
		Use:           "tollgate",
		Short:         "Tollgate: a self-hosted gateway in front of OpenAI-compatible LLM backends",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.PersistentFlags().StringVar(&gf.configFile, "config", "", "config file (default ./tollgate.toml if present)")
	root.AddCommand(
		newServeCmd(e, &gf),
		newMigrateCmd(e, &gf),
		newConfigCmd(e, &gf),
		newOpenAPICmd(e, &gf),
		newUserCmd(e, &gf),
		newChatCmd(e),
		newFollowCmd(e),
		newLoginCmd(e),
		newLogoutCmd(e),
		newWhoamiCmd(e),
		newKeyCmd(e, &gf),
		&cobra.Command{
			Use:   "version",
			Short: "Print the version",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				_, err := fmt.Fprintln(e.stdout, "tollgate", version)
				return err
			},
		},
	)
	return root
}

// loadConfig merges defaults < file < environment < flags.
func loadConfig(e env, gf *globalFlags) (*config.Config, error) {
	flags := map[string]any{}
	if gf.addr != "" {
		flags["server.addr"] = gf.addr
	}
	if gf.databaseURL != "" {
		flags["database.url"] = gf.databaseURL
	}
	return config.Load(config.Sources{File: gf.configFile, Environ: e.environ(), Flags: flags})
}

// newLogger builds the structured logger of log.level and log.format.
func newLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func newConfigCmd(e env, gf *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Inspect the configuration"}
	cmd.AddCommand(&cobra.Command{
		Use:   "print",
		Short: "Print the effective configuration with secrets redacted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(e, gf)
			if err != nil {
				return err
			}
			out, err := cfg.Print()
			if err != nil {
				return err
			}
			_, err = e.stdout.Write(out)
			return err
		},
	})
	return cmd
}
