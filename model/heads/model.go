package heads

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/busam/busam/model/tensor"
)

// Config describes a head model; it is stored as JSON in the weights file,
// so a saved model rebuilds itself without outside knowledge.
type Config struct {
	Kind     string `json:"kind"`      // "conv" or "unet"
	EmbedDim int    `json:"embed_dim"` // channels of the encoder embedding (256 for SAM)
	Classes  int    `json:"classes"`   // 3 (normal, benign, malignant) or 2 (benign, malignant)
	Width    [3]int `json:"width"`     // decoder channels at the embedding's resolution, x2 and x4
	Stem     [2]int `json:"stem"`      // unet image-stem channels at x4 and x2 (unused by "conv")
	Groups   int    `json:"groups"`    // GroupNorm groups; every normalised width must be a multiple
	// MidBlocks is the number of residual 3x3 blocks at the embedding's
	// resolution (0 means 1); each widens the receptive field by a cell.
	MidBlocks int     `json:"mid_blocks,omitempty"`
	Hidden    int     `json:"hidden"`    // classifier MLP width
	Dropout   float64 `json:"dropout"`   // classifier dropout probability while training
	AttnEps   float64 `json:"attn_eps"`  // pixels of mask mass added to the pooling normaliser
	InitSeed  uint64  `json:"init_seed"` // seed of the weight initialisation
}

// DefaultConfig returns the configuration used for training on SAM
// embeddings [256,64,64] with three classes.
func DefaultConfig(kind string) Config {
	return Config{Kind: kind, EmbedDim: 256, Classes: 3, Width: [3]int{32, 16, 8}, Stem: [2]int{4, 8},
		Groups: 4, Hidden: 64, Dropout: 0.2, AttnEps: 1, InitSeed: 1}
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	if c.Kind != "conv" && c.Kind != "unet" {
		return fmt.Errorf("heads: kind %q, want conv or unet", c.Kind)
	}
	if c.EmbedDim < 1 || c.Classes < 2 || c.Hidden < 1 || c.Groups < 1 {
		return fmt.Errorf("heads: config needs embed_dim >= 1, classes >= 2, hidden >= 1, groups >= 1: %+v", c)
	}
	normed := []int{c.Width[0], c.Width[1], c.Width[2]}
	if c.Kind == "unet" {
		normed = append(normed, c.Stem[1])
		if c.Stem[0] < 1 {
			return fmt.Errorf("heads: unet stem widths must be positive: %v", c.Stem)
		}
	}
	for _, w := range normed {
		if w < 1 || w%c.Groups != 0 {
			return fmt.Errorf("heads: width %d is not a positive multiple of groups %d", w, c.Groups)
		}
	}
	// Caps keep a corrupt or hostile config from allocating gigabytes.
	for _, v := range []int{c.EmbedDim, c.Width[0], c.Width[1], c.Width[2], c.Stem[0], c.Stem[1], c.Hidden} {
		if v > 4096 {
			return fmt.Errorf("heads: config dimension %d exceeds 4096: %+v", v, c)
		}
	}
	if c.MidBlocks < 0 || c.MidBlocks > 16 {
		return fmt.Errorf("heads: mid_blocks %d not in [0,16]", c.MidBlocks)
	}
	if c.Classes > 64 {
		return fmt.Errorf("heads: %d classes, at most 64", c.Classes)
	}
	if c.Dropout < 0 || c.Dropout >= 1 || c.AttnEps <= 0 {
		return fmt.Errorf("heads: dropout must be in [0,1) and attn_eps > 0: %+v", c)
	}
	return nil
}

// Input is what the heads see: the encoder embedding and, for "unet", the
// encoder input image for the skip features.
type Input struct {
	Embedding *tensor.Tensor // [EmbedDim, h, w] ([256,64,64] for SAM)
	// Image is the normalised encoder input [3, 16h, 16w] or any multiple
	// k*4h x k*4w of the output grid (it is average-pooled to 4h x 4w
	// inside). Only "unet" reads it.
	Image *tensor.Tensor
}

// Output is what the heads predict.
type Output struct {
	MaskLogits  *tensor.Tensor // [1, 4h, 4w] over the padded encoder frame
	ClassLogits []float32      // [Classes]
	Attention   *tensor.Tensor // [1, h, w] mask-guided pooling weights (sum <= 1)
	// Context is the mean of the classifier's features (embedding and
	// decoder) over the whole grid, before standardisation: what the
	// image looks like as a whole, the input of Typicality.
	Context []float32
	// ClassifierInput is the classifier's input z [2c+2] before
	// standardisation (pooled features, their grid mean, the mask's mean
	// and peak; c = EmbedDim+Width[0]); Context is its z[c:2c].
	ClassifierInput []float32
	// Evidence [Classes, h, w] is, per class k, where the image's features
	// pushed the classifier towards (positive) or away from (negative) k:
	// gradient x input at the classifier's pooling of the log-odds of k
	// against the other classes, over the whole grid (evidence.go). Nil
	// from the training forward pass.
	Evidence *tensor.Tensor
}

// convBlock is conv -> GroupNorm (optional) -> GELU.
type convBlock struct {
	conv *Conv2d
	norm *GroupNorm
}

type blockTape struct {
	x, pre *tensor.Tensor // block input, activation input
	col    []float32      // the convolution's im2col matrix
	st     normStats
}

func newBlock(s *paramSet, name string, in, out, k, groups int, norm bool) *convBlock {
	b := &convBlock{conv: newConv2d(s, name+".conv", in, out, k, !norm)}
	if norm {
		b.norm = newGroupNorm(s, name+".norm", out, groups)
	}
	return b
}

func (b *convBlock) forward(x *tensor.Tensor) (*tensor.Tensor, blockTape) {
	t := blockTape{x: x}
	t.pre, t.col = b.conv.forward(x)
	if b.norm != nil {
		t.pre, t.st = b.norm.Forward(t.pre)
	}
	return GELU(t.pre), t
}

func (b *convBlock) backward(t blockTape, dy *tensor.Tensor, g Grads, wantDx bool) *tensor.Tensor {
	d := GELUBackward(t.pre, dy)
	if b.norm != nil {
		d = b.norm.Backward(t.st, d, g)
	}
	return b.conv.backward(t.x, t.col, d, g, wantDx)
}

// Model is a mask decoder plus a mask-guided classifier.
//
// Decoder, for an embedding e [E,h,w]:
//
//	a  = block1x1(e); a = block3x3(a) + a, MidBlocks times: a2  [W0,h,w]
//	b  = block3x3(up2(1x1(a2)) [++ stem x2])                    [W1,2h,2w]
//	c  = block3x3(up2(1x1(b))  [++ stem x4])                    [W2,4h,4w]
//	mask logits = 1x1(c)                                        [1,4h,4w]
//
// Classifier: the soft mask sigmoid(logits), average-pooled to h x w and
// normalised by (its sum + AttnEps), weights a pooling of [e ++ a2]; that
// pooled vector, the global averages, and the mask's mean and peak are
// standardised per feature with fixed training-set statistics, then go
// through LayerNorm -> Linear -> GELU -> Dropout -> Linear. The mask is a
// constant for the classifier's gradient, so the class loss cannot shrink
// or grow the mask to suit itself; it does train a2.
type Model struct {
	Config Config
	params []*Param

	// EncoderOverrides are encoder tensors trained with these heads (a
	// fine-tuned neck), by the encoder's tensor names ("neck.0.weight");
	// nil when the encoder is used as published. They travel in the heads
	// file as "encoder.<name>"; loaders apply them to the encoder
	// (encoder.ApplyOverrides) before it runs.
	EncoderOverrides map[string]*tensor.Tensor
	// Calib calibrates the class probabilities (busam calibrate); it is
	// applied by the pipeline, not by Infer, so training never sees it.
	Calib Calibration
	// Typical says whether an image looks like the training images
	// (busam calibrate); applied by the pipeline, like Calib.
	Typical Typicality

	stem4, stem2    *convBlock // unet only
	in, up1, up2    *convBlock
	mids            []*convBlock // residual blocks at the embedding's resolution
	red1, red2, out *Conv2d
	// featShift, featScale standardise the classifier input per feature
	// (frozen; the trainer sets them from training data, see SetFeatureStats).
	featShift, featScale *Param
	norm                 *LayerNorm
	fc1, fc2             *Linear
}

// poolFeatures is the channel count c of the features the classifier pools
// (the embedding and the first decoder block): its input z has 2c+2 values,
// and Output.Context c.
func (c Config) poolFeatures() int { return c.EmbedDim + c.Width[0] }

// New builds a model with seeded random weights.
func New(c Config) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	s := newParamSet(c.InitSeed)
	m := &Model{Config: c}
	w0, w1, w2 := c.Width[0], c.Width[1], c.Width[2]
	skip2, skip4 := 0, 0
	if c.Kind == "unet" {
		m.stem4 = newBlock(s, "stem4", 3, c.Stem[0], 3, c.Groups, false)
		m.stem2 = newBlock(s, "stem2", c.Stem[0], c.Stem[1], 3, c.Groups, true)
		skip4, skip2 = c.Stem[0], c.Stem[1]
	}
	m.in = newBlock(s, "dec.in", c.EmbedDim, w0, 1, c.Groups, true)
	for i := range max(1, c.MidBlocks) {
		name := "dec.mid" // the first keeps the name it had before MidBlocks
		if i > 0 {
			name = fmt.Sprintf("dec.mid%d", i+1)
		}
		m.mids = append(m.mids, newBlock(s, name, w0, w0, 3, c.Groups, true))
	}
	m.red1 = newConv2d(s, "dec.red1", w0, w1, 1, false)
	m.up1 = newBlock(s, "dec.up1", w1+skip2, w1, 3, c.Groups, true)
	m.red2 = newConv2d(s, "dec.red2", w1, w2, 1, false)
	m.up2 = newBlock(s, "dec.up2", w2+skip4, w2, 3, c.Groups, true)
	m.out = newConv2d(s, "dec.out", w2, 1, 1, true)
	// Start the mask near "no lesion" (sigmoid(-2) = 0.12), close to the
	// lesion share of a frame, so early Dice gradients are not swamped.
	s.normal(m.out.W, 0.01)
	s.fill(m.out.B, -2)
	feat := 2*c.poolFeatures() + 2
	m.featShift = s.add("cls.feat_shift", feat)
	m.featScale = s.fill(s.add("cls.feat_scale", feat), 1)
	m.featShift.Frozen, m.featScale.Frozen = true, true
	m.norm = newLayerNorm(s, "cls.norm", feat)
	m.fc1 = newLinear(s, "cls.fc1", feat, c.Hidden, heStd(feat))
	m.fc2 = newLinear(s, "cls.fc2", c.Hidden, c.Classes, 0.01)
	m.params = s.params
	return m, nil
}

// Params returns the trainable tensors in a fixed order.
func (m *Model) Params() []*Param { return m.params }

// NumParams is the number of trainable scalars.
func (m *Model) NumParams() int {
	n := 0
	for _, p := range m.params {
		n += p.Value.Len()
	}
	return n
}

// Check reports why in cannot be fed to the model, or nil.
func (m *Model) Check(in Input) error {
	e := in.Embedding
	if e == nil || len(e.Shape) != 3 || e.Shape[0] != m.Config.EmbedDim || e.Shape[1] < 1 || e.Shape[2] < 1 || e.Len() != tensor.Numel(e.Shape) {
		shape := []int(nil)
		if e != nil {
			shape = e.Shape
		}
		return fmt.Errorf("heads: embedding %v, want [%d,h,w]", shape, m.Config.EmbedDim)
	}
	if m.Config.Kind != "unet" {
		return nil
	}
	im := in.Image
	if im == nil {
		return errors.New("heads: unet needs the encoder input image")
	}
	oh, ow := 4*e.Shape[1], 4*e.Shape[2]
	if len(im.Shape) != 3 || im.Shape[0] != 3 || im.Shape[1]%oh != 0 || im.Shape[2]%ow != 0 ||
		im.Shape[1]/oh != im.Shape[2]/ow || im.Shape[1] == 0 || im.Len() != tensor.Numel(im.Shape) {
		return fmt.Errorf("heads: image %v, want [3,k*%d,k*%d]", im.Shape, oh, ow)
	}
	return nil
}

// Predict validates in and runs the model in inference mode.
func (m *Model) Predict(in Input) (Output, error) {
	if err := m.Check(in); err != nil {
		return Output{}, err
	}
	return m.infer(in)
}

// Tape is what a training forward pass keeps for its backward pass: the
// recorder's notes of one Infer run (record.go).
type Tape struct {
	blocks      map[*Conv2d]blockTape      // each block's tape, by its convolution
	convIn      map[*Conv2d]*tensor.Tensor // the inputs of red1, red2 and out
	att         attention
	feats       *tensor.Tensor // [E+W0, h, w]
	z           *tensor.Tensor // classifier input
	zst         normStats
	zn, h1, h1d *tensor.Tensor
	keep        []float32
}

// ForwardTrain runs the model in training mode: dropout draws from rng
// (nil disables it) and the returned Tape feeds Backward. in must pass Check.
func (m *Model) ForwardTrain(in Input, rng *rand.Rand) (Output, *Tape) {
	return m.forward(in, rng, nil)
}

// ForwardTrainMask is ForwardTrain with the classifier's attention taken
// from prob [1,4h,4w], lesion probabilities over the mask grid, instead of
// the predicted mask: training can pool under the true mask (teacher
// forcing) while the decoder is still poor.
func (m *Model) ForwardTrainMask(in Input, rng *rand.Rand, prob *tensor.Tensor) (Output, *Tape) {
	att := m.attentionFrom(prob)
	return m.forward(in, rng, &att)
}

// ClassifierInput returns the classifier's input vector before
// standardisation, pooling under prob [1,4h,4w]; the trainer gathers
// feature statistics with it. in must pass Check.
func (m *Model) ClassifierInput(in Input, prob *tensor.Tensor) []float32 {
	att := m.attentionFrom(prob)
	_, t := m.forward(in, nil, &att)
	return t.z.Data
}

// SetFeatureStats sets the per-feature standardisation of the classifier
// input: x -> (x - mean) / std, with std floored at 1e-3.
func (m *Model) SetFeatureStats(mean, std []float32) error {
	if len(mean) != m.featShift.Value.Len() || len(std) != len(mean) {
		return fmt.Errorf("heads: %d/%d feature statistics for %d features", len(mean), len(std), m.featShift.Value.Len())
	}
	copy(m.featShift.Value.Data, mean)
	for i, s := range std {
		m.featScale.Value.Data[i] = 1 / max(s, 1e-3)
	}
	return nil
}

// attention is the classifier's view of the predicted mask: pooling
// weights plus the mask's mean and peak at the embedding's resolution.
type attention struct {
	weights    []float32
	mean, peak float32
}

// maskAttention derives the attention from the mask logits.
func (m *Model) maskAttention(logits *tensor.Tensor) attention {
	return m.attentionFrom(Sigmoid(logits))
}

// attentionFrom derives the attention from lesion probabilities [1,4h,4w].
func (m *Model) attentionFrom(prob *tensor.Tensor) attention {
	soft := AvgPool(prob, 4)
	var mass float64
	var peak float32
	for _, v := range soft.Data {
		mass += float64(v)
		peak = max(peak, v)
	}
	norm := float32(1 / (mass + m.Config.AttnEps))
	a := attention{weights: make([]float32, soft.Len()), mean: float32(mass / float64(soft.Len())), peak: peak}
	for i, v := range soft.Data {
		a.weights[i] = v * norm
	}
	return a
}

// Backward adds into g the gradients of a loss whose derivatives are dMask
// (w.r.t. the mask logits, [1,4h,4w]) and dClass (w.r.t. the class
// logits); either may be nil.
func (m *Model) Backward(t *Tape, dMask *tensor.Tensor, dClass []float32, g Grads) {
	m.backward(t, dMask, dClass, g, false)
}

// BackwardEmbedding is Backward that also returns the gradient w.r.t. the
// input embedding [E,h,w], through the decoder and the classifier's
// pooling of the embedding, for training the encoder's neck; the image
// skip of "unet" is not differentiated. The mask-derived attention stays a
// constant, as in Backward.
func (m *Model) BackwardEmbedding(t *Tape, dMask *tensor.Tensor, dClass []float32, g Grads) *tensor.Tensor {
	return m.backward(t, dMask, dClass, g, true)
}

func (m *Model) backward(t *Tape, dMask *tensor.Tensor, dClass []float32, g Grads, wantDE bool) *tensor.Tensor {
	a2, b, c := t.convIn[m.red1], t.convIn[m.red2], t.convIn[m.out]
	unet := m.Config.Kind == "unet"
	h, w := a2.Shape[1], a2.Shape[2]
	da2 := tensor.New(a2.Shape...)
	var dePool []float32 // the classifier's part of the embedding gradient
	if dClass != nil {
		d := tensor.From(append([]float32(nil), dClass...), len(dClass))
		d = m.fc2.Backward(t.h1d, d, g)
		if t.keep != nil {
			d = DropoutBackward(t.keep, d)
		}
		d = GELUBackward(t.h1, d)
		d = m.fc1.Backward(t.zn, d, g)
		d = m.norm.Backward(t.zst, d, g)
		for i, sc := range m.featScale.Value.Data {
			d.Data[i] *= sc
		}
		// Only a2 is trainable among the pooled features; the mask stats
		// are constants for the classifier (see Model).
		np := 2 * t.feats.Shape[0]
		df := MaskPoolBackward(t.feats.Shape, t.att.weights, tensor.From(d.Data[:np], np))
		copy(da2.Data, df.Data[m.Config.EmbedDim*h*w:])
		dePool = df.Data[:m.Config.EmbedDim*h*w]
	}
	if dMask != nil {
		dc := m.out.Backward(c, dMask, g, true)
		du2 := m.up2.backward(t.blocks[m.up2.conv], dc, g, true)
		var ds4 *tensor.Tensor
		if unet {
			parts := Split(du2, m.Config.Width[2], m.Config.Stem[0])
			du2, ds4 = parts[0], parts[1]
		}
		db := m.red2.Backward(b, Upsample2xBackward(du2), g, true)
		du1 := m.up1.backward(t.blocks[m.up1.conv], db, g, true)
		if unet {
			parts := Split(du1, m.Config.Width[1], m.Config.Stem[1])
			du1 = parts[0]
			ds4p := m.stem2.backward(t.blocks[m.stem2.conv], parts[1], g, true)
			up := AvgPoolBackward(ds4p, 2)
			for i, v := range up.Data {
				ds4.Data[i] += v
			}
			m.stem4.backward(t.blocks[m.stem4.conv], ds4, g, false)
		}
		dr1 := m.red1.Backward(a2, Upsample2xBackward(du1), g, true)
		for i, v := range dr1.Data {
			da2.Data[i] += v
		}
	}
	da1 := da2
	for k := len(m.mids) - 1; k >= 0; k-- { // residual a <- block(a) + a
		d := m.mids[k].backward(t.blocks[m.mids[k].conv], da1, g, true)
		for i, v := range da1.Data {
			d.Data[i] += v
		}
		da1 = d
	}
	de := m.in.backward(t.blocks[m.in.conv], da1, g, wantDE)
	if de != nil && dePool != nil {
		for i, v := range dePool {
			de.Data[i] += v
		}
	}
	return de
}

// FLOPs is the floating-point operation count of one inference pass on an
// [E,h,w] embedding, counting a multiply-add as two; convolutions and
// linear layers only (elementwise work is a few percent).
func (m *Model) FLOPs(h, w int) int64 {
	var f int64
	if m.stem4 != nil {
		f += m.stem4.conv.FLOPs(4*h, 4*w) + m.stem2.conv.FLOPs(2*h, 2*w)
	}
	f += m.in.conv.FLOPs(h, w) + m.red1.FLOPs(h, w)
	for _, blk := range m.mids {
		f += blk.conv.FLOPs(h, w)
	}
	f += m.up1.conv.FLOPs(2*h, 2*w) + m.red2.FLOPs(2*h, 2*w)
	f += m.up2.conv.FLOPs(4*h, 4*w) + m.out.FLOPs(4*h, 4*w)
	f += 2 * int64(m.fc1.In*m.fc1.Out+m.fc2.In*m.fc2.Out)
	return f
}

// TrainFLOPs is the operation count of one training step (forward and
// backward) for one sample: backward costs two forwards per layer, except
// the input gradients of the first layers, which nobody needs.
func (m *Model) TrainFLOPs(h, w int) int64 {
	f := 3 * m.FLOPs(h, w)
	f -= m.in.conv.FLOPs(h, w)
	if m.stem4 != nil {
		f -= m.stem4.conv.FLOPs(4*h, 4*w)
	}
	return f
}
