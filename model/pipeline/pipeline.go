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

	"github.com/busam/busam/imageio"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/label"
	"github.com/busam/busam/model/tensor"
)

// Result is the analysis of one image.
type Result struct {
	Mask  []uint8 // 0|1, row-major W*H at the image's own size
	W, H  int
	Probs []float32 // class probabilities, in the order of Classes
	// Classes names the entries of Probs (normal, benign, malignant; or
	// benign, malignant for a two-class model).
	Classes []label.Label
	Label   label.Label // the most probable class
	// ViewProbs are the probabilities of each view when there are several
	// (the image, then its mirror image; calibrated like Probs), so a large
	// disagreement between them can be shown; nil for one view.
	ViewProbs [][]float32
	// Attention is the classifier's mask-guided pooling weights [1,64,64]
	// over the padded encoder frame (Geometry says which part is image).
	Attention *tensor.Tensor
	// Evidence [1,64,64], over the same frame as Attention, is where the
	// image's features pushed the classifier towards (positive) or away
	// from (negative) Label: heads.Output.Evidence (gradient x input at
	// the classifier's pooling) for Label's class, of the image's own view
	// only. The mirror view's map is not averaged in: its grid is the
	// mirrored padded frame, whose cells do not line up with the image's
	// once mirrored back (the padding sits on the right), and the map
	// explains one forward pass. Nil when the heads give none.
	Evidence *tensor.Tensor
	Geometry encoder.Geometry
	// Calibrated is set when the heads carry a calibration (busam
	// calibrate): Probs are then temperature-scaled, and Sure says whether
	// the top class reaches the threshold fitted on validation data, where
	// sure answers were right SureAccuracy of the time.
	Calibrated   bool
	Sure         bool
	SureAccuracy float64
	// MaskSuppressed is set when the model predicted "normal": a normal
	// image has no lesion, so the mask is cleared to agree with the label.
	MaskSuppressed bool
	// Distance is how unlike the training images this image is (about 1
	// for them; heads.Typicality.Distance of the image's own view), NaN
	// when the heads carry no typicality model. Unusual: above the
	// validated warning threshold. NotUltrasound: above the refusal
	// threshold; the image does not look like a breast ultrasound image
	// the model knows, and its mask is cleared (MaskSuppressed) so
	// nothing is outlined.
	Distance      float64
	Unusual       bool
	NotUltrasound bool
	// Context is the heads' context features of the image's own view
	// (heads.Output.Context), what Distance is measured on.
	Context []float32
	// Embedding is the encoder's output [256,S/16,S/16] for the image
	// (the unflipped view), on the host; only with Options.Embedding.
	Embedding *tensor.Tensor
	Timings   map[string]time.Duration // "preprocess", "encoder", "heads", "postprocess"
}

// ClassLabels maps a model's class indices to labels: three classes are
// normal, benign, malignant; two (data without normal images) are benign,
// malignant.
func ClassLabels(classes int) []label.Label {
	if classes == 2 {
		return []label.Label{label.Benign, label.Malignant}
	}
	return []label.Label{label.Normal, label.Benign, label.Malignant}[:min(classes, 3)]
}

// Heads is what the pipeline needs of the heads: *heads.Model on the
// CPU, or model/webgpu/samheads on a WebGPU device.
type Heads interface {
	Predict(in heads.Input) (heads.Output, error)
}

// Predict runs the heads on an embedding and turns their output into a
// Result. input is the encoder input (only "unet" heads read it; it may be
// nil for "conv") and g says where the image sits in the encoder frame.
func Predict(m Heads, emb, input *tensor.Tensor, g encoder.Geometry) (Result, error) {
	return predictViews(m, g, View{Embedding: emb, Input: input})
}

// View is what the heads see of one view of an image: its embedding and
// its encoder input.
type View struct{ Embedding, Input *tensor.Tensor }

// PredictFlip is Predict with test-time augmentation by a horizontal flip:
// mirror is the view of the image mirrored left-right (embedding and input
// of imageio.FlipHorizontal(img)). The heads run on both; the mirror's mask
// logits, mirrored back at the image's own size, are averaged with the
// image's, and so are the class probabilities. The attention and evidence
// maps are the unflipped view's.
func PredictFlip(m Heads, view, mirror View, g encoder.Geometry) (Result, error) {
	return predictViews(m, g, view, mirror)
}

// predictViews runs the heads on the image (views[0]) and, if given, its
// mirror image (views[1]), and averages what they predict.
func predictViews(m Heads, g encoder.Geometry, views ...View) (Result, error) {
	if noHeads(m) {
		return Result{}, fmt.Errorf("pipeline: no heads model")
	}
	if err := checkGeometry(g); err != nil {
		return Result{}, err
	}
	outs := make([]heads.Output, len(views))
	var headsTime time.Duration
	for i, v := range views {
		start := time.Now()
		out, err := m.Predict(heads.Input{Embedding: v.Embedding, Image: v.Input})
		if err != nil {
			return Result{}, fmt.Errorf("pipeline: %w", err)
		}
		headsTime += time.Since(start)
		outs[i] = out
	}
	return combine(outs, headsTime, g, calibrationOf(m), typicalityOf(m))
}

// calibrationOf is the calibration of heads (or stages) that carry one:
// *heads.Model and the WebGPU heads both do.
func calibrationOf(x any) heads.Calibration {
	if m, ok := x.(Heads); ok && noHeads(m) {
		return heads.Calibration{}
	}
	if c, ok := x.(interface{ Calibration() heads.Calibration }); ok {
		return c.Calibration()
	}
	return heads.Calibration{}
}

// typicalityOf is the typicality model of heads (or stages) that carry one.
func typicalityOf(x any) heads.Typicality {
	if m, ok := x.(Heads); ok && noHeads(m) {
		return heads.Typicality{}
	}
	if t, ok := x.(interface{ Typicality() heads.Typicality }); ok {
		return t.Typicality()
	}
	return heads.Typicality{}
}

// combine turns the heads' outputs on the image (outs[0]) and, if given,
// its mirror image (outs[1]) into one Result, averaging what they predict
// (the "postprocess" stage).
func combine(outs []heads.Output, headsTime time.Duration, g encoder.Geometry, cal heads.Calibration, typ heads.Typicality) (Result, error) {
	if err := checkGeometry(g); err != nil {
		return Result{}, err
	}
	classes := len(outs[0].ClassLogits)
	if classes < 2 || classes > 3 {
		return Result{}, fmt.Errorf("pipeline: model has %d classes, 2 or 3 are known", classes)
	}
	res := Result{Timings: map[string]time.Duration{"heads": headsTime}, Geometry: g, W: g.OrigW, H: g.OrigH}
	start := time.Now()
	var logits []float32
	res.Probs = make([]float32, classes)
	for i, out := range outs {
		if len(out.ClassLogits) != classes {
			return Result{}, fmt.Errorf("pipeline: views with %d and %d classes", classes, len(out.ClassLogits))
		}
		l := LogitsAtImage(out.MaskLogits, g)
		if i == 0 {
			logits = l
			res.Attention = out.Attention
		} else {
			for y := range g.OrigH { // mirror back and add
				row, add := logits[y*g.OrigW:(y+1)*g.OrigW], l[y*g.OrigW:(y+1)*g.OrigW]
				for x := range row {
					row[x] += add[g.OrigW-1-x]
				}
			}
		}
		view := Softmax(out.ClassLogits)
		for c, p := range view {
			res.Probs[c] += p
		}
		if len(outs) > 1 {
			res.ViewProbs = append(res.ViewProbs, cal.Apply(view))
		}
	}
	n := float32(len(outs))
	for c := range res.Probs {
		res.Probs[c] /= n
	}
	if !cal.IsZero() {
		res.Probs = cal.Apply(res.Probs)
		res.Calibrated, res.Sure, res.SureAccuracy = true, cal.Sure(res.Probs), cal.SureAccuracy
	}
	res.Classes = ClassLabels(classes)
	best := 0
	for i, p := range res.Probs {
		if p > res.Probs[best] {
			best = i
		}
	}
	res.Label = res.Classes[best]
	if ev := outs[0].Evidence; ev != nil && len(ev.Shape) == 3 && ev.Shape[0] == classes {
		p := ev.Shape[1] * ev.Shape[2]
		res.Evidence = tensor.From(ev.Data[best*p:(best+1)*p], 1, ev.Shape[1], ev.Shape[2])
	}
	res.Mask = threshold(logits)
	res.Context = outs[0].Context
	res.Distance = typ.Distance(res.Context)
	res.Unusual = res.Distance > typ.Warn
	res.NotUltrasound = res.Distance > typ.Refuse
	if res.Label == label.Normal || res.NotUltrasound {
		clear(res.Mask)
		res.MaskSuppressed = true
	}
	res.Timings["postprocess"] = time.Since(start)
	return res, nil
}

// noHeads reports a nil m, including a nil *heads.Model in the interface.
func noHeads(m Heads) bool {
	hm, ok := m.(*heads.Model)
	return m == nil || ok && hm == nil
}

// Encoder is what the pipeline needs of an image encoder: a normalized
// [3,S,S] input to its [256,S/16,S/16] embedding. The CPU encoder
// (model/encoder) and the WebGPU one (model/webgpu/tinyvit) both are.
type Encoder interface {
	Forward(x *tensor.Tensor) (*tensor.Tensor, error)
}

// Analyze runs the whole model on an image at SAM's input size
// (encoder.DefaultSize): preprocess, encoder, heads.
func Analyze(enc *encoder.Encoder, m Heads, img image.Image) (Result, error) {
	if enc == nil { // a nil *Encoder would not be a nil Encoder below
		return Result{}, fmt.Errorf("pipeline: no encoder")
	}
	return AnalyzeSize(enc, m, img, encoder.DefaultSize)
}

// AnalyzeSize is Analyze with any encoder and heads and input side (a
// multiple of 16; smaller is faster and less accurate): the wasm module
// runs it on the CPU and, in tests, at small sizes.
func AnalyzeSize(enc Encoder, m Heads, img image.Image, size int) (Result, error) {
	return AnalyzeWith(enc, m, img, Options{Size: size})
}

// Options tune AnalyzeWith.
type Options struct {
	Size int // encoder input side, a multiple of 16 (encoder.DefaultSize for SAM)
	// Flip adds test-time augmentation: the image is analysed mirrored too
	// (twice the encoder time) and the two predictions are averaged
	// (PredictFlip).
	Flip bool
	// Embedding keeps the image's embedding in Result.Embedding, for
	// checks against another encoder; stages that keep it on a device
	// (Stages[E] other than a host tensor) must be an EmbeddingReader[E],
	// and pay a read back.
	Embedding bool
}

// AnalyzeWith runs the whole model on an image: preprocess, encoder, heads.
func AnalyzeWith(enc Encoder, m Heads, img image.Image, opt Options) (Result, error) {
	if enc == nil {
		return Result{}, fmt.Errorf("pipeline: no encoder")
	}
	if noHeads(m) {
		return Result{}, fmt.Errorf("pipeline: no heads model")
	}
	return AnalyzeStages[*tensor.Tensor](hostStages{enc, m}, img, opt)
}

// Stages is the model as the pipeline runs and times it: Encode (the
// "encoder" stage) maps the normalized input [3,S,S] to an embedding E,
// kept wherever the implementation computes it, and Decode (the "heads"
// stage) runs the heads on it and the input; it owns emb from then on.
// E is a host tensor on the CPU; a device buffer on WebGPU, so there the
// embedding never leaves the GPU (unless Options.Embedding asks for it).
type Stages[E any] interface {
	Encode(input *tensor.Tensor) (E, error)
	Decode(emb E, input *tensor.Tensor) (heads.Output, error)
}

// hostStages are an Encoder and Heads exchanging a host tensor.
type hostStages struct {
	enc Encoder
	m   Heads
}

func (s hostStages) Encode(input *tensor.Tensor) (*tensor.Tensor, error) { return s.enc.Forward(input) }

func (s hostStages) Decode(emb, input *tensor.Tensor) (heads.Output, error) {
	return s.m.Predict(heads.Input{Embedding: emb, Image: input})
}

// ReadEmbedding copies emb, which the heads own from Decode on.
// Calibration is the heads'.
func (s hostStages) Calibration() heads.Calibration { return calibrationOf(s.m) }

// Typicality is the heads'.
func (s hostStages) Typicality() heads.Typicality { return typicalityOf(s.m) }

func (hostStages) ReadEmbedding(emb *tensor.Tensor) (*tensor.Tensor, error) { return emb.Clone(), nil }

// EmbeddingReader is Stages that can copy their embedding to the host
// (Options.Embedding). AnalyzeStages calls it between Encode and Decode.
type EmbeddingReader[E any] interface {
	ReadEmbedding(emb E) (*tensor.Tensor, error)
}

// AnalyzeStages runs the whole model s on an image: preprocess, encoder,
// heads (once more on the mirror image with Options.Flip), postprocess.
func AnalyzeStages[E any](s Stages[E], img image.Image, opt Options) (Result, error) {
	if img == nil || img.Bounds().Empty() {
		return Result{}, fmt.Errorf("pipeline: empty image")
	}
	if opt.Size < 16 || opt.Size%16 != 0 {
		return Result{}, fmt.Errorf("pipeline: input size %d is not a positive multiple of 16", opt.Size)
	}
	reader, canRead := s.(EmbeddingReader[E])
	if opt.Embedding && !canRead {
		return Result{}, fmt.Errorf("pipeline: these stages (%T) cannot read their embedding back", s)
	}
	imgs := []image.Image{img}
	if opt.Flip {
		imgs = append(imgs, imageio.FlipHorizontal(img))
	}
	var outs []heads.Output
	var g encoder.Geometry
	var embedding *tensor.Tensor
	var pre, encTime, headsTime time.Duration
	for i, im := range imgs {
		start := time.Now()
		input, geo := encoder.Preprocess(im, opt.Size)
		g = geo
		pre += time.Since(start)
		start = time.Now()
		emb, err := s.Encode(input)
		if err != nil {
			return Result{}, fmt.Errorf("pipeline: %w", err)
		}
		encTime += time.Since(start)
		var readErr error
		if opt.Embedding && i == 0 { // before Decode, which owns emb; timed as neither stage
			embedding, readErr = reader.ReadEmbedding(emb)
		}
		start = time.Now()
		out, err := s.Decode(emb, input) // run even after a failed read: it frees emb
		if readErr != nil {
			return Result{}, fmt.Errorf("pipeline: reading the embedding back: %w", readErr)
		}
		if err != nil {
			return Result{}, fmt.Errorf("pipeline: %w", err)
		}
		headsTime += time.Since(start)
		outs = append(outs, out)
	}
	res, err := combine(outs, headsTime, g, calibrationOf(s), typicalityOf(s))
	if err != nil {
		return Result{}, err
	}
	res.Timings["preprocess"] = pre
	res.Timings["encoder"] = encTime
	res.Embedding = embedding
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
// 0|1 mask at the image's size: LogitsAtImage thresholded at 0
// (probability 0.5).
func MaskFromLogits(logits *tensor.Tensor, g encoder.Geometry) []uint8 {
	return threshold(LogitsAtImage(logits, g))
}

// LogitsAtImage brings mask logits over the padded frame [1,n,n] to the
// image's own size: bilinear upsampling to the encoder frame (g.Size),
// crop of the resized image, bilinear resize to the original size.
func LogitsAtImage(logits *tensor.Tensor, g encoder.Geometry) []float32 {
	n := logits.Shape[len(logits.Shape)-1]
	frame := Resize(logits.Data, n, n, g.Size, g.Size, g.ResizedW, g.ResizedH)
	return Resize(frame, g.ResizedW, g.ResizedH, g.OrigW, g.OrigH, g.OrigW, g.OrigH)
}

// threshold is 1 where a logit is above 0.
func threshold(logits []float32) []uint8 {
	mask := make([]uint8, len(logits))
	for i, v := range logits {
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
