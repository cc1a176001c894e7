// Package pipeline is the one path from an image (or a cached embedding) to
// a result: encoder -> heads -> mask at the image's own size, class
// probabilities and the attention map. Prediction, evaluation, the wasm
// module and the server all call it, so they cannot drift apart.
package pipeline

import (
	"fmt"
	"image"
	"math"
	"time"

	"github.com/busam/busam/dataset"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/tensor"
)

// Result is the analysis of one image.
type Result struct {
	Mask  []uint8 // 0|1, row-major W*H at the image's own size
	W, H  int
	Probs []float32 // class probabilities, in the order of Classes
	// Classes names the entries of Probs (normal, benign, malignant; or
	// benign, malignant for a two-class model).
	Classes []dataset.Label
	Label   dataset.Label // the most probable class
	// Attention is the classifier's mask-guided pooling weights [1,64,64]
	// over the padded encoder frame (Geometry says which part is image).
	Attention *tensor.Tensor
	Geometry  encoder.Geometry
	// MaskSuppressed is set when the model predicted "normal": a normal
	// image has no lesion, so the mask is cleared to agree with the label.
	MaskSuppressed bool
	Timings        map[string]time.Duration // "preprocess", "encoder", "heads", "postprocess"
}

// ClassLabels maps a model's class indices to labels: three classes are
// normal, benign, malignant; two (data without normal images) are benign,
// malignant.
func ClassLabels(classes int) []dataset.Label {
	if classes == 2 {
		return []dataset.Label{dataset.Benign, dataset.Malignant}
	}
	return []dataset.Label{dataset.Normal, dataset.Benign, dataset.Malignant}[:min(classes, 3)]
}

// Predict runs the heads on an embedding and turns their output into a
// Result. input is the encoder input (only "unet" heads read it; it may be
// nil for "conv") and g says where the image sits in the encoder frame.
func Predict(m *heads.Model, emb, input *tensor.Tensor, g encoder.Geometry) (Result, error) {
	if m == nil {
		return Result{}, fmt.Errorf("pipeline: no heads model")
	}
	if err := checkGeometry(g); err != nil {
		return Result{}, err
	}
	if m.Config.Classes > 3 {
		return Result{}, fmt.Errorf("pipeline: model has %d classes, at most 3 are known", m.Config.Classes)
	}
	res := Result{Timings: map[string]time.Duration{}, Geometry: g, W: g.OrigW, H: g.OrigH}
	start := time.Now()
	out, err := m.Predict(heads.Input{Embedding: emb, Image: input})
	if err != nil {
		return Result{}, fmt.Errorf("pipeline: %w", err)
	}
	res.Timings["heads"] = time.Since(start)

	start = time.Now()
	res.Classes = ClassLabels(m.Config.Classes)
	res.Probs = Softmax(out.ClassLogits)
	best := 0
	for i, p := range res.Probs {
		if p > res.Probs[best] {
			best = i
		}
	}
	res.Label = res.Classes[best]
	res.Attention = out.Attention
	res.Mask = MaskFromLogits(out.MaskLogits, g)
	if res.Label == dataset.Normal {
		clear(res.Mask)
		res.MaskSuppressed = true
	}
	res.Timings["postprocess"] = time.Since(start)
	return res, nil
}

// FromEmbedding is Predict for callers that have already validated their
// inputs; on invalid input it returns an empty Result (W = H = 0) rather
// than panicking.
func FromEmbedding(m *heads.Model, emb *tensor.Tensor, input *tensor.Tensor, g encoder.Geometry) Result {
	res, _ := Predict(m, emb, input, g)
	return res
}

// Encoder is what the pipeline needs of an image encoder: a normalized
// [3,S,S] input to its [256,S/16,S/16] embedding. The CPU encoder
// (model/encoder) and the WebGPU one (model/webgpu/tinyvit) both are.
type Encoder interface {
	Forward(x *tensor.Tensor) (*tensor.Tensor, error)
}

// Analyze runs the whole model on an image at SAM's input size
// (encoder.DefaultSize): preprocess, encoder, heads.
func Analyze(enc *encoder.Encoder, m *heads.Model, img image.Image) (Result, error) {
	if enc == nil { // a nil *Encoder would not be a nil Encoder below
		return Result{}, fmt.Errorf("pipeline: no encoder")
	}
	return AnalyzeSize(enc, m, img, encoder.DefaultSize)
}

// AnalyzeSize is Analyze with any encoder and input side (a multiple of
// 16; smaller is faster and less accurate): the wasm module runs it with
// the WebGPU encoder and, in tests, at small sizes.
func AnalyzeSize(enc Encoder, m *heads.Model, img image.Image, size int) (Result, error) {
	if enc == nil {
		return Result{}, fmt.Errorf("pipeline: no encoder")
	}
	if img == nil || img.Bounds().Empty() {
		return Result{}, fmt.Errorf("pipeline: empty image")
	}
	if size < 16 || size%16 != 0 {
		return Result{}, fmt.Errorf("pipeline: input size %d is not a positive multiple of 16", size)
	}
	start := time.Now()
	input, g := encoder.Preprocess(img, size)
	pre := time.Since(start)
	start = time.Now()
	emb, err := enc.Forward(input)
	if err != nil {
		return Result{}, fmt.Errorf("pipeline: %w", err)
	}
	encTime := time.Since(start)
	res, err := Predict(m, emb, input, g)
	if err != nil {
		return Result{}, err
	}
	res.Timings["preprocess"] = pre
	res.Timings["encoder"] = encTime
	return res, nil
}

func checkGeometry(g encoder.Geometry) error {
	if g.Size < 1 || g.OrigW < 1 || g.OrigH < 1 || g.ResizedW < 1 || g.ResizedH < 1 ||
		g.ResizedW > g.Size || g.ResizedH > g.Size || g.OrigW > 1<<15 || g.OrigH > 1<<15 {
		return fmt.Errorf("pipeline: invalid geometry %+v", g)
	}
	return nil
}

// MaskFromLogits turns mask logits over the padded frame [1,n,n] into a
// 0|1 mask at the image's size: bilinear upsampling to the encoder frame
// (g.Size), crop of the resized image, bilinear resize to the original
// size, threshold at 0 (probability 0.5).
func MaskFromLogits(logits *tensor.Tensor, g encoder.Geometry) []uint8 {
	n := logits.Shape[len(logits.Shape)-1]
	frame := Resize(logits.Data, n, n, g.Size, g.Size, g.ResizedW, g.ResizedH)
	img := Resize(frame, g.ResizedW, g.ResizedH, g.OrigW, g.OrigH, g.OrigW, g.OrigH)
	mask := make([]uint8, len(img))
	for i, v := range img {
		if v > 0 {
			mask[i] = 1
		}
	}
	return mask
}

// Softmax returns the probabilities of logits.
func Softmax(logits []float32) []float32 {
	out := make([]float32, len(logits))
	if len(logits) == 0 {
		return out
	}
	mx := logits[0]
	for _, v := range logits {
		mx = max(mx, v)
	}
	var sum float32
	for i, v := range logits {
		out[i] = float32(math.Exp(float64(v - mx)))
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}
