package main

// The data-volume benchmark (issue 23): a generator loads usage rows, API
// keys and conversations into SQLite and PostgreSQL through the store's
// public API, and at each size times the calls users make. Nothing here
// reaches into a table: what the store API cannot load, it does not load.
//
//	go run ./bench -scale            # 10^3 .. 10^6 rows, both engines
//	go run ./bench -scale -scale-huge    # usage up to 10^7
//	go run ./bench -scale-small      # 10^3 .. 10^4 (the test runs this)

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/sqlstore"
)

type scaleOptions struct {
	small   bool   // 10^3 and 10^4 only
	huge    bool   // usage rows up to 10^7
	pgURL   string // "" skips PostgreSQL
	engines string // comma-separated: sqlite,postgres
	reps    int
	max     int   // largest size (0: no cap)
	sizes   []int // the sizes, overriding small and huge (tests)
	users   int   // background users (0: 1000)
	keep    bool
}

// scaleRow is one timed call at one size on one engine.
type scaleRow struct {
	Engine string
	Size   int
	Call   string
	P50    time.Duration
	P99    time.Duration
	Max    time.Duration
	Result int // rows the call returned (sanity: not zero where data exists)
}

// scaleData is what the generator has loaded so far into one store.
type scaleData struct {
	st       *sqlstore.Store
	writers  int // parallel loaders: 8 on PostgreSQL, 1 on SQLite (one writer)
	nUsers   int
	rng      *rand.Rand
	users    []string // background users (scaleUsers by default)
	small    string   // the small user: 10 keys, 100 messages, few usage rows
	heavy    string   // half of all usage rows
	smallCID string   // one of the small user's conversations
	keyHash  [][32]byte
	usage    int
	keys     int
	messages int
	convs    int
}

const scaleUsers = 1000

var scaleVocab = func() []string {
	w := make([]string, 2000)
	for i := range w {
		w[i] = fmt.Sprintf("w%04d", i)
	}
	return w
}()

// runScale loads and times every engine at every size and writes the
// table to out.
func runScale(ctx context.Context, o scaleOptions, log, out io.Writer) ([]scaleRow, error) {
	sizes := []int{1_000, 10_000, 100_000, 1_000_000}
	if o.small {
		sizes = sizes[:2]
	}
	if o.huge {
		sizes = append(sizes, 10_000_000)
	}
	if o.sizes != nil {
		sizes = o.sizes
	}
	for o.max > 0 && len(sizes) > 1 && sizes[len(sizes)-1] > o.max {
		sizes = sizes[:len(sizes)-1]
	}
	var rows []scaleRow
	for _, eng := range strings.Split(o.engines, ",") {
		st, cleanup, err := openScaleStore(ctx, eng, o)
		if err != nil {
			return rows, err
		}
		if st == nil {
			fmt.Fprintf(log, "scale: %s skipped (no URL)\n", eng)
			continue
		}
		d := &scaleData{st: st, writers: 1, rng: rand.New(rand.NewPCG(1, 2)), nUsers: o.users}
		if d.nUsers <= 0 {
			d.nUsers = scaleUsers
		}
		if eng == "postgres" {
			d.writers = 8
		}
		err = d.seed(ctx)
		for _, n := range sizes {
			if err != nil {
				break
			}
			start := time.Now()
			if err = d.load(ctx, n); err != nil {
				break
			}
			fmt.Fprintf(log, "scale: %s loaded usage=%d keys=%d messages=%d in %s\n", eng, d.usage, d.keys, d.messages, time.Since(start).Round(time.Second))
			var rs []scaleRow
			rs, err = d.time(ctx, eng, n, o.reps)
			rows = append(rows, rs...)
			writeScaleTable(log, rs) // as it goes: a 10^6 run takes long
		}
		cleanup()
		if err != nil {
			return rows, fmt.Errorf("%s: %w", eng, err)
		}
	}
	writeScaleTable(out, rows)
	return rows, nil
}

func openScaleStore(ctx context.Context, eng string, o scaleOptions) (*sqlstore.Store, func(), error) {
	var dsn string
	var drop func()
	switch eng {
	case "sqlite":
		dir, err := os.MkdirTemp("", "tollgate-scale-")
		if err != nil {
			return nil, nil, err
		}
		dsn = "sqlite://" + filepath.Join(dir, "scale.db")
		drop = func() {
			if !o.keep {
				os.RemoveAll(dir)
			}
		}
	case "postgres":
		if o.pgURL == "" {
			return nil, func() {}, nil
		}
		schema := fmt.Sprintf("tg_scale_%d", time.Now().UnixNano())
		admin, err := sql.Open("pgx", o.pgURL)
		if err != nil {
			return nil, nil, err
		}
		if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
			admin.Close()
			return nil, nil, fmt.Errorf("create schema: %w", err)
		}
		u, err := url.Parse(o.pgURL)
		if err != nil {
			return nil, nil, err
		}
		q := u.Query()
		q.Set("search_path", schema)
		// A load generator needs no durability per row; reads are timed.
		q.Set("synchronous_commit", "off")
		u.RawQuery = q.Encode()
		dsn = u.String()
		drop = func() {
			if !o.keep {
				_, _ = admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
			}
			admin.Close()
		}
	default:
		return nil, nil, fmt.Errorf("unknown engine %q", eng)
	}
	st, err := sqlstore.Open(ctx, dsn, sqlstore.Options{MaxOpenConns: 8})
	if err == nil {
		err = st.Migrate(ctx)
	}
	if err != nil {
		drop()
		return nil, nil, err
	}
	return st, func() { st.Close(); drop() }, nil
}

func (d *scaleData) seed(ctx context.Context) error {
	mk := func(name string) (string, error) {
		u := &gateway.User{Email: name + "@scale.test", DisplayName: name, Role: gateway.RoleContributor, Active: true}
		return u.ID, d.st.CreateUser(ctx, u)
	}
	var err error
	if d.small, err = mk("small"); err != nil {
		return err
	}
	if d.heavy, err = mk("heavy"); err != nil {
		return err
	}
	for i := range d.nUsers {
		id, err := mk(fmt.Sprintf("user%d", i))
		if err != nil {
			return err
		}
		d.users = append(d.users, id)
	}
	// The small user's data comes first, so it is the oldest: a search or
	// listing that scanned in insertion order would pay for everything.
	for range 10 {
		if err := d.addKey(ctx, d.small); err != nil {
			return err
		}
	}
	for range 10 {
		cid, err := d.addConversation(ctx, d.small, true)
		if err != nil {
			return err
		}
		d.smallCID = cid
	}
	return d.addUsage(ctx, d.small, 100)
}

func (d *scaleData) addKey(ctx context.Context, owner string) error {
	h, err := d.createKey(ctx, owner, d.keys)
	if err != nil {
		return err
	}
	d.keyHash = append(d.keyHash, h)
	d.keys++
	return nil
}

// createKey stores key number i of owner and returns its hash.
func (d *scaleData) createKey(ctx context.Context, owner string, i int) ([32]byte, error) {
	h := sha256.Sum256(fmt.Appendf(nil, "scale-key-%d", i))
	k := &gateway.APIKey{Name: "k", Prefix: fmt.Sprintf("%08d", i%1e8), OwnerID: owner, Role: gateway.RoleContributor, Hash: h}
	return h, d.st.CreateAPIKey(ctx, k)
}

// addConversation stores a conversation of 5 exchanges (10 messages).
// Every message has one of ten topics; every third mentions "common",
// like a word most users use.
func (d *scaleData) addConversation(ctx context.Context, owner string, finish bool) (string, error) {
	o := gateway.Owner{UserID: owner}
	c, err := d.st.CreateConversation(ctx, o, gateway.Conversation{Title: "scale"})
	if err != nil {
		return "", err
	}
	for range 5 {
		x, err := d.st.StartExchange(ctx, o, gateway.NewExchange{ConversationID: c.ID, Content: d.text()})
		if err != nil {
			return "", err
		}
		if finish {
			if _, err := d.st.FinishMessage(ctx, o, x.Assistant.ID, gateway.MessageResult{Content: d.text(), Status: gateway.MessageComplete}); err != nil {
				return "", err
			}
		}
		d.messages += 2
	}
	d.convs++
	return c.ID, nil
}

func (d *scaleData) text() string {
	var b strings.Builder
	for i := range 12 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(scaleVocab[d.rng.IntN(len(scaleVocab))])
	}
	fmt.Fprintf(&b, " topic%d", d.rng.IntN(10))
	if d.rng.IntN(3) == 0 {
		b.WriteString(" common")
	}
	return b.String()
}

func (d *scaleData) addUsage(ctx context.Context, user string, n int) error {
	now := time.Now().UTC()
	models := []string{"small", "medium", "large", "vision", "embed"}
	for n > 0 {
		batch := make([]gateway.UsageRecord, min(n, 1000))
		for i := range batch {
			u := user
			if u == "" {
				u = d.heavy
				if d.rng.IntN(2) == 0 {
					u = d.users[d.rng.IntN(len(d.users))]
				}
			}
			m := models[d.rng.IntN(len(models))]
			batch[i] = gateway.UsageRecord{
				CreatedAt: now.Add(-time.Duration(d.rng.Int64N(int64(90 * 24 * time.Hour)))),
				RequestID: fmt.Sprintf("req-%d", d.usage+i), UserID: u, KeyID: fmt.Sprintf("key-%d", d.rng.IntN(1000)),
				Model: m, ServedModel: m, Provider: "mock", PromptTokens: 100, CompletionTokens: 50,
				Latency: time.Second, Cost: 150, Status: gateway.UsageOK, HTTPStatus: 200,
			}
		}
		if err := d.st.InsertUsage(ctx, batch); err != nil {
			return err
		}
		d.usage += len(batch)
		n -= len(batch)
	}
	return nil
}

// load grows usage to n rows, and keys and messages to min(n, 10^6), with
// d.writers parallel writers for keys and conversations.
func (d *scaleData) load(ctx context.Context, n int) error {
	if err := d.addUsage(ctx, "", n-d.usage); err != nil {
		return err
	}
	// As the server's hourly job does, usage_hourly keeps its last days
	// (it deletes one run late: twice).
	for range 2 {
		if _, err := d.st.PruneUsageHourly(ctx, time.Now().Add(-sqlstore.UsageHourlyRetention)); err != nil {
			return err
		}
	}
	target := min(n, 1_000_000)
	var mu sync.Mutex // guards d (the store is safe for concurrent use)
	var firstErr error
	var wg sync.WaitGroup
	for w := range d.writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if firstErr != nil || (d.keys >= target && d.messages >= target) {
					mu.Unlock()
					return
				}
				doKey := d.keys < target && (d.keys <= d.messages || d.messages >= target)
				owner := d.users[d.rng.IntN(len(d.users))]
				var err error
				if doKey {
					i := d.keys
					d.keys++
					mu.Unlock()
					var h [32]byte
					if h, err = d.createKey(ctx, owner, i); err == nil {
						mu.Lock()
						if len(d.keyHash) < 10_000 {
							d.keyHash = append(d.keyHash, h)
						}
						mu.Unlock()
					}
				} else {
					d.messages += 10
					mu.Unlock()
					err = d.addConversationUnlocked(ctx, owner, &mu)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("writer %d: %w", w, err)
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// addConversationUnlocked is addConversation for the parallel loader: its
// messages were counted already; the text comes from a per-call generator.
func (d *scaleData) addConversationUnlocked(ctx context.Context, owner string, mu *sync.Mutex) error {
	mu.Lock()
	seed := d.rng.Uint64()
	d.convs++
	mu.Unlock()
	g := &scaleData{rng: rand.New(rand.NewPCG(seed, 7))}
	o := gateway.Owner{UserID: owner}
	c, err := d.st.CreateConversation(ctx, o, gateway.Conversation{Title: "scale"})
	if err != nil {
		return err
	}
	for range 5 {
		x, err := d.st.StartExchange(ctx, o, gateway.NewExchange{ConversationID: c.ID, Content: g.text()})
		if err != nil {
			return err
		}
		if _, err := d.st.FinishMessage(ctx, o, x.Assistant.ID, gateway.MessageResult{Content: g.text(), Status: gateway.MessageComplete}); err != nil {
			return err
		}
	}
	return nil
}

// time runs each user-facing call reps times and records p50/p99/max.
func (d *scaleData) time(ctx context.Context, eng string, size, reps int) ([]scaleRow, error) {
	now := time.Now().UTC()
	from := now.Add(-90 * 24 * time.Hour)
	small := gateway.Owner{UserID: d.small}
	calls := []struct {
		name string
		fn   func() (int, error)
	}{
		{"usage: all, 90 days by day", func() (int, error) {
			g, err := d.st.UsageSummary(ctx, gateway.UsageQuery{From: from, To: now, GroupBy: gateway.UsageByDay})
			return len(g), err
		}},
		{"usage: all, 90 days by model", func() (int, error) {
			g, err := d.st.UsageSummary(ctx, gateway.UsageQuery{From: from, To: now, GroupBy: gateway.UsageByModel})
			return len(g), err
		}},
		{"usage: heavy user, 90 days by day", func() (int, error) {
			g, err := d.st.UsageSummary(ctx, gateway.UsageQuery{From: from, To: now, GroupBy: gateway.UsageByDay, UserID: d.heavy})
			return len(g), err
		}},
		{"usage: small user, 90 days by model", func() (int, error) {
			g, err := d.st.UsageSummary(ctx, gateway.UsageQuery{From: from, To: now, GroupBy: gateway.UsageByModel, UserID: d.small})
			return len(g), err
		}},
		{"search: small user, common word", func() (int, error) {
			h, err := d.st.SearchMessages(ctx, small, "common", 20)
			return len(h), err
		}},
		{"search: small user, two words", func() (int, error) {
			h, err := d.st.SearchMessages(ctx, small, "common topic3", 20)
			return len(h), err
		}},
		{"keys: list, owner filter", func() (int, error) {
			k, _, err := d.st.ListAPIKeys(ctx, d.small, "", 50)
			return len(k), err
		}},
		{"keys: verify by hash", func() (int, error) {
			_, err := d.st.APIKeyByHash(ctx, d.keyHash[d.rng.IntN(len(d.keyHash))])
			return 1, err
		}},
		{"conversations: list", func() (int, error) {
			c, err := d.st.ListConversations(ctx, small, nil, 50)
			return len(c), err
		}},
		{"messages: list", func() (int, error) {
			m, err := d.st.ListMessages(ctx, small, d.smallCID)
			return len(m), err
		}},
	}
	var rows []scaleRow
	for _, c := range calls {
		if _, err := c.fn(); err != nil { // warm-up, and plan caches
			return rows, fmt.Errorf("%s: %w", c.name, err)
		}
		ds := make([]time.Duration, reps)
		var res int
		for i := range ds {
			t := time.Now()
			n, err := c.fn()
			ds[i] = time.Since(t)
			if err != nil {
				return rows, fmt.Errorf("%s: %w", c.name, err)
			}
			res = n
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		rows = append(rows, scaleRow{Engine: eng, Size: size, Call: c.name, Result: res,
			P50: ds[len(ds)/2], P99: ds[min(len(ds)-1, len(ds)*99/100)], Max: ds[len(ds)-1]})
	}
	return rows, nil
}

// writeScaleTable prints one line per call and engine, sizes as columns.
func writeScaleTable(w io.Writer, rows []scaleRow) {
	type key struct{ eng, call string }
	var order []key
	var sizes []int
	cells := map[key]map[int]scaleRow{}
	for _, r := range rows {
		k := key{r.Engine, r.Call}
		if cells[k] == nil {
			cells[k] = map[int]scaleRow{}
			order = append(order, k)
		}
		cells[k][r.Size] = r
		if !containsInt(sizes, r.Size) {
			sizes = append(sizes, r.Size)
		}
	}
	sort.Ints(sizes)
	fmt.Fprintf(w, "| engine | call |")
	for _, n := range sizes {
		fmt.Fprintf(w, " %s p50 / p99 ms |", sizeName(n))
	}
	fmt.Fprintf(w, "\n|---|---|%s\n", strings.Repeat("---|", len(sizes)))
	for _, k := range order {
		fmt.Fprintf(w, "| %s | %s |", k.eng, k.call)
		for _, n := range sizes {
			if r, ok := cells[k][n]; ok {
				fmt.Fprintf(w, " %s / %s |", ms(r.P50), ms(r.P99))
			} else {
				fmt.Fprint(w, " – |")
			}
		}
		fmt.Fprintln(w)
	}
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func sizeName(n int) string {
	e := 0
	for m := n; m >= 10; m /= 10 {
		e++
	}
	return fmt.Sprintf("10^%d", e)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }
