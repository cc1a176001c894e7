// Package app is busam's browser UI, a vugu component tree compiled to
// WebAssembly (see ../cmd/uiwasm). It runs on the page's main thread and
// only draws and reacts: image decoding and all model compute happen in
// busam.js's Web Worker, so the page never freezes while a model downloads
// or an image is analysed. The worker returns the decoded pixels for
// display; this package links no image decoders (they would double its
// download), and must keep it that way.
//
// root.vugu holds the markup; vugugen turns it into root_gen.go:
//
//go:generate go tool vugugen -skip-go-mod -skip-main .
//go:generate gofmt -w root_gen.go
package app

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/vugu/vugu"
	"github.com/vugu/vugu/js"

	"github.com/busam/busam/ui/view"
)

// CanvasID is the id of the canvas the image and overlays are drawn on;
// CanvasHostID the element that holds it.
// ReportCanvasID and ReportCanvasHostID are the report's copy of it.
const (
	CanvasID           = "view"
	CanvasHostID       = "canvas-host"
	ReportCanvasID     = "report-view"
	ReportCanvasHostID = "report-canvas-host"
)

// Phase of the model's life in this page.
type Phase int

const (
	PhaseLoading Phase = iota // downloading / preparing the model
	PhaseReady                // model loaded, waiting for an image
	PhaseFailed               // the model could not be loaded
)

// Root is the whole app's state. Fields are read by root.vugu; handlers
// mutate them with the render lock held (vugu holds it during events;
// goroutines take it through vugu.EventEnv).
type Root struct {
	env vugu.EventEnv

	Phase        Phase
	LoadFraction float64 // 0..1 of the model bytes
	LoadText     string
	LoadError    string
	client       *modelClient
	Backend      string
	ModelSource  string // "cache" when every model file came from this device's cache, else "network"
	BackendNote  string // why the backend is what it is, when that matters
	NoWebGPU     bool

	// Flip is the setting "also analyse the mirror image" (test-time
	// augmentation: more accurate, about twice the time); on unless the
	// user turned it off, which this browser remembers (flipSettingKey).
	Flip bool

	// The open image.
	file      js.Value // the File, to analyse it again when Flip changes
	FileName  string
	Meta      ImageMeta
	base      view.Frame
	Analyzing bool
	started   time.Time
	Elapsed   time.Duration
	FileError string
	Result    *analysis
	seq       int // analysis number, so a stale reply is ignored

	// The analysis under way: its stage, whether the worker is running the
	// model for it (then a cancel must stop the worker), and how long the
	// last model runs took, by mirror setting (for the progress bar).
	Stage      string // stageDecode or stageModel
	modelBusy  bool
	runStarted time.Time
	lastRun    map[bool]time.Duration
	Cancelled  bool // the user cancelled the open image's analysis
	Restarting bool // the worker is loading the model again after a cancel

	// A file opened before the model was ready: analysed once it is.
	queued     js.Value
	QueuedName string

	// Viewing: zoom and pan (a CSS transform of the canvas), brightness
	// and contrast (display only).
	vp                   view.Viewport
	drag                 *dragStart
	Brightness, Contrast int

	// Measurements: the lesion's axes (of the result's mask, in the scale
	// at hand), the user's calipers, and a calibration.
	ShowAxes    bool
	axes        *view.Axes
	Tool        string      // toolMove, toolCaliper, toolCalibrate
	pending     *view.Point // first point of a caliper or calibration line
	Calipers    []view.Segment
	calLine     *view.Segment // drawn, waiting for its length in mm
	CalMM       string
	CalError    string
	userSpacing view.Spacing // from the user's calibration; zero: none

	// The report view, and the model files it names.
	ReportOpen bool
	ReportDate string
	modelFiles []modelFile

	// Display options.
	ShowFill     bool
	ShowContour  bool
	Opacity      int // percent
	ShowEvidence bool
	ShowOverlap  bool
	DragOver     bool

	// Teaching mode: a ground-truth mask for the open image.
	TruthName  string
	truth      []uint8
	Counts     view.Counts
	TruthError string

	pixels []byte    // composed RGBA, reused between draws
	heat   []float64 // the evidence map at image size (-1..1), made on first use
}

// ImageMeta is what the open image's file says beyond its pixels.
type ImageMeta struct {
	Format string // as the worker names it: "png", "jpeg", "dicom", ...
	// PixelSpacingMM is the size of a pixel (row, column) in mm; zero
	// when the file does not record it.
	PixelSpacingMM [2]float64
	// Frames of a cine loop and the one shown and analysed (the middle).
	Frames, Frame int
}

// New returns the app in its initial state; Start begins loading the model.
func New(env vugu.EventEnv) *Root {
	return &Root{env: env, ShowFill: true, ShowContour: true, ShowAxes: true, Opacity: 35, LoadText: "Starting…",
		Flip: flipFromSetting(readSetting(flipSettingKey)), vp: view.Identity, Tool: toolMove, lastRun: map[bool]time.Duration{}}
}

// flipSettingKey is where the browser remembers the mirror-image setting
// (localStorage: a preference, not patient data).
const flipSettingKey = "busam.flip"

// flipFromSetting reads the stored mirror-image setting: on unless it was
// turned off (nothing is stored before the first change).
func flipFromSetting(v string) bool { return v != "off" }

func flipSetting(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// setFlip changes the mirror-image setting and remembers it. The result
// shown should follow the setting, so it reports whether the open image
// must be analysed again (reanalyze).
func (c *Root) setFlip(on bool) bool {
	if on == c.Flip {
		return false
	}
	c.Flip = on
	writeSetting(flipSettingKey, flipSetting(on))
	return c.Phase == PhaseReady && c.FileName != "" && (c.Analyzing || c.Result != nil)
}

// reanalyze analyses the open image again (after a change of setting),
// keeping its ground-truth mask; a reply still due for the old setting
// is ignored.
func (c *Root) reanalyze() {
	c.stopAnalysis()
	c.seq++
	seq := c.seq
	c.FileError, c.Analyzing, c.started, c.Elapsed, c.Cancelled = "", true, time.Now(), 0, false
	if c.base.W == 0 { // still decoding it
		go c.analyze(seq, c.file, c.FileName)
	} else {
		go c.runModel(seq, c.file, c.FileName)
	}
	go c.tick(seq)
}

// Start loads the model in the background, reporting progress.
func (c *Root) Start() {
	c.NoWebGPU = !hasWebGPU()
	go c.load()
}

func (c *Root) load() {
	client, info, err := loadModel(func(p loadProgress) {
		// Called from a JS callback: hand over to a goroutine rather than
		// block the event loop on the render lock.
		go func() {
			frac, text := describeProgress(p)
			c.env.Lock()
			if c.Phase != PhaseLoading || (text == c.LoadText && int(100*frac) == int(100*c.LoadFraction)) {
				c.env.UnlockOnly() // late or invisible change: no render
				return
			}
			c.LoadFraction, c.LoadText = frac, text
			c.env.UnlockRender()
		}()
	})
	c.env.Lock()
	defer c.env.UnlockRender()
	if err != nil {
		c.Phase = PhaseFailed
		c.LoadError = describeLoadError(err)
		return
	}
	c.client, c.Phase, c.LoadFraction = client, PhaseReady, 1
	c.ModelSource = "network"
	if info.FromCache {
		c.ModelSource = "cache"
	}
	c.useInfo(info)
	if c.QueuedName != "" { // opened while the model loaded: analyse it now
		file, name := c.queued, c.QueuedName
		c.openFile(file, name)
	}
}

// useInfo takes what the loaded model says about itself.
func (c *Root) useInfo(info modelInfo) {
	c.Backend, c.BackendNote = describeBackend(info.Backend, info.BackendReason, c.NoWebGPU)
	c.modelFiles = info.Files
}

// Retry reloads the model after a failed download; a file opened
// meanwhile stays queued.
func (c *Root) Retry(vugu.DOMEvent) {
	c.Phase, c.LoadError, c.LoadFraction, c.LoadText = PhaseLoading, "", 0, "Starting…"
	if c.QueuedName != "" {
		c.FileError = ""
	}
	go c.load()
}

// describeProgress turns a busam.js progress event into a fraction and a line.
func describeProgress(p loadProgress) (float64, string) {
	frac := 0.0
	if p.HasOverallSize && p.Total > 0 {
		frac = math.Min(1, p.Loaded/p.Total)
	}
	switch p.Phase {
	case "manifest":
		return 0, "Checking the model version…"
	case "download":
		verb := "Downloading"
		if p.FromCache {
			verb = "Loading from this device's cache:"
		}
		return frac, fmt.Sprintf("%s %s model (%s of %s)", verb, p.File, megabytes(p.Loaded), megabytes(p.Total))
	case "verify":
		return frac, fmt.Sprintf("Verifying the %s model…", p.File)
	case "init":
		return 1, "Preparing the model…"
	}
	return frac, "Loading the model…"
}

func megabytes(n float64) string { return fmt.Sprintf("%.1f MB", n/1e6) }

func describeLoadError(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "offline") || strings.Contains(msg, "Failed to fetch") || strings.Contains(msg, "NetworkError") {
		return "The model could not be downloaded: the network is unreachable. Connect once to download it; afterwards busam works offline. (" + msg + ")"
	}
	if strings.Contains(msg, "HTTP ") {
		return "The model could not be downloaded from this server; if trying again does not help, its model files are missing or outdated. (" + msg + ")"
	}
	if strings.Contains(msg, "SHA-256") || strings.Contains(msg, "refused") {
		return "The downloaded model failed its integrity check and was not used. Try again. (" + msg + ")"
	}
	return "The model could not be loaded: " + msg
}

// describeBackend names the compute path and, when it is the CPU, why.
func describeBackend(backend, reason string, noWebGPU bool) (name, note string) {
	switch backend {
	case "webgpu":
		return "WebGPU", ""
	case "cpu":
		if noWebGPU {
			return "CPU", "This browser does not offer WebGPU, so the model runs on the CPU (slower, same results)."
		}
		if strings.Contains(reason, "software fallback") {
			// The adapter is a CPU emulation (e.g. SwiftShader): say what that means, not the worker's log line.
			return "CPU", "WebGPU in this browser runs without a graphics card here, which is slower than the CPU path, so the model runs on the CPU (same results)."
		}
		if reason != "" {
			return "CPU", "Running on the CPU: " + reason + "."
		}
		return "CPU", ""
	}
	return backend, reason
}

// Ready reports whether an image can be analysed now.
func (c *Root) Ready() bool { return c.Phase == PhaseReady && !c.Analyzing }

// Stages of an analysis.
const (
	stageDecode = "decode"
	stageModel  = "model"
)

// openFile is called with the chosen or dropped file. An analysis still
// running for the previous file is cancelled; before the model is ready
// the file waits in the queue (one file: the latest).
func (c *Root) openFile(file js.Value, name string) {
	c.stopAnalysis()
	c.seq++
	seq := c.seq
	c.FileError, c.Result, c.truth, c.TruthName, c.TruthError, c.ShowOverlap = "", nil, nil, "", "", false
	c.file, c.FileName, c.base, c.heat = file, name, view.Frame{}, nil
	c.resetImageTools()
	if c.Phase != PhaseReady {
		c.queued, c.QueuedName = file, name
		return
	}
	c.queued, c.QueuedName = js.Undefined(), ""
	c.Analyzing, c.started, c.Elapsed, c.Stage = true, time.Now(), 0, stageDecode
	go c.analyze(seq, file, name)
	go c.tick(seq)
}

// QueuedText says that a file waits for the model.
func (c *Root) QueuedText() string {
	if c.Phase == PhaseFailed {
		return c.QueuedName + " will be analysed once the model has loaded: try loading it again above."
	}
	return "The model is still loading: " + c.QueuedName + " will be analysed as soon as it is ready."
}

// stopAnalysis forgets the analysis under way (its reply, if any, is
// ignored: the sequence number moves on) and, if the worker is running
// the model for it, stops the worker at once (busam.js's cancel: the
// worker is replaced and loads the model again from this device's cache;
// what is asked of it meanwhile waits for that). Waiting instead would
// keep the user waiting for a result they no longer want, up to a minute
// on a CPU.
func (c *Root) stopAnalysis() {
	if !c.Analyzing {
		return
	}
	c.seq++
	c.Analyzing, c.Stage = false, ""
	if !c.modelBusy || c.client == nil {
		return
	}
	c.modelBusy, c.Restarting = false, true
	reload := c.client.cancel() // now, in the handler: the worker stops at once
	go func() {
		v, err := await(reload)
		c.env.Lock()
		defer c.env.UnlockRender()
		if isCancelled(err) { // cancelled again meanwhile: that cancel's reload counts
			return
		}
		c.Restarting = false
		if err != nil {
			c.seq++ // what waited for the model fails with it
			c.Analyzing, c.modelBusy = false, false
			c.Phase, c.LoadError = PhaseFailed, describeLoadError(err)
			return
		}
		c.useInfo(readInfo(v))
	}()
}

// Cancel stops the analysis the user no longer wants; the image stays.
func (c *Root) Cancel(vugu.DOMEvent) {
	defer c.guard("cancelling the analysis")
	if c.Analyzing {
		c.stopAnalysis()
		c.Cancelled = true
	}
}

// AnalyzeAgain analyses the open image after a cancel.
func (c *Root) AnalyzeAgain(vugu.DOMEvent) {
	defer c.guard("analysing the image")
	if c.FileName != "" && c.Phase == PhaseReady && !c.Analyzing {
		c.reanalyze()
	}
}

// analyze has the worker decode the file for display, shows it, then has
// the worker analyse it.
func (c *Root) analyze(seq int, file js.Value, name string) {
	pic, err := c.client.decode(file, name)
	c.env.Lock()
	if seq != c.seq {
		c.env.UnlockOnly()
		return
	}
	if err != nil {
		c.Analyzing, c.FileError = false, describeFileError(name, err)
		c.env.UnlockRender()
		return
	}
	c.Meta, c.base = pic.Meta, pic.Frame
	c.env.UnlockRender()
	if !c.drawIfCurrent(seq) {
		return
	}
	c.runModel(seq, file, name)
}

// runModel has the worker analyse the decoded image file with the
// current setting and shows the result.
func (c *Root) runModel(seq int, file js.Value, name string) {
	c.env.Lock()
	if seq != c.seq {
		c.env.UnlockOnly()
		return
	}
	flip, client := c.Flip, c.client
	c.Stage, c.modelBusy, c.runStarted = stageModel, true, time.Now()
	c.env.UnlockRender()

	res, err := client.analyze(file, name, flip)

	c.env.Lock()
	if seq != c.seq {
		c.env.UnlockOnly()
		return
	}
	c.Analyzing, c.modelBusy, c.Stage = false, false, ""
	if err == nil {
		c.lastRun[flip] = time.Since(c.runStarted)
	}
	switch {
	case err != nil:
		c.FileError = describeFileError(name, err)
	case res.Width != c.base.W || res.Height != c.base.H:
		c.FileError = fmt.Sprintf("%s: the model analysed a %dx%d image but the page decoded %dx%d", name, res.Width, res.Height, c.base.W, c.base.H)
	default:
		c.Result, c.heat = res, nil
		c.updateAxes()
		// Dated now: Ctrl+P prints the report without it being opened.
		c.ReportDate = reportDate(localDateTime(), time.Now())
		if c.truth != nil { // analysed again: compare the new mask
			if counts, err := view.Compare(res.Mask, c.truth); err == nil {
				c.Counts = counts
			}
		}
	}
	c.env.UnlockRender()
	c.drawIfCurrent(seq)
}

// drawIfCurrent yields to the browser, then redraws the canvas if analysis
// seq is still the current one, which it reports. Splitting the work this
// way keeps each stretch of main-thread work short.
func (c *Root) drawIfCurrent(seq int) bool {
	yield()
	c.env.Lock()
	if seq != c.seq {
		c.env.UnlockOnly()
		return false
	}
	before := c.FileError
	c.redraw()
	if c.FileError != before {
		c.env.UnlockRender() // show the drawing error
	} else {
		c.env.UnlockOnly() // nothing vugu shows has changed
	}
	return true
}

// yield lets the browser run pending work (render, input) between two
// stretches of main-thread Go code: with every goroutine asleep, the Go
// runtime returns to the JavaScript event loop.
func yield() { time.Sleep(time.Millisecond) }

// tick updates the elapsed time shown while an analysis runs; once a
// second is enough for a clock and keeps re-renders rare.
func (c *Root) tick(seq int) {
	for {
		time.Sleep(time.Second)
		c.env.Lock()
		if seq != c.seq || !c.Analyzing {
			c.env.UnlockOnly()
			return
		}
		c.Elapsed = time.Since(c.started).Round(time.Second)
		c.env.UnlockRender()
	}
}

// Kinds of image-file errors, as the worker names them (engine.ErrorKind;
// root_test.go checks that the two lists agree).
const (
	kindEmpty         = "empty"
	kindUnknownFormat = "unknown-format"
	kindNotImage      = "not-image"
	kindTooLarge      = "too-large"
	kindCorrupt       = "corrupt"
	kindUnsupported   = "unsupported"
)

// describeFileError says what is wrong with a file in words for the user.
func describeFileError(name string, err error) string {
	kind := ""
	var ce *callError
	if errors.As(err, &ce) {
		kind = ce.kind
	}
	switch kind {
	case kindUnknownFormat, kindNotImage:
		return fmt.Sprintf("%s is not a supported image. Open a PNG, JPEG, BMP, TIFF, WebP, GIF or DICOM ultrasound image. (%v)", name, err)
	case kindEmpty:
		return fmt.Sprintf("%s is empty.", name)
	case kindTooLarge:
		return fmt.Sprintf("%s is too large to analyse here. (%v)", name, err)
	case kindCorrupt:
		return fmt.Sprintf("%s is damaged or incomplete and cannot be read. Export the image again and retry. (%v)", name, err)
	case kindUnsupported:
		return fmt.Sprintf("%s uses an image variant busam does not read (for example 16-bit PNG, or DICOM compressed other than as JPEG baseline). Save it as 8-bit PNG or JPEG, or export the DICOM uncompressed. (%v)", name, err)
	}
	return fmt.Sprintf("%s could not be analysed: %v", name, err)
}

// redraw composes the image and overlays and puts them on the canvas.
func (c *Root) redraw() {
	if c.base.W == 0 {
		return
	}
	if len(c.pixels) != len(c.base.Pix) {
		c.pixels = make([]byte, len(c.base.Pix))
	}
	l := view.Layers{
		ShowFill: c.ShowFill, ShowContour: c.ShowContour, Opacity: float64(c.Opacity) / 100,
		ShowOverlap: c.ShowOverlap && c.truth != nil, ShowEvidence: c.ShowEvidence,
	}
	if r := c.Result; r != nil {
		l.Mask, l.Evidence, l.EvW, l.EvH = r.Mask, r.Evidence, r.EvW, r.EvH
		if c.ShowEvidence && c.heat == nil && len(r.Evidence) == r.EvW*r.EvH && len(r.Evidence) > 0 {
			c.heat = view.EvidenceAtImage(r.Evidence, r.EvW, r.EvH, c.base.W, c.base.H)
		}
		l.Heat = c.heat
	}
	if l.ShowOverlap {
		l.Truth = c.truth
	}
	l.Window = view.WindowFromSliders(c.Brightness, c.Contrast).LUT()
	l.Lines = c.lines()
	if err := view.Compose(c.pixels, c.base, l); err != nil {
		c.FileError = err.Error()
		return
	}
	drawRGBA(c.pixels, c.base.W, c.base.H, c.vp)
}

// Rendered runs after each vugu render: if vugu replaced the canvas's
// host element, the picture is put back, and the report gets its copy.
func (c *Root) Rendered() {
	if c.base.W == 0 || len(c.pixels) != len(c.base.Pix) {
		return
	}
	if !canvasPresent(CanvasHostID, CanvasID) {
		drawRGBA(c.pixels, c.base.W, c.base.H, c.vp)
	} else if c.Result != nil && !canvasPresent(ReportCanvasHostID, ReportCanvasID) {
		copyToReport()
	}
}

// loadTruth reads a ground-truth mask for the open image (teaching mode);
// the worker decodes it.
func (c *Root) loadTruth(file js.Value, name string) {
	seq := c.seq
	w, h := c.base.W, c.base.H
	client := c.client
	go func() {
		pic, err := client.decode(file, name)
		var mask []uint8
		decoded := err == nil
		if decoded {
			mask, err = view.MaskFromImage(name, pic.Frame.Image(), w, h)
		}
		c.env.Lock()
		defer c.env.UnlockRender()
		if seq != c.seq || c.Result == nil || isCancelled(err) {
			return
		}
		if err != nil && !decoded {
			c.TruthError = describeFileError(name, err)
			return
		}
		if err != nil { // read, but not a mask for this image: MaskFromImage says why, naming the file
			c.TruthError = err.Error()
			return
		}
		counts, err := view.Compare(c.Result.Mask, mask)
		if err != nil {
			c.TruthError = err.Error()
			return
		}
		c.truth, c.TruthName, c.TruthError, c.Counts, c.ShowOverlap = mask, name, "", counts, true
		c.redraw()
	}()
}

// --- values the markup shows ---

// ClassRow is one class probability line.
type ClassRow struct {
	Key, Name string
	Prob      float64
	Predicted bool
}

// Classes lists the probabilities in a fixed order.
func (c *Root) Classes() []ClassRow {
	if c.Result == nil {
		return nil
	}
	var rows []ClassRow
	for _, k := range []string{"normal", "benign", "malignant"} {
		p, ok := c.Result.Probs[k]
		if !ok {
			continue
		}
		rows = append(rows, ClassRow{Key: k, Name: title(k), Prob: p, Predicted: k == c.Result.Label})
	}
	return rows
}

// LabelText is the predicted class, capitalised.
func (c *Root) LabelText() string {
	if c.Result == nil {
		return ""
	}
	if c.Result.NotUltrasound {
		return "None: not a breast ultrasound image?"
	}
	return title(c.Result.Label)
}

// TypicalityText warns when the image is unlike every image the model was
// trained on: its answer may then be wrong in ways the probabilities do not
// show.
func (c *Root) TypicalityText() string {
	switch r := c.Result; {
	case r == nil:
		return ""
	case r.NotUltrasound:
		return "This image does not look like a breast ultrasound image: it is far from every image the model was trained on " +
			"(farther than any held-out scan). Nothing is outlined and no class is given. If it is an ultrasound image, it may be cropped, inverted or heavily annotated."
	case r.Unusual:
		return "Unusual image: it is less like the training images than 99% of held-out scans (another scanner, setting or annotation?). " +
			"Treat the outline and the class with extra care."
	}
	return ""
}

func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Percent formats a probability. A model's probability is never certainty:
// the ends are shown as "> 99.9%" and "< 0.1%", not "100.0%" and "0.0%".
func Percent(p float64) string {
	switch {
	case p > 0.999:
		return "> 99.9%"
	case p < 0.001:
		return "< 0.1%"
	}
	return fmt.Sprintf("%.1f%%", 100*p)
}

// mirrorDisagrees is how far apart the image's and its mirror image's
// probabilities of the predicted class may be before the page says so.
const mirrorDisagrees = 0.2

// MirrorText says when the image and its mirror image read differently: a
// sign that the answer hangs on details the model should not care about.
func (c *Root) MirrorText() string {
	r := c.Result
	if r == nil || len(r.Views) != 2 {
		return ""
	}
	top := func(m map[string]float64) string {
		best := ""
		for _, k := range []string{"normal", "benign", "malignant"} {
			if p, ok := m[k]; ok && (best == "" || p > m[best]) {
				best = k
			}
		}
		return best
	}
	a, b := r.Views[0], r.Views[1]
	ta, tb := top(a), top(b)
	if ta == tb && math.Abs(a[r.Label]-b[r.Label]) < mirrorDisagrees {
		return ""
	}
	return fmt.Sprintf("The image and its mirror image read differently: the image alone %s %s, the mirror image alone %s %s. The result averages the two; treat it with care.",
		Percent(a[ta]), ta, Percent(b[tb]), tb)
}

// Unsure reports a calibrated answer below the "sure" threshold.
func (c *Root) Unsure() bool { return c.Result != nil && c.Result.Calibrated && !c.Result.Sure }

// CertaintyText says in plain words how far to trust the class: how often
// answers as confident as this one were right on held-out images.
func (c *Root) CertaintyText() string {
	r := c.Result
	if r == nil || !r.Calibrated {
		return ""
	}
	acc := fmt.Sprintf("%.0f%%", 100*r.SureAccuracy)
	if r.Sure {
		return "Confident answer: on held-out images, answers this confident were right " + acc + " of the time."
	}
	return "Unsure: the model is not confident enough to name a class reliably (on held-out images only answers more confident than this were right " +
		acc + " of the time). Read the class as a guess and the probabilities below as close."
}

// AreaText is the lesion area in pixels and, with a pixel spacing, mm².
func (c *Root) AreaText() string {
	if c.Result == nil {
		return ""
	}
	px := view.Area(c.Result.Mask)
	if px == 0 {
		return "No lesion segmented"
	}
	s := fmt.Sprintf("%d px", px)
	if mm2, ok := view.AreaMM2(px, c.spacingRC()); ok {
		s += fmt.Sprintf(" · %.1f mm²", mm2)
	}
	return s
}

// AreaNote explains a missing mm² value.
func (c *Root) AreaNote() string {
	if c.Result == nil || view.Area(c.Result.Mask) == 0 {
		return ""
	}
	if c.spacing().Known() {
		return c.SpacingText()
	}
	return "Sizes in mm need a pixel spacing; this file does not record one (DICOM files usually do). Calibrate on a scale to set one."
}

// TimingRows lists the per-stage timings in pipeline order.
func (c *Root) TimingRows() [][2]string {
	if c.Result == nil {
		return nil
	}
	var rows [][2]string
	for _, k := range []string{"decode", "preprocess", "encoder", "heads", "postprocess", "total"} {
		if v, ok := c.Result.Timings[k]; ok {
			rows = append(rows, [2]string{title(k), formatMS(v)})
		}
	}
	return rows
}

func formatMS(ms float64) string {
	if ms >= 1000 {
		return fmt.Sprintf("%.2f s", ms/1000)
	}
	return fmt.Sprintf("%.0f ms", ms)
}

// DiceText is the teaching-mode agreement.
func (c *Root) DiceText() string { return fmt.Sprintf("%.3f", c.Counts.Dice()) }

// ElapsedText is shown while analysing.
func (c *Root) ElapsedText() string { return fmt.Sprintf("%.0f s", c.Elapsed.Seconds()) }

// LoadPercent is the model download progress for the <progress> element.
func (c *Root) LoadPercent() string { return fmt.Sprintf("%.0f", 100*c.LoadFraction) }

// HasImage reports whether an image is on the canvas.
func (c *Root) HasImage() bool { return c.base.W > 0 }

// ImageSize describes the open image.
func (c *Root) ImageSize() string {
	s := fmt.Sprintf("%d × %d px", c.base.W, c.base.H)
	if c.Meta.Format != "" {
		s += " · " + strings.ToUpper(c.Meta.Format)
	}
	if c.Meta.Frames > 1 {
		s += fmt.Sprintf(" · cine loop: frame %d of %d (the middle one) analysed", c.Meta.Frame+1, c.Meta.Frames)
	}
	return s
}

// report assembles the JSON export.
func (c *Root) report() view.Report {
	r := c.Result
	rep := view.Report{
		Tool: "busam", File: c.FileName, Format: c.Meta.Format, Width: r.Width, Height: r.Height,
		Label: r.Label, Probabilities: r.Probs, LesionAreaPx: view.Area(r.Mask),
		Backend: r.Backend, TimingsMS: r.Timings, MirrorImage: r.Flip,
	}
	if mm2, ok := view.AreaMM2(rep.LesionAreaPx, c.spacingRC()); ok {
		sp := c.spacingRC()
		rep.LesionAreaMM2, rep.PixelSpacingMM, rep.SpacingSource = &mm2, &sp, c.spacingSource()
	}
	rep.ModelVersion, rep.Certainty = c.ModelVersion(), c.CertaintyText()
	sp := c.spacing()
	if c.axes != nil {
		long, short := view.LengthOf(c.axes.Long, sp), view.LengthOf(c.axes.Short, sp)
		rep.LongAxis, rep.ShortAxis = &long, &short
	}
	for _, s := range c.Calipers {
		rep.Calipers = append(rep.Calipers, view.LengthOf(s, sp))
	}
	if c.truth != nil {
		rep.GroundTruth = &view.TruthReport{File: c.TruthName, Dice: c.Counts.Dice(), TP: c.Counts.TP, FP: c.Counts.FP, FN: c.Counts.FN}
	}
	return rep
}

// State summarises the app for the page (data-state) and tests:
// loading, failed, ready, analyzing, done or error.
func (c *Root) State() string {
	switch {
	case c.Phase == PhaseLoading:
		return "loading"
	case c.Phase == PhaseFailed:
		return "failed"
	case c.Analyzing:
		return "analyzing"
	case c.FileError != "":
		return "error"
	case c.Result != nil:
		return "done"
	}
	return "ready"
}

// AppClass marks the app while the report is shown instead.
func (c *Root) AppClass() string {
	if c.ReportOpen && c.Result != nil {
		return "app reporting"
	}
	return "app"
}

// FigureClass hides the canvas until an image is open.
func (c *Root) FigureClass() string {
	if c.HasImage() {
		return "figure"
	}
	return "figure figure-empty"
}

// CanvasLabel describes the canvas for screen readers.
func (c *Root) CanvasLabel() string {
	if c.Result != nil {
		return fmt.Sprintf("%s with the lesion outlined; predicted %s", c.FileName, c.Result.Label)
	}
	return "The analysed image"
}

// LabelClass colours the predicted class.
func (c *Root) LabelClass() string {
	if c.Result == nil {
		return "label"
	}
	if c.Unsure() || c.Result.NotUltrasound {
		return "label label-unsure"
	}
	return "label label-" + c.Result.Label
}

// RowClass marks the predicted class's probability row.
func (c *Root) RowClass(r ClassRow) string {
	if r.Predicted {
		return "prob prob-predicted"
	}
	return "prob"
}

// EvidenceLegend says what the evidence overlay shows, for the class it
// explains (the most probable one, even when the answer is unsure).
func (c *Root) EvidenceLegend() string {
	if c.Result == nil {
		return ""
	}
	return fmt.Sprintf("Where the image's features pushed the classifier towards (warm) or away from (cool) %s; "+
		"gradient × input at the classifier's pooling, 16-pixel cells of the model's input, scaled to the strongest.", c.Result.Label)
}

// OpacityValue and OpacityText feed the opacity slider.
func (c *Root) OpacityValue() string { return fmt.Sprint(c.Opacity) }
func (c *Root) OpacityText() string  { return fmt.Sprintf("%d%%", c.Opacity) }

// FlipText says whether the result shown used the mirror image.
func (c *Root) FlipText() string {
	switch {
	case c.Result == nil:
		return ""
	case c.Result.Flip:
		return "Also analysed; the two results are averaged"
	}
	return "Not analysed (setting off)"
}

// TotalText is the analysis time shown next to the backend.
func (c *Root) TotalText() string {
	if c.Result == nil {
		return ""
	}
	if t, ok := c.Result.Timings["total"]; ok {
		return " · " + formatMS(t)
	}
	return ""
}
