package split

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
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
}

func (o Options) validate() error {
	switch {
	case o.TestFrac < 0 || o.TestFrac >= 1 || math.IsNaN(o.TestFrac):
		return fmt.Errorf("split: TestFrac %v not in [0,1)", o.TestFrac)
	case o.ValFrac < 0 || o.ValFrac >= 1 || math.IsNaN(o.ValFrac):
		return fmt.Errorf("split: ValFrac %v not in [0,1)", o.ValFrac)
	case o.Folds > 1 && (o.Fold < 0 || o.Fold >= o.Folds):
		return fmt.Errorf("split: Fold %d not in [0,%d)", o.Fold, o.Folds)
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
	// Collect groups; a group's stratum is its most common label (ties go
	// to the more severe class, the rarer one in BUSI).
	type group struct {
		name  string
		ids   []string
		count [dataset.NumLabels]int
	}
	byName := map[string]*group{}
	var order []*group
	of := map[string]string{}
	for _, s := range ds.Samples {
		name := groups[s.ID]
		if name == "" {
			name = s.ID
		}
		of[s.ID] = name
		gr := byName[name]
		if gr == nil {
			gr = &group{name: name}
			byName[name] = gr
			order = append(order, gr)
		}
		gr.ids = append(gr.ids, s.ID)
		if s.Label.Valid() {
			gr.count[s.Label]++
		}
	}
	strata := make([][]*group, dataset.NumLabels)
	for _, gr := range order {
		best := 0
		for l := range gr.count {
			if gr.count[l] >= gr.count[best] {
				best = l
			}
		}
		strata[best] = append(strata[best], gr)
	}

	sp := &Split{Version: FormatVersion, Options: opts, Root: ds.Root, SamplesHash: SampleListHash(ds),
		NumSamples: len(ds.Samples), Groups: of}
	for class, st := range strata {
		// One generator per class and purpose, so that the fold assignment
		// of a class is the same whichever fold is asked for.
		rng := rand.New(rand.NewPCG(uint64(opts.Seed), uint64(class)))
		valRNG := rand.New(rand.NewPCG(uint64(opts.Seed), uint64(class)+1<<32))
		rng.Shuffle(len(st), func(i, j int) { st[i], st[j] = st[j], st[i] })
		var test, rest []*group
		if opts.Folds > 1 {
			folds := dealFolds(st, opts.Folds, func(g *group) int { return len(g.ids) })
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
			test, rest = takeFraction(st, opts.TestFrac, func(g *group) int { return len(g.ids) })
		}
		val, train := takeFraction(rest, opts.ValFrac, func(g *group) int { return len(g.ids) })
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
	sort.Strings(sp.Train)
	sort.Strings(sp.Val)
	sort.Strings(sp.Test)
	return sp, nil
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
	return nil
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
