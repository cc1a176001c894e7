package dataset

import (
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"io"
	"os"
	"path/filepath"

	"github.com/busam/busam/imageio"
	"github.com/busam/busam/internal/atomicfile"
)

// Lesion-free crops of lesion images, as extra "normal" examples.
//
// BUS-BRA has no normal images and BUSI only 133, all from one hospital: a
// model trained on both can learn that "normal" means "looks like BUSI".
// Tissue beside a lesion, from every dataset and scanner, is normal tissue;
// cropping it out (with a margin, checked against the lesion mask) gives
// normal examples from every source.

// CropRule says which crops are taken.
type CropRule struct {
	// Margin is kept between the lesion's bounding box and the crop, as a
	// share of the image's larger side.
	Margin float64
	// MinSide is the smallest crop side in pixels; MinShare the smallest
	// crop side as a share of the image's side along it, so a crop still
	// shows a good part of the scan.
	MinSide  int
	MinShare float64
	// MaxAspect bounds width/height (and height/width) of a crop.
	MaxAspect float64
	// KeepFrame writes the crop where it was, in a black frame the size of
	// its parent image, so it reaches the encoder at the parent's scale and
	// depth. A bare crop is resized to the 1024 frame like a whole image,
	// which magnifies its tissue 2-3x: unlike any real scan, and measured
	// to teach the model that "normal" looks zoomed in; the frame, though,
	// was measured to teach "normal has a black border" (RESULTS.md).
	KeepFrame bool
}

// DefaultCropRule takes a crop at least 128 px and half the image along
// each side, 5% of the image away from the lesion, no more than 2:1, as a
// bare crop: kept in a black frame (KeepFrame) the crops taught the model
// that "normal" has a black border (RESULTS.md), which real scans lack.
var DefaultCropRule = CropRule{Margin: 0.05, MinSide: 128, MinShare: 0.5, MaxAspect: 2}

// LesionFreeCrop returns the largest rectangle of a w x h image that keeps
// rule's margin from every lesion pixel of mask (row-major, 1 = lesion),
// chosen among the four bands beside the lesion's bounding box, and
// whether one satisfies the rule. The crop never contains a lesion pixel.
func LesionFreeCrop(mask []uint8, w, h int, rule CropRule) (image.Rectangle, bool) {
	if len(mask) != w*h || w <= 0 || h <= 0 {
		return image.Rectangle{}, false
	}
	box := image.Rectangle{Min: image.Pt(w, h)}
	any := false
	for y := 0; y < h; y++ {
		for x, v := range mask[y*w : (y+1)*w] {
			if v != 0 {
				any = true
				box.Min.X, box.Min.Y = min(box.Min.X, x), min(box.Min.Y, y)
				box.Max.X, box.Max.Y = max(box.Max.X, x+1), max(box.Max.Y, y+1)
			}
		}
	}
	if !any {
		return image.Rectangle{}, false // no lesion: the image itself is the normal example
	}
	m := int(rule.Margin*float64(max(w, h)) + 0.5)
	grown := image.Rect(box.Min.X-m, box.Min.Y-m, box.Max.X+m, box.Max.Y+m)
	bands := []image.Rectangle{
		image.Rect(0, 0, grown.Min.X, h), // left of the lesion
		image.Rect(grown.Max.X, 0, w, h), // right
		image.Rect(0, 0, w, grown.Min.Y), // above (shallower tissue)
		image.Rect(0, grown.Max.Y, w, h), // below
	}
	var best image.Rectangle
	for _, b := range bands {
		b = b.Intersect(image.Rect(0, 0, w, h))
		b = limitAspect(b, rule.MaxAspect)
		if b.Dx() < rule.MinSide || b.Dy() < rule.MinSide ||
			float64(b.Dx()) < rule.MinShare*float64(w) || float64(b.Dy()) < rule.MinShare*float64(h) {
			continue
		}
		if b.Dx()*b.Dy() > best.Dx()*best.Dy() {
			best = b
		}
	}
	return best, !best.Empty()
}

// limitAspect trims the longer side of r (keeping it centred) so that
// neither side exceeds maxAspect times the other.
func limitAspect(r image.Rectangle, maxAspect float64) image.Rectangle {
	if r.Empty() || maxAspect < 1 {
		return r
	}
	w, h := r.Dx(), r.Dy()
	if lim := int(maxAspect * float64(h)); w > lim {
		x0 := r.Min.X + (w-lim)/2
		return image.Rect(x0, r.Min.Y, x0+lim, r.Max.Y)
	}
	if lim := int(maxAspect * float64(w)); h > lim {
		// keep the top: shallow tissue is what a scan shows first
		return image.Rect(r.Min.X, r.Min.Y, r.Max.X, r.Min.Y+lim)
	}
	return r
}

// CropImage copies rect out of img as a new image (greyscale images stay
// greyscale).
func CropImage(img image.Image, rect image.Rectangle) image.Image {
	rect = rect.Add(img.Bounds().Min)
	var dst draw.Image
	if _, ok := img.(*image.Gray); ok {
		dst = image.NewGray(image.Rect(0, 0, rect.Dx(), rect.Dy()))
	} else {
		dst = image.NewNRGBA(image.Rect(0, 0, rect.Dx(), rect.Dy()))
	}
	draw.Draw(dst, dst.Bounds(), img, rect.Min, draw.Src)
	return dst
}

// FramedCrop is CropImage kept in place: a black image of img's size
// showing only rect.
func FramedCrop(img image.Image, rect image.Rectangle) image.Image {
	b := img.Bounds()
	var dst draw.Image
	if _, ok := img.(*image.Gray); ok {
		dst = image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	} else {
		dst = image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		draw.Draw(dst, dst.Bounds(), image.Black, image.Point{}, draw.Src)
	}
	draw.Draw(dst, rect, img, rect.Min.Add(b.Min), draw.Src)
	return dst
}

// checkCrop confirms that rect holds no lesion pixel of mask.
func checkCrop(mask []uint8, w int, rect image.Rectangle) error {
	for y := rect.Min.Y; y < rect.Max.Y; y++ {
		for x := rect.Min.X; x < rect.Max.X; x++ {
			if mask[y*w+x] != 0 {
				return fmt.Errorf("crop %v holds lesion pixel (%d,%d)", rect, x, y)
			}
		}
	}
	return nil
}

// CropStats counts what WriteNormalCrops did.
type CropStats struct {
	Lesions, Written, NoRoom int
}

// WriteNormalCrops cuts one lesion-free crop (LesionFreeCrop) out of each
// lesion image among samples, writes it as a PNG under dir (mirroring the
// sample's ID), and writes dir/manifest.csv listing the crops as normal
// samples whose parent is the image they were cut from, with its source,
// device and group, so a split keeps each crop in its parent's part. Every
// file is written atomically; the manifest comes last, so a run that stops
// early leaves no manifest that lists a missing crop.
func WriteNormalCrops(samples []Sample, dir string, rule CropRule) (string, CropStats, error) {
	var st CropStats
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", st, fmt.Errorf("dataset: crops: %w", err)
	}
	out := &Dataset{Root: dir}
	for _, s := range samples {
		if !s.Label.HasLesion() {
			continue
		}
		st.Lesions++
		mask, err := LoadMask(s, s.W, s.H)
		if err != nil {
			return "", st, err
		}
		rect, ok := LesionFreeCrop(mask, s.W, s.H, rule)
		if !ok {
			st.NoRoom++
			continue
		}
		if err := checkCrop(mask, s.W, rect); err != nil {
			return "", st, fmt.Errorf("dataset: %s: %w", s.ID, err)
		}
		img, err := imageio.Load(s.Image)
		if err != nil {
			return "", st, fmt.Errorf("dataset: crops: %w", err)
		}
		path := filepath.Join(dir, filepath.FromSlash(s.ID)+".png")
		crop := CropImage(img, rect)
		if rule.KeepFrame {
			crop = FramedCrop(img, rect)
		}
		if err := writePNGAtomic(path, crop); err != nil {
			return "", st, err
		}
		st.Written++
		group := s.Group
		if group == "" {
			group = s.ID
		}
		out.Samples = append(out.Samples, Sample{Image: path, Label: Normal, Group: group,
			Source: s.Source, Device: s.Device, Parent: s.Image})
	}
	if len(out.Samples) == 0 {
		return "", st, fmt.Errorf("dataset: crops: none of %d lesion images leaves room for a crop", st.Lesions)
	}
	manifest := filepath.Join(dir, "manifest.csv")
	return manifest, st, WriteManifest(manifest, out)
}

func writePNGAtomic(path string, img image.Image) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	if err := atomicfile.Write(path, func(w io.Writer) error { return png.Encode(w, img) }); err != nil {
		return fmt.Errorf("dataset: crop %s: %w", path, err)
	}
	return nil
}
