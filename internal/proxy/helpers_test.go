package proxy_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/httpapi"
	"github.com/tollgate/tollgate/internal/llm"
	"github.com/tollgate/tollgate/internal/llm/echo"
	"github.com/tollgate/tollgate/internal/llm/openai"
	"github.com/tollgate/tollgate/internal/proxy"
)

// usageSink collects usage records in memory.
type usageSink struct {
	mu   sync.Mutex
	recs []gateway.UsageRecord
}

func (s *usageSink) Record(r gateway.UsageRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, r)
}

func (s *usageSink) all() []gateway.UsageRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]gateway.UsageRecord(nil), s.recs...)
}

// only returns the single record, failing unless there is exactly one.
func (s *usageSink) only(t *testing.T) gateway.UsageRecord {
	t.Helper()
	recs := s.all()
	if len(recs) != 1 {
		t.Fatalf("usage records = %d, want 1: %+v", len(recs), recs)
	}
	return recs[0]
}

// harness is a proxy behind the real router (httpapi), served over real
// HTTP: what a client sees is what the gateway answers, error envelopes
// and headers included.
type harness struct {
	px    *proxy.Proxy
	usage *usageSink
	srv   *httptest.Server
	// principal is who every request authenticates as.
	principal *gateway.Principal
	// done receives once per request after the router's handler returned.
	done chan struct{}
}

// principalAuth authenticates every request as its harness's principal
// (a contributor when the test set no role), so the proxy tests exercise
// the real route, its end-user rules and its renderer without users.
type principalAuth struct{ h *harness }

func (a principalAuth) Authenticate(*http.Request) (*gateway.Principal, error) {
	if a.h.principal == nil {
		return &gateway.Principal{Kind: gateway.PrincipalLocal, UserID: gateway.LocalUserID, Role: gateway.RoleAdmin}, nil
	}
	p := *a.h.principal
	if p.Role == gateway.RoleNone {
		p.Role = gateway.RoleContributor
	}
	p.EndUserID = "" // the router sets it from the header
	return &p, nil
}

// serveRouter serves px behind the real router, signalling done after
// each request.
func serveRouter(t testing.TB, px *proxy.Proxy, auth httpapi.Authenticator, done chan struct{}) *httptest.Server {
	api := httpapi.New(httpapi.Options{Proxy: px, Auth: auth, Log: slog.New(slog.DiscardHandler)})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if done != nil {
			defer func() { done <- struct{}{} }()
		}
		api.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// provider is an OpenAI-compatible upstream at url whose API key is
// "sk-" + name.
func provider(name, url string, timeout time.Duration) llm.Provider {
	return openai.New(openai.Options{Name: name, BaseURL: url, APIKey: gateway.Secret("sk-" + name), Timeout: timeout})
}

func model(name string, prov llm.Provider, upstream string, fallbacks ...string) proxy.Model {
	return proxy.Model{Name: name, Provider: prov, UpstreamModel: upstream, Fallbacks: fallbacks}
}

// echoModel is the built-in echo provider serving model "echo", as
// cmd/tollgate configures it when no provider is.
func echoModel() proxy.Model {
	return proxy.Model{Name: echo.Model, Provider: echo.New(echo.Model, nil)}
}

func newHarness(t *testing.T, models ...proxy.Model) *harness {
	t.Helper()
	h := &harness{usage: &usageSink{}, done: make(chan struct{}, 1024),
		principal: &gateway.Principal{Kind: gateway.PrincipalKey, UserID: "u1", KeyID: "k1", Role: gateway.RoleContributor}}
	px, err := proxy.New(proxy.Options{
		Models: models, Usage: h.usage,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Close)
	h.px = px
	h.srv = serveRouter(t, px, principalAuth{h}, h.done)
	return h
}

// waitDone waits until the handler of the last request returned.
func (h *harness) waitDone(t *testing.T) {
	t.Helper()
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		t.Fatal("handler did not return within 10s")
	}
}

type errorBody struct {
	Error struct {
		Type    string  `json:"type"`
		Code    string  `json:"code"`
		Message string  `json:"message"`
		Param   *string `json:"param"`
	} `json:"error"`
}

func (h *harness) post(t *testing.T, body string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-Id", "req-test")
	if p := h.principal; p != nil && p.EndUserMode && p.EndUserID != "" {
		req.Header.Set("X-End-User-Id", p.EndUserID)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// expectError checks a whole error answer.
func expectError(t *testing.T, resp *http.Response, status int, typ, code, message, param string) {
	t.Helper()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d (body %s)", resp.StatusCode, status, b)
	}
	var e errorBody
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("error body %s: %v", b, err)
	}
	if e.Error.Type != typ || e.Error.Code != code || (message != "" && e.Error.Message != message) {
		t.Fatalf("error = %+v, want type %q code %q message %q", e.Error, typ, code, message)
	}
	gotParam := ""
	if e.Error.Param != nil {
		gotParam = *e.Error.Param
	}
	if gotParam != param {
		t.Fatalf("error.param = %q, want %q", gotParam, param)
	}
}

// readEvents reads a whole SSE answer into the data of its events.
func readEvents(t *testing.T, r io.Reader) []string {
	t.Helper()
	var out []string
	for ev, err := range llm.ReadEvents(r) {
		if err != nil {
			t.Fatalf("reading client stream: %v", err)
		}
		out = append(out, ev.Data)
	}
	return out
}

// eventReader reads one SSE event at a time from a live response.
type eventReader struct{ br *bufio.Reader }

func (er *eventReader) next(t *testing.T) string {
	t.Helper()
	var data bytes.Buffer
	for {
		line, err := er.br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading event: %v", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if data.Len() > 0 {
				return data.String()
			}
			continue
		}
		if rest, ok := strings.CutPrefix(line, "data: "); ok {
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(rest)
		}
	}
}

type httptestServer = httptest.Server
