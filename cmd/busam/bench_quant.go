package main

// busam bench quant: what quantizing the encoder costs, measured on a split
// part (the BUSI test split): size, embedding agreement with fp32, Dice and
// accuracy through the shipped heads, and CPU latency, all in one run.

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
	"github.com/busam/busam/quant"
)

func init() {
	registerBench("quant", "fp32 vs fp16 vs int8 encoder: size, embedding cosine, Dice, accuracy, latency", runBenchQuant)
}

type quantVariant struct {
	name, path string
	enc        *encoder.Encoder
	raw, gz    int64
	cos        []float64
	dice       []float64 // lesion images
	correct    int
	n          int
	lat        []time.Duration
}

func runBenchQuant(args []string) error {
	fl := flag.NewFlagSet("bench quant", flag.ContinueOnError)
	data := fl.String("data", "", "dataset (BUSI folder or CSV manifest), required")
	splitPath := fl.String("split", "", "split JSON, required")
	part := fl.String("part", "test", "split part: train, val or test")
	headsPath := fl.String("heads", "", "trained heads, required")
	wdir := fl.String("weights", filepath.Join(".cache", "weights"), "folder with encoder.safetensors, encoder.fp16.safetensors, encoder.int8.safetensors")
	cacheDir := fl.String("cache", "", "embedding cache holding the fp32 embeddings of the part (computed when absent)")
	limit := fl.Int("limit", 0, "use only the first N images (0 = all)")
	latN := fl.Int("latency-images", 3, "images timed for the latency column (each precision, interleaved)")
	out := fl.String("out", "", "also write the Markdown table to this file")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *data == "" || *splitPath == "" || *headsPath == "" {
		return fmt.Errorf("--data, --split and --heads are required")
	}
	ds, err := dataset.Load(*data)
	if err != nil {
		return err
	}
	sp, err := split.LoadFor(*splitPath, ds)
	if err != nil {
		return err
	}
	var ids []string
	switch *part {
	case "train":
		ids = sp.Train
	case "val":
		ids = sp.Val
	case "test":
		ids = sp.Test
	default:
		return fmt.Errorf("--part %q: want train, val or test", *part)
	}
	if *limit > 0 && *limit < len(ids) {
		ids = ids[:*limit]
	}
	h, err := heads.Load(*headsPath)
	if err != nil {
		return fmt.Errorf("--heads: %w", err)
	}
	vs := []*quantVariant{
		{name: "fp32", path: filepath.Join(*wdir, "encoder.safetensors")},
		{name: "fp16", path: filepath.Join(*wdir, "encoder.fp16.safetensors")},
		{name: "int8", path: filepath.Join(*wdir, "encoder.int8.safetensors")},
	}
	for _, v := range vs {
		if v.raw, v.gz, err = quant.Sizes(v.path); err != nil {
			return fmt.Errorf("%s: %w (make it with busam quantize)", v.path, err)
		}
		if v.enc, err = encoder.Load(v.path); err != nil {
			return err
		}
	}
	var cache *embed.Cache
	if *cacheDir != "" {
		if cache, err = embed.Open(*cacheDir); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "bench quant: %d images of the %s part\n", len(ids), *part)
	for i, id := range ids {
		s, ok := ds.ByID(id)
		if !ok {
			return fmt.Errorf("split names %s, which the dataset lacks", id)
		}
		img, err := imageio.Load(s.Image)
		if err != nil {
			return err
		}
		input, g := encoder.Preprocess(img, encoder.DefaultSize)
		truth, err := dataset.LoadMask(s, g.OrigW, g.OrigH)
		if err != nil {
			return err
		}
		var ref *tensor.Tensor
		for j, v := range vs {
			var emb *tensor.Tensor
			timed := i < *latN
			if j == 0 && cache != nil && !timed {
				key, err := embed.KeyFor(s.Image, v.enc.SHA256(), false)
				if err != nil {
					return err
				}
				if emb, err = cache.Get(key); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return err
				}
			}
			if emb == nil {
				start := time.Now()
				if emb, err = v.enc.Forward(input); err != nil {
					return err
				}
				if timed {
					v.lat = append(v.lat, time.Since(start))
				}
			}
			if j == 0 {
				ref = emb
			}
			v.cos = append(v.cos, cosine(ref.Data, emb.Data))
			res, err := pipeline.Predict(h, emb, input, g)
			if err != nil {
				return err
			}
			v.n++
			if res.Label == s.Label {
				v.correct++
			}
			if s.Label.HasLesion() {
				d, err := metrics.Dice(res.Mask, truth)
				if err != nil {
					return err
				}
				v.dice = append(v.dice, d)
			}
		}
		fmt.Fprintf(os.Stderr, "\r%d/%d", i+1, len(ids))
	}
	fmt.Fprintln(os.Stderr)
	table := quantTable(vs, *part, len(ids))
	fmt.Print(table)
	if *out != "" {
		return os.WriteFile(*out, []byte(table), 0o644)
	}
	return nil
}

func quantTable(vs []*quantVariant, part string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| encoder | bytes raw | bytes gzip | embedding cosine vs fp32, mean (min) | Dice, lesion images | accuracy | CPU latency, median of %d |\n", len(vs[0].lat))
	b.WriteString("|---|---:|---:|---|---:|---:|---:|\n")
	ref := vs[0]
	for _, v := range vs {
		minCos := math.Inf(1)
		for _, c := range v.cos {
			minCos = math.Min(minCos, c)
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %.6f (%.6f) | %.4f (%+.4f) | %.4f (%+.2f pts) | %s |\n",
			v.name, v.raw, v.gz, mean(v.cos), minCos,
			mean(v.dice), mean(v.dice)-mean(ref.dice),
			float64(v.correct)/float64(v.n), 100*(float64(v.correct)-float64(ref.correct))/float64(v.n),
			medianLatency(v.lat))
	}
	fmt.Fprintf(&b, "\n%d images of the %s part; Dice and accuracy through the same heads, masks as the app shows them.\n", n, part)
	return b.String()
}

func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
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
