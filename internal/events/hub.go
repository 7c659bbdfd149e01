// Package events is the live-event hub of SPEC 7.1: it persists every
// conversation event with a seq assigned by the store, fans events out to
// the subscribers of this instance with bounded queues, replays retained
// events after a Last-Event-ID, and carries events between instances
// through a Transport (none for SQLite: one instance; PostgreSQL
// LISTEN/NOTIFY or Redis pub/sub when several instances share a
// database).
package events

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/internal/gateway"
)

// Event is one conversation event as subscribers receive it.
type Event = gateway.ConversationEvent

// Event types the hub itself sends.
const (
	TypeDelta  = "message.delta"
	TypeResync = "resync"
)

// Errors that end a subscription.
var (
	// ErrSlow: the subscriber's queue overflowed with events that may
	// not be dropped; it should reconnect with Last-Event-ID.
	ErrSlow = errors.New("events: subscriber too slow")
	// ErrRevoked: the subscriber lost access to the conversation (or it
	// was deleted).
	ErrRevoked = errors.New("events: access revoked")
	// ErrClosed: the hub is shutting down.
	ErrClosed = errors.New("events: hub closed")
	// ErrIdle is returned by Next when the idle timeout passed without an
	// event (the caller sends a keep-alive and calls Next again).
	ErrIdle = errors.New("events: idle")
)

// Hub is the live-event hub.
type Hub interface {
	// Publish persists an event of the conversation and delivers it to
	// every subscriber on every instance; it returns the assigned seq.
	// It does not wait for subscribers.
	Publish(ctx context.Context, conversationID, typ string, data []byte) (int64, error)
	// Subscribe starts a subscription: the retained events after
	// lastEventID (when it is a seq of this conversation), then the live
	// events. check is called again whenever access to the conversation
	// may have changed; an error ends the subscription with ErrRevoked.
	Subscribe(ctx context.Context, conversationID, lastEventID string, check func(context.Context) error) (*Subscription, error)
	// AccessChanged tells the subscribers of a conversation on every
	// instance to check their access again (conversation deleted,
	// participant removed).
	AccessChanged(ctx context.Context, conversationID string)
	// PublishLocal delivers an event to this instance's subscribers of
	// the conversation only, without persisting it or giving it a seq
	// (presence and typing: every instance derives them from its own
	// view, see Signal).
	PublishLocal(conversationID, typ string, data []byte)
	// Signal hands an opaque ephemeral message to every other instance
	// (nothing without a transport); they read it from Signals. Signals
	// are not stored: one lost with a connection is lost.
	Signal(ctx context.Context, data []byte)
	// Signals delivers the signals of other instances.
	Signals() <-chan []byte
}

// Message is what a Transport carries between instances: an event (Data
// nil when it was too large to carry: receivers read it from the store),
// with Access set, an access change of a conversation, or with Signal
// set, an ephemeral signal (no conversation) from the instance Origin.
type Message struct {
	ConversationID string
	Event          *Event
	Access         bool
	Signal         []byte
	Origin         string
}

// signalBuffer is how many signals from other instances wait for the
// reader of Signals before new ones are dropped.
const signalBuffer = 1024

// Transport carries messages between the instances sharing a database.
type Transport interface {
	// Send hands m to every other instance (and possibly this one; the
	// hub ignores events it has already delivered).
	Send(ctx context.Context, m Message) error
	// Run receives messages until ctx ends, calling receive for each and
	// caughtUp after each (re)connection, when messages may have been
	// lost.
	Run(ctx context.Context, receive func(Message), caughtUp func())
}

// Options configure a Broker.
type Options struct {
	Store gateway.EventStore
	// Transport is nil for a single instance (SQLite).
	Transport Transport
	// Buffer is each subscriber's queue length (stream.subscriber_buffer).
	Buffer int
	// MaxEventsPerConversation caps what is retained per conversation
	// (stream.max_events_per_conversation; 0: no cap).
	MaxEventsPerConversation int
	// Retention is how long events are kept (stream.retention; 0:
	// forever); Run prunes older ones.
	Retention  time.Duration
	Registerer prometheus.Registerer
	Log        *slog.Logger
}

// Broker is the Hub: one per instance.
type Broker struct {
	opt     Options
	log     *slog.Logger
	metrics *metrics

	mu     sync.RWMutex
	convs  map[string]*convState
	closed bool

	// listening is closed once the transport first reports that it
	// receives (at once without a transport).
	listening     chan struct{}
	listeningOnce sync.Once

	// id tells this instance's own signals apart when a transport echoes
	// them back; signals queues the others'.
	id      string
	signals chan []byte
}

var _ Hub = (*Broker)(nil)

// convState is a conversation with subscribers on this instance: last is
// the highest seq fanned out, so every subscriber sees events in seq
// order, each once.
type convState struct {
	mu   sync.Mutex
	last int64
	subs map[*Subscription]struct{}
}

// New returns a Broker. Errors: metrics registration.
func New(opt Options) (*Broker, error) {
	if opt.Buffer <= 0 {
		opt.Buffer = 256
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(opt.Registerer)
	if err != nil {
		return nil, err
	}
	b := &Broker{opt: opt, log: opt.Log, metrics: m, convs: map[string]*convState{}, listening: make(chan struct{}),
		id: rand.Text(), signals: make(chan []byte, signalBuffer)}
	if opt.Transport == nil {
		close(b.listening)
	}
	return b, nil
}

// Listening is closed once this instance receives what other instances
// send (its LISTEN or SUBSCRIBE is in place), so a server can wait for it
// before it accepts subscribers: a message sent earlier would be missed.
func (b *Broker) Listening() <-chan struct{} { return b.listening }

// Run receives from the transport and prunes expired events until ctx
// ends.
func (b *Broker) Run(ctx context.Context) {
	if t := b.opt.Transport; t != nil {
		go t.Run(ctx, b.receive, b.catchUpAll)
	}
	if b.opt.Retention <= 0 {
		<-ctx.Done()
		return
	}
	tick := time.NewTicker(min(b.opt.Retention/4, time.Minute))
	defer tick.Stop()
	for {
		b.prune(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (b *Broker) prune(ctx context.Context) {
	n, err := b.opt.Store.PruneEvents(ctx, time.Now().Add(-b.opt.Retention))
	if err != nil && ctx.Err() == nil {
		b.log.WarnContext(ctx, "prune conversation events", "err", err)
	}
	b.metrics.pruned.Add(float64(n))
}

// Close ends every subscription with ErrClosed (at shutdown: clients
// reconnect to another instance) and refuses new ones.
func (b *Broker) Close() {
	b.mu.Lock()
	b.closed = true
	convs := b.convs
	b.convs = map[string]*convState{}
	b.mu.Unlock()
	for _, st := range convs {
		st.mu.Lock()
		for s := range st.subs {
			s.end(ErrClosed)
		}
		b.metrics.subscribers.Sub(float64(len(st.subs)))
		st.mu.Unlock()
	}
}

// Publish implements Hub. The event is stored even when ctx is cancelled
// (a poster that left still finishes its reply).
func (b *Broker) Publish(ctx context.Context, conversationID, typ string, data []byte) (int64, error) {
	ctx = context.WithoutCancel(ctx)
	ev, err := b.opt.Store.AppendEvent(ctx, conversationID, typ, data, b.opt.MaxEventsPerConversation)
	if err != nil {
		return 0, err
	}
	b.metrics.published.WithLabelValues(typ).Inc()
	b.deliver(ctx, ev.ConversationID, &ev, ev.Seq)
	if t := b.opt.Transport; t != nil {
		if err := t.Send(ctx, Message{ConversationID: conversationID, Event: &ev}); err != nil {
			b.log.WarnContext(ctx, "send conversation event to other instances", "conversation_id", conversationID, "seq", ev.Seq, "err", err)
		}
	}
	return ev.Seq, nil
}

// AccessChanged implements Hub.
func (b *Broker) AccessChanged(ctx context.Context, conversationID string) {
	b.recheck(conversationID)
	if t := b.opt.Transport; t != nil {
		if err := t.Send(context.WithoutCancel(ctx), Message{ConversationID: conversationID, Access: true}); err != nil {
			b.log.WarnContext(ctx, "send access change to other instances", "conversation_id", conversationID, "err", err)
		}
	}
}

// PublishLocal implements Hub.
func (b *Broker) PublishLocal(conversationID, typ string, data []byte) {
	b.mu.RLock()
	st := b.convs[conversationID]
	b.mu.RUnlock()
	if st == nil {
		return
	}
	ev := &Event{ConversationID: conversationID, Type: typ, Data: data}
	st.mu.Lock()
	for s := range st.subs {
		s.push(ev)
	}
	b.metrics.fanned.Add(float64(len(st.subs)))
	st.mu.Unlock()
}

// Signal implements Hub.
func (b *Broker) Signal(ctx context.Context, data []byte) {
	if t := b.opt.Transport; t != nil {
		if err := t.Send(context.WithoutCancel(ctx), Message{Signal: data, Origin: b.id}); err != nil {
			b.log.WarnContext(ctx, "send signal to other instances", "err", err)
		}
	}
}

// Signals implements Hub.
func (b *Broker) Signals() <-chan []byte { return b.signals }

// receive handles a message from another instance.
func (b *Broker) receive(m Message) {
	ctx := context.Background()
	switch {
	case m.Signal != nil:
		if m.Origin == b.id {
			return // our own, echoed by the transport
		}
		select {
		case b.signals <- m.Signal:
		default:
			b.metrics.dropped.WithLabelValues("signal").Inc()
		}
	case m.Access:
		b.recheck(m.ConversationID)
	case m.Event != nil && m.Event.Data != nil:
		b.deliver(ctx, m.ConversationID, m.Event, m.Event.Seq)
	case m.Event != nil:
		b.deliver(ctx, m.ConversationID, nil, m.Event.Seq)
	}
}

// catchUpAll reads what every conversation with subscribers missed while
// the transport was disconnected, and checks their subscribers' access
// again (an access change sent meanwhile was lost with the connection).
func (b *Broker) catchUpAll() {
	b.listeningOnce.Do(func() { close(b.listening) })
	b.mu.RLock()
	ids := make([]string, 0, len(b.convs))
	for id := range b.convs {
		ids = append(ids, id)
	}
	b.mu.RUnlock()
	ctx := context.Background()
	for _, id := range ids {
		if bd, err := b.opt.Store.EventBounds(ctx, id); err == nil {
			b.deliver(ctx, id, nil, bd.Last)
		}
		b.recheck(id)
	}
}

// recheck runs the access check of every subscriber of the conversation
// and ends those that fail it.
func (b *Broker) recheck(conversationID string) {
	b.mu.RLock()
	st := b.convs[conversationID]
	b.mu.RUnlock()
	if st == nil {
		return
	}
	st.mu.Lock()
	subs := make([]*Subscription, 0, len(st.subs))
	for s := range st.subs {
		subs = append(subs, s)
	}
	st.mu.Unlock()
	for _, s := range subs {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if s.check != nil && s.check(ctx) != nil {
				s.end(ErrRevoked)
			}
		}()
	}
}

// deliver fans the event with the given seq out to the conversation's
// subscribers on this instance, after any events before it that were not
// fanned out yet (read from the store: they were committed first). ev is
// nil when only its seq is known.
func (b *Broker) deliver(ctx context.Context, conversationID string, ev *Event, seq int64) {
	b.mu.RLock()
	st := b.convs[conversationID]
	b.mu.RUnlock()
	if st == nil {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if seq <= st.last {
		return
	}
	upTo := seq
	if ev != nil {
		upTo = seq - 1
	}
	for st.last < upTo {
		gap, err := b.opt.Store.EventsAfter(ctx, conversationID, st.last, upTo, 512)
		if err != nil {
			b.log.WarnContext(ctx, "read missed conversation events", "conversation_id", conversationID, "err", err)
			break
		}
		if len(gap) == 0 {
			break // pruned or gone: skip ahead
		}
		for i := range gap {
			b.fanOut(st, &gap[i])
		}
	}
	if ev != nil {
		b.fanOut(st, ev)
	}
	st.last = max(st.last, seq)
}

// fanOut queues ev for every subscriber of st (st.mu held).
func (b *Broker) fanOut(st *convState, ev *Event) {
	st.last = ev.Seq
	for s := range st.subs {
		s.push(ev)
	}
	b.metrics.fanned.Add(float64(len(st.subs)))
}

// Subscribe implements Hub. Errors: ErrClosed, store errors.
func (b *Broker) Subscribe(ctx context.Context, conversationID, lastEventID string, check func(context.Context) error) (*Subscription, error) {
	bounds, err := b.opt.Store.EventBounds(ctx, conversationID)
	if err != nil {
		return nil, err
	}
	after, perr := strconv.ParseInt(lastEventID, 10, 64)
	valid := lastEventID != "" && perr == nil && after >= 0 && after <= bounds.Last
	s := &Subscription{b: b, conv: conversationID, check: check, signal: make(chan struct{}, 1)}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	st := b.convs[conversationID]
	if st == nil {
		st = &convState{last: bounds.Last, subs: map[*Subscription]struct{}{}}
		b.convs[conversationID] = st
	}
	st.mu.Lock()
	b.mu.Unlock()
	live := st.last
	s.skipUpTo = live
	if valid && after > live {
		s.skipUpTo = after // events (live, after] are still on their way here; the client has them
	}
	st.subs[s] = struct{}{}
	st.mu.Unlock()
	b.metrics.subscribers.Inc()
	if valid && after < live {
		s.replayAfter, s.replayUpTo, s.replaying = after, live, true
		b.metrics.replays.Inc()
	}
	// Events committed after bounds was read but fanned out before s was
	// registered are read from the store now.
	if now, err := b.opt.Store.EventBounds(ctx, conversationID); err == nil && now.Last > live {
		b.deliver(ctx, conversationID, nil, now.Last)
	}
	return s, nil
}

// unsubscribe removes s from its conversation.
func (b *Broker) unsubscribe(s *Subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.convs[s.conv]
	if st == nil {
		return
	}
	st.mu.Lock()
	if _, ok := st.subs[s]; ok {
		delete(st.subs, s)
		b.metrics.subscribers.Dec()
	}
	empty := len(st.subs) == 0
	st.mu.Unlock()
	if empty {
		delete(b.convs, s.conv)
	}
}

// Subscribers returns how many subscribers the conversation has on this
// instance.
func (b *Broker) Subscribers(conversationID string) int {
	b.mu.RLock()
	st := b.convs[conversationID]
	b.mu.RUnlock()
	if st == nil {
		return 0
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.subs)
}
