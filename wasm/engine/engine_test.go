package engine

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/busam/busam/dataset"
	"github.com/busam/busam/model/pipeline"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/wasm/manifest"
)

// fakeModel marks the pixels brighter than 128 as lesion, so the test can
// check that the engine passes the decoded image through unchanged.
type fakeModel struct {
	classes []dataset.Label
	probs   []float32
}

func (m fakeModel) Analyze(img image.Image) (pipeline.Result, error) {
	b := img.Bounds()
	r := pipeline.Result{W: b.Dx(), H: b.Dy(), Classes: m.classes, Probs: m.probs,
		Timings: map[string]time.Duration{"encoder": 2 * time.Millisecond, "heads": time.Millisecond}}
	r.Mask = make([]uint8, r.W*r.H)
	for y := 0; y < r.H; y++ {
		for x := 0; x < r.W; x++ {
			if g := color.GrayModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.Gray); g.Y > 128 {
				r.Mask[y*r.W+x] = 1
			}
		}
	}
	r.Label = m.classes[len(m.classes)-1]
	r.Attention = tensor.New(1, 2, 3)
	r.Attention.Data[5] = 1
	r.Evidence = tensor.New(1, 2, 3)
	r.Evidence.Data[4] = -0.5
	return r, nil
}

var (
	encBytes   = []byte("encoder weights")
	headsBytes = []byte("heads weights")
)

func testManifest(t *testing.T) []byte {
	t.Helper()
	m := &manifest.Manifest{Format: manifest.Format, Files: []manifest.File{
		{Role: manifest.RoleEncoder, Path: "encoder.0123456789abcdef.safetensors", Size: int64(len(encBytes)), SHA256: manifest.SHA256Hex(encBytes)},
		{Role: manifest.RoleHeads, Path: "heads.0123456789abcdef.safetensors", Size: int64(len(headsBytes)), SHA256: manifest.SHA256Hex(headsBytes)},
	}}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// loaded returns an engine with the fake model built from verified files.
func loaded(t *testing.T, m Model) *Engine {
	t.Helper()
	var built map[string][]byte
	e := New(Candidate{Name: "cpu", Build: func(files map[string][]byte, size int) (Model, error) {
		built = files
		return m, nil
	}})
	if _, err := e.SetManifest("manifest.json", testManifest(t)); err != nil {
		t.Fatal(err)
	}
	for role, data := range map[string][]byte{manifest.RoleEncoder: encBytes, manifest.RoleHeads: headsBytes} {
		if err := e.AddFile(role, data, ""); err != nil {
			t.Fatal(err)
		}
	}
	info, err := e.Load(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Backend.Name != "cpu" || len(info.Files) != 2 {
		t.Errorf("info %+v", info)
	}
	if !bytes.Equal(built[manifest.RoleEncoder], encBytes) || !bytes.Equal(built[manifest.RoleHeads], headsBytes) {
		t.Errorf("builder got %q, want the verified files", built)
	}
	return e
}

func pngBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetGray(x, y, color.Gray{uint8(255 * (x + y) / (w + h))})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestAddFileRefusesTamperedFiles(t *testing.T) {
	e := New()
	if err := e.AddFile(manifest.RoleEncoder, encBytes, ""); err == nil {
		t.Error("a file was accepted before the manifest")
	}
	if _, err := e.SetManifest("manifest.json", testManifest(t)); err != nil {
		t.Fatal(err)
	}
	tampered := append([]byte(nil), encBytes...)
	tampered[3] ^= 1
	for _, tc := range []struct {
		role string
		data []byte
		want string
	}{
		{manifest.RoleEncoder, tampered, "SHA-256"},
		{manifest.RoleEncoder, encBytes[:5], "bytes"},
		{"decoder", encBytes, `no "decoder" file`},
	} {
		err := e.AddFile(tc.role, tc.data, "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("AddFile(%s, %d bytes) = %v, want an error saying %q", tc.role, len(tc.data), err, tc.want)
		}
	}
	if err := e.AddFile(manifest.RoleEncoder, tampered, ""); !errors.Is(err, manifest.ErrMismatch) {
		t.Errorf("tampered file: %v does not wrap ErrMismatch", err)
	}
	// A digest computed elsewhere (crypto.subtle) is checked the same way.
	if err := e.AddFile(manifest.RoleEncoder, encBytes, manifest.SHA256Hex(encBytes)); err != nil {
		t.Errorf("good file with its digest refused: %v", err)
	}
	if err := e.AddFile(manifest.RoleEncoder, tampered, manifest.SHA256Hex(tampered)); !errors.Is(err, manifest.ErrMismatch) {
		t.Errorf("tampered file with its own digest: %v", err)
	}
}

func TestLoadNeedsEveryFile(t *testing.T) {
	calls := 0
	e := New(Candidate{Name: "cpu", Build: func(map[string][]byte, int) (Model, error) { calls++; return fakeModel{}, nil }})
	if _, err := e.Load(Options{}); err == nil {
		t.Error("Load without a manifest succeeded")
	}
	e.SetManifest("manifest.json", testManifest(t))
	if err := e.AddFile(manifest.RoleEncoder, encBytes, ""); err != nil {
		t.Fatal(err)
	}
	_, err := e.Load(Options{})
	if err == nil || !strings.Contains(err.Error(), "heads") {
		t.Errorf("Load with the heads missing: %v", err)
	}
	if calls != 0 {
		t.Error("the model was built from an incomplete set of files")
	}
	e.AddFile(manifest.RoleHeads, headsBytes, "")
	e2 := New(Candidate{Name: "cpu", Build: func(map[string][]byte, int) (Model, error) { return nil, errors.New("bad tensors") }})
	e2.SetManifest("manifest.json", testManifest(t))
	e2.AddFile(manifest.RoleEncoder, encBytes, "")
	e2.AddFile(manifest.RoleHeads, headsBytes, "")
	if _, err := e2.Load(Options{}); err == nil || !strings.Contains(err.Error(), "bad tensors") {
		t.Errorf("builder error lost: %v", err)
	}
}

func TestAnalyze(t *testing.T) {
	e := New()
	if _, err := e.Analyze("a.png", pngBytes(t, 4, 4)); err == nil {
		t.Error("Analyze before Load succeeded")
	}
	three := fakeModel{classes: []dataset.Label{dataset.Normal, dataset.Benign, dataset.Malignant}, probs: []float32{0.1, 0.2, 0.7}}
	e = loaded(t, three)
	r, err := e.Analyze("scan.png", pngBytes(t, 30, 20))
	if err != nil {
		t.Fatal(err)
	}
	if r.Width != 30 || r.Height != 20 || len(r.Mask) != 600 {
		t.Fatalf("result %dx%d with %d mask bytes", r.Width, r.Height, len(r.Mask))
	}
	// The gradient's bright corner is the lesion: first pixel 0, last 1.
	if r.Mask[0] != 0 || r.Mask[599] != 1 {
		t.Errorf("mask corners %d %d: the decoded image did not reach the model intact", r.Mask[0], r.Mask[599])
	}
	if r.Normal != 0.1 || r.Benign != 0.2 || r.Malign != 0.7 || r.Label != "malignant" {
		t.Errorf("probs %v %v %v label %q", r.Normal, r.Benign, r.Malign, r.Label)
	}
	if r.AttentionW != 3 || r.AttentionH != 2 || r.Attention[5] != 1 {
		t.Errorf("attention %dx%d %v", r.AttentionW, r.AttentionH, r.Attention)
	}
	if r.EvidenceW != 3 || r.EvidenceH != 2 || r.Evidence[4] != -0.5 {
		t.Errorf("evidence %dx%d %v", r.EvidenceW, r.EvidenceH, r.Evidence)
	}
	if r.Timings.Encoder != 2 || r.Timings.Heads != 1 || r.Timings.Total < r.Timings.Decode {
		t.Errorf("timings %+v", r.Timings)
	}
	if r.Backend != "cpu" {
		t.Errorf("backend %q", r.Backend)
	}

	// Two-class model: probabilities land on their names.
	two := fakeModel{classes: []dataset.Label{dataset.Benign, dataset.Malignant}, probs: []float32{0.9, 0.1}}
	r, err = loaded(t, two).Analyze("scan.png", pngBytes(t, 8, 8))
	if err != nil {
		t.Fatal(err)
	}
	if r.Normal != 0 || r.Benign != 0.9 || r.Malign != 0.1 {
		t.Errorf("two-class probs %v %v %v", r.Normal, r.Benign, r.Malign)
	}
}

func TestAnalyzeBadInputKeepsEngineUsable(t *testing.T) {
	e := loaded(t, fakeModel{classes: []dataset.Label{dataset.Normal, dataset.Benign, dataset.Malignant}, probs: []float32{1, 0, 0}})
	good := pngBytes(t, 8, 8)
	for name, data := range map[string][]byte{
		"empty.png":     nil,
		"text.png":      []byte("not an image at all"),
		"truncated.png": good[:len(good)/2],
		"huge.png":      make([]byte, MaxImageBytes+1),
	} {
		if _, err := e.Analyze(name, data); err == nil {
			t.Errorf("%s accepted", name)
		} else if !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
	}
	if _, err := e.Analyze("good.png", good); err != nil {
		t.Errorf("engine unusable after bad input: %v", err)
	}
}

func TestToResultRejectsInconsistentModelOutput(t *testing.T) {
	classes := []dataset.Label{dataset.Normal, dataset.Benign, dataset.Malignant}
	for name, p := range map[string]pipeline.Result{
		"short mask":  {W: 2, H: 2, Mask: make([]uint8, 3), Classes: classes, Probs: []float32{1, 0, 0}},
		"no size":     {Classes: classes, Probs: []float32{1, 0, 0}},
		"probs count": {W: 1, H: 1, Mask: []uint8{0}, Classes: classes, Probs: []float32{1}},
	} {
		if _, err := toResult(p, 0, 0, "cpu"); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

// The calibration's verdict reaches the result the worker returns.
func TestToResultCarriesCertainty(t *testing.T) {
	classes := []dataset.Label{dataset.Normal, dataset.Benign, dataset.Malignant}
	p := pipeline.Result{W: 1, H: 1, Mask: []uint8{0}, Classes: classes, Probs: []float32{0.1, 0.5, 0.4}, Label: dataset.Benign,
		Calibrated: true, Sure: false, SureAccuracy: 0.93}
	r, err := toResult(p, 0, 0, "cpu")
	if err != nil {
		t.Fatal(err)
	}
	if !r.Calibrated || r.Sure || r.SureAccuracy != 0.93 || r.Benign != 0.5 || r.ViewProbs != nil {
		t.Errorf("result %+v", r)
	}
	p.ViewProbs = [][]float32{{0.1, 0.6, 0.3}, {0.1, 0.4, 0.5}}
	if r, err = toResult(p, 0, 0, "cpu"); err != nil || len(r.ViewProbs) != 2 || r.ViewProbs[1]["malignant"] != 0.5 {
		t.Errorf("views: %v (%v)", r.ViewProbs, err)
	}
	p.ViewProbs = [][]float32{{0.1, 0.9}}
	if _, err := toResult(p, 0, 0, "cpu"); err == nil {
		t.Error("a view with too few probabilities accepted")
	}
}

func TestLoadInputSize(t *testing.T) {
	var gotSize int
	e := New(Candidate{Name: "cpu", Build: func(_ map[string][]byte, size int) (Model, error) { gotSize = size; return fakeModel{}, nil }})
	add := func() {
		e.SetManifest("manifest.json", testManifest(t))
		e.AddFile(manifest.RoleEncoder, encBytes, "")
		e.AddFile(manifest.RoleHeads, headsBytes, "")
	}
	for _, tc := range []struct {
		asked, want int
		ok          bool
	}{
		{0, 1024, true}, {256, 256, true}, {64, 64, true}, {2048, 2048, true},
		{100, 0, false}, {48, 0, false}, {4096, 0, false}, {-16, 0, false},
	} {
		add()
		gotSize = 0
		info, err := e.Load(Options{InputSize: tc.asked})
		if (err == nil) != tc.ok {
			t.Errorf("InputSize %d: err %v", tc.asked, err)
			continue
		}
		if tc.ok && (gotSize != tc.want || info.InputSize != tc.want) {
			t.Errorf("InputSize %d: builder got %d, info says %d, want %d", tc.asked, gotSize, info.InputSize, tc.want)
		}
	}
}

func TestBackendChoice(t *testing.T) {
	ok := func(map[string][]byte, int) (Model, error) { return fakeModel{}, nil }
	broken := func(map[string][]byte, int) (Model, error) { return nil, errors.New("device lost") }
	gpuUsable := func(opt Options) (bool, string) {
		if !opt.GPU.Available {
			return false, opt.GPU.Reason
		}
		return true, ""
	}
	tests := []struct {
		name       string
		gpuBuild   Builder
		opt        Options
		want       string
		wantReason string
		wantErr    string
	}{
		{"gpu first", ok, Options{GPU: GPUInfo{Available: true}}, "webgpu", "first choice", ""},
		{"no gpu", ok, Options{GPU: GPUInfo{Reason: "navigator.gpu is missing"}}, "cpu", "navigator.gpu is missing", ""},
		{"gpu fails to build", broken, Options{GPU: GPUInfo{Available: true}}, "cpu", "webgpu: device lost", ""},
		{"cpu forced", ok, Options{Backend: "cpu", GPU: GPUInfo{Available: true}}, "cpu", "requested", ""},
		{"gpu forced but absent", ok, Options{Backend: "webgpu", GPU: GPUInfo{Reason: "no adapter"}}, "", "", "no adapter"},
		{"unknown", ok, Options{Backend: "tpu"}, "", "", `unknown backend "tpu"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := New(Candidate{Name: "webgpu", Usable: gpuUsable, Build: tc.gpuBuild}, Candidate{Name: "cpu", Build: ok})
			e.SetManifest("manifest.json", testManifest(t))
			e.AddFile(manifest.RoleEncoder, encBytes, "")
			e.AddFile(manifest.RoleHeads, headsBytes, "")
			info, err := e.Load(tc.opt)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.Backend.Name != tc.want || !strings.Contains(info.Backend.Reason, tc.wantReason) {
				t.Errorf("backend %+v, want %s because %q", info.Backend, tc.want, tc.wantReason)
			}
		})
	}
}

func TestWebGPUUsable(t *testing.T) {
	for _, tc := range []struct {
		opt  Options
		ok   bool
		want string
	}{
		{Options{}, false, "no WebGPU adapter"},
		{Options{GPU: GPUInfo{Reason: "navigator.gpu is missing"}}, false, "navigator.gpu is missing"},
		{Options{GPU: GPUInfo{Available: true}}, true, ""},
		{Options{GPU: GPUInfo{Available: true, Fallback: true, Description: "SwiftShader"}}, false, "software fallback (SwiftShader)"},
		{Options{Backend: "webgpu", GPU: GPUInfo{Available: true, Fallback: true}}, true, ""},
	} {
		ok, why := WebGPUUsable(tc.opt)
		if ok != tc.ok || !strings.Contains(why, tc.want) {
			t.Errorf("WebGPUUsable(%+v) = %v, %q; want %v, %q", tc.opt, ok, why, tc.ok, tc.want)
		}
	}
}
