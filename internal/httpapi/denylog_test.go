package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/httpapi"
	"github.com/tollgate/tollgate/internal/testsvc"
)

const (
	viewerSecret = "tg_viewer-secret-that-must-never-be-logged"
	badSecret    = "wrong-secret-that-must-never-be-logged"
)

// secretAuth accepts viewerSecret as a viewer's key and refuses anything
// else with 401 invalid_authorization.
type secretAuth struct{}

func (secretAuth) Authenticate(r *http.Request) (*gateway.Principal, error) {
	if r.Header.Get("Authorization") == "Bearer "+viewerSecret {
		return &gateway.Principal{Kind: gateway.PrincipalKey, UserID: "user-1", KeyID: "k1", KeyPrefix: "abcd1234", Role: gateway.RoleViewer}, nil
	}
	return nil, gateway.E(gateway.KindUnauthenticated, "invalid_authorization", "The credential is not valid")
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the JSON log lines.
func (l *lockedBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(l.b.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %s", sc.Bytes())
		}
		out = append(out, m)
	}
	return out
}

func denialServer(t *testing.T, perSecond int, clk *testsvc.Clock) (string, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	s := httpapi.New(httpapi.Options{Log: slog.New(slog.NewJSONHandler(logs, nil)), Auth: secretAuth{},
		DenialLogPerSecond: perSecond, Now: clk.Now})
	s.Handle(httpapi.Route{Method: "GET", Path: "/test/admin", Access: httpapi.Requires(gateway.RoleAdmin), OperationID: "testAdmin",
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			return httpapi.WriteJSON(w, 200, map[string]string{})
		}})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv.URL, logs
}

func denyCall(t *testing.T, url, secret string) *http.Response {
	t.Helper()
	req := newReq(t, "GET", url+"/test/admin", "", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, _ := do(t, req)
	return resp
}

func TestDenialsAreLogged(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		secret string
		status float64
		code   string
		extra  map[string]any
	}{
		{"Unauthenticated", badSecret, 401, "invalid_authorization", nil},
		{"Forbidden", viewerSecret, 403, "insufficient_role", map[string]any{"user_id": "user-1", "key_prefix": "abcd1234"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, logs := denialServer(t, 10, testsvc.NewClock(time.Now()))
			resp := denyCall(t, url, tc.secret)
			if resp.StatusCode != int(tc.status) {
				t.Fatalf("status = %d, want %v", resp.StatusCode, tc.status)
			}
			lines := logs.lines(t)
			if len(lines) != 1 {
				t.Fatalf("%d log lines, want 1: %v", len(lines), lines)
			}
			want := map[string]any{"level": "WARN", "msg": "request denied", "request_id": resp.Header.Get("X-Request-Id"),
				"route": "GET /test/admin", "method": "GET", "client_ip": "127.0.0.1", "status": tc.status, "code": tc.code}
			for k, v := range tc.extra {
				want[k] = v
			}
			got := lines[0]
			delete(got, "time")
			if len(got) != len(want) {
				t.Fatalf("log line = %v, want exactly %v", got, want)
			}
			for k, v := range want {
				if got[k] != v {
					t.Fatalf("log %s = %v, want %v (line %v)", k, got[k], v, got)
				}
			}
			logs.mu.Lock()
			raw := logs.b.String()
			logs.mu.Unlock()
			if strings.Contains(raw, "must-never-be-logged") {
				t.Fatalf("log holds the credential: %s", raw)
			}
		})
	}
}

func TestDenialFloodLogsBoundedLines(t *testing.T) {
	t.Parallel()
	clk := testsvc.NewClock(time.Now())
	url, logs := denialServer(t, 5, clk)
	for range 100 {
		if resp := denyCall(t, url, badSecret); resp.StatusCode != 401 {
			t.Fatalf("status = %d, want 401", resp.StatusCode)
		}
	}
	if n := len(logs.lines(t)); n != 5 {
		t.Fatalf("%d log lines for 100 denials in one instant, want 5 (the burst)", n)
	}
	clk.Advance(time.Second)
	denyCall(t, url, badSecret)
	lines := logs.lines(t)
	if len(lines) != 6 {
		t.Fatalf("%d log lines after a second, want 6", len(lines))
	}
	if got := lines[5]["suppressed"]; got != float64(95) {
		t.Fatalf("suppressed = %v, want 95", got)
	}
	if _, ok := lines[4]["suppressed"]; ok {
		t.Fatalf("a line before any suppression carries suppressed: %v", lines[4])
	}
}
