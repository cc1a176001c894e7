package encoder

import (
	"image"
	"math"

	"github.com/busam/busam/model/cpu"
	"golang.org/x/image/draw"
)

// SAM resizes with PIL's bilinear filter: a triangle kernel evaluated at
// pixel centres which, when shrinking, is widened by the scale factor so
// that every input pixel contributes (antialiasing). This file implements
// that filter as two separable passes in float32, parallel over rows, and
// rounds the result to 8-bit levels as SAM's uint8 pipeline does.

// axisTaps are the input indices and weights of each output index along
// one axis: output o reads inputs start[o] .. start[o]+count[o]-1 with
// weights w[o*maxTaps:].
type axisTaps struct {
	start, count []int
	w            []float32
	maxTaps      int
}

func newAxisTaps(in, out int) axisTaps {
	scale := float64(in) / float64(out)
	support := math.Max(1, scale) // triangle half-width, in input pixels
	t := axisTaps{start: make([]int, out), count: make([]int, out), maxTaps: int(math.Ceil(support))*2 + 1}
	t.w = make([]float32, out*t.maxTaps)
	for o := 0; o < out; o++ {
		center := (float64(o) + 0.5) * scale
		lo := max(0, int(math.Floor(center-support)))
		hi := min(in, int(math.Ceil(center+support))) // exclusive
		var sum float64
		ws := make([]float64, 0, t.maxTaps)
		for i := lo; i < hi && len(ws) < t.maxTaps; i++ {
			wt := 1 - math.Abs((float64(i)+0.5-center)/support)
			ws = append(ws, math.Max(0, wt))
			sum += math.Max(0, wt)
		}
		// Trim zero weights at both ends so loops touch only real taps.
		for len(ws) > 1 && ws[0] == 0 {
			ws, lo = ws[1:], lo+1
		}
		for len(ws) > 1 && ws[len(ws)-1] == 0 {
			ws = ws[:len(ws)-1]
		}
		t.start[o], t.count[o] = lo, len(ws)
		for k, wt := range ws {
			t.w[o*t.maxTaps+k] = float32(wt / sum)
		}
	}
	return t
}

// imagePlanes returns the image as 8-bit planes: one for grey images (SAM
// replicates grey to RGB), else R, G, B of the premultiplied colour.
func imagePlanes(img image.Image) (planes [][]uint8, w, h int) {
	b := img.Bounds()
	w, h = b.Dx(), b.Dy()
	if g, ok := img.(*image.Gray); ok {
		p := make([]uint8, w*h)
		for y := 0; y < h; y++ {
			copy(p[y*w:(y+1)*w], g.Pix[(y+b.Min.Y-g.Rect.Min.Y)*g.Stride+(b.Min.X-g.Rect.Min.X):])
		}
		return [][]uint8{p}, w, h
	}
	rgba, ok := img.(*image.RGBA)
	if !ok || rgba.Rect != b || rgba.Stride != 4*w {
		rgba = image.NewRGBA(image.Rect(0, 0, w, h))
		draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
	}
	planes = [][]uint8{make([]uint8, w*h), make([]uint8, w*h), make([]uint8, w*h)}
	cpu.ParallelFor(h, 64, func(lo, hi int) {
		for i := lo * w; i < hi*w; i++ {
			planes[0][i], planes[1][i], planes[2][i] = rgba.Pix[4*i], rgba.Pix[4*i+1], rgba.Pix[4*i+2]
		}
	})
	return planes, w, h
}

// resizePlane resamples one inW x inH plane to outW x outH 8-bit levels,
// returned as float32 values in 0..255.
func resizePlane(src []uint8, inW, inH, outW, outH int, tx, ty axisTaps) []float32 {
	out := make([]float32, outW*outH)
	if inW == outW && inH == outH {
		for i, v := range src {
			out[i] = float32(v)
		}
		return out
	}
	// Horizontal pass over every input row.
	tmp := make([]float32, outW*inH)
	cpu.ParallelFor(inH, 8, func(lo, hi int) {
		for y := lo; y < hi; y++ {
			row, dst := src[y*inW:(y+1)*inW], tmp[y*outW:(y+1)*outW]
			for o := range dst {
				s, ws := tx.start[o], tx.w[o*tx.maxTaps:o*tx.maxTaps+tx.count[o]]
				var acc float32
				for k, wt := range ws {
					acc += wt * float32(row[s+k])
				}
				dst[o] = acc
			}
		}
	})
	// Vertical pass: whole rows at a time, contiguous in memory.
	cpu.ParallelFor(outH, 8, func(lo, hi int) {
		for o := lo; o < hi; o++ {
			dst := out[o*outW : (o+1)*outW]
			s, ws := ty.start[o], ty.w[o*ty.maxTaps:o*ty.maxTaps+ty.count[o]]
			for k, wt := range ws {
				row := tmp[(s+k)*outW : (s+k+1)*outW]
				for x, v := range row {
					dst[x] += wt * v
				}
			}
			for x, v := range dst { // 8-bit levels, as PIL's uint8 output
				dst[x] = float32(math.Round(float64(min(max(v, 0), 255))))
			}
		}
	})
	return out
}
