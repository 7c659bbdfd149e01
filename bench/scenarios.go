package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// plan sizes every phase; short and full modes differ only here.
type plan struct {
	Rounds, PerRound             int // added-latency rounds
	StreamRounds, StreamPerRound int
	BodyRounds, BodyPerRound     int
	Saturation, Fixed            time.Duration
	Conns                        int
	IdleStreams                  int
	MaxRequests                  uint64
}

func shortPlan() plan {
	return plan{Rounds: 8, PerRound: 100, StreamRounds: 8, StreamPerRound: 3, BodyRounds: 4, BodyPerRound: 20,
		Saturation: time.Second, Fixed: time.Second, Conns: 32, IdleStreams: 2000, MaxRequests: 1 << 20}
}

func fullPlan() plan {
	return plan{Rounds: 30, PerRound: 300, StreamRounds: 15, StreamPerRound: 4, BodyRounds: 10, BodyPerRound: 50,
		Saturation: 8 * time.Second, Fixed: 8 * time.Second, Conns: 64, IdleStreams: 10000, MaxRequests: 1 << 24}
}

// variant is one gateway configuration under test.
type variant struct {
	Name    string
	Desc    string
	Env     []string
	Header  http.Header
	Skipped string
}

// runner holds what every scenario shares.
type runner struct {
	plan   plan
	pin    pinning
	mock   *mock
	direct *target
	bare   *target
	gwBin  string
	dir    string
	res    *Result
	log    io.Writer
	// lastGoroutinesPerIdle is the gateway's goroutines per idle stream
	// of the last idle scenario.
	lastGoroutinesPerIdle float64
}

func chatBody(model string, stream bool, size int) []byte {
	head := fmt.Sprintf(`{"model":%q,"stream":%t,"messages":[{"role":"user","content":"`, model, stream)
	tail := `"}]}`
	pad := max(size-len(head)-len(tail), 5)
	return []byte(head + strings.Repeat("a", pad) + tail)
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func (r *runner) add(rows ...Row) { r.res.Rows = append(r.res.Rows, rows...) }

// startVariant starts a gateway for v in its own directory.
func (r *runner) startVariant(v variant) (*server, *target, error) {
	dir := filepath.Join(r.dir, "gw-"+v.Name)
	s, err := startGateway(r.pin, r.gwBin, dir, r.mock.URL, v.Env)
	if err != nil {
		return nil, nil, err
	}
	return s, &target{Name: "gateway", URL: s.URL, PID: s.PID(), Header: v.Header, MetricsURL: s.MetricsURL}, nil
}

// latency is scenario 1 (and 3): alternating sequential rounds.
func (r *runner) latency(scenario, variant string, gw *target, body []byte, nRounds, perRound int) *rounds {
	ts := []*target{r.direct, r.bare, gw}
	rs := alternate(ts, body, nRounds, perRound, 3*time.Minute)
	med := func(i int) float64 { return micros(medianOfAll(rs.Median[i])) }
	p99 := func(i int) float64 { return micros(rs.All[i].Quantile(0.99)) }
	r.add(
		newRow(scenario, variant, "median latency", "us", med(0), med(1), med(2)),
		newRow(scenario, variant, "added median (median of round diffs)", "us", math.NaN(),
			micros(medianDiff(rs.Median[1], rs.Median[0])), micros(medianDiff(rs.Median[2], rs.Median[0]))),
		newRow(scenario, variant, "p99 latency", "us", p99(0), p99(1), p99(2)),
		newRow(scenario, variant, "added p99", "us", math.NaN(), p99(1)-p99(0), p99(2)-p99(0)),
	)
	r.noteErrors(scenario+"/"+variant, rs.Errors, rs.FirstErr)
	return rs
}

// medianOfAll is the median of per-round medians.
func medianOfAll(ms []time.Duration) time.Duration {
	return quantile(append([]time.Duration(nil), ms...), 0.5)
}

func (r *runner) noteErrors(what string, errs []uint64, first string) {
	var n uint64
	for _, e := range errs {
		n += e
	}
	if n > 0 {
		r.res.Notes = append(r.res.Notes, fmt.Sprintf("%s: %d failed requests (first: %s)", what, n, first))
	}
}

// throughput is scenario 2 (and 3): saturation, then a fixed rate of half
// the bare proxy's saturation throughput.
func (r *runner) throughput(variant string, gw *target, body []byte, direct *loadResult) (bare, gateway, fixedBare, fixedGW *loadResult) {
	p := r.plan
	bare = closedLoop(r.bare, body, p.Conns, p.Saturation, p.MaxRequests)
	gateway = closedLoop(gw, body, p.Conns, p.Saturation, p.MaxRequests)
	d := math.NaN()
	if direct != nil {
		d = direct.Throughput()
	}
	sc := "throughput"
	r.add(
		newRow(sc, variant, fmt.Sprintf("saturation (%d conns)", p.Conns), "req/s", d, bare.Throughput(), gateway.Throughput()),
		newRow(sc, variant, "CPU per request at saturation", "us", math.NaN(), micros(bare.CPUPerRequest()), micros(gateway.CPUPerRequest())),
	)
	rate := math.Round(bare.Throughput() / 2)
	if rate >= 10 {
		fb := fixedRate(r.bare, body, rate, 4*p.Conns, p.Fixed)
		fg := fixedRate(gw, body, rate, 4*p.Conns, p.Fixed)
		fixedBare, fixedGW = fb, fg
		m := fmt.Sprintf("fixed %.0f req/s", rate)
		r.add(
			newRow(sc, variant, m+": p50", "us", math.NaN(), micros(fb.Lat.Quantile(0.5)), micros(fg.Lat.Quantile(0.5))),
			newRow(sc, variant, m+": p99", "us", math.NaN(), micros(fb.Lat.Quantile(0.99)), micros(fg.Lat.Quantile(0.99))),
			newRow(sc, variant, m+": CPU per request", "us", math.NaN(), micros(fb.CPUPerRequest()), micros(fg.CPUPerRequest())),
		)
		r.noteErrors("fixed rate/"+variant, []uint64{fb.Errors, fg.Errors}, fb.FirstErr+fg.FirstErr)
	}
	r.noteErrors("saturation/"+variant, []uint64{bare.Errors, gateway.Errors}, bare.FirstErr+gateway.FirstErr)
	return bare, gateway, fixedBare, fixedGW
}

// streaming is scenario 4a: time to first byte and total time of a paced
// stream, alternating rounds.
func (r *runner) streaming(gw *target) *rounds {
	ts := []*target{r.direct, r.bare, gw}
	rs := alternate(ts, chatBody(modelStream, true, 100), r.plan.StreamRounds, r.plan.StreamPerRound, 3*time.Minute)
	sc := fmt.Sprintf("stream %dx%s", r.mock.opt.StreamChunks, r.mock.opt.StreamGap)
	first := func(i int) float64 { return micros(medianOfAll(rs.FirstMedian[i])) }
	total := func(i int) float64 { return micros(medianOfAll(rs.Median[i])) }
	r.add(
		newRow(sc, "gateway", "time to first byte, median", "us", first(0), first(1), first(2)),
		newRow(sc, "gateway", "added time to first byte", "us", math.NaN(),
			micros(medianDiff(rs.FirstMedian[1], rs.FirstMedian[0])), micros(medianDiff(rs.FirstMedian[2], rs.FirstMedian[0]))),
		newRow(sc, "gateway", "total time, median", "us", total(0), total(1), total(2)),
		newRow(sc, "gateway", "added total time", "us", math.NaN(),
			micros(medianDiff(rs.Median[1], rs.Median[0])), micros(medianDiff(rs.Median[2], rs.Median[0]))),
	)
	r.noteErrors(sc, rs.Errors, rs.FirstErr)
	return rs
}

// idleResult is the memory held by n idle streams through one server.
type idleResult struct {
	Open          int
	Before, After int64 // RSS bytes
	// GoroutinesBefore and GoroutinesAfter are the server's goroutines
	// (go_goroutines; NaN when it has no metrics endpoint).
	GoroutinesBefore, GoroutinesAfter float64
	Err                               string
}

// goroutinesPerStream is the growth of the goroutine count per open
// stream (NaN when unknown).
func (x idleResult) goroutinesPerStream() float64 {
	if x.Open == 0 {
		return math.NaN()
	}
	return (x.GoroutinesAfter - x.GoroutinesBefore) / float64(x.Open)
}

// idleStreams is scenario 4b: open n streams that receive their first
// chunk and then nothing, read the server's RSS, then close them all.
func idleStreams(t *target, n int, limit time.Duration) idleResult {
	body := chatBody(modelIdle, true, 100)
	return holdOpen(t, n, limit, func(ctx context.Context, c *http.Client) (io.ReadCloser, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, t.URL+"/v1/chat/completions", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range t.Header {
			req.Header[k] = v
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		// Held open only once the first chunk arrived.
		buf := make([]byte, 512)
		if _, err := resp.Body.Read(buf); err != nil || resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return nil, fmt.Errorf("status %d, %v", resp.StatusCode, err)
		}
		return resp.Body, nil
	})
}

// holdOpen opens n connections with open (200 being set up at a time),
// reads the server's RSS before and while all are held, then closes them.
// A connection counts as held once open returned its body; it is then
// read until the end of the run.
func holdOpen(t *target, n int, limit time.Duration, open func(context.Context, *http.Client) (io.ReadCloser, error)) idleResult {
	var res idleResult
	res.Before, _ = procRSS(t.PID)
	res.GoroutinesBefore = goroutines(t.MetricsURL)
	c := &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 1, DisableCompression: true,
	}}
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var held atomic.Int64
	var firstErr atomic.Value
	var ready, done sync.WaitGroup
	sem := make(chan struct{}, 200) // connections being set up at once
	for range n {
		if ctx.Err() != nil {
			break
		}
		ready.Add(1)
		done.Add(1)
		sem <- struct{}{}
		go func() {
			defer done.Done()
			body, err := open(ctx, c)
			<-sem
			ready.Done()
			if err != nil {
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			defer body.Close()
			held.Add(1)
			_, _ = io.Copy(io.Discard, body) // until cancelled
		}()
	}
	ready.Wait()
	time.Sleep(500 * time.Millisecond)
	res.After, _ = procRSS(t.PID)
	res.GoroutinesAfter = goroutines(t.MetricsURL)
	res.Open = int(held.Load())
	if e, ok := firstErr.Load().(string); ok {
		res.Err = e
	}
	cancel()
	done.Wait()
	return res
}

func (r *runner) idle(gw *target) (idleResult, idleResult) {
	n := r.plan.IdleStreams
	b := idleStreams(r.bare, n, 2*time.Minute)
	time.Sleep(time.Second)
	g := idleStreams(gw, n, 2*time.Minute)
	sc := fmt.Sprintf("idle streams x%d", n)
	mib := func(v int64) float64 { return float64(v) / (1 << 20) }
	per := func(x idleResult) float64 {
		if x.Open == 0 {
			return math.NaN()
		}
		return float64(x.After-x.Before) / 1024 / float64(x.Open)
	}
	r.add(
		newRow(sc, "gateway", "streams held open", "count", math.NaN(), float64(b.Open), float64(g.Open)),
		newRow(sc, "gateway", "RSS while held", "MiB", math.NaN(), mib(b.After), mib(g.After)),
		newRow(sc, "gateway", "RSS growth per stream", "KiB", math.NaN(), per(b), per(g)),
		newRow(sc, "gateway", "goroutines per stream", "count", math.NaN(), math.NaN(), g.goroutinesPerStream()),
	)
	r.lastGoroutinesPerIdle = g.goroutinesPerStream()
	for name, x := range map[string]idleResult{"bare": b, "gateway": g} {
		if x.Err != "" || x.Open < n {
			r.res.Notes = append(r.res.Notes, fmt.Sprintf("%s %s: %d of %d streams opened (first error: %s)", sc, name, x.Open, n, x.Err))
		}
	}
	return b, g
}

// bodies is scenario 5: added latency by request body size. It returns
// the 1 MiB rounds.
func (r *runner) bodies(gw *target) *rounds {
	var big *rounds
	for _, size := range []struct {
		name string
		n    int
	}{{"100B", 100}, {"16KiB", 16 << 10}, {"1MiB", 1 << 20}} {
		big = r.latency("body "+size.name, "gateway", gw, chatBody(modelSmall, false, size.n), r.plan.BodyRounds, r.plan.BodyPerRound)
	}
	return big
}
