package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
)

// Response ids are cached in memory, per instance, for this long and at
// most this many (oldest forgotten first); with a Store, every id is also
// recorded there for the same time, so other instances and the next start
// find it.
const (
	responseIDTTL = 30 * 24 * time.Hour
	responseIDMax = 100_000
	// responseIDWriteTimeout bounds the synchronous write of a new id.
	responseIDWriteTimeout = 5 * time.Second
)

// responseIDs maps the Responses API ids answered through this gateway to
// who created them and which model's provider holds them, so GET and
// DELETE reach that provider and one caller cannot read another's
// response (404, as for an id that does not exist).
//
// The memory map is the first level; store (nil: memory only) is written
// through synchronously when an id is first seen, before the client sees
// the id, so a GET that the client sends next to any instance finds it.
// A miss in memory reads the store and caches what it finds.
type responseIDs struct {
	now     func() time.Time
	store   gateway.ResponseIDStore
	targets map[string]*target
	log     *slog.Logger
	mu      sync.Mutex
	byID    map[string]responseOwner
	order   []string
}

type responseOwner struct {
	owner gateway.Owner
	t     *target
	at    time.Time
}

// add records id for p's scope. A failed store write is logged: the id
// still answers on this instance.
func (r *responseIDs) add(ctx context.Context, id string, p *gateway.Principal, t *target) {
	if id == "" || t == nil {
		return
	}
	o := ownerOf(p)
	o.AllEndUsers = false
	at := r.now()
	if !r.cache(id, responseOwner{owner: o, t: t, at: at}) || r.store == nil {
		return
	}
	// The write finishes even when the client went away: the id was
	// answered upstream and may be read by a reconnecting client.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), responseIDWriteTimeout)
	defer cancel()
	if err := r.store.PutResponseID(wctx, gateway.ResponseID{ID: id, Owner: o, Model: t.name, CreatedAt: at}); err != nil {
		r.log.WarnContext(ctx, "record response id", "err", err)
	}
}

// cache stores e under id in memory; it reports whether id was new.
func (r *responseIDs) cache(id string, e responseOwner) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byID == nil {
		r.byID = map[string]responseOwner{}
	}
	_, known := r.byID[id]
	if !known {
		if len(r.order) >= responseIDMax {
			delete(r.byID, r.order[0])
			r.order = r.order[1:]
		}
		r.order = append(r.order, id)
	}
	r.byID[id] = e
	return !known
}

// lookup returns the target holding id when p may see it: the same user
// (or static token) and the same end user; an app credential's tenant-wide
// view (no end user) sees every end user of its owner. An id of a model
// no longer configured is not found. The error is the store's failure
// (a 503 when the database is down).
func (r *responseIDs) lookup(ctx context.Context, id string, p *gateway.Principal) (*target, bool, error) {
	o := ownerOf(p)
	r.mu.Lock()
	e, ok := r.byID[id]
	r.mu.Unlock()
	if !ok && r.store != nil {
		rec, err := r.store.ResponseID(ctx, id)
		switch {
		case errors.Is(err, gateway.ErrNotFound):
			return nil, false, nil
		case err != nil:
			return nil, false, gateway.UnavailableError(err)
		}
		t := r.targets[rec.Model]
		if t == nil {
			return nil, false, nil
		}
		e = responseOwner{owner: rec.Owner, t: t, at: rec.CreatedAt}
		r.cache(id, e)
		ok = true
	}
	if !ok || r.now().Sub(e.at) > responseIDTTL || e.owner.UserID != o.UserID {
		return nil, false, nil
	}
	if e.owner.EndUserID != o.EndUserID && !o.AllEndUsers {
		return nil, false, nil
	}
	return e.t, true, nil
}

// remove forgets id in memory and in the store.
func (r *responseIDs) remove(ctx context.Context, id string) {
	r.mu.Lock()
	delete(r.byID, id) // its order entry ages out
	r.mu.Unlock()
	if r.store == nil {
		return
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), responseIDWriteTimeout)
	defer cancel()
	if err := r.store.DeleteResponseID(wctx, id); err != nil {
		r.log.WarnContext(ctx, "forget response id", "err", err)
	}
}

// PruneResponseIDs deletes the stored response ids older than the 30 days
// they are kept; it returns how many (0 without a store).
func (p *Proxy) PruneResponseIDs(ctx context.Context) (int64, error) {
	if p.responses.store == nil {
		return 0, nil
	}
	return p.responses.store.PruneResponseIDs(ctx, p.now().Add(-responseIDTTL))
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
	t, ok, err := p.responses.lookup(ctx, id, meta.Principal)
	if err != nil {
		return err
	}
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
		p.responses.remove(ctx, id)
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
