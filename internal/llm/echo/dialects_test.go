package echo

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
)

func send(t *testing.T, p *Provider, req *llm.Request) (int, string, error) {
	t.Helper()
	resp, err := p.Send(context.Background(), req)
	if err != nil {
		return 0, "", err
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func TestEchoDialectsRefuseBadRequests(t *testing.T) {
	p := New("echo", nil)
	for _, tc := range []struct {
		endpoint, body, code, param string
	}{
		{llm.EndpointResponses, `{"model":"echo"}`, "missing_field", "body.input"},
		{llm.EndpointResponses, `{"model":"echo","input":5}`, "invalid_field", "body.input"},
		{llm.EndpointResponses, `{"model":"echo","input":"x","max_output_tokens":0}`, "invalid_field", "body.max_output_tokens"},
		{llm.EndpointMessages, `{"model":"echo","max_tokens":5}`, "missing_field", "body.messages"},
		{llm.EndpointMessages, `{"model":"echo","max_tokens":5,"messages":[]}`, "invalid_field", "body.messages"},
		{llm.EndpointMessages, `{"model":"echo","messages":[{"role":"user","content":"x"}]}`, "missing_field", "body.max_tokens"},
		{llm.EndpointMessages, `{"model":"echo","max_tokens":0,"messages":[{"role":"user","content":"x"}]}`, "invalid_field", "body.max_tokens"},
	} {
		_, _, err := send(t, p, &llm.Request{Endpoint: tc.endpoint, Body: llm.BytesBody([]byte(tc.body))})
		var ge *gateway.Error
		if !errors.As(err, &ge) || ge.Kind != gateway.KindInvalid || ge.Code != tc.code || ge.Param != tc.param {
			t.Errorf("%s %s = %v, want %s %s", tc.endpoint, tc.body, err, tc.code, tc.param)
		}
	}
}

func TestEchoResponsesStoreAndLimits(t *testing.T) {
	p := New("echo", nil)
	_, body, err := send(t, p, &llm.Request{Endpoint: llm.EndpointResponses,
		Body: llm.BytesBody([]byte(`{"model":"echo","instructions":"be brief","input":[{"role":"user","content":[{"type":"input_text","text":"one two three"}]}],"max_output_tokens":2}`))})
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		ID                string `json:"id"`
		Status            string `json:"status"`
		IncompleteDetails struct {
			Reason string `json:"reason"`
		} `json:"incomplete_details"`
		Output []struct {
			Content []struct{ Text string } `json:"content"`
		} `json:"output"`
		Usage struct {
			InputTokens  int64 `json:"input_tokens"`
			OutputTokens int64 `json:"output_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	if r.Status != "incomplete" || r.IncompleteDetails.Reason != "max_output_tokens" || r.Output[0].Content[0].Text != "one two" ||
		r.Usage.InputTokens != 5 || r.Usage.OutputTokens != 2 {
		t.Fatalf("response = %s", body)
	}
	status, got, _ := send(t, p, &llm.Request{Endpoint: llm.EndpointResponses, Method: http.MethodGet, ID: r.ID})
	if status != 200 || got != body {
		t.Fatalf("GET = %d %s, want the stored object", status, got)
	}
	status, got, _ = send(t, p, &llm.Request{Endpoint: llm.EndpointResponses, Method: http.MethodDelete, ID: r.ID})
	if status != 200 || got != `{"deleted":true,"id":"`+r.ID+`","object":"response"}` {
		t.Fatalf("DELETE = %d %s", status, got)
	}
	if status, _, _ = send(t, p, &llm.Request{Endpoint: llm.EndpointResponses, Method: http.MethodGet, ID: r.ID}); status != 404 {
		t.Fatalf("GET after DELETE = %d, want 404", status)
	}
	_, body, _ = send(t, p, &llm.Request{Endpoint: llm.EndpointResponses, Body: llm.BytesBody([]byte(`{"model":"echo","input":"x","store":false}`))})
	_ = json.Unmarshal([]byte(body), &r)
	if status, _, _ = send(t, p, &llm.Request{Endpoint: llm.EndpointResponses, Method: http.MethodGet, ID: r.ID}); status != 404 {
		t.Fatalf("GET of a store:false response = %d, want 404", status)
	}
	_, stream, _ := send(t, p, &llm.Request{Endpoint: llm.EndpointResponses, Body: llm.BytesBody([]byte(`{"model":"echo","input":"a b c","stream":true,"max_output_tokens":2}`))})
	if !strings.Contains(stream, "event: response.incomplete\n") || strings.Contains(stream, "response.completed") {
		t.Fatalf("a stream cut by max_output_tokens must end with response.incomplete:\n%s", stream)
	}
}
