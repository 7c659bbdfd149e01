package main

import (
	"net/http"
	"net/http/httptest"
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
