// Command tollgate is the Tollgate LLM gateway: the server and its CLI.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var intr interruptRouter
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		for s := range sigs {
			if s == os.Interrupt && intr.route() {
				continue
			}
			cancel()
		}
	}()
	root := newRootCmd(env{
		stdin:      os.Stdin,
		stdout:     os.Stdout,
		stderr:     os.Stderr,
		environ:    os.Environ,
		interrupts: intr.catch,
	})
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "tollgate:", err)
		os.Exit(1)
	}
}

// interruptRouter hands SIGINT to a command that catches it (interactive
// chat: Ctrl-C cancels the reply, not the process); without a catcher,
// SIGINT ends the command's context like SIGTERM.
type interruptRouter struct {
	mu sync.Mutex
	ch chan struct{}
}

// catch routes interrupts to the returned channel until release is
// called. An interrupt not yet received is kept (one at most).
func (r *interruptRouter) catch() (interrupts <-chan struct{}, release func()) {
	ch := make(chan struct{}, 1)
	r.mu.Lock()
	r.ch = ch
	r.mu.Unlock()
	return ch, func() {
		r.mu.Lock()
		if r.ch == ch {
			r.ch = nil
		}
		r.mu.Unlock()
	}
}

// route delivers an interrupt to the catcher; false when there is none.
func (r *interruptRouter) route() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ch == nil {
		return false
	}
	select {
	case r.ch <- struct{}{}:
	default:
	}
	return true
}
