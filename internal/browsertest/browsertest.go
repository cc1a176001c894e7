//go:build !js

// Package browsertest drives Debian's Chromium, headless, from Go tests
// through chromedp: it starts a fresh browser with WebGPU enabled, records
// every network request the page (and its workers) make, uploads files to
// <input type=file>, waits for JavaScript conditions, and saves
// screenshots and the console log into an artifacts folder when asked or
// when a wait fails.
//
// Start skips the test (fails it under CI) when Chromium is missing, like
// testutil.Need does for prepared files.
package browsertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/busam/busam/internal/testutil"
)

// DefaultChromium is Debian's Chromium; $BUSAM_CHROMIUM overrides it.
const DefaultChromium = "/usr/bin/chromium"

// Flags are the Chromium switches every test browser gets: headless with
// WebGPU (SwiftShader on machines without a GPU), no background traffic of
// its own, so the recorded requests are the page's.
var Flags = map[string]any{
	"headless":                      "new",
	"enable-unsafe-webgpu":          true,
	"no-sandbox":                    true,
	"disable-background-networking": true,
	"disable-component-update":      true,
	"disable-sync":                  true,
	"no-first-run":                  true,
	"disable-quic":                  true,
	"disable-default-apps":          true,
	"disable-extensions":            true,
	"disable-dev-shm-usage":         true,
	"no-default-browser-check":      true,
	"metrics-recording-only":        true,
	"password-store":                "basic",
	"use-mock-keychain":             true,
	"hide-scrollbars":               true,
	"mute-audio":                    true,
}

// Request is one network request seen by the browser.
type Request struct {
	URL          string
	Method       string
	Type         string // Document, Script, Fetch, Other, ...
	HasPostData  bool
	PostDataSize int // bytes of the body that the protocol reported
}

// Options for Start.
type Options struct {
	// ExecPath of the browser; default $BUSAM_CHROMIUM, else DefaultChromium.
	ExecPath string
	// ArtifactsDir receives screenshots and logs; default
	// <cache>/artifacts/<test name>.
	ArtifactsDir string
	// Timeout bounds the whole browser session (default 10 minutes).
	Timeout time.Duration
}

// Browser is one running headless Chromium with one tab.
type Browser struct {
	t         testing.TB
	ctx       context.Context
	artifacts string

	mu       sync.Mutex
	requests []Request
	console  []string
}

// Start launches a fresh browser (new profile in a temporary folder) and
// opens a blank tab; it is closed when the test ends.
func Start(t testing.TB, opts Options) *Browser {
	t.Helper()
	execPath := opts.ExecPath
	if execPath == "" {
		execPath = os.Getenv("BUSAM_CHROMIUM")
	}
	if execPath == "" {
		execPath = DefaultChromium
	}
	if p, err := exec.LookPath(execPath); err == nil {
		execPath = p
	}
	testutil.Need(t, execPath, "Chromium (apt-get install chromium)")
	if opts.ArtifactsDir == "" {
		opts.ArtifactsDir = filepath.Join(testutil.CacheDir(t), "artifacts", sanitize(t.Name()))
	}
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Minute
	}

	allocOpts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(execPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	for _, name := range slices.Sorted(maps.Keys(Flags)) {
		allocOpts = append(allocOpts, chromedp.Flag(name, Flags[name]))
	}
	timeoutCtx, cancelTimeout := context.WithTimeout(context.Background(), opts.Timeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(timeoutCtx, allocOpts...)
	b := &Browser{t: t, artifacts: opts.ArtifactsDir}
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithListener(b.listen))
	b.ctx = ctx
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		cancelTimeout()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("browsertest: starting %s: %v", execPath, err)
	}
	if err := b.recordRequests(); err != nil {
		t.Fatalf("browsertest: %v", err)
	}
	return b
}

// recordRequests pauses every request of the browser (pages, workers,
// service workers alike) with the browser-level Fetch domain, records it and
// lets it continue. The page-level Network domain would miss the requests
// of dedicated workers: they run in their own target, whose events
// chromedp does not route.
func (b *Browser) recordRequests() error {
	paused := make(chan fetch.RequestID, 4096)
	err := chromedp.ListenBrowser(b.ctx, func(ev any) {
		e, ok := ev.(*fetch.EventRequestPaused)
		if !ok || e.Request == nil {
			return
		}
		r := Request{
			URL:         e.Request.URL,
			Method:      e.Request.Method,
			Type:        string(e.ResourceType),
			HasPostData: e.Request.HasPostData,
		}
		for _, d := range e.Request.PostDataEntries {
			r.PostDataSize += len(d.Bytes)
		}
		b.mu.Lock()
		b.requests = append(b.requests, r)
		b.mu.Unlock()
		select {
		case paused <- e.RequestID:
		default: // cannot happen with a page's request count; never block the read loop
			b.addConsole("browsertest: request queue full; " + r.URL + " stays paused")
		}
	})
	if err != nil {
		return fmt.Errorf("listening to the browser: %w", err)
	}
	go func() {
		for {
			select {
			case <-b.ctx.Done():
				return
			case id := <-paused:
				// Continue from a goroutine: a listener must not send commands.
				chromedp.CallBrowser(b.ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: id})
			}
		}
	}()
	if _, err := chromedp.CallBrowser(b.ctx, fetch.Enable, fetch.EnableParams{}); err != nil {
		return fmt.Errorf("enabling request interception: %w", err)
	}
	return nil
}

// listen runs in chromedp's read loop: it only appends, under a lock.
func (b *Browser) listen(ev any) {
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		var parts []string
		for _, a := range ev.Args {
			if a.Value != nil {
				parts = append(parts, string(a.Value))
			} else {
				parts = append(parts, a.Description)
			}
		}
		b.addConsole(fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(parts, " ")))
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			msg += " " + d.Exception.Description
		}
		b.addConsole(fmt.Sprintf("exception: %s (%s:%d)", msg, d.URL, d.LineNumber+1))
	}
}

func (b *Browser) addConsole(line string) {
	b.mu.Lock()
	b.console = append(b.console, line)
	b.mu.Unlock()
}

// Context is the tab's chromedp context, for actions this package lacks.
func (b *Browser) Context() context.Context { return b.ctx }

// Navigate loads url and waits for its load event.
func (b *Browser) Navigate(url string) error {
	if err := chromedp.Do(b.ctx, chromedp.Navigate(url)); err != nil {
		return fmt.Errorf("browsertest: navigate %s: %w", url, err)
	}
	return nil
}

// Requests returns the requests recorded so far, in order.
func (b *Browser) Requests() []Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Request(nil), b.requests...)
}

// ResetRequests forgets the recorded requests.
func (b *Browser) ResetRequests() {
	b.mu.Lock()
	b.requests = nil
	b.mu.Unlock()
}

// Console returns the console lines and uncaught exceptions seen so far.
func (b *Browser) Console() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.console...)
}

// Upload sets the files of the <input type=file> that selector (CSS)
// finds, as a user picking them would; change events fire.
func (b *Browser) Upload(selector string, paths ...string) error {
	abs := make([]string, len(paths))
	for i, p := range paths {
		a, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		if _, err := os.Stat(a); err != nil {
			return fmt.Errorf("browsertest: upload: %w", err)
		}
		abs[i] = a
	}
	if err := chromedp.Do(b.ctx, chromedp.SetUploadFiles(chromedp.CSS(selector), abs)); err != nil {
		return fmt.Errorf("browsertest: upload to %s: %w", selector, err)
	}
	return nil
}

// Eval evaluates a JavaScript expression in the page, awaiting it if it is
// a promise, and decodes the JSON value into T. A thrown error or a
// rejected promise is returned as an error.
func Eval[T any](b *Browser, expr string) (T, error) {
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		var zero T
		return zero, fmt.Errorf("browsertest: eval %s: %w", shorten(expr), err)
	}
	return v, nil
}

// WaitFor polls a JavaScript expression until it is truthy. It evaluates
// through the protocol (the page's Content-Security-Policy forbids the
// eval-based polling of chromedp.Poll). On timeout it saves a screenshot
// and the console log, and the error says where.
func (b *Browser) WaitFor(expr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	check := fmt.Sprintf("(async () => !!(%s))()", expr)
	for {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](check, chromedp.EvalAwaitPromise))
		if err == nil && ok {
			return nil
		}
		if time.Now().After(deadline) {
			where := b.SaveArtifacts("timeout")
			if err == nil {
				err = errors.New("still false")
			}
			return fmt.Errorf("browsertest: waiting %v for %s: %v (artifacts in %s)", timeout, shorten(expr), err, where)
		}
		select {
		case <-b.ctx.Done():
			return fmt.Errorf("browsertest: waiting for %s: %w", shorten(expr), b.ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Screenshot saves a PNG of the viewport as <artifacts>/<name>.png and
// returns its path.
func (b *Browser) Screenshot(name string) (string, error) {
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		return "", fmt.Errorf("browsertest: screenshot: %w", err)
	}
	if err := os.MkdirAll(b.artifacts, 0o755); err != nil {
		return "", err
	}
	p := filepath.Join(b.artifacts, sanitize(name)+".png")
	return p, os.WriteFile(p, png, 0o644)
}

// SaveArtifacts writes a screenshot, the console log and the request log
// under the given name, best effort, and returns the folder.
func (b *Browser) SaveArtifacts(name string) string {
	if _, err := b.Screenshot(name); err != nil {
		b.t.Logf("browsertest: %v", err)
	}
	if err := os.MkdirAll(b.artifacts, 0o755); err == nil {
		os.WriteFile(filepath.Join(b.artifacts, sanitize(name)+".console.txt"), []byte(strings.Join(b.Console(), "\n")+"\n"), 0o644)
		if reqs, err := json.MarshalIndent(b.Requests(), "", "  "); err == nil {
			os.WriteFile(filepath.Join(b.artifacts, sanitize(name)+".requests.json"), reqs, 0o644)
		}
	}
	return b.artifacts
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func sanitize(s string) string { return unsafeChars.ReplaceAllString(s, "_") }

func shorten(s string) string {
	if len(s) > 120 {
		return s[:117] + "..."
	}
	return s
}
