package split

import (
	"image"
	"image/color"
	"math"
	"math/bits"
)

// ThumbSize is the side of the grey thumbnails fingerprints are built from.
const ThumbSize = 32

// Fingerprint summarises an image for near-duplicate search: a 64-bit
// perceptual hash (signs of the low 8x8 DCT frequencies of a 32x32 grey
// thumbnail against their median) and the thumbnail itself, zero-mean and
// unit-norm, for a normalized-correlation check.
type Fingerprint struct {
	Hash  uint64
	Thumb [ThumbSize * ThumbSize]float32
}

// HashDistance is the number of differing hash bits (0..64).
func HashDistance(a, b *Fingerprint) int { return bits.OnesCount64(a.Hash ^ b.Hash) }

// Correlation is the normalized cross-correlation of the two thumbnails
// (1 = identical up to brightness and contrast).
func Correlation(a, b *Fingerprint) float64 {
	var s float32
	for i := range a.Thumb {
		s += a.Thumb[i] * b.Thumb[i]
	}
	return float64(s)
}

// NewFingerprint computes the fingerprint of img.
func NewFingerprint(img image.Image) *Fingerprint {
	thumb := greyThumb(img, ThumbSize)
	fp := &Fingerprint{Hash: dctHash(thumb)}
	var mean float64
	for _, v := range thumb {
		mean += v
	}
	mean /= float64(len(thumb))
	var norm float64
	for _, v := range thumb {
		norm += (v - mean) * (v - mean)
	}
	norm = math.Sqrt(norm)
	if norm == 0 { // a flat image correlates with nothing
		return fp
	}
	for i, v := range thumb {
		fp.Thumb[i] = float32((v - mean) / norm)
	}
	return fp
}

// greyThumb box-averages img into an n x n grey image (aspect ratio is not
// kept: near-duplicates have the same shape, and a fixed grid is simpler).
func greyThumb(img image.Image, n int) []float64 {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	sum := make([]float64, n*n)
	cnt := make([]float64, n*n)
	gray, isGray := img.(*image.Gray)
	for y := 0; y < h; y++ {
		ty := y * n / h
		for x := 0; x < w; x++ {
			var v float64
			if isGray {
				v = float64(gray.Pix[y*gray.Stride+x])
			} else {
				v = float64(color.GrayModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.Gray).Y)
			}
			i := ty*n + x*n/w
			sum[i] += v
			cnt[i]++
		}
	}
	for i := range sum {
		if cnt[i] > 0 {
			sum[i] /= cnt[i]
		}
	}
	return sum
}

// dctHash is the classic perceptual hash: 2-D DCT-II of the thumbnail, the
// 8x8 lowest frequencies, one bit per coefficient above their median (the
// DC term, which only encodes brightness, is left out of the median).
func dctHash(thumb []float64) uint64 {
	const n, k = ThumbSize, 8
	// cos table: c[u][x] = cos((2x+1) u pi / 2n)
	var c [k][n]float64
	for u := 0; u < k; u++ {
		for x := 0; x < n; x++ {
			c[u][x] = math.Cos(float64(2*x+1) * float64(u) * math.Pi / (2 * n))
		}
	}
	// rows first: r[y][u] = sum_x thumb[y][x] c[u][x]
	var r [n][k]float64
	for y := 0; y < n; y++ {
		for u := 0; u < k; u++ {
			var s float64
			for x := 0; x < n; x++ {
				s += thumb[y*n+x] * c[u][x]
			}
			r[y][u] = s
		}
	}
	var coef [k * k]float64
	for v := 0; v < k; v++ {
		for u := 0; u < k; u++ {
			var s float64
			for y := 0; y < n; y++ {
				s += r[y][u] * c[v][y]
			}
			coef[v*k+u] = s
		}
	}
	sorted := append([]float64(nil), coef[1:]...)
	med := median(sorted)
	var h uint64
	for i, v := range coef {
		if v > med {
			h |= 1 << uint(i)
		}
	}
	return h
}

func median(v []float64) float64 {
	// insertion sort: 63 values
	for i := 1; i < len(v); i++ {
		for j := i; j > 0 && v[j] < v[j-1]; j-- {
			v[j], v[j-1] = v[j-1], v[j]
		}
	}
	return v[len(v)/2]
}
