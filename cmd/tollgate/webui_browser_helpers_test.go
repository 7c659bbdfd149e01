package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/tollgate/tollgate/internal/client"
	"github.com/tollgate/tollgate/internal/httpapi"
	"github.com/tollgate/tollgate/internal/llm/llmtest"
)

// One headless Chromium serves every browser test of this binary; each
// test gets its own browser context (cookies, storage), so tests run in
// parallel without seeing each other.
var chromium struct {
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	err    error
}

// closeBrowser ends the shared Chromium (TestMain calls it).
func closeBrowser() {
	if chromium.cancel != nil {
		chromium.cancel()
	}
}

func chromiumPath() string {
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// ui is one browser tab of a test, against one server.
type ui struct {
	t    *testing.T
	ctx  context.Context
	base string

	mu      sync.Mutex
	errs    []string // console errors, exceptions, CSP violations
	dialogs []string // alert/confirm/prompt messages
}

// newUI opens a tab in a fresh browser context. Without Chromium the test
// skips, or fails under TOLLGATE_TEST_REQUIRE_SERVICES=1.
func newUI(t *testing.T, base string) *ui {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		if os.Getenv("TOLLGATE_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("chromium not found (apt-get install chromium); TOLLGATE_TEST_REQUIRE_SERVICES=1 requires it")
		}
		t.Skip("chromium not installed")
	}
	chromium.once.Do(func() {
		opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path),
			chromedp.NoSandbox, chromedp.WindowSize(1280, 800), chromedp.Flag("disable-dev-shm-usage", true))
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		bctx, cancelB := chromedp.NewContext(alloc)
		chromium.ctx = bctx
		chromium.cancel = func() { cancelB(); cancelAlloc() }
		chromium.err = chromedp.Do(bctx)
	})
	if chromium.err != nil {
		t.Fatalf("start chromium: %v", chromium.err)
	}
	ctx, cancel := chromedp.NewContext(chromium.ctx, chromedp.WithNewBrowserContext())
	u := &ui{t: t, ctx: ctx, base: base}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	err := chromedp.Listen(ctx, func(ev any) {
		u.mu.Lock()
		defer u.mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			u.errs = append(u.errs, fmt.Sprintf("exception: %s (%s:%d)", msg, d.URL, d.LineNumber))
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				u.errs = append(u.errs, "console.error: "+strings.Join(parts, " "))
			}
		case *cdplog.EventEntryAdded:
			// Failed requests the app expects (a wrong password's 401, a
			// 403 it shows) are logged by the network source; anything
			// else at error level (CSP violations, …) is a fault.
			if ev.Entry.Level == cdplog.EntryLevelError && ev.Entry.Source != cdplog.EntrySourceNetwork {
				u.errs = append(u.errs, string(ev.Entry.Source)+": "+ev.Entry.Text)
			}
		case *page.EventJavascriptDialogOpening:
			u.dialogs = append(u.dialogs, ev.Message)
			go chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if errs := u.consoleErrors(); len(errs) > 0 && !t.Failed() {
			t.Errorf("browser console errors: %q", errs)
		}
	})
	return u
}

func (u *ui) consoleErrors() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.errs...)
}

func (u *ui) dialogCount() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.dialogs)
}

// run runs actions with a deadline; a failure shows the page's text.
func (u *ui) run(actions ...chromedp.Action[chromedp.Void]) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		u.fail(err)
	}
}

func (u *ui) fail(err error) {
	u.t.Helper()
	sctx, c2 := context.WithTimeout(u.ctx, 3*time.Second)
	body, _ := chromedp.Run(sctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	loc, _ := chromedp.Run(sctx, chromedp.Location())
	c2()
	u.t.Fatalf("browser: %v\nat %s\npage text:\n%s\nconsole: %q", err, loc, body, u.consoleErrors())
}

// value runs one action that returns a value.
func value[T any](u *ui, a chromedp.Action[T]) T {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		u.fail(err)
	}
	return v
}

func (u *ui) open(path string) { u.t.Helper(); u.run(chromedp.Navigate(u.base + path)) }

// waitJS waits until the expression is truthy.
func (u *ui) waitJS(expr string) {
	u.t.Helper()
	expr = `(() => { try { return !!(` + expr + `) } catch { return false } })()`
	value(u, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(20*time.Second)))
}

// evalJS evaluates an expression in the page.
func evalJS[T any](u *ui, expr string) T {
	u.t.Helper()
	return value(u, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

func (u *ui) text(sel string) string {
	u.t.Helper()
	u.run(chromedp.WaitVisible(chromedp.CSS(sel)))
	return value(u, chromedp.TextContent(chromedp.CSS(sel)))
}

func (u *ui) path() string {
	u.t.Helper()
	return evalJS[string](u, `location.pathname + location.search`)
}

func (u *ui) click(sel string) {
	u.t.Helper()
	u.run(chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// fill sets an input's value as typing would.
func (u *ui) fill(sel, v string) {
	u.t.Helper()
	u.run(chromedp.WaitVisible(chromedp.CSS(sel)))
	evalJS[bool](u, `(() => { const el = document.querySelector(`+jsString(sel)+`); el.value = ""; return true })()`)
	u.run(chromedp.SendKeys(chromedp.CSS(sel), v))
}

// signIn uses the sign-in page and waits to leave it.
func (u *ui) signIn(email, password string) {
	u.t.Helper()
	u.waitJS(`location.pathname === "/login" && !!document.querySelector("input[name=email]")`)
	u.fill("input[name=email]", email)
	u.fill("input[name=password]", password)
	u.click("form button[type=submit]")
	u.waitJS(`location.pathname !== "/login"`)
}

// send writes a chat message and sends it with Enter.
func (u *ui) send(text string) {
	u.t.Helper()
	u.run(chromedp.WaitVisible(chromedp.CSS("#composer")), chromedp.WaitEnabled(chromedp.CSS("#composer")))
	// The value is set whole (typed, a newline would be Enter: send).
	evalJS[bool](u, `(() => { const c = document.querySelector("#composer"); c.value = `+jsString(text)+`; c.dispatchEvent(new Event("input")); return true })()`)
	u.run(chromedp.SendKeys(chromedp.CSS("#composer"), "\r"))
}

// screenshot writes docs/img/<name>.png at the given viewport when
// TOLLGATE_UPDATE_SCREENSHOTS=1 (and resets the viewport).
func (u *ui) screenshot(name string, width, height int64) {
	u.t.Helper()
	if os.Getenv("TOLLGATE_UPDATE_SCREENSHOTS") != "1" {
		return
	}
	u.run(chromedp.EmulateViewport(width, height), chromedp.Sleep(300*time.Millisecond))
	png := value(u, chromedp.CaptureScreenshot())
	u.run(chromedp.ResetViewport())
	if err := os.WriteFile(filepath.Join("..", "..", "docs", "img", name+".png"), png, 0o644); err != nil {
		u.t.Fatal(err)
	}
}

// nodeCount is the number of elements matching sel.
func (u *ui) nodeCount(sel string) int {
	u.t.Helper()
	return evalJS[int](u, `document.querySelectorAll(`+jsString(sel)+`).length`)
}

// uiEnv is a server for browser tests: models "echo" (the built-in echo
// provider), "slow" (a fake upstream that sends a word every gap),
// "hang" (three words, then nothing until the client leaves) and
// "markdown" (a fake upstream that answers with Markdown).
type uiEnv struct {
	*authEnv
	up         *llmtest.Server
	adminToken string // set by admin
}

func newUIEnv(t *testing.T, environ ...string) *uiEnv {
	t.Helper()
	words := strings.Fields("one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen")
	for i := range words[1:] {
		words[i+1] = " " + words[i+1]
	}
	up := llmtest.NewT(t, llmtest.Reply{Words: words, Gap: 40 * time.Millisecond})
	hang := llmtest.NewT(t, llmtest.Reply{Words: words, HangAfter: 4})
	md := llmtest.NewT(t, llmtest.Reply{Words: []string{"Here is **Go**:\n\n", "```go\n", "fmt.Println(\"hello\")\n", "```\n\n",
		"- a `list` item\n", "- *another* [link](https://example.com)\n"}})
	toml := `
[[providers]]
name = "echo"
type = "echo"

[[providers]]
name = "up"
type = "openai"
base_url = "` + up.URL + `"

[[providers]]
name = "mdup"
type = "openai"
base_url = "` + md.URL + `"

[[providers]]
name = "hangup"
type = "openai"
base_url = "` + hang.URL + `"

[[models]]
name = "echo"
provider = "echo"

[[models]]
name = "hang"
provider = "hangup"

[[models]]
name = "markdown"
provider = "mdup"

[[models]]
name = "slow"
provider = "up"
`
	e := startAuthEnv(t, testConfigTOML(t, toml, environ...), slog.New(slog.DiscardHandler), &syncBuffer{}, testDeps(nil))
	return &uiEnv{authEnv: e, up: up}
}

// admin creates the first admin and returns an API client acting as it.
func (e *uiEnv) admin() *client.Client {
	e.t.Helper()
	ctx := e.t.Context()
	anon := client.New(e.url)
	if _, err := anon.Setup(ctx, httpapi.SetupRequest{Email: "admin@example.com", Password: adminPassword, DisplayName: "Ada Admin"}); err != nil {
		e.t.Fatal(err)
	}
	lr, err := anon.Login(ctx, "admin@example.com", adminPassword)
	if err != nil {
		e.t.Fatal(err)
	}
	e.adminToken = lr.AccessToken
	return anon.WithToken(lr.AccessToken)
}

// user creates a user with role.
func (e *uiEnv) user(admin *client.Client, email, role string) httpapi.UserResponse {
	e.t.Helper()
	u, err := admin.CreateUser(e.t.Context(), httpapi.CreateUserRequest{Email: email, Password: adminPassword, DisplayName: strings.Split(email, "@")[0], Role: role})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

func jsString(s string) string { return fmt.Sprintf("%q", s) }

func chromedpReload() chromedp.Action[chromedp.Void] { return chromedp.Reload() }
