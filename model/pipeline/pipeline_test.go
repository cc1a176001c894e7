package pipeline

import (
	"errors"
	"github.com/busam/busam/metrics"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/busam/busam/internal/testutil"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/label"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/modelfile"
)

func TestResizeMatchesUpsample2x(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	src := tensor.New(1, 5, 7)
	for i := range src.Data {
		src.Data[i] = rng.Float32()
	}
	want := heads.Upsample2x(src)
	got := Resize(src.Data, 7, 5, 14, 10, 14, 10)
	for i := range got {
		if math.Abs(float64(got[i]-want.Data[i])) > 1e-6 {
			t.Fatalf("pixel %d: Resize %v, Upsample2x %v", i, got[i], want.Data[i])
		}
	}
	// Cropping gives the top-left corner of the full resize.
	crop := Resize(src.Data, 7, 5, 14, 10, 9, 4)
	for y := range 4 {
		if !slices.Equal(crop[y*9:(y+1)*9], got[y*14:y*14+9]) {
			t.Fatalf("crop row %d differs from the full resize", y)
		}
	}
	// Same size is the identity.
	if id := Resize(src.Data, 7, 5, 7, 5, 7, 5); !slices.Equal(id, src.Data) {
		t.Errorf("same-size resize changed the map")
	}
}

func TestMaskFromLogitsPlacesLesion(t *testing.T) {
	// A 200x100 image fills the top 1024x512 of the frame. Positive logits
	// on frame cells x in [64,128), y in [32,64) of the 256 grid are frame
	// pixels [256,512) x [128,256), i.e. image pixels [50,100) x [25,50).
	g := encoder.Geometry{OrigW: 200, OrigH: 100, ResizedW: 1024, ResizedH: 512, Size: 1024}
	logits := tensor.New(1, 256, 256)
	for y := range 256 {
		for x := range 256 {
			v := float32(-5)
			if x >= 64 && x < 128 && y >= 32 && y < 64 {
				v = 5
			}
			logits.Data[y*256+x] = v
		}
	}
	mask := MaskFromLogits(logits, g)
	if len(mask) != 200*100 {
		t.Fatalf("mask has %d pixels, want %d", len(mask), 200*100)
	}
	for y := range 100 {
		for x := range 200 {
			inside := x >= 50 && x < 100 && y >= 25 && y < 50
			if got := mask[y*200+x] == 1; got != inside {
				t.Fatalf("pixel (%d,%d): lesion %v, want %v", x, y, got, inside)
			}
		}
	}
}

func tinyModel(t *testing.T, classes int) *heads.Model {
	t.Helper()
	c := heads.DefaultConfig("conv")
	c.EmbedDim, c.Classes, c.Width, c.Hidden = 8, classes, [3]int{4, 4, 4}, 6
	m, err := heads.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPredict(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	emb := tensor.New(8, 16, 16)
	for i := range emb.Data {
		emb.Data[i] = float32(rng.NormFloat64())
	}
	g := encoder.Geometry{OrigW: 90, OrigH: 60, ResizedW: 256, ResizedH: 171, Size: 256}
	for _, classes := range []int{2, 3} {
		m := tinyModel(t, classes)
		// Make the classifier's bias decide the class, to test both the
		// normal (mask cleared) and lesion paths.
		bias := m.Params()[len(m.Params())-1].Value.Data
		for want := range classes {
			clear(bias)
			bias[want] = 50
			res, err := Predict(m, emb, nil, g)
			if err != nil {
				t.Fatal(err)
			}
			if res.W != 90 || res.H != 60 || len(res.Mask) != 90*60 || len(res.Probs) != classes {
				t.Fatalf("result size %dx%d mask %d probs %d", res.W, res.H, len(res.Mask), len(res.Probs))
			}
			var sum float32
			for _, p := range res.Probs {
				sum += p
			}
			if math.Abs(float64(sum-1)) > 1e-5 {
				t.Errorf("probabilities sum to %v", sum)
			}
			wantLabel := ClassLabels(classes)[want]
			if res.Label != wantLabel || res.Classes[want] != wantLabel {
				t.Errorf("%d classes: label %v, want %v", classes, res.Label, wantLabel)
			}
			if res.MaskSuppressed != (wantLabel == label.Normal) {
				t.Errorf("%v: MaskSuppressed = %v", wantLabel, res.MaskSuppressed)
			}
			if res.MaskSuppressed && slices.Contains(res.Mask, 1) {
				t.Errorf("normal result has lesion pixels")
			}
			// the evidence map is the heads' own for the predicted class
			out, _ := m.Predict(heads.Input{Embedding: emb})
			if res.Evidence == nil || !slices.Equal(res.Evidence.Shape, []int{1, 16, 16}) ||
				!slices.Equal(res.Evidence.Data, out.Evidence.Data[want*256:(want+1)*256]) {
				t.Errorf("%d classes, %v: evidence is not the heads' map for the predicted class", classes, wantLabel)
			}
		}
	}
}

func TestPredictRejectsBadInput(t *testing.T) {
	m := tinyModel(t, 3)
	good := encoder.Geometry{OrigW: 90, OrigH: 60, ResizedW: 256, ResizedH: 171, Size: 256}
	emb := tensor.New(8, 16, 16)
	cases := []struct {
		name string
		m    *heads.Model
		emb  *tensor.Tensor
		g    encoder.Geometry
	}{
		{"no model", nil, emb, good},
		{"zero geometry", m, emb, encoder.Geometry{}},
		{"resized beyond frame", m, emb, encoder.Geometry{OrigW: 9, OrigH: 6, ResizedW: 300, ResizedH: 200, Size: 256}},
		{"wrong embedding", m, tensor.New(7, 16, 16), good},
		{"nil embedding", m, nil, good},
	}
	for _, c := range cases {
		if _, err := Predict(c.m, c.emb, nil, c.g); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}

func TestClassLabels(t *testing.T) {
	cases := []struct {
		classes int
		want    []label.Label
	}{
		{2, []label.Label{label.Benign, label.Malignant}},
		{3, []label.Label{label.Normal, label.Benign, label.Malignant}},
	}
	for _, c := range cases {
		if got := ClassLabels(c.classes); !slices.Equal(got, c.want) {
			t.Errorf("ClassLabels(%d) = %v, want %v", c.classes, got, c.want)
		}
	}
}

// TestAnalyzeWithEncoder runs the real encoder on a small synthetic image
// and checks that Analyze and Predict on the same embedding agree.
func TestAnalyzeWithEncoder(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the full encoder")
	}
	path := testutil.Need(t, filepath.Join(testutil.CacheDir(t), "weights", "encoder.safetensors"), "converted encoder weights")
	enc, err := modelfile.LoadEncoder(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewGray(image.Rect(0, 0, 120, 80))
	for y := range 80 {
		for x := range 120 {
			img.SetGray(x, y, color.Gray{uint8((x*2 + y) % 256)})
		}
	}
	c := heads.DefaultConfig("unet")
	m, err := heads.New(c)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Analyze(enc, m, img)
	if err != nil {
		t.Fatal(err)
	}
	if res.W != 120 || res.H != 80 || len(res.Mask) != 120*80 || res.Timings["encoder"] <= 0 {
		t.Fatalf("result %dx%d, mask %d, timings %v", res.W, res.H, len(res.Mask), res.Timings)
	}
	input, g := encoder.Preprocess(img, encoder.DefaultSize)
	emb, err := enc.Forward(input)
	if err != nil {
		t.Fatal(err)
	}
	direct, err := Predict(m, emb, input, g)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(direct.Mask, res.Mask) || !slices.Equal(direct.Probs, res.Probs) {
		t.Errorf("Analyze and Predict disagree")
	}
}

// poolEncoder is a stand-in encoder: each 16x16 patch of the input becomes
// one embedding cell whose channels are the patch means of the input
// channels, repeated. It records the input it saw.
type poolEncoder struct {
	channels int
	seen     []int
	err      error
}

func (p *poolEncoder) Forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	p.seen = append([]int(nil), x.Shape...)
	if p.err != nil {
		return nil, p.err
	}
	c, h, w := x.Shape[0], x.Shape[1], x.Shape[2]
	out := tensor.New(p.channels, h/16, w/16)
	for k := range p.channels {
		src := x.Data[(k%c)*h*w:]
		for y := range h {
			for xx := range w {
				out.Data[(k*(h/16)+y/16)*(w/16)+xx/16] += src[y*w+xx] / 256
			}
		}
	}
	return out, nil
}

// TestAnalyzeSize checks the any-encoder, any-size path: the encoder sees
// the preprocessed image at the asked size, and the result is Predict on
// that very embedding.
func TestAnalyzeSize(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 90, 60))
	for y := range 60 {
		for x := range 90 {
			img.SetGray(x, y, color.Gray{uint8(x * y % 256)})
		}
	}
	m := tinyModel(t, 3)
	for _, size := range []int{64, 128, 256} {
		enc := &poolEncoder{channels: 8}
		res, err := AnalyzeSize(enc, m, img, size)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if !slices.Equal(enc.seen, []int{3, size, size}) {
			t.Errorf("size %d: encoder saw %v", size, enc.seen)
		}
		input, g := encoder.Preprocess(img, size)
		emb, _ := enc.Forward(input)
		want, err := Predict(m, emb, input, g)
		if err != nil {
			t.Fatal(err)
		}
		if res.W != 90 || res.H != 60 || !slices.Equal(res.Mask, want.Mask) || !slices.Equal(res.Probs, want.Probs) || res.Geometry != g {
			t.Errorf("size %d: AnalyzeSize and Predict disagree", size)
		}
		if _, ok := res.Timings["encoder"]; !ok {
			t.Errorf("size %d: no encoder timing in %v", size, res.Timings)
		}
	}
}

func TestAnalyzeSizeRejects(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 40, 30))
	m := tinyModel(t, 3)
	broken := errors.New("device lost")
	for _, tc := range []struct {
		name string
		enc  Encoder
		img  image.Image
		size int
		want string
	}{
		{"no encoder", nil, img, 64, "no encoder"},
		{"empty image", &poolEncoder{channels: 8}, image.NewGray(image.Rect(0, 0, 0, 0)), 64, "empty image"},
		{"size not a multiple of 16", &poolEncoder{channels: 8}, img, 100, "multiple of 16"},
		{"zero size", &poolEncoder{channels: 8}, img, 0, "multiple of 16"},
		{"encoder error", &poolEncoder{channels: 8, err: broken}, img, 64, "device lost"},
	} {
		if _, err := AnalyzeSize(tc.enc, m, tc.img, tc.size); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := Analyze(nil, m, img); err == nil || !strings.Contains(err.Error(), "no encoder") {
		t.Errorf("Analyze with a nil *encoder.Encoder: %v", err)
	}
}

// Heads that carry a calibration get temperature-scaled probabilities and
// a sure/unsure verdict; the class and the mask do not change.
func TestPredictCalibrated(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	emb := tensor.New(8, 16, 16)
	for i := range emb.Data {
		emb.Data[i] = float32(rng.NormFloat64())
	}
	g := encoder.Geometry{OrigW: 64, OrigH: 64, ResizedW: 256, ResizedH: 256, Size: 256}
	m := tinyModel(t, 3)
	bias := m.Params()[len(m.Params())-1].Value.Data
	bias[1] = 1.5 // benign, not overwhelmingly
	raw, err := Predict(m, emb, nil, g)
	if err != nil {
		t.Fatal(err)
	}
	if raw.Calibrated || raw.Sure {
		t.Errorf("uncalibrated heads: Calibrated %v Sure %v", raw.Calibrated, raw.Sure)
	}
	top := slices.Max(raw.Probs)
	for _, c := range []struct {
		cal      heads.Calibration
		wantSure bool
	}{
		{heads.Calibration{Temperature: 3, SureThreshold: 0.999, SureAccuracy: 0.9}, false},
		{heads.Calibration{Temperature: 0.5, SureThreshold: float64(top) / 2, SureAccuracy: 0.8}, true},
	} {
		m.Calib = c.cal
		res, err := Predict(m, emb, nil, g)
		if err != nil {
			t.Fatal(err)
		}
		want := c.cal.Apply(raw.Probs)
		for k := range want {
			if math.Abs(float64(res.Probs[k]-want[k])) > 1e-6 {
				t.Errorf("T=%v: probs %v, want %v", c.cal.Temperature, res.Probs, want)
			}
		}
		if !res.Calibrated || res.Sure != c.wantSure || res.SureAccuracy != c.cal.SureAccuracy {
			t.Errorf("T=%v: Calibrated %v Sure %v (want %v) SureAccuracy %v", c.cal.Temperature, res.Calibrated, res.Sure, c.wantSure, res.SureAccuracy)
		}
		if res.Label != raw.Label || !slices.Equal(res.Mask, raw.Mask) {
			t.Errorf("T=%v: calibration changed the class or the mask", c.cal.Temperature)
		}
	}
}

// Typicality: without a model the distance is NaN and nothing is flagged;
// with one, the image's own context is measured, and above the refusal
// threshold the mask is cleared whatever the class.
func TestPredictTypicality(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	emb := tensor.New(8, 16, 16)
	for i := range emb.Data {
		emb.Data[i] = float32(rng.NormFloat64())
	}
	g := encoder.Geometry{OrigW: 64, OrigH: 64, ResizedW: 256, ResizedH: 256, Size: 256}
	m := tinyModel(t, 3)
	bias := m.Params()[len(m.Params())-1].Value.Data
	bias[2] = 5 // malignant, so a mask is kept
	for _, p := range m.Params() {
		if p.Name == "dec.out.bias" {
			p.Value.Data[0] = 10 // and the mask covers the image
		}
	}
	raw, err := Predict(m, emb, nil, g)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(raw.Distance) || raw.Unusual || raw.NotUltrasound || len(raw.Context) == 0 {
		t.Fatalf("no typicality model: distance %v unusual %v not-ultrasound %v, context %d values", raw.Distance, raw.Unusual, raw.NotUltrasound, len(raw.Context))
	}
	if !slices.Contains(raw.Mask, 1) {
		t.Fatal("the test needs a non-empty mask")
	}
	// a Gaussian around contexts unlike this one
	x := make([][]float64, 40)
	for i := range x {
		x[i] = make([]float64, len(raw.Context))
		for j := range x[i] {
			x[i][j] = float64(raw.Context[j]) + 10 + rng.NormFloat64()
		}
	}
	gauss, err := metrics.FitGaussian(x, 2)
	if err != nil {
		t.Fatal(err)
	}
	d := gauss.Distance(float64s(raw.Context))
	for _, c := range []struct {
		warn, refuse           float64
		unusual, notUltrasound bool
	}{{2 * d, 4 * d, false, false}, {d / 2, 2 * d, true, false}, {d / 4, d / 2, true, true}} {
		m.Typical = heads.Typicality{Gaussian: gauss, Warn: c.warn, Refuse: c.refuse}
		res, err := Predict(m, emb, nil, g)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(res.Distance-d) > 1e-9*d || res.Unusual != c.unusual || res.NotUltrasound != c.notUltrasound {
			t.Errorf("warn %v refuse %v: distance %v (want %v), unusual %v, not ultrasound %v", c.warn, c.refuse, res.Distance, d, res.Unusual, res.NotUltrasound)
		}
		if kept := slices.Contains(res.Mask, 1); kept == c.notUltrasound || res.MaskSuppressed != c.notUltrasound || res.Label != raw.Label {
			t.Errorf("warn %v refuse %v: mask kept %v, suppressed %v, label %v", c.warn, c.refuse, kept, res.MaskSuppressed, res.Label)
		}
	}
}

func float64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}
