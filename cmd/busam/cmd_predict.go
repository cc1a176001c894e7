package main

// busam predict: run the model over images and write each predicted mask
// and a predictions.csv.
//
// Output layout (a mirrored tree): the mask of the input image <rel>.<ext>
// (its path relative to the input folder, or its sample ID in a dataset or
// manifest) is written to <out>/<rel>_pred.png, an 8-bit greyscale PNG of
// the image's own size with 0 = background and 255 = lesion. --out may lie
// inside the input folder (it is then not searched for inputs) but may not
// be the input folder itself: *_pred.png files among the images would break
// loading it as a dataset. Files named *_pred.* and *_mask*.* are never
// taken as inputs.

import (
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"image"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/busam/busam/dataset"
	"github.com/busam/busam/embed"
	"github.com/busam/busam/imageio"
	"github.com/busam/busam/internal/atomicfile"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/pipeline"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/modelfile"
	"github.com/busam/busam/weights"
)

// PredictionsFile is the per-image table predict writes into its --out folder.
const PredictionsFile = "predictions.csv"

// analyzer computes the model's result for one image; predict and eval take
// it as a parameter so tests can run the commands with a fake model. The
// real one (modelFlags.open) goes through model/pipeline, the one path from
// an image to a result.
type analyzer interface {
	Analyze(imagePath string, img image.Image) (pipeline.Result, error)
}

// modelFlags are the flags that choose the model, shared by predict and eval.
// A heads file with encoder overrides (a fine-tuned neck) changes the
// encoder: it is loaded with them, and the cache is keyed by its hash
// with them (encoder.OverriddenSHA256).
type modelFlags struct {
	heads    string // trained heads, safetensors
	encoder  string // encoder weights, safetensors
	cache    string // embedding cache folder; empty: always run the encoder
	modelSHA string // hash of the encoder file keying the cache; empty: hash it
	// trunkCache holds trunk features (busam embed --trunk); when set, an
	// embedding the cache lacks is the neck run on them. Empty: none.
	trunkCache string
	// flip adds test-time augmentation: each image is also analysed
	// mirrored (pipeline.PredictFlip); its embedding comes from the caches
	// under the Flip key like the image's.
	flip bool
}

func (m *modelFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&m.heads, "heads", "", "trained heads (safetensors from busam train), required")
	fs.StringVar(&m.encoder, "encoder", filepath.Join(".cache", "weights", "encoder.safetensors"),
		"encoder weights (run for images missing from --cache; their sha256, with the heads' tuned neck if any, keys the cache)")
	fs.StringVar(&m.cache, "cache", filepath.Join(".cache", "embeddings"),
		"embedding cache folder (from busam embed); missing entries are computed, not stored; \"\" for none")
	fs.StringVar(&m.modelSHA, "model-sha", "", "sha256 of the --encoder file, to key the cache with (default: hash the file)")
	fs.StringVar(&m.trunkCache, "trunk-cache", "",
		"trunk feature cache (from busam embed --trunk): embeddings missing from --cache are the encoder's neck (the heads' tuned one, if any) "+
			"on the cached features, and missing features are computed and stored; \"\" for none")
	fs.BoolVar(&m.flip, "flip", false,
		"test-time flip: also analyse each image mirrored left-right and average the two predictions (twice the encoder work)")
}

// classProbs returns a result's probabilities of (normal, benign,
// malignant); a class the model does not have (normal, for a two-class
// model) is NaN.
func classProbs(r pipeline.Result) ([3]float64, error) {
	out := [3]float64{math.NaN(), math.NaN(), math.NaN()}
	if len(r.Probs) != len(r.Classes) || len(r.Probs) == 0 {
		return out, fmt.Errorf("model gave %d probabilities for %d classes", len(r.Probs), len(r.Classes))
	}
	for i, c := range r.Classes {
		if !c.Valid() {
			return out, fmt.Errorf("model result has invalid class %d", int(c))
		}
		out[c] = float64(r.Probs[i])
	}
	return out, nil
}

// checkResult verifies that a result fits its w×h image.
func checkResult(r pipeline.Result, w, h int) error {
	if r.W != w || r.H != h || len(r.Mask) != w*h {
		return fmt.Errorf("model result is %dx%d with %d mask values for a %dx%d image", r.W, r.H, len(r.Mask), w, h)
	}
	if !r.Label.Valid() {
		return fmt.Errorf("model result has invalid label %d", int(r.Label))
	}
	_, err := classProbs(r)
	return err
}

// inputImage is one image to predict on.
type inputImage struct {
	Path string // as given or found
	Rel  string // relative path without extension, '/'-separated: names the outputs
	Name string // relative path with extension: the "image" column
}

// listInputs resolves --data: a CSV manifest (its image column), a single image
// file, or a folder searched recursively for images (a BUSI folder is one).
// Hidden entries, masks (*_mask, *_mask_K), earlier outputs (*_pred) and the
// skip folder (the output folder when it lies inside) are left out.
func listInputs(data, skip string) ([]inputImage, error) {
	st, err := os.Stat(data)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		if strings.EqualFold(filepath.Ext(data), ".csv") {
			out, err := readImageColumn(data)
			if err != nil {
				return nil, err
			}
			return relativeToCommonFolder(out), nil
		}
		base := filepath.Base(data)
		return []inputImage{{Path: data, Rel: strings.TrimSuffix(base, filepath.Ext(base)), Name: base}}, nil
	}
	skipAbs, _ := filepath.Abs(skip)
	var out []inputImage
	err = filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if path != data && strings.HasPrefix(name, ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if abs, _ := filepath.Abs(path); path != data && abs == skipAbs {
				return filepath.SkipDir
			}
			return nil
		}
		ext := filepath.Ext(name)
		stem := strings.TrimSuffix(name, ext)
		if !dataset.IsImageExt(ext) || dataset.IsMaskStem(stem) || strings.HasSuffix(stem, "_pred") {
			return nil
		}
		rel, err := filepath.Rel(data, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		out = append(out, inputImage{Path: path, Rel: strings.TrimSuffix(rel, ext), Name: rel})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no images in %s", data)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Rel < out[j].Rel })
	return out, nil
}

// readImageColumn lists the images of a CSV manifest (dataset's format:
// header with an "image" column, paths relative to the manifest's folder).
// Only that column is read: predicting needs no labels or masks.
func readImageColumn(path string) ([]inputImage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.TrimLeadingSpace = true
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	col := -1
	if len(rows) > 0 {
		for i, h := range rows[0] {
			if dataset.ColumnName(h) == "image" {
				col = i
			}
		}
	}
	if col < 0 {
		return nil, fmt.Errorf("%s: no \"image\" column in the header", path)
	}
	root := filepath.Dir(path)
	var out []inputImage
	for n, row := range rows[1:] {
		if col >= len(row) || strings.TrimSpace(row[col]) == "" {
			return nil, fmt.Errorf("%s: line %d has no image", path, n+2)
		}
		img := filepath.FromSlash(strings.TrimSpace(row[col]))
		if !filepath.IsAbs(img) {
			img = filepath.Join(root, img)
		}
		rel, err := filepath.Rel(root, img)
		if err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", path, n+2, err)
		}
		rel = filepath.ToSlash(rel)
		out = append(out, inputImage{Path: img, Rel: strings.TrimSuffix(rel, filepath.Ext(rel)), Name: rel})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no images listed", path)
	}
	return out, nil
}

// relativeToCommonFolder keeps the sample IDs of a manifest as output names
// unless one leaves the manifest's folder ("../x" for an image elsewhere):
// written under --out, that would land outside it. Then every name becomes
// the image's path relative to the deepest folder holding all images.
func relativeToCommonFolder(in []inputImage) []inputImage {
	escapes := false
	for _, im := range in {
		if !filepath.IsLocal(filepath.FromSlash(im.Rel)) {
			escapes = true
		}
	}
	if !escapes || len(in) == 0 {
		return in
	}
	common := filepath.Dir(in[0].Path)
	for _, im := range in[1:] {
		for {
			rel, err := filepath.Rel(common, im.Path)
			if err == nil && filepath.IsLocal(rel) {
				break
			}
			if parent := filepath.Dir(common); parent != common {
				common = parent
			} else {
				break
			}
		}
	}
	out := make([]inputImage, len(in))
	for i, im := range in {
		rel, _ := filepath.Rel(common, im.Path)
		rel = filepath.ToSlash(rel)
		out[i] = inputImage{Path: im.Path, Rel: strings.TrimSuffix(rel, filepath.Ext(rel)), Name: rel}
	}
	return out
}

// checkOutputNames refuses inputs whose outputs would collide (x.png and
// x.jpg both give x_pred.png) or leave the output folder.
func checkOutputNames(in []inputImage) error {
	seen := map[string]string{}
	for _, im := range in {
		if !filepath.IsLocal(filepath.FromSlash(im.Rel)) {
			return fmt.Errorf("%s: output name %q would leave the output folder", im.Path, im.Rel)
		}
		if prev, dup := seen[im.Rel]; dup {
			return fmt.Errorf("%s and %s would both write %s_pred.png", prev, im.Path, im.Rel)
		}
		seen[im.Rel] = im.Path
	}
	return nil
}

// sameDir reports whether a and b name the same existing folder.
func sameDir(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && sa.IsDir() && os.SameFile(sa, sb)
}

// writeFileAtomic creates path's folder, then writes path atomically
// (internal/atomicfile), so a reader never sees a half-written file.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		if err := write(w); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		return nil
	})
}

type predictOptions struct {
	model modelFlags
	data  string
	out   string
	force bool
}

func parsePredictFlags(args []string) (predictOptions, error) {
	var o predictOptions
	fs := flag.NewFlagSet("predict", flag.ContinueOnError)
	o.model.register(fs)
	fs.StringVar(&o.data, "data", "", "images: a folder (searched recursively, BUSI layout included), a CSV manifest or one image file; required")
	fs.StringVar(&o.out, "out", "", "output folder: <rel>_pred.png per image and "+PredictionsFile+"; required")
	fs.BoolVar(&o.force, "force", false, "overwrite existing output files")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.model.heads == "" || o.data == "" || o.out == "" {
		return o, errors.New("--heads, --data and --out are required")
	}
	return o, nil
}

func init() {
	register("predict", "predict lesion masks and classes for images: <rel>_pred.png + predictions.csv", func(args []string) error {
		o, err := parsePredictFlags(args)
		if errors.Is(err, flag.ErrHelp) {
			return nil // usage was printed
		}
		if err != nil {
			return err
		}
		return withModel("predict", o.model, func(an analyzer) error { return runPredict(o, an, os.Stdout, os.Stderr) })
	})
}

// withModel opens the model m names, runs run on it, and then says how
// the caches served (predict and eval).
func withModel(command string, m modelFlags, run func(analyzer) error) error {
	an, err := m.open()
	if err != nil {
		return err
	}
	err = run(an)
	if note := an.cacheNote(); note != "" {
		fmt.Fprintln(os.Stderr, command+": "+note)
	}
	return err
}

// runPredict predicts every input image. A failing image is reported and
// skipped; the command then fails after writing everything else.
func runPredict(o predictOptions, an analyzer, stdout, progress io.Writer) error {
	if sameDir(o.data, o.out) {
		return fmt.Errorf("--out %s is the --data folder: choose another folder (the masks mirror the input tree there)", o.out)
	}
	inputs, err := listInputs(o.data, o.out)
	if err != nil {
		return fmt.Errorf("--data: %w", err)
	}
	if err := checkOutputNames(inputs); err != nil {
		return fmt.Errorf("--data: %w", err)
	}
	maskPath := func(in inputImage) string { return filepath.Join(o.out, filepath.FromSlash(in.Rel)+"_pred.png") }
	csvPath := filepath.Join(o.out, PredictionsFile)
	if !o.force {
		// Refuse before any work rather than halfway through.
		targets := []string{csvPath}
		for _, in := range inputs {
			targets = append(targets, maskPath(in))
		}
		for _, t := range targets {
			if _, err := os.Lstat(t); err == nil {
				return fmt.Errorf("%s exists (use --force to overwrite)", t)
			}
		}
	}

	rows := [][]string{{"image", "label_pred", "p_normal", "p_benign", "p_malignant", "mask_area_px", "distance", "unusual", "not_ultrasound"}}
	var failed []string
	for i, in := range inputs {
		row, err := predictOne(an, in, maskPath(in))
		if err != nil {
			failed = append(failed, err.Error())
			fmt.Fprintf(progress, "predict: %v\n", err)
			continue
		}
		rows = append(rows, row)
		if (i+1)%25 == 0 || i+1 == len(inputs) {
			fmt.Fprintf(progress, "predict: %d/%d images\n", i+1, len(inputs))
		}
	}
	err = writeFileAtomic(csvPath, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		cw.WriteAll(rows)
		return cw.Error()
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d of %d images predicted; masks and %s in %s\n", len(rows)-1, len(inputs), PredictionsFile, o.out)
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d images failed, first: %s", len(failed), len(inputs), failed[0])
	}
	return nil
}

// predictOne runs one image and writes its mask; it returns its CSV row.
func predictOne(an analyzer, in inputImage, maskPath string) ([]string, error) {
	img, err := imageio.Load(in.Path)
	if err != nil {
		return nil, err
	}
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	p, err := an.Analyze(in.Path, img)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in.Path, err)
	}
	if err := checkResult(p, w, h); err != nil {
		return nil, fmt.Errorf("%s: %w", in.Path, err)
	}
	probs, _ := classProbs(p) // checked above
	area := 0
	for _, v := range p.Mask {
		if v != 0 {
			area++
		}
	}
	err = writeFileAtomic(maskPath, func(w io.Writer) error { return imageio.WriteMaskPNG(w, p.Mask, p.W, p.H) })
	if err != nil {
		return nil, err
	}
	cell := func(x float64) string {
		if math.IsNaN(x) {
			return ""
		}
		return strconv.FormatFloat(x, 'f', 6, 64)
	}
	// distance, unusual, not_ultrasound: empty when the heads carry no
	// typicality model
	typical := []string{"", "", ""}
	if !math.IsNaN(p.Distance) {
		typical = []string{cell(p.Distance), strconv.FormatBool(p.Unusual), strconv.FormatBool(p.NotUltrasound)}
	}
	return append([]string{in.Name, p.Label.String(), cell(probs[0]), cell(probs[1]), cell(probs[2]), strconv.Itoa(area)}, typical...), nil
}

// pipelineAnalyzer runs model/pipeline on each image, on the embedding
// embed.Source gives (the cached one, else the neck on trunk features with
// a trunk cache, else the encoder's). Missing embeddings are not added:
// filling the cache is `busam embed`'s job; trunk features computed are
// stored. The encoder is loaded on the first miss, with the heads'
// encoder overrides applied.
type pipelineAnalyzer struct {
	heads   *heads.Model
	encPath string
	enc     *encoder.Encoder
	encErr  error // a failed encoder load is reported for every image, not retried
	src     *embed.Source
	flip    bool // test-time flip (modelFlags.flip)
}

// open loads the model the flags name.
func (m modelFlags) open() (*pipelineAnalyzer, error) {
	h, err := heads.Load(m.heads)
	if err != nil {
		return nil, fmt.Errorf("--heads: %w", err)
	}
	a := &pipelineAnalyzer{heads: h, encPath: m.encoder, flip: m.flip}
	a.src = &embed.Source{Encoder: a.loadEncoder, StoreTrunk: true}
	if m.trunkCache != "" {
		if a.src.Trunk, err = embed.Open(m.trunkCache); err != nil {
			return nil, fmt.Errorf("--trunk-cache: %w", err)
		}
	}
	if m.cache == "" {
		return a, nil
	}
	fileSHA := strings.ToLower(m.modelSHA)
	if fileSHA == "" {
		// Encoder.SHA256 derives from the hash of its weights file; hashing
		// the file finds the cache entries without loading the encoder.
		if fileSHA, err = weights.FileSHA256(m.encoder); err != nil {
			return nil, fmt.Errorf("hashing the encoder to find its cached embeddings (or pass --model-sha): %w", err)
		}
	}
	// The hash modelfile.LoadEncoder gives the encoder; without overrides
	// it is the file's, so plain heads find the embeddings busam embed stored.
	a.src.SHA = encoder.OverriddenSHA256(fileSHA, h.EncoderOverrides)
	if a.src.Cache, err = embed.Open(m.cache); err != nil {
		return nil, fmt.Errorf("--cache: %w", err)
	}
	return a, nil
}

func (a *pipelineAnalyzer) loadEncoder() (*encoder.Encoder, error) {
	if a.enc == nil && a.encErr == nil {
		a.enc, a.encErr = modelfile.LoadEncoder(a.encPath, a.heads.EncoderOverrides)
		if a.encErr != nil {
			a.encErr = fmt.Errorf("--encoder: %w", a.encErr)
		}
	}
	return a.enc, a.encErr
}

func (a *pipelineAnalyzer) Analyze(imagePath string, img image.Image) (pipeline.Result, error) {
	if img == nil || img.Bounds().Empty() {
		return pipeline.Result{}, errors.New("empty image")
	}
	view, g, err := a.view(imagePath, img, false)
	if err != nil || !a.flip {
		if err != nil {
			return pipeline.Result{}, err
		}
		return pipeline.Predict(a.heads, view.Embedding, view.Input, g)
	}
	mirror, _, err := a.view(imagePath, imageio.FlipHorizontal(img), true)
	if err != nil {
		return pipeline.Result{}, err
	}
	return pipeline.PredictFlip(a.heads, view, mirror, g)
}

// view is the heads' input for img, the image at imagePath or, with flip,
// its mirror image (the Flip key of the caches).
func (a *pipelineAnalyzer) view(imagePath string, img image.Image, flip bool) (pipeline.View, encoder.Geometry, error) {
	input, g := encoder.Preprocess(img, encoder.DefaultSize)
	emb, err := a.src.Embedding(imagePath, flip, func(bool) (*tensor.Tensor, error) { return input, nil })
	return pipeline.View{Input: input, Embedding: emb}, g, err
}

// cacheNote says how the caches served a run ("" without a cache).
func (a *pipelineAnalyzer) cacheNote() string {
	var notes []string
	s := a.src
	if s.Cache != nil && s.Hits+s.Misses > 0 {
		computed := "computed by the encoder"
		if s.Trunk != nil {
			computed = "computed from trunk features"
		}
		notes = append(notes, fmt.Sprintf("embedding cache %s: %d hits, %d %s", s.Cache.Dir(), s.Hits, s.Misses, computed))
	}
	if s.Trunk != nil && s.TrunkHits+s.TrunkMisses > 0 {
		notes = append(notes, fmt.Sprintf("trunk cache %s: %d hits, %d computed and stored", s.Trunk.Dir(), s.TrunkHits, s.TrunkMisses))
	}
	return strings.Join(notes, "; ")
}
