package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/busam/busam/imageio"
	"github.com/busam/busam/internal/browsertest"
	"github.com/busam/busam/internal/testutil"
	"github.com/busam/busam/server"
	"github.com/busam/busam/ui/view"
	"github.com/busam/busam/wasm/manifest"
)

// docsEnv names the folder README screenshots are written to when set
// (BUSAM_DOCS_SCREENSHOTS=docs go test ./e2e/ -run TestTabletReportCancel);
// CI leaves it unset.
const docsEnv = "BUSAM_DOCS_SCREENSHOTS"

// gatedServer records every request the server sees (method, URL, body
// size) and holds the model files back until release is called, so a
// test can act while the model is still loading.
type gatedServer struct {
	next    http.Handler
	release func()
	open    chan struct{}

	mu   sync.Mutex
	seen []serverRequest
}

type serverRequest struct {
	Method, URL string
	Body        int   // bytes read from the body
	Length      int64 // the Content-Length header (-1: none)
}

func newGatedServer(next http.Handler) *gatedServer {
	g := &gatedServer{next: next, open: make(chan struct{})}
	var once sync.Once
	g.release = func() { once.Do(func() { close(g.open) }) }
	return g
}

func (g *gatedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n, _ := io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
	g.mu.Lock()
	g.seen = append(g.seen, serverRequest{Method: r.Method, URL: r.URL.String(), Body: int(n), Length: r.ContentLength})
	g.mu.Unlock()
	if strings.HasPrefix(r.URL.Path, "/model/") && !strings.HasSuffix(r.URL.Path, "/"+manifest.FileName) {
		select {
		case <-g.open:
		case <-r.Context().Done():
			return
		}
	}
	g.next.ServeHTTP(w, r)
}

func (g *gatedServer) requests() []serverRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]serverRequest(nil), g.seen...)
}

// checkNoImageData fails on any request, as the browser and as the server
// saw it, that could carry the image: anything but a GET (or HEAD) without
// a body, or a URL that names an image file.
func checkNoImageData(t *testing.T, origin string, browserReqs []browsertest.Request, serverReqs []serverRequest, names ...string) {
	t.Helper()
	checkRequests(t, origin, browserReqs)
	mentions := func(u string) string {
		low := strings.ToLower(u)
		for _, n := range names {
			stem := strings.ToLower(strings.TrimSuffix(n, filepath.Ext(n)))
			for _, form := range []string{stem, strings.ReplaceAll(stem, " ", "%20"), strings.ReplaceAll(stem, " ", "+")} {
				if strings.Contains(low, form) {
					return n
				}
			}
		}
		return ""
	}
	for _, r := range browserReqs {
		if n := mentions(r.URL); n != "" {
			t.Errorf("a request names the image %s: %s %s", n, r.Method, r.URL)
		}
	}
	if len(serverReqs) == 0 || len(browserReqs) == 0 {
		t.Errorf("the server saw %d requests, the browser %d; the recording is broken", len(serverReqs), len(browserReqs))
	}
	for _, r := range serverReqs {
		if (r.Method != http.MethodGet && r.Method != http.MethodHead) || r.Body > 0 || r.Length > 0 {
			t.Errorf("the server got a request with data: %s %s (%d body bytes, Content-Length %d)", r.Method, r.URL, r.Body, r.Length)
		}
		if n := mentions(r.URL); n != "" {
			t.Errorf("the server got a request naming the image %s: %s", n, r.URL)
		}
	}
}

// rect is an element's box on screen, and the viewport's size.
type rect struct {
	Top, Bottom, Left, Right, Width, Height float64
	ViewW, ViewH, ScrollY                   float64
	Shown                                   bool
}

func (p page) rect(selector string) rect {
	p.t.Helper()
	r, err := browsertest.Eval[rect](p.b, fmt.Sprintf(`new Promise((res) => requestAnimationFrame(() => {
		const el = document.querySelector(%q);
		const b = el ? el.getBoundingClientRect() : {top: 0, bottom: 0, left: 0, right: 0, width: 0, height: 0};
		res({top: b.top, bottom: b.bottom, left: b.left, right: b.right, width: b.width, height: b.height,
			viewW: innerWidth, viewH: innerHeight, scrollY: scrollY, shown: !!el && el.getClientRects().length > 0});
	}))`, selector))
	if err != nil {
		p.t.Fatal(err)
	}
	return r
}

// inView reports whether the whole box is inside the viewport.
func (r rect) inView() bool {
	return r.Shown && r.Height > 0 && r.Top >= 0 && r.Left >= 0 && r.Bottom <= r.ViewH+0.5 && r.Right <= r.ViewW+0.5
}

// visibleFraction is the share of the box's height inside the viewport.
func (r rect) visibleFraction() float64 {
	if !r.Shown || r.Height <= 0 {
		return 0
	}
	return math.Max(0, math.Min(r.Bottom, r.ViewH)-math.Max(r.Top, 0)) / r.Height
}

func (p page) viewport(w, h int64) {
	p.t.Helper()
	if err := chromedp.Do(p.b.Context(), chromedp.EmulateViewport(w, h)); err != nil {
		p.t.Fatal(err)
	}
}

func (p page) eval(js string) {
	p.t.Helper()
	if _, err := browsertest.Eval[bool](p.b, "("+js+", true)"); err != nil {
		p.t.Fatal(err)
	}
}

func (p page) click(selector string) {
	p.t.Helper()
	p.eval(fmt.Sprintf(`document.querySelector(%q).click()`, selector))
}

// tapImage clicks the image canvas at a fraction of its width and height,
// as a pointer would.
func (p page) tapImage(fx, fy float64) {
	p.t.Helper()
	p.eval(fmt.Sprintf(`(() => {
		const host = document.getElementById('canvas-host'), c = document.getElementById('view'), r = c.getBoundingClientRect();
		const x = r.left + %v * r.width, y = r.top + %v * r.height;
		for (const type of ['pointerdown', 'pointerup']) host.dispatchEvent(new PointerEvent(type, {clientX: x, clientY: y, bubbles: true, buttons: type === 'pointerdown' ? 1 : 0}));
	})()`, fx, fy))
}

// docsScreenshot saves the viewport (full: the whole page) as a README
// picture when docsEnv is set.
func (p page) docsScreenshot(name string, full bool) {
	p.t.Helper()
	dir := os.Getenv(docsEnv)
	if dir == "" {
		return
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(testutil.RepoRoot(p.t), dir)
	}
	var png []byte
	var err error
	if full {
		png, err = chromedp.Run(p.b.Context(), chromedp.FullScreenshot(100)) // 100: PNG, not JPEG
	} else {
		png, err = chromedp.Run(p.b.Context(), chromedp.CaptureScreenshot())
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
	}
	if err != nil {
		p.t.Errorf("README screenshot %s: %v", name, err)
		return
	}
	p.t.Logf("README screenshot: %s", filepath.Join(dir, name+".png"))
}

// lengthPx reads "N px" off an element (the scale unknown).
func (p page) lengthPx(selector string) float64 {
	p.t.Helper()
	var v float64
	if _, err := fmt.Sscanf(p.text(selector), "%f px", &v); err != nil {
		p.t.Fatalf("%s reads %q, want \"N px\": %v", selector, p.text(selector), err)
	}
	return v
}

// TestTabletReportCancel is the app as a clinician on a tablet uses it: a
// file opened while the model still loads is analysed when it is ready;
// at 820 px the result sits beside the image, visible without scrolling;
// on a laptop, ticking a setting leaves the image in view; the lesion's
// axes, calipers, a calibration, zoom and brightness work on the image;
// the report shows what the page shows; the overlay PNG is the image as
// shown; Cancel and a new file stop a running analysis; and no request,
// at any point, carries the image.
func TestTabletReportCancel(t *testing.T) {
	dir := webDir(t)
	data := testutil.DataDir(t)
	benign := testutil.Need(t, filepath.Join(data, "benign", "benign (1).png"), "BUSI data")
	malignant := testutil.Need(t, filepath.Join(data, "malignant", "malignant (1).png"), "BUSI data")

	var gate *gatedServer
	url, _ := serveWrapped(t, server.Config{WebDir: dir}, func(h http.Handler) http.Handler {
		gate = newGatedServer(h)
		return gate
	})
	defer gate.release()
	origin := strings.TrimSuffix(url, "/")
	artifacts := filepath.Join(testutil.RepoRoot(t), "artifacts", "e2e")
	b := browsertest.Start(t, browsertest.Options{ArtifactsDir: artifacts, Timeout: 30 * time.Minute})
	p := page{t: t, b: b, dir: artifacts}
	p.viewport(820, 1180)

	// A file opened while the model loads waits for it, with a message,
	// and no error; the mirror image is turned off to halve the runs.
	if err := b.Navigate(url); err != nil {
		t.Fatal(err)
	}
	p.waitFor(`document.getElementById('app')?.dataset.state === 'loading'`, quickUITimeout)
	p.clickFlip()
	if err := b.Upload("#file-input", benign); err != nil {
		t.Fatal(err)
	}
	p.waitFor(`document.getElementById('queued') !== null`, quickUITimeout)
	time.Sleep(time.Second) // it must stay queued, not be refused
	if s, q, e := p.state(), p.text("#queued"), p.text("#file-error"); s != "loading" || !strings.Contains(q, "benign (1).png") || e != "" {
		t.Errorf("a file opened while the model loads: state %q, queued %q, error %q; want it queued, no error", s, q, e)
	}
	gate.release()
	p.waitFor(`(() => { const a = document.getElementById('app'); return a.dataset.file === 'benign (1).png' && ['done', 'error'].includes(a.dataset.state); })()`, loadTimeout+analyzeTimeout)
	if s := p.state(); s != "done" {
		t.Fatalf("the queued file: state %s: %s", s, p.text("#file-error"))
	}
	if q := p.text("#queued"); q != "" {
		t.Errorf("after its analysis the queue still says %q", q)
	}
	native := nativeResult(t, dir, benign, false)
	checkMatchesNative(t, p, native, "queued while loading")

	// 820 px (a tablet held upright): the result is beside the image,
	// both on screen without scrolling.
	for _, sel := range []string{"#result-label", "#view", "#long-axis"} {
		if r := p.rect(sel); !r.inView() || r.ScrollY != 0 {
			t.Errorf("at 820 px after an analysis, %s is at %+v, not inside the %vx%v viewport unscrolled", sel, r, r.ViewW, r.ViewH)
		}
	}
	if overflow, _ := browsertest.Eval[bool](b, `document.documentElement.scrollWidth > innerWidth`); overflow {
		t.Error("at 820 px the page scrolls sideways")
	}
	p.screenshot("10-tablet-820")
	p.docsScreenshot("tablet-820", false)

	// The lesion's axes, as package view measures the native mask (no
	// spacing in a PNG: pixels).
	axes, err := view.LesionAxes(native.Mask, native.W, native.H, view.Spacing{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.lengthPx("#long-axis"), axes.Long.LengthPx(); math.Abs(got-want) > 3 {
		t.Errorf("long axis %v px on the page, %v px on the native mask", got, want)
	}
	if got, want := p.lengthPx("#short-axis"), axes.Short.LengthPx(); math.Abs(got-want) > 3 {
		t.Errorf("short axis %v px on the page, %v px on the native mask", got, want)
	}

	// A laptop, the page scrolled down to the settings: ticking an
	// overlay box leaves the image in view.
	p.viewport(1280, 800)
	p.eval(`scrollTo(0, document.documentElement.scrollHeight)`)
	p.click("#show-contour")
	if r := p.rect("#view"); r.ScrollY < 100 || r.visibleFraction() < 0.9 {
		t.Errorf("on a 1280x800 laptop scrolled to the settings (%v px), after ticking the outline box %.0f%% of the image is in view", r.ScrollY, 100*r.visibleFraction())
	}
	p.click("#show-contour")
	p.eval(`scrollTo(0, 0)`)

	// A phone: one column, the result directly under the image.
	p.viewport(390, 844)
	if v, r := p.rect(".viewer"), p.rect(".result-panel"); r.Top < v.Bottom-1 || r.Top-v.Bottom > 24 || math.Abs(r.Left-v.Left) > 1 {
		t.Errorf("at 390 px the result panel (%+v) is not directly under the image (%+v)", r, v)
	}
	if overflow, _ := browsertest.Eval[bool](b, `document.documentElement.scrollWidth > innerWidth`); overflow {
		t.Error("at 390 px the page scrolls sideways")
	}
	p.screenshot("13-phone-390")
	p.viewport(820, 1180)

	checkMeasureTools(t, p, native.W)
	checkReport(t, p)
	checkOverlayPNG(t, p, benign, native.Mask)
	var rep view.Report
	if err := json.Unmarshal(p.download("#download-json", "benign (1)_result.json"), &rep); err != nil {
		t.Fatalf("the exported result: %v", err)
	}
	if rep.LongAxis == nil || rep.ShortAxis == nil || math.Abs(rep.LongAxis.Px-p.lengthPx("#long-axis")) > 0.5 ||
		rep.ModelVersion != p.text("#report-model") || rep.Certainty != p.text("#certainty") {
		t.Errorf("the exported result's axes %+v %+v, model %q, certainty %q do not match the page's (%s, %q, %q)",
			rep.LongAxis, rep.ShortAxis, rep.ModelVersion, rep.Certainty, p.text("#long-axis"), p.text("#report-model"), p.text("#certainty"))
	}

	// Cancel: the analysis stops at once, the image stays, no result.
	if err := b.Upload("#file-input", malignant); err != nil {
		t.Fatal(err)
	}
	p.waitFor(`document.getElementById('analysis-stage')?.textContent.includes('running the model')`, analyzeTimeout)
	manifests := func() int { // a fresh worker asks for the model manifest
		n := 0
		for _, r := range gate.requests() {
			if strings.HasSuffix(strings.SplitN(r.URL, "?", 2)[0], "/model/"+manifest.FileName) {
				n++
			}
		}
		return n
	}
	for _, sel := range []string{"#cancel", "#analysis-progress", "#view"} {
		if r := p.rect(sel); !r.inView() {
			t.Errorf("at 820 px during an analysis %s is not in view: %+v", sel, r)
		}
	}
	before := manifests()
	p.click("#cancel")
	p.waitFor(`document.getElementById('cancelled') !== null`, quickUITimeout)
	if s, f := p.state(), p.text("#result-label"); s == "analyzing" || f != "" {
		t.Errorf("after Cancel: state %q, result %q; want no analysis and no result", s, f)
	}
	p.screenshot("11-cancelled")
	deadline := time.Now().Add(quickUITimeout)
	for manifests() == before && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if manifests() == before {
		t.Error("Cancel did not restart the worker (no new model manifest request)")
	}
	time.Sleep(3 * time.Second) // the cancelled analysis would have answered by now
	if s, f := p.state(), p.text("#result-label"); s == "done" || f != "" {
		t.Errorf("a while after Cancel: state %q, result %q; the cancelled analysis answered", s, f)
	}

	// A new file while an analysis runs: the old one is dropped (its
	// worker stopped), the new one's result is shown.
	p.click("#analyze-again")
	p.waitFor(`document.getElementById('analysis-stage')?.textContent.includes('running the model')`, analyzeTimeout)
	started, before := time.Now(), manifests()
	if s := p.analyze(benign); s != "done" {
		t.Fatalf("the file opened during an analysis: state %s: %s", s, p.text("#file-error"))
	}
	t.Logf("a new file during an analysis: its result after %v (worker restarted, model reloaded from the cache)", time.Since(started).Round(time.Second))
	if manifests() == before {
		t.Error("a new file during an analysis did not stop the worker (no new model manifest request)")
	}
	checkMatchesNative(t, p, native, "opened during another analysis")
	time.Sleep(2 * time.Second) // a stale reply would land now
	if f, l := p.text("#report-file"), p.result().Label; !strings.Contains(f, "benign (1).png") || l != native.Label.String() {
		t.Errorf("after the stale analysis could have answered: file %q, class %q; want benign (1).png, %s", f, l, native.Label)
	}

	checkNoImageData(t, origin, b.Requests(), gate.requests(), "benign (1).png", "malignant (1).png")
}

// checkMeasureTools uses the calipers, a calibration, the zoom and the
// brightness on the open image (w pixels wide).
func checkMeasureTools(t *testing.T, p page, w int) {
	t.Helper()
	// Two clicks half the image's width apart, on one row.
	p.click("#tool-caliper")
	p.tapImage(0.25, 0.3)
	p.tapImage(0.75, 0.3)
	p.waitFor(`document.querySelectorAll('#calipers li').length === 1`, quickUITimeout)
	caliper := p.lengthPx("#calipers li")
	if want := 0.5 * float64(w); math.Abs(caliper-want) > 2 {
		t.Errorf("a caliper across half the %d px image reads %v px, want %v", w, caliper, want)
	}
	// Calibrate: a quarter of the width is 20 mm; the caliper, twice as
	// long, then reads 40 mm.
	p.click("#tool-calibrate")
	p.tapImage(0.25, 0.6)
	p.tapImage(0.5, 0.6)
	p.waitFor(`document.getElementById('cal-mm') !== null`, quickUITimeout)
	p.eval(`(() => { const i = document.getElementById('cal-mm'); i.value = 'abc'; i.dispatchEvent(new Event('input', {bubbles: true})); })()`)
	p.click("#cal-set")
	p.waitFor(`document.getElementById('cal-error') !== null`, quickUITimeout)
	if e := p.text("#cal-error"); !strings.Contains(e, "abc") {
		t.Errorf("a calibration of 'abc' mm says %q", e)
	}
	p.eval(`(() => { const i = document.getElementById('cal-mm'); i.value = '20'; i.dispatchEvent(new Event('input', {bubbles: true})); })()`)
	p.click("#cal-set")
	p.waitFor(`document.getElementById('spacing')?.textContent.includes('your calibration')`, quickUITimeout)
	var mm float64
	if _, err := fmt.Sscanf(p.text("#calipers li"), "%f mm", &mm); err != nil || math.Abs(mm-40) > 0.5 {
		t.Errorf("after calibrating a quarter of the width as 20 mm the caliper reads %q, want 40 mm", p.text("#calipers li"))
	}
	if a := p.text("#long-axis"); !strings.HasSuffix(a, " mm") {
		t.Errorf("with a calibration the long axis reads %q, want mm", a)
	}
	// Zoom: the canvas grows 1.5× on screen; Fit puts it back.
	before := p.rect("#view")
	p.click("#zoom-in")
	if r := p.rect("#view"); math.Abs(r.Width/before.Width-1.5) > 0.01 || p.text("#zoom-level") != "150%" {
		t.Errorf("zoom in: %v px wide from %v, level %q; want 1.5× and 150%%", r.Width, before.Width, p.text("#zoom-level"))
	}
	// Drag: the zoomed image follows the pointer.
	zoomed := p.rect("#view")
	p.eval(`(() => {
		const host = document.getElementById('canvas-host'), r = document.getElementById('view').getBoundingClientRect();
		const x = r.left + r.width / 2, y = r.top + r.height / 2;
		host.dispatchEvent(new PointerEvent('pointerdown', {clientX: x, clientY: y, buttons: 1, bubbles: true}));
		window.dispatchEvent(new PointerEvent('pointermove', {clientX: x - 40, clientY: y - 30, buttons: 1}));
		window.dispatchEvent(new PointerEvent('pointerup', {clientX: x - 40, clientY: y - 30}));
	})()`)
	p.waitFor(fmt.Sprintf(`Math.abs(document.getElementById('view').getBoundingClientRect().left - %v) > 1`, zoomed.Left), quickUITimeout)
	if r := p.rect("#view"); math.Abs(r.Left-zoomed.Left+40) > 1 || math.Abs(r.Top-zoomed.Top+30) > 1 {
		t.Errorf("dragging the zoomed image by (-40, -30) moved it from (%v, %v) to (%v, %v)", zoomed.Left, zoomed.Top, r.Left, r.Top)
	}
	p.click("#zoom-fit")
	if r := p.rect("#view"); math.Abs(r.Width-before.Width) > 0.5 || math.Abs(r.Left-before.Left) > 0.5 {
		t.Errorf("Fit leaves the image at %+v, was %+v", r, before)
	}
	// Brightness changes the pixels shown, not the result.
	pixel := func() []int {
		v, err := browsertest.Eval[[]int](p.b, `Array.from(document.getElementById('view').getContext('2d').getImageData(2, 2, 1, 1).data)`)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	label := p.result().Label
	dark := pixel()
	p.eval(`(() => { const i = document.getElementById('brightness'); i.value = '50'; i.dispatchEvent(new Event('input', {bubbles: true})); })()`)
	p.waitFor(`document.getElementById('view').getContext('2d').getImageData(2, 2, 1, 1).data[0] > 0`, quickUITimeout)
	if bright := pixel(); bright[0] <= dark[0] || p.result().Label != label || p.state() != "done" {
		t.Errorf("brightness +50: corner pixel %v -> %v, class %q -> %q, state %q", dark, bright, label, p.result().Label, p.state())
	}
	p.click("#display-reset")
	p.click("#tool-move")
}

// checkReport opens the report and compares it with the result panel.
func checkReport(t *testing.T, p page) {
	t.Helper()
	label, certainty, area, long := p.text("#result-label"), p.text("#certainty"), p.text("#area"), p.text("#long-axis")
	p.click("#open-report")
	p.waitFor(`document.querySelector('.report-open') !== null`, quickUITimeout)
	if r := p.rect("#report"); !r.Shown {
		t.Fatal("the report is not shown")
	}
	if r := p.rect(".layout"); r.Shown {
		t.Error("the app stays on screen under the report")
	}
	if got := p.text("#report-label"); got != label {
		t.Errorf("report class %q, result panel %q", got, label)
	}
	if got := p.text("#report-certainty"); got != certainty {
		t.Errorf("report certainty %q, result panel %q", got, certainty)
	}
	meas := p.text("#report-measurements")
	for _, want := range []string{"Lesion area", area, "Long axis", long, "Short axis", "Caliper 1", "your calibration"} {
		if !strings.Contains(meas, want) {
			t.Errorf("report measurements %q lack %q", meas, want)
		}
	}
	if m := p.text("#report-model"); !regexp.MustCompile(`encoder [0-9a-f]{12}`).MatchString(m) || !regexp.MustCompile(`heads [0-9a-f]{12}`).MatchString(m) {
		t.Errorf("report model version %q should name the encoder and heads files by hash", m)
	}
	if d := p.text("#report-disclaimer"); !strings.Contains(d, "not a diagnostic device") || !strings.Contains(d, "not uploaded") {
		t.Errorf("report disclaimer %q", d)
	}
	if d := p.text("#report-date"); !strings.Contains(d, fmt.Sprint(time.Now().Year())) {
		t.Errorf("report date %q lacks this year", d)
	}
	same, err := browsertest.Eval[bool](p.b, `(() => {
		const a = document.getElementById('view'), b = document.getElementById('report-view');
		if (!a || !b || a.width !== b.width || a.height !== b.height) return false;
		const pa = a.getContext('2d').getImageData(0, 0, a.width, a.height).data, pb = b.getContext('2d').getImageData(0, 0, b.width, b.height).data;
		for (let i = 0; i < pa.length; i += 97) if (pa[i] !== pb[i]) return false;
		return true;
	})()`)
	if err != nil || !same {
		t.Errorf("the report's image is not the image shown with its overlay (%v)", err)
	}
	p.screenshot("12-report")
	p.docsScreenshot("report", true)

	// Printing shows the report alone.
	ctx := p.b.Context()
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"}); err != nil {
		t.Fatal(err)
	}
	if r, a, l := p.rect("#report"), p.rect(".report-actions"), p.rect(".layout"); !r.Shown || a.Shown || l.Shown {
		t.Errorf("printed: report shown %v, its buttons shown %v, the app shown %v; want the report alone", r.Shown, a.Shown, l.Shown)
	}
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: ""}); err != nil {
		t.Fatal(err)
	}
	p.click("#close-report")
	p.waitFor(`document.querySelector('.report-open') === null`, quickUITimeout)
	p.click("#calipers-clear")
	p.click("#cal-clear")
}

// checkOverlayPNG downloads the image with its overlay: the image's size,
// the lesion's pixels tinted, the rest (but for the lines) the image.
func checkOverlayPNG(t *testing.T, p page, imagePath string, mask []uint8) {
	t.Helper()
	png := p.download("#download-overlay", "benign (1)_overlay.png")
	img, _, err := imageio.Decode("overlay.png", png)
	if err != nil {
		t.Fatalf("the overlay PNG: %v", err)
	}
	orig, err := imageio.Load(imagePath)
	if err != nil {
		t.Fatal(err)
	}
	b, ob := img.Bounds(), orig.Bounds()
	if b.Dx() != ob.Dx() || b.Dy() != ob.Dy() {
		t.Fatalf("the overlay PNG is %v, the image %v", b, ob)
	}
	var inDiff, in, outDiff, out int
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			r1, g1, b1, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			r2, g2, b2, _ := orig.At(ob.Min.X+x, ob.Min.Y+y).RGBA()
			differs := math.Abs(float64(r1>>8)-float64(r2>>8))+math.Abs(float64(g1>>8)-float64(g2>>8))+math.Abs(float64(b1>>8)-float64(b2>>8)) > 6
			if mask[y*b.Dx()+x] != 0 {
				in++
				if differs {
					inDiff++
				}
			} else {
				out++
				if differs {
					outDiff++
				}
			}
		}
	}
	t.Logf("overlay PNG: %d of %d lesion pixels tinted, %d of %d others changed", inDiff, in, outDiff, out)
	if in > 0 && float64(inDiff) < 0.9*float64(in) {
		t.Errorf("the overlay PNG tints %d of the lesion's %d pixels", inDiff, in)
	}
	if float64(outDiff) > 0.05*float64(out) {
		t.Errorf("the overlay PNG changes %d of the %d pixels outside the lesion", outDiff, out)
	}
}
