package main

// busam bench quant: what quantizing the encoder costs, measured on a split
// part (the BUSI test split): size, embedding agreement with fp32, Dice and
// accuracy through the shipped heads, and CPU latency, all in one run.
// With --sensitivity it instead quantizes one group of layers at a time
// (bench_quant_sensitivity.go).

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/busam/busam/dataset"
	"github.com/busam/busam/dataset/split"
	"github.com/busam/busam/embed"
	"github.com/busam/busam/imageio"
	"github.com/busam/busam/metrics"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/pipeline"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/modelfile"
	"github.com/busam/busam/quant"
)

func init() {
	registerBench("quant", "fp32 vs fp16 vs int8 encoder: size, embedding cosine, Dice, accuracy, latency (--sensitivity: per layer group)", runBenchQuant)
}

type quantVariant struct {
	name, path string
	enc        *encoder.Encoder
	raw, gz    int64
	cos        []float64
	dice       []float64 // lesion images
	correct    int
	changed    int // images whose class differs from the reference row's
	n          int
	lat        []time.Duration
}

// quantBench is what both modes share: the images of the part, the heads,
// and where the fp32 reference embeddings come from.
type quantBench struct {
	ds        *dataset.Dataset
	ids       []string
	part      string
	h         *heads.Model
	headsPath string
	cache     *embed.Cache // fp32 embeddings, may be nil
	trunk     *embed.Cache // fp32 trunk features, may be nil
}

// sample is one image of the part, ready for the encoder and for scoring.
type sample struct {
	s     dataset.Sample
	input *tensor.Tensor
	g     encoder.Geometry
	truth []uint8
}

func (b *quantBench) load(i int) (*sample, error) {
	s, ok := b.ds.ByID(b.ids[i])
	if !ok {
		return nil, fmt.Errorf("split names %s, which the dataset lacks", b.ids[i])
	}
	img, err := imageio.Load(s.Image)
	if err != nil {
		return nil, err
	}
	input, g := encoder.Preprocess(img, encoder.DefaultSize)
	truth, err := dataset.LoadMask(s, g.OrigW, g.OrigH)
	if err != nil {
		return nil, err
	}
	return &sample{s: s, input: input, g: g, truth: truth}, nil
}

// reference is the fp32 embedding of x through embed.Source: from the
// embedding cache, else the neck run on the trunk features (cached ones:
// what a fine-tuned neck needs, its embeddings are never cached), else a
// full forward pass; nothing is stored. trunk is the fp32 trunk features
// when they were cached, else nil.
func (b *quantBench) reference(enc *encoder.Encoder, x *sample) (emb, trunk *tensor.Tensor, err error) {
	trunkSHA := encoder.Trunk{Encoder: enc}.SHA256()
	cachedOnly := &embed.Source{Trunk: b.trunk, TrunkSHA: trunkSHA}
	if trunk, err = cachedOnly.TrunkFeatures(x.s.Image, false, nil); errors.Is(err, fs.ErrNotExist) {
		trunk, err = nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	src := &embed.Source{Cache: b.cache, SHA: enc.SHA256(), Trunk: b.trunk, TrunkSHA: trunkSHA,
		Encoder: func() (*encoder.Encoder, error) { return enc, nil }}
	emb, err = src.Embedding(x.s.Image, false, func(bool) (*tensor.Tensor, error) { return x.input, nil })
	return emb, trunk, err
}

// loadEncoder loads an encoder file with the heads' encoder overrides (a
// fine-tuned neck). Only the fp32 reference uses them as stored: the app
// ships them inside the fp16 heads, so every other precision gets them
// rounded to fp16.
func loadEncoder(path string, over map[string]*tensor.Tensor, reference bool) (*encoder.Encoder, error) {
	if !reference {
		var err error
		if over, err = asFP16File(over); err != nil {
			return nil, err
		}
	}
	return modelfile.LoadEncoder(path, over)
}

// asFP16File returns ts as an fp16 file (busam quantize --mode fp16, how
// the app ships the heads) stores them.
func asFP16File(ts map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	out := make(map[string]*tensor.Tensor, len(ts))
	for name, t := range ts {
		if !quant.StoresFP16(t.Shape) {
			out[name] = t
			continue
		}
		r, err := quant.RoundTrip(quant.FP16, name, t)
		if err != nil {
			return nil, err
		}
		out[name] = r
	}
	return out, nil
}

func runBenchQuant(args []string) error {
	fl := flag.NewFlagSet("bench quant", flag.ContinueOnError)
	data := fl.String("data", "", "dataset (BUSI folder or CSV manifest), required")
	splitPath := fl.String("split", "", "split JSON, required")
	part := fl.String("part", "test", "split part: train, val or test")
	headsPath := fl.String("heads", "", "trained heads, required; encoder overrides in it (a fine-tuned neck) are applied to every encoder, at fp16 except in the fp32 row")
	wdir := fl.String("weights", filepath.Join(".cache", "weights"), "folder with encoder.safetensors, encoder.fp16.safetensors, encoder.int8.safetensors")
	cacheDir := fl.String("cache", "", "embedding cache holding the fp32 embeddings of the part (computed when absent)")
	trunkDir := fl.String("trunk-cache", "", "cache of fp32 trunk features (busam embed --trunk): the fp32 reference of heads with a fine-tuned neck, and the neck-only sensitivity groups, run just the neck on them")
	limit := fl.Int("limit", 0, "use only the first N images (0 = all)")
	latN := fl.Int("latency-images", 3, "images timed for the latency column (each precision, interleaved)")
	var extra []*quantVariant
	fl.Func("variant", "an extra row NAME=PATH (repeatable), e.g. a mixed-precision file from busam quantize --keep", func(s string) error {
		name, path, ok := strings.Cut(s, "=")
		if !ok || name == "" || path == "" {
			return fmt.Errorf("want NAME=PATH, got %q", s)
		}
		extra = append(extra, &quantVariant{name: name, path: path})
		return nil
	})
	rows := fl.String("rows", "fp32,fp16,int8", "built-in rows, a comma list of fp32 (the reference, always first), fp16, int8: encoder[.MODE].safetensors in --weights")
	sens := fl.Bool("sensitivity", false, "quantize one group of layers at a time to int8 (in memory, the rest fp32) and report per group: cosine, class changes, Dice change")
	groups := fl.String("groups", "", "sensitivity: comma list of groups, built-in names or NAME=REGEXP on encoder tensor names (default: "+strings.Join(defaultGroupNames, ",")+"; built-ins also include per-stage "+strings.Join(stageGroupNames(), ",")+")")
	out := fl.String("out", "", "also write the Markdown table to this file")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *data == "" || *splitPath == "" || *headsPath == "" || fl.NArg() > 0 {
		return fmt.Errorf("--data, --split and --heads are required, and no other arguments")
	}
	b := &quantBench{part: *part, headsPath: *headsPath}
	var err error
	if b.ds, err = dataset.Load(*data); err != nil {
		return err
	}
	sp, err := split.LoadFor(*splitPath, b.ds)
	if err != nil {
		return err
	}
	if *part == "all" {
		return fmt.Errorf("--part %q: want train, val or test", *part)
	}
	if b.ids, err = sp.Part(*part); err != nil {
		return fmt.Errorf("--part: %w", err)
	}
	if *limit > 0 && *limit < len(b.ids) {
		b.ids = b.ids[:*limit]
	}
	if b.h, err = heads.Load(*headsPath); err != nil {
		return fmt.Errorf("--heads: %w", err)
	}
	if *cacheDir != "" {
		if b.cache, err = embed.Open(*cacheDir); err != nil {
			return err
		}
	}
	if *trunkDir != "" {
		if b.trunk, err = embed.Open(*trunkDir); err != nil {
			return err
		}
	}
	fp32 := filepath.Join(*wdir, "encoder.safetensors")
	var table string
	if *sens {
		gs, err := parseGroups(*groups)
		if err != nil {
			return fmt.Errorf("--groups: %w", err)
		}
		table, err = runSensitivity(b, fp32, gs)
		if err != nil {
			return err
		}
	} else {
		vs, err := builtinRows(*rows, *wdir)
		if err != nil {
			return fmt.Errorf("--rows: %w", err)
		}
		vs = append(vs, extra...)
		if table, err = b.compare(vs, *latN); err != nil {
			return err
		}
	}
	fmt.Print(table)
	if *out != "" {
		return os.WriteFile(*out, []byte(table), 0o644)
	}
	return nil
}

// builtinRows reads --rows: fp32 first (the reference every other row is
// compared with), then fp16 and/or int8 in any order.
func builtinRows(list, wdir string) ([]*quantVariant, error) {
	names := strings.Split(list, ",")
	if names[0] != "fp32" {
		return nil, fmt.Errorf("%q: the first row must be fp32, the reference", list)
	}
	vs := []*quantVariant{{name: "fp32", path: filepath.Join(wdir, "encoder.safetensors")}}
	seen := map[string]bool{"fp32": true}
	for _, n := range names[1:] {
		if (n != "fp16" && n != "int8") || seen[n] {
			return nil, fmt.Errorf("%q: want fp32 followed by fp16 and/or int8, each once", list)
		}
		seen[n] = true
		vs = append(vs, &quantVariant{name: n, path: filepath.Join(wdir, "encoder."+n+".safetensors")})
	}
	return vs, nil
}

// compare runs every variant (the first is the fp32 reference) over the
// part and returns the table.
func (b *quantBench) compare(vs []*quantVariant, latN int) (string, error) {
	over := b.h.EncoderOverrides
	for j, v := range vs {
		var err error
		if v.raw, v.gz, err = quant.Sizes(v.path); err != nil {
			return "", fmt.Errorf("%s: %w (make it with busam quantize)", v.path, err)
		}
		if v.enc, err = loadEncoder(v.path, over, j == 0); err != nil {
			return "", err
		}
	}
	fmt.Fprintf(os.Stderr, "bench quant: %d images of the %s part\n", len(b.ids), b.part)
	for i := range b.ids {
		x, err := b.load(i)
		if err != nil {
			return "", err
		}
		var ref *tensor.Tensor
		var refLabel dataset.Label
		for j, v := range vs {
			var emb *tensor.Tensor
			timed := i < latN
			if j == 0 && !timed {
				if emb, _, err = b.reference(v.enc, x); err != nil {
					return "", err
				}
			} else {
				start := time.Now()
				if emb, err = v.enc.Forward(x.input); err != nil {
					return "", err
				}
				if timed {
					v.lat = append(v.lat, time.Since(start))
				}
			}
			if j == 0 {
				ref = emb
			}
			v.cos = append(v.cos, tensor.Cosine(ref.Data, emb.Data))
			res, err := pipeline.Predict(b.h, emb, x.input, x.g)
			if err != nil {
				return "", err
			}
			v.n++
			if res.Label == x.s.Label {
				v.correct++
			}
			if j == 0 {
				refLabel = res.Label
			} else if res.Label != refLabel {
				v.changed++
			}
			if x.s.Label.HasLesion() {
				d, err := metrics.Dice(res.Mask, x.truth)
				if err != nil {
					return "", err
				}
				v.dice = append(v.dice, d)
			}
		}
		fmt.Fprintf(os.Stderr, "\r%d/%d", i+1, len(b.ids))
	}
	fmt.Fprintln(os.Stderr)
	table := quantTable(vs, b.part, len(b.ids))
	if len(over) > 0 {
		table += fmt.Sprintf("Heads %s carry %d encoder tensors (a fine-tuned neck): fp32 row as stored, other rows at fp16 as the app ships them.\n",
			b.headsPath, len(over))
	}
	return table, nil
}

func quantTable(vs []*quantVariant, part string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| encoder | bytes raw | bytes gzip | embedding cosine vs fp32, mean (min) | Dice, lesion images | accuracy | images whose class changes | CPU latency, median of %d |\n", len(vs[0].lat))
	b.WriteString("|---|---:|---:|---|---:|---:|---:|---:|\n")
	ref := vs[0]
	for _, v := range vs {
		fmt.Fprintf(&b, "| %s | %d | %d | %.6f (%.6f) | %.4f (%+.4f) | %.4f (%+.2f pts) | %d | %s |\n",
			v.name, v.raw, v.gz, mean(v.cos), minimum(v.cos),
			mean(v.dice), mean(v.dice)-mean(ref.dice),
			float64(v.correct)/float64(v.n), 100*(float64(v.correct)-float64(ref.correct))/float64(v.n),
			v.changed, medianLatency(v.lat))
	}
	fmt.Fprintf(&b, "\n%d images of the %s part; Dice and accuracy through the same heads, masks as the app shows them.\n", n, part)
	return b.String()
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func minimum(v []float64) float64 {
	m := math.Inf(1)
	for _, x := range v {
		m = math.Min(m, x)
	}
	return m
}

// medianLatency is the median of d in the package's median, as a duration
// rounded to the millisecond; 0 when nothing was timed.
func medianLatency(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	v := make([]float64, len(d))
	for i, x := range d {
		v[i] = ms(x)
	}
	return (time.Duration(median(v) * 1e6)).Round(time.Millisecond)
}
