package train

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/tensor"
)

// blobExample makes a synthetic sample: a disc on a grid x grid mask whose
// embedding ([8, grid/4, grid/4]) carries the disc's cell coverage in
// channel 0 and, for the lesion classes, in a class-specific channel
// (2 = benign, 3 = malignant), on top of noise. A model that learns to read
// the embedding can segment and classify it; one that does not, cannot.
func blobExample(rng *rand.Rand, id string, class, grid int) *Example {
	e := &Example{ID: id, Class: class, Lesion: class > 0, ValidW: grid, ValidH: grid}
	h := grid / 4
	r := 2 + rng.Float64()*float64(grid)/6
	cx := r + rng.Float64()*(float64(grid)-2*r)
	cy := r + rng.Float64()*(float64(grid)-2*r)
	for f := range 2 {
		mask := make([]float32, grid*grid)
		if class > 0 {
			for y := range grid {
				for x := range grid {
					px := float64(x) + 0.5
					if f == 1 {
						px = float64(grid) - px
					}
					if (px-cx)*(px-cx)+(float64(y)+0.5-cy)*(float64(y)+0.5-cy) <= r*r {
						mask[y*grid+x] = 1
					}
				}
			}
		}
		e.Target[f] = mask
		cover := heads.AvgPool(tensor.From(mask, 1, grid, grid), 4)
		emb := tensor.New(8, h, h)
		for i := range emb.Data {
			emb.Data[i] = float32(rng.NormFloat64() * 0.3)
		}
		for i, v := range cover.Data {
			emb.Data[i] += 2 * v
			if class > 0 {
				emb.Data[(1+class)*h*h+i] += 2 * v
			}
		}
		e.Emb[f] = ToHalf(emb)
		img := tensor.New(3, grid, grid)
		for c := range 3 {
			for i, v := range mask {
				img.Data[c*grid*grid+i] = v - 0.5 + float32(rng.NormFloat64()*0.2)
			}
		}
		e.Image[f] = img
	}
	return e
}

func blobSet(seed uint64, n, grid int) []*Example {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]*Example, n)
	for i := range out {
		// Classes in the BUSI proportions, roughly 1:3:1.5.
		class := []int{0, 1, 1, 1, 2, 2}[i%6]
		out[i] = blobExample(rng, "blob", class, grid)
	}
	return out
}

func blobOptions(kind string) Options {
	o := DefaultOptions(kind)
	o.Model.EmbedDim, o.Model.Width, o.Model.Stem, o.Model.Hidden = 8, [3]int{8, 8, 4}, [2]int{4, 4}, 16
	o.Epochs, o.Batch, o.LR, o.Patience = 25, 6, 1e-2, 0
	return o
}

func TestTrainLearnsBlobs(t *testing.T) {
	for _, kind := range []string{"conv", "unet"} {
		t.Run(kind, func(t *testing.T) {
			train, val := blobSet(1, 60, 32), blobSet(2, 24, 32)
			res, err := Run(blobOptions(kind), train, val)
			if err != nil {
				t.Fatal(err)
			}
			first, last := res.Log[0], res.Log[len(res.Log)-1]
			if !(last.TrainLoss < 0.5*first.TrainLoss) {
				t.Errorf("train loss %.3f -> %.3f, want at least halved", first.TrainLoss, last.TrainLoss)
			}
			if res.Best.ValDice < 0.8 || res.Best.ValDice <= first.ValDice {
				t.Errorf("best val Dice %.3f (epoch 1: %.3f), want >= 0.8 and improved", res.Best.ValDice, first.ValDice)
			}
			if res.Best.ValBalAcc < 0.9 {
				t.Errorf("best val balanced accuracy %.3f, want >= 0.9", res.Best.ValBalAcc)
			}
			// The returned model holds the best epoch's weights.
			tr := &trainer{opt: blobOptions(kind), model: res.Model, loss: MaskLoss{1, 1}, weights: []float64{1, 1, 1}, workers: 2}
			if got, err := tr.evaluate(val); err != nil || math.Abs(got.ValDice-res.Best.ValDice) > 1e-12 {
				t.Errorf("returned model scores Dice %v, best epoch had %v", got.ValDice, res.Best.ValDice)
			}
			t.Logf("%s: loss %.3f -> %.3f, best epoch %d: Dice %.3f, bal. acc %.3f", kind, first.TrainLoss, last.TrainLoss, res.BestEpoch, res.Best.ValDice, res.Best.ValBalAcc)
		})
	}
}

// Same seed, different worker counts: identical logs and weights.
func TestTrainIsDeterministic(t *testing.T) {
	train, val := blobSet(3, 14, 16), blobSet(4, 6, 16)
	runWith := func(workers int, seed uint64) *Result {
		o := blobOptions("unet")
		o.Epochs, o.Workers, o.Seed = 3, workers, seed
		res, err := Run(o, train, val)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	a, b, c := runWith(1, 5), runWith(3, 5), runWith(2, 6)
	for i := range a.Log {
		a.Log[i].Seconds, b.Log[i].Seconds, c.Log[i].Seconds = 0, 0, 0
	}
	if !slices.Equal(a.Log, b.Log) {
		t.Errorf("logs differ between 1 and 3 workers:\n%v\n%v", a.Log, b.Log)
	}
	for i, p := range a.Model.Params() {
		if !slices.Equal(p.Value.Data, b.Model.Params()[i].Value.Data) {
			t.Fatalf("parameter %s differs between 1 and 3 workers", p.Name)
		}
	}
	if slices.Equal(a.Log, c.Log) {
		t.Errorf("another seed gave the same run")
	}
}

func TestRunRejectsBadSetup(t *testing.T) {
	good := blobSet(5, 4, 16)
	bad := blobSet(6, 1, 16)
	bad[0].Class = 7
	short := blobSet(7, 1, 16)
	short[0].Target[0] = short[0].Target[0][:10]
	cases := []struct {
		name       string
		mod        func(*Options)
		train, val []*Example
	}{
		{"no val", nil, good, nil},
		{"zero epochs", func(o *Options) { o.Epochs = 0 }, good, good},
		{"negative lr", func(o *Options) { o.LR = -1 }, good, good},
		{"class out of range", nil, bad, good},
		{"short target", nil, good, short},
	}
	for _, c := range cases {
		o := blobOptions("conv")
		if c.mod != nil {
			c.mod(&o)
		}
		if _, err := Run(o, c.train, c.val); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}

func TestFrameDice(t *testing.T) {
	logits := tensor.From([]float32{1, 1, -1, -1, 1, -1, 9, 9, 9}, 1, 3, 3)
	cases := []struct {
		name   string
		target []float32
		w, h   int
		want   float64
	}{
		{"half overlap", []float32{1, 0, 0, 0, 1, 0, 0, 0, 0}, 2, 2, 2.0 * 2 / (3 + 2)},
		{"padding ignored", []float32{1, 1, 0, 0, 1, 0, 0, 0, 0}, 2, 2, 1},
		{"empty target, one predicted pixel", []float32{0, 0, 0, 0, 0, 0, 0, 0, 0}, 1, 1, 0},
	}
	for _, c := range cases {
		if got := FrameDice(logits, c.target, c.w, c.h); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	empty := tensor.From([]float32{-1, -1, -1, -1}, 1, 2, 2)
	if got := FrameDice(empty, []float32{0, 0, 0, 0}, 2, 2); got != 1 {
		t.Errorf("two empty masks: %v, want 1", got)
	}
}

func TestWriteRun(t *testing.T) {
	train, val := blobSet(8, 6, 16), blobSet(9, 3, 16)
	o := blobOptions("conv")
	o.Epochs = 2
	res, err := Run(o, train, val)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "run")
	man := Manifest{Command: []string{"busam", "train", "--kind", "conv"}, Seed: o.Seed, Options: o, EncoderSHA256: "abc"}
	if err := WriteRun(dir, res, man); err != nil {
		t.Fatal(err)
	}
	m, err := heads.Load(filepath.Join(dir, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range m.Params() {
		if !slices.Equal(p.Value.Data, res.Model.Params()[i].Value.Data) {
			t.Fatalf("saved %s differs from the trained model", p.Name)
		}
	}
	var log []map[string]float64
	readJSON(t, filepath.Join(dir, LogFile), &log)
	if len(log) != 2 {
		t.Fatalf("log has %d epochs, want 2", len(log))
	}
	for _, k := range []string{"epoch", "train_loss", "val_loss", "val_dice", "val_acc", "lr", "seconds"} {
		if _, ok := log[1][k]; !ok {
			t.Errorf("log entry lacks %q", k)
		}
	}
	var back Manifest
	readJSON(t, filepath.Join(dir, ManifestFile), &back)
	if back.BestEpoch != res.BestEpoch || back.EncoderSHA256 != "abc" || !slices.Equal(back.Command, man.Command) || back.Options.Model != o.Model {
		t.Errorf("manifest %+v does not match the run", back)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// Checkpoint sees every epoch, and the weights it sees at the last
// improvement are the weights Run returns.
func TestCheckpointSeesBestWeights(t *testing.T) {
	train, val := blobSet(10, 12, 16), blobSet(11, 6, 16)
	o := blobOptions("conv")
	o.Epochs = 4
	var calls, lastImproved int
	var saved [][]float32
	o.Checkpoint = func(r *Result, improved bool) error {
		calls++
		if improved != (r.BestEpoch == len(r.Log)) {
			t.Errorf("epoch %d: improved %v but best epoch %d", len(r.Log), improved, r.BestEpoch)
		}
		if improved {
			lastImproved = len(r.Log)
			saved = snapshot(r.Model)
		}
		return nil
	}
	res, err := Run(o, train, val)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 4 || lastImproved != res.BestEpoch {
		t.Fatalf("%d checkpoint calls, last improvement at %d, best epoch %d", calls, lastImproved, res.BestEpoch)
	}
	for i, p := range res.Model.Params() {
		if !slices.Equal(p.Value.Data, saved[i]) {
			t.Fatalf("parameter %s differs from the checkpointed best", p.Name)
		}
	}
	o.Checkpoint = func(*Result, bool) error { return os.ErrPermission }
	if _, err := Run(o, train, val); err == nil {
		t.Error("a failing checkpoint did not stop the run")
	}
}
