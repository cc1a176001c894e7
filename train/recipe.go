package train

// The training recipe of `busam train`: features from the caches (through
// embed.Source), the examples, the heads sized to them, a manifest, and
// the run with a checkpoint every epoch.

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/busam/busam/dataset"
	"github.com/busam/busam/dataset/split"
	"github.com/busam/busam/embed"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/pipeline"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/modelfile"
)

// Recipe names the inputs and outputs of a training run.
type Recipe struct {
	Data, Split string // dataset (folder or CSV manifest) and split JSON
	Cache       string // embedding cache folder
	Encoder     string // encoder weights file; its sha256 keys the cache
	ModelSHA    string // the encoder's sha256, to skip hashing it ("" to hash); not with TrunkCache
	// TrunkCache, when set, trains from cached trunk features through the
	// encoder's neck (frozen, or tuned with Options.TuneNeck).
	TrunkCache  string
	Kind        string    // conv or unet
	SkipMissing bool      // train on the samples whose features are cached
	Out         string    // folder for heads.safetensors, train_log.json, manifest.json
	Command     []string  // the command line, for the manifest
	Progress    io.Writer // progress bars; nil for none
	Log         io.Writer // notes; nil to discard
}

// Run trains the heads with o (o.Model's kind, widths and seed already set;
// its EmbedDim, Classes and NeckInit come from the data here) and writes
// the run into r.Out, checkpointing every epoch.
func (r Recipe) Run(o Options) (*Result, error) {
	logw := r.Log
	if logw == nil {
		logw = io.Discard
	}
	cacheDir := r.Cache
	ds, err := dataset.Load(r.Data)
	if err != nil {
		return nil, err
	}
	sp, err := split.LoadFor(r.Split, ds)
	if err != nil {
		return nil, err
	}
	splitSHA, err := FileSHA256(r.Split)
	if err != nil {
		return nil, err
	}
	sha := r.ModelSHA
	if sha == "" {
		if sha, err = FileSHA256(r.Encoder); err != nil {
			return nil, fmt.Errorf("hashing the encoder to find its embeddings (or pass --model-sha): %w", err)
		}
	}
	features := "embeddings"
	var neck *heads.Neck
	if r.TrunkCache != "" {
		if r.ModelSHA != "" {
			return nil, errors.New("--model-sha keys embeddings; with --trunk-cache the encoder file itself is needed")
		}
		var trunkSHA string
		if neck, trunkSHA, err = LoadNeck(r.Encoder); err != nil {
			return nil, err
		}
		o.NeckInit = neck.Tensors()
		sha, cacheDir, features = trunkSHA, r.TrunkCache, "trunk features, frozen neck"
		if o.TuneNeck {
			features = "trunk features, tuned neck"
		}
	}
	cache, err := embed.Open(cacheDir)
	if err != nil {
		return nil, err
	}
	// The class list follows the data: no normal images, no normal class.
	classes := pipeline.ClassLabels(3)
	if !slices.Contains(ds.Classes, dataset.Normal) {
		classes = pipeline.ClassLabels(2)
	}
	o.Model.Classes = len(classes)
	// The examples' features, through embed.Source: embeddings, or trunk
	// features with the frozen neck run once here, or (tuning the neck)
	// the trunk features themselves. Nothing is computed: a miss is an
	// error wrapping fs.ErrNotExist.
	es := &embed.Source{Cache: cache, SHA: sha}
	if neck != nil {
		es = &embed.Source{Trunk: cache, TrunkSHA: sha, Neck: func(f *tensor.Tensor) (*tensor.Tensor, error) {
			if err := neck.Check(f); err != nil {
				return nil, err
			}
			return neck.Forward(f), nil
		}}
	}
	src := func(path string, flip bool) (*tensor.Tensor, error) {
		if o.TuneNeck {
			return es.TrunkFeatures(path, flip, nil)
		}
		emb, err := es.Embedding(path, flip, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return emb, nil
	}
	lo := LoadOptions{Kind: r.Kind, Classes: classes, Workers: o.Workers, SkipMissing: r.SkipMissing, Trunk: o.TuneNeck}
	lo.Progress, o.Progress = r.Progress, r.Progress
	if len(sp.Train) == 0 || len(sp.Val) == 0 {
		return nil, fmt.Errorf("split %s has %d train and %d val samples; both must be non-empty", r.Split, len(sp.Train), len(sp.Val))
	}
	// The examples are gigabytes of live, never-freed data: let the heap
	// grow by a fifth of that between collections, not by all of it (from
	// the start: loading trunk features passes each through float32 first).
	debug.SetGCPercent(20)
	trainSet, st, err := LoadExamples(ds, sp.Train, src, lo)
	if err != nil {
		return nil, fmt.Errorf("%w (compute the embeddings first: busam embed --flip, with --trunk for --trunk-cache)", err)
	}
	valSet, vst, err := LoadExamples(ds, sp.Val, src, lo)
	if err != nil {
		return nil, err
	}
	if st.Skipped+vst.Skipped > 0 {
		fmt.Fprintf(logw, "train: skipped %d train and %d val samples without a cached embedding\n", st.Skipped, vst.Skipped)
	}
	if len(trainSet) == 0 || len(valSet) == 0 {
		return nil, fmt.Errorf("no cached embeddings for the train or val part (%d and %d found)", len(trainSet), len(valSet))
	}
	// The embedding width comes from the cache (256 for SAM encoders) or
	// the neck.
	if neck != nil {
		o.Model.EmbedDim = neck.Norm2.C
	} else {
		o.Model.EmbedDim = trainSet[0].Emb[0].Shape[0]
	}
	m, err := heads.New(o.Model)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logw, "train: %d train / %d val samples (%d without a flipped view), from %s, %s heads, %d params, %.2f GFLOP/sample inference, %.2f training\n",
		len(trainSet), len(valSet), st.NoFlip+vst.NoFlip, features, r.Kind, m.NumParams(), float64(m.FLOPs(64, 64))/1e9, float64(m.TrainFLOPs(64, 64))/1e9)
	o.OnEpoch = func(e EpochStats) {
		fmt.Printf("epoch %3d  train loss %.4f (mask %.4f, class %.4f)  val loss %.4f  val Dice %.4f  val acc %.4f (balanced %.4f)  lr %.2e  %.1fs\n",
			e.Epoch, e.TrainLoss, e.TrainMaskLoss, e.TrainClassLoss, e.ValLoss, e.ValDice, e.ValAcc, e.ValBalAcc, e.LR, e.Seconds)
	}
	// The heads pair with the encoder they were trained on: the file's hash,
	// or with a tuned neck the hash of the file with their overrides, which
	// is only known at the end (the manifest records the file's).
	encoderSHA := sha
	if neck != nil {
		if encoderSHA, err = FileSHA256(r.Encoder); err != nil {
			return nil, err
		}
	}
	man := Manifest{Command: r.Command, Data: r.Data, SplitFile: r.Split,
		SplitSHA256: splitSHA, EncoderSHA256: encoderSHA, Features: features, Seed: o.Seed, Options: o, TrainSamples: len(trainSet),
		ValSamples: len(valSet), NoFlipSamples: st.NoFlip + vst.NoFlip, SkippedSamples: st.Skipped + vst.Skipped,
		Params: m.NumParams(), FLOPsPerSample: m.FLOPs(64, 64)}
	// Checkpoint every epoch, so a run stopped early (or killed) still
	// leaves its best weights so far, its log and its manifest.
	o.Checkpoint = func(res *Result, improved bool) error {
		if improved {
			return WriteRun(r.Out, res, man)
		}
		return WriteProgress(r.Out, res, man)
	}
	res, err := Run(o, trainSet, valSet)
	if err != nil {
		return nil, err
	}
	if err := WriteRun(r.Out, res, man); err != nil {
		return nil, err
	}
	return res, nil
}

// LoadNeck reads the neck of the encoder file at path as a trainable
// heads.Neck, and the key of its trunk features in a cache.
func LoadNeck(path string) (*heads.Neck, string, error) {
	enc, err := modelfile.LoadEncoder(path, nil)
	if err != nil {
		return nil, "", fmt.Errorf("loading the encoder for its neck: %w", err)
	}
	tensors := map[string]*tensor.Tensor{}
	for _, w := range enc.Params.Weights() { // PyTorch names and layouts, as in the file
		if strings.HasPrefix(w.Name, "neck.") {
			tensors[w.Name] = &tensor.Tensor{Shape: w.Shape, Data: w.Data}
		}
	}
	neck, err := heads.NewNeck(tensors)
	if err != nil {
		return nil, "", fmt.Errorf("%w (in %s)", err, path)
	}
	return neck, encoder.Trunk{Encoder: enc}.SHA256(), nil
}
