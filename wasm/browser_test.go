//go:build !js

// Package wasm holds busam's browser side: the Go WebAssembly module
// (cmd/busamwasm), its JavaScript glue (worker.js, busam.js), the assembler
// of dist/web (cmd/assemble) and this end-to-end test, which runs the built
// app in headless Chromium and compares it with the native Go pipeline.
package wasm_test

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/busam/busam/imageio"
	"github.com/busam/busam/internal/browsertest"
	"github.com/busam/busam/internal/testutil"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/pipeline"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/modelfile"
	"github.com/busam/busam/server"
	"github.com/busam/busam/wasm/assemble"
	"github.com/busam/busam/wasm/engine"
	"github.com/busam/busam/wasm/manifest"
)

// testImage is a real BUSI scan with a lesion.
const testImage = "benign/benign (1).png"

// inputSize of the encoder in browser tests: a full 1024x1024 pass takes
// minutes in Go's wasm (no SIMD, one thread), 256 takes seconds and runs
// every layer all the same.
const inputSize = 256

type serverRequest struct {
	Method, Path string
	BodyBytes    int
}

// site serves the built app (dist/web) with a chosen model folder and the
// test page under /test/, through the real server.Handler, and records
// every request that reaches it.
type site struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []serverRequest
}

func newSite(t testing.TB, webDir, modelDir string) *site {
	t.Helper()
	app, err := server.New(server.Config{WebDir: webDir, ModelDir: modelDir})
	if err != nil {
		t.Fatal(err)
	}
	page, err := server.New(server.Config{WebDir: filepath.Join(testutil.RepoRoot(t), "wasm", "testdata")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close(); page.Close() })
	s := &site{}
	testPage := http.StripPrefix("/test", page)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, io.LimitReader(r.Body, 1<<30))
		s.mu.Lock()
		s.reqs = append(s.reqs, serverRequest{r.Method, r.URL.Path, int(n)})
		s.mu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/test/") {
			testPage.ServeHTTP(w, r)
			return
		}
		app.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *site) requests() []serverRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]serverRequest(nil), s.reqs...)
}

func (s *site) reset() {
	s.mu.Lock()
	s.reqs = nil
	s.mu.Unlock()
}

// distDir is the built app, or a skip (a failure under CI).
func distDir(t testing.TB) string {
	t.Helper()
	p := testutil.Need(t, filepath.Join(testutil.RepoRoot(t), "dist", "web", assemble.AssetsFile),
		"the built web app (./build.sh build, or go run ./wasm/cmd/assemble)")
	return filepath.Dir(p)
}

// modelDir returns the app's model folder when it is complete (trained
// heads); otherwise it publishes the encoder with seeded random heads in a
// temporary folder. Either way the browser and the native reference run
// the same files.
func modelDir(t testing.TB, dist, imgPath string) string {
	t.Helper()
	dir := filepath.Join(dist, "model")
	if data, err := os.ReadFile(filepath.Join(dir, manifest.FileName)); err == nil {
		if m, err := manifest.Parse("dist manifest", data); err == nil {
			if _, ok := m.File(manifest.RoleHeads); ok {
				return dir
			}
		}
	}
	encPath := testutil.Need(t, filepath.Join(testutil.CacheDir(t), "weights", "encoder.safetensors"), "converted encoder weights")
	h, err := heads.New(heads.DefaultConfig("conv"))
	if err != nil {
		t.Fatal(err)
	}
	calibrate(t, h, encPath, imgPath)
	tmp := t.TempDir()
	headsPath := filepath.Join(tmp, "heads.safetensors")
	if err := h.Save(headsPath); err != nil {
		t.Fatal(err)
	}
	t.Logf("dist/web has no trained heads: testing with seeded random heads")
	out := filepath.Join(tmp, "site")
	// Compressed like a real build, so downloads go through Content-Encoding.
	if _, err := assemble.Run(assemble.Options{Out: out, Compress: true, Models: []assemble.ModelFile{
		{Role: manifest.RoleEncoder, Src: encPath}, {Role: manifest.RoleHeads, Src: headsPath},
	}}); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(out, "model")
}

// calibrate shifts the random heads' mask bias so that about half of the
// test image is "lesion": an all-empty mask would make the mask
// comparison pass trivially.
func calibrate(t testing.TB, h *heads.Model, encPath, imgPath string) {
	t.Helper()
	enc, err := modelfile.LoadEncoder(encPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	img, err := imageio.Load(imgPath)
	if err != nil {
		t.Fatal(err)
	}
	x, g := encoder.Preprocess(img, inputSize)
	emb, err := enc.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	out, err := h.Predict(heads.Input{Embedding: emb, Image: x})
	if err != nil {
		t.Fatal(err)
	}
	n := out.MaskLogits.Shape[len(out.MaskLogits.Shape)-1]
	rows, cols := g.ResizedH*n/g.Size, g.ResizedW*n/g.Size
	var inImage []float32
	for y := 0; y < rows; y++ {
		inImage = append(inImage, out.MaskLogits.Data[y*n:y*n+cols]...)
	}
	slices.Sort(inImage)
	median := inImage[len(inImage)/2]
	for _, p := range h.Params() {
		if p.Name == "dec.out.bias" {
			p.Value.Data[0] -= median
			return
		}
	}
	t.Fatal("heads have no dec.out.bias to calibrate")
}

// nativeAnalysis builds the CPU model from the same files with the same
// code the wasm module runs (an int8 encoder dequantized, the heads'
// encoder overrides applied), compiled natively, and analyses the image,
// embedding included.
func nativeAnalysis(t testing.TB, imgPath, dir string, size int) pipeline.Result {
	t.Helper()
	files, err := engine.ReadModelDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	model, err := engine.BuildPipelineModel(files, size)
	if err != nil {
		t.Fatal(err)
	}
	img, err := imageio.Load(imgPath)
	if err != nil {
		t.Fatal(err)
	}
	res, err := model.(engine.OptionsModel).AnalyzeWith(img, engine.AnalyzeOptions{Embedding: true})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

type loadInfo struct {
	Backend       string             `json:"backend"`
	BackendReason string             `json:"backendReason"`
	Sources       map[string]string  `json:"sources"`
	Cache         string             `json:"cache"`
	InputSize     int                `json:"inputSize"`
	Timings       map[string]float64 `json:"timings"`
}

type summary struct {
	Width, Height int
	Label         string
	Probs         map[string]float64
	Timings       map[string]float64
	Backend       string
	Mask          string // base64
	MaskLength    int
	Attention     *struct {
		Width, Height, Length int
		Data                  string // base64 of little-endian float32
	}
	Embedding *struct { // only when asked for (analyze's {embedding: true})
		Shape  []int
		Length int
		Data   string // base64 of little-endian float32
	}
}

func dice(a, b []uint8) float64 {
	var inter, sum int
	for i := range a {
		inter += int(a[i] & b[i])
		sum += int(a[i]) + int(b[i])
	}
	if sum == 0 {
		return 1
	}
	return 2 * float64(inter) / float64(sum)
}

func TestBrowserMatchesNativePipeline(t *testing.T) {
	dist := distDir(t)
	imgPath := testutil.Need(t, filepath.Join(testutil.DataDir(t), filepath.FromSlash(testImage)), "BUSI data")
	models := modelDir(t, dist, imgPath)
	s := newSite(t, dist, models)
	b := browsertest.Start(t, browsertest.Options{Timeout: 20 * time.Minute})

	if err := b.Navigate(s.URL + "/test/"); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitFor(`window.busamTest`, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if iso, err := browsertest.Eval[bool](b, `crossOriginIsolated`); err != nil || !iso {
		t.Errorf("page not cross-origin isolated (%v): COOP/COEP headers missing?", err)
	}

	// First visit: everything comes from the network and is verified.
	start := time.Now()
	info, err := browsertest.Eval[loadInfo](b, fmt.Sprintf(`busamTest.load(%d, 'auto')`, inputSize))
	t.Logf("first load: %v; worker timings %v ms", time.Since(start).Round(time.Millisecond), info.Timings)
	if err != nil {
		t.Fatalf("load: %v\nconsole:\n%s", err, strings.Join(b.Console(), "\n"))
	}
	if info.InputSize != inputSize {
		t.Errorf("input size %d, asked for %d", info.InputSize, inputSize)
	}
	t.Logf("backend %s (%s), cache %s", info.Backend, info.BackendReason, info.Cache)
	if info.Backend != "cpu" && info.Backend != "webgpu" || info.BackendReason == "" {
		t.Errorf("backend %q with reason %q", info.Backend, info.BackendReason)
	}
	if info.Sources[manifest.RoleEncoder] != "network" || info.Sources[manifest.RoleHeads] != "network" {
		t.Errorf("first load sources %v, want network", info.Sources)
	}
	type progress struct {
		Phase                       string
		OverallLoaded, OverallTotal int64
	}
	prog, err := browsertest.Eval[[]progress](b, `busamTest.progress`)
	if err != nil || len(prog) < 3 {
		t.Fatalf("progress %v, %v", prog, err)
	}
	last := prog[len(prog)-1]
	if last.Phase != "init" || last.OverallLoaded != last.OverallTotal || last.OverallTotal == 0 {
		t.Errorf("last progress %+v, want init with everything loaded", last)
	}

	// Analyse a real scan picked in the file input, as a user would.
	if err := b.Upload("#file", imgPath); err != nil {
		t.Fatal(err)
	}
	analyzeAndCompare(t, b, imgPath, models, "analyze")

	// Bad input rejects with a message that names the file; the worker lives on.
	for range 2 {
		msg, err := browsertest.Eval[string](b, `busamTest.rejection(() => busamTest.analyzeBytes('not an image'))`)
		if err != nil || !strings.Contains(msg, "junk.png") {
			t.Errorf("junk input: message %q, %v", msg, err)
		}
	}

	checkNoDataLeaves(t, b, s)

	// Second visit: the model comes from Cache Storage; no model file is
	// downloaded again.
	s.reset()
	if err := b.Navigate(s.URL + "/test/"); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitFor(`window.busamTest`, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	info, err = browsertest.Eval[loadInfo](b, fmt.Sprintf(`busamTest.load(%d, 'auto')`, inputSize))
	if err != nil {
		t.Fatalf("second load: %v", err)
	}
	t.Logf("second load (Cache Storage): %v; worker timings %v ms", time.Since(start).Round(time.Millisecond), info.Timings)
	if info.Sources[manifest.RoleEncoder] != "cache" || info.Sources[manifest.RoleHeads] != "cache" {
		t.Errorf("second load sources %v, want cache", info.Sources)
	}
	for _, r := range s.requests() {
		if strings.HasPrefix(r.Path, "/model/") && r.Path != "/model/"+manifest.FileName {
			t.Errorf("second visit downloaded %s", r.Path)
		}
	}

	// Offline: with the server gone the page still loads the model.
	s.Close()
	info, err = browsertest.Eval[loadInfo](b, fmt.Sprintf(`busamTest.load(%d, 'auto')`, inputSize))
	if err != nil {
		t.Errorf("offline load: %v", err)
	} else if info.Sources[manifest.RoleEncoder] != "cache" {
		t.Errorf("offline load sources %v", info.Sources)
	}
}

// analyzeAndCompare analyses the image picked in #file twice, as the app
// does and with the embedding asked for, and compares both with the native
// Go pipeline on the same image and model files (compareWithNative,
// compareEmbedding). It returns the app's result; artifacts names the
// screenshot of a failure.
func analyzeAndCompare(t *testing.T, b *browsertest.Browser, imgPath, models, artifacts string) summary {
	t.Helper()
	want := nativeAnalysis(t, imgPath, models, inputSize)
	got, err := browsertest.Eval[summary](b, `busamTest.analyzePicked()`)
	if err != nil {
		b.SaveArtifacts(artifacts)
		t.Fatalf("analyze: %v", err)
	}
	t.Logf("browser %s: %dx%d %s probs %v timings %v ms", got.Backend, got.Width, got.Height, got.Label, got.Probs, got.Timings)
	if got.Embedding != nil {
		t.Error("the result carries an embedding nobody asked for (it must be off by default)")
	}
	compareWithNative(t, got, want)

	withEmb, err := browsertest.Eval[summary](b, `busamTest.analyzePicked({embedding: true})`)
	if err != nil {
		b.SaveArtifacts(artifacts + "-embedding")
		t.Fatalf("analyze with the embedding: %v", err)
	}
	t.Logf("browser %s, embedding asked for: timings %v ms", withEmb.Backend, withEmb.Timings)
	compareWithNative(t, withEmb, want)
	compareEmbedding(t, withEmb, want.Embedding)
	return got
}

// compareWithNative checks the browser's result against the native one:
// Dice >= 0.99 for the mask, 1e-3 for the probabilities, the same label,
// and the attention map.
func compareWithNative(t *testing.T, got summary, want pipeline.Result) {
	t.Helper()
	mask, err := base64.StdEncoding.DecodeString(got.Mask)
	if err != nil {
		t.Fatal(err)
	}
	if got.Width != want.W || got.Height != want.H || len(mask) != len(want.Mask) {
		t.Fatalf("browser mask %dx%d (%d bytes), native %dx%d", got.Width, got.Height, len(mask), want.W, want.H)
	}
	d := dice(mask, want.Mask)
	t.Logf("mask Dice browser vs native %.5f (%d lesion pixels natively)", d, count(want.Mask))
	if d < 0.99 {
		t.Errorf("mask Dice %.4f < 0.99", d)
	}
	for i, c := range want.Classes {
		if diff := math.Abs(got.Probs[c.String()] - float64(want.Probs[i])); diff > 1e-3 {
			t.Errorf("P(%s): browser %.6f, native %.6f", c, got.Probs[c.String()], want.Probs[i])
		}
	}
	if got.Label != want.Label.String() {
		t.Errorf("label: browser %s, native %s", got.Label, want.Label)
	}
	for _, k := range []string{"decode", "encoder", "heads", "total"} {
		if got.Timings[k] <= 0 && k != "heads" {
			t.Errorf("timing %s = %v", k, got.Timings[k])
		}
	}
	compareAttention(t, got, want.Attention)
}

// checkNoDataLeaves: the browser sent only same-origin GETs without a body,
// and the server received nothing but bodiless GET/HEAD requests.
func checkNoDataLeaves(t *testing.T, b *browsertest.Browser, s *site) {
	t.Helper()
	reqs := b.Requests()
	if len(reqs) == 0 {
		t.Error("no browser requests recorded: the recorder is broken")
	}
	for _, r := range reqs {
		if !strings.HasPrefix(r.URL, s.URL+"/") {
			t.Errorf("request to another origin: %s %s", r.Method, r.URL)
		}
		if r.Method != "GET" || r.HasPostData || r.PostDataSize > 0 {
			t.Errorf("request with a body or a non-GET method: %+v", r)
		}
	}
	for _, r := range s.requests() {
		if (r.Method != "GET" && r.Method != "HEAD") || r.BodyBytes > 0 {
			t.Errorf("server received %s %s with %d body bytes", r.Method, r.Path, r.BodyBytes)
		}
	}
}

// compareAttention checks the classifier's pooling weights, a continuous
// output that depends on the mask logits: a stronger check than the 0|1
// mask when the mask is nearly empty.
func compareAttention(t *testing.T, got summary, want *tensor.Tensor) {
	t.Helper()
	if got.Attention == nil || want == nil {
		t.Fatalf("attention: browser %v, native %v", got.Attention, want)
	}
	att, err := floats(got.Attention.Data)
	if err != nil || len(att) != len(want.Data) || got.Attention.Length != len(want.Data) {
		t.Fatalf("attention: %d floats (%v), want %d", len(att), err, len(want.Data))
	}
	maxDiff, maxVal := maxAbsDiff(att, want.Data)
	t.Logf("attention: max |browser - native| = %.3g (max value %.3g)", maxDiff, maxVal)
	if maxDiff > 1e-3*maxVal {
		t.Errorf("attention differs by %.3g, more than 0.1%% of its largest value %.3g", maxDiff, maxVal)
	}
}

// compareEmbedding checks the encoder's embedding from the browser against
// the native encoder's on the same image, input size and weights: issue #5
// asks for a cosine >= 0.999.
func compareEmbedding(t *testing.T, got summary, want *tensor.Tensor) {
	t.Helper()
	if got.Embedding == nil || want == nil {
		t.Fatalf("embedding: browser %v, native %v", got.Embedding, want)
	}
	emb, err := floats(got.Embedding.Data)
	if err != nil || !slices.Equal(got.Embedding.Shape, want.Shape) || len(emb) != len(want.Data) || got.Embedding.Length != len(emb) {
		t.Fatalf("embedding: shape %v, %d floats (%v); native %v", got.Embedding.Shape, len(emb), err, want.Shape)
	}
	cos := tensor.Cosine(emb, want.Data)
	maxDiff, maxVal := maxAbsDiff(emb, want.Data)
	t.Logf("embedding %v, browser %s vs native: cosine %.9f (1 - cosine %.3g), max |diff| %.3g (max |value| %.3g)",
		want.Shape, got.Backend, cos, 1-cos, maxDiff, maxVal)
	if !(cos >= 0.999) {
		t.Errorf("embedding cosine %.6f < 0.999", cos)
	}
}

// floats decodes base64 little-endian float32s.
func floats(b64 string) ([]float32, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, err
	}
	if len(raw)%4 != 0 {
		return nil, fmt.Errorf("%d bytes are not whole float32s", len(raw))
	}
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out, nil
}

// maxAbsDiff is the largest |got - want| and the largest |want|.
func maxAbsDiff(got, want []float32) (diff, mag float64) {
	for i, w := range want {
		diff = max(diff, math.Abs(float64(got[i]-w)))
		mag = max(mag, math.Abs(float64(w)))
	}
	return diff, mag
}

func count(m []uint8) int {
	n := 0
	for _, v := range m {
		n += int(v)
	}
	return n
}

// A model file altered on the server (same size, one bit flipped) is
// refused with a message naming it, and never enters the cache.
func TestBrowserRefusesTamperedModel(t *testing.T) {
	dist := distDir(t)
	good := filepath.Join(dist, "model")
	data, err := os.ReadFile(filepath.Join(good, manifest.FileName))
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Parse("dist manifest", data)
	if err != nil {
		t.Fatal(err)
	}
	enc, ok := m.File(manifest.RoleEncoder)
	if !ok {
		t.Fatal("dist manifest has no encoder")
	}
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, manifest.FileName), data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range m.Files {
		b, err := os.ReadFile(filepath.Join(good, f.Path))
		if err != nil {
			t.Fatal(err)
		}
		if f.Role == manifest.RoleEncoder {
			b[len(b)/2] ^= 0x10
		}
		if err := os.WriteFile(filepath.Join(bad, f.Path), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := newSite(t, dist, bad)
	b := browsertest.Start(t, browsertest.Options{})
	if err := b.Navigate(s.URL + "/test/"); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitFor(`window.busamTest`, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	msg, err := browsertest.Eval[string](b, `busamTest.rejection(() => busamTest.load())`)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("refused: %s", msg)
	if !strings.Contains(msg, "SHA-256") || !strings.Contains(msg, enc.Path) {
		t.Errorf("tampered encoder: message %q, want one naming %s and SHA-256", msg, enc.Path)
	}
	cached, err := browsertest.Eval[[]string](b, `caches.open('busam-model-v1').then((c) => c.keys()).then((ks) => ks.map((r) => r.url))`)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range cached {
		if strings.HasSuffix(u, enc.Path) {
			t.Errorf("the tampered file was cached: %s", u)
		}
	}
}

// The WebGPU path (encoder and heads in WGSL on the browser's adapter,
// the embedding kept on the device between them; SwiftShader on machines
// without a GPU) gives the native CPU result too.
func TestBrowserWebGPUMatchesNative(t *testing.T) {
	dist := distDir(t)
	imgPath := testutil.Need(t, filepath.Join(testutil.DataDir(t), filepath.FromSlash(testImage)), "BUSI data")
	models := modelDir(t, dist, imgPath)
	s := newSite(t, dist, models)
	b := browsertest.Start(t, browsertest.Options{Timeout: 20 * time.Minute})
	if err := b.Navigate(s.URL + "/test/"); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitFor(`window.busamTest`, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	hasGPU, err := browsertest.Eval[bool](b, `navigator.gpu.requestAdapter().then((a) => a !== null)`)
	if err != nil || !hasGPU {
		msg := fmt.Sprintf("no WebGPU adapter in this Chromium (%v)", err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	info, err := browsertest.Eval[loadInfo](b, fmt.Sprintf(`busamTest.load(%d, 'webgpu')`, inputSize))
	if err != nil {
		b.SaveArtifacts("webgpu-load")
		t.Fatalf("load on webgpu: %v", err)
	}
	if info.Backend != "webgpu" || info.BackendReason != "requested" {
		t.Fatalf("backend %q (%s), want webgpu as requested", info.Backend, info.BackendReason)
	}
	if err := b.Upload("#file", imgPath); err != nil {
		t.Fatal(err)
	}
	got := analyzeAndCompare(t, b, imgPath, models, "webgpu-analyze")
	if got.Backend != "webgpu" {
		t.Errorf("result says backend %q", got.Backend)
	}
	if got.Timings["heads"] <= 0 { // the heads stage runs on the device and is timed
		t.Errorf("no heads timing on webgpu: %v", got.Timings)
	}
	checkNoDataLeaves(t, b, s)
}
