// Command bench measures what Tollgate adds on top of an upstream: it
// starts an OpenAI-compatible mock, the bare standard-library reverse
// proxy and the real gateway binary (pinned to one core), drives them with
// its own load generator and prints a table of each figure side by side
// with a direct call and the bare proxy, which it also writes as JSON.
//
//	go run ./bench            # full run, a few minutes
//	go run ./bench -short     # under a minute
//	go run ./bench -scale     # data volume (scale.go), about an hour
//
// See docs/benchmarks.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"
)

type options struct {
	short       bool
	out         string
	apiKey      string
	jwt         string
	redisURL    string
	gatewayEnv  []string
	keyEnv      []string // extra environment of the api-key variant (its database)
	budgetKey   string   // a key with a (never exhausted) token budget, provisioned with apiKey
	idleStreams int
	chunks      int
	gap         time.Duration
	goBench     bool
	keep        bool
	renderMD    string
}

type listFlag struct{ vs *[]string }

func (l listFlag) String() string {
	if l.vs == nil {
		return ""
	}
	return strings.Join(*l.vs, ",")
}
func (l listFlag) Set(v string) error { *l.vs = append(*l.vs, v); return nil }

func main() {
	var o options
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	fs.BoolVar(&o.short, "short", false, "quick check (under a minute)")
	fs.StringVar(&o.out, "out", "bench/results/latest.json", "where to write the JSON result")
	fs.StringVar(&o.apiKey, "api-key", os.Getenv("TOLLGATE_BENCH_API_KEY"), "API key for the API-key scenario (env TOLLGATE_BENCH_API_KEY); skipped when empty")
	fs.StringVar(&o.jwt, "jwt", os.Getenv("TOLLGATE_BENCH_JWT"), "JWT for the JWT scenario (env TOLLGATE_BENCH_JWT); skipped when empty")
	fs.StringVar(&o.redisURL, "redis-url", "redis://127.0.0.1:6379/0", "Redis for the Redis rate-limit scenario; skipped when unreachable")
	fs.Var(listFlag{&o.gatewayEnv}, "gateway-env", "KEY=VALUE added to every gateway's environment (repeatable), e.g. a database holding the API key")
	fs.IntVar(&o.idleStreams, "idle-streams", 0, "idle streams to hold open (default 10000, 2000 with -short)")
	fs.IntVar(&o.chunks, "stream-chunks", 20, "chunks in a paced stream")
	fs.DurationVar(&o.gap, "stream-gap", 5*time.Millisecond, "gap between stream chunks")
	fs.BoolVar(&o.goBench, "go-bench", true, "also run the proxy's go test -bench for allocation growth")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory with the servers' logs")
	fs.StringVar(&o.renderMD, "render-md", "", "print the JSON result at this path as Markdown and exit (no benchmark)")
	var so scaleOptions
	var scale bool
	fs.BoolVar(&scale, "scale", false, "data-volume benchmark (bench/scale.go) instead of the proxy plan")
	fs.BoolVar(&so.small, "scale-small", false, "data-volume benchmark at 10^3 and 10^4 only")
	fs.BoolVar(&so.huge, "scale-huge", false, "data-volume benchmark: usage rows up to 10^7")
	fs.StringVar(&so.pgURL, "scale-postgres", os.Getenv("TOLLGATE_TEST_POSTGRES_URL"), "PostgreSQL for the data-volume benchmark (a schema is created and dropped); env TOLLGATE_TEST_POSTGRES_URL")
	fs.StringVar(&so.engines, "scale-engines", "sqlite,postgres", "engines of the data-volume benchmark")
	fs.IntVar(&so.max, "scale-max", 0, "data-volume benchmark: largest size (e.g. 100000)")
	fs.IntVar(&so.reps, "scale-reps", 50, "timed repetitions of each call per size")
	runs := fs.Int("runs", 1, "run the benchmark this many times (results -out with -1, -2, ... before .json) and print min/median/max of every target")
	_ = fs.Parse(os.Args[1:])
	if scale || so.small {
		so.keep = o.keep
		if _, err := runScale(context.Background(), so, os.Stderr, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if o.renderMD != "" {
		res, err := readResult(o.renderMD)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		writeMarkdown(os.Stdout, res)
		return
	}
	if *runs > 1 {
		os.Exit(runMany(o, *runs))
	}
	res, err := run(context.Background(), o, os.Stderr)
	if res != nil {
		writeTable(os.Stdout, res)
		if werr := writeJSON(o.out, res); werr != nil {
			fmt.Fprintln(os.Stderr, "bench:", werr)
			os.Exit(1)
		}
		md := strings.TrimSuffix(o.out, ".json") + ".md"
		if f, err := os.Create(md); err == nil {
			writeMarkdown(f, res)
			_ = f.Close()
		}
		fmt.Fprintln(os.Stdout, "\nwrote", o.out, "and", md)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// runMany runs the benchmark n times, one after the other, keeps each
// result, and prints the spread of every target. It returns the exit code.
func runMany(o options, n int) int {
	var all []*Result
	base := strings.TrimSuffix(o.out, ".json")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(os.Stderr, "run %d of %d\n", i, n)
		res, err := run(context.Background(), o, os.Stderr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		out := fmt.Sprintf("%s-%d.json", base, i)
		if err := writeJSON(out, res); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		writeTable(os.Stdout, res)
		all = append(all, res)
	}
	fmt.Fprintln(os.Stdout)
	writeSpread(os.Stdout, all)
	return 0
}

// variants lists the gateway configurations of scenario 3.
func variants(o options) []variant {
	redisSkip := ""
	if !reachable(o.redisURL) {
		redisSkip = "Redis unreachable at " + o.redisURL
	}
	bearer := func(tok string) http.Header {
		if tok == "" {
			return nil
		}
		return http.Header{"Authorization": {"Bearer " + tok}}
	}
	noCred := func(tok string) string {
		if tok == "" {
			return "no credential"
		}
		return ""
	}
	return []variant{
		{Name: "gateway", Desc: "rate limit in memory + usage accounting (both always on), no auth", Env: o.gatewayEnv},
		{Name: "redis-rl", Desc: "rate limit in Redis + usage accounting", Skipped: redisSkip,
			Env: append([]string{"TOLLGATE_RATE_LIMIT_BACKEND=redis", "TOLLGATE_REDIS_URL=" + o.redisURL}, o.gatewayEnv...)},
		{Name: "api-key", Desc: "API key auth (cached) + rate limit in memory + usage accounting", Env: append(append([]string{}, o.keyEnv...), o.gatewayEnv...),
			Header: bearer(o.apiKey), Skipped: noCred(o.apiKey)},
		{Name: "api-key+budget", Desc: "API key with a token budget (database admission: guarded UPDATE; settlement batched by the usage writer) + rate limit in memory + usage accounting",
			Env: append(append([]string{}, o.keyEnv...), o.gatewayEnv...), Header: bearer(o.budgetKey), Skipped: noCred(o.budgetKey)},
		{Name: "api-key+budget-redis", Desc: "API key with a token budget + rate limit, both in Redis (one script call for both; settlement batched by the usage writer) + usage accounting",
			Env:    append(append([]string{}, o.keyEnv...), append([]string{"TOLLGATE_RATE_LIMIT_BACKEND=redis", "TOLLGATE_REDIS_URL=" + o.redisURL}, o.gatewayEnv...)...),
			Header: bearer(o.budgetKey), Skipped: firstOf(redisSkip, noCred(o.budgetKey))},
		{Name: "jwt", Desc: "JWT auth + rate limit in memory + usage accounting", Env: o.gatewayEnv,
			Header: bearer(o.jwt), Skipped: noCred(o.jwt)},
	}
}

// firstOf returns the first non-empty reason.
func firstOf(reasons ...string) string {
	for _, r := range reasons {
		if r != "" {
			return r
		}
	}
	return ""
}

// reachable reports whether a redis:// URL's host accepts TCP on 127.0.0.1.
func reachable(u string) bool {
	host := strings.TrimPrefix(u, "redis://")
	if i := strings.IndexAny(host, "/?"); i >= 0 {
		host = host[:i]
	}
	if i := strings.LastIndex(host, "@"); i >= 0 {
		host = host[i+1:]
	}
	c, err := net.DialTimeout("tcp", host, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func run(ctx context.Context, o options, log io.Writer) (*Result, error) {
	start := time.Now()
	p := fullPlan()
	mode := "full"
	if o.short {
		p, mode = shortPlan(), "short"
	}
	if o.idleStreams > 0 {
		p.IdleStreams = o.idleStreams
	}
	res := &Result{Mode: mode, Started: start.UTC(), Machine: describeMachine(runtime.NumCPU(), runtime.Version())}
	defer func() { res.Seconds = math.Round(time.Since(start).Seconds()) }()
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tollgate-bench-")
	if err != nil {
		return nil, err
	}
	if o.keep {
		res.LogsKept = dir
	} else {
		defer os.RemoveAll(dir)
	}
	if lim := raiseFileLimit(65536); lim < uint64(2*p.IdleStreams+1000) {
		p.IdleStreams = max(100, (int(lim)-1000)/2)
		res.Notes = append(res.Notes, fmt.Sprintf("open-file limit %d: idle streams reduced to %d", lim, p.IdleStreams))
	}
	r := &runner{plan: p, dir: dir, res: res, log: log}
	r.logf("building the gateway and the bare proxy")
	gwBin, bareBin, err := buildBinaries(ctx, root, dir)
	if err != nil {
		return nil, err
	}
	r.gwBin = gwBin
	if o.apiKey == "" {
		r.logf("provisioning a user and an API key for the api-key variant")
		key, budgetKey, env, err := provisionKey(ctx, gwBin, dir+"/keys")
		if err != nil {
			return nil, fmt.Errorf("provision API key: %w", err)
		}
		o.apiKey, o.budgetKey, o.keyEnv = key, budgetKey, env
	}
	if o.goBench {
		r.logf("go test -bench of the proxy handler (allocation growth)")
		res.GoBench, err = allocGrowth(ctx, root, o.short)
		if err != nil {
			res.Notes = append(res.Notes, "go test -bench failed: "+err.Error())
		}
	}
	pin, note := setupPinning()
	r.pin = pin
	res.Notes = append(res.Notes, note,
		"usage accounting and in-memory rate limiting are always on in today's gateway (limit set far above the load); there is no off switch to measure them separately",
		"the api-key variant uses a key the harness creates with `tollgate user create` and `tollgate key create` in its own database (or --api-key); the JWT variant needs --jwt")
	m, err := startMock(mockOptions{StreamChunks: o.chunks, StreamGap: o.gap, IdleHold: 5 * time.Minute})
	if err != nil {
		return nil, err
	}
	defer m.close()
	r.mock = m
	r.direct = &target{Name: "direct", URL: m.URL}
	bs, err := startBare(pin, bareBin, m.URL, dir+"/bareproxy.log")
	if err != nil {
		return nil, err
	}
	defer bs.stop()
	r.bare = &target{Name: "bare", URL: bs.URL, PID: bs.PID()}

	small := chatBody(modelSmall, false, 100)
	r.logf("direct saturation")
	direct := closedLoop(r.direct, small, p.Conns, p.Saturation, p.MaxRequests)
	vs := variants(o)
	mainVariant := "gateway"
	if o.apiKey != "" {
		mainVariant = "api-key"
	}
	tg := targetsInput{}
	for _, v := range vs {
		if v.Skipped != "" {
			r.add(Row{Scenario: "latency", Variant: v.Name, Metric: v.Desc, Skipped: v.Skipped},
				Row{Scenario: "throughput", Variant: v.Name, Metric: v.Desc, Skipped: v.Skipped})
			continue
		}
		r.logf("variant %s: %s", v.Name, v.Desc)
		gs, gw, err := r.startVariant(v)
		if err != nil {
			return res, err
		}
		r.logf("  latency rounds")
		rs := r.latency("latency", v.Name, gw, small, p.Rounds, p.PerRound)
		r.logf("  throughput")
		sb, sg, fb, fg := r.throughput(v.Name, gw, small, direct)
		direct = nil // the direct figure is shown once
		switch v.Name {
		case "gateway":
			tg.memRL = rs
		case "redis-rl":
			tg.redisRL = rs
		}
		if v.Name == mainVariant {
			tg.rounds, tg.satBare, tg.satGW, tg.fixedBare, tg.fixedGW = rs, sb, sg, fb, fg
			r.logf("  streaming")
			tg.stream = r.streaming(gw)
			r.logf("  request bodies")
			tg.body1MiB = r.bodies(gw)
			r.logf("  idle streams")
			_, tg.idle = r.idle(gw)
			tg.goroutinesPerIdle = r.lastGoroutinesPerIdle
		}
		gs.stop()
		if v.Name == mainVariant {
			// A fresh gateway, so the subscribers' RSS is not hidden in
			// what the idle streams left behind.
			r.logf("  live-event subscribers")
			fs, fw, err := r.startVariant(v)
			if err != nil {
				return res, err
			}
			r.subscribers(fw)
			fs.stop()
		}
	}
	tg.auth = o.apiKey != ""
	res.Targets = targets(tg)
	if bt, ok := goBenchTarget(res.GoBench); ok {
		res.Targets = append(res.Targets, bt)
	}
	if o.short {
		secs := time.Since(start).Seconds()
		res.Targets = append(res.Targets, Target{Name: "short run time", Ratio: math.Round(secs), Limit: 60, AtMost: true,
			Note: "seconds for the harness run of `make bench-short`, its builds of both servers included"}.check())
	}
	return res, nil
}
