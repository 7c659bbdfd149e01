// Package webui serves Tollgate's browser UI: a small single-page app of
// plain ES modules, embedded in the binary, that talks to /api like any
// other client (with the browser session of SPEC 4). It knows nothing of
// the server's internals.
package webui

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// CSP is the Content-Security-Policy of every answer (SPEC 11): nothing
// from another origin, no inline script or style, no framing.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; " +
	"frame-ancestors 'none'"

// Handler serves the UI: /assets/<file> from the embedded files, and every
// other path the app's shell (index.html), so client-side routes such as
// /chat/<id> or /account survive a reload. The caller decides which paths
// reach it (httpapi hands it GET and HEAD requests no API route matched,
// never /api or /v1).
type Handler struct {
	assets  fs.FS
	shell   []byte
	started time.Time
}

// New returns the UI handler.
func New() *Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	shell, err := fs.ReadFile(sub, "index.html")
	if err != nil {
		panic(err)
	}
	return &Handler{assets: sub, shell: shell, started: time.Now()}
}

// ServeHTTP answers GET and HEAD; other methods get 405 in plain text
// (httpapi never sends them here).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("X-Frame-Options", "DENY")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if name, ok := strings.CutPrefix(r.URL.Path, "/assets/"); ok {
		h.asset(w, r, name)
		return
	}
	hd.Set("Cache-Control", "no-cache")
	hd.Set("Content-Type", "text/html; charset=utf-8")
	http.ServeContent(w, r, "index.html", h.started, bytes.NewReader(h.shell))
}

// asset serves one embedded file; "no-cache" makes the browser revalidate
// (cheap: Last-Modified is the process start), so a new binary's assets
// are never mixed with an old one's.
func (h *Handler) asset(w http.ResponseWriter, r *http.Request, name string) {
	if name == "" || !fs.ValidPath(name) || path.Base(name) == "index.html" {
		http.NotFound(w, r)
		return
	}
	b, err := fs.ReadFile(h.assets, name)
	if err != nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, name, h.started, bytes.NewReader(b))
}
