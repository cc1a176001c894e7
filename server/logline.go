package server

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Request paths and methods come from the client: before they reach the
// log they are quoted (a newline, an ANSI escape or any other control byte
// shows as \n, \x1b ..., so no one forges or colours log lines) and cut to
// maxLogField bytes; and each client gets at most logBurst lines per
// second, so a flood of bad requests cannot grow the log without bound.
const (
	maxLogField = 160
	logBurst    = 20
	maxClients  = 4096 // clients tracked at once; the table is reset beyond
)

// logField quotes s for a log line and truncates it, saying by how much.
func logField(s string) string {
	if len(s) > maxLogField {
		return strconv.Quote(s[:maxLogField]) + fmt.Sprintf("...(%d bytes)", len(s))
	}
	return strconv.Quote(s)
}

// logLimiter counts each client's log lines per second.
type logLimiter struct {
	mu      sync.Mutex
	now     func() time.Time
	clients map[string]*clientLog
}

type clientLog struct {
	second     int64
	lines      int
	suppressed int
}

// allow reports whether client may log one more line now, and how many of
// its lines were suppressed in earlier seconds (to be said once).
func (l *logLimiter) allow(client string) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.clients == nil || len(l.clients) >= maxClients {
		l.clients = map[string]*clientLog{}
	}
	sec := l.now().Unix()
	c := l.clients[client]
	if c == nil {
		c = &clientLog{second: sec}
		l.clients[client] = c
	}
	if c.second != sec {
		c.second, c.lines = sec, 0
		suppressed, c.suppressed = c.suppressed, 0
	}
	if c.lines >= logBurst {
		c.suppressed++
		return false, 0
	}
	c.lines++
	return true, suppressed
}

// clientOf is the client's address without its port.
func clientOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// logRequest writes one line about r, escaped and rate-limited per client.
func (h *Handler) logRequest(r *http.Request, code int, msg string) {
	client := clientOf(r)
	ok, suppressed := h.limiter.allow(client)
	if !ok {
		return
	}
	if suppressed > 0 {
		h.logf("%s: %d log lines suppressed (more than %d a second)", logField(client), suppressed, logBurst)
	}
	h.logf("%s %s %s %s: %d %s", logField(client), logField(r.Method), logField(r.Host), logField(r.URL.Path), code, msg)
}
