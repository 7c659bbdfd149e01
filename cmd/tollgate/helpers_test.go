package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// newHTTPTest serves an app's handler on a test server.
func newHTTPTest(t *testing.T, a *app) string {
	t.Helper()
	srv := httptest.NewServer(a.api.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// get returns the status of a GET.
func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// runCLI runs the tollgate CLI in-process with the given environment and
// stdin, and returns its stdout, stderr and error.
func runCLI(environ []string, stdin string, args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	root := newRootCmd(env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut,
		environ: func() []string { return environ }})
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}
