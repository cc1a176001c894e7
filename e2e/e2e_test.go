// Package e2e tests busam's web app end to end: the assembled app
// (dist/web, or $BUSAM_WEB) is served by package server on a loopback
// port and driven in headless Chromium through internal/browsertest, as a
// user would: open the page, wait for the model, open a real BUSI image,
// read the result off the page.
//
// What it checks:
//   - the class shown is the class the native Go pipeline computes for the
//     same file with the same weights, and the probabilities agree: with
//     the mirror-image setting on (its default: pipeline's test-time flip)
//     and, after the user turns it off, which analyses the image again,
//     without; the setting is remembered across a reload;
//   - the mask's Dice against BUSI's ground truth (computed by the page's
//     teaching mode) equals the native mask's Dice and passes a threshold
//     derived from the shipped heads' recorded validation Dice;
//   - no request during an analysis carries data (only same-origin GETs
//     without bodies) and, once the model is cached, a second analysis
//     makes no request at all;
//   - offline (network emulation off and the server stopped), a reload
//     still starts the app and analyses an image;
//   - a JPEG-baseline DICOM export (pixel spacing, patient name and ID)
//     is analysed, its lesion area given in mm², and the patient's name
//     and ID appear nowhere: not in the page, the report or the JSON
//     export; a three-frame cine loop (ultrasound regions spacing) is
//     analysed on its middle frame, and the caption says so;
//   - with the calibrated heads the page says "Confident" or "Unsure" as
//     the top probability stands to the heads' threshold, and a scan the
//     heads are unsure about is shown as "Unsure";
//   - teaching mode refuses the ultrasound image itself as a mask, naming
//     it, with no Dice;
//   - a corrupt file gives an error message that names it.
//
// Screenshots go to artifacts/e2e/*.png (gitignored).
package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/busam/busam/imageio"
	"github.com/busam/busam/internal/browsertest"
	"github.com/busam/busam/internal/testutil"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/pipeline"
	"github.com/busam/busam/server"
	"github.com/busam/busam/ui/view"
	"github.com/busam/busam/wasm/engine"
	"github.com/busam/busam/wasm/manifest"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Time limits. The model runs on the CPU in Go WebAssembly (no SIMD, no
// threads), so one full-size analysis takes about a minute here.
const (
	loadTimeout     = 5 * time.Minute
	analyzeTimeout  = 8 * time.Minute
	quickUITimeout  = 30 * time.Second
	diceMargin      = 0.25 // below the recorded mean: one image is not the mean
	probTolerance   = 2e-3 // wasm and native float32 kernels differ in summation order
	diceTolerance   = 0.02
	defaultDiceBase = 0.0 // no recorded quality: the Dice must only match native
)

// webDir is the assembled app under test.
func webDir(t *testing.T) string {
	dir := os.Getenv("BUSAM_WEB")
	if dir == "" {
		dir = filepath.Join(testutil.RepoRoot(t), "dist", "web")
	}
	testutil.Need(t, filepath.Join(dir, "index.html"), "the assembled web app (./build.sh build)")
	names := readAssets(t, dir)
	if _, ok := names["ui.wasm"]; !ok {
		need(t, fmt.Sprintf("%s was assembled without the UI (no ui.wasm in assets.json); build it with go run ./ui/cmd/webapp", dir))
	}
	if _, ok := modelManifest(t, dir).File(manifest.RoleHeads); !ok {
		need(t, fmt.Sprintf("%s was assembled without trained heads (no %q file in model/%s); train them, then ./build.sh build", dir, manifest.RoleHeads, manifest.FileName))
	}
	return dir
}

// need reports a missing prepared input like testutil.Need: a failure
// under CI, a skip for developers.
func need(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func modelManifest(t *testing.T, dir string) *manifest.Manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "model", manifest.FileName))
	if err != nil {
		t.Fatal(err)
	}
	man, err := manifest.Parse(manifest.FileName, b)
	if err != nil {
		t.Fatal(err)
	}
	return man
}

func readAssets(t *testing.T, dir string) map[string]string {
	b, err := os.ReadFile(filepath.Join(dir, "assets.json"))
	if err != nil {
		t.Fatalf("reading the app's asset list: %v", err)
	}
	var names map[string]string
	if err := json.Unmarshal(b, &names); err != nil {
		t.Fatalf("%s/assets.json: %v", dir, err)
	}
	return names
}

// serve starts the app's server on a free loopback port; stop ends it.
func serve(t *testing.T, dir string) (url string, stop func()) {
	return serveConfig(t, server.Config{WebDir: dir})
}

func serveConfig(t *testing.T, cfg server.Config) (url string, stop func()) {
	return serveWrapped(t, cfg, nil)
}

// serveWrapped is serveConfig with the handler wrapped (nil: as it is).
func serveWrapped(t *testing.T, cfg server.Config, wrap func(http.Handler) http.Handler) (url string, stop func()) {
	h, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var handler http.Handler = h
	if wrap != nil {
		handler = wrap(h)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Serve(ctx, ln, handler) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("server: %v", err)
		}
		h.Close()
	}
	t.Cleanup(stop)
	return "http://" + ln.Addr().String() + "/", stop
}

// page wraps the browser with the app's own vocabulary.
type page struct {
	t   *testing.T
	b   *browsertest.Browser
	dir string // artifacts
}

func (p page) state() string {
	s, _ := browsertest.Eval[string](p.b, `document.getElementById('app')?.dataset.state ?? ''`)
	return s
}

func (p page) text(selector string) string {
	p.t.Helper()
	s, err := browsertest.Eval[string](p.b, fmt.Sprintf(`document.querySelector(%q)?.textContent ?? ''`, selector))
	if err != nil {
		p.t.Fatal(err)
	}
	return strings.TrimSpace(s)
}

func (p page) waitFor(expr string, timeout time.Duration) {
	p.t.Helper()
	if err := p.b.WaitFor(expr, timeout); err != nil {
		p.t.Fatalf("%v\nconsole:\n%s", err, strings.Join(p.b.Console(), "\n"))
	}
}

// screenshot saves the whole page (not only the viewport) as
// <artifacts>/<name>.png.
func (p page) screenshot(name string) {
	p.t.Helper()
	png, err := chromedp.Run(p.b.Context(), chromedp.FullScreenshot(100))
	if err == nil {
		path := filepath.Join(p.dir, name+".png")
		if err = os.MkdirAll(p.dir, 0o755); err == nil {
			err = os.WriteFile(path, png, 0o644)
		}
		p.t.Logf("screenshot: %s", path)
	}
	if err != nil {
		p.t.Errorf("screenshot %s: %v", name, err)
	}
}

// areaPixels reads the lesion area in pixels off the page (0 when it says
// no lesion was segmented).
func (p page) areaPixels() int {
	p.t.Helper()
	text := p.text("#area")
	if strings.HasPrefix(text, "No lesion") {
		return 0
	}
	var px int
	if _, err := fmt.Sscanf(text, "%d px", &px); err != nil {
		p.t.Fatalf("lesion area %q: %v", text, err)
	}
	return px
}

// freezeLimit is how long the main thread may be busy at a stretch
// during an analysis. The model runs in a worker; the page only decodes
// the image for display and draws it, well under this. A second without a
// frame is what users call a frozen page.
const freezeLimit = 1000.0 // ms

// download clicks a button and returns the file the browser saved.
func (p page) download(button, name string) []byte {
	p.t.Helper()
	dir := p.t.TempDir()
	ctx := p.b.Context()
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir,
	}); err != nil {
		p.t.Fatal(err)
	}
	if _, err := browsertest.Eval[bool](p.b, fmt.Sprintf(`(document.querySelector(%q).click(), true)`, button)); err != nil {
		p.t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	deadline := time.Now().Add(quickUITimeout)
	for {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return b
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(dir)
			p.t.Fatalf("clicking %s saved no %s (folder holds %v)", button, name, entries)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkExports downloads the mask PNG and the result JSON, which the page
// makes itself, and checks them against the native pipeline's result.
func checkExports(t *testing.T, p page, native pipeline.Result) {
	t.Helper()
	maskPNG := p.download("#download-mask", "benign (1)_mask.png")
	img, meta, err := imageio.Decode("mask.png", maskPNG)
	if err != nil {
		t.Fatalf("the exported mask: %v", err)
	}
	mask, err := view.MaskFromImage("mask.png", img, native.W, native.H)
	if err != nil {
		t.Fatalf("the exported mask (%s): %v", meta.Format, err)
	}
	counts, err := view.Compare(mask, native.Mask)
	if err != nil {
		t.Fatal(err)
	}
	if diff := counts.FP + counts.FN; float64(diff) > 20+0.01*float64(view.Area(native.Mask)) {
		t.Errorf("the exported mask differs from the native mask in %d pixels", diff)
	}
	var rep view.Report
	if err := json.Unmarshal(p.download("#download-json", "benign (1)_result.json"), &rep); err != nil {
		t.Fatalf("the exported result: %v", err)
	}
	if rep.Label != native.Label.String() || rep.Width != native.W || rep.Height != native.H ||
		rep.LesionAreaPx != view.Area(mask) || rep.Notice != view.Notice || rep.File != "benign (1).png" {
		t.Errorf("the exported result %+v does not match the analysis (%s, %dx%d, %d px)", rep, native.Label, native.W, native.H, view.Area(mask))
	}
}

// watchLongTasks starts recording the main thread's long tasks (over
// 50 ms, from the Long Tasks API) into a page global.
func (p page) watchLongTasks() {
	p.t.Helper()
	ok, err := browsertest.Eval[bool](p.b, `(() => {
		if (!PerformanceObserver.supportedEntryTypes.includes('longtask')) return false;
		window.__e2eLongTasks = [];
		new PerformanceObserver((list) => {
			for (const e of list.getEntries()) window.__e2eLongTasks.push(e.duration);
		}).observe({type: 'longtask'});
		return true;
	})()`)
	if err != nil || !ok {
		p.t.Fatalf("this Chromium cannot report long tasks (%v)", err)
	}
}

// checkNoFreeze fails if a long task recorded since watchLongTasks lasted
// more than freezeLimit.
func (p page) checkNoFreeze() {
	p.t.Helper()
	tasks, err := browsertest.Eval[[]float64](p.b, `new Promise((r) => setTimeout(() => r(window.__e2eLongTasks), 100))`)
	if err != nil {
		p.t.Fatal(err)
	}
	longest := 0.0
	for _, d := range tasks {
		longest = math.Max(longest, d)
	}
	p.t.Logf("main thread during the analysis: %d long tasks, longest %.0f ms", len(tasks), longest)
	if longest > freezeLimit {
		p.t.Errorf("the page froze for %.0f ms during an analysis (limit %.0f ms)", longest, freezeLimit)
	}
}

// modelSource says where the loaded model came from: cache or network.
func (p page) modelSource() string {
	s, _ := browsertest.Eval[string](p.b, `document.getElementById('app')?.dataset.modelSource ?? ''`)
	return s
}

// waitReady waits until the model is loaded (or the app reports failure).
func (p page) waitReady() {
	p.t.Helper()
	p.waitFor(`['ready', 'failed'].includes(document.getElementById('app')?.dataset.state)`, loadTimeout)
	if s := p.state(); s != "ready" {
		p.screenshot("load-failed")
		p.t.Fatalf("the app did not load its model (state %q): %s", s, p.text("#load-error"))
	}
}

// analyze opens a file and waits for its result or error.
func (p page) analyze(path string) string {
	p.t.Helper()
	if err := p.b.Upload("#file-input", path); err != nil {
		p.t.Fatal(err)
	}
	name := filepath.Base(path)
	p.waitFor(fmt.Sprintf(`(() => { const a = document.getElementById('app'); return a.dataset.file === %q && ['done', 'error'].includes(a.dataset.state); })()`, name), analyzeTimeout)
	return p.state()
}

// shownResult is what the page shows after an analysis.
type shownResult struct {
	Label string             `json:"label"`
	Probs map[string]float64 `json:"probs"`
}

func (p page) result() shownResult {
	p.t.Helper()
	r, err := browsertest.Eval[shownResult](p.b, `(() => {
		const probs = {};
		for (const m of document.querySelectorAll('meter[id^="prob-"]')) probs[m.id.slice(5)] = m.value;
		return {label: document.getElementById('result-label').textContent.trim().toLowerCase(), probs};
	})()`)
	if err != nil {
		p.t.Fatal(err)
	}
	return r
}

// nativeResult runs the Go pipeline on the same file with the model files
// the app serves (an int8 encoder dequantized as the browser's CPU path
// does), built by the same code the wasm module runs, compiled natively:
// pipeline.AnalyzeWith, with Options.Flip as flip says.
func nativeResult(t *testing.T, dir, imagePath string, flip bool) pipeline.Result {
	t.Helper()
	files, err := engine.ReadModelDir(filepath.Join(dir, "model"))
	if err != nil {
		t.Fatal(err)
	}
	model, err := engine.BuildPipelineModel(files, encoder.DefaultSize)
	if err != nil {
		t.Fatal(err)
	}
	img, err := imageio.Load(imagePath)
	if err != nil {
		t.Fatal(err)
	}
	res, err := model.(engine.OptionsModel).AnalyzeWith(img, engine.AnalyzeOptions{Flip: flip})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// checkMatchesNative compares the class, probabilities and lesion area the
// page shows with the native pipeline's.
func checkMatchesNative(t *testing.T, p page, native pipeline.Result, what string) {
	t.Helper()
	shown := p.result()
	if shown.Label != native.Label.String() {
		t.Errorf("%s: page shows class %q, native pipeline says %q", what, shown.Label, native.Label)
	}
	for i, c := range native.Classes {
		got, ok := shown.Probs[c.String()]
		if !ok || math.Abs(got-float64(native.Probs[i])) > probTolerance {
			t.Errorf("%s: P(%s): page %v (shown %v), native %v", what, c, got, ok, native.Probs[i])
		}
	}
	if got, want := p.areaPixels(), view.Area(native.Mask); math.Abs(float64(got-want)) > 20+0.01*float64(want) {
		t.Errorf("%s: page shows a lesion of %d px, the native mask has %d", what, got, want)
	}
	// With calibrated heads the page says whether the answer is sure, as
	// the native pipeline decides it; without, it claims nothing.
	certainty, err := browsertest.Eval[string](p.b, `document.getElementById('certainty')?.textContent.trim() ?? ''`)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case !native.Calibrated && certainty != "":
		t.Errorf("%s: uncalibrated heads, yet the page says %q", what, certainty)
	case native.Calibrated && native.Sure && !strings.HasPrefix(certainty, "Confident"):
		t.Errorf("%s: the native answer is sure (p %v), the page says %q", what, native.Probs, certainty)
	case native.Calibrated && !native.Sure && !strings.HasPrefix(certainty, "Unsure"):
		t.Errorf("%s: the native answer is unsure (p %v), the page says %q", what, native.Probs, certainty)
	}
}

// maskDiff counts the pixels where two masks of one image differ.
func maskDiff(a, b []uint8) int {
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

// clickFlip clicks the mirror-image setting, as a user would.
func (p page) clickFlip() {
	p.t.Helper()
	if _, err := browsertest.Eval[bool](p.b, `(document.getElementById('flip').click(), true)`); err != nil {
		p.t.Fatal(err)
	}
}

// flipResultShown is a condition for waitFor: an analysis is done and its
// result says it used the mirror image (flip) or not.
func flipResultShown(flip bool) string {
	want := "Not analysed"
	if flip {
		want = "averaged"
	}
	return fmt.Sprintf(`(() => { const f = document.getElementById('flip-used');
		return document.getElementById('app').dataset.state === 'done' && f !== null && f.textContent.includes(%q); })()`, want)
}

// flipChecked reports whether the mirror-image setting is on.
func (p page) flipChecked() bool {
	p.t.Helper()
	on, err := browsertest.Eval[bool](p.b, `document.getElementById('flip').checked`)
	if err != nil {
		p.t.Fatal(err)
	}
	return on
}

// timingMS reads one stage's time (ms) off the result's timings table.
func (p page) timingMS(stage string) float64 {
	p.t.Helper()
	text, err := browsertest.Eval[string](p.b, fmt.Sprintf(`(() => {
		for (const tr of document.querySelectorAll('.timings tr')) {
			if (tr.querySelector('th')?.textContent.trim() === %q) return tr.querySelector('td').textContent.trim();
		}
		return '';
	})()`, stage))
	if err != nil {
		p.t.Fatal(err)
	}
	var v float64
	var unit string
	if _, err := fmt.Sscanf(text, "%f %s", &v, &unit); err != nil || (unit != "ms" && unit != "s") {
		p.t.Fatalf("%s time %q is not \"N ms\" or \"N s\"", stage, text)
	}
	if unit == "s" {
		v *= 1000
	}
	return v
}

// diceThreshold derives the pass mark for one image's Dice from the
// quality the shipped heads recorded: their validation mean Dice minus
// diceMargin (single images scatter around the mean; BUSI's per-image
// Dice has a spread of about 0.2). Heads without a record (untrained
// development weights) get no quality bar, only the native comparison.
func diceThreshold(t *testing.T, dir string) (float64, string) {
	hf, _ := modelManifest(t, dir).File(manifest.RoleHeads)
	meta, err := heads.Metadata(filepath.Join(dir, "model", hf.Path))
	if err != nil {
		t.Fatal(err)
	}
	return DiceThreshold(meta)
}

// DiceThreshold reads the recorded Dice from heads metadata: a "test_dice"
// entry if the evaluation wrote one, else the training record's
// validation Dice.
func DiceThreshold(meta map[string]string) (float64, string) {
	if s, ok := meta["test_dice"]; ok {
		if v, err := strconv.ParseFloat(s, 64); err == nil && v > 0 {
			return math.Max(0, v-diceMargin), fmt.Sprintf("recorded test Dice %.3f - %.2f", v, diceMargin)
		}
	}
	var training struct {
		Val struct {
			ValDice float64 `json:"val_dice"`
		} `json:"val"`
	}
	if s, ok := meta["training"]; ok && json.Unmarshal([]byte(s), &training) == nil && training.Val.ValDice > 0 {
		v := training.Val.ValDice
		return math.Max(0, v-diceMargin), fmt.Sprintf("recorded validation Dice %.3f - %.2f", v, diceMargin)
	}
	return defaultDiceBase, "no recorded Dice in the heads' metadata (untrained weights?)"
}

// goOffline cuts the tab (and its service worker) off the network, as
// DevTools' offline mode does.
func goOffline(t *testing.T, b *browsertest.Browser) {
	t.Helper()
	ctx := b.Context()
	yes := true
	steps := []func() error{
		func() error { _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); return err },
		func() error {
			_, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
				EmulateOfflineServiceWorker: &yes,
				MatchedNetworkConditions:    []*network.Conditions{{Offline: true, DownloadThroughput: -1, UploadThroughput: -1}},
			})
			return err
		},
		func() error {
			_, err := chromedp.Call(ctx, network.OverrideNetworkState, network.OverrideNetworkStateParams{Offline: true, DownloadThroughput: -1, UploadThroughput: -1})
			return err
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("going offline: %v", err)
		}
	}
}

// checkArea reads the lesion area the page shows ("N px · X mm²") and
// checks X = N × spacing².
func checkArea(t *testing.T, p page, spacingMM float64) {
	t.Helper()
	text := p.text("#area")
	var px int
	var mm2 float64
	if strings.HasPrefix(text, "No lesion") {
		t.Logf("no lesion segmented in the DICOM image; the mm² conversion was not exercised (untrained weights?)")
		return
	}
	if _, err := fmt.Sscanf(text, "%d px · %f mm²", &px, &mm2); err != nil {
		t.Fatalf("area %q is not \"N px · X mm²\": %v", text, err)
	}
	want := float64(px) * spacingMM * spacingMM
	if math.Abs(mm2-want) > 0.05+1e-3*want {
		t.Errorf("area %q: %d px at %.2f mm is %.1f mm²", text, px, spacingMM, want)
	}
}

// checkKeyboardOpensPicker focuses the drop zone and presses Enter, as a
// keyboard user would: the file chooser must open.
func checkKeyboardOpensPicker(t *testing.T, b *browsertest.Browser) {
	t.Helper()
	ctx := b.Context()
	opened := make(chan struct{}, 1)
	if err := chromedp.Listen(ctx, func(ev any) {
		if _, ok := ev.(*cdppage.EventFileChooserOpened); ok {
			select {
			case opened <- struct{}{}:
			default:
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	cancel := true
	if _, err := chromedp.Call(ctx, cdppage.SetInterceptFileChooserDialog, cdppage.SetInterceptFileChooserDialogParams{Enabled: true, Cancel: &cancel}); err != nil {
		t.Fatal(err)
	}
	defer chromedp.Call(ctx, cdppage.SetInterceptFileChooserDialog, cdppage.SetInterceptFileChooserDialogParams{Enabled: false})
	if err := chromedp.Do(ctx, chromedp.Focus(chromedp.CSS("#dropzone")), chromedp.KeyEvent("\r")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-opened:
	case <-time.After(quickUITimeout):
		t.Error("Enter on the focused drop zone did not open the file chooser")
	}
}

// checkTablet renders the page at a tablet's size: nothing may stick out
// sideways.
func checkTablet(t *testing.T, p page) {
	t.Helper()
	ctx := p.b.Context()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(768, 1024)); err != nil {
		t.Fatal(err)
	}
	defer chromedp.Do(ctx, chromedp.EmulateReset())
	overflow, err := browsertest.Eval[bool](p.b, `new Promise((r) => requestAnimationFrame(() => r(document.documentElement.scrollWidth > window.innerWidth)))`)
	if err != nil {
		t.Fatal(err)
	}
	if overflow {
		t.Error("at 768 px wide the page scrolls sideways")
	}
	p.screenshot("06-tablet")
}

// checkRequests asserts that requests only fetched: same origin, GET,
// no body. A blob: URL of the page's own origin (a download the page
// made) stays in the browser and is allowed.
func checkRequests(t *testing.T, origin string, reqs []browsertest.Request) {
	t.Helper()
	for _, r := range reqs {
		if strings.HasPrefix(r.URL, "blob:"+origin+"/") && r.Method == http.MethodGet {
			continue
		}
		if !strings.HasPrefix(r.URL, origin) {
			t.Errorf("request to another origin: %s %s", r.Method, r.URL)
		}
		if r.Method != http.MethodGet || r.HasPostData || r.PostDataSize > 0 {
			t.Errorf("request carries data: %s %s (body %v, %d bytes)", r.Method, r.URL, r.HasPostData, r.PostDataSize)
		}
	}
}

func TestApp(t *testing.T) {
	dir := webDir(t)
	data := testutil.DataDir(t)
	benign := testutil.Need(t, filepath.Join(data, "benign", "benign (1).png"), "BUSI data")
	benignMask := testutil.Need(t, filepath.Join(data, "benign", "benign (1)_mask.png"), "BUSI data")
	malignant := testutil.Need(t, filepath.Join(data, "malignant", "malignant (1).png"), "BUSI data")

	benign411 := testutil.Need(t, filepath.Join(data, "benign", "benign (411).png"), "BUSI data")

	var gate *gatedServer // records what the server sees; the model is not held back
	url, stopServer := serveWrapped(t, server.Config{WebDir: dir}, func(h http.Handler) http.Handler {
		gate = newGatedServer(h)
		gate.release()
		return gate
	})
	origin := strings.TrimSuffix(url, "/")
	var seen []browsertest.Request // every browser request, kept across ResetRequests
	artifacts := filepath.Join(testutil.RepoRoot(t), "artifacts", "e2e")
	b := browsertest.Start(t, browsertest.Options{ArtifactsDir: artifacts, Timeout: 30 * time.Minute})
	p := page{t: t, b: b, dir: artifacts}

	// First visit: the model downloads, then the app waits for an image.
	if err := b.Navigate(url); err != nil {
		t.Fatal(err)
	}
	p.waitReady()
	if !p.flipChecked() {
		t.Error("the mirror-image setting is off on a first visit, want on")
	}
	if s := p.text("#privacy"); !strings.Contains(s, "never uploaded") {
		t.Errorf("privacy statement missing, got %q", s)
	}
	if s := p.text("#notice"); !strings.Contains(s, "not a diagnostic device") {
		t.Errorf("notice missing, got %q", s)
	}
	p.screenshot("01-ready")
	checkRequests(t, origin, b.Requests())

	// One analysis, with every request recorded and the main thread
	// watched for freezes.
	seen = append(seen, b.Requests()...)
	b.ResetRequests()
	p.watchLongTasks()
	if s := p.analyze(benign); s != "done" {
		t.Fatalf("analysing %s: state %s: %s", benign, s, p.text("#file-error"))
	}
	checkRequests(t, origin, b.Requests())
	p.checkNoFreeze()
	p.screenshot("02-result")
	if s := p.text("#flip-used"); !strings.Contains(s, "averaged") {
		t.Errorf("with the mirror-image setting on, the result says %q about it", s)
	}
	flipEncoder, flipTotal := p.timingMS("Encoder"), p.timingMS("Total")

	native := nativeResult(t, dir, benign, true)
	checkMatchesNative(t, p, native, "mirror image on")
	checkExports(t, p, native)

	// Teaching mode: the page computes the Dice against the ground truth.
	if err := b.Upload("#truth-input", benignMask); err != nil {
		t.Fatal(err)
	}
	p.waitFor(`document.getElementById('dice') !== null`, quickUITimeout)
	pageDice, err := strconv.ParseFloat(p.text("#dice"), 64)
	if err != nil {
		t.Fatalf("Dice shown: %v", err)
	}
	gtImg, err := imageio.Load(benignMask)
	if err != nil {
		t.Fatal(err)
	}
	gt, err := view.MaskFromImage(benignMask, gtImg, native.W, native.H)
	if err != nil {
		t.Fatal(err)
	}
	counts, err := view.Compare(native.Mask, gt)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(pageDice-counts.Dice()) > diceTolerance {
		t.Errorf("page Dice %.3f, native mask's Dice %.3f", pageDice, counts.Dice())
	}
	threshold, why := diceThreshold(t, dir)
	t.Logf("Dice on %s: page %.3f, native %.3f; threshold %.3f (%s)", filepath.Base(benign), pageDice, counts.Dice(), threshold, why)
	if pageDice < threshold {
		t.Errorf("Dice %.3f is below %.3f (%s)", pageDice, threshold, why)
	}
	// The class-evidence overlay, with a legend that says what it shows.
	if _, err := browsertest.Eval[bool](b, `(document.getElementById('show-evidence').click(), true)`); err != nil {
		t.Fatal(err)
	}
	p.waitFor(`document.getElementById('evidence-legend') !== null`, quickUITimeout)
	if legend := p.text("#evidence-legend"); !strings.Contains(legend, "towards (warm) or away from (cool) "+native.Label.String()) ||
		!strings.Contains(legend, "gradient × input at the classifier's pooling") {
		t.Errorf("evidence legend %q does not say what it shows for %s", legend, native.Label)
	}
	p.screenshot("03-teaching")

	// Turning the mirror image off analyses the open image again, without
	// it; the ground-truth mask stays and is compared with the new mask.
	// Turning it on again analyses it with it again (timed warm, as the
	// first analysis after the model load may not be).
	p.clickFlip()
	p.waitFor(flipResultShown(false), analyzeTimeout)
	plainEncoder, plainTotal := p.timingMS("Encoder"), p.timingMS("Total")
	nativePlain := nativeResult(t, dir, benign, false)
	checkMatchesNative(t, p, nativePlain, "mirror image off")
	plainCounts, err := view.Compare(nativePlain.Mask, gt)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := strconv.ParseFloat(p.text("#dice"), 64); err != nil || math.Abs(d-plainCounts.Dice()) > diceTolerance {
		t.Errorf("after analysing again, the page's Dice reads %q (%v); the native mask's is %.3f", p.text("#dice"), err, plainCounts.Dice())
	}
	t.Logf("native, benign (1).png: with the mirror image %s %v, %d px; without %s %v, %d px (%d pixels differ)",
		native.Label, native.Probs, view.Area(native.Mask), nativePlain.Label, nativePlain.Probs, view.Area(nativePlain.Mask), maskDiff(native.Mask, nativePlain.Mask))
	p.clickFlip()
	p.waitFor(flipResultShown(true), analyzeTimeout)
	checkMatchesNative(t, p, native, "mirror image on again")
	t.Logf("benign (1).png on %s: mirror image on: encoder %.0f ms, total %.0f ms (first analysis); off: encoder %.0f ms, total %.0f ms; on again: encoder %.0f ms, total %.0f ms",
		p.text("#backend"), flipEncoder, flipTotal, plainEncoder, plainTotal, p.timingMS("Encoder"), p.timingMS("Total"))

	// The model is cached now: a second analysis fetches nothing. It is a
	// scanner's DICOM export of the same scan, JPEG baseline, with a pixel
	// spacing, so the page can give the lesion size in mm², and with the
	// patient's name and ID, which must show nowhere.
	const spacing = 0.1
	dcm := filepath.Join(t.TempDir(), "benign-1.dcm")
	writeDICOM(t, dcm, dicomFixture{Frames: []*image.Gray{greyImage(t, benign)}, JPEG: true, PixelSpacingMM: spacing,
		PatientName: fixturePatientName, PatientID: fixturePatientID})
	seen = append(seen, b.Requests()...)
	b.ResetRequests()
	if s := p.analyze(dcm); s != "done" {
		t.Fatalf("analysing %s: state %s: %s", dcm, s, p.text("#file-error"))
	}
	if reqs := b.Requests(); len(reqs) > 0 {
		t.Errorf("the second analysis made %d requests, want none: %+v", len(reqs), reqs)
	}
	if got := p.result().Label; got != native.Label.String() {
		t.Errorf("the JPEG DICOM of %s: class %q, the PNG's is %q", filepath.Base(benign), got, native.Label)
	}
	checkCaption(t, p, "DICOM")
	checkArea(t, p, spacing)
	if a := p.text("#long-axis"); a != "" && !strings.HasSuffix(a, " mm") {
		t.Errorf("with the DICOM's pixel spacing the long axis reads %q, want mm", a)
	}
	threshold, calibrated := sureThreshold(t, dir)
	if !calibrated {
		msg := fmt.Sprintf("%s serves uncalibrated heads: no Unsure state to check (./build.sh build ships %s)", dir, "weights/heads/pooled/heads.safetensors")
		if os.Getenv("CI") != "" {
			t.Error(msg)
		} else {
			t.Log(msg)
		}
	} else {
		checkCertainty(t, p, threshold, "JPEG DICOM of "+filepath.Base(benign))
	}
	checkNoPatientData(t, p, filepath.Base(dcm))
	p.screenshot("04-dicom")
	checkTablet(t, p)
	checkKeyboardOpensPicker(t, b)

	// A cine loop of three uncompressed frames, the scale in the ultrasound
	// regions sequence: the page analyses the middle frame and says so.
	// The middle frame is a scan the shipped heads are unsure about (its
	// top calibrated probability about 0.5): the page must say "Unsure".
	// The other two frames are inverted, so analysing one of them would
	// not match the native result.
	cineStart := time.Now()
	const regionSpacing = 0.08
	cine := filepath.Join(t.TempDir(), "cine-3.dcm")
	mid := greyImage(t, benign411)
	writeDICOM(t, cine, dicomFixture{Frames: []*image.Gray{inverted(mid), mid, inverted(mid)}, RegionSpacingMM: regionSpacing,
		PatientName: fixturePatientName, PatientID: fixturePatientID})
	if s := p.analyze(cine); s != "done" {
		t.Fatalf("analysing %s: state %s: %s", cine, s, p.text("#file-error"))
	}
	checkCaption(t, p, "DICOM", "cine loop: frame 2 of 3 (the middle one) analysed")
	nativeCine := nativeResult(t, dir, cine, true)
	checkMatchesNative(t, p, nativeCine, "cine loop's middle frame")
	checkArea(t, p, regionSpacing)
	if calibrated {
		if !checkCertainty(t, p, threshold, "cine loop of "+filepath.Base(benign411)) {
			t.Errorf("%s, the middle frame, was chosen as a scan the shipped heads are unsure about; now they are sure (choose another)", filepath.Base(benign411))
		}
		if !nativeCine.Calibrated || nativeCine.Sure {
			t.Errorf("the native pipeline on the cine loop: calibrated %v, sure %v; want an unsure calibrated answer", nativeCine.Calibrated, nativeCine.Sure)
		}
	}
	p.screenshot("04b-cine-unsure")

	// Teaching mode refuses the ultrasound image itself as its mask.
	checkTruthRefused(t, p, benign411, nativeCine.W, nativeCine.H)
	p.screenshot("04c-not-a-mask")
	t.Logf("the cine loop, its native check and the refused mask took %v", time.Since(cineStart).Round(time.Second))
	seen = append(seen, b.Requests()...)
	checkNoImageData(t, origin, seen, gate.requests(), filepath.Base(benign), filepath.Base(benign411),
		filepath.Base(dcm), filepath.Base(cine), fixturePatientName, fixturePatientID, "Zelda")

	// A corrupt file: an error that names it, and the app stays usable.
	corrupt := filepath.Join(t.TempDir(), "corrupt.png")
	if err := os.WriteFile(corrupt, append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 100)...), 0o644); err != nil {
		t.Fatal(err)
	}
	if s := p.analyze(corrupt); s != "error" {
		t.Errorf("a corrupt file left the app in state %q, want error", s)
	}
	if msg := p.text("#file-error"); !strings.Contains(msg, "corrupt.png") {
		t.Errorf("error message %q does not name the file", msg)
	}
	p.screenshot("05-corrupt")

	notImage := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(notImage, []byte("patient notes, not an image\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if s := p.analyze(notImage); s != "error" {
		t.Errorf("a text file left the app in state %q, want error", s)
	}
	if msg := p.text("#file-error"); !strings.Contains(msg, "notes.txt") || !strings.Contains(msg, "PNG, JPEG, BMP, TIFF, WebP, GIF or DICOM") {
		t.Errorf("error message for a text file %q should name it and the supported formats", msg)
	}

	// Drag and drop: a file dropped on the drop zone is opened like a
	// chosen one (a text file, so the check needs no model run).
	if _, err := browsertest.Eval[bool](b, `(() => {
		const dt = new DataTransfer();
		dt.items.add(new File(['just text, not pixels\n'], 'dropped.txt', {type: 'text/plain'}));
		const zone = document.getElementById('dropzone');
		for (const type of ['dragenter', 'dragover', 'drop']) {
			zone.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true}));
		}
		return true;
	})()`); err != nil {
		t.Fatal(err)
	}
	p.waitFor(`document.getElementById('app').dataset.file === 'dropped.txt' && document.getElementById('app').dataset.state === 'error'`, quickUITimeout)
	if msg := p.text("#file-error"); !strings.Contains(msg, "dropped.txt") {
		t.Errorf("dropping a file gave the message %q, which does not name it", msg)
	}

	// The mirror image off, with no result on show (the last file was
	// refused): nothing is analysed; the setting holds for the next image
	// and, below, after a reload.
	p.clickFlip()
	if s := p.state(); s != "error" || p.flipChecked() {
		t.Errorf("turning the mirror image off without a result: state %q, setting on %v", s, p.flipChecked())
	}

	// Offline: no network and no server; the service worker serves the
	// app, the model worker its cached model.
	stopServer()
	goOffline(t, b)
	if err := b.Navigate(url); err != nil {
		t.Fatalf("offline reload: %v", err)
	}
	p.waitReady()
	if p.flipChecked() {
		t.Error("the mirror-image setting turned off before the reload is on again")
	}
	if src := p.modelSource(); src != "cache" {
		t.Errorf("offline, the model came from %q, want the cache", src)
	}
	if s := p.analyze(malignant); s != "done" {
		t.Fatalf("offline analysis: state %s: %s", s, p.text("#file-error"))
	}
	nativeMalignant := nativeResult(t, dir, malignant, false)
	if got := p.result().Label; got != nativeMalignant.Label.String() {
		t.Errorf("offline: class %q for %s, native pipeline says %q", got, filepath.Base(malignant), nativeMalignant.Label)
	}
	p.screenshot("07-offline")
}

// TestModelDownloadFails serves the app with a model manifest whose files
// are missing: the page must say that the model could not be loaded and
// offer to try again, rather than hang.
func TestModelDownloadFails(t *testing.T) {
	dir := webDir(t)
	models := t.TempDir()
	man, err := os.ReadFile(filepath.Join(dir, "model", manifest.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(models, manifest.FileName), man, 0o644); err != nil {
		t.Fatal(err)
	}
	url, _ := serveConfig(t, server.Config{WebDir: dir, ModelDir: models})
	artifacts := filepath.Join(testutil.RepoRoot(t), "artifacts", "e2e")
	b := browsertest.Start(t, browsertest.Options{ArtifactsDir: artifacts, Timeout: 5 * time.Minute})
	p := page{t: t, b: b, dir: artifacts}
	if err := b.Navigate(url); err != nil {
		t.Fatal(err)
	}
	p.waitFor(`['ready', 'failed'].includes(document.getElementById('app')?.dataset.state)`, loadTimeout)
	if s := p.state(); s != "failed" {
		t.Fatalf("state %q with the model files missing, want failed", s)
	}
	msg := p.text("#load-error")
	if !strings.Contains(msg, "could not be downloaded") || !strings.Contains(msg, "404") || !strings.Contains(msg, "Try again") {
		t.Errorf("load error %q should say the model could not be loaded, why, and offer a retry", msg)
	}
	p.screenshot("08-download-failed")
}
