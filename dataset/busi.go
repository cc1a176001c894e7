package dataset

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// imageExts are the file extensions taken as images (imageio's formats).
var imageExts = map[string]bool{
	".png": true, ".jpg": true, ".jpeg": true, ".gif": true, ".bmp": true,
	".tif": true, ".tiff": true, ".webp": true, ".dcm": true,
}

// maskName matches "<image base>_mask.png" and "<image base>_mask_K.png".
var maskName = regexp.MustCompile(`^(.+)_mask(?:_\d+)?$`)

// scanBUSI indexes root/<class>/<class> (N).png with masks
// <class> (N)_mask*.png beside each image.
func scanBUSI(root string) (*Dataset, problems) {
	ds := &Dataset{Root: root}
	var probs problems
	entries, err := os.ReadDir(root)
	if err != nil {
		probs.add("%v", err)
		return nil, probs
	}
	for _, e := range entries {
		p := filepath.Join(root, e.Name())
		if !e.IsDir() {
			ds.Excluded = append(ds.Excluded, Exclusion{p, "file outside the class folders"})
			continue
		}
		label, err := ParseLabel(e.Name())
		if err != nil {
			ds.Excluded = append(ds.Excluded, Exclusion{p, "folder name is not a class (normal, benign, malignant)"})
			continue
		}
		probs = append(probs, ds.scanClassFolder(p, label)...)
	}
	if len(ds.Samples) == 0 && len(probs) == 0 {
		probs.add("%s: no images found (want <class>/<name>.png with class normal, benign or malignant)", root)
	}
	return ds, probs
}

func (ds *Dataset) scanClassFolder(dir string, label Label) problems {
	var probs problems
	entries, err := os.ReadDir(dir)
	if err != nil {
		probs.add("%v", err)
		return probs
	}
	images := map[string]string{} // base name without extension -> file name
	masks := map[string][]string{}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		ext := strings.ToLower(filepath.Ext(e.Name()))
		switch {
		case e.IsDir():
			ds.Excluded = append(ds.Excluded, Exclusion{p, "subfolder inside a class folder"})
		case !imageExts[ext]:
			ds.Excluded = append(ds.Excluded, Exclusion{p, "not an image file extension"})
		default:
			base := strings.TrimSuffix(e.Name(), filepath.Ext(e.Name()))
			if m := maskName.FindStringSubmatch(base); m != nil {
				masks[m[1]] = append(masks[m[1]], p)
				continue
			}
			if prev, dup := images[base]; dup {
				probs.add("%s: two images share the name %q (%s, %s)", dir, base, prev, e.Name())
				continue
			}
			images[base] = e.Name()
		}
	}
	for base, ms := range masks {
		if _, ok := images[base]; !ok {
			probs.add("%s: mask without an image (no %s.png)", ms[0], base)
		}
	}
	bases := make([]string, 0, len(images))
	for b := range images {
		bases = append(bases, b)
	}
	sort.Strings(bases)
	for _, base := range bases {
		img := filepath.Join(dir, images[base])
		ms := masks[base]
		sort.Strings(ms)
		rel, _ := filepath.Rel(ds.Root, filepath.Join(dir, base))
		ds.Samples = append(ds.Samples, Sample{
			ID:     filepath.ToSlash(rel),
			Image:  img,
			Masks:  ms,
			Label:  label,
			Source: SourceBUSI,
		})
	}
	return probs
}
