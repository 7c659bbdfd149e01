package archtest

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/tollgate/tollgate"

// imports maps each package directory of the module (slash-separated,
// relative to the module root, e.g. "internal/proxy") to the import paths
// of its Go files, tests included, each mapped to the files importing it.
func imports(t *testing.T) map[string]map[string][]string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "go.mod")); err != nil || !strings.HasPrefix(string(b), "module "+module+"\n") {
		t.Fatalf("%s is not the root of %s: %v", root, module, err)
	}
	out := map[string]map[string][]string{}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		dir := path.Dir(rel)
		for _, is := range f.Imports {
			ip, err := strconv.Unquote(is.Path.Value)
			if err != nil {
				return err
			}
			if out[dir] == nil {
				out[dir] = map[string][]string{}
			}
			out[dir][ip] = append(out[dir][ip], rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out["internal/gateway"]) == 0 || len(out["cmd/tollgate"]) == 0 {
		t.Fatalf("found no imports of internal/gateway or cmd/tollgate under %s", root)
	}
	return out
}

// standard reports whether ip is a standard-library import path (its first
// element has no dot).
func standard(ip string) bool {
	first, _, _ := strings.Cut(ip, "/")
	return !strings.Contains(first, ".")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestOnlyMainImportsConfig: inner packages never import config;
// cmd/tollgate reads it and passes plain values, providers and interfaces
// in.
func TestOnlyMainImportsConfig(t *testing.T) {
	const config = module + "/internal/config"
	all := imports(t)
	for _, dir := range sortedKeys(all) {
		if dir == "cmd/tollgate" || dir == "internal/config" {
			continue
		}
		if files, ok := all[dir][config]; ok {
			t.Errorf("%s imports %s (in %s); only cmd/tollgate may", dir, config, strings.Join(files, ", "))
		}
	}
}

// TestGatewayIsStandardLibraryOnly: the domain package imports nothing
// but the standard library.
func TestGatewayIsStandardLibraryOnly(t *testing.T) {
	for dir, imps := range imports(t) {
		if dir != "internal/gateway" && !strings.HasPrefix(dir, "internal/gateway/") {
			continue
		}
		for _, ip := range sortedKeys(imps) {
			if !standard(ip) {
				t.Errorf("%s imports %s (in %s); the domain uses the standard library only", dir, ip, strings.Join(imps[ip], ", "))
			}
		}
	}
}

func TestStandard(t *testing.T) {
	for ip, want := range map[string]bool{
		"context": true, "net/http": true, "testing/synctest": true,
		"github.com/google/go-cmp/cmp": false, module + "/internal/llm": false, "golang.org/x/crypto/argon2": false,
	} {
		if got := standard(ip); got != want {
			t.Errorf("standard(%q) = %v, want %v", ip, got, want)
		}
	}
}
