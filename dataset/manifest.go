package dataset

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
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
	var probs problems
	f, err := os.Open(path)
	if err != nil {
		probs.add("%v", err)
		return nil, probs
	}
	defer f.Close()
	root := filepath.Dir(path)
	ds := &Dataset{Root: root}
	r := csv.NewReader(f)
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		probs.add("%s: empty manifest (want a header line %s)", path, strings.Join(ManifestColumns, ","))
		return nil, probs
	}
	if err != nil {
		probs.add("%s: %v", path, err)
		return nil, probs
	}
	col := map[string]int{}
	for i, h := range header {
		name := ColumnName(h)
		if _, dup := col[name]; dup {
			probs.add("%s: column %q appears twice in the header", path, name)
		}
		col[name] = i
	}
	for _, need := range []string{"image", "label"} {
		if _, ok := col[need]; !ok {
			probs.add("%s: header %q lacks the %q column (want %s)", path, strings.Join(header, ","), need,
				strings.Join(ManifestColumns, ","))
		}
	}
	if len(probs) > 0 {
		return nil, probs
	}
	field := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	resolve := func(p string) string {
		p = filepath.FromSlash(p)
		if !filepath.IsAbs(p) {
			p = filepath.Join(root, p)
		}
		return filepath.Clean(p)
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			probs.add("%s: %v", path, err)
			var pe *csv.ParseError
			if errors.As(err, &pe) && pe.Err == csv.ErrFieldCount {
				continue // the row is reported; keep checking the others
			}
			break
		}
		line, _ := r.FieldPos(0)
		where := fmt.Sprintf("%s:%d", path, line)
		img := field(rec, "image")
		if img == "" {
			probs.add("%s: empty image path", where)
			continue
		}
		label, err := ParseLabel(field(rec, "label"))
		if err != nil {
			probs.add("%s: %v", where, err)
			continue
		}
		s := Sample{Image: resolve(img), Label: label, Group: field(rec, "group"),
			Source: field(rec, "source"), Device: field(rec, "device")}
		if p := field(rec, "parent"); p != "" {
			s.Parent = resolve(p)
		}
		for _, m := range strings.Split(field(rec, "mask"), ";") {
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
	}
	if len(ds.Samples) == 0 && len(probs) == 0 {
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
