package split

import (
	"fmt"
	"sort"

	"github.com/busam/busam/dataset"
	"github.com/busam/busam/imageio"
	"github.com/busam/busam/model/cpu"
)

// DupRule decides when two images are near-duplicates (the same lesion or
// scan, possibly re-cropped, re-sized or annotated). Two images match when
// any clause holds. The defaults were read off the BUSI pair statistics
// (see the package tests and the data engineer's report): the hash distance
// is bimodal with duplicates at <= 10 bits and unrelated images at 14-46
// (median 28); thumbnails of duplicates correlate >= 0.93 while the bulk of
// unrelated pairs stays below 0.90; pairs in between were checked by eye.
type DupRule struct {
	MaxHashDist    int     // match if hash distance <= this
	MinCorr        float64 // match if correlation >= this
	PairHashDist   int     // match if hash distance <= this ...
	PairMinCorr    float64 // ... and correlation >= this
	DisableDedup   bool    // only the dataset's own Group column groups samples
	ReportMaxPairs int     // pairs kept in Groups.Pairs for inspection (0: 20)
}

// DefaultDupRule is the rule tuned on BUSI.
var DefaultDupRule = DupRule{MaxHashDist: 10, MinCorr: 0.925, PairHashDist: 14, PairMinCorr: 0.85}

func (r DupRule) match(hd int, corr float64) bool {
	return hd <= r.MaxHashDist || corr >= r.MinCorr || (hd <= r.PairHashDist && corr >= r.PairMinCorr)
}

// Pair is a matched near-duplicate pair, for reports.
type Pair struct {
	A, B     string // sample IDs
	HashDist int
	Corr     float64
}

// Groups assigns every sample a group; samples of one group must stay on
// one side of any split.
type Groups struct {
	Of    map[string]string // sample ID -> group name
	Pairs []Pair            // matched near-duplicate pairs, closest first (capped)
	// NumPairs counts all matched pairs; Merged counts samples that share
	// their group with at least one other sample.
	NumPairs, Merged int
}

// FindGroups groups samples that share a Group value (e.g. a patient ID
// from a manifest) or whose images are near-duplicates under rule.
// Near-duplicates are looked for within each dataset (Sample.Source): the
// datasets come from different hospitals (BUSI and BUS-BRA share no image,
// checked by perceptual hash, shared/data/README.md), and the thumbnail
// rule's few matches across them are look-alike scans, not copies; so a
// dataset's groups, and with them its split, do not depend on which other
// datasets are pooled with it.
func FindGroups(ds *dataset.Dataset, rule DupRule) (*Groups, error) {
	n := len(ds.Samples)
	uf := newUnionFind(n)
	byGroup := map[string]int{}
	for i, s := range ds.Samples {
		if s.Group == "" || s.Parent != "" { // derived samples follow their parent instead
			continue
		}
		if j, ok := byGroup[s.Group]; ok {
			uf.union(i, j)
		} else {
			byGroup[s.Group] = i
		}
	}
	g := &Groups{Of: map[string]string{}}
	if !rule.DisableDedup {
		fps, err := fingerprints(ds)
		if err != nil {
			return nil, err
		}
		for i := 0; i < n; i++ {
			for j := i + 1; j < n; j++ {
				if ds.Samples[i].Source != ds.Samples[j].Source || ds.Samples[i].Parent != "" || ds.Samples[j].Parent != "" {
					continue
				}
				hd := HashDistance(fps[i], fps[j])
				c := Correlation(fps[i], fps[j])
				if rule.match(hd, c) {
					uf.union(i, j)
					g.NumPairs++
					g.Pairs = append(g.Pairs, Pair{ds.Samples[i].ID, ds.Samples[j].ID, hd, c})
				}
			}
		}
		sort.Slice(g.Pairs, func(a, b int) bool { return g.Pairs[a].Corr > g.Pairs[b].Corr })
		keep := rule.ReportMaxPairs
		if keep == 0 {
			keep = 20
		}
		if len(g.Pairs) > keep {
			g.Pairs = g.Pairs[:keep]
		}
	}
	// Name each group after its first member (samples are sorted by ID),
	// or the manifest's group value when it has one, so names are stable.
	size := map[int]int{}
	for i := range ds.Samples {
		size[uf.find(i)]++
	}
	name := map[int]string{}
	for i, s := range ds.Samples {
		r := uf.find(i)
		if _, ok := name[r]; !ok {
			name[r] = s.ID
		}
		if s.Group != "" && name[r] == ds.Samples[r].ID {
			name[r] = "group:" + s.Group
		}
	}
	for i, s := range ds.Samples {
		r := uf.find(i)
		g.Of[s.ID] = name[r]
		if size[r] > 1 {
			g.Merged++
		}
	}
	return g, nil
}

// fingerprints decodes every image (in parallel) and fingerprints it.
func fingerprints(ds *dataset.Dataset) ([]*Fingerprint, error) {
	fps := make([]*Fingerprint, len(ds.Samples))
	errs := make([]error, len(ds.Samples))
	// At most four decodes at once bound the memory of the decoded images.
	cpu.ParallelEach(len(ds.Samples), min(cpu.Workers(), 4), func(i int) {
		img, err := imageio.Load(ds.Samples[i].Image)
		if err != nil {
			errs[i] = err
			return
		}
		fps[i] = NewFingerprint(img)
	})
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("split: fingerprint of %s: %w", ds.Samples[i].ID, err)
		}
	}
	return fps, nil
}

type unionFind struct{ parent []int }

func newUnionFind(n int) *unionFind {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	return &unionFind{p}
}

func (u *unionFind) find(i int) int {
	for u.parent[i] != i {
		u.parent[i] = u.parent[u.parent[i]]
		i = u.parent[i]
	}
	return i
}

// union keeps the smaller index as root, so a group's root is its first
// sample in ID order.
func (u *unionFind) union(a, b int) {
	ra, rb := u.find(a), u.find(b)
	if ra == rb {
		return
	}
	if rb < ra {
		ra, rb = rb, ra
	}
	u.parent[rb] = ra
}
