package testsvc

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestPGClusterStopStartFreeze: the throwaway cluster really goes down,
// comes back, and a frozen server makes a query wait until its deadline.
func TestPGClusterStopStartFreeze(t *testing.T) {
	c := StartPGCluster(t)
	ping := func(timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		conn, err := pgx.Connect(ctx, c.URL())
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		var n int
		return conn.QueryRow(ctx, "select 1").Scan(&n)
	}
	if err := ping(5 * time.Second); err != nil {
		t.Fatalf("fresh cluster: %v", err)
	}
	c.Stop()
	if err := ping(2 * time.Second); err == nil {
		t.Fatal("stopped cluster answered")
	}
	c.Start()
	if err := ping(5 * time.Second); err != nil {
		t.Fatalf("restarted cluster: %v", err)
	}
	c.Freeze()
	start := time.Now()
	err := ping(500 * time.Millisecond)
	c.Thaw()
	if err == nil {
		t.Fatal("frozen cluster answered")
	}
	if time.Since(start) < 400*time.Millisecond {
		t.Fatalf("frozen cluster failed fast (%v) instead of hanging: %v", time.Since(start), err)
	}
	if err := ping(5 * time.Second); err != nil {
		t.Fatalf("thawed cluster: %v", err)
	}
}
