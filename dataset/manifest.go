package dataset

import (
	"encoding/csv"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/busam/busam/internal/atomicfile"
)

// ManifestColumns are the CSV header names: image and label are required,
// mask (several paths separated by ';', empty for normal), group, source
// (the dataset an image comes from) and device (its scanner) are optional.
// parent is the image a derived sample was cut from.
var ManifestColumns = []string{"image", "mask", "label", "group", "source", "device", "parent"}

// readManifest reads a CSV manifest; paths in it are relative to its folder.
func readManifest(path string) (*Dataset, problems) {
	root := filepath.Dir(path)
	ds := &Dataset{Root: root}
	resolve := func(p string) string {
		p = filepath.FromSlash(p)
		if !filepath.IsAbs(p) {
			p = filepath.Join(root, p)
		}
		return filepath.Clean(p)
	}
	var probs problems // of the rows; readTable's come first
	tableProbs := readTable(path, "manifest", []string{"image", "label"}, ManifestColumns, func(where string, field func(string) string) {
		img := field("image")
		if img == "" {
			probs.add("%s: empty image path", where)
			return
		}
		label, err := ParseLabel(field("label"))
		if err != nil {
			probs.add("%s: %v", where, err)
			return
		}
		s := Sample{Image: resolve(img), Label: label, Group: field("group"), Source: field("source"), Device: field("device")}
		if p := field("parent"); p != "" {
			s.Parent = resolve(p)
		}
		for _, m := range strings.Split(field("mask"), ";") {
			if m = strings.TrimSpace(m); m != "" {
				s.Masks = append(s.Masks, resolve(m))
			}
		}
		rel, err := filepath.Rel(root, s.Image)
		if err != nil {
			rel = s.Image
		}
		s.ID = filepath.ToSlash(strings.TrimSuffix(rel, filepath.Ext(rel)))
		ds.Samples = append(ds.Samples, s)
	})
	probs = append(tableProbs, probs...)
	if len(probs) > 0 && len(ds.Samples) == 0 {
		return nil, probs
	}
	if len(ds.Samples) == 0 {
		probs.add("%s: manifest lists no images", path)
	}
	return ds, probs
}

// WriteManifest writes ds as a CSV manifest at path, with paths relative to
// the manifest's folder, so any dataset (e.g. BUSI with computed groups)
// can be frozen into an editable file.
func WriteManifest(path string, ds *Dataset) error {
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("dataset: manifest %s: %w", path, err)
	}
	rel := func(p string) string {
		if r, err := filepath.Rel(dir, p); err == nil {
			return filepath.ToSlash(r)
		}
		return p
	}
	err = atomicfile.Write(path, func(f io.Writer) error {
		w := csv.NewWriter(f)
		w.Write(ManifestColumns)
		for _, s := range ds.Samples {
			parent := ""
			if s.Parent != "" {
				parent = rel(s.Parent)
			}
			masks := make([]string, len(s.Masks))
			for i, m := range s.Masks {
				masks[i] = rel(m)
			}
			w.Write([]string{rel(s.Image), strings.Join(masks, ";"), s.Label.String(), s.Group, s.Source, s.Device, parent})
		}
		w.Flush() // Error reports the first error of any Write
		return w.Error()
	})
	if err != nil {
		return fmt.Errorf("dataset: manifest %s: %w", path, err)
	}
	return nil
}
