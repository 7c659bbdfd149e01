package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/toml/v2"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// EnvPrefix starts every environment variable that config reads.
const EnvPrefix = "TOLLGATE_"

// DefaultFile is read when no --config is given and it exists.
const DefaultFile = "tollgate.toml"

// Sources are the layers Load merges, lowest first after the defaults.
type Sources struct {
	// File is an explicit --config path (must exist); "" means DefaultFile
	// if present.
	File string
	// Environ is the environment as KEY=VALUE pairs (os.Environ()).
	Environ []string
	// Flags are key paths ("server.addr") set on the command line.
	Flags map[string]any
}

// Load merges defaults < file < environment < flags and validates the
// result. Errors name the key they are about.
func Load(src Sources) (*Config, error) {
	k := koanf.New(".")
	if err := k.Load(confmap.Provider(toMap(Defaults()), "."), nil); err != nil {
		return nil, fmt.Errorf("config defaults: %w", err)
	}
	path := src.File
	if path == "" {
		if _, err := os.Stat(DefaultFile); err == nil {
			path = DefaultFile
		}
	}
	if path != "" {
		fk := koanf.New(".")
		if err := fk.Load(file.Provider(path), toml.Parser()); err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
		if err := checkFileKeys(path, fk.Keys()); err != nil {
			return nil, err
		}
		if err := k.Merge(fk); err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	envKeys := EnvNames()
	types := keyTypes()
	env := map[string]any{}
	for _, kv := range src.Environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		key, known := envKeys[name]
		if !known {
			continue // TOLLGATE_TEST_* and other variables that are not config keys
		}
		if err := checkEnvValue(name, key, val, types[key]); err != nil {
			return nil, err
		}
		if isList(key) {
			env[key] = splitList(val)
		} else {
			env[key] = val
		}
	}
	if err := k.Load(confmap.Provider(env, "."), nil); err != nil {
		return nil, fmt.Errorf("config environment: %w", err)
	}
	if len(src.Flags) > 0 {
		if err := k.Load(confmap.Provider(src.Flags, "."), nil); err != nil {
			return nil, fmt.Errorf("config flags: %w", err)
		}
	}
	var cfg Config
	dc := &mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
		),
		WeaklyTypedInput: true,
		ErrorUnused:      true,
		Result:           &cfg,
		TagName:          "koanf",
	}
	if err := k.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{DecoderConfig: dc}); err != nil {
		return nil, fmt.Errorf("config: %s", decodeMessage(err))
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.File = path
	return &cfg, nil
}

// decodeMessage flattens mapstructure's multi-line error into one line
// that still names the keys.
func decodeMessage(err error) string {
	var parts []string
	for _, line := range strings.Split(err.Error(), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "*"))
		if line == "" || strings.HasSuffix(line, "error(s) decoding:") || strings.HasPrefix(line, "decoding failed due to") {
			continue
		}
		parts = append(parts, line)
	}
	if len(parts) == 0 {
		return errors.Unwrap(err).Error()
	}
	return strings.Join(parts, "; ")
}

// EnvNames maps every scalar or list key's environment variable name to its
// key path: TOLLGATE_RATE_LIMIT_BACKEND → rate_limit.backend. Arrays of
// tables (providers, models, static tokens) are configured in the file.
func EnvNames() map[string]string {
	out := map[string]string{}
	for key := range flatten(toMap(Defaults()), "") {
		out[EnvPrefix+strings.ToUpper(strings.ReplaceAll(key, ".", "_"))] = key
	}
	return out
}

func isList(key string) bool {
	switch key {
	case "server.trusted_proxies", "auth.allowed_email_domains":
		return true
	}
	return false
}

func splitList(v string) []string {
	out := []string{}
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// flatten lists the leaf keys of a nested map; arrays of tables are leaves
// that env does not address, and are skipped.
func flatten(m map[string]any, prefix string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		key := prefix + k
		switch vv := v.(type) {
		case map[string]any:
			for k2, v2 := range flatten(vv, key+".") {
				out[k2] = v2
			}
		case []map[string]any:
			// providers, models, static_tokens: file only
		default:
			out[key] = v
		}
	}
	return out
}

// toMap converts a config struct to nested maps keyed by koanf tags, with
// durations as strings and secrets as their values (used for defaults).
func toMap(v any) map[string]any {
	return structMap(reflect.ValueOf(v), false).(map[string]any)
}

// structMap walks v; with redact, secrets become "[redacted]".
func structMap(v reflect.Value, redact bool) any {
	switch v.Kind() {
	case reflect.Struct:
		m := map[string]any{}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			tag := t.Field(i).Tag.Get("koanf")
			if tag == "" || tag == "-" {
				continue
			}
			m[tag] = structMap(v.Field(i), redact)
		}
		return m
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Struct {
			out := make([]map[string]any, v.Len())
			for i := range out {
				out[i] = structMap(v.Index(i), redact).(map[string]any)
			}
			return out
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = structMap(v.Index(i), redact)
		}
		return out
	}
	switch x := v.Interface().(type) {
	case interface{ Reveal() string }:
		if redact {
			return fmt.Sprint(x)
		}
		return x.Reveal()
	case fmt.Stringer:
		if v.Type().PkgPath() == "time" {
			return x.String()
		}
	}
	return v.Interface()
}
