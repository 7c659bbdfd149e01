package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
)

// Response ids are remembered in memory, per instance, for this long and
// at most this many (oldest forgotten first).
const (
	responseIDTTL = 30 * 24 * time.Hour
	responseIDMax = 100_000
)

// responseIDs maps the Responses API ids answered through this gateway to
// who created them and which model's provider holds them, so GET and
// DELETE reach that provider and one caller cannot read another's
// response (404, as for an id that does not exist).
type responseIDs struct {
	now   func() time.Time
	mu    sync.Mutex
	byID  map[string]responseOwner
	order []string
}

type responseOwner struct {
	owner gateway.Owner
	t     *target
	at    time.Time
}

func (r *responseIDs) add(id string, p *gateway.Principal, t *target) {
	if id == "" || t == nil {
		return
	}
	o := ownerOf(p)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byID == nil {
		r.byID = map[string]responseOwner{}
	}
	if _, ok := r.byID[id]; !ok {
		if len(r.order) >= responseIDMax {
			delete(r.byID, r.order[0])
			r.order = r.order[1:]
		}
		r.order = append(r.order, id)
	}
	r.byID[id] = responseOwner{owner: o, t: t, at: r.now()}
}

// lookup returns the target holding id when p may see it: the same user
// (or static token) and the same end user; an app credential's tenant-wide
// view (no end user) sees every end user of its owner.
func (r *responseIDs) lookup(id string, p *gateway.Principal) (*target, bool) {
	o := ownerOf(p)
	r.mu.Lock()
	e, ok := r.byID[id]
	r.mu.Unlock()
	if !ok || r.now().Sub(e.at) > responseIDTTL || e.owner.UserID != o.UserID {
		return nil, false
	}
	if e.owner.EndUserID != o.EndUserID && !o.AllEndUsers {
		return nil, false
	}
	return e.t, true
}

func (r *responseIDs) remove(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.byID, id) // its order entry ages out
}

func ownerOf(p *gateway.Principal) gateway.Owner {
	if p == nil {
		return gateway.Owner{}
	}
	return p.Owner()
}

// StoredResponse serves GET and DELETE /v1/responses/{id}: the request
// goes to the provider that answered the response, when the caller created
// it (meta.Principal's user and end user); the upstream's answer is sent
// to sink unchanged. No usage is recorded (no tokens are spent).
//
// It returns a *gateway.Error when the sink got nothing: NotFound
// (not_found) for an id this gateway did not answer for this caller, and
// the upstream errors of Forward.
func (p *Proxy) StoredResponse(ctx context.Context, method, id string, sink Sink, meta Meta) error {
	t, ok := p.responses.lookup(id, meta.Principal)
	if !ok {
		return gateway.NotFound("not_found", fmt.Sprintf("No response with id %q exists.", id))
	}
	resp, err := t.provider.Send(ctx, &llm.Request{Endpoint: llm.EndpointResponses, Method: method, ID: id, Header: meta.Header})
	if ge, ok := gateway.AsError(err); ok {
		return ge
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return transportError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return upstreamStatusError(resp)
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return &gateway.Error{Kind: gateway.KindUpstream, Code: "upstream_error",
			Message: fmt.Sprintf("The upstream answered with status %d instead of a result.", resp.StatusCode)}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxUpstreamBody))
	if err != nil {
		return transportError(err)
	}
	if method == http.MethodDelete {
		p.responses.remove(id)
	}
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/json"
	}
	if err := sink.Begin(Head{Status: resp.StatusCode, ContentType: ct}); err != nil {
		return nil
	}
	_ = sink.Body(b)
	return nil
}
