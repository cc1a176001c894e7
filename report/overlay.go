package report

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"sort"

	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/busam/busam/metrics"
)

// Example is one image to show with its ground-truth and predicted masks
// (both row-major, the image's own width × height, non-zero = lesion).
type Example struct {
	Record      metrics.Record
	Image       image.Image
	Truth, Pred []uint8
}

// Overlay colours: ground truth as a green contour; prediction as a
// magenta contour over a translucent magenta fill. Green/magenta stay apart
// for the common colour-vision deficiencies and on grey ultrasound.
var (
	truthColor = color.NRGBA{R: 40, G: 230, B: 40, A: 255}
	predColor  = color.NRGBA{R: 255, G: 40, B: 220, A: 255}
	predFill   = 0.30 // opacity of the prediction fill
)

// Layout of the example grid, in pixels (basicfont is 7×13).
const (
	tileSize   = 256
	lineHeight = 14
	captionH   = 3*lineHeight + 6
	rowTitleH  = 20
	legendH    = 22 + lineHeight
	gap        = 10
)

// PickExamples returns the indices of up to n lesion records with the best
// and the worst Dice (ties broken by ID so the choice is reproducible). The
// two lists do not overlap.
func PickExamples(recs []metrics.Record, n int) (best, worst []int) {
	var idx []int
	for i, r := range recs {
		if r.HasLesion && isFinite(r.Dice) {
			idx = append(idx, i)
		}
	}
	sortByDice(idx, recs)
	n = min(n, len(idx)/2+len(idx)%2)
	for i := 0; i < n; i++ {
		best = append(best, idx[len(idx)-1-i])
	}
	for i := 0; i < n && i < len(idx)-n; i++ {
		worst = append(worst, idx[i])
	}
	return best, worst
}

func sortByDice(idx []int, recs []metrics.Record) {
	sort.Slice(idx, func(a, b int) bool {
		ra, rb := recs[idx[a]], recs[idx[b]]
		if ra.Dice != rb.Dice {
			return ra.Dice < rb.Dice
		}
		return ra.ID > rb.ID
	})
}

// exampleGrid renders rows of examples, each row under its title, with a
// colour legend on top.
func exampleGrid(rows []exampleRow, classes []string) (*image.RGBA, error) {
	cols := 0
	for _, r := range rows {
		cols = max(cols, len(r.examples))
	}
	if cols == 0 {
		return nil, fmt.Errorf("report: no examples to draw")
	}
	w := max(cols*tileSize+(cols+1)*gap, 520) // room for the legend line
	h := legendH + len(rows)*(rowTitleH+tileSize+captionH+gap)
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	y := 4
	x := gap
	x = drawText(img, x, y+12, "ground truth", truthColor)
	x = drawText(img, x+4, y+12, "(contour)   ", color.Black)
	x = drawText(img, x, y+12, "prediction", predColor)
	drawText(img, x+4, y+12, "(contour + fill)", color.Black)
	drawText(img, gap, y+12+lineHeight, "captions: image / Dice, HD95 / true -> predicted class (probability)", color.Black)
	y = legendH
	for _, row := range rows {
		drawText(img, gap, y+14, row.title, color.Black)
		y += rowTitleH
		for i, ex := range row.examples {
			x := gap + i*(tileSize+gap)
			tile := image.Rect(x, y, x+tileSize, y+tileSize)
			if err := drawOverlay(img, tile, ex); err != nil {
				return nil, err
			}
			for j, line := range caption(ex.Record, classes) {
				drawText(img, x, y+tileSize+lineHeight*(j+1), line, color.Black)
			}
		}
		y += tileSize + captionH + gap
	}
	return img, nil
}

type exampleRow struct {
	title    string
	examples []Example
}

// caption is three short lines: the image, its segmentation scores, and the
// classification (true class, predicted class and its probability).
func caption(r metrics.Record, classes []string) []string {
	name := func(k int) string {
		if k >= 0 && k < len(classes) {
			return classes[k]
		}
		return fmt.Sprint(k)
	}
	prob := ""
	if r.PredClass >= 0 && r.PredClass < len(r.Probs) {
		prob = fmt.Sprintf(" (p=%.2f)", r.Probs[r.PredClass])
	}
	maxChars := tileSize / 7
	id := r.ID
	if len(id) > maxChars {
		id = "..." + id[len(id)-maxChars+3:]
	}
	return []string{
		id,
		fmt.Sprintf("Dice %.3f  HD95 %s px", r.Dice, num(r.HD95Px, 1)),
		fmt.Sprintf("%s -> %s%s", name(r.TrueClass), name(r.PredClass), prob),
	}
}

// drawOverlay fits the example's image into tile (aspect kept, centred on
// black) and draws the masks over it at tile resolution, so contours stay
// two pixels wide whatever the image size.
func drawOverlay(dst *image.RGBA, tile image.Rectangle, ex Example) error {
	if ex.Image == nil {
		return fmt.Errorf("report: example %s has no image", ex.Record.ID)
	}
	b := ex.Image.Bounds()
	iw, ih := b.Dx(), b.Dy()
	if iw <= 0 || ih <= 0 || len(ex.Truth) != iw*ih || len(ex.Pred) != iw*ih {
		return fmt.Errorf("report: example %s: image %dx%d with masks of %d and %d values",
			ex.Record.ID, iw, ih, len(ex.Truth), len(ex.Pred))
	}
	draw.Draw(dst, tile, image.NewUniform(color.Black), image.Point{}, draw.Src)
	scale := min(float64(tile.Dx())/float64(iw), float64(tile.Dy())/float64(ih))
	sw, sh := max(1, int(float64(iw)*scale)), max(1, int(float64(ih)*scale))
	ox, oy := tile.Min.X+(tile.Dx()-sw)/2, tile.Min.Y+(tile.Dy()-sh)/2
	xdraw.BiLinear.Scale(dst, image.Rect(ox, oy, ox+sw, oy+sh), ex.Image, b, xdraw.Src, nil)

	// Nearest-neighbour resampling of the masks onto the tile.
	resample := func(m []uint8) []uint8 {
		out := make([]uint8, sw*sh)
		for y := 0; y < sh; y++ {
			sy := min(ih-1, int((float64(y)+0.5)/scale))
			for x := 0; x < sw; x++ {
				sx := min(iw-1, int((float64(x)+0.5)/scale))
				out[y*sw+x] = m[sy*iw+sx]
			}
		}
		return out
	}
	truth, pred := resample(ex.Truth), resample(ex.Pred)
	for i, v := range pred {
		if v != 0 {
			blend(dst, ox+i%sw, oy+i/sw, predColor, predFill)
		}
	}
	contour := func(m []uint8, c color.NRGBA) {
		for _, p := range metrics.Boundary(m, sw, sh) {
			x, y := p%sw, p/sw
			// Thicken inwards so the line never leaves the mask's footprint.
			for _, d := range [][2]int{{0, 0}, {1, 0}, {0, 1}, {-1, 0}, {0, -1}} {
				xx, yy := x+d[0], y+d[1]
				if xx >= 0 && yy >= 0 && xx < sw && yy < sh && m[yy*sw+xx] != 0 {
					dst.Set(ox+xx, oy+yy, c)
				}
			}
		}
	}
	contour(pred, predColor)
	contour(truth, truthColor)
	return nil
}

// blend mixes colour c into the pixel at (x, y) with opacity a.
func blend(dst *image.RGBA, x, y int, c color.NRGBA, a float64) {
	o := dst.RGBAAt(x, y)
	mix := func(bg, fg uint8) uint8 { return uint8(float64(bg)*(1-a) + float64(fg)*a + 0.5) }
	dst.SetRGBA(x, y, color.RGBA{R: mix(o.R, c.R), G: mix(o.G, c.G), B: mix(o.B, c.B), A: 255})
}

// drawText writes s with its baseline at y and returns the x after it.
func drawText(dst draw.Image, x, y int, s string, c color.Color) int {
	d := font.Drawer{Dst: dst, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
	return d.Dot.X.Round()
}

func writePNG(img image.Image, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("report: writing %s: %w", path, err)
	}
	return f.Close()
}
