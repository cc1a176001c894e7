package split

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"

	"github.com/busam/busam/dataset"
	"github.com/busam/busam/internal/atomicfile"
)

// Options control a split. With Folds <= 1 it is one stratified hold-out:
// TestFrac of each class goes to test. With Folds = k > 1 the groups of
// each class are dealt into k folds and fold Fold (0-based) is the test
// part; TestFrac is then unused. In both cases ValFrac of what remains for
// training is held out as validation (for early stopping).
type Options struct {
	Seed     int64
	TestFrac float64
	ValFrac  float64
	Folds    int
	Fold     int
	// CVFolds > 1 also deals the training part (train and val) into that
	// many folds, per dataset and class, for cross-validated model
	// selection that never looks at the test part (Split.CVFold).
	CVFolds int `json:",omitempty"`
	// Dup decides near-duplicates; the zero value means DefaultDupRule.
	Dup DupRule
}

// DefaultOptions is an 80/20 hold-out with 10% of train for validation.
var DefaultOptions = Options{Seed: 1, TestFrac: 0.2, ValFrac: 0.1}

// FormatVersion is the version of the saved JSON.
const FormatVersion = 1

// Split lists sample IDs per part. Every sample is in exactly one part and
// every group lies entirely in one part.
type Split struct {
	Version     int
	Options     Options
	Root        string // the dataset's root when the split was made
	SamplesHash string // SampleListHash of the dataset, to detect a stale split
	NumSamples  int
	Train       []string
	Val         []string
	Test        []string
	Groups      map[string]string // sample ID -> group
	// CVFold maps every training-part sample (train and val) to its
	// cross-validation fold, 0..CVFolds-1; nil without Options.CVFolds.
	CVFold map[string]int `json:",omitempty"`
}

func (o Options) validate() error {
	switch {
	case o.TestFrac < 0 || o.TestFrac >= 1 || math.IsNaN(o.TestFrac):
		return fmt.Errorf("split: TestFrac %v not in [0,1)", o.TestFrac)
	case o.ValFrac < 0 || o.ValFrac >= 1 || math.IsNaN(o.ValFrac):
		return fmt.Errorf("split: ValFrac %v not in [0,1)", o.ValFrac)
	case o.Folds > 1 && (o.Fold < 0 || o.Fold >= o.Folds):
		return fmt.Errorf("split: Fold %d not in [0,%d)", o.Fold, o.Folds)
	case o.CVFolds < 0 || o.CVFolds == 1:
		return fmt.Errorf("split: CVFolds %d: want 0 (none) or at least 2", o.CVFolds)
	}
	return nil
}

// Make computes near-duplicate groups (decoding every image once) and
// splits ds. The result depends only on the dataset and opts.
func Make(ds *dataset.Dataset, opts Options) (*Split, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if opts.Dup == (DupRule{}) {
		opts.Dup = DefaultDupRule
	}
	g, err := FindGroups(ds, opts.Dup)
	if err != nil {
		return nil, err
	}
	return MakeWithGroups(ds, g.Of, opts)
}

// MakeWithGroups splits ds with given groups (sample ID -> group name), so
// k folds can reuse one FindGroups. Samples missing from groups stand alone.
func MakeWithGroups(ds *dataset.Dataset, groups map[string]string, opts Options) (*Split, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if len(ds.Samples) == 0 {
		return nil, fmt.Errorf("split: dataset %s has no samples", ds.Root)
	}
	// Collect groups; a group's stratum is its dataset and its most common
	// label (ties go to the more severe class, the rarer one in BUSI), so
	// every dataset's classes are split in the same proportions.
	type group struct {
		name   string
		source string
		ids    []string
		count  [dataset.NumLabels]int
	}
	byName := map[string]*group{}
	var order []*group
	of := map[string]string{}
	var derived []dataset.Sample
	for _, s := range ds.Samples {
		if s.Parent != "" {
			derived = append(derived, s)
			continue
		}
		name := groups[s.ID]
		if name == "" {
			name = s.ID
		}
		of[s.ID] = name
		gr := byName[name]
		if gr == nil {
			gr = &group{name: name, source: s.Source}
			byName[name] = gr
			order = append(order, gr)
		}
		gr.ids = append(gr.ids, s.ID)
		if s.Label.Valid() {
			gr.count[s.Label]++
		}
	}
	sources := ds.Sources()
	sourceIndex := map[string]int{}
	for i, src := range sources {
		sourceIndex[src] = i
	}
	strata := make([][]*group, len(sources)*dataset.NumLabels)
	for _, gr := range order {
		best := 0
		for l := range gr.count {
			if gr.count[l] >= gr.count[best] {
				best = l
			}
		}
		k := sourceIndex[gr.source]*dataset.NumLabels + best
		strata[k] = append(strata[k], gr)
	}

	sp := &Split{Version: FormatVersion, Options: opts, Root: ds.Root, SamplesHash: SampleListHash(ds),
		NumSamples: len(ds.Samples), Groups: of}
	if opts.CVFolds > 1 {
		sp.CVFold = map[string]int{}
	}
	size := func(g *group) int { return len(g.ids) }
	for k, st := range strata {
		// One generator per class and purpose, so that the fold assignment
		// of a class is the same whichever fold is asked for. Every dataset
		// uses the same streams, so a dataset is split exactly as it would be
		// alone: adding a dataset moves no sample of another (the pooled
		// split's BUSI test part is the BUSI-only split's).
		stream := uint64(k % dataset.NumLabels)
		rng := rand.New(rand.NewPCG(uint64(opts.Seed), stream))
		valRNG := rand.New(rand.NewPCG(uint64(opts.Seed), stream+1<<32))
		rng.Shuffle(len(st), func(i, j int) { st[i], st[j] = st[j], st[i] })
		var test, rest []*group
		if opts.Folds > 1 {
			folds := dealFolds(st, opts.Folds, size)
			for f, fg := range folds {
				if f == opts.Fold {
					test = append(test, fg...)
				} else {
					rest = append(rest, fg...)
				}
			}
			// Re-shuffle so validation does not always come from fold 0.
			valRNG.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
		} else {
			test, rest = takeFraction(st, opts.TestFrac, size)
		}
		if opts.CVFolds > 1 {
			cvRNG := rand.New(rand.NewPCG(uint64(opts.Seed), stream+2<<32))
			shuffled := append([]*group(nil), rest...)
			cvRNG.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			for f, fg := range dealFolds(shuffled, opts.CVFolds, size) {
				for _, g := range fg {
					for _, id := range g.ids {
						sp.CVFold[id] = f
					}
				}
			}
		}
		val, train := takeFraction(rest, opts.ValFrac, size)
		for _, g := range test {
			sp.Test = append(sp.Test, g.ids...)
		}
		for _, g := range val {
			sp.Val = append(sp.Val, g.ids...)
		}
		for _, g := range train {
			sp.Train = append(sp.Train, g.ids...)
		}
	}
	if err := sp.placeDerived(ds, derived); err != nil {
		return nil, err
	}
	sort.Strings(sp.Train)
	sort.Strings(sp.Val)
	sort.Strings(sp.Test)
	return sp, nil
}

// placeDerived puts each derived sample (a crop) in its parent's part and
// cross-validation fold, and in its parent's group, so that no image and
// its crop are ever on two sides of a split. Derived samples take no part
// in stratification: adding them moves no original image.
func (sp *Split) placeDerived(ds *dataset.Dataset, derived []dataset.Sample) error {
	if len(derived) == 0 {
		return nil
	}
	byImage := map[string]string{}
	for _, s := range ds.Samples {
		if s.Parent == "" {
			byImage[filepath.Clean(s.Image)] = s.ID
		}
	}
	part := map[string]*[]string{}
	for _, p := range []*[]string{&sp.Train, &sp.Val, &sp.Test} {
		for _, id := range *p {
			part[id] = p
		}
	}
	for _, s := range derived {
		parent, ok := byImage[filepath.Clean(s.Parent)]
		if !ok {
			return fmt.Errorf("split: %s is derived from %s, which is not an image of the dataset (load its dataset too)", s.ID, s.Parent)
		}
		p := part[parent]
		*p = append(*p, s.ID)
		sp.Groups[s.ID] = sp.Groups[parent]
		if f, ok := sp.CVFold[parent]; ok {
			sp.CVFold[s.ID] = f
		}
	}
	return nil
}

// takeFraction moves groups from the front of gs into the first result
// until it holds about frac of all samples: a group goes in when that
// brings the count closer to the target than leaving it out.
func takeFraction[G any](gs []G, frac float64, size func(G) int) (taken, rest []G) {
	total := 0
	for _, g := range gs {
		total += size(g)
	}
	target := frac * float64(total)
	n := 0
	for _, g := range gs {
		s := size(g)
		if math.Abs(float64(n+s)-target) < math.Abs(float64(n)-target) {
			taken = append(taken, g)
			n += s
		} else {
			rest = append(rest, g)
		}
	}
	return taken, rest
}

// dealFolds puts each group, largest first, into the fold with the fewest
// samples so far, so folds differ in size by at most one group.
func dealFolds[G any](gs []G, k int, size func(G) int) [][]G {
	sorted := append([]G(nil), gs...)
	sort.SliceStable(sorted, func(i, j int) bool { return size(sorted[i]) > size(sorted[j]) })
	folds := make([][]G, k)
	counts := make([]int, k)
	for _, g := range sorted {
		best := 0
		for f := 1; f < k; f++ {
			if counts[f] < counts[best] {
				best = f
			}
		}
		folds[best] = append(folds[best], g)
		counts[best] += size(g)
	}
	return folds
}

// SampleListHash hashes what a split depends on: every sample's ID, label,
// group and image size. A dataset that gained, lost or relabelled an image
// hashes differently.
func SampleListHash(ds *dataset.Dataset) string {
	h := sha256.New()
	for _, s := range ds.Samples {
		fmt.Fprintf(h, "%s\t%s\t%s\t%dx%d\n", s.ID, s.Label, s.Group, s.W, s.H)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Check reports whether sp was made from ds (same sample list).
func (sp *Split) Check(ds *dataset.Dataset) error {
	if h := SampleListHash(ds); h != sp.SamplesHash {
		return fmt.Errorf("split: stale split: made for %d samples under %s (hash %.12s), dataset %s has %d samples (hash %.12s); remake it",
			sp.NumSamples, sp.Root, sp.SamplesHash, ds.Root, len(ds.Samples), h)
	}
	return nil
}

// Save writes sp as indented JSON, atomically.
func Save(path string, sp *Split) error {
	data, err := json.MarshalIndent(sp, "", "  ")
	if err != nil {
		return fmt.Errorf("split: %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, append(data, '\n')); err != nil {
		return fmt.Errorf("split: %w", err)
	}
	return nil
}

// Load reads a split saved by Save. Use Check (or LoadFor) to verify it
// still matches the dataset.
func Load(path string) (*Split, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("split: %w", err)
	}
	var sp Split
	if err := json.Unmarshal(data, &sp); err != nil {
		return nil, fmt.Errorf("split: %s: %w", path, err)
	}
	if sp.Version != FormatVersion {
		return nil, fmt.Errorf("split: %s: format version %d, want %d", path, sp.Version, FormatVersion)
	}
	if err := sp.consistent(); err != nil {
		return nil, fmt.Errorf("split: %s: %w", path, err)
	}
	return &sp, nil
}

// LoadFor loads a split and checks it against ds.
func LoadFor(path string, ds *dataset.Dataset) (*Split, error) {
	sp, err := Load(path)
	if err != nil {
		return nil, err
	}
	if err := sp.Check(ds); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sp, nil
}

// consistent checks the invariants of a split: no ID in two parts or twice,
// the part sizes add up, no group in two parts.
func (sp *Split) consistent() error {
	part := map[string]string{}
	groupPart := map[string]string{}
	for _, p := range []struct {
		name string
		ids  []string
	}{{"train", sp.Train}, {"val", sp.Val}, {"test", sp.Test}} {
		for _, id := range p.ids {
			if prev, ok := part[id]; ok {
				return fmt.Errorf("sample %s is in %s and %s", id, prev, p.name)
			}
			part[id] = p.name
			if g, ok := sp.Groups[id]; ok {
				if prev, ok := groupPart[g]; ok && prev != p.name {
					return fmt.Errorf("group %s straddles %s and %s", g, prev, p.name)
				}
				groupPart[g] = p.name
			}
		}
	}
	if len(part) != sp.NumSamples {
		return fmt.Errorf("parts hold %d samples, split was made for %d", len(part), sp.NumSamples)
	}
	if sp.CVFold != nil {
		for id, f := range sp.CVFold {
			if p := part[id]; p != "train" && p != "val" {
				return fmt.Errorf("sample %s has cross-validation fold %d but is in %q, not the training part", id, f, p)
			}
			if f < 0 || f >= sp.Options.CVFolds {
				return fmt.Errorf("sample %s: cross-validation fold %d not in [0,%d)", id, f, sp.Options.CVFolds)
			}
		}
		if n := len(sp.Train) + len(sp.Val); len(sp.CVFold) != n {
			return fmt.Errorf("%d samples have a cross-validation fold, the training part has %d", len(sp.CVFold), n)
		}
	}
	return nil
}

// CVParts returns the training and validation IDs of cross-validation fold
// f: fold f validates, the other folds of the training part train.
func (sp *Split) CVParts(f int) (train, val []string, err error) {
	if sp.CVFold == nil {
		return nil, nil, fmt.Errorf("split: made without cross-validation folds (busam split --cv-folds)")
	}
	if f < 0 || f >= sp.Options.CVFolds {
		return nil, nil, fmt.Errorf("split: fold %d not in [0,%d)", f, sp.Options.CVFolds)
	}
	for _, id := range append(append([]string(nil), sp.Train...), sp.Val...) {
		if sp.CVFold[id] == f {
			val = append(val, id)
		} else {
			train = append(train, id)
		}
	}
	sort.Strings(train)
	sort.Strings(val)
	return train, val, nil
}

// LoadOrMake returns the split saved at path when it was made for ds with
// the same options, else makes a new one and saves it there (replacing a
// stale file). Grouping decodes every image, so keeping the file saves
// that work on every later run.
func LoadOrMake(path string, ds *dataset.Dataset, opts Options) (*Split, error) {
	if opts.Dup == (DupRule{}) {
		opts.Dup = DefaultDupRule
	}
	if sp, err := LoadFor(path, ds); err == nil && sp.Options == opts {
		return sp, nil
	}
	sp, err := Make(ds, opts)
	if err != nil {
		return nil, err
	}
	if err := Save(path, sp); err != nil {
		return nil, err
	}
	return sp, nil
}
