package train

import (
	"maps"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/tensor"
)

// trunkChannels is the width of the synthetic trunk features: the blob
// embedding's 8 channels plus 2 of noise, which the neck maps back to 8.
const trunkChannels = 10

// trunkSet is blobSet with trunk features (float16) instead of embeddings.
func trunkSet(seed uint64, n, grid int) []*Example {
	set := blobSet(seed, n, grid)
	rng := rand.New(rand.NewPCG(seed, 2))
	for _, e := range set {
		for f, half := range e.Emb {
			emb := half.Float32()
			h := emb.Shape[1]
			tr := tensor.New(trunkChannels, h, h)
			copy(tr.Data, emb.Data)
			for i := emb.Len(); i < tr.Len(); i++ {
				tr.Data[i] = float32(rng.NormFloat64())
			}
			e.Trunk[f] = ToHalf(tr)
		}
		e.Emb = [2]*Half{}
	}
	return set
}

// randomNeck is an initial neck from trunkChannels to 8 channels.
func randomNeck(seed uint64) map[string]*tensor.Tensor {
	rng := rand.New(rand.NewPCG(seed, 3))
	fill := func(mean, std float64, shape ...int) *tensor.Tensor {
		t := tensor.New(shape...)
		for i := range t.Data {
			t.Data[i] = float32(mean + std*rng.NormFloat64())
		}
		return t
	}
	return map[string]*tensor.Tensor{
		"neck.0.weight": fill(0, 0.3, 8, trunkChannels, 1, 1),
		"neck.1.weight": fill(1, 0.1, 8), "neck.1.bias": fill(0, 0.1, 8),
		"neck.2.weight": fill(0, 0.1, 8, 8, 3, 3),
		"neck.3.weight": fill(1, 0.1, 8), "neck.3.bias": fill(0, 0.1, 8),
	}
}

func neckOptions(epochs, workers int) Options {
	o := blobOptions("unet")
	o.Epochs, o.Workers = epochs, workers
	o.TuneNeck, o.NeckLR, o.NeckWeightDecay, o.NeckInit = true, 5e-3, 1e-4, randomNeck(1)
	return o
}

func sameTensors(a, b map[string]*tensor.Tensor) bool {
	if len(a) != len(b) {
		return false
	}
	for name, t := range a {
		if b[name] == nil || !slices.Equal(t.Shape, b[name].Shape) || !slices.Equal(t.Data, b[name].Data) {
			return false
		}
	}
	return true
}

// Tuning the neck moves it, the best epoch's neck is what Run returns and
// what the checkpoint saw, and the saved heads file carries it as encoder
// overrides that reproduce the best validation score.
func TestTuneNeck(t *testing.T) {
	train, val := trunkSet(1, 18, 16), trunkSet(2, 6, 16)
	o := neckOptions(4, 2)
	init := map[string]*tensor.Tensor{}
	for k, v := range o.NeckInit {
		init[k] = v.Clone()
	}
	var atBest map[string]*tensor.Tensor
	o.Checkpoint = func(r *Result, improved bool) error {
		if improved {
			atBest = r.Model.EncoderOverrides
		}
		return nil
	}
	res, err := Run(o, train, val)
	if err != nil {
		t.Fatal(err)
	}
	if !sameTensors(o.NeckInit, init) {
		t.Fatal("Run modified Options.NeckInit")
	}
	over := res.Model.EncoderOverrides
	if !slices.Equal(slices.Sorted(maps.Keys(over)), slices.Sorted(slices.Values(heads.NeckTensorNames))) {
		t.Fatalf("overrides %v, want the neck's tensors", over)
	}
	if sameTensors(over, init) {
		t.Fatal("the neck did not change")
	}
	if !sameTensors(over, atBest) {
		t.Error("the returned neck differs from the one the checkpoint saw at the best epoch")
	}

	dir := filepath.Join(t.TempDir(), "run")
	if err := WriteRun(dir, res, Manifest{Options: o}); err != nil {
		t.Fatal(err)
	}
	m, err := heads.Load(filepath.Join(dir, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !sameTensors(m.EncoderOverrides, over) {
		t.Fatal("the saved overrides differ from the tuned neck")
	}
	neck, err := heads.NewNeck(m.EncoderOverrides)
	if err != nil {
		t.Fatal(err)
	}
	tr := &trainer{opt: o, model: m, loss: MaskLoss{o.BCEWeight, o.DiceWeight}, weights: []float64{1, 1, 1}, workers: 2, neck: neck}
	if got, err := tr.evaluate(val); err != nil || math.Abs(got.ValDice-res.Best.ValDice) > 1e-12 || got.ValAcc != res.Best.ValAcc {
		t.Errorf("loaded heads + neck score Dice %v acc %v, the best epoch had %v, %v", got.ValDice, got.ValAcc, res.Best.ValDice, res.Best.ValAcc)
	}
	var back Manifest
	readJSON(t, filepath.Join(dir, ManifestFile), &back)
	if !back.Options.TuneNeck || back.Options.NeckLR != o.NeckLR {
		t.Errorf("manifest options %+v do not record the tuned neck", back.Options)
	}
}

// Same seed, different worker counts: identical logs, heads and neck.
func TestTuneNeckIsDeterministic(t *testing.T) {
	train, val := trunkSet(3, 10, 16), trunkSet(4, 4, 16)
	runWith := func(workers int) *Result {
		res, err := Run(neckOptions(2, workers), train, val)
		if err != nil {
			t.Fatal(err)
		}
		for i := range res.Log {
			res.Log[i].Seconds = 0
		}
		return res
	}
	a, b := runWith(1), runWith(3)
	if !slices.Equal(a.Log, b.Log) {
		t.Errorf("logs differ between 1 and 3 workers:\n%v\n%v", a.Log, b.Log)
	}
	for i, p := range a.Model.Params() {
		if !slices.Equal(p.Value.Data, b.Model.Params()[i].Value.Data) {
			t.Fatalf("parameter %s differs between 1 and 3 workers", p.Name)
		}
	}
	if !sameTensors(a.Model.EncoderOverrides, b.Model.EncoderOverrides) {
		t.Error("the tuned neck differs between 1 and 3 workers")
	}
}

func TestTuneNeckRejectsBadSetup(t *testing.T) {
	trunk, emb := trunkSet(5, 4, 16), blobSet(5, 4, 16)
	cases := []struct {
		name       string
		mod        func(*Options)
		train, val []*Example
	}{
		{"embeddings when tuning", nil, emb, emb},
		{"trunk features without tuning", func(o *Options) { o.TuneNeck = false }, trunk, trunk},
		{"no neck learning rate", func(o *Options) { o.NeckLR = 0 }, trunk, trunk},
		{"no initial neck", func(o *Options) { o.NeckInit = nil }, trunk, trunk},
		{"neck width differs from the heads'", func(o *Options) { o.Model.EmbedDim = 6 }, trunk, trunk},
	}
	for _, c := range cases {
		o := neckOptions(1, 1)
		if c.mod != nil {
			c.mod(&o)
		}
		if _, err := Run(o, c.train, c.val); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}

func TestHalfRoundTrip(t *testing.T) {
	x := tensor.From([]float32{0, 1, -2.5, 65504, 1e-8, 0.1}, 2, 3)
	got := ToHalf(x).Float32()
	want := []float32{0, 1, -2.5, 65504, 0, 0.099975586}
	if !slices.Equal(got.Shape, x.Shape) || !slices.Equal(got.Data, want) {
		t.Errorf("float16 round trip: %v %v, want %v %v", got.Shape, got.Data, x.Shape, want)
	}
}
