package main

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm/llmtest"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// TestResponseIDsAcrossInstances: a Responses API id (plain and streamed)
// created on instance A is served to its creator by instance B, which
// never saw it in memory: B is a second in-process server on the same
// PostgreSQL, or A restarted on the same SQLite file. Another caller gets
// 404 not_found on B for GET, DELETE and previous_response_id; a DELETE
// on B forgets the id.
func TestResponseIDsAcrossInstances(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		environ func(t *testing.T) []string
		restart bool
	}{
		{"SQLiteRestart", func(*testing.T) []string { return nil }, true},
		{"PostgresTwoInstances", func(t *testing.T) []string {
			return []string{"TOLLGATE_DATABASE_URL=" + sqltest.PostgresURL(t)}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			up, anth := llmtest.NewT(t), llmtest.NewT(t)
			cfg := testConfigTOML(t, apisConfig(up.URL, anth.URL), tc.environ(t)...)
			deps := testDeps(nil)
			deps.getenv = mapEnv(map[string]string{"TEST_ANTHROPIC_KEY": "sk-ant-upstream"})
			log := slog.New(slog.DiscardHandler)
			a, err := newApp(ctx, cfg, log, deps)
			if err != nil {
				t.Fatal(err)
			}
			closed := false
			t.Cleanup(func() {
				if !closed {
					a.close(context.Background())
				}
			})
			if err := a.identity.PrepareSetup(ctx); err != nil {
				t.Fatal(err)
			}
			ea := &authEnv{t: t, app: a, url: newHTTPTest(t, a), logs: &syncBuffer{}, deps: deps}
			admin := ea.setup()
			ea.createUser(admin, "alice@example.com", adminPassword, "contributor")
			ea.createUser(admin, "bob@example.com", adminPassword, "contributor")
			ae := &apisEnv{authEnv: ea}
			aliceKey := ae.newKey(ea.login("alice@example.com", adminPassword))
			bobKey := ae.newKey(ea.login("bob@example.com", adminPassword))

			aliceA := newOpenAIClient(ea.url, aliceKey)
			plain, err := aliceA.Responses.New(ctx, responsesParams("m", "x"))
			if err != nil {
				t.Fatal(err)
			}
			up.Next(t)
			stream := aliceA.Responses.NewStreaming(ctx, responsesParams("m", "y"))
			var streamedID string
			for stream.Next() {
				if ev := stream.Current(); ev.Type == "response.completed" {
					streamedID = ev.Response.ID
				}
			}
			if err := stream.Err(); err != nil || streamedID == "" {
				t.Fatalf("stream: id %q, err %v", streamedID, err)
			}
			up.Next(t)

			var eb *authEnv
			if tc.restart {
				a.close(ctx)
				closed = true
				eb = startAuthEnv(t, cfg, log, &syncBuffer{}, deps)
			} else {
				eb = ea.second()
			}
			aliceB, bobB := newOpenAIClient(eb.url, aliceKey), newOpenAIClient(eb.url, bobKey)

			for _, id := range []string{plain.ID, streamedID} {
				got, err := aliceB.Responses.Get(ctx, id, responses.ResponseGetParams{})
				if err != nil || got.ID != id {
					t.Fatalf("alice GET %s on B = %+v, %v", id, got, err)
				}
				if r := up.Next(t); r.Method != "GET" || r.Path != "/v1/responses/"+id {
					t.Fatalf("upstream got %s %s, want GET /v1/responses/%s", r.Method, r.Path, id)
				}
				_, err = bobB.Responses.Get(ctx, id, responses.ResponseGetParams{})
				wantOpenAIError(t, err, 404, "not_found")
				wantOpenAIError(t, bobB.Responses.Delete(ctx, id), 404, "not_found")
				_, err = bobB.Responses.New(ctx, responses.ResponseNewParams{Model: "m", PreviousResponseID: openai.String(id),
					Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("steal")}})
				wantOpenAIError(t, err, 404, "not_found")
			}
			if n := up.Count(); n != 4 {
				t.Fatalf("upstream served %d requests, want 4 (bob's never reach it)", n)
			}
			// The creator may continue it on B.
			if _, err := aliceB.Responses.New(ctx, responses.ResponseNewParams{Model: "m", PreviousResponseID: openai.String(plain.ID),
				Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("more")}}); err != nil {
				t.Fatalf("alice previous_response_id on B = %v", err)
			}
			up.Next(t)
			if err := aliceB.Responses.Delete(ctx, plain.ID); err != nil {
				t.Fatalf("alice DELETE on B = %v", err)
			}
			up.Next(t)
			_, err = aliceB.Responses.Get(ctx, plain.ID, responses.ResponseGetParams{})
			wantOpenAIError(t, err, 404, "not_found")
			if _, err := eb.app.store.ResponseID(ctx, plain.ID); !errors.Is(err, gateway.ErrNotFound) {
				t.Fatalf("deleted id %s in the store: %v, want ErrNotFound", plain.ID, err)
			}
		})
	}
}
