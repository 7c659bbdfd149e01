package httpapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/conversation"
	"github.com/tollgate/tollgate/internal/events"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/httpapi"
)

// Placeholders that only make httpapi.New register every route: the fuzz
// target below reads the routes' request types and never calls a handler
// (a call would panic on the nil interface inside).
type (
	anyIdentity      struct{ httpapi.Identity }
	anyKeys          struct{ httpapi.KeyManager }
	anyCompleter     struct{ conversation.Completer }
	anyConversations struct{ gateway.ConversationStore }
	anyRateLimits    struct{ gateway.RateLimitStore }
	anyUsage         struct{ gateway.UsageStore }
	anyBudgets       struct{ httpapi.BudgetManager }
	anySessions      struct{ httpapi.SessionManager }
	anyOAuth         struct{ httpapi.OAuth }
	anyEvents        struct{ events.Hub }
	anyAuditLog      struct{ httpapi.AuditLog }
)

// bodyFuzzOptions registers every route: each dependency that gates
// routes has a placeholder (TestBodyFuzzOptionsAreComplete keeps it so).
func bodyFuzzOptions() httpapi.Options {
	return httpapi.Options{Identity: anyIdentity{}, Keys: anyKeys{},
		Conversations: conversation.New(conversation.Options{Store: anyConversations{}, Completer: anyCompleter{}}),
		RateLimits:    anyRateLimits{}, Usage: anyUsage{}, Budgets: anyBudgets{}, Sessions: anySessions{},
		OAuth: anyOAuth{}, Events: anyEvents{}, AuditLog: anyAuditLog{}, Audit: gateway.NopAuditor{}}
}

// TestBodyFuzzOptionsAreComplete fails when httpapi.Options gains an
// interface dependency that FuzzAPIBodies' router leaves nil, so a new
// family of routes cannot escape the body fuzzer unnoticed. Left nil on
// purpose: Auth and Limiter (no routes of their own), Proxy (/v1 has
// proxy.FuzzParseChatRequest), Metrics and Gatherer, and WebUI (no
// routes: it answers unmatched GET and HEAD requests, which have no body).
func TestBodyFuzzOptionsAreComplete(t *testing.T) {
	exempt := map[string]bool{"Auth": true, "Limiter": true, "Proxy": true, "Metrics": true, "Gatherer": true, "Log": true, "AccessLog": true, "WebUI": true}
	v := reflect.ValueOf(bodyFuzzOptions())
	for i := range v.NumField() {
		f, name := v.Field(i), v.Type().Field(i).Name
		if (f.Kind() == reflect.Interface || f.Kind() == reflect.Pointer) && f.IsNil() && !exempt[name] {
			t.Errorf("httpapi.Options.%s is nil in FuzzAPIBodies' router: give it a placeholder", name)
		}
	}
}

// allBodyRoutes returns every route of a fully registered router that
// takes a JSON body through DecodeJSON. /v1 is not registered (without a
// proxy): its parser has its own target, proxy.FuzzParseChatRequest.
func allBodyRoutes(t testing.TB) []*httpapi.Route {
	srv := httpapi.New(bodyFuzzOptions())
	var routes []*httpapi.Route
	for _, rt := range srv.Routes() {
		if rt.Request != nil && !strings.HasPrefix(rt.Path, "/v1/") {
			routes = append(routes, rt)
		}
	}
	slices.SortFunc(routes, func(x, y *httpapi.Route) int { return strings.Compare(x.Pattern(), y.Pattern()) })
	if len(routes) < 10 {
		t.Fatalf("only %d body routes registered", len(routes))
	}
	return routes
}

// FuzzAPIBodies feeds every /api request body type through
// httpapi.DecodeJSON. Whatever the bytes, it never panics, refuses only
// with a *gateway.Error of 400 (invalid_json, invalid_field, missing_field,
// weak_password), and what it accepts is valid JSON that encoding/json
// reads into the same Go value: the strict decoder and the standard one
// never disagree about a body that got through.
func FuzzAPIBodies(f *testing.F) {
	routes := allBodyRoutes(f)
	for i, s := range []string{
		`{"email":"a@b.c","password":"correct horse battery","display_name":"A"}`,
		`{"name":"k","role":"viewer","expires_in_seconds":60,"end_user_mode":true}`,
		`{"title":"t","model":"echo","system_prompt":"s"}`,
		`{"content":"hi","stream":true}`,
		`{"role":"admin","ROLE":"viewer"}`,
		`{"name":"p","requests_per_minute":60,"burst":10}`,
		`{"grace_seconds":3600}`,
		`[[[[[[]]]]]]`, `{"a":{"b":{"c":[1,2,{"d":null}]}}}`, `{"email":1}`, `null`, `"x"`, ``,
	} {
		for j := range routes {
			f.Add(uint8(i*len(routes)+j), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		rt := routes[int(which)%len(routes)]
		typ := reflect.TypeOf(rt.Request)
		if typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		dst := reflect.New(typ)
		req := httptest.NewRequest(rt.Method, "/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		err := httpapi.DecodeJSON(req, dst.Interface(), false)
		if err != nil {
			var ge *gateway.Error
			if !errors.As(err, &ge) || ge.Kind != gateway.KindInvalid {
				t.Fatalf("%s: error %v is not an Invalid *gateway.Error", rt.Pattern(), err)
			}
			switch ge.Code {
			case "invalid_json", "invalid_field", "missing_field", "weak_password":
			default:
				t.Fatalf("%s: unexpected error code %q (%v)", rt.Pattern(), ge.Code, err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("%s: accepted invalid JSON %q", rt.Pattern(), body)
		}
		std := reflect.New(typ)
		if err := json.Unmarshal(body, std.Interface()); err != nil {
			t.Fatalf("%s: accepted %q, which encoding/json refuses: %v", rt.Pattern(), body, err)
		}
		if !reflect.DeepEqual(dst.Elem().Interface(), std.Elem().Interface()) {
			t.Fatalf("%s: strict decode %+v, encoding/json %+v for %q", rt.Pattern(), dst.Elem(), std.Elem(), body)
		}
	})
}

// TestBodyFuzzSeesTheNewRouteFamilies pins that the fuzzer's router has the
// body routes of every family (a placeholder that registered nothing
// would leave them out silently).
func TestBodyFuzzSeesTheNewRouteFamilies(t *testing.T) {
	have := map[string]bool{}
	for _, rt := range allBodyRoutes(t) {
		have[rt.Pattern()] = true
	}
	for _, p := range []string{
		"POST /api/auth/login", "POST /api/keys", "POST /api/conversations/{id}/messages",
		"POST /api/admin/rate-limits/policies", "POST /api/auth/sessions", "PUT /api/auth/password",
		"POST /api/admin/budgets", "POST /api/conversations/{id}/participants", "POST /api/invites/accept",
	} {
		if !have[p] {
			t.Errorf("FuzzAPIBodies does not fuzz %s", p)
		}
	}
}
