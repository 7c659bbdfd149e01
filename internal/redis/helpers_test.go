package redis

import (
	"context"
	"net/url"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/testsvc"
)

// testClient connects to the test Redis (or skips), optionally through a
// different address (a proxy).
func testClient(t testing.TB, addr string) *goredis.Client {
	t.Helper()
	raw := testsvc.RedisURL(t)
	if addr != "" {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		u.Host = addr
		raw = u.String()
	}
	c, err := NewClient(raw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// redisAddr returns host:port of the test Redis.
func redisAddr(t testing.TB) string {
	t.Helper()
	u, err := url.Parse(testsvc.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// uniquePrefix returns a key prefix unique to this test run whose keys are
// deleted at cleanup, so parallel runs never share buckets.
func uniquePrefix(t testing.TB) string {
	t.Helper()
	raw := testsvc.RedisURL(t)
	prefix := testsvc.UniqueName("tollgate_test_rl_") + ":"
	t.Cleanup(func() {
		c, err := NewClient(raw)
		if err != nil {
			return
		}
		defer c.Close()
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return prefix
}
