package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"testing"
	"time"
)

// heapSampler records, while it runs, the peak of the heap's objects
// (live and not yet swept: what the process holds) and of the live heap
// as the last GC measured it.
type heapSampler struct {
	stop chan struct{}
	done chan heapStats
}

type heapStats struct{ objects, live uint64 }

func heapNow() heapStats {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return heapStats{objects: s[0].Value.Uint64(), live: s[1].Value.Uint64()}
}

func sampleHeap() *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), done: make(chan heapStats, 1)}
	go func() {
		var peak heapStats
		for {
			now := heapNow()
			peak.objects, peak.live = max(peak.objects, now.objects), max(peak.live, now.live)
			select {
			case <-h.stop:
				h.done <- peak
				return
			default:
				time.Sleep(100 * time.Microsecond) // a sampling period, not an assertion
			}
		}
	}()
	return h
}

func (h *heapSampler) peak() heapStats {
	close(h.stop)
	return <-h.done
}

// postJSON is a goroutine-safe POST that returns status, headers and the
// decoded error envelope (nil for a success body).
type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
	err    error
}

func postJSON(client *http.Client, url string, v any) answer {
	b, _ := json.Marshal(v)
	resp, err := client.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		a.err = fmt.Errorf("body is not JSON: %q", raw)
	}
	return a
}

// checkEnvelope returns an error unless a is the SPEC error envelope with
// the given status, type and code, param null and Content-Type JSON.
func checkEnvelope(a answer, status int, typ, code string) error {
	e, _ := a.body["error"].(map[string]any)
	if a.status != status || e == nil || e["type"] != typ || e["code"] != code || e["param"] != nil ||
		a.header.Get("Content-Type") != "application/json" {
		return fmt.Errorf("answer %d %s %q, want %d %s/%s with param null", a.status, a.header.Get("Content-Type"), a.raw, status, typ, code)
	}
	return nil
}

// TestParallelLoginsBoundedMemory fires 200 parallel logins (right and
// wrong passwords, known and unknown emails) at the real app with the real
// argon2id parameters and two hash slots: every answer is 200, 401, 429 or
// 503 in its envelope, and the live heap grows by at most 100 MiB + 2 × 19
// MiB (without the bound it would grow by about 150 × 19 MiB).
func TestParallelLoginsBoundedMemory(t *testing.T) {
	const slots, n = 2, 200
	e := newAuthEnvDeps(t, appDeps{}, fmt.Sprintf("TOLLGATE_AUTH_PASSWORD_HASH_CONCURRENCY=%d", slots),
		"TOLLGATE_AUTH_LOGIN_RATE_PER_MINUTE=150", "TOLLGATE_AUTH_PASSWORD_HASH_WAIT=2s")
	if got := e.app.hashes.Slots(); got != slots {
		t.Fatalf("hash slots = %d, want %d", got, slots)
	}
	e.setup()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	defer client.CloseIdleConnections()

	runtime.GC()
	base := heapNow()
	sampler := sampleHeap()
	answers := make([]answer, n)
	rssGrew, rssMeasured := peakRSSGrowth(func() {
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := map[string]string{"email": "admin@example.com", "password": adminPassword}
				switch i % 3 {
				case 1:
					body["password"] = "wrong password"
				case 2:
					body["email"] = fmt.Sprintf("nobody%d@example.com", i)
				}
				answers[i] = postJSON(client, e.url+"/api/auth/login", body)
			}()
		}
		wg.Wait()
	})
	peak := sampler.peak()

	count := map[int]int{}
	for i, a := range answers {
		if a.err != nil {
			t.Fatalf("login %d: %v", i, a.err)
		}
		count[a.status]++
		var err error
		switch a.status {
		case http.StatusOK:
			if tok, _ := a.body["access_token"].(string); tok == "" || i%3 != 0 {
				err = fmt.Errorf("200 for login %d: %s", i, a.raw)
			}
		case http.StatusUnauthorized:
			err = checkEnvelope(a, 401, "authentication_error", "invalid_credentials")
		case http.StatusTooManyRequests:
			err = checkEnvelope(a, 429, "rate_limit_error", "rate_limit_exceeded")
		case http.StatusServiceUnavailable:
			err = checkEnvelope(a, 503, "unavailable_error", "overloaded")
			if err == nil && a.header.Get("Retry-After") != "1" {
				err = fmt.Errorf("503 Retry-After = %q, want 1", a.header.Get("Retry-After"))
			}
		default:
			err = fmt.Errorf("status %d: %s", a.status, a.raw)
		}
		if err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
	}
	if count[200]+count[401] == 0 {
		t.Fatalf("no login was verified: %v", count)
	}
	// The live heap may grow by at most 100 MiB + slots × 19 MiB. The heap
	// the process holds also carries the garbage of one GC cycle
	// (GOGC=100 lets it reach twice the live heap), so its bound counts
	// the slots twice.
	const mib = 1 << 20
	liveBound := uint64(100*mib + slots*19*mib)
	heldBound := uint64(100*mib + 2*slots*19*mib)
	t.Logf("answers %v; live heap base %d MiB peak %d MiB; held heap base %d MiB peak %d MiB",
		count, base.live/mib, peak.live/mib, base.objects/mib, peak.objects/mib)
	if peak.live > base.live+liveBound {
		t.Fatalf("live heap grew by %d MiB under %d parallel logins, want at most %d MiB", (peak.live-base.live)/mib, n, liveBound/mib)
	}
	if peak.objects > base.objects+heldBound {
		t.Fatalf("heap grew by %d MiB under %d parallel logins, want at most %d MiB", (peak.objects-base.objects)/mib, n, heldBound/mib)
	}
	// The process's peak resident set (VmHWM) also holds what the heap
	// returned to the runtime but not yet to the kernel, and the buffers of
	// 200 connections on both ends: twice the held-heap bound (four times
	// under the race detector, whose shadow memory doubles it). Unbounded,
	// 200 parallel argon2id runs would need 3.8 GB; before the hash
	// limiter, 500 parallel logins took 9.5 GB.
	if rssMeasured {
		rssBound := 2 * int64(heldBound)
		if raceEnabled {
			rssBound *= 2
		}
		t.Logf("peak RSS grew by %d MiB (bound %d MiB)", rssGrew/mib, rssBound/mib)
		if rssGrew > rssBound {
			t.Fatalf("peak RSS grew by %d MiB under %d parallel logins, want at most %d MiB", rssGrew/mib, n, rssBound/mib)
		}
	}
}

// TestPasswordHashOverloaded holds every hash slot: login, setup and
// registration then answer 503 overloaded with Retry-After once the queue
// wait ends, and work again when a slot frees.
func TestPasswordHashOverloaded(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t, "TOLLGATE_AUTH_PASSWORD_HASH_CONCURRENCY=1", "TOLLGATE_AUTH_PASSWORD_HASH_WAIT=20ms",
		"TOLLGATE_AUTH_REGISTRATION_ENABLED=true")
	release, err := e.app.hashes.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	setup := map[string]string{"email": "admin@example.com", "password": adminPassword}
	for _, tc := range []struct {
		path string
		body any
	}{
		{"/api/setup", setup},
		{"/api/auth/login", map[string]string{"email": "nobody@example.com", "password": "wrong password"}},
	} {
		r := e.do("POST", tc.path, "", tc.body)
		wantError(t, r, 503, "overloaded", "")
		if _, typ, _ := r.err(); typ != "unavailable_error" || r.header.Get("Retry-After") != "1" ||
			r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s: type %s, Retry-After %q, Content-Type %q", tc.path, typ, r.header.Get("Retry-After"), r.header.Get("Content-Type"))
		}
	}
	release()
	tok := e.setup()
	release, err = e.app.hashes.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	reg := map[string]string{"email": "r@example.com", "password": "a good password"}
	wantError(t, e.do("POST", "/api/auth/register", "", reg), 503, "overloaded", "")
	wantError(t, e.do("POST", "/api/admin/users", tok, map[string]string{"email": "u@example.com", "password": "a good password", "role": "viewer"}), 503, "overloaded", "")
	release()
	wantStatus(t, e.do("POST", "/api/auth/register", "", reg), 201)
}

// TestSetupAndRegisterRateLimitPerIP: setup and registration share a
// per-IP limiter of their own (auth.register_rate_per_minute), separate
// from the login limiter.
func TestSetupAndRegisterRateLimitPerIP(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t, "TOLLGATE_AUTH_REGISTER_RATE_PER_MINUTE=3", "TOLLGATE_AUTH_REGISTRATION_ENABLED=true",
		"TOLLGATE_AUTH_LOGIN_RATE_PER_MINUTE=100")
	wantError(t, e.do("POST", "/api/setup", "", map[string]string{"email": "admin@example.com", "password": "short"}), 400, "weak_password", "body.password")
	e.setup() // second attempt
	reg := func(email string) reply {
		return e.do("POST", "/api/auth/register", "", map[string]string{"email": email, "password": "a good password"})
	}
	wantStatus(t, reg("a@example.com"), 201) // third
	for _, r := range []reply{reg("b@example.com"), e.do("POST", "/api/setup", "", map[string]string{"email": "x@example.com", "password": adminPassword})} {
		wantError(t, r, 429, "rate_limit_exceeded", "")
		if _, typ, _ := r.err(); typ != "rate_limit_error" {
			t.Fatalf("type = %s", typ)
		}
		// 3 per minute: the next attempt is allowed within 20 s.
		if n, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || n < 1 || n > 20 {
			t.Fatalf("Retry-After = %q, want whole seconds in [1, 20]", r.header.Get("Retry-After"))
		}
	}
	// Logins are limited separately.
	e.login("a@example.com", "a good password")
}
