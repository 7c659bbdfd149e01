package main

import (
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/llm/llmtest"
	"github.com/tollgate/tollgate/internal/testsvc"
)

// gatewayProc is the real tollgate binary (this test binary as main) serving
// on its own port.
type gatewayProc struct {
	cmd    *exec.Cmd
	base   string
	stderr *syncBuffer
}

// startGateway runs `tollgate serve` with config file cfgFile, data dir dir
// and extra environment, and waits until it answers /healthz.
func startGateway(t *testing.T, cfgFile, dir string, env ...string) *gatewayProc {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "TOLLGATE_TEST_AS_MAIN=1",
		"TOLLGATE_TEST_ARGS=serve --config "+cfgFile+" --addr 127.0.0.1:"+port,
		"TOLLGATE_SERVER_DATA_DIR="+dir, "TOLLGATE_LOG_FORMAT=json"), env...)
	p := &gatewayProc{cmd: cmd, base: "http://127.0.0.1:" + port, stderr: &syncBuffer{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for i := 0; ; i++ {
		if resp, err := http.Get(p.base + "/healthz"); err == nil {
			resp.Body.Close()
			return p
		}
		if i == 1000 {
			t.Fatalf("gateway did not start: %s", p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop sends sig and waits for the process; SIGTERM must exit 0.
func (p *gatewayProc) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	err := p.cmd.Wait()
	if sig == syscall.SIGTERM && err != nil {
		t.Fatalf("gateway exited with %v after SIGTERM; stderr:\n%s", err, p.stderr.String())
	}
}

// complete sends one non-streamed completion with request id id and
// returns the status (0 when the request did not get an answer).
func (p *gatewayProc) complete(id string) int {
	req, _ := http.NewRequest("POST", p.base+"/v1/chat/completions",
		strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-Id", id)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// loadRun sends completions one after the other (ids prefix-N) until stop
// is closed and returns the ids answered 200 and how many were sent.
func loadRun(p *gatewayProc, prefix string, stop <-chan struct{}) (ok []string, sent int) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return ok, i
		default:
		}
		id := fmt.Sprintf("%s-%05d", prefix, i)
		if p.complete(id) == 200 {
			ok = append(ok, id)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// usageCounts is the number of usage rows per request id.
func usageCounts(t *testing.T, driver, dsn string) map[string]int {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT request_id, COUNT(*) FROM usage_records GROUP BY request_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		out[id] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkExactlyOnce fails unless every id in ok has exactly one usage row
// and no request id has more than one.
func checkExactlyOnce(t *testing.T, counts map[string]int, ok []string) {
	t.Helper()
	for _, id := range ok {
		if counts[id] != 1 {
			t.Errorf("request %s answered 200 has %d usage records, want 1", id, counts[id])
		}
	}
	for id, n := range counts {
		if n > 1 {
			t.Errorf("request %s has %d usage records", id, n)
		}
	}
}

func writeConfig(t *testing.T, dir, toml string) string {
	t.Helper()
	p := filepath.Join(dir, "tollgate.toml")
	if err := os.WriteFile(p, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestUsageSurvivesPostgresOutage: under steady load, the gateway's
// PostgreSQL (a throwaway cluster) is stopped for 10 s and started again;
// after a SIGTERM every request answered 200 has exactly one usage record
// and none has two.
func TestUsageSurvivesPostgresOutage(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("10 s outage")
	}
	pg := testsvc.StartPGCluster(t)
	up := llmtest.NewT(t)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, upstreamConfig(t, up.URL))
	gw := startGateway(t, cfg, dir, "TOLLGATE_DATABASE_URL="+pg.URL())

	stop := make(chan struct{})
	var ok []string
	var sent int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); ok, sent = loadRun(gw, "pg", stop) }()
	time.Sleep(time.Second)
	pg.Stop()
	time.Sleep(10 * time.Second)
	pg.Start()
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	gw.stop(t, syscall.SIGTERM)

	counts := usageCounts(t, "pgx", pg.URL())
	t.Logf("%d requests, %d answered 200, %d usage records", sent, len(ok), len(counts))
	if len(ok) < 50 {
		t.Fatalf("only %d requests answered 200 of %d; stderr:\n%s", len(ok), sent, gw.stderr.String())
	}
	checkExactlyOnce(t, counts, ok)
	if !strings.Contains(gw.stderr.String(), `"msg":"usage batch write failed; retrying"`) {
		t.Errorf("no retry logged during the outage:\n%s", gw.stderr.String())
	}
}

// TestUsageSurvivesReadOnlySQLite: the SQLite file is made read-only (an
// unwritable disk) under steady load, then writable again: every request
// answered 200 has exactly one usage record.
func TestUsageSurvivesReadOnlySQLite(t *testing.T) {
	t.Parallel()
	up := llmtest.NewT(t)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, upstreamConfig(t, up.URL))
	gw := startGateway(t, cfg, dir)
	dbPath := filepath.Join(dir, "tollgate.db")

	stop := make(chan struct{})
	var ok []string
	var sent int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); ok, sent = loadRun(gw, "ro", stop) }()
	time.Sleep(500 * time.Millisecond)
	readOnly(t, dbPath, true)
	time.Sleep(3 * time.Second)
	readOnly(t, dbPath, false)
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	gw.stop(t, syscall.SIGTERM)

	counts := usageCounts(t, "sqlite", dbPath)
	t.Logf("%d requests, %d answered 200, %d usage records", sent, len(ok), len(counts))
	checkExactlyOnce(t, counts, ok)
	if !strings.Contains(gw.stderr.String(), `"msg":"usage batch write failed; retrying"`) {
		t.Errorf("no failed write while read-only (the fault was not injected):\n%s", gw.stderr.String())
	}
}

// readOnly makes the database file and its WAL unwritable for the running
// gateway (or writable again) with the immutable attribute, which stops
// writes through descriptors already open, even root's (file modes do
// not).
func readOnly(t *testing.T, path string, on bool) {
	t.Helper()
	flag := "-i"
	if on {
		flag = "+i"
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if out, err := exec.Command("chattr", flag, p).CombinedOutput(); err != nil {
			t.Skipf("chattr %s %s: %v %s (needs a filesystem with immutable files)", flag, p, err, out)
		}
	}
}

// TestUsageSurvivesFullDisk: the SQLite database lives on a small tmpfs
// that is filled under steady load, then freed: every request answered
// 200 has exactly one usage record.
func TestUsageSurvivesFullDisk(t *testing.T) {
	t.Parallel()
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v %s (needs root)", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", mnt).Run() })
	up := llmtest.NewT(t)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, upstreamConfig(t, up.URL))
	dbPath := filepath.Join(mnt, "tollgate.db")
	gw := startGateway(t, cfg, dir, "TOLLGATE_DATABASE_URL=sqlite://"+dbPath)

	stop := make(chan struct{})
	var ok []string
	var sent int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); ok, sent = loadRun(gw, "full", stop) }()
	time.Sleep(500 * time.Millisecond)
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			break // ENOSPC: the disk is full
		}
	}
	f.Close()
	time.Sleep(3 * time.Second)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	gw.stop(t, syscall.SIGTERM)

	counts := usageCounts(t, "sqlite", dbPath)
	t.Logf("%d requests, %d answered 200, %d usage records", sent, len(ok), len(counts))
	checkExactlyOnce(t, counts, ok)
	if !strings.Contains(gw.stderr.String(), `"msg":"usage batch write failed; retrying"`) {
		t.Errorf("no failed write while the disk was full (the fault was not injected):\n%s", gw.stderr.String())
	}
}

// TestUsageSurvivesSIGKILL: with batches of 10 and an hour's flush
// interval, 25 requests leave 20 records written and 5 queued; the gateway
// is SIGKILLed. After a restart on the same data dir all 25 are stored,
// none twice (the spool segment also held the 20 already written).
func TestUsageSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	up := llmtest.NewT(t)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, upstreamConfig(t, up.URL))
	env := []string{"TOLLGATE_USAGE_FLUSH_INTERVAL=1h", "TOLLGATE_USAGE_BATCH_SIZE=10"}
	dbPath := filepath.Join(dir, "tollgate.db")
	gw := startGateway(t, cfg, dir, env...)
	var ok []string
	for i := range 25 {
		id := fmt.Sprintf("kill-%02d", i)
		if got := gw.complete(id); got != 200 {
			t.Fatalf("request %s = %d, want 200", id, got)
		}
		ok = append(ok, id)
	}
	waitUntil(t, "two batches written", func() bool { return len(usageCounts(t, "sqlite", dbPath)) == 20 })
	gw.stop(t, syscall.SIGKILL)
	if got := len(usageCounts(t, "sqlite", dbPath)); got != 20 {
		t.Fatalf("records after SIGKILL = %d, want 20 (5 were queued)", got)
	}

	gw = startGateway(t, cfg, dir, env...)
	waitUntil(t, "the spool replayed", func() bool { return len(usageCounts(t, "sqlite", dbPath)) >= 25 })
	gw.stop(t, syscall.SIGTERM)
	checkExactlyOnce(t, usageCounts(t, "sqlite", dbPath), ok)
	if got := len(usageCounts(t, "sqlite", dbPath)); got != 25 {
		t.Fatalf("records after restart = %d, want 25", got)
	}
	if !strings.Contains(gw.stderr.String(), `"msg":"usage spool holds records of an earlier run; replaying"`) {
		t.Errorf("no replay logged at start-up:\n%s", gw.stderr.String())
	}
	if segs, _ := filepath.Glob(filepath.Join(dir, "spool", "*.seg")); len(segs) != 0 {
		t.Errorf("spool segments left after a clean stop: %v", segs)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
