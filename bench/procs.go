package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// pinning says how the server processes and the harness are kept apart.
type pinning struct {
	taskset string // path of taskset, "" when unavailable or pointless
}

// setupPinning pins the harness (mock and load generator) to CPU 1 so the
// servers under test get CPU 0 alone. With fewer than two CPUs or no
// taskset nothing is pinned.
func setupPinning() (pinning, string) {
	path, err := exec.LookPath("taskset")
	if err != nil {
		return pinning{}, "no taskset: processes are not pinned; the server still runs with GOMAXPROCS=1"
	}
	if runtime.NumCPU() < 2 {
		return pinning{}, "fewer than 2 CPUs: processes are not pinned"
	}
	out, err := exec.Command(path, "-a", "-p", "-c", "1", strconv.Itoa(os.Getpid())).CombinedOutput()
	if err != nil {
		return pinning{}, fmt.Sprintf("taskset of the harness failed (%v: %s): not pinned", err, strings.TrimSpace(string(out)))
	}
	runtime.GOMAXPROCS(1)
	return pinning{taskset: path}, "servers pinned to CPU 0 (taskset -c 0, GOMAXPROCS=1); mock and load generator on CPU 1 (GOMAXPROCS=1)"
}

// command returns a command for a server under test: on CPU 0 when pinning.
func (p pinning) command(name string, args ...string) *exec.Cmd {
	if p.taskset != "" {
		return exec.Command(p.taskset, append([]string{"-c", "0", name}, args...)...)
	}
	return exec.Command(name, args...)
}

// raiseFileLimit lifts RLIMIT_NOFILE (for the idle-stream scenario) as far
// as allowed; children inherit it. It returns the soft limit in force.
func raiseFileLimit(want uint64) uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 1024
	}
	if l.Max < want {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: want}); err == nil {
			return want
		}
	}
	l.Cur = min(max(l.Cur, want), l.Max)
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
	return l.Cur
}

// buildBinaries builds the gateway and the bare proxy into dir.
func buildBinaries(ctx context.Context, root, dir string) (gateway, bare string, err error) {
	gateway, bare = filepath.Join(dir, "tollgate"), filepath.Join(dir, "bareproxy")
	for _, b := range [][2]string{{gateway, "./cmd/tollgate"}, {bare, "./bench/bareproxy"}} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b[0], b[1])
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("go build %s: %v\n%s", b[1], err, out)
		}
	}
	return gateway, bare, nil
}

// moduleRoot finds the directory holding go.mod from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/tollgate/tollgate\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the tollgate module (go.mod not found)")
		}
		dir = parent
	}
}

// server is a running child process under test.
type server struct {
	cmd *exec.Cmd
	URL string
	// MetricsURL is the gateway's /metrics ("" for the bare proxy).
	MetricsURL string
	logf       *os.File
	exited     chan struct{}
}

func (s *server) PID() int { return s.cmd.Process.Pid }

// stop sends SIGTERM and waits up to 15s before killing.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	if s.logf != nil {
		_ = s.logf.Close()
	}
}

func (s *server) start() error {
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.exited = make(chan struct{})
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	return nil
}

// startBare starts the bare reverse proxy in front of upstream.
func startBare(p pinning, bin, upstream, logPath string) (*server, error) {
	cmd := p.command(bin, "--upstream", upstream)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s := &server{cmd: cmd}
	if s.logf, err = os.Create(logPath); err != nil {
		return nil, err
	}
	cmd.Stderr = s.logf
	if err := s.start(); err != nil {
		return nil, err
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case addr := <-line:
		s.URL = "http://" + addr
		return s, nil
	case <-time.After(10 * time.Second):
		s.stop()
		return nil, fmt.Errorf("bare proxy did not start; see %s", logPath)
	}
}

// gatewayConfig is the TOML the harness writes for the gateway.
func gatewayConfig(addr, dataDir, upstream string) string {
	var b strings.Builder
	// No connection cap: the idle-stream and subscriber scenarios hold 10,000
	// connections (server.max_connections defaults to 4096).
	fmt.Fprintf(&b, "[server]\naddr = %q\ndata_dir = %q\nmax_connections = 0\n\n", addr, dataDir)
	// Rate limiting cannot be switched off today: a limit far above what
	// the benchmark sends keeps every request allowed.
	b.WriteString("[rate_limit.default]\nrequests_per_minute = 1000000000\nburst = 100000000\n\n")
	fmt.Fprintf(&b, "[[providers]]\nname = \"mock\"\ntype = \"openai\"\nbase_url = %q\ntimeout = \"10m\"\n\n", upstream+"/v1")
	for _, m := range []string{modelSmall, modelLarge, modelStream, modelIdle} {
		fmt.Fprintf(&b, "[[models]]\nname = %q\nprovider = \"mock\"\nupstream_model = %q\n\n", m, m)
	}
	return b.String()
}

// freeAddr returns a 127.0.0.1 address that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startGateway writes a config into dir and starts the gateway with extra
// environment, waiting until /healthz answers.
func startGateway(p pinning, bin, dir, upstream string, env []string) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "tollgate.toml")
	if err := os.WriteFile(cfgPath, []byte(gatewayConfig(addr, filepath.Join(dir, "data"), upstream)), 0o600); err != nil {
		return nil, err
	}
	cmd := p.command(bin, "serve", "--config", cfgPath)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TOLLGATE_") && !strings.HasPrefix(kv, "GOMAXPROCS=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	// /metrics on a port of its own: the idle-stream scenario reads
	// go_goroutines there.
	maddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd.Env = append(append(cmd.Env, "GOMAXPROCS=1", "TOLLGATE_METRICS_ADDR="+maddr), env...)
	s := &server{cmd: cmd, URL: "http://" + addr, MetricsURL: "http://" + maddr + "/metrics"}
	logPath := filepath.Join(dir, "gateway.log")
	if s.logf, err = os.Create(logPath); err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = s.logf, s.logf
	if err := s.start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return nil, fmt.Errorf("gateway exited at start; see %s", logPath)
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := http.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
	}
	s.stop()
	return nil, fmt.Errorf("gateway did not become healthy in 30s; see %s", logPath)
}
