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
	// interrupts, when set, routes SIGINT to the returned channel until
	// release is called, instead of ending the command's context (nil: no
	// interrupts are delivered, as in most tests).
	interrupts func() (interrupts <-chan struct{}, release func())
}

// catchInterrupts is e.interrupts, or a channel that never fires.
func (e env) catchInterrupts() (<-chan struct{}, func()) {
	if e.interrupts == nil {
		return nil, func() {}
	}
	return e.interrupts()
}

// globalFlags are the flags every command that reads config accepts.
type globalFlags struct {
	configFile  string
	addr        string
	databaseURL string
	// init lets user and key commands create a database that does not
	// exist yet (--init).
	init bool
}

func newRootCmd(e env) *cobra.Command {
	var gf globalFlags
	root := &cobra.Command{
		Use:           "tollgate",
		Short:         "Tollgate: a self-hosted gateway in front of OpenAI-compatible LLM backends",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("tollgate {{.Version}}\n")
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
		newUsageCmd(e),
		newLoginCmd(e),
		newLogoutCmd(e),
		newWhoamiCmd(e),
		newKeyCmd(e, &gf),
		newAuditCmd(e, &gf),
		newBackupCmd(e, &gf),
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
	finishCommands(root)
	return root
}

// finishCommands gives every command its help example and makes a
// command that only groups others (user, key, config) fail on a missing
// or unknown subcommand instead of printing help and exiting 0.
func finishCommands(cmd *cobra.Command) {
	if ex, ok := commandExamples[cmd.CommandPath()]; ok && cmd.Example == "" {
		cmd.Example = ex
	}
	if cmd.HasSubCommands() && cmd.Run == nil && cmd.RunE == nil {
		cmd.Args = cobra.ArbitraryArgs
		cmd.RunE = func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unknown command %q for %q; see %s --help", args[0], c.CommandPath(), c.CommandPath())
			}
			return fmt.Errorf("%s needs a subcommand; see %s --help", c.CommandPath(), c.CommandPath())
		}
	}
	for _, c := range cmd.Commands() {
		finishCommands(c)
	}
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
