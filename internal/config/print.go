package config

import (
	"net/url"
	"reflect"

	"github.com/knadh/koanf/parsers/toml/v2"
)

// Print renders the effective configuration as TOML with every secret
// redacted: the JWT secret, the Redis URL and any password in database.url.
func (c *Config) Print() ([]byte, error) {
	m := structMap(reflect.ValueOf(*c), true).(map[string]any)
	db := m["database"].(map[string]any)
	db["url"] = RedactURL(c.DatabaseURL())
	return toml.Parser().Marshal(m)
}

// RedactURL hides the password of a URL ("postgres://u:pw@h/db" →
// "postgres://u:[redacted]@h/db"); other strings are returned unchanged.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "redacted")
		return u.String()
	}
	return s
}
