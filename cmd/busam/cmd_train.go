package main

// busam train: fit the heads on cached embeddings of a split's train part,
// selecting the epoch on its val part. See package train for the recipe.

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/train"
)

func init() {
	register("train", "train the heads on cached embeddings: busam train --data D --split S --kind conv|unet --out DIR", runTrain)
}

func runTrain(args []string) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	data := fs.String("data", "", "dataset: BUSI-layout folder or CSV manifest (required)")
	splitPath := fs.String("split", "", "split JSON from the split command (required)")
	cacheDir := fs.String("cache", filepath.Join(".cache", "embeddings"), "embedding cache folder (from `busam embed`, same default)")
	encPath := fs.String("encoder", filepath.Join(".cache", "weights", "encoder.safetensors"), "encoder weights; their sha256 keys the cache")
	modelSHA := fs.String("model-sha", "", "encoder sha256 to key the cache with (default: hash of --encoder)")
	kind := fs.String("kind", "conv", "decoder: conv or unet")
	out := fs.String("out", "", "output folder for heads.safetensors, train_log.json, manifest.json (required)")
	o := train.DefaultOptions("conv")
	fs.IntVar(&o.Epochs, "epochs", o.Epochs, "maximum epochs")
	fs.IntVar(&o.Batch, "batch", o.Batch, "mini-batch size")
	fs.Float64Var(&o.LR, "lr", o.LR, "peak learning rate (AdamW)")
	fs.Float64Var(&o.WeightDecay, "wd", o.WeightDecay, "AdamW weight decay")
	fs.Float64Var(&o.WarmupFrac, "warmup", o.WarmupFrac, "share of all steps used for linear warm-up")
	fs.Float64Var(&o.MinLRFrac, "min-lr", o.MinLRFrac, "cosine floor as a share of --lr")
	fs.Float64Var(&o.BCEWeight, "bce", o.BCEWeight, "weight of the BCE mask loss")
	fs.Float64Var(&o.DiceWeight, "dice", o.DiceWeight, "weight of the Dice mask loss (lesion images)")
	fs.Float64Var(&o.ClassWeight, "cls", o.ClassWeight, "weight of the class-weighted cross-entropy")
	fs.Float64Var(&o.ClipNorm, "clip", o.ClipNorm, "gradient global-norm clip (0 = off)")
	fs.Float64Var(&o.FlipProb, "flip", o.FlipProb, "probability of training on the mirrored sample")
	fs.Float64Var(&o.TeacherForcing, "teacher", o.TeacherForcing, "probability of pooling the classifier under the true mask while training")
	fs.BoolVar(&o.TeacherLesionOnly, "teacher-lesion-only", false, "teacher-force lesion images only (normals always pool under the predicted mask)")
	fs.IntVar(&o.Patience, "patience", o.Patience, "stop after this many epochs without a better val Dice + balanced accuracy (0 = never)")
	seed := fs.Uint64("seed", o.Seed, "seed of shuffling, augmentation, dropout and initialisation")
	fs.IntVar(&o.Workers, "workers", 0, "goroutines per batch (default GOMAXPROCS; does not change results)")
	width := fs.String("width", "", "decoder widths at 1x,2x,4x (default per kind)")
	stem := fs.String("stem", "", "unet stem widths at 4x,2x (default per kind)")
	hidden := fs.Int("hidden", 0, "classifier hidden width (default per kind)")
	mid := fs.Int("mid", 0, "residual 3x3 blocks at the embedding's resolution (default 1)")
	dropout := fs.Float64("dropout", -1, "classifier dropout (default per kind)")
	quiet := fs.Bool("quiet", false, "no progress bars")
	skipMissing := fs.Bool("skip-missing", false, "train on the samples whose embeddings are cached, skipping the rest (experiments only)")
	trunkDir := fs.String("trunk-cache", "", "train from cached trunk features (busam embed --trunk --flip) through the encoder's neck instead of from --cache; the neck stays frozen unless --tune-neck")
	fs.BoolVar(&o.TuneNeck, "tune-neck", false, "fine-tune the encoder's neck with the heads (needs --trunk-cache); the heads file carries the tuned neck as encoder overrides")
	fs.Float64Var(&o.NeckLR, "neck-lr", 3e-4, "peak learning rate of the neck (--tune-neck), on the heads' schedule")
	fs.Float64Var(&o.NeckWeightDecay, "neck-wd", 0, "AdamW weight decay of the neck's conv weights (--tune-neck)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *data == "" || *splitPath == "" || *out == "" {
		fs.Usage()
		return errors.New("--data, --split and --out are required")
	}
	o.Seed = *seed
	o.Model = heads.DefaultConfig(*kind)
	o.Model.InitSeed = *seed
	if err := parseInts(*width, o.Model.Width[:]); err != nil {
		return fmt.Errorf("--width: %w", err)
	}
	if err := parseInts(*stem, o.Model.Stem[:]); err != nil {
		return fmt.Errorf("--stem: %w", err)
	}
	if *hidden > 0 {
		o.Model.Hidden = *hidden
	}
	if *mid > 0 {
		o.Model.MidBlocks = *mid
	}
	if *dropout >= 0 {
		o.Model.Dropout = *dropout
	}
	if err := o.Model.Validate(); err != nil { // fail before loading any data
		return err
	}
	if o.TuneNeck && *trunkDir == "" {
		return errors.New("--tune-neck trains on trunk features: pass --trunk-cache")
	}
	if !o.TuneNeck {
		var neckFlag string
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "neck-lr" || f.Name == "neck-wd" {
				neckFlag = f.Name
			}
		})
		if neckFlag != "" {
			return fmt.Errorf("--%s applies to --tune-neck only", neckFlag)
		}
		o.NeckLR = 0 // not used: keep it out of the manifest
	}

	r := train.Recipe{Data: *data, Split: *splitPath, Cache: *cacheDir, Encoder: *encPath, ModelSHA: *modelSHA,
		TrunkCache: *trunkDir, Kind: *kind, SkipMissing: *skipMissing, Out: *out,
		Command: append([]string{"busam", "train"}, args...), Log: os.Stderr}
	if !*quiet {
		r.Progress = os.Stderr
	}
	o.OnEpoch = func(e train.EpochStats) {
		fmt.Printf("epoch %3d  train loss %.4f (mask %.4f, class %.4f)  val loss %.4f  val Dice %.4f  val acc %.4f (balanced %.4f)  lr %.2e  %.1fs\n",
			e.Epoch, e.TrainLoss, e.TrainMaskLoss, e.TrainClassLoss, e.ValLoss, e.ValDice, e.ValAcc, e.ValBalAcc, e.LR, e.Seconds)
	}
	res, err := r.Run(o)
	if err != nil {
		return err
	}
	fmt.Printf("best epoch %d: val Dice %.4f, val acc %.4f (balanced %.4f); wrote %s\n",
		res.BestEpoch, res.Best.ValDice, res.Best.ValAcc, res.Best.ValBalAcc, filepath.Join(*out, train.WeightsFile))
	return nil
}

// parseInts fills dst from a comma-separated list; empty keeps dst.
func parseInts(s string, dst []int) error {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	if len(parts) != len(dst) {
		return fmt.Errorf("want %d comma-separated integers, got %q", len(dst), s)
	}
	for i, p := range parts {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || v < 1 {
			return fmt.Errorf("bad width %q", p)
		}
		dst[i] = v
	}
	return nil
}

func init() {
	registerBench("heads", "heads forward and training step on a [256,64,64] embedding, both kinds (-n steps)", benchHeads)
}

// benchHeads times inference and one training step (forward + backward)
// of the default heads on random SAM-sized inputs.
func benchHeads(args []string) error {
	fs := flag.NewFlagSet("bench heads", flag.ContinueOnError)
	n := fs.Int("n", 5, "timed repetitions after one warm-up")
	width := fs.String("width", "", "decoder widths at 1x,2x,4x (default per kind)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 1 {
		return errors.New("-n must be positive")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(shape ...int) *tensor.Tensor {
		t := tensor.New(shape...)
		for i := range t.Data {
			t.Data[i] = float32(rng.NormFloat64())
		}
		return t
	}
	in := heads.Input{Embedding: random(256, 64, 64), Image: random(3, 1024, 1024)}
	for _, kind := range []string{"conv", "unet"} {
		cfg := heads.DefaultConfig(kind)
		if err := parseInts(*width, cfg.Width[:]); err != nil {
			return fmt.Errorf("-width: %w", err)
		}
		m, err := heads.New(cfg)
		if err != nil {
			return err
		}
		g := heads.NewGrads(m.Params())
		dMask := random(1, 256, 256)
		if _, err := m.Predict(in); err != nil { // checked once, outside the timing
			return err
		}
		infer := func() { m.Predict(in) }
		step := func() {
			_, tape := m.ForwardTrain(in, rng)
			m.Backward(tape, dMask, []float32{0.1, -0.2, 0.1}, g)
		}
		for _, c := range []struct {
			name  string
			f     func()
			flops int64
		}{{"inference", infer, m.FLOPs(64, 64)}, {"train step", step, m.TrainFLOPs(64, 64)}} {
			c.f()
			start := time.Now()
			for range *n {
				c.f()
			}
			per := time.Since(start) / time.Duration(*n)
			fmt.Printf("%-5s %-10s %8.1f ms  %.3f GFLOP  %.2f GFLOP/s  (%d params)\n", kind, c.name,
				float64(per.Microseconds())/1000, float64(c.flops)/1e9, float64(c.flops)/per.Seconds()/1e9, m.NumParams())
		}
	}
	return nil
}
