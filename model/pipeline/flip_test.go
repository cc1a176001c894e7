package pipeline

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/busam/busam/imageio"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/tensor"
)

func randomView(rng *rand.Rand, c, n int) View {
	v := View{Embedding: tensor.New(c, n, n)}
	for i := range v.Embedding.Data {
		v.Embedding.Data[i] = float32(rng.NormFloat64())
	}
	return v
}

// mirrorMask flips a W x H mask left-right.
func mirrorMask(m []uint8, w, h int) []uint8 {
	out := make([]uint8, len(m))
	for y := range h {
		for x := range w {
			out[y*w+x] = m[y*w+w-1-x]
		}
	}
	return out
}

// PredictFlip treats its two views alike, up to the mirror: swapping them
// mirrors the mask and keeps the probabilities, which are the mean of the
// two views' own.
func TestPredictFlipAveragesMirroredViews(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	g := encoder.Geometry{OrigW: 90, OrigH: 60, ResizedW: 256, ResizedH: 171, Size: 256}
	m := tinyModel(t, 3)
	bias := m.Params()[len(m.Params())-1].Value.Data // fc2: make it say benign
	clear(bias)
	bias[1] = 5
	for _, p := range m.Params() { // and draw a partial mask
		if p.Name == "dec.out.bias" {
			p.Value.Data[0] = 0
		}
	}
	a, b := randomView(rng, 8, 16), randomView(rng, 8, 16)
	ab, err := PredictFlip(m, a, b, g)
	if err != nil {
		t.Fatal(err)
	}
	ba, err := PredictFlip(m, b, a, g)
	if err != nil {
		t.Fatal(err)
	}
	if ab.MaskSuppressed || !slices.Contains(ab.Mask, 1) || !slices.Contains(ab.Mask, 0) {
		t.Fatal("the test needs a lesion result with a partial mask")
	}
	if !slices.Equal(ab.Mask, mirrorMask(ba.Mask, g.OrigW, g.OrigH)) {
		t.Error("swapping the views did not mirror the mask")
	}
	ra, _ := Predict(m, a.Embedding, nil, g)
	rb, _ := Predict(m, b.Embedding, nil, g)
	for c := range ab.Probs {
		want := (ra.Probs[c] + rb.Probs[c]) / 2
		if math.Abs(float64(ab.Probs[c]-want)) > 1e-6 || math.Abs(float64(ba.Probs[c]-want)) > 1e-6 {
			t.Errorf("class %d: probabilities %v / %v, want the mean %v", c, ab.Probs[c], ba.Probs[c], want)
		}
	}
	// each view's own probabilities come along, in view order
	if len(ab.ViewProbs) != 2 || !slices.Equal(ab.ViewProbs[0], ra.Probs) || !slices.Equal(ab.ViewProbs[1], rb.Probs) ||
		!slices.Equal(ba.ViewProbs[0], rb.Probs) || ra.ViewProbs != nil {
		t.Errorf("view probabilities %v (one view: %v), want %v and %v", ab.ViewProbs, ra.ViewProbs, ra.Probs, rb.Probs)
	}
	// the evidence map is the image's own view's, for the averaged label
	if ab.Evidence == nil || ab.Label != ra.Label || !slices.Equal(ab.Evidence.Data, ra.Evidence.Data) {
		t.Error("the evidence map is not the image's own view's")
	}
	// The mask is the average of the logits: where both views agree it
	// agrees with them.
	ma, mb := ra.Mask, mirrorMask(rb.Mask, g.OrigW, g.OrigH)
	for i := range ma {
		if ma[i] == mb[i] && ab.Mask[i] != ma[i] {
			t.Fatalf("pixel %d: both views say %d, the average says %d", i, ma[i], ab.Mask[i])
		}
	}
}

// AnalyzeWith's Flip runs the encoder on the image and its mirror image
// and is PredictFlip of the two views.
func TestAnalyzeWithFlip(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 90, 60))
	for y := range 60 {
		for x := range 90 {
			img.SetGray(x, y, color.Gray{uint8((x*x + 3*y) % 256)})
		}
	}
	m := tinyModel(t, 3)
	enc := &poolEncoder{channels: 8}
	res, err := AnalyzeWith(enc, m, img, Options{Size: 128, Flip: true})
	if err != nil {
		t.Fatal(err)
	}
	in1, g := encoder.Preprocess(img, 128)
	in2, _ := encoder.Preprocess(imageio.FlipHorizontal(img), 128)
	e1, _ := enc.Forward(in1)
	e2, _ := enc.Forward(in2)
	want, err := PredictFlip(m, View{e1, in1}, View{e2, in2}, g)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Mask, want.Mask) || !slices.Equal(res.Probs, want.Probs) {
		t.Error("AnalyzeWith(Flip) and PredictFlip disagree")
	}
	plain, _ := AnalyzeWith(enc, m, img, Options{Size: 128})
	if slices.Equal(plain.Probs, res.Probs) {
		t.Error("the flip changed nothing: was the mirror analysed?")
	}
}
