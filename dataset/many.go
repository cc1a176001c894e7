package dataset

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// LoadMany loads several datasets (each a BUSI or BUS-BRA folder or a CSV
// manifest) as one. Sample IDs are prefixed with their dataset's folder
// name, so they stay unique, name their dataset and do not depend on what
// else is pooled ("Dataset_BUSI_with_GT/benign/benign (1)",
// "BUS-BRA/Images/bus_0001-l"); the root is the folders' deepest common parent.
// Groups are qualified by their dataset, so two datasets' "patient 1" stay
// apart. Samples without a source take their dataset folder's name.
// Load and LoadWith accept the paths joined by commas.
func LoadMany(paths []string, opt Options) (*Dataset, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("dataset: no dataset given")
	}
	if len(paths) == 1 {
		return LoadWith(paths[0], opt)
	}
	parts := make([]*Dataset, len(paths))
	var roots []string
	for i, p := range paths {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, fmt.Errorf("dataset: empty path in the list %q", strings.Join(paths, ","))
		}
		ds, err := LoadWith(p, opt)
		if err != nil {
			return nil, err
		}
		parts[i] = ds
		roots = append(roots, ds.Root)
	}
	root := commonDir(roots)
	out := &Dataset{Root: root}
	seen := map[string]string{}
	present := map[Label]bool{}
	for i, ds := range parts {
		name := filepath.Base(ds.Root)
		for _, s := range ds.Samples {
			s.ID = name + "/" + s.ID
			if prev, dup := seen[s.ID]; dup {
				return nil, fmt.Errorf("dataset: sample %s is in both %s and %s", s.ID, prev, paths[i])
			}
			seen[s.ID] = paths[i]
			if s.Source == "" {
				s.Source = name
			}
			if s.Group != "" {
				s.Group = s.Source + ": " + s.Group
			}
			out.Samples = append(out.Samples, s)
			present[s.Label] = true
		}
		out.Excluded = append(out.Excluded, ds.Excluded...)
		out.Notes = append(out.Notes, ds.Notes...)
	}
	sort.Slice(out.Samples, func(i, j int) bool { return out.Samples[i].ID < out.Samples[j].ID })
	for _, l := range AllLabels {
		if present[l] {
			out.Classes = append(out.Classes, l)
		}
	}
	return out, nil
}

// commonDir is the deepest folder that contains every one of dirs.
func commonDir(dirs []string) string {
	common := filepath.Clean(dirs[0])
	for _, d := range dirs[1:] {
		d = filepath.Clean(d)
		for {
			rel, err := filepath.Rel(common, d)
			if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				break
			}
			parent := filepath.Dir(common)
			if parent == common {
				break
			}
			common = parent
		}
	}
	return common
}

// Sources lists the datasets the samples come from, sorted.
func (ds *Dataset) Sources() []string {
	set := map[string]bool{}
	for _, s := range ds.Samples {
		set[s.Source] = true
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}
