package openai_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/llm"
	"github.com/tollgate/tollgate/internal/llm/llmtest"
	"github.com/tollgate/tollgate/internal/llm/openai"
)

func newProvider(t *testing.T, url string, timeout time.Duration) *openai.Provider {
	p := openai.New(openai.Options{Name: "up", BaseURL: url, APIKey: "sk-upstream", Timeout: timeout})
	t.Cleanup(p.CloseIdleConnections)
	return p
}

func TestFreshRequestHeaders(t *testing.T) {
	up := llmtest.NewT(t)
	p := newProvider(t, up.URL, time.Minute)
	client := http.Header{}
	client.Set("Authorization", "Bearer tg_client_secret")
	client.Set("X-API-Key", "tg_client_secret")
	client.Set("Cookie", "tollgate_session=abc")
	client.Set("X-Request-Id", "req-1")
	client.Set("Traceparent", "00-abc-def-01")
	client.Set("X-Forwarded-For", "10.0.0.1")
	body := []byte(`{"model":"m","messages":[]}`)
	resp, err := p.Send(context.Background(), &llm.Request{Body: llm.BytesBody(body), Stream: true, Header: client})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	got := up.Next(t)
	if string(got.Body) != string(body) {
		t.Fatalf("upstream body = %s, want %s", got.Body, body)
	}
	want := map[string]string{
		"Authorization": "Bearer sk-upstream",
		"Content-Type":  "application/json",
		"Accept":        "text/event-stream",
		"User-Agent":    "tollgate",
		"X-Request-Id":  "req-1",
		"Traceparent":   "00-abc-def-01",
	}
	for k, v := range want {
		if got := got.Header.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("upstream header %s = %q, want [%q]", k, got, v)
		}
	}
	for _, k := range []string{"X-Api-Key", "Cookie", "X-Forwarded-For"} {
		if v := got.Header.Values(k); len(v) != 0 {
			t.Errorf("upstream header %s = %q, want none", k, v)
		}
	}
}

func TestNoAPIKeyNoAuthorization(t *testing.T) {
	up := llmtest.NewT(t)
	p := openai.New(openai.Options{Name: "up", BaseURL: up.URL + "/"})
	client := http.Header{"Authorization": {"Bearer tg_client_secret"}}
	resp, err := p.Send(context.Background(), &llm.Request{Body: llm.BytesBody([]byte(`{"model":"m"}`)), Header: client})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if v := up.Next(t).Header.Values("Authorization"); len(v) != 0 {
		t.Fatalf("Authorization = %q, want none", v)
	}
}

func TestTransportErrors(t *testing.T) {
	t.Run("ConnectionRefused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		p := newProvider(t, "http://"+addr+"/v1", time.Minute)
		_, err = p.Send(context.Background(), &llm.Request{Body: llm.BytesBody([]byte(`{}`))})
		if got, want := llm.TransportKind(err), llm.ErrConnect; got != want {
			t.Fatalf("kind = %v (err %v), want %v", got, err, want)
		}
	})
	t.Run("NoHeadersInTime", func(t *testing.T) {
		up := llmtest.NewT(t, llmtest.Reply{Hang: true})
		p := newProvider(t, up.URL, 50*time.Millisecond)
		_, err := p.Send(context.Background(), &llm.Request{Body: llm.BytesBody([]byte(`{}`))})
		if got, want := llm.TransportKind(err), llm.ErrTimeout; got != want {
			t.Fatalf("kind = %v (err %v), want %v", got, err, want)
		}
		if !up.Next(t).Canceled {
			t.Fatal("upstream request not canceled after the timeout")
		}
	})
	t.Run("StreamIdle", func(t *testing.T) {
		up := llmtest.NewT(t, llmtest.Reply{HangAfter: 2})
		p := newProvider(t, up.URL, 50*time.Millisecond)
		resp, err := p.Send(context.Background(), &llm.Request{Body: llm.BytesBody([]byte(`{"stream":true}`)), Stream: true})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		if got, want := llm.TransportKind(err), llm.ErrTimeout; got != want {
			t.Fatalf("read kind = %v (err %v), want %v", got, err, want)
		}
		if !up.Next(t).Canceled {
			t.Fatal("upstream request not canceled after the idle timeout")
		}
	})
	t.Run("CutStream", func(t *testing.T) {
		up := llmtest.NewT(t, llmtest.Reply{CutAfter: 2})
		p := newProvider(t, up.URL, time.Minute)
		resp, err := p.Send(context.Background(), &llm.Request{Body: llm.BytesBody([]byte(`{"stream":true}`)), Stream: true})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		if got, want := llm.TransportKind(err), llm.ErrBroken; got != want {
			t.Fatalf("read kind = %v (err %v), want %v", got, err, want)
		}
	})
	t.Run("CallerCancels", func(t *testing.T) {
		up := llmtest.NewT(t, llmtest.Reply{Hang: true})
		p := newProvider(t, up.URL, time.Minute)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := p.Send(ctx, &llm.Request{Body: llm.BytesBody([]byte(`{}`))})
			errc <- err
		}()
		for up.Count() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if !up.Next(t).Canceled {
			t.Fatal("upstream did not observe the cancellation")
		}
	})
}

func TestErrorStatusIsAResponse(t *testing.T) {
	up := llmtest.NewT(t, llmtest.Reply{Status: 422, Message: "bad temperature"})
	p := newProvider(t, up.URL, time.Minute)
	resp, err := p.Send(context.Background(), &llm.Request{Body: llm.BytesBody([]byte(`{}`))})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if got, want := resp.StatusCode, 422; got != want {
		t.Fatalf("status = %d, want %d", got, want)
	}
	b, _ := io.ReadAll(resp.Body)
	if got, want := string(b), `{"error":{"message":"bad temperature","type":"invalid_request_error","param":null,"code":null}}`; got != want {
		t.Fatalf("body = %s, want %s", got, want)
	}
}

// TestEndpointPaths: each endpoint is posted to its path under the base
// URL (with or without a trailing slash).
func TestEndpointPaths(t *testing.T) {
	for _, tc := range []struct{ endpoint, want string }{
		{"", "/v1/chat/completions"},
		{llm.EndpointChat, "/v1/chat/completions"},
		{llm.EndpointCompletions, "/v1/completions"},
		{llm.EndpointEmbeddings, "/v1/embeddings"},
	} {
		for _, base := range []string{"/v1", "/v1/"} {
			var got string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r.Method + " " + r.URL.Path
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{}`))
			}))
			p := newProvider(t, srv.URL+base, time.Minute)
			resp, err := p.Send(context.Background(), &llm.Request{Endpoint: tc.endpoint, Body: llm.BytesBody([]byte(`{}`))})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			srv.Close()
			if got != "POST "+tc.want {
				t.Fatalf("endpoint %q with base %q posted to %q, want POST %s", tc.endpoint, base, got, tc.want)
			}
		}
	}
}

// holders counts holders of a request body's memory.
type holders struct{ n atomic.Int32 }

func (h *holders) Retain()  { h.n.Add(1) }
func (h *holders) Release() { h.n.Add(-1) }

// TestBodyPartsSentAndReleased: a body of parts goes upstream joined,
// with its Content-Length, and every reader the transport opened is
// closed once the exchange is over (even when the upstream answered
// without reading the body), so the owner may reuse the memory.
func TestBodyPartsSentAndReleased(t *testing.T) {
	up := llmtest.NewT(t)
	early := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":{"message":"busy"}}`, http.StatusServiceUnavailable)
	}))
	t.Cleanup(early.Close)
	big := bytes.Repeat([]byte("a"), 1<<20)
	for _, url := range []string{up.URL, early.URL + "/v1"} {
		keep := &holders{}
		body := llm.Body{Parts: [][]byte{[]byte(`{"model":"up","x":"`), big, []byte(`"}`)}, Keep: keep}
		resp, err := newProvider(t, url, time.Minute).Send(context.Background(), &llm.Request{Body: body})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if url == up.URL {
			got := up.Next(t)
			if string(got.Body) != string(body.Bytes()) || got.Header.Get("Content-Length") != strconv.Itoa(body.Len()) {
				t.Fatalf("upstream got %d bytes, Content-Length %q; want %d", len(got.Body), got.Header.Get("Content-Length"), body.Len())
			}
		}
		// The transport closes the body from its own goroutine: wait
		// (a hang guard, not a timing assertion).
		for deadline := time.Now().Add(10 * time.Second); keep.n.Load() != 0; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d body readers still open after the exchange", url, keep.n.Load())
			}
		}
	}
}
