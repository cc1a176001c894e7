package train

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync/atomic"

	"github.com/schollz/progressbar/v3"

	"github.com/busam/busam/dataset"
	"github.com/busam/busam/imageio"
	"github.com/busam/busam/model/cpu"
	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/tensor"
)

// EmbeddingSource returns the cached encoder embedding of an image file
// (flip: of its horizontal mirror image). An error wrapping fs.ErrNotExist
// means "not cached"; any other error is a real failure.
type EmbeddingSource func(imagePath string, flip bool) (*tensor.Tensor, error)

// LoadOptions say what LoadExamples prepares.
type LoadOptions struct {
	Kind    string          // "unet" also decodes and pools the images
	Classes []dataset.Label // the model's output order
	Size    int             // encoder frame side (1024)
	Workers int             // <= 0: GOMAXPROCS
	// Progress, when set, shows a progress bar there.
	Progress io.Writer
	// SkipMissing drops samples whose embedding is not cached instead of
	// failing (for experiments on a partly computed cache; counted in
	// LoadStats.Skipped).
	SkipMissing bool
	// Trunk says src returns trunk features (the neck's input): they are
	// kept in Example.Trunk as float16, for Options.TuneNeck.
	Trunk bool
}

// LoadStats counts what LoadExamples found.
type LoadStats struct {
	Examples  int
	NoFlip    int // samples whose flipped embedding is not cached (trained unflipped)
	Skipped   int // samples dropped for lack of an embedding (SkipMissing)
	MissingID []string
}

// LoadExamples reads everything training needs for the samples ids of ds
// into memory: both embeddings, the lesion target on the mask grid (mirror
// image too) and, for unet, the pooled encoder input. A sample whose
// unflipped embedding is missing is an error: the cache must be computed
// first (busam embed).
func LoadExamples(ds *dataset.Dataset, ids []string, src EmbeddingSource, opt LoadOptions) ([]*Example, LoadStats, error) {
	var st LoadStats
	if opt.Size <= 0 {
		opt.Size = encoder.DefaultSize
	}
	classOf := map[dataset.Label]int{}
	for i, l := range opt.Classes {
		classOf[l] = i
	}
	samples := make([]dataset.Sample, 0, len(ids))
	for _, id := range ids {
		s, ok := ds.ByID(id)
		if !ok {
			st.MissingID = append(st.MissingID, id)
			continue
		}
		if _, ok := classOf[s.Label]; !ok {
			return nil, st, fmt.Errorf("train: sample %s has label %v, which the model's classes %v lack", id, s.Label, opt.Classes)
		}
		samples = append(samples, s)
	}
	if len(st.MissingID) > 0 {
		return nil, st, fmt.Errorf("train: %d split IDs are not in the dataset (first: %s); is the split for this data?", len(st.MissingID), st.MissingID[0])
	}
	workers := opt.Workers // <= 0: cpu.ParallelEach uses every core
	out := make([]*Example, len(samples))
	errs := make([]error, len(samples))
	var noFlip atomic.Int64
	var bar *progressbar.ProgressBar
	if opt.Progress != nil {
		bar = progressbar.NewOptions(len(samples), progressbar.OptionSetWriter(opt.Progress),
			progressbar.OptionSetDescription("loading"), progressbar.OptionShowCount(), progressbar.OptionSetWidth(30))
	}
	cpu.ParallelEach(len(samples), workers, func(i int) {
		e, flipped, err := loadExample(samples[i], classOf[samples[i].Label], src, opt)
		out[i], errs[i] = e, err
		if err == nil && !flipped {
			noFlip.Add(1)
		}
		if bar != nil {
			bar.Add(1)
		}
	})
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(opt.Progress)
	}
	kept := out[:0]
	for i, err := range errs {
		switch {
		case err == nil:
			kept = append(kept, out[i])
		case opt.SkipMissing && errors.Is(err, errNoEmbedding):
			st.Skipped++
			errs[i] = nil
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, st, err
	}
	st.Examples, st.NoFlip = len(kept), int(noFlip.Load())
	return kept, st, nil
}

// errNoEmbedding marks a sample whose embedding is not in the cache.
var errNoEmbedding = errors.New("embedding not cached")

func loadExample(s dataset.Sample, class int, src EmbeddingSource, opt LoadOptions) (*Example, bool, error) {
	e := &Example{ID: s.ID, Class: class, Lesion: s.Label.HasLesion()}
	var emb [2]*tensor.Tensor
	var err error
	if emb[0], err = src(s.Image, false); errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("train: %s: %w: %w", s.ID, errNoEmbedding, err)
	} else if err != nil {
		return nil, false, fmt.Errorf("train: embedding of %s: %w", s.ID, err)
	}
	if len(emb[0].Shape) != 3 || emb[0].Shape[1] != emb[0].Shape[2] {
		return nil, false, fmt.Errorf("train: embedding of %s has shape %v, want [C,h,h]", s.ID, emb[0].Shape)
	}
	flipped := true
	if emb[1], err = src(s.Image, true); errors.Is(err, fs.ErrNotExist) {
		emb[1], flipped = nil, false
	} else if err != nil {
		return nil, false, fmt.Errorf("train: flipped embedding of %s: %w", s.ID, err)
	}
	grid := 4 * emb[0].Shape[1]
	for f, t := range emb {
		if t == nil {
			continue
		}
		if opt.Trunk {
			e.Trunk[f] = ToHalf(t)
		} else {
			e.Emb[f] = ToHalf(t)
		}
	}
	w, h := s.W, s.H
	var input *tensor.Tensor
	var g encoder.Geometry
	if opt.Kind == "unet" || w <= 0 || h <= 0 {
		img, err := imageio.Load(s.Image)
		if err != nil {
			return nil, false, fmt.Errorf("train: %s: %w", s.ID, err)
		}
		input, g = encoder.Preprocess(img, opt.Size)
		w, h = g.OrigW, g.OrigH
	} else {
		g = encoder.Geometry{OrigW: w, OrigH: h, Size: opt.Size}
		g.ResizedW, g.ResizedH = encoder.ResizedSize(w, h, opt.Size)
	}
	mask, err := dataset.LoadMask(s, w, h)
	if err != nil {
		return nil, false, err
	}
	e.ValidW, e.ValidH = ValidCells(g, grid)
	for f := range 2 {
		if f == 1 && !flipped {
			break
		}
		if e.Target[f], err = FrameTarget(mask, w, h, g, grid, f == 1); err != nil {
			return nil, false, fmt.Errorf("train: %s: %w", s.ID, err)
		}
		if opt.Kind == "unet" {
			e.Image[f] = PoolInput(input, grid, g.ResizedW, f == 1)
		}
	}
	return e, flipped, nil
}
