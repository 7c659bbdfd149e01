package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// target is one server under test: the mock itself (direct), the bare
// reverse proxy or a gateway.
type target struct {
	Name string
	URL  string // base URL, http://127.0.0.1:PORT
	PID  int    // 0 for the in-process mock
	// Header is sent with every request (credentials).
	Header http.Header
	// MetricsURL is the gateway's Prometheus endpoint ("" when none).
	MetricsURL string
}

// newClient returns a keep-alive client for up to conns concurrent
// connections.
func newClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}}
}

// timing is what one request measured.
type timing struct {
	Total time.Duration // until the body was read to its end
	First time.Duration // until the first body byte
}

// errStatus reports a non-200 answer.
type errStatus struct{ code int }

func (e errStatus) Error() string { return fmt.Sprintf("status %d", e.code) }

// do sends one chat completion and reads the answer to its end.
func do(ctx context.Context, c *http.Client, t *target, body []byte, buf []byte) (timing, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		return timing{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range t.Header {
		req.Header[k] = v
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return timing{}, err
	}
	defer resp.Body.Close()
	var tm timing
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 && tm.First == 0 {
			tm.First = time.Since(start)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return timing{}, err
		}
	}
	tm.Total = time.Since(start)
	if resp.StatusCode != http.StatusOK {
		return tm, errStatus{resp.StatusCode}
	}
	return tm, nil
}

// loadResult is one load phase against one target.
type loadResult struct {
	Requests uint64
	Errors   uint64
	FirstErr string
	Elapsed  time.Duration
	CPU      time.Duration // of the target process, 0 when unknown
	Lat      Hist
}

// Throughput is successful requests per second.
func (r *loadResult) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// CPUPerRequest is the target's CPU time per successful request.
func (r *loadResult) CPUPerRequest() time.Duration {
	if r.Requests == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Requests)
}

// worker state shared by the load modes.
type recorder struct {
	mu       sync.Mutex
	res      *loadResult
	requests atomic.Uint64
	errors   atomic.Uint64
}

// worker is one connection's share of a load phase: its own histogram and
// first error, merged into the recorder when it ends.
type worker struct {
	rc    *recorder
	h     Hist
	first error
}

// record counts one request: an error, or a success with its latency.
func (w *worker) record(err error, d time.Duration) {
	if err != nil {
		w.rc.errors.Add(1)
		if w.first == nil {
			w.first = err
		}
		return
	}
	w.rc.requests.Add(1)
	w.h.Record(d)
}

// done merges the worker's results into the recorder.
func (w *worker) done() {
	w.rc.mu.Lock()
	defer w.rc.mu.Unlock()
	w.rc.res.Lat.Merge(&w.h)
	if w.first != nil && w.rc.res.FirstErr == "" {
		w.rc.res.FirstErr = w.first.Error()
	}
}

// measureCPU runs f and adds the target's CPU time spent meanwhile.
func measureCPU(t *target, res *loadResult, f func()) {
	var before time.Duration
	if t.PID > 0 {
		before, _ = procCPU(t.PID)
	}
	start := time.Now()
	f()
	res.Elapsed = time.Since(start)
	if t.PID > 0 {
		if after, err := procCPU(t.PID); err == nil {
			res.CPU = after - before
		}
	}
}

// closedLoop runs conns workers that each send the next request as soon as
// the previous one ends, for d or until maxRequests were sent.
func closedLoop(t *target, body []byte, conns int, d time.Duration, maxRequests uint64) *loadResult {
	res := &loadResult{}
	rc := &recorder{res: res}
	c := newClient(conns)
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	var sent atomic.Uint64
	measureCPU(t, res, func() {
		deadline := time.Now().Add(d)
		var wg sync.WaitGroup
		for range conns {
			wg.Go(func() {
				w := &worker{rc: rc}
				buf := make([]byte, 32<<10)
				for time.Now().Before(deadline) && sent.Add(1) <= maxRequests {
					tm, err := do(ctx, c, t, body, buf)
					w.record(err, tm.Total)
				}
				w.done()
			})
		}
		wg.Wait()
	})
	res.Requests, res.Errors = rc.requests.Load(), rc.errors.Load()
	return res
}

// fixedRate sends rate requests per second for d from up to conns
// connections. Latency counts from each request's intended start, so a
// stalled server is not hidden by requests that were never sent
// (coordinated omission).
func fixedRate(t *target, body []byte, rate float64, conns int, d time.Duration) *loadResult {
	res := &loadResult{}
	rc := &recorder{res: res}
	c := newClient(conns)
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	n := int(rate * d.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	measureCPU(t, res, func() {
		intended := make(chan time.Time, conns)
		var wg sync.WaitGroup
		for range conns {
			wg.Go(func() {
				w := &worker{rc: rc}
				buf := make([]byte, 32<<10)
				for at := range intended {
					_, err := do(ctx, c, t, body, buf)
					w.record(err, time.Since(at))
				}
				w.done()
			})
		}
		start := time.Now()
		for i := range n {
			at := start.Add(time.Duration(i) * interval)
			if w := time.Until(at); w > 0 {
				time.Sleep(w)
			}
			if ctx.Err() != nil {
				break
			}
			intended <- at
		}
		close(intended)
		wg.Wait()
	})
	res.Requests, res.Errors = rc.requests.Load(), rc.errors.Load()
	return res
}

// rounds is the result of alternating sequential rounds over targets.
type rounds struct {
	// Median[i][r] is target i's median total time in round r; FirstMedian
	// the same for time to first byte.
	Median, FirstMedian [][]time.Duration
	All, AllFirst       []Hist // every sample per target
	Errors              []uint64
	FirstErr            string
}

// alternate runs nRounds rounds; in each, every target gets perRound
// sequential requests on its own keep-alive connection, the order of
// targets rotating from round to round. A round starts with one unrecorded
// warm-up request per target.
func alternate(ts []*target, body []byte, nRounds, perRound int, limit time.Duration) *rounds {
	rs := &rounds{
		Median: make([][]time.Duration, len(ts)), FirstMedian: make([][]time.Duration, len(ts)),
		All: make([]Hist, len(ts)), AllFirst: make([]Hist, len(ts)), Errors: make([]uint64, len(ts)),
	}
	clients := make([]*http.Client, len(ts))
	for i := range ts {
		clients[i] = newClient(1)
		defer clients[i].CloseIdleConnections()
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	buf := make([]byte, 32<<10)
	tot := make([]time.Duration, 0, perRound)
	first := make([]time.Duration, 0, perRound)
	for r := range nRounds {
		if ctx.Err() != nil {
			break
		}
		for k := range ts {
			i := (k + r) % len(ts)
			_, _ = do(ctx, clients[i], ts[i], body, buf)
			tot, first = tot[:0], first[:0]
			for range perRound {
				tm, err := do(ctx, clients[i], ts[i], body, buf)
				if err != nil {
					rs.Errors[i]++
					if rs.FirstErr == "" {
						rs.FirstErr = ts[i].Name + ": " + err.Error()
					}
					continue
				}
				tot = append(tot, tm.Total)
				first = append(first, tm.First)
				rs.All[i].Record(tm.Total)
				rs.AllFirst[i].Record(tm.First)
			}
			if len(tot) > 0 {
				rs.Median[i] = append(rs.Median[i], quantile(tot, 0.5))
				rs.FirstMedian[i] = append(rs.FirstMedian[i], quantile(first, 0.5))
			}
		}
	}
	return rs
}
