// Package augment makes the altered views of a training image that teach
// the model invariance to the scanner: intensity changes (gain, gamma,
// contrast, speckle-like multiplicative noise, blur) and geometry (mirror,
// scale and crop, small rotations), applied alike to the image and its
// lesion mask. Views are drawn from a seed, so a view is named by its
// parameters (View.Key) and an embedding cache can store it like any image.
package augment

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"
)

// View is one augmentation. The zero value (with Gain, Gamma, Contrast and
// Scale 1; see Identity) leaves an image unchanged.
type View struct {
	Flip     bool    // mirror left-right
	Scale    float64 // zoom about the centre: > 1 crops in, < 1 shows more (padded black)
	Rotate   float64 // degrees, counter-clockwise, about the centre
	Gain     float64 // multiplies intensities
	Gamma    float64 // intensity^Gamma on [0,1]
	Contrast float64 // stretches about mid-grey
	Speckle  float64 // standard deviation of multiplicative noise (0 = none)
	Blur     float64 // Gaussian sigma in pixels (0 = none)
	Seed     uint64  // of the speckle noise
}

// Identity is the view that changes nothing.
var Identity = View{Scale: 1, Gain: 1, Gamma: 1, Contrast: 1}

// Ranges bound the views Draw makes.
type Ranges struct {
	FlipProb                 float64
	ScaleMin, ScaleMax       float64
	RotateMax                float64 // degrees, either way
	GainMin, GainMax         float64
	GammaMin, GammaMax       float64
	ContrastMin, ContrastMax float64
	SpeckleMax, BlurMax      float64
}

// UltrasoundRanges are moderate ranges of what differs between scanners
// and settings: overall gain and time-gain compensation (gain, gamma),
// dynamic range (contrast), speckle and resolution (noise, blur), and how
// the probe was held (mirror, zoom, tilt).
var UltrasoundRanges = Ranges{
	FlipProb: 0.5, ScaleMin: 0.85, ScaleMax: 1.2, RotateMax: 10,
	GainMin: 0.75, GainMax: 1.3, GammaMin: 0.7, GammaMax: 1.4, ContrastMin: 0.75, ContrastMax: 1.3,
	SpeckleMax: 0.15, BlurMax: 1.5,
}

// Draw makes n views from seed; view 0 is always Identity, so a cache of
// views also holds the plain image.
func Draw(n int, seed uint64, r Ranges) []View {
	rng := rand.New(rand.NewPCG(seed, 0x617567))
	u := func(lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }
	out := make([]View, 0, n)
	for i := 0; i < n; i++ {
		if i == 0 {
			out = append(out, Identity)
			continue
		}
		out = append(out, View{
			Flip:     rng.Float64() < r.FlipProb,
			Scale:    u(r.ScaleMin, r.ScaleMax),
			Rotate:   u(-r.RotateMax, r.RotateMax),
			Gain:     u(r.GainMin, r.GainMax),
			Gamma:    u(r.GammaMin, r.GammaMax),
			Contrast: u(r.ContrastMin, r.ContrastMax),
			Speckle:  u(0, r.SpeckleMax),
			Blur:     u(0, r.BlurMax),
			Seed:     rng.Uint64(),
		})
	}
	return out
}

// Key names the view's parameters canonically (for cache keys).
func (v View) Key() string {
	return fmt.Sprintf("flip=%t scale=%.4f rot=%.3f gain=%.4f gamma=%.4f contrast=%.4f speckle=%.4f blur=%.3f seed=%d",
		v.Flip, v.Scale, v.Rotate, v.Gain, v.Gamma, v.Contrast, v.Speckle, v.Blur, v.Seed)
}

func (v View) validate() error {
	if !(v.Scale > 0) || !(v.Gain > 0) || !(v.Gamma > 0) || !(v.Contrast > 0) || v.Speckle < 0 || v.Blur < 0 ||
		math.IsNaN(v.Rotate) || math.IsInf(v.Rotate, 0) {
		return fmt.Errorf("augment: invalid view %s", v.Key())
	}
	return nil
}

// Apply returns the view of a greyscale image and of its lesion mask
// (row-major w*h, 1 = lesion; nil for none). Geometry moves both alike
// (bilinear for the image, nearest for the mask, outside the image black
// and background); intensity changes the image only.
func (v View) Apply(img *image.Gray, mask []uint8) (*image.Gray, []uint8, error) {
	if err := v.validate(); err != nil {
		return nil, nil, err
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if mask != nil && len(mask) != w*h {
		return nil, nil, fmt.Errorf("augment: mask has %d pixels, image is %dx%d", len(mask), w, h)
	}
	src := make([]float64, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			src[y*w+x] = float64(img.GrayAt(b.Min.X+x, b.Min.Y+y).Y) / 255
		}
	}
	// Geometry: for each output pixel, where it comes from. Output (x, y)
	// maps back through the inverse rotation and scale about the centre,
	// then the mirror.
	cx, cy := float64(w-1)/2, float64(h-1)/2
	sin, cos := math.Sincos(v.Rotate * math.Pi / 180)
	out := make([]float64, w*h)
	var outMask []uint8
	if mask != nil {
		outMask = make([]uint8, w*h)
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			dx, dy := float64(x)-cx, float64(y)-cy
			sx := (cos*dx-sin*dy)/v.Scale + cx
			sy := (sin*dx+cos*dy)/v.Scale + cy
			if v.Flip {
				sx = float64(w-1) - sx
			}
			out[y*w+x] = bilinear(src, w, h, sx, sy)
			if mask != nil {
				ix, iy := int(math.Round(sx)), int(math.Round(sy))
				if ix >= 0 && iy >= 0 && ix < w && iy < h {
					outMask[y*w+x] = mask[iy*w+ix]
				}
			}
		}
	}
	if v.Blur > 0 {
		out = gaussianBlur(out, w, h, v.Blur)
	}
	rng := rand.New(rand.NewPCG(v.Seed, 0x737063))
	dst := image.NewGray(image.Rect(0, 0, w, h))
	for i, p := range out {
		if v.Speckle > 0 {
			p *= 1 + v.Speckle*rng.NormFloat64()
		}
		p = math.Pow(math.Max(0, math.Min(1, p*v.Gain)), v.Gamma)
		p = (p-0.5)*v.Contrast + 0.5
		dst.Pix[i] = uint8(math.Round(255 * math.Max(0, math.Min(1, p))))
	}
	return dst, outMask, nil
}

func bilinear(src []float64, w, h int, x, y float64) float64 {
	if x < -0.5 || y < -0.5 || x > float64(w)-0.5 || y > float64(h)-0.5 {
		return 0
	}
	x, y = math.Max(0, math.Min(float64(w-1), x)), math.Max(0, math.Min(float64(h-1), y))
	x0, y0 := int(x), int(y)
	x1, y1 := min(x0+1, w-1), min(y0+1, h-1)
	fx, fy := x-float64(x0), y-float64(y0)
	top := src[y0*w+x0]*(1-fx) + src[y0*w+x1]*fx
	bot := src[y1*w+x0]*(1-fx) + src[y1*w+x1]*fx
	return top*(1-fy) + bot*fy
}

// gaussianBlur is a separable Gaussian with clamped edges.
func gaussianBlur(in []float64, w, h int, sigma float64) []float64 {
	r := int(math.Ceil(3 * sigma))
	k := make([]float64, 2*r+1)
	s := 0.0
	for i := range k {
		d := float64(i - r)
		k[i] = math.Exp(-d * d / (2 * sigma * sigma))
		s += k[i]
	}
	for i := range k {
		k[i] /= s
	}
	tmp := make([]float64, w*h)
	out := make([]float64, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			acc := 0.0
			for i, kv := range k {
				xx := min(max(x+i-r, 0), w-1)
				acc += kv * in[y*w+xx]
			}
			tmp[y*w+x] = acc
		}
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			acc := 0.0
			for i, kv := range k {
				yy := min(max(y+i-r, 0), h-1)
				acc += kv * tmp[yy*w+x]
			}
			out[y*w+x] = acc
		}
	}
	return out
}
