package config

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// keyTypes maps every key path of Config to its Go type. Arrays of tables
// (providers, models, auth.static_tokens) are leaves.
func keyTypes() map[string]reflect.Type {
	out := map[string]reflect.Type{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("koanf")
			if tag == "" || tag == "-" {
				continue
			}
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
				walk(f.Type, prefix+tag+".")
				continue
			}
			out[prefix+tag] = f.Type
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	return out
}

// checkFileKeys reports the first key of a config file that Config does
// not have, naming the section when the section itself is unknown
// ("[sever]") and the key within a known section otherwise.
func checkFileKeys(path string, keys []string) error {
	types := keyTypes()
	sections := map[string]bool{}
	for k := range types {
		parts := strings.Split(k, ".")
		for i := 1; i < len(parts); i++ {
			sections[strings.Join(parts[:i], ".")] = true
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if _, ok := types[k]; ok {
			continue
		}
		parts := strings.Split(k, ".")
		// The longest known section that contains the key.
		known := ""
		for i := len(parts) - 1; i >= 1; i-- {
			if s := strings.Join(parts[:i], "."); sections[s] {
				known = s
				break
			}
		}
		if known == "" && len(parts) > 1 {
			return &FieldError{Key: parts[0], Message: fmt.Sprintf("unknown section [%s] in %s (sections: %s)",
				parts[0], path, strings.Join(topSections(sections), ", "))}
		}
		if known != "" && len(strings.Split(k, ".")) > len(strings.Split(known, "."))+1 {
			sub := strings.Join(parts[:len(strings.Split(known, "."))+1], ".")
			return &FieldError{Key: sub, Message: fmt.Sprintf("unknown section [%s] in %s", sub, path)}
		}
		if known == "" {
			return &FieldError{Key: k, Message: fmt.Sprintf("unknown top-level key in %s (keys belong in a section such as [server])", path)}
		}
		return &FieldError{Key: k, Message: fmt.Sprintf("unknown key in section [%s] of %s", known, path)}
	}
	return nil
}

func topSections(sections map[string]bool) []string {
	var out []string
	for s := range sections {
		if !strings.Contains(s, ".") {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// EnvError is an environment variable whose value does not parse as its
// key's type.
type EnvError struct {
	Name, Value, Key, Problem string
}

func (e *EnvError) Error() string {
	return fmt.Sprintf("config: %s=%q (%s): %s", e.Name, e.Value, e.Key, e.Problem)
}

// checkEnvValue checks one environment value against its key's type.
func checkEnvValue(name, key, val string, t reflect.Type) error {
	var problem string
	switch {
	case t == reflect.TypeOf(time.Duration(0)):
		if _, err := time.ParseDuration(val); err != nil {
			problem = "not a duration (e.g. 30s, 5m, 1h)"
		}
	case t.Kind() == reflect.Bool:
		if _, err := strconv.ParseBool(val); err != nil {
			problem = "not a boolean (true or false)"
		}
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		if _, err := strconv.ParseInt(val, 0, 64); err != nil {
			problem = "not an integer"
		}
	}
	if problem == "" {
		return nil
	}
	return &EnvError{Name: name, Value: val, Key: key, Problem: problem}
}

// UnknownEnv lists the TOLLGATE_* variables of environ that are neither a
// config key nor a variable the configuration names (static tokens'
// token_env, providers' api_key_env) nor one the CLI reads
// (TOLLGATE_API_KEY, TOLLGATE_SERVER). TOLLGATE_TEST_* variables belong to
// the test suite and are never reported.
func (c *Config) UnknownEnv(environ []string) []string {
	known := EnvNames()
	for _, st := range c.Auth.StaticTokens {
		known[st.TokenEnv] = ""
	}
	for _, p := range c.Providers {
		known[p.APIKeyEnv] = ""
	}
	for _, n := range cliEnv {
		known[n] = ""
	}
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) || strings.HasPrefix(name, TestEnvPrefix) {
			continue
		}
		if _, ok := known[name]; !ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestEnvPrefix starts the variables the test suite reads
// (TOLLGATE_TEST_POSTGRES_URL, ...); they are not configuration.
const TestEnvPrefix = "TOLLGATE_TEST_"

// cliEnv are the variables the CLI's client commands read (SPEC 10).
var cliEnv = []string{"TOLLGATE_API_KEY", "TOLLGATE_SERVER"}
