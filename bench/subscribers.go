package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// fanOutSubscribers and fanOutRounds shape the fan-out half of the
// live-events scenario (issue 15: an event reaches 1,000 subscribers of
// one conversation in under 50 ms p99).
const (
	fanOutSubscribers = 1000
	fanOutRounds      = 10
)

// subscribers is scenario 6: live conversation events (SPEC 7.1) over real
// HTTP. First n idle subscribers of one conversation are held open and the
// gateway's RSS growth per subscriber is read; then fanOutSubscribers
// subscribers read their streams while the conversation is renamed
// fanOutRounds times, and the time from each PATCH to each subscriber's
// conversation.updated is recorded.
func (r *runner) subscribers(gw *target) {
	sc := fmt.Sprintf("live-event subscribers x%d", r.plan.IdleStreams)
	conv, err := createConversation(gw)
	if err != nil {
		r.res.Notes = append(r.res.Notes, sc+": "+err.Error())
		return
	}
	idle := holdSubscribers(gw, conv, r.plan.IdleStreams, 2*time.Minute)
	per := math.NaN()
	if idle.Open > 0 {
		per = float64(idle.After-idle.Before) / 1024 / float64(idle.Open)
	}
	r.add(
		newRow(sc, "gateway", "subscribers held open", "count", math.NaN(), math.NaN(), float64(idle.Open)),
		newRow(sc, "gateway", "RSS while held", "MiB", math.NaN(), math.NaN(), float64(idle.After)/(1<<20)),
		newRow(sc, "gateway", "RSS growth per subscriber", "KiB", math.NaN(), math.NaN(), per),
	)
	if idle.Err != "" || idle.Open < r.plan.IdleStreams {
		r.res.Notes = append(r.res.Notes, fmt.Sprintf("%s: %d of %d subscribers opened (first error: %s)", sc, idle.Open, r.plan.IdleStreams, idle.Err))
	}
	lat, err := fanOut(gw, conv, fanOutSubscribers, fanOutRounds)
	fs := fmt.Sprintf("live-event fan-out x%d", fanOutSubscribers)
	if err != nil {
		r.res.Notes = append(r.res.Notes, fs+": "+err.Error())
		return
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	r.add(
		newRow(fs, "gateway", "event to subscriber p50", "ms", math.NaN(), math.NaN(), ms(quantile(lat, 0.50))),
		newRow(fs, "gateway", "event to subscriber p99", "ms", math.NaN(), math.NaN(), ms(quantile(lat, 0.99))),
		newRow(fs, "gateway", "event to subscriber max", "ms", math.NaN(), math.NaN(), ms(quantile(lat, 1))),
	)
}

// createConversation creates the conversation the scenario subscribes to.
func createConversation(t *target) (string, error) {
	req, _ := http.NewRequest(http.MethodPost, t.URL+"/api/conversations", strings.NewReader(`{"title":"bench"}`))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range t.Header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var c struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil || resp.StatusCode != http.StatusCreated || c.ID == "" {
		return "", fmt.Errorf("create conversation: status %d, %v", resp.StatusCode, err)
	}
	return c.ID, nil
}

// subscribe opens one live-event stream of conv.
func subscribe(ctx context.Context, c *http.Client, t *target, conv string) (*http.Response, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, t.URL+"/api/stream/conversations/"+conv, nil)
	for k, v := range t.Header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("subscribe: status %d", resp.StatusCode)
	}
	return resp, nil
}

func streamClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 1, DisableCompression: true,
	}}
}

// holdSubscribers holds n subscribers of conv open (holdOpen).
func holdSubscribers(t *target, conv string, n int, limit time.Duration) idleResult {
	return holdOpen(t, n, limit, func(ctx context.Context, c *http.Client) (io.ReadCloser, error) {
		resp, err := subscribe(ctx, c, t, conv)
		if err != nil {
			return nil, err
		}
		return resp.Body, nil
	})
}

// fanOut holds n reading subscribers of conv, renames the conversation
// rounds times, and returns the time from each PATCH to each subscriber's
// conversation.updated event.
func fanOut(t *target, conv string, n, rounds int) ([]time.Duration, error) {
	c := streamClient()
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type receipt struct {
		round int
		at    time.Time
	}
	got := make(chan receipt, n*rounds)
	var wg sync.WaitGroup
	var failed atomic.Value
	for range n {
		resp, err := subscribe(ctx, c, t, conv)
		if err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if strings.HasPrefix(line, "data: ") && strings.Contains(line, `"title":"bench-`) {
					var d struct{ Title string }
					if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &d) == nil {
						var round int
						if _, err := fmt.Sscanf(d.Title, "bench-%d", &round); err == nil {
							got <- receipt{round, time.Now()}
						}
					}
				}
			}
		}()
	}
	var lat []time.Duration
	for round := range rounds {
		body := fmt.Sprintf(`{"title":"bench-%d"}`, round)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPatch, t.URL+"/api/conversations/"+conv, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range t.Header {
			req.Header[k] = v
		}
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			failed.Store(err.Error())
			break
		}
		resp.Body.Close()
		for seen := 0; seen < n; {
			select {
			case rc := <-got:
				if rc.round == round {
					lat = append(lat, rc.at.Sub(start))
					seen++
				}
			case <-ctx.Done():
				cancel()
				wg.Wait()
				return nil, fmt.Errorf("round %d: %d of %d subscribers got the event", round, seen, n)
			}
		}
	}
	cancel()
	wg.Wait()
	if e, ok := failed.Load().(string); ok {
		return nil, fmt.Errorf("rename: %s", e)
	}
	return lat, nil
}
