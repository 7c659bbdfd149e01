package webui_test

import (
	"compress/gzip"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/webui"
)

func get(t *testing.T, h http.Handler, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, path, nil))
	return w
}

// TestHeaders: every answer, shell, asset or miss, carries the strict CSP
// of SPEC 11 and the other security headers.
func TestHeaders(t *testing.T) {
	h := webui.New()
	for _, path := range []string{"/", "/c/conv_x", "/account/keys", "/assets/app.css", "/assets/js/app.js", "/assets/nope.js"} {
		w := get(t, h, "GET", path)
		want := map[string]string{
			"Content-Security-Policy": webui.CSP,
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "same-origin",
			"X-Frame-Options":         "DENY",
		}
		for k, v := range want {
			if got := w.Header().Get(k); got != v {
				t.Errorf("GET %s %s = %q, want %q", path, k, got, v)
			}
		}
	}
	for _, part := range []string{"default-src 'self'", "script-src 'self';", "style-src 'self';", "frame-ancestors 'none'", "object-src 'none'"} {
		if !strings.Contains(webui.CSP, part) {
			t.Errorf("CSP lacks %q", part)
		}
	}
	if strings.Contains(webui.CSP, "unsafe-") {
		t.Errorf("CSP allows unsafe sources: %s", webui.CSP)
	}
}

// TestRouting: client-side routes get the shell, assets their type, an
// unknown asset 404, and only GET and HEAD are served.
func TestRouting(t *testing.T) {
	h := webui.New()
	cases := []struct {
		method, path string
		status       int
		ctype        string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8"},
		{"GET", "/c/conv_abc", 200, "text/html; charset=utf-8"},
		{"GET", "/admin/users", 200, "text/html; charset=utf-8"},
		{"HEAD", "/login", 200, "text/html; charset=utf-8"},
		{"GET", "/assets/js/app.js", 200, "text/javascript; charset=utf-8"},
		{"GET", "/assets/app.css", 200, "text/css; charset=utf-8"},
		{"GET", "/assets/icon.svg", 200, "image/svg+xml"},
		{"GET", "/assets/missing.js", 404, "text/plain; charset=utf-8"},
		{"GET", "/assets/index.html", 404, "text/plain; charset=utf-8"},
		{"GET", "/assets/../index.html", 404, "text/plain; charset=utf-8"},
		{"POST", "/", 405, "text/plain; charset=utf-8"},
	}
	for _, c := range cases {
		w := get(t, h, c.method, c.path)
		if w.Code != c.status || w.Header().Get("Content-Type") != c.ctype {
			t.Errorf("%s %s = %d %q, want %d %q", c.method, c.path, w.Code, w.Header().Get("Content-Type"), c.status, c.ctype)
		}
	}
	shell := get(t, h, "GET", "/anything").Body.String()
	if !strings.Contains(shell, `<script type="module" src="/assets/js/app.js"></script>`) {
		t.Fatalf("shell does not load the app: %s", shell)
	}
}

// TestNoInlineScriptOrStyle: the shell and the app have no inline script,
// inline event handler, style attribute or resource from another origin
// (the CSP would block them: a page that needs one is broken).
func TestNoInlineScriptOrStyle(t *testing.T) {
	shell, err := os.ReadFile("static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	if regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]+</script>|\son[a-z]+=|\sstyle=|<style`).Match(shell) {
		t.Fatalf("index.html has inline script or style:\n%s", shell)
	}
	if regexp.MustCompile(`(?:src|href)="(?:https?:)?//`).Match(shell) {
		t.Fatal("index.html loads from another origin")
	}
	walkJS(t, func(path, src string) {
		// dom.js names the SVG namespace and refuses innerHTML by name.
		src = strings.ReplaceAll(src, `"http://www.w3.org/2000/svg"`, "")
		src = strings.ReplaceAll(src, `k === "style" || k === "innerHTML"`, "")
		for _, bad := range []string{"innerHTML", "outerHTML =", "insertAdjacentHTML", "document.write", "eval(", "new Function",
			"localStorage", "sessionStorage", ".style =", "setAttribute(\"style\"", "http://", "https://cdn"} {
			if strings.Contains(src, bad) {
				t.Errorf("%s uses %q", path, bad)
			}
		}
	})
}

func walkJS(t *testing.T, f func(path, src string)) {
	t.Helper()
	err := filepath.WalkDir("static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".js") {
			return err
		}
		b, err := os.ReadFile(path)
		f(path, string(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestFirstLoadSize: everything the first page load fetches (the shell,
// the stylesheet, the icon and every module) is under 200 KB, even
// uncompressed; gzip-compressed it is what the budget counts.
func TestFirstLoadSize(t *testing.T) {
	var raw, gz int64
	err := filepath.WalkDir("static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		raw += int64(len(b))
		cw := &counter{}
		zw := gzip.NewWriter(cw)
		_, _ = zw.Write(b)
		_ = zw.Close()
		gz += cw.n
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first load: %d bytes, %d gzip-compressed", raw, gz)
	if raw > 200_000 {
		t.Fatalf("first load is %d bytes, over 200 KB", raw)
	}
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
