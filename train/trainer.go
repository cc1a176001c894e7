package train

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/busam/busam/model/cpu"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/tensor"
)

// Options is a training recipe. Its JSON form goes into the run manifest.
type Options struct {
	Model       heads.Config `json:"model"`
	Epochs      int          `json:"epochs"`
	Batch       int          `json:"batch"`
	LR          float64      `json:"lr"`
	WeightDecay float64      `json:"weight_decay"`
	WarmupFrac  float64      `json:"warmup_frac"` // share of all steps spent warming up
	MinLRFrac   float64      `json:"min_lr_frac"` // cosine floor as a share of LR
	BCEWeight   float64      `json:"bce_weight"`
	DiceWeight  float64      `json:"dice_weight"`
	ClassWeight float64      `json:"class_weight"` // weight of the classification loss
	ClipNorm    float64      `json:"clip_norm"`    // global gradient-norm clip; 0 = off
	FlipProb    float64      `json:"flip_prob"`
	// TeacherForcing is the probability that the classifier pools under
	// the true mask instead of the predicted one while training.
	TeacherForcing float64 `json:"teacher_forcing"`
	// TeacherLesionOnly limits teacher forcing to lesion images. A normal
	// image's true mask is empty, while its predicted mask rarely is; with
	// forcing on normals the classifier learns "no attention = normal" and
	// calls normals with a few false-positive pixels benign (seen on BUSI).
	TeacherLesionOnly bool   `json:"teacher_lesion_only,omitempty"`
	Patience          int    `json:"patience"` // epochs without a better val score before stopping; 0 = never stop early
	Seed              uint64 `json:"seed"`
	// TuneNeck trains the encoder's neck with the heads, on examples that
	// hold trunk features (LoadOptions.Trunk), starting from NeckInit. Its
	// AdamW has peak rate NeckLR on the heads' schedule and weight decay
	// NeckWeightDecay (conv weights only, as for the heads).
	TuneNeck        bool                      `json:"tune_neck,omitempty"`
	NeckLR          float64                   `json:"neck_lr,omitempty"`
	NeckWeightDecay float64                   `json:"neck_weight_decay,omitempty"`
	NeckInit        map[string]*tensor.Tensor `json:"-"` // the encoder's neck tensors by name (heads.NewNeck)

	Workers  int              `json:"-"` // goroutines per batch; <= 0 = GOMAXPROCS. Does not change results.
	Progress io.Writer        `json:"-"` // progress bar destination; nil = none
	OnEpoch  func(EpochStats) `json:"-"`
	// Checkpoint, when set, is called after every epoch with the run so
	// far; improved means this epoch is the new best and r.Model holds its
	// weights at the moment of the call. An error ends the run.
	Checkpoint func(r *Result, improved bool) error `json:"-"`
}

// DefaultOptions is the recipe used unless flags say otherwise.
func DefaultOptions(kind string) Options {
	return Options{Model: heads.DefaultConfig(kind), Epochs: 30, Batch: 8, LR: 2e-3, WeightDecay: 1e-4,
		WarmupFrac: 0.05, MinLRFrac: 0.02, BCEWeight: 1, DiceWeight: 1, ClassWeight: 0.5, ClipNorm: 5,
		FlipProb: 0.5, TeacherForcing: 0.5, Patience: 8, Seed: 1}
}

// EpochStats is one line of train_log.json.
type EpochStats struct {
	Epoch     int     `json:"epoch"`
	TrainLoss float64 `json:"train_loss"`
	// The two parts of TrainLoss: mask (Dice + BCE) and weighted class loss.
	TrainMaskLoss  float64 `json:"train_mask_loss"`
	TrainClassLoss float64 `json:"train_class_loss"`
	ValLoss        float64 `json:"val_loss"`
	ValDice        float64 `json:"val_dice"`
	ValAcc         float64 `json:"val_acc"`
	ValBalAcc      float64 `json:"val_bal_acc"`
	LR             float64 `json:"lr"`
	Seconds        float64 `json:"seconds"`
}

// Score is what early stopping maximises: val Dice + val balanced accuracy.
func (s EpochStats) Score() float64 { return s.ValDice + s.ValBalAcc }

// Result is a finished run.
type Result struct {
	Model     *heads.Model // holding the best epoch's weights
	Log       []EpochStats
	BestEpoch int
	Best      EpochStats
}

func (o Options) validate(train, val []*Example) error {
	switch {
	case o.Epochs < 1 || o.Batch < 1:
		return fmt.Errorf("train: epochs (%d) and batch (%d) must be positive", o.Epochs, o.Batch)
	case !(o.LR > 0) || o.WeightDecay < 0 || o.WarmupFrac < 0 || o.WarmupFrac > 1 || o.MinLRFrac < 0 || o.MinLRFrac > 1:
		return fmt.Errorf("train: bad learning-rate settings (lr %v, weight decay %v, warm-up %v, floor %v)", o.LR, o.WeightDecay, o.WarmupFrac, o.MinLRFrac)
	case o.BCEWeight < 0 || o.DiceWeight < 0 || o.ClassWeight < 0 || o.ClipNorm < 0 ||
		o.FlipProb < 0 || o.FlipProb > 1 || o.TeacherForcing < 0 || o.TeacherForcing > 1:
		return errors.New("train: loss weights and clip norm must be non-negative, flip and teacher-forcing probabilities in [0,1]")
	case len(train) == 0 || len(val) == 0:
		return fmt.Errorf("train: need training and validation samples (have %d and %d)", len(train), len(val))
	case o.TuneNeck && (!(o.NeckLR > 0) || o.NeckWeightDecay < 0):
		return fmt.Errorf("train: tuning the neck needs a positive neck learning rate and a non-negative weight decay (have %v, %v)", o.NeckLR, o.NeckWeightDecay)
	}
	what, channels := "embedding", o.Model.EmbedDim
	if o.TuneNeck {
		neck, err := heads.NewNeck(o.NeckInit)
		if err != nil {
			return fmt.Errorf("train: the initial neck: %w", err)
		}
		if neck.Norm2.C != o.Model.EmbedDim {
			return fmt.Errorf("train: the neck makes %d channels, the heads take %d", neck.Norm2.C, o.Model.EmbedDim)
		}
		what, channels = "trunk features", neck.Conv1.InC
	}
	for _, set := range [][]*Example{train, val} {
		for _, e := range set {
			if err := o.checkExample(e, what, channels); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkExample checks e, whose features (embedding or trunk features, what)
// must have channels channels.
func (o Options) checkExample(e *Example, what string, channels int) error {
	m := o.Model
	if e.Class < 0 || e.Class >= m.Classes {
		return fmt.Errorf("train: sample %s: class %d outside [0,%d)", e.ID, e.Class, m.Classes)
	}
	if o.TuneNeck != (e.Trunk[0] != nil) {
		return fmt.Errorf("train: sample %s: tuning the neck needs trunk features, training the heads alone embeddings", e.ID)
	}
	s0, ok := e.features(0)
	if !ok || len(s0) != 3 || s0[0] != channels || s0[1] != s0[2] || s0[1] < 1 {
		return fmt.Errorf("train: sample %s: %s must be [%d,h,h]", e.ID, what, channels)
	}
	g := 4 * s0[1]
	for f := range 2 {
		s, ok := e.features(f)
		if !ok {
			break
		}
		if len(e.Target[f]) != g*g || e.ValidW < 1 || e.ValidH < 1 || e.ValidW > g || e.ValidH > g {
			return fmt.Errorf("train: sample %s: target must be %dx%d with a valid region inside", e.ID, g, g)
		}
		if m.Kind == "unet" && (e.Image[f] == nil || e.Image[f].Len() != 3*g*g) {
			return fmt.Errorf("train: sample %s: unet needs the pooled image [3,%d,%d]", e.ID, g, g)
		}
		if !slices.Equal(s, s0) {
			return fmt.Errorf("train: sample %s: flipped %s have another shape", e.ID, what)
		}
	}
	return nil
}

// trainer holds one run's state.
type trainer struct {
	opt      Options
	model    *heads.Model
	loss     MaskLoss
	weights  []float64 // class weights
	workers  int
	slots    []heads.Grads
	slotLoss [][2]float64 // mask and class loss of each batch slot

	neck      *heads.Neck   // the neck being tuned; nil when training the heads alone
	neckSlots []heads.Grads // its gradients per batch slot
}

// Run trains a model on train, selecting the epoch by val, and returns it
// with the best epoch's weights.
func Run(opt Options, train, val []*Example) (*Result, error) {
	if err := opt.validate(train, val); err != nil {
		return nil, err
	}
	model, err := heads.New(opt.Model)
	if err != nil {
		return nil, err
	}
	labels := make([]int, len(train))
	for i, e := range train {
		labels[i] = e.Class
	}
	t := &trainer{opt: opt, model: model, loss: MaskLoss{opt.BCEWeight, opt.DiceWeight},
		weights: ClassWeights(labels, opt.Model.Classes), workers: opt.Workers}
	if t.workers <= 0 {
		t.workers = cpu.Workers()
	}
	for range opt.Batch {
		t.slots = append(t.slots, heads.NewGrads(model.Params()))
	}
	t.slotLoss = make([][2]float64, opt.Batch)
	var neckAdam *AdamW
	var neckSum heads.Grads
	if opt.TuneNeck {
		if t.neck, err = heads.NewNeck(opt.NeckInit); err != nil {
			return nil, err
		}
		for range opt.Batch {
			t.neckSlots = append(t.neckSlots, heads.NewGrads(t.neck.Params()))
		}
		neckAdam = NewAdamW(t.neck.Params(), opt.NeckWeightDecay)
		neckSum = heads.NewGrads(t.neck.Params())
	}

	if err := t.setFeatureStats(train); err != nil {
		return nil, err
	}
	perEpoch := (len(train) + opt.Batch - 1) / opt.Batch
	sched := Schedule{Peak: opt.LR, Total: opt.Epochs * perEpoch, MinFrac: opt.MinLRFrac,
		Warmup: max(1, int(math.Round(opt.WarmupFrac*float64(opt.Epochs*perEpoch))))}
	adam := NewAdamW(model.Params(), opt.WeightDecay)
	sum := heads.NewGrads(model.Params())

	res := &Result{}
	best := math.Inf(-1)
	var bestParams [][]float32
	var bestNeck map[string]*tensor.Tensor
	step := 0
	for epoch := 1; epoch <= opt.Epochs; epoch++ {
		start := time.Now()
		order := rand.New(rand.NewPCG(opt.Seed, uint64(epoch))).Perm(len(train))
		bar := newBar(opt.Progress, perEpoch, epoch, opt.Epochs)
		var maskLoss, classLoss float64
		var lr float64
		for b := 0; b < len(order); b += opt.Batch {
			batch := order[b:min(b+opt.Batch, len(order))]
			ml, cl := t.step(train, batch, epoch, sum, neckSum)
			batchLoss := ml + cl
			maskLoss += ml * float64(len(batch))
			classLoss += cl * float64(len(batch))
			lr = sched.LR(step)
			adam.Step(sum, lr)
			if neckAdam != nil { // the neck follows the heads' schedule at its own peak
				neckAdam.Step(neckSum, lr*opt.NeckLR/opt.LR)
			}
			step++
			if bar != nil {
				bar.Describe(fmt.Sprintf("epoch %d/%d loss %.4f", epoch, opt.Epochs, batchLoss))
				bar.Add(1)
			}
		}
		if bar != nil {
			bar.Finish()
			fmt.Fprintln(opt.Progress)
		}
		st, err := t.evaluate(val)
		if err != nil {
			return nil, err
		}
		st.Epoch, st.LR = epoch, lr
		st.TrainMaskLoss, st.TrainClassLoss = maskLoss/float64(len(train)), classLoss/float64(len(train))
		st.TrainLoss = st.TrainMaskLoss + st.TrainClassLoss
		st.Seconds = time.Since(start).Seconds()
		res.Log = append(res.Log, st)
		if opt.OnEpoch != nil {
			opt.OnEpoch(st)
		}
		improved := st.Score() > best
		if improved {
			best, res.BestEpoch, res.Best = st.Score(), epoch, st
			bestParams = snapshot(model)
			if t.neck != nil {
				bestNeck = t.neck.Tensors()
			}
		}
		if opt.Checkpoint != nil {
			res.Model = model
			if t.neck != nil {
				model.EncoderOverrides = t.neck.Tensors()
			}
			if err := opt.Checkpoint(res, improved); err != nil {
				return nil, err
			}
		}
		if !improved && opt.Patience > 0 && epoch-res.BestEpoch >= opt.Patience {
			break
		}
	}
	for i, p := range model.Params() {
		copy(p.Value.Data, bestParams[i])
	}
	if t.neck != nil {
		model.EncoderOverrides = bestNeck
	}
	res.Model = model
	return res, nil
}

// input is the heads' input for view flip of e; when the neck is tuned it
// runs on the trunk features, and train asks for the tape of its backward.
func (t *trainer) input(e *Example, flip int, train bool) (heads.Input, *heads.NeckTape) {
	if t.neck == nil {
		return e.input(flip), nil
	}
	in := heads.Input{Image: e.Image[flip]}
	f := e.Trunk[flip].Float32()
	if !train {
		in.Embedding = t.neck.Forward(f)
		return in, nil
	}
	var tape *heads.NeckTape
	in.Embedding, tape = t.neck.ForwardTrain(f)
	return in, tape
}

// setFeatureStats standardises the classifier input with the mean and
// standard deviation of each feature over the training set (pooled under
// the true masks, with the initial decoder), so that features of very
// different scales start on an equal footing.
func (t *trainer) setFeatureStats(train []*Example) error {
	zs := make([][]float32, len(train))
	cpu.ParallelEach(len(train), t.workers, func(i int) {
		e := train[i]
		g := 4 * e.side()
		in, _ := t.input(e, 0, false)
		zs[i] = t.model.ClassifierInput(in, tensor.From(e.Target[0], 1, g, g))
	})
	n := len(zs[0])
	mean, std := make([]float32, n), make([]float32, n)
	for j := range n {
		var s, sq float64
		for _, z := range zs {
			s += float64(z[j])
		}
		mu := s / float64(len(zs))
		for _, z := range zs {
			d := float64(z[j]) - mu
			sq += d * d
		}
		mean[j], std[j] = float32(mu), float32(math.Sqrt(sq/float64(len(zs))))
	}
	return t.model.SetFeatureStats(mean, std)
}

func newBar(w io.Writer, steps, epoch, epochs int) *progressbar.ProgressBar {
	if w == nil {
		return nil
	}
	return progressbar.NewOptions(steps, progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", epoch, epochs)),
		progressbar.OptionShowCount(), progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(200*time.Millisecond))
}

func snapshot(m *heads.Model) [][]float32 {
	out := make([][]float32, len(m.Params()))
	for i, p := range m.Params() {
		out[i] = append([]float32(nil), p.Value.Data...)
	}
	return out
}

// sampleRNG is the random stream of one sample in one epoch (flip choice
// and dropout), independent of which goroutine runs it.
func (t *trainer) sampleRNG(epoch, sample int) *rand.Rand {
	return rand.New(rand.NewPCG(t.opt.Seed^0x5eed, uint64(epoch)<<32|uint64(sample)))
}

// step computes the mean mask and class losses of a batch and their
// gradient into sum (and the neck's into neckSum when it is tuned): one
// goroutine per sample slot, then a reduction in slot order, so the sums
// are the same for any number of workers.
func (t *trainer) step(data []*Example, batch []int, epoch int, sum, neckSum heads.Grads) (maskLoss, classLoss float64) {
	var classNorm float64
	for _, i := range batch {
		classNorm += t.weights[data[i].Class]
	}
	inv := 1 / float64(len(batch))
	cpu.ParallelEach(len(batch), t.workers, func(slot int) {
		i := batch[slot]
		e := data[i]
		g := t.slots[slot]
		g.Zero()
		rng := t.sampleRNG(epoch, i)
		flip := 0
		if _, ok := e.features(1); ok && rng.Float64() < t.opt.FlipProb {
			flip = 1
		}
		in, neckTape := t.input(e, flip, true)
		var out heads.Output
		var tape *heads.Tape
		if rng.Float64() < t.opt.TeacherForcing && (e.Lesion || !t.opt.TeacherLesionOnly) {
			side := 4 * e.side()
			out, tape = t.model.ForwardTrainMask(in, rng, tensor.From(e.Target[flip], 1, side, side))
		} else {
			out, tape = t.model.ForwardTrain(in, rng)
		}
		ml, dmask := t.loss.Eval(out.MaskLogits, e.Target[flip], e.ValidW, e.ValidH, e.Lesion)
		scale(dmask.Data, inv)
		cw := t.opt.ClassWeight * t.weights[e.Class] / classNorm
		cl, dcls := CrossEntropy(out.ClassLogits, e.Class, cw)
		if t.neck == nil {
			t.model.Backward(tape, dmask, dcls, g)
		} else {
			t.neckSlots[slot].Zero()
			dEmb := t.model.BackwardEmbedding(tape, dmask, dcls, g)
			t.neck.Backward(neckTape, dEmb, t.neckSlots[slot])
		}
		t.slotLoss[slot] = [2]float64{ml * inv, cl}
	})
	sum.Zero()
	for slot := range batch {
		sum.Add(t.slots[slot])
		maskLoss += t.slotLoss[slot][0]
		classLoss += t.slotLoss[slot][1]
	}
	if t.neck == nil {
		clipNorm(t.opt.ClipNorm, sum)
		return maskLoss, classLoss
	}
	neckSum.Zero()
	for slot := range batch {
		neckSum.Add(t.neckSlots[slot])
	}
	clipNorm(t.opt.ClipNorm, sum, neckSum)
	return maskLoss, classLoss
}

func scale(s []float32, f float64) {
	for i := range s {
		s[i] *= float32(f)
	}
}

// clipNorm rescales the gradients gs together so their global L2 norm is
// at most limit (0 = off).
func clipNorm(limit float64, gs ...heads.Grads) {
	if limit <= 0 {
		return
	}
	var sq float64
	for _, g := range gs {
		for _, s := range g {
			for _, v := range s {
				sq += float64(v) * float64(v)
			}
		}
	}
	if n := math.Sqrt(sq); n > limit {
		for _, g := range gs {
			for _, s := range g {
				scale(s, limit/n)
			}
		}
	}
}

// evalOne is the validation outcome of one sample.
type evalOne struct {
	loss  float64
	dice  float64
	pred  int
	class int
}

// evaluate scores the model on val (no flip, no dropout).
func (t *trainer) evaluate(val []*Example) (EpochStats, error) {
	outs := make([]evalOne, len(val))
	errs := make([]error, len(val))
	cpu.ParallelEach(len(val), t.workers, func(i int) {
		outs[i], errs[i] = t.evalSample(val[i])
	})
	if err := errors.Join(errs...); err != nil {
		return EpochStats{}, err
	}
	return summarize(outs, t.opt.Model.Classes), nil
}

func (t *trainer) evalSample(e *Example) (evalOne, error) {
	in, _ := t.input(e, 0, false)
	out, err := t.model.Predict(in)
	if err != nil {
		return evalOne{}, fmt.Errorf("train: validating on %s: %w", e.ID, err)
	}
	ml, _ := t.loss.Eval(out.MaskLogits, e.Target[0], e.ValidW, e.ValidH, e.Lesion)
	cl, _ := CrossEntropy(out.ClassLogits, e.Class, t.opt.ClassWeight*t.weights[e.Class])
	r := evalOne{loss: ml + cl, pred: argmax(out.ClassLogits), class: e.Class, dice: -1}
	if e.Lesion {
		r.dice = FrameDice(out.MaskLogits, e.Target[0], e.ValidW, e.ValidH)
	}
	return r, nil
}

func summarize(outs []evalOne, classes int) EpochStats {
	var st EpochStats
	var nDice, correct int
	hit := make([]int, classes)
	count := make([]int, classes)
	for _, o := range outs {
		st.ValLoss += o.loss / float64(len(outs))
		if o.dice >= 0 {
			st.ValDice += o.dice
			nDice++
		}
		count[o.class]++
		if o.pred == o.class {
			hit[o.class]++
			correct++
		}
	}
	if nDice > 0 {
		st.ValDice /= float64(nDice)
	}
	st.ValAcc = float64(correct) / float64(len(outs))
	present := 0
	for k := range classes {
		if count[k] > 0 {
			st.ValBalAcc += float64(hit[k]) / float64(count[k])
			present++
		}
	}
	st.ValBalAcc /= float64(present)
	return st
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// FrameDice is the Dice score of the thresholded logits (> 0) against the
// target (> 0.5) over the image part of the mask grid; two empty masks
// score 1.
func FrameDice(logits *tensor.Tensor, target []float32, validW, validH int) float64 {
	s := logits.Shape[len(logits.Shape)-1]
	var inter, np, nt int
	for y := range validH {
		for x := range validW {
			i := y*s + x
			p, q := logits.Data[i] > 0, target[i] > 0.5
			if p {
				np++
			}
			if q {
				nt++
			}
			if p && q {
				inter++
			}
		}
	}
	if np+nt == 0 {
		return 1
	}
	return 2 * float64(inter) / float64(np+nt)
}
