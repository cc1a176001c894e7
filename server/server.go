// Package server serves the busam web app: the static files that
// `go run ./wasm/cmd/assemble` writes into dist/web (index.html, the Go
// WebAssembly module, its JavaScript glue) and the model files under
// /model/. It never receives data: only GET and HEAD of static files are
// answered, so an analysed image cannot reach the server.
//
// What it adds over http.FileServer: precompressed .br/.gz siblings chosen
// by Accept-Encoding, immutable caching of content-hashed names, strong
// ETags, a strict Content-Security-Policy with cross-origin isolation, no
// directory listings, and file access confined to the served folders by
// os.Root (no "..", no symlinks out).
package server

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config says which folders to serve.
type Config struct {
	// WebDir is the app folder (dist/web): served at /.
	WebDir string
	// ModelDir, if set, is served at /model/ instead of WebDir/model, so
	// `busam serve --weights DIR` can point at assembled weights elsewhere.
	ModelDir string
	// Logf, if set, receives one line per failed request (nil: silent).
	Logf func(format string, args ...any)
	// AllowedHosts, when not empty, are the only Host header values
	// (without port, any case) answered; others get 421 Misdirected
	// Request. It stops DNS-rebinding pages from reading the server
	// under a name of theirs.
	AllowedHosts []string
}

// Handler serves a Config's folders. Create it with New.
type Handler struct {
	web, model *os.Root
	logf       func(format string, args ...any)
	limiter    logLimiter
	hosts      map[string]bool // nil: any Host

	mu    sync.Mutex
	etags map[etagKey]string
}

// New opens the folders of cfg and returns the handler serving them.
func New(cfg Config) (*Handler, error) {
	if cfg.WebDir == "" {
		return nil, errors.New("server: no web folder given")
	}
	web, err := openDir(cfg.WebDir)
	if err != nil {
		return nil, err
	}
	h := &Handler{web: web, logf: cfg.Logf, etags: map[etagKey]string{}, limiter: logLimiter{now: time.Now}}
	if cfg.ModelDir != "" {
		if h.model, err = openDir(cfg.ModelDir); err != nil {
			web.Close()
			return nil, err
		}
	}
	if h.logf == nil {
		h.logf = func(string, ...any) {}
	}
	for _, name := range cfg.AllowedHosts {
		if h.hosts == nil {
			h.hosts = map[string]bool{}
		}
		h.hosts[hostOnly(name)] = true
	}
	return h, nil
}

func openDir(dir string) (*os.Root, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("server: %s is not a folder", dir)
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("server: open %s: %w", dir, err)
	}
	return r, nil
}

// Close releases the served folders.
func (h *Handler) Close() error {
	err := h.web.Close()
	if h.model != nil {
		err = errors.Join(err, h.model.Close())
	}
	return err
}

// HealthPath answers 200 "ok" while the server runs.
const HealthPath = "/healthz"

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	if h.hosts != nil && !h.hosts[hostOnly(r.Host)] {
		h.fail(w, r, http.StatusMisdirectedRequest, "unknown host (busam serve --allowed-hosts lists the names it answers to)")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		h.fail(w, r, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	// A GET has no body; one that carries one is refused unread.
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		h.fail(w, r, http.StatusRequestEntityTooLarge, "request body not accepted")
		return
	}
	if r.URL.Path == HealthPath {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, "ok\n")
		return
	}
	root, name, ok := h.resolve(r.URL.Path)
	if !ok {
		h.fail(w, r, http.StatusNotFound, "not found")
		return
	}
	h.serveFile(w, r, root, name)
}

// resolve maps a URL path to a served folder and a name inside it. It
// refuses anything that is not a plain relative file name: "..", ".",
// empty segments, backslashes, NULs, hidden (dot) files and folders.
func (h *Handler) resolve(urlPath string) (*os.Root, string, bool) {
	if !strings.HasPrefix(urlPath, "/") {
		return nil, "", false
	}
	name := urlPath[1:]
	if name == "" {
		name = "index.html"
	}
	if strings.HasSuffix(name, "/") || strings.ContainsAny(name, "\\\x00") || !fs.ValidPath(name) {
		return nil, "", false
	}
	for _, seg := range strings.Split(name, "/") {
		if strings.HasPrefix(seg, ".") {
			return nil, "", false
		}
	}
	if h.model != nil {
		if rest, ok := strings.CutPrefix(name, "model/"); ok {
			return h.model, rest, true
		}
	}
	return h.web, name, true
}

func (h *Handler) serveFile(w http.ResponseWriter, r *http.Request, root *os.Root, name string) {
	f, st, err := openFile(root, name)
	if err != nil {
		h.fail(w, r, http.StatusNotFound, "not found")
		return
	}
	defer f.Close()

	hdr := w.Header()
	// Pick a precompressed sibling the client accepts; the first that
	// exists wins. Vary tells caches the answer depends on the header.
	encoded := false
	for _, e := range preferredEncodings(r.Header.Get("Accept-Encoding")) {
		ef, est, err := openFile(root, name+e.Suffix)
		if err != nil {
			continue
		}
		f.Close()
		f, st, encoded = ef, est, true
		hdr.Set("Content-Encoding", e.Token)
		break
	}
	if encoded || hasSibling(root, name) {
		hdr.Add("Vary", "Accept-Encoding")
	}
	hdr.Set("Content-Type", ContentType(name))
	hdr.Set("Cache-Control", cacheControl(name))
	tag, err := h.etag(root, name, f, st)
	if err != nil {
		h.fail(w, r, http.StatusInternalServerError, "read error")
		return
	}
	hdr.Set("ETag", tag)
	// ServeContent leaves Content-Length out when Content-Encoding is set
	// (it cannot know what a range means then); a whole precompressed
	// file has a known length, so say it: clients show real progress and
	// connections need no chunking. A 304 drops the header again.
	if encoded && r.Header.Get("Range") == "" {
		hdr.Set("Content-Length", strconv.FormatInt(st.Size(), 10))
	}
	// ServeContent answers If-None-Match / If-Modified-Since, Range and HEAD.
	http.ServeContent(w, r, name, st.ModTime(), f)
}

// openFile opens a regular file inside root; folders count as missing, so
// nothing ever lists a directory.
func openFile(root *os.Root, name string) (*os.File, fs.FileInfo, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, fs.ErrNotExist
	}
	return f, st, nil
}

func hasSibling(root *os.Root, name string) bool {
	for _, e := range Encodings {
		if st, err := root.Stat(name + e.Suffix); err == nil && st.Mode().IsRegular() {
			return true
		}
	}
	return false
}

type etagKey struct {
	root    *os.Root
	name    string
	size    int64
	modTime time.Time
}

// etag is a strong validator: a hash of the bytes actually sent, so each
// encoding of a file has its own. It is computed once per file version
// (name, size, mtime) and remembered.
func (h *Handler) etag(root *os.Root, name string, f *os.File, st fs.FileInfo) (string, error) {
	key := etagKey{root, f.Name(), st.Size(), st.ModTime()}
	h.mu.Lock()
	tag, ok := h.etags[key]
	h.mu.Unlock()
	if ok {
		return tag, nil
	}
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return "", fmt.Errorf("server: hash %s: %w", name, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("server: rewind %s: %w", name, err)
	}
	tag = `"` + hex.EncodeToString(sum.Sum(nil)[:16]) + `"`
	h.mu.Lock()
	h.etags[key] = tag
	h.mu.Unlock()
	return tag, nil
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	h.logRequest(r, code, msg)
	hdr := w.Header()
	hdr.Del("Content-Encoding")
	hdr.Del("ETag")
	hdr.Set("Cache-Control", "no-store")
	http.Error(w, msg, code)
}

// hostOnly is a Host header's name without port and brackets, lower-case.
func hostOnly(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	return strings.ToLower(strings.Trim(host, "[]"))
}
