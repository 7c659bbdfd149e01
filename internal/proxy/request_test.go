package proxy_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm/llmtest"
)

func oneUpstream(t *testing.T, replies ...llmtest.Reply) (*harness, *llmtest.Server) {
	t.Helper()
	up := llmtest.NewT(t, replies...)
	h := newHarness(t, model("fast", provider("local", up.URL, time.Minute), "org/Fast-Model-7B"))
	return h, up
}

func TestRequestPassThroughByteForByte(t *testing.T) {
	const msgs = `"messages" : [ {"role":"user","content":"h\u00e9llo \"q\"","x_part":[1,2.50,1e3]} ]`
	tests := []struct{ name, in, want string }{
		{"NonStream",
			`{"model":"fast",` + msgs + `,"temperature":0.70,"x_vendor":{"nested":[true,null]}}`,
			`{"model":"org/Fast-Model-7B",` + msgs + `,"temperature":0.70,"x_vendor":{"nested":[true,null]}}`},
		{"LeadingWhitespaceAndEscapedModel",
			" \n\t{ \"mod\\u0065l\" : \"f\\u0061st\", " + msgs + " }\n",
			" \n\t{ \"mod\\u0065l\" : \"org/Fast-Model-7B\", " + msgs + " }\n"},
		{"StreamInjectsOptions",
			`{"model":"fast","stream":true,` + msgs + `}`,
			`{"stream_options":{"include_usage":true},"model":"org/Fast-Model-7B","stream":true,` + msgs + `}`},
		{"StreamOptionsNull",
			`{"model":"fast","stream":true,"stream_options":null,` + msgs + `}`,
			`{"model":"org/Fast-Model-7B","stream":true,"stream_options":{"include_usage":true},` + msgs + `}`},
		{"StreamOptionsEmpty",
			`{"model":"fast","stream":true,"stream_options":{ },` + msgs + `}`,
			`{"model":"org/Fast-Model-7B","stream":true,"stream_options":{"include_usage":true},` + msgs + `}`},
		{"StreamOptionsOtherField",
			`{"stream_options":{"continuous_usage_stats":false},"model":"fast","stream":true,` + msgs + `}`,
			`{"stream_options":{"include_usage":true,"continuous_usage_stats":false},"model":"org/Fast-Model-7B","stream":true,` + msgs + `}`},
		{"IncludeUsageFalse",
			`{"model":"fast","stream":true,"stream_options":{"include_usage" : false,"x":1},` + msgs + `}`,
			`{"model":"org/Fast-Model-7B","stream":true,"stream_options":{"include_usage" : true,"x":1},` + msgs + `}`},
		{"IncludeUsageTrueUntouched",
			`{"model":"fast","stream":true,"stream_options":{"include_usage":true},` + msgs + `}`,
			`{"model":"org/Fast-Model-7B","stream":true,"stream_options":{"include_usage":true},` + msgs + `}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, up := oneUpstream(t)
			resp := h.post(t, tc.in)
			_, _ = io.Copy(io.Discard, resp.Body)
			if got, want := resp.StatusCode, http.StatusOK; got != want {
				t.Fatalf("status = %d, want %d", got, want)
			}
			if got := string(up.Next(t).Body); got != tc.want {
				t.Fatalf("upstream body\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestBadRequests(t *testing.T) {
	const msgs = `"messages":[{"role":"user","content":"x"}]`
	tests := []struct {
		name, body       string
		status           int
		typ, code, param string
		appCredential    bool
	}{
		{"NotJSON", `{"model":`, 400, "invalid_request_error", "invalid_json", "", false},
		{"NotAnObject", `["fast"]`, 400, "invalid_request_error", "invalid_json", "", false},
		{"DuplicateModel", `{"model":"fast","model":"other",` + msgs + `}`, 400, "invalid_request_error", "invalid_json", "body.model", false},
		{"DuplicateModelEscaped", `{"model":"fast","mod\u0065l":"other",` + msgs + `}`, 400, "invalid_request_error", "invalid_json", "body.model", false},
		{"DuplicateStream", `{"model":"fast","stream":false,"stream":true,` + msgs + `}`, 400, "invalid_request_error", "invalid_json", "body.stream", false},
		{"DuplicateStreamOptions", `{"model":"fast","stream":true,"stream_options":{},"stream_options":null,` + msgs + `}`, 400, "invalid_request_error", "invalid_json", "body.stream_options", false},
		{"DuplicateIncludeUsage", `{"model":"fast","stream":true,"stream_options":{"include_usage":true,"include_usage":false},` + msgs + `}`, 400, "invalid_request_error", "invalid_json", "body.stream_options.include_usage", false},
		{"MissingModel", `{` + msgs + `}`, 400, "invalid_request_error", "missing_field", "body.model", false},
		{"ModelNotString", `{"model":7,` + msgs + `}`, 400, "invalid_request_error", "invalid_field", "body.model", false},
		{"EmptyModel", `{"model":"",` + msgs + `}`, 400, "invalid_request_error", "invalid_field", "body.model", false},
		{"StreamNotBool", `{"model":"fast","stream":"yes",` + msgs + `}`, 400, "invalid_request_error", "invalid_field", "body.stream", false},
		{"StreamOptionsNotObject", `{"model":"fast","stream":true,"stream_options":"x",` + msgs + `}`, 400, "invalid_request_error", "invalid_field", "body.stream_options", false},
		{"UnknownModel", `{"model":"nope",` + msgs + `}`, 404, "not_found_error", "model_not_found", "body.model", false},
		{"UpstreamNameIsNotAModel", `{"model":"org/Fast-Model-7B",` + msgs + `}`, 404, "not_found_error", "model_not_found", "body.model", false},
		{"AppCredentialUserField", `{"model":"fast","user":"bob",` + msgs + `}`, 400, "invalid_request_error", "invalid_field", "body.user", true},
		{"AppCredentialUserIDField", `{"model":"fast","user_id":"bob",` + msgs + `}`, 400, "invalid_request_error", "invalid_field", "body.user_id", true},
		// One rule for field names (issue 11.8): the gateway matches them as
		// encoding/json does, case-insensitively, so no upstream can read a
		// value the gateway did not see.
		{"AppCredentialUserFieldFolded", `{"model":"fast","User":"bob",` + msgs + `}`, 400, "invalid_request_error", "invalid_field", "body.User", true},
		{"AppCredentialUserIDFieldFolded", `{"model":"fast","USER_ID":"bob",` + msgs + `}`, 400, "invalid_request_error", "invalid_field", "body.USER_ID", true},
		{"DuplicateModelFolded", `{"model":"fast","Model":"other",` + msgs + `}`, 400, "invalid_request_error", "invalid_json", "body.Model", false},
		{"DuplicateStreamFolded", `{"model":"fast","stream":false,"STREAM":true,` + msgs + `}`, 400, "invalid_request_error", "invalid_json", "body.STREAM", false},
		{"DuplicateIncludeUsageFolded", `{"model":"fast","stream":true,"stream_options":{"include_usage":true,"Include_Usage":false},` + msgs + `}`, 400, "invalid_request_error", "invalid_json", "body.stream_options.include_usage", false},
		{"NestedTooDeep", `{"model":"fast","x":` + strings.Repeat("[", 512) + strings.Repeat("]", 512) + `,` + msgs + `}`, 400, "invalid_request_error", "invalid_json", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, up := oneUpstream(t)
			if tc.appCredential {
				h.principal = &gateway.Principal{Kind: gateway.PrincipalKey, UserID: "u1", KeyID: "k1", EndUserMode: true, EndUserID: "alice"}
			}
			resp := h.post(t, tc.body)
			expectError(t, resp, tc.status, tc.typ, tc.code, "", tc.param)
			h.waitDone(t)
			if got := up.Count(); got != 0 {
				t.Fatalf("upstream requests = %d, want 0", got)
			}
			if got := len(h.usage.all()); got != 0 {
				t.Fatalf("usage records = %d, want 0", got)
			}
		})
	}
}

func TestUserFieldPassesForOrdinaryCredentials(t *testing.T) {
	h, up := oneUpstream(t)
	body := `{"model":"fast","user":"bob","messages":[]}`
	resp := h.post(t, body)
	_, _ = io.Copy(io.Discard, resp.Body)
	if got, want := resp.StatusCode, 200; got != want {
		t.Fatalf("status = %d, want %d", got, want)
	}
	if got, want := string(up.Next(t).Body), `{"model":"org/Fast-Model-7B","user":"bob","messages":[]}`; got != want {
		t.Fatalf("upstream body = %s, want %s", got, want)
	}
}
