package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (s *logSink) logf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, fmt.Sprintf(format, args...))
}

func newLoggedHandler(t *testing.T) (*Handler, *logSink, *time.Time) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<!doctype html>"), 0o644); err != nil {
		t.Fatal(err)
	}
	sink := &logSink{}
	h, err := New(Config{WebDir: dir, Logf: sink.logf})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	h.limiter.now = func() time.Time { return now }
	return h, sink, &now
}

func get(h http.Handler, target, remote string) int {
	r := httptest.NewRequest("GET", target, nil)
	r.RemoteAddr = remote
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code
}

// A path with a newline or an ANSI escape cannot forge or colour a log
// line, and a long one is cut.
func TestLogLinesEscapedAndCut(t *testing.T) {
	h, sink, _ := newLoggedHandler(t)
	if code := get(h, "/x%0a2026/12/02%20busam%20serve:%20GET%20/%20200%1b[31m", "192.0.2.1:5000"); code != http.StatusNotFound {
		t.Fatalf("code %d", code)
	}
	get(h, "/"+strings.Repeat("a", 4000), "192.0.2.1:5001")
	if len(sink.lines) != 2 {
		t.Fatalf("%d log lines: %q", len(sink.lines), sink.lines)
	}
	forged := sink.lines[0]
	if strings.ContainsAny(forged, "\n\r\x1b") || !strings.Contains(forged, `\n2026/12/02 busam serve`) || !strings.Contains(forged, `\x1b[31m`) {
		t.Errorf("forged path logged as %q", forged)
	}
	if long := sink.lines[1]; len(long) > 300 || !strings.Contains(long, "(4001 bytes)") {
		t.Errorf("long path logged as %d bytes: %.120q", len(long), long)
	}
}

// A flood of bad requests from one client logs a bounded number of lines,
// then says how many it dropped; other clients are not silenced.
func TestLogLinesRateLimitedPerClient(t *testing.T) {
	h, sink, now := newLoggedHandler(t)
	for i := 0; i < 1000; i++ {
		get(h, fmt.Sprintf("/missing-%d", i), "198.51.100.7:4000")
	}
	if n := len(sink.lines); n != logBurst {
		t.Fatalf("1000 bad requests in one second logged %d lines, want %d", n, logBurst)
	}
	get(h, "/other", "203.0.113.9:1")
	if n := len(sink.lines); n != logBurst+1 {
		t.Fatalf("another client was silenced: %d lines", n)
	}
	*now = now.Add(time.Second)
	get(h, "/again", "198.51.100.7:4000")
	tail := sink.lines[len(sink.lines)-2:]
	if !strings.Contains(tail[0], "980 log lines suppressed") || !strings.Contains(tail[1], "/again") {
		t.Errorf("after the flood: %q", tail)
	}
}

func TestAllowedHosts(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("<!doctype html>"), 0o644)
	sink := &logSink{}
	h, err := New(Config{WebDir: dir, Logf: sink.logf, AllowedHosts: []string{"localhost", "192.168.1.20", "::1"}})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]int{
		"localhost:8080": http.StatusOK, "LOCALHOST": http.StatusOK, "192.168.1.20:8080": http.StatusOK, "[::1]:8080": http.StatusOK,
		"rebind.attacker.example": http.StatusMisdirectedRequest, "192.168.1.21:8080": http.StatusMisdirectedRequest, "": http.StatusMisdirectedRequest,
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("Host %q: %d, want %d", host, w.Code, want)
		}
	}
	if len(sink.lines) != 3 || !strings.Contains(strings.Join(sink.lines, "\n"), `"rebind.attacker.example"`) {
		t.Errorf("log %q: want the 3 refused hosts, quoted", sink.lines)
	}
	// without a list every host is answered
	open, _ := New(Config{WebDir: dir})
	r := httptest.NewRequest("GET", "/", nil)
	r.Host = "anything.example"
	w := httptest.NewRecorder()
	open.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Errorf("no allow-list: %d", w.Code)
	}
}
