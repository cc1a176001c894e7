package main

// busam eval: run the model over a labelled dataset (or one part of a split)
// and write a report folder (report.md, per_image.csv, plots).

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/busam/busam/dataset"
	"github.com/busam/busam/dataset/split"
	"github.com/busam/busam/imageio"
	"github.com/busam/busam/metrics"
	"github.com/busam/busam/report"
)

// bootstrapResamples for the 95% intervals: percentile intervals want
// resamples in the thousands (Efron & Tibshirani suggest at least 1000).
const bootstrapResamples = 2000

type evalOptions struct {
	model    modelFlags
	data     string // BUSI folder or CSV manifest
	split    string // split.json; empty: every sample
	part     string // train, val, test or all
	out      string // report folder
	force    bool
	examples int    // best and worst cases drawn, each
	trainLog string // train_log.json; empty: next to the heads
}

func parseEvalFlags(args []string) (evalOptions, error) {
	var o evalOptions
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	o.model.register(fs)
	fs.StringVar(&o.data, "data", "", "labelled data: a BUSI-layout folder or a CSV manifest; required")
	fs.StringVar(&o.split, "split", "", "split.json (from busam split); without it every sample is evaluated")
	fs.StringVar(&o.part, "part", "test", "part of the split to evaluate: train, val, test or all")
	fs.StringVar(&o.out, "out", "", "report folder to create; required")
	fs.BoolVar(&o.force, "force", false, "replace an existing report folder")
	fs.IntVar(&o.examples, "examples", 4, "number of best and of worst Dice cases to draw")
	fs.StringVar(&o.trainLog, "train-log", "", "training log for the curves (default: train_log.json next to --heads, if there)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.model.heads == "" || o.data == "" || o.out == "" {
		return o, errors.New("--heads, --data and --out are required")
	}
	switch o.part {
	case "train", "val", "test", "all":
	default:
		return o, fmt.Errorf("--part %q: want train, val, test or all", o.part)
	}
	if o.examples < 0 {
		return o, fmt.Errorf("--examples %d is negative", o.examples)
	}
	return o, nil
}

func init() {
	register("eval", "evaluate trained heads on labelled data: report folder + printed summary", func(args []string) error {
		o, err := parseEvalFlags(args)
		if errors.Is(err, flag.ErrHelp) {
			return nil // usage was printed
		}
		if err != nil {
			return err
		}
		return withModel("eval", o.model, func(an analyzer) error { return runEval(o, an, os.Stdout, os.Stderr) })
	})
}

// evalSamples picks the samples to evaluate: those of the split part, in
// the split's order, or all.
func evalSamples(ds *dataset.Dataset, splitPath, part string) ([]dataset.Sample, error) {
	if splitPath == "" {
		return ds.Samples, nil
	}
	sp, err := split.LoadFor(splitPath, ds)
	if err != nil {
		return nil, fmt.Errorf("--split: %w", err)
	}
	ids, err := sp.Part(part)
	if err != nil {
		return nil, err
	}
	out := make([]dataset.Sample, 0, len(ids))
	for _, id := range ids {
		s, ok := ds.ByID(id)
		if !ok {
			return nil, fmt.Errorf("--split %s lists %q, which is not in %s", splitPath, id, ds.Root)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--split %s: part %q is empty", splitPath, part)
	}
	return out, nil
}

// evaluated is one image's record plus its predicted mask, kept bit-packed
// so that a whole dataset fits in little memory until the examples are drawn.
type evaluated struct {
	sample dataset.Sample
	pred   packedMask
}

// runEval evaluates every selected sample through an, writes the report and
// prints the summary.
func runEval(o evalOptions, an analyzer, stdout, progress io.Writer) error {
	start := time.Now()
	if _, err := os.Lstat(o.out); err == nil && !o.force {
		// Refuse now rather than after evaluating every image.
		return fmt.Errorf("--out %s already exists (use --force to replace it)", o.out)
	}
	ds, err := dataset.Load(o.data)
	if err != nil {
		return fmt.Errorf("--data: %w", err)
	}
	samples, err := evalSamples(ds, o.split, o.part)
	if err != nil {
		return err
	}

	var classes []dataset.Label // the model's classes, from its first result
	var recs []metrics.Record
	var kept []evaluated
	var contexts [][]float32
	for i, s := range samples {
		rec, mask, ctx, err := evalOne(an, s, &classes)
		if err != nil {
			return err
		}
		recs, contexts = append(recs, rec), append(contexts, ctx)
		kept = append(kept, evaluated{sample: s, pred: pack(mask)})
		if (i+1)%25 == 0 || i+1 == len(samples) {
			fmt.Fprintf(progress, "eval: %d/%d images\n", i+1, len(samples))
		}
	}
	names := make([]string, len(classes))
	for i, c := range classes {
		names[i] = c.String()
	}
	sum, err := metrics.Summarize(names, recs)
	if err != nil {
		return err
	}
	ci, err := metrics.Bootstrap(names, recs, bootstrapResamples, 1)
	if err != nil {
		return err
	}

	in := report.Input{
		Title:    "busam evaluation",
		Summary:  sum,
		CI:       &ci,
		Records:  recs,
		Contexts: contexts,
		Notes: []string{
			"heads: `" + o.model.heads + "`",
			"data: `" + o.data + "`",
			splitNote(o),
			embeddingNote(o.model),
			"masks are scored as the app shows them: the pipeline clears the mask of an image it classifies as normal",
			fmt.Sprintf("images: %d, evaluated %s in %s", len(recs), time.Now().UTC().Format("2006-01-02 15:04 UTC"),
				time.Since(start).Round(time.Second)),
		},
	}
	in.TrainLog = readTrainLog(o, progress)
	best, worst := report.PickExamples(recs, o.examples)
	if in.Best, err = examples(best, recs, kept); err != nil {
		return err
	}
	if in.Worst, err = examples(worst, recs, kept); err != nil {
		return err
	}
	if err := report.Write(o.out, in, o.force); err != nil {
		return err
	}
	fmt.Fprint(stdout, report.SummaryText(sum, &ci))
	fmt.Fprintf(stdout, "\nreport: %s\n", filepath.Join(o.out, report.MarkdownFile))
	return nil
}

// embeddingNote says where the embeddings came from (a fine-tuned neck in
// the heads file is applied on every path).
func embeddingNote(m modelFlags) string {
	from := "computed by the encoder"
	if m.trunkCache != "" {
		from = fmt.Sprintf("the encoder's neck on trunk features cached in `%s` (float16; missing ones computed)", m.trunkCache)
	}
	note := "embeddings: " + from
	if m.cache != "" {
		note = fmt.Sprintf("embeddings: from `%s` (float16) when cached, else %s", m.cache, from)
	}
	if m.flip {
		note += "; test-time flip: each image is also analysed mirrored and the two predictions averaged"
	}
	return note
}

func splitNote(o evalOptions) string {
	if o.split == "" {
		return "split: none (every sample of the data)"
	}
	return fmt.Sprintf("split: `%s`, part %s", o.split, o.part)
}

// evalOne predicts one sample and measures it; it also returns the
// predicted mask and the heads' context features (for typicality). classes is the model's class list, set by the first
// result and checked against every later one.
func evalOne(an analyzer, s dataset.Sample, classes *[]dataset.Label) (metrics.Record, []uint8, []float32, error) {
	img, meta, err := imageio.LoadWithMeta(s.Image)
	if err != nil {
		return metrics.Record{}, nil, nil, err
	}
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	res, err := an.Analyze(s.Image, img)
	if err != nil {
		return metrics.Record{}, nil, nil, fmt.Errorf("%s: %w", s.Image, err)
	}
	if err := checkResult(res, w, h); err != nil {
		return metrics.Record{}, nil, nil, fmt.Errorf("%s: %w", s.Image, err)
	}
	if *classes == nil {
		*classes = append([]dataset.Label(nil), res.Classes...)
	} else if !sameLabels(*classes, res.Classes) {
		return metrics.Record{}, nil, nil, fmt.Errorf("%s: model classes changed from %v to %v", s.Image, *classes, res.Classes)
	}
	trueIdx, predIdx := indexOf(*classes, s.Label), indexOf(*classes, res.Label)
	if trueIdx < 0 {
		return metrics.Record{}, nil, nil, fmt.Errorf("%s is %s, a class this model does not predict (it has %v)",
			s.ID, s.Label, *classes)
	}
	truth, err := dataset.LoadMask(s, w, h)
	if err != nil {
		return metrics.Record{}, nil, nil, err
	}
	probs := make([]float64, len(res.Probs))
	for i, p := range res.Probs {
		probs[i] = float64(p)
	}
	rec, err := metrics.NewRecord(s.ID, trueIdx, predIdx, probs, res.Mask, truth, w, h, meta.PixelSpacingMM)
	if err != nil {
		return metrics.Record{}, nil, nil, err
	}
	return rec, res.Mask, res.Context, nil
}

func sameLabels(a, b []dataset.Label) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func indexOf(ls []dataset.Label, l dataset.Label) int {
	for i, x := range ls {
		if x == l {
			return i
		}
	}
	return -1
}

// readTrainLog finds the training log; a missing one is normal (no curves),
// a broken one is reported and skipped: it must not cost the evaluation.
func readTrainLog(o evalOptions, progress io.Writer) []report.Epoch {
	path := o.trainLog
	if path == "" {
		path = filepath.Join(filepath.Dir(o.model.heads), "train_log.json")
	}
	log, err := report.ReadTrainLog(path)
	if err != nil {
		if o.trainLog != "" || !errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(progress, "eval: no training curves: %v\n", err)
		}
		return nil
	}
	return log
}

// examples reloads the images and ground truth of the chosen records and
// unpacks their predicted masks.
func examples(idx []int, recs []metrics.Record, kept []evaluated) ([]report.Example, error) {
	var out []report.Example
	for _, i := range idx {
		s := kept[i].sample
		img, err := imageio.Load(s.Image)
		if err != nil {
			return nil, err
		}
		w, h := img.Bounds().Dx(), img.Bounds().Dy()
		truth, err := dataset.LoadMask(s, w, h)
		if err != nil {
			return nil, err
		}
		out = append(out, report.Example{Record: recs[i], Image: img, Truth: truth, Pred: kept[i].pred.unpack()})
	}
	return out, nil
}

// packedMask holds a 0|1 mask at one bit per pixel.
type packedMask struct {
	bits []uint64
	n    int
}

func pack(mask []uint8) packedMask {
	p := packedMask{bits: make([]uint64, (len(mask)+63)/64), n: len(mask)}
	for i, v := range mask {
		if v != 0 {
			p.bits[i/64] |= 1 << (i % 64)
		}
	}
	return p
}

func (p packedMask) unpack() []uint8 {
	out := make([]uint8, p.n)
	for i := range out {
		out[i] = uint8(p.bits[i/64] >> (i % 64) & 1)
	}
	return out
}
