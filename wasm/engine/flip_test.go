package engine

import (
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/busam/busam/dataset"
	"github.com/busam/busam/imageio"
	"github.com/busam/busam/internal/testutil"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/pipeline"
	"github.com/busam/busam/modelfile"
	"github.com/busam/busam/wasm/manifest"
)

// AnalyzeOptions.Flip runs the model with pipeline's test-time flip: the
// engine's result is pipeline.AnalyzeWith's with Flip, natively, and
// without it the result is the plain analysis, as before.
func TestAnalyzeWithFlip(t *testing.T) {
	encPath := testutil.Need(t, filepath.Join(testutil.CacheDir(t), "weights", "encoder.safetensors"), "converted encoder weights")
	imgPath := testutil.Need(t, filepath.Join(testutil.DataDir(t), "benign", "benign (1).png"), "BUSI data")
	const size = 64 // the smallest input Load takes: two encoder passes stay short
	files := map[string][]byte{manifest.RoleEncoder: readFile(t, encPath), manifest.RoleHeads: randomHeads(t)}
	m, err := BuildPipelineModel(files, size)
	if err != nil {
		t.Fatal(err)
	}
	e := loaded(t, m)
	data, err := os.ReadFile(imgPath)
	if err != nil {
		t.Fatal(err)
	}
	img, err := imageio.Load(imgPath)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := modelfile.LoadEncoder(encPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	hm, err := heads.Decode("heads", files[manifest.RoleHeads])
	if err != nil {
		t.Fatal(err)
	}
	results := map[bool]*Result{}
	for _, flip := range []bool{false, true} {
		got, err := e.AnalyzeWith(filepath.Base(imgPath), data, AnalyzeOptions{Flip: flip})
		if err != nil {
			t.Fatal(err)
		}
		want, err := pipeline.AnalyzeWith(enc, hm, img, pipeline.Options{Size: size, Flip: flip})
		if err != nil {
			t.Fatal(err)
		}
		probs := []float32{got.Normal, got.Benign, got.Malign}
		if got.Flip != flip || got.Width != want.W || got.Height != want.H || !slices.Equal(got.Mask, want.Mask) ||
			!slices.Equal(probs, want.Probs) || got.Label != want.Label.String() {
			t.Errorf("flip %v: engine %dx%d %s probs %v (flip %v); pipeline %dx%d %s probs %v (masks equal: %v)",
				flip, got.Width, got.Height, got.Label, probs, got.Flip, want.W, want.H, want.Label, want.Probs, slices.Equal(got.Mask, want.Mask))
		}
		results[flip] = got
	}
	// The mirror pass really ran: the average differs from the image alone.
	plain, flipped := results[false], results[true]
	if plain.Normal == flipped.Normal && plain.Benign == flipped.Benign && plain.Malign == flipped.Malign {
		t.Errorf("flip left the probabilities at %v %v %v: the mirror image was not analysed", plain.Normal, plain.Benign, plain.Malign)
	}
}

// A model that takes no options analyses without them, and refuses them
// with an error that says what it cannot do.
func TestOptionsNeedAnOptionsModel(t *testing.T) {
	three := fakeModel{classes: []dataset.Label{dataset.Normal, dataset.Benign, dataset.Malignant}, probs: []float32{0.1, 0.2, 0.7}}
	for _, tc := range []struct {
		opt     AnalyzeOptions
		wantErr string // "": accepted
	}{
		{AnalyzeOptions{}, ""},
		{AnalyzeOptions{Flip: true}, "cannot analyse the mirror image"},
		{AnalyzeOptions{Embedding: true}, "cannot return its embedding"},
		{AnalyzeOptions{Flip: true, Embedding: true}, "cannot analyse the mirror image and return its embedding"},
	} {
		r, err := loaded(t, three).AnalyzeWith("scan.png", pngBytes(t, 6, 5), tc.opt)
		switch {
		case tc.wantErr == "" && (err != nil || r.Flip):
			t.Errorf("%+v: result %v, error %v", tc.opt, r, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%+v: error %v, want one containing %q", tc.opt, err, tc.wantErr)
		}
	}
}

// On WebGPU the engine's flip runs the same pipeline path (encoder and
// heads on the device, for both views): the result agrees with the CPU
// model's flipped result, and is not the unflipped one.
func TestWebGPUFlipMatchesCPU(t *testing.T) {
	encPath := testutil.Need(t, filepath.Join(testutil.CacheDir(t), "weights", "encoder.safetensors"), "converted encoder weights")
	imgPath := testutil.Need(t, filepath.Join(testutil.DataDir(t), "benign", "benign (1).png"), "BUSI data")
	needVulkan(t)
	img, err := imageio.Load(imgPath)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{manifest.RoleEncoder: readFile(t, encPath), manifest.RoleHeads: randomHeads(t)}
	const size = 128 // lavapipe is a CPU and must keep submissions short
	gpu, err := BuildWebGPUModel(files, size)
	if err != nil {
		t.Fatal(err)
	}
	defer gpu.(io.Closer).Close()
	cpu, err := BuildPipelineModel(files, size)
	if err != nil {
		t.Fatal(err)
	}
	results := map[string]pipeline.Result{}
	for name, run := range map[string]func() (pipeline.Result, error){
		"gpu flip": func() (pipeline.Result, error) {
			return gpu.(OptionsModel).AnalyzeWith(img, AnalyzeOptions{Flip: true})
		},
		"cpu flip": func() (pipeline.Result, error) {
			return cpu.(OptionsModel).AnalyzeWith(img, AnalyzeOptions{Flip: true})
		},
		"cpu plain": func() (pipeline.Result, error) { return cpu.Analyze(img) },
	} {
		r, err := run()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		results[name] = r
	}
	got, want, plain := results["gpu flip"], results["cpu flip"], results["cpu plain"]
	probDiff := func(a, b pipeline.Result) float64 {
		var d float64
		for i := range a.Probs {
			d = max(d, math.Abs(float64(a.Probs[i]-b.Probs[i])))
		}
		return d
	}
	t.Logf("max |P| difference: webgpu flip vs cpu flip %.3g; cpu flip vs cpu plain %.3g; mask pixels differing: %d of %d vs flip, %d vs plain",
		probDiff(got, want), probDiff(want, plain), diffCount(got.Mask, want.Mask), len(want.Mask), diffCount(got.Mask, plain.Mask))
	if d := probDiff(got, want); d > 1e-3 {
		t.Errorf("webgpu flip probabilities %v, cpu flip %v", got.Probs, want.Probs)
	}
	if probDiff(got, want) >= probDiff(got, plain) {
		t.Errorf("webgpu flip probabilities %v are no closer to the cpu's flipped %v than to its unflipped %v", got.Probs, want.Probs, plain.Probs)
	}
}

func diffCount(a, b []uint8) int {
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}
