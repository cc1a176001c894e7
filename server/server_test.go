package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
)

const (
	wasmName  = "app.0123456789ab.wasm"
	modelName = "enc.89abcdef01234567.safetensors"
)

var (
	indexHTML = []byte("<!doctype html><title>busam</title>")
	wasmBytes = bytes.Repeat([]byte("\x00asm\x01\x00\x00\x00 some module bytes "), 200)
	secret    = []byte("outside the served folder")
)

// site builds a served folder with the shapes the real dist/web has, plus
// traps: a secret beside it, a symlink pointing out, a hidden file, a
// sub-folder, and a separate model folder.
func site(t *testing.T) (web, model string) {
	t.Helper()
	base := t.TempDir()
	web = filepath.Join(base, "web")
	model = filepath.Join(base, "weights")
	write := func(p string, data []byte) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(base, "secret.txt"), secret)
	write(filepath.Join(web, "index.html"), indexHTML)
	write(filepath.Join(web, wasmName), wasmBytes)
	write(filepath.Join(web, wasmName+".gz"), gzipBytes(t, wasmBytes))
	write(filepath.Join(web, wasmName+".br"), brotliBytes(t, wasmBytes))
	write(filepath.Join(web, "worker.js"), []byte("self.onmessage = () => {};"))
	write(filepath.Join(web, ".env"), secret)
	write(filepath.Join(web, "sub", "inner.txt"), []byte("inner"))
	write(filepath.Join(web, "model", "manifest.json"), []byte(`{"from":"web"}`))
	write(filepath.Join(model, "manifest.json"), []byte(`{"from":"weights"}`))
	write(filepath.Join(model, modelName), []byte("tensor bytes"))
	if err := os.Symlink(filepath.Join(base, "secret.txt"), filepath.Join(web, "link.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(base, filepath.Join(web, "up")); err != nil {
		t.Fatal(err)
	}
	return web, model
}

func gzipBytes(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func brotliBytes(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	bw := brotli.NewWriterLevel(&buf, brotli.BestCompression)
	bw.Write(b)
	if err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func newHandler(t *testing.T, withModelDir bool) *Handler {
	t.Helper()
	web, model := site(t)
	cfg := Config{WebDir: web}
	if withModelDir {
		cfg.ModelDir = model
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// do sends a request with a raw (unparsed) path, so traversal attempts
// reach the handler exactly as a hostile client would send them.
func do(h http.Handler, method, rawPath string, hdr map[string]string, body io.Reader) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "/", body)
	r.URL.Path = rawPath
	r.RequestURI = rawPath
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func decode(t *testing.T, enc string, body []byte) []byte {
	t.Helper()
	var r io.Reader
	switch enc {
	case "":
		return body
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(body))
	default:
		t.Fatalf("unexpected Content-Encoding %q", enc)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestServesFiles(t *testing.T) {
	h := newHandler(t, false)
	tests := []struct {
		name, path, acceptEnc string
		wantType, wantCache   string
		wantEnc               string
		want                  []byte
	}{
		{"root is index.html", "/", "", "text/html; charset=utf-8", "no-cache", "", indexHTML},
		{"index.html", "/index.html", "gzip, br", "text/html; charset=utf-8", "no-cache", "", indexHTML},
		{"wasm identity", "/" + wasmName, "", "application/wasm", cacheImmutable, "", wasmBytes},
		{"wasm brotli preferred", "/" + wasmName, "gzip, deflate, br", "application/wasm", cacheImmutable, "br", wasmBytes},
		{"wasm gzip only", "/" + wasmName, "gzip", "application/wasm", cacheImmutable, "gzip", wasmBytes},
		{"wasm gzip by q", "/" + wasmName, "br;q=0.5, gzip;q=0.9", "application/wasm", cacheImmutable, "gzip", wasmBytes},
		{"wasm both refused", "/" + wasmName, "br;q=0, gzip;q=0", "application/wasm", cacheImmutable, "", wasmBytes},
		{"wasm wildcard", "/" + wasmName, "*", "application/wasm", cacheImmutable, "br", wasmBytes},
		{"unhashed js revalidates", "/worker.js", "br", "text/javascript; charset=utf-8", "no-cache", "", []byte("self.onmessage = () => {};")},
		{"model manifest from web", "/model/manifest.json", "", "application/json", "no-cache", "", []byte(`{"from":"web"}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := do(h, "GET", tc.path, map[string]string{"Accept-Encoding": tc.acceptEnc}, nil)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d, body %q", w.Code, w.Body.String())
			}
			hdr := w.Header()
			if got := hdr.Get("Content-Type"); got != tc.wantType {
				t.Errorf("Content-Type %q, want %q", got, tc.wantType)
			}
			if got := hdr.Get("Cache-Control"); got != tc.wantCache {
				t.Errorf("Cache-Control %q, want %q", got, tc.wantCache)
			}
			if got := hdr.Get("Content-Encoding"); got != tc.wantEnc {
				t.Errorf("Content-Encoding %q, want %q", got, tc.wantEnc)
			}
			if !bytes.Equal(decode(t, tc.wantEnc, w.Body.Bytes()), tc.want) {
				t.Errorf("body differs from the file")
			}
			if hdr.Get("ETag") == "" {
				t.Error("no ETag")
			}
			if got, want := hdr.Get("Content-Length"), strconv.Itoa(w.Body.Len()); got != want {
				t.Errorf("Content-Length %q, body %s bytes", got, want)
			}
			if strings.HasPrefix(tc.path, "/app.") && hdr.Get("Vary") != "Accept-Encoding" {
				t.Errorf("Vary %q on a file with compressed siblings", hdr.Get("Vary"))
			}
		})
	}
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	h := newHandler(t, false)
	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/", 200},
		{"GET", "/missing.js", 404},
		{"POST", "/", 405},
		{"GET", HealthPath, 200},
	} {
		w := do(h, tc.method, tc.path, nil, nil)
		if w.Code != tc.code {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, w.Code, tc.code)
		}
		for _, kv := range securityHeaders {
			if got := w.Header().Get(kv[0]); got != kv[1] {
				t.Errorf("%s %s: %s = %q, want %q", tc.method, tc.path, kv[0], got, kv[1])
			}
		}
	}
	csp := ContentSecurityPolicy
	for _, must := range []string{"default-src 'self'", "'wasm-unsafe-eval'", "worker-src 'self'", "connect-src 'self'"} {
		if !strings.Contains(csp, must) {
			t.Errorf("CSP lacks %q", must)
		}
	}
	for _, mustNot := range []string{"http:", "https:", "'unsafe-eval'", "'unsafe-inline'", "*"} {
		if strings.Contains(strings.ReplaceAll(csp, "'wasm-unsafe-eval'", ""), mustNot) {
			t.Errorf("CSP allows %q", mustNot)
		}
	}
}

func TestRefusesTraversalHiddenAndFolders(t *testing.T) {
	h := newHandler(t, true)
	for _, p := range []string{
		"/../secret.txt",
		"/../../secret.txt",
		"/model/../../secret.txt",
		"/model/../index.html", // not clean: refused even though it stays inside
		"/./index.html",
		"//index.html",
		"/sub/../../secret.txt",
		`/..\secret.txt`,
		`/sub\..\..\secret.txt`,
		"/index.html\x00.png",
		"/link.txt",          // symlink to a file outside the folder
		"/up/secret.txt",     // symlink to the folder above
		"/.env",              // hidden file
		"/sub/",              // folder: no listing
		"/sub",               // folder without slash: still no listing
		"/model/",            // model folder
		"/model",             //
		"/missing.wasm",      //
		"index.html",         // not absolute
		"/%2e%2e/secret.txt", // still encoded: no such file
	} {
		w := do(h, "GET", p, nil, nil)
		if w.Code != http.StatusNotFound {
			t.Errorf("GET %q: status %d, want 404", p, w.Code)
		}
		if bytes.Contains(w.Body.Bytes(), secret) {
			t.Errorf("GET %q leaked the secret", p)
		}
	}
	// The sub-folder's own files are served: the refusal above is about
	// listings, not about nesting.
	if w := do(h, "GET", "/sub/inner.txt", nil, nil); w.Code != 200 || w.Body.String() != "inner" {
		t.Errorf("GET /sub/inner.txt: %d %q", w.Code, w.Body.String())
	}
}

func TestOverTCPRejectsEncodedTraversal(t *testing.T) {
	// Through a real listener the path is decoded by net/http first, so
	// %2e%2e arrives as ".." and must still be refused.
	h := newHandler(t, false)
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, p := range []string{"/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt", "/sub/%2e%2e/%2e%2e/secret.txt", "/..%5csecret.txt"} {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, "GET "+p+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		resp, err := io.ReadAll(conn)
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(resp, secret) {
			t.Errorf("GET %s leaked the secret", p)
		}
		t.Logf("GET %s -> %s", p, firstLine(resp))
		if !bytes.HasPrefix(resp, []byte("HTTP/1.1 404")) && !bytes.HasPrefix(resp, []byte("HTTP/1.1 400")) {
			t.Errorf("GET %s: %q", p, firstLine(resp))
		}
	}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\r\n")
	return s
}

func TestModelDirOverride(t *testing.T) {
	h := newHandler(t, true)
	w := do(h, "GET", "/model/manifest.json", nil, nil)
	if w.Code != 200 || w.Body.String() != `{"from":"weights"}` {
		t.Fatalf("manifest: %d %q, want the --weights folder's", w.Code, w.Body.String())
	}
	w = do(h, "GET", "/model/"+modelName, nil, nil)
	if w.Code != 200 || w.Header().Get("Cache-Control") != cacheImmutable || w.Header().Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("model file: %d %v", w.Code, w.Header())
	}
}

func TestOnlyGetAndHead(t *testing.T) {
	h := newHandler(t, false)
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"} {
		w := do(h, m, "/index.html", nil, nil)
		if w.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s: status %d, want 405", m, w.Code)
		}
		if got := w.Header().Get("Allow"); got != "GET, HEAD" {
			t.Errorf("%s: Allow %q", m, got)
		}
	}
	w := do(h, "HEAD", "/"+wasmName, nil, nil)
	if w.Code != 200 || w.Body.Len() != 0 {
		t.Errorf("HEAD: status %d, %d body bytes", w.Code, w.Body.Len())
	}
	if got := w.Header().Get("Content-Length"); got != strconv.Itoa(len(wasmBytes)) {
		t.Errorf("HEAD Content-Length %s, want %d", got, len(wasmBytes))
	}
}

func TestRefusesBodies(t *testing.T) {
	h := newHandler(t, false)
	w := do(h, "GET", "/index.html", nil, strings.NewReader("image bytes"))
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("GET with body: status %d, want 413", w.Code)
	}
}

func TestConditionalAndRange(t *testing.T) {
	h := newHandler(t, false)
	first := do(h, "GET", "/"+wasmName, nil, nil)
	tag := first.Header().Get("ETag")
	if !strings.HasPrefix(tag, `"`) || strings.HasPrefix(tag, "W/") {
		t.Fatalf("ETag %q is not a strong validator", tag)
	}
	br := do(h, "GET", "/"+wasmName, map[string]string{"Accept-Encoding": "br"}, nil)
	if br.Header().Get("ETag") == tag {
		t.Error("brotli and identity representations share an ETag")
	}
	again := do(h, "GET", "/"+wasmName, map[string]string{"If-None-Match": tag}, nil)
	if again.Code != http.StatusNotModified || again.Body.Len() != 0 {
		t.Errorf("If-None-Match: status %d, %d bytes, want 304 and none", again.Code, again.Body.Len())
	}
	stale := do(h, "GET", "/"+wasmName, map[string]string{"If-None-Match": `"0000"`}, nil)
	if stale.Code != http.StatusOK {
		t.Errorf("stale If-None-Match: status %d", stale.Code)
	}
	part := do(h, "GET", "/"+wasmName, map[string]string{"Range": "bytes=4-7"}, nil)
	if part.Code != http.StatusPartialContent || !bytes.Equal(part.Body.Bytes(), wasmBytes[4:8]) {
		t.Errorf("Range: status %d body %q", part.Code, part.Body.Bytes())
	}
}

func TestHealthz(t *testing.T) {
	h := newHandler(t, false)
	w := do(h, "GET", HealthPath, nil, nil)
	if w.Code != 200 || w.Body.String() != "ok\n" {
		t.Errorf("healthz: %d %q", w.Code, w.Body.String())
	}
}

func TestNewRejectsBadFolders(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o644)
	for _, cfg := range []Config{
		{},
		{WebDir: filepath.Join(dir, "missing")},
		{WebDir: file},
		{WebDir: dir, ModelDir: filepath.Join(dir, "missing")},
	} {
		if h, err := New(cfg); err == nil {
			h.Close()
			t.Errorf("New(%+v) accepted", cfg)
		} else if cfg.WebDir != "" && !strings.Contains(err.Error(), dir) {
			t.Errorf("New(%+v): error %q does not name the folder", cfg, err)
		}
	}
}

func TestPreferredEncodings(t *testing.T) {
	tests := []struct {
		header string
		want   string
	}{
		{"", ""},
		{"identity", ""},
		{"gzip", "gzip"},
		{"br", "br"},
		{"gzip, br", "br,gzip"},
		{"GZIP;Q=1, BR;q=0.1", "gzip,br"},
		{"br;q=0", ""},
		{"*;q=0.3, br;q=0", "gzip"},
		{"*", "br,gzip"},
		{"br;q=abc, gzip", "gzip"},
		{"br;q=2", ""},
		{"deflate, compress", ""},
		{" , ,gzip ; q=0.5", "gzip"},
	}
	for _, tc := range tests {
		var got []string
		for _, e := range preferredEncodings(tc.header) {
			got = append(got, e.Token)
		}
		if strings.Join(got, ",") != tc.want {
			t.Errorf("preferredEncodings(%q) = %v, want %q", tc.header, got, tc.want)
		}
	}
}

func TestIsHashedName(t *testing.T) {
	for name, want := range map[string]bool{
		"busam.0123abcd.wasm":                    true,
		"model/enc.89abcdef01234567.safetensors": true,
		"index.html":                             false,
		"worker.js":                              false,
		"busam.0123abc.wasm":                     false, // too short to be a hash
		"busam.0123ABCD.wasm":                    false, // we write lowercase hex only
		"manifest.json":                          false,
	} {
		if got := IsHashedName(name); got != want {
			t.Errorf("IsHashedName(%q) = %v", name, got)
		}
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "finished")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, ln, slow) }()

	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-started
	cancel() // like SIGTERM: stop while a request is in flight
	time.Sleep(50 * time.Millisecond)
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("listener still accepts after shutdown began")
	}
	close(release)
	if body := <-got; body != "finished" {
		t.Errorf("in-flight request got %q, want it finished", body)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve returned %v after graceful shutdown", err)
	}
}

func TestServerLimits(t *testing.T) {
	srv := NewHTTPServer(http.NotFoundHandler())
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 {
		t.Errorf("timeouts not all set: %+v", srv)
	}
	// A request whose headers exceed the limit is refused by net/http.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Serve(ctx, ln, http.NotFoundHandler())
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	big := strings.Repeat("a", 2*MaxHeaderBytes)
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: "+big+"\r\n\r\n")
	resp, _ := io.ReadAll(io.LimitReader(conn, 200))
	if !bytes.HasPrefix(resp, []byte("HTTP/1.1 431")) {
		t.Errorf("oversized headers: %q, want 431", firstLine(resp))
	}
}
