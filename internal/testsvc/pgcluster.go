package testsvc

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PGCluster is a throwaway PostgreSQL cluster owned by one test: its own
// data directory and port, so the test can stop, restart and freeze the
// server without touching the shared one of TOLLGATE_TEST_POSTGRES_URL.
// Fault-injection tests (durability, revocation under outage, query
// deadlines) use it.
type PGCluster struct {
	t       testing.TB
	bin     string // directory holding initdb, pg_ctl, postgres
	dir     string // data directory
	port    int
	asUser  string // "postgres" when the test runs as root, else ""
	stopped bool
}

// StartPGCluster creates and starts a fresh cluster, or skips/fails the
// test (like PostgresURL) when PostgreSQL's server binaries are missing.
// The cluster is stopped and removed when the test ends.
func StartPGCluster(t testing.TB) *PGCluster {
	t.Helper()
	bin := pgBinDir()
	if bin == "" {
		if Required() {
			t.Fatalf("PostgreSQL server binaries (initdb, pg_ctl) not found and TOLLGATE_TEST_REQUIRE_SERVICES=1")
		}
		t.Skip("SKIP: PostgreSQL server binaries (initdb, pg_ctl) not found")
	}
	c := &PGCluster{t: t, bin: bin, port: freePort(t)}
	if os.Geteuid() == 0 {
		c.asUser = "postgres" // initdb and postgres refuse to run as root
	}
	base, err := os.MkdirTemp("", "tollgate-pgcluster-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = filepath.Join(base, "data")
	if c.asUser != "" {
		u, err := user.Lookup(c.asUser)
		if err != nil {
			t.Fatalf("look up user %s: %v", c.asUser, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chmod(base, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(c.dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(c.dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		c.Thaw()
		_ = c.ctl("stop", "-m", "immediate")
		_ = os.RemoveAll(base)
	})
	if out, err := c.run(filepath.Join(bin, "initdb"), "-D", c.dir, "-U", "postgres",
		"--auth=trust", "--no-sync", "-E", "UTF8"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	// fsync off is safe here (a stop kills the server, not the kernel, so
	// written pages survive); synchronous_commit stays on, or a commit
	// acknowledged just before a Stop would be lost and the tests would
	// see rows vanish that no real outage loses.
	conf := fmt.Sprintf("\nport = %d\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"+
		"fsync = off\nfull_page_writes = off\nmax_connections = 100\n", c.port)
	f, err := os.OpenFile(filepath.Join(c.dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(conf)
	_ = f.Close()
	c.Start()
	return c
}

// URL is the cluster's connection URL (database postgres, trust auth).
func (c *PGCluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// Start starts the (stopped) server and waits until it accepts connections.
func (c *PGCluster) Start() {
	c.t.Helper()
	if err := c.ctl("start", "-w", "-t", "30", "-l", filepath.Join(c.dir, "server.log")); err != nil {
		c.t.Fatalf("pg_ctl start: %v", err)
	}
	c.stopped = false
}

// Stop stops the server immediately (as a crash or an outage would).
func (c *PGCluster) Stop() {
	c.t.Helper()
	if err := c.ctl("stop", "-m", "immediate", "-w"); err != nil {
		c.t.Fatalf("pg_ctl stop: %v", err)
	}
	c.stopped = true
}

// Freeze sends SIGSTOP to the postmaster and every backend: connections
// stay open but nothing answers, like a hung host.
func (c *PGCluster) Freeze() { c.signalAll(syscall.SIGSTOP) }

// Thaw resumes a frozen server.
func (c *PGCluster) Thaw() { c.signalAll(syscall.SIGCONT) }

func (c *PGCluster) signalAll(sig syscall.Signal) {
	pid := c.postmasterPID()
	if pid == 0 {
		return
	}
	pids := append([]int{pid}, childPIDs(pid)...)
	for _, p := range pids {
		_ = syscall.Kill(p, sig)
	}
}

func (c *PGCluster) postmasterPID() int {
	b, err := os.ReadFile(filepath.Join(c.dir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(first))
	return pid
}

func (c *PGCluster) ctl(args ...string) error {
	args = append(args[:1:1], append([]string{"-D", c.dir}, args[1:]...)...)
	out, err := c.run(filepath.Join(c.bin, "pg_ctl"), args...)
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

func (c *PGCluster) run(name string, args ...string) ([]byte, error) {
	var cmd *exec.Cmd
	if c.asUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", c.asUser, "--", name}, args...)...)
	} else {
		cmd = exec.Command(name, args...)
	}
	cmd.Dir = os.TempDir()
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
		return out, err
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return out, fmt.Errorf("%s timed out", filepath.Base(name))
	}
}

// childPIDs lists the direct children of pid from /proc.
func childPIDs(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// stat: pid (comm) state ppid ...; comm may contain spaces.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 {
			if pp, _ := strconv.Atoi(f[1]); pp == pid {
				out = append(out, p)
			}
		}
	}
	return out
}

func pgBinDir() string {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		d := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		return ""
	}
	return filepath.Dir(matches[len(matches)-1])
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
