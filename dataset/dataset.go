// Package dataset indexes labelled breast-ultrasound images: a folder in the
// BUSI layout or a CSV manifest (image,mask,label,group). Loading reads only
// image headers, so it is fast; masks are decoded on demand by LoadMask.
// Every file found is either loaded, reported as an error, or listed as an
// explicit exclusion with its reason: nothing is dropped silently.
package dataset

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/busam/busam/imageio"
	"github.com/busam/busam/model/cpu"
)

// Sample is one image with its class and lesion masks.
type Sample struct {
	ID    string   // path relative to the dataset root, without extension
	Image string   // absolute path of the image
	Masks []string // absolute paths; their union is the lesion (none for normal)
	Label Label
	// Group ties near-duplicates and images of one patient together so a
	// split never puts them on both sides; empty means the sample stands
	// alone.
	Group string
	W, H  int // image size in pixels, from its header
	// Source names the dataset the image comes from (SourceBUSI,
	// SourceBUSBRA, a manifest's source column); Device is the scanner where
	// the dataset says, BIRADS its BI-RADS category (BUS-BRA).
	Source, Device, BIRADS string
	// Parent is the image path of the sample this one was derived from (a
	// lesion-free crop, WriteNormalCrops); a split puts it in its parent's
	// part. Empty for original images.
	Parent string

	wantW, wantH int // the size the dataset's own table claims; 0 if none
}

// Exclusion is a file that was found but deliberately not loaded.
type Exclusion struct {
	Path   string
	Reason string
}

// Dataset is an indexed set of samples.
type Dataset struct {
	Root     string   // absolute folder the sample IDs are relative to
	Samples  []Sample // sorted by ID
	Classes  []Label  // the labels present, in output order
	Excluded []Exclusion
	// Notes are facts about the data that do not stop it loading, e.g. a
	// dataset table whose image size disagrees with the image file (the
	// file and its mask are used).
	Notes []string
}

// Options tune Load.
type Options struct {
	// CheckMasks decodes every mask to verify that lesion samples have a
	// non-empty mask and normal samples an empty one (about 1 s for BUSI).
	CheckMasks bool
}

// Load indexes a BUSI-layout folder or a CSV manifest, validating it
// without decoding masks (see LoadWith for the full check).
func Load(path string) (*Dataset, error) { return LoadWith(path, Options{}) }

// LoadWith is Load with options.
func LoadWith(path string, opt Options) (*Dataset, error) {
	st, err := os.Stat(path)
	if err != nil && strings.Contains(path, ",") {
		return LoadMany(strings.Split(path, ","), opt)
	}
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", path, err)
	}
	var ds *Dataset
	var probs problems
	switch {
	case st.IsDir() && isBUSBRA(abs):
		ds, probs = scanBUSBRA(abs)
	case st.IsDir():
		ds, probs = scanBUSI(abs)
	default:
		ds, probs = readManifest(abs)
	}
	if ds != nil {
		probs = append(probs, ds.validate(opt)...)
	}
	if len(probs) > 0 {
		return nil, probs.err(path)
	}
	return ds, nil
}

// problems collects every validation failure so one run reports them all.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func (p problems) err(path string) error {
	const show = 20
	var b strings.Builder
	fmt.Fprintf(&b, "dataset %s: %d problem(s):", path, len(p))
	for i, s := range p {
		if i == show {
			fmt.Fprintf(&b, "\n  ... and %d more", len(p)-show)
			break
		}
		b.WriteString("\n  " + s)
	}
	return &ValidationError{Path: path, Problems: p, msg: b.String()}
}

// ValidationError lists every problem found in a dataset.
type ValidationError struct {
	Path     string
	Problems []string
	msg      string
}

func (e *ValidationError) Error() string { return e.msg }

// validate checks the samples: readable images, masks of the image's size,
// valid labels, no image listed twice, lesion classes with masks. It fills
// W, H and Classes and sorts the samples by ID.
func (ds *Dataset) validate(opt Options) problems {
	var probs problems
	seen := map[string]string{}
	for _, s := range ds.Samples {
		key := filepath.Clean(s.Image)
		if prev, dup := seen[key]; dup {
			probs.add("%s: image listed twice (as %s and %s)", s.Image, prev, s.ID)
		}
		seen[key] = s.ID
		if !s.Label.Valid() {
			probs.add("%s: invalid label %d", s.ID, s.Label)
		}
		if s.Label.HasLesion() && len(s.Masks) == 0 {
			probs.add("%s: label %s needs a lesion mask, none given", s.ID, s.Label)
		}
	}
	// Header reads dominate; two workers use this machine's two cores.
	type result struct{ msgs, notes []string }
	results := make([]result, len(ds.Samples))
	cpu.ParallelEach(len(ds.Samples), 2, func(i int) {
		s := &ds.Samples[i]
		var msgs []string
		cfg, _, err := imageio.Config(s.Image)
		if err != nil {
			results[i].msgs = append(msgs, err.Error())
			return
		}
		s.W, s.H = cfg.Width, cfg.Height
		if s.wantW != 0 && (s.wantW != s.W || s.wantH != s.H) {
			results[i].notes = append(results[i].notes, fmt.Sprintf("%s: image is %dx%d, its dataset's table says %dx%d (the image file is used)",
				s.Image, s.W, s.H, s.wantW, s.wantH))
		}
		for _, m := range s.Masks {
			mc, _, err := imageio.Config(m)
			switch {
			case err != nil:
				msgs = append(msgs, "mask "+err.Error())
			case mc.Width != s.W || mc.Height != s.H:
				msgs = append(msgs, fmt.Sprintf("%s: mask is %dx%d, image %s is %dx%d", m, mc.Width, mc.Height, s.Image, s.W, s.H))
			}
		}
		if len(msgs) == 0 && opt.CheckMasks {
			if msg := checkMaskContent(*s); msg != "" {
				msgs = append(msgs, msg)
			}
		}
		results[i].msgs = msgs
	})
	ds.Notes = ds.Notes[:0]
	for _, r := range results {
		probs = append(probs, r.msgs...)
		ds.Notes = append(ds.Notes, r.notes...)
	}
	sort.Slice(ds.Samples, func(i, j int) bool { return ds.Samples[i].ID < ds.Samples[j].ID })
	present := map[Label]bool{}
	for _, s := range ds.Samples {
		present[s.Label] = true
	}
	ds.Classes = ds.Classes[:0]
	for _, l := range AllLabels {
		if present[l] {
			ds.Classes = append(ds.Classes, l)
		}
	}
	return probs
}

// checkMaskContent decodes a sample's masks and reports a lesion sample
// whose mask is empty or a normal sample whose mask is not.
func checkMaskContent(s Sample) string {
	m, err := LoadMask(s, s.W, s.H)
	if err != nil {
		return err.Error()
	}
	area := 0
	for _, v := range m {
		area += int(v)
	}
	switch {
	case s.Label.HasLesion() && area == 0:
		return fmt.Sprintf("%s: label %s but its mask is empty (%s)", s.ID, s.Label, strings.Join(s.Masks, "; "))
	case !s.Label.HasLesion() && area > 0:
		return fmt.Sprintf("%s: label %s but its mask marks %d lesion pixels", s.ID, s.Label, area)
	}
	return ""
}

// Counts returns the number of samples per label.
func (ds *Dataset) Counts() map[Label]int {
	c := map[Label]int{}
	for _, s := range ds.Samples {
		c[s.Label]++
	}
	return c
}

// Summary describes the dataset in a few lines: counts per class, samples
// with several masks, and every exclusion with its reason.
func (ds *Dataset) Summary() string {
	var b strings.Builder
	counts := ds.Counts()
	multi := 0
	for _, s := range ds.Samples {
		if len(s.Masks) > 1 {
			multi++
		}
	}
	fmt.Fprintf(&b, "dataset %s: %d images", ds.Root, len(ds.Samples))
	for _, l := range AllLabels {
		fmt.Fprintf(&b, ", %s %d", l, counts[l])
	}
	fmt.Fprintf(&b, "; %d with several masks; %d excluded\n", multi, len(ds.Excluded))
	if srcs := ds.Sources(); len(srcs) > 1 {
		for _, src := range srcs {
			c := map[Label]int{}
			for _, s := range ds.Samples {
				if s.Source == src {
					c[s.Label]++
				}
			}
			fmt.Fprintf(&b, "  %s: normal %d, benign %d, malignant %d\n", src, c[Normal], c[Benign], c[Malignant])
		}
	}
	for _, e := range ds.Excluded {
		fmt.Fprintf(&b, "  excluded %s: %s\n", e.Path, e.Reason)
	}
	for _, n := range ds.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	return b.String()
}

// ByID returns the sample with the given ID.
func (ds *Dataset) ByID(id string) (Sample, bool) {
	i := sort.Search(len(ds.Samples), func(i int) bool { return ds.Samples[i].ID >= id })
	if i < len(ds.Samples) && ds.Samples[i].ID == id {
		return ds.Samples[i], true
	}
	return Sample{}, false
}
