package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/busam/busam/internal/browsertest"
	"github.com/busam/busam/model/cpu/wasmsimd/checksite"
	"github.com/busam/busam/wasm/assemble"
)

func init() {
	registerBench("browser", "headless Chromium: busam (WebGPU, Go wasm + SIMD) vs onnxruntime-web on one BUSI image; download sizes", benchBrowser)
}

type browserBenchOpts struct {
	size, full, reps        int
	image, weights, onnx    string
	ortweb, web, out        string
	chromium                string
	webgpu, plainFull, gemm bool
}

func benchBrowser(args []string) error {
	root := repoRoot()
	cache := os.Getenv("BUSAM_CACHE")
	if cache == "" {
		cache = filepath.Join(root, ".cache")
	}
	data := os.Getenv("BUSAM_DATA")
	if data == "" {
		data = filepath.Join(root, "..", "shared", "data", "Dataset_BUSI_with_GT")
	}
	var o browserBenchOpts
	fs := flag.NewFlagSet("bench browser", flag.ContinueOnError)
	fs.IntVar(&o.size, "size", 256, "reduced square input size (multiple of 16, 128..2032): WebGPU runs here (SwiftShader needs minutes at 1024)")
	fs.IntVar(&o.full, "full", 1024, "full input size for the CPU backends (0: skip)")
	fs.IntVar(&o.reps, "reps", 3, "timed runs after the warm-up (the median is reported)")
	fs.StringVar(&o.image, "image", filepath.Join(data, "benign", "benign (1).png"), "the image every backend encodes")
	fs.StringVar(&o.weights, "weights", filepath.Join(cache, "weights", "encoder.safetensors"), "busam encoder weights")
	fs.StringVar(&o.onnx, "onnx", filepath.Join(cache, "weights", "encoder.onnx"), "the same encoder as ONNX (1024 export; resized with tools/ortweb/resize.mjs)")
	fs.StringVar(&o.ortweb, "ortweb", filepath.Join(root, "tools", "ortweb"), "folder with bench.html and node_modules/onnxruntime-web (npm ci --ignore-scripts)")
	fs.StringVar(&o.web, "web", filepath.Join(root, "dist", "web"), "assembled app whose first-visit download is measured ('' to skip)")
	fs.StringVar(&o.out, "out", filepath.Join(cache, "bench", "browser.md"), "Markdown file the table is written to")
	chromium := os.Getenv("BUSAM_CHROMIUM")
	if chromium == "" {
		chromium = browsertest.DefaultChromium
	}
	fs.StringVar(&o.chromium, "chromium", chromium, "browser executable (default $BUSAM_CHROMIUM, else Debian's)")
	fs.BoolVar(&o.webgpu, "webgpu", true, "run the WebGPU backends (at -size)")
	fs.BoolVar(&o.plainFull, "plain-full", false, "also run the plain-Go CPU path at -full (minutes)")
	fs.BoolVar(&o.gemm, "gemm", true, "also time Gemm in the page: plain-Go vs wasm SIMD kernel")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.reps < 1 || o.size%16 != 0 || o.size < 128 || o.size > 2032 || (o.full != 0 && o.full%16 != 0) {
		return fmt.Errorf("bench browser: bad -reps %d / -size %d / -full %d", o.reps, o.size, o.full)
	}
	for _, p := range []string{o.image, o.weights, o.onnx, filepath.Join(o.ortweb, "node_modules", "onnxruntime-web", "dist", "ort.wasm.min.mjs")} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("bench browser: %w (weights: busam weights; onnxruntime-web: cd tools/ortweb && npm ci --ignore-scripts)", err)
		}
	}
	md, err := runBrowserBench(o)
	if err != nil {
		return err
	}
	fmt.Print(md)
	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(o.out, []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "written to %s\n", o.out)
	return nil
}

// repoRoot is the module root above the working directory (testutil's
// RepoRoot wants a testing.TB).
func repoRoot() string {
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

func runBrowserBench(o browserBenchOpts) (string, error) {
	tmp, err := os.MkdirTemp("", "busam-bench-browser-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	logf := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "[%s] "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
	}

	logf("building the wasm programs")
	site := filepath.Join(tmp, "busam")
	if err := checksite.Build(site); err != nil {
		return "", err
	}
	if err := checksite.BuildWasm(site, "github.com/busam/busam/model/cpu/wasmsimd/cmd/browserbench", "browserbench.wasm"); err != nil {
		return "", err
	}
	models := filepath.Join(tmp, "model")
	if err := os.MkdirAll(models, 0o755); err != nil {
		return "", err
	}
	onnxFor := map[int]string{1024: o.onnx}
	for _, s := range []int{o.size, o.full} {
		if s == 0 || s == 1024 {
			continue
		}
		out := filepath.Join(models, fmt.Sprintf("encoder_%d.onnx", s))
		cmd := exec.Command("node", filepath.Join(o.ortweb, "resize.mjs"), o.onnx, fmt.Sprint(s), out)
		if msg, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("bench browser: resizing the ONNX encoder to %d: %v\n%s", s, err, msg)
		}
		onnxFor[s] = out
	}

	mux := http.NewServeMux()
	mux.Handle("/busam/", http.StripPrefix("/busam/", http.FileServer(http.Dir(site))))
	mux.Handle("/ortweb/", http.StripPrefix("/ortweb/", http.FileServer(http.Dir(o.ortweb))))
	serveFile := func(route, path string) {
		mux.HandleFunc(route, func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, path) })
	}
	serveFile("/model/encoder.safetensors", o.weights)
	for s, p := range onnxFor {
		serveFile(fmt.Sprintf("/model/encoder_%d.onnx", s), p)
	}
	serveFile("/image"+filepath.Ext(o.image), o.image)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: checksite.Isolated(mux)}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()

	allocOpts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(o.chromium), chromedp.UserDataDir(filepath.Join(tmp, "profile"))}
	for k, v := range browsertest.Flags {
		allocOpts = append(allocOpts, chromedp.Flag(k, v))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	actx, cancelA := chromedp.NewExecAllocator(ctx, allocOpts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			logf("page exception: %s %s", e.ExceptionDetails.Text, exceptionText(e.ExceptionDetails))
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, strings.Trim(string(a.Value), `"`))
				}
				logf("console %s: %s", e.Type, strings.Join(parts, " "))
			}
		}
	}))
	defer cancelB()
	eval := func(expr string, v any) error {
		raw, err := chromedp.Run(bctx, chromedp.Evaluate[json.RawMessage](expr, chromedp.EvalAwaitPromise))
		if err != nil {
			return fmt.Errorf("bench browser: %s: %w", expr, err)
		}
		return json.Unmarshal(raw, v)
	}
	navigate := func(url, ready string) error {
		if err := chromedp.Do(bctx, chromedp.Navigate(url)); err != nil {
			return fmt.Errorf("bench browser: %s: %w", url, err)
		}
		for range 600 {
			var ok bool
			if err := eval(fmt.Sprintf("!!(%s)", ready), &ok); err == nil && ok {
				return nil
			}
			time.Sleep(100 * time.Millisecond)
		}
		return fmt.Errorf("bench browser: %s: %s never became true", url, ready)
	}

	r := browserResults{opts: o}
	if o.gemm {
		logf("Gemm: plain Go vs wasm SIMD")
		if err := navigate(fmt.Sprintf("%s/busam/index.html?bench=1&reps=%d", base, o.reps), "globalThis.simdcheck"); err != nil {
			return "", err
		}
		var s string
		if err := eval("globalThis.simdcheck", &s); err != nil {
			return "", err
		}
		if r.gemm, err = checksite.ParseReport(s); err != nil {
			return "", err
		}
		if r.gemm.Error != "" {
			return "", fmt.Errorf("bench browser: gemm page: %s", r.gemm.Error)
		}
	}

	if err := navigate(base+"/ortweb/bench.html", "globalThis.benchPage"); err != nil {
		return "", err
	}
	logf("loading busam")
	if err := eval(fmt.Sprintf("benchPage.init(%q, %q)", "/model/encoder.safetensors", "/image"+filepath.Ext(o.image)), &r.info); err != nil {
		return "", err
	}
	if !r.info.CrossOriginIsolated {
		logf("warning: the page is not cross-origin isolated; onnxruntime-web falls back to 1 thread")
	}
	sizes := []int{o.size}
	if o.full != 0 && o.full != o.size {
		sizes = append(sizes, o.full)
	}
	for _, s := range sizes {
		var p prepInfo
		if err := eval(fmt.Sprintf("benchPage.prepare(%d)", s), &p); err != nil {
			return "", err
		}
		r.prep = append(r.prep, p)
		steps := []struct{ label, expr string }{
			{"onnxruntime-web wasm, 2 threads", fmt.Sprintf("benchPage.ort('wasm', %d, %d, 2, '/model/encoder_%d.onnx')", s, o.reps, s)},
			{"busam CPU, wasm SIMD", fmt.Sprintf("benchPage.busamCPU(%d, true, %d)", s, o.reps)},
		}
		if s == o.size || o.plainFull {
			steps = append(steps, struct{ label, expr string }{"busam CPU, plain Go", fmt.Sprintf("benchPage.busamCPU(%d, false, %d)", s, o.reps)})
		}
		if s == o.size && o.webgpu {
			steps = append(steps,
				struct{ label, expr string }{"busam WebGPU", fmt.Sprintf("benchPage.busamGPU(%d, %d)", s, o.reps)},
				struct{ label, expr string }{"onnxruntime-web WebGPU", fmt.Sprintf("benchPage.ort('webgpu', %d, %d, 2, '/model/encoder_%d.onnx')", s, o.reps, s)},
			)
		}
		for _, st := range steps {
			logf("%d: %s", s, st.label)
			var run runResult
			if err := eval(st.expr, &run); err != nil {
				return "", err
			}
			logf("%d: %s: median %.0f ms (warm-up %.0f ms)", s, st.label, run.MedianMs, run.WarmupMs)
			r.runs = append(r.runs, run)
		}
	}
	if o.web != "" {
		if r.download, err = firstVisit(o.web); err != nil {
			logf("download sizes: %v", err)
		}
	}
	ortDL, err := ortDownload(o.ortweb, o.onnx)
	if err != nil {
		logf("onnxruntime-web download sizes: %v", err)
	}
	r.ortDownload = ortDL
	return r.markdown(), nil
}

type loadInfo struct {
	FetchMs             float64 `json:"fetchMs"`
	ParseMs             float64 `json:"parseMs"`
	BuildMs             float64 `json:"buildMs"`
	Kernel              string  `json:"kernel"`
	SIMD                bool    `json:"simd"`
	SIMDError           string  `json:"simdError"`
	CrossOriginIsolated bool    `json:"crossOriginIsolated"`
	UserAgent           string  `json:"userAgent"`
}

type prepInfo struct {
	DecodeMs     float64 `json:"decodeMs"`
	PreprocessMs float64 `json:"preprocessMs"`
	Width        int     `json:"width"`
	Height       int     `json:"height"`
}

type runResult struct {
	Name        string    `json:"name"`
	Size        int       `json:"size"`
	SetupMs     float64   `json:"setupMs"`
	WarmupMs    float64   `json:"warmupMs"`
	Times       []float64 `json:"times"`
	MedianMs    float64   `json:"medianMs"`
	MaxAbsDiff  *float64  `json:"maxAbsDiff"`
	DiffAgainst string    `json:"diffAgainst"`
	Kernel      string    `json:"kernel"`
	Threads     *int      `json:"threads"`
}

// download is the bytes of one set of files: raw, gzip and brotli.
type download struct {
	files                int
	raw, gzip, brotli    int64
	weights              int64 // raw bytes of model files
	weightsGz, weightsBr int64
}

type browserResults struct {
	opts        browserBenchOpts
	gemm        checksite.Report
	info        loadInfo
	prep        []prepInfo
	runs        []runResult
	download    download
	ortDownload download
}

// firstVisit sums what a first visit to the assembled app downloads: every
// asset in assets.json plus the model files of model/manifest.json, raw and
// as the .gz/.br siblings the assembler wrote (computed where missing).
func firstVisit(dir string) (download, error) {
	var d download
	assets := map[string]string{}
	raw, err := os.ReadFile(filepath.Join(dir, "assets.json"))
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal(raw, &assets); err != nil {
		return d, fmt.Errorf("%s: %w", filepath.Join(dir, "assets.json"), err)
	}
	var files []string
	for _, served := range assets {
		files = append(files, filepath.Join(dir, filepath.FromSlash(served)))
	}
	var man struct {
		Files []struct {
			Path string `json:"path"`
		} `json:"files"`
	}
	if raw, err := os.ReadFile(filepath.Join(dir, "model", "manifest.json")); err == nil {
		if err := json.Unmarshal(raw, &man); err != nil {
			return d, fmt.Errorf("%s: %w", filepath.Join(dir, "model", "manifest.json"), err)
		}
		files = append(files, filepath.Join(dir, "model", "manifest.json"))
		for _, f := range man.Files {
			p := filepath.Join(dir, "model", filepath.FromSlash(f.Path)) // relative to the manifest
			files = append(files, p)
			st, err := os.Stat(p)
			if err != nil {
				return d, err
			}
			gz, br, err := compressedSizes(p)
			if err != nil {
				return d, err
			}
			d.weights += st.Size()
			d.weightsGz += gz
			d.weightsBr += br
		}
	}
	return d, addSizes(&d, files)
}

// ortDownload is onnxruntime-web's side: its wasm-backend files (the .mjs
// and the threaded SIMD .wasm) and the fp32 ONNX model.
func ortDownload(ortweb, onnx string) (download, error) {
	dist := filepath.Join(ortweb, "node_modules", "onnxruntime-web", "dist")
	var d download
	if err := addSizes(&d, []string{filepath.Join(dist, "ort.wasm.min.mjs"), filepath.Join(dist, "ort-wasm-simd-threaded.mjs"), filepath.Join(dist, "ort-wasm-simd-threaded.wasm"), onnx}); err != nil {
		return d, err
	}
	st, err := os.Stat(onnx)
	if err != nil {
		return d, err
	}
	d.weights = st.Size()
	d.weightsGz, d.weightsBr, err = compressedSizes(onnx)
	return d, err
}

func addSizes(d *download, files []string) error {
	for _, p := range files {
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		gz, br, err := compressedSizes(p)
		if err != nil {
			return err
		}
		d.files++
		d.raw += st.Size()
		d.gzip += gz
		d.brotli += br
	}
	return nil
}

// compressedSizes returns the sizes of p.gz and p.br when they exist, else
// of p compressed as the assembled app would (wasm/assemble.Compressed).
func compressedSizes(p string) (gz, br int64, err error) {
	if st, err := os.Stat(p + ".gz"); err == nil {
		gz = st.Size()
	}
	if st, err := os.Stat(p + ".br"); err == nil {
		br = st.Size()
	}
	if gz > 0 && br > 0 {
		return gz, br, nil
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return 0, 0, err
	}
	g, b, err := assemble.Compressed(p, data, false)
	if err != nil {
		return 0, 0, err
	}
	if gz == 0 {
		gz = int64(len(g))
	}
	if br == 0 {
		br = int64(len(b))
	}
	return gz, br, nil
}

func (r browserResults) markdown() string {
	var b bytes.Buffer
	o := r.opts
	fmt.Fprintf(&b, "### Browser: busam vs onnxruntime-web (headless Chromium, %s)\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "Command: `busam bench browser -size %d -full %d -reps %d` (image `%s`). One page, served from loopback with COOP/COEP (cross-origin isolated: %v). Each row: one warm-up run, then the median of %d.\n\n",
		o.size, o.full, o.reps, filepath.Base(o.image), r.info.CrossOriginIsolated, o.reps)
	b.WriteString("**WebGPU here is SwiftShader, a CPU emulation of a GPU: its times say nothing about a real GPU, only the ratio between the two WebGPU rows means something.** The machine is a shared 2-core VM; compare rows of one run, not runs.\n\n")
	b.WriteString("| backend | input | setup ms | warm-up ms | median ms | runs (ms) | max abs diff vs |\n|---|---|---:|---:|---:|---|---|\n")
	for _, run := range r.runs {
		name := run.Name
		if run.Threads != nil {
			name += fmt.Sprintf(" (%d threads)", *run.Threads)
		}
		if run.Kernel != "" {
			name += fmt.Sprintf(" [`%s`]", run.Kernel)
		}
		diff := "(reference)"
		if run.MaxAbsDiff != nil {
			diff = fmt.Sprintf("%.2g vs %s", *run.MaxAbsDiff, run.DiffAgainst)
		}
		var ts []string
		for _, t := range run.Times {
			ts = append(ts, fmt.Sprintf("%.0f", t))
		}
		fmt.Fprintf(&b, "| %s | %d | %.0f | %.0f | **%.0f** | %s | %s |\n", name, run.Size, run.SetupMs, run.WarmupMs, run.MedianMs, strings.Join(ts, ", "), diff)
	}
	b.WriteString("\nRatios (median vs median, same size):\n\n")
	find := func(name string, size int) *runResult {
		for i := range r.runs {
			if r.runs[i].Size == size && strings.HasPrefix(r.runs[i].Name, name) {
				return &r.runs[i]
			}
		}
		return nil
	}
	for _, s := range []int{o.size, o.full} {
		for _, pair := range [][2]string{
			{"busam cpu (wasm SIMD)", "onnxruntime-web wasm"},
			{"busam cpu (wasm SIMD)", "busam cpu (plain Go)"},
			{"busam webgpu", "onnxruntime-web webgpu"},
		} {
			a, c := find(pair[0], s), find(pair[1], s)
			if a != nil && c != nil && a.MedianMs > 0 {
				fmt.Fprintf(&b, "- %d: %s takes %.2fx the time of %s\n", s, pair[0], a.MedianMs/c.MedianMs, pair[1])
			}
		}
	}
	b.WriteString("\nbusam stages (Go wasm in the page): ")
	fmt.Fprintf(&b, "weights fetch %.0f ms, safetensors parse %.0f ms, CPU encoder build %.0f ms", r.info.FetchMs, r.info.ParseMs, r.info.BuildMs)
	for i, p := range r.prep {
		s := o.size
		if i == 1 {
			s = o.full
		}
		fmt.Fprintf(&b, "; %dx%d PNG decode %.0f ms, preprocess to %d %.0f ms", p.Width, p.Height, p.DecodeMs, s, p.PreprocessMs)
	}
	b.WriteString(". Setup for WebGPU rows = device + weight upload (busam) or session creation (onnxruntime-web).\n")
	if len(r.gemm.Bench) > 0 {
		fmt.Fprintf(&b, "\nKernels in the page (Go wasm, simdcheck), plain Go vs wasm SIMD, median of %d after a warm-up (GEMM C = A*B on `%s`; GELU, softmax, depthwise: package model/cpu/wasmsimd):\n\n| kernel | plain Go | wasm SIMD | speed-up |\n|---|---:|---:|---:|\n", o.reps, r.gemm.Kernel)
		for _, g := range r.gemm.Bench {
			if g.PlainGoGFLOPs > 0 {
				fmt.Fprintf(&b, "| %s | %.2f GFLOP/s | %.2f GFLOP/s | %.1fx |\n", g.Name, g.PlainGoGFLOPs, g.SIMDGFLOPs, g.PlainGoMs/g.SIMDMs)
				continue
			}
			fmt.Fprintf(&b, "| %s | %.1f ms | %.1f ms | %.1fx |\n", g.Name, g.PlainGoMs, g.SIMDMs, g.PlainGoMs/g.SIMDMs)
		}
	}
	mib := func(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
	b.WriteString("\nFirst visit downloads:\n\n| what | files | raw | gzip | brotli | of which weights (raw / gz / br) |\n|---|---:|---:|---:|---:|---|\n")
	if d := r.download; d.files > 0 {
		fmt.Fprintf(&b, "| busam app (`%s`: assets.json + model/manifest.json) | %d | %s | %s | %s | %s / %s / %s |\n", o.web, d.files, mib(d.raw), mib(d.gzip), mib(d.brotli), mib(d.weights), mib(d.weightsGz), mib(d.weightsBr))
	}
	if d := r.ortDownload; d.files > 0 {
		fmt.Fprintf(&b, "| onnxruntime-web wasm backend + encoder.onnx (fp32), no app code | %d | %s | %s | %s | %s / %s / %s |\n", d.files, mib(d.raw), mib(d.gzip), mib(d.brotli), mib(d.weights), mib(d.weightsGz), mib(d.weightsBr))
	}
	if r.info.UserAgent != "" {
		fmt.Fprintf(&b, "\nBrowser: %s\n", r.info.UserAgent)
	}
	return b.String()
}

// exceptionText is the description of a thrown value (e.g. an Error's
// message and stack), or "".
func exceptionText(d *runtime.ExceptionDetails) string {
	if d == nil || d.Exception == nil {
		return ""
	}
	return d.Exception.Description
}
