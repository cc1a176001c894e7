package pipeline

// Resize resamples a row-major sw x sh map bilinearly as if to a full
// dw x dh map (PyTorch interpolate, align_corners=False, no antialiasing)
// and returns only its top-left cw x ch corner, so cropping the padded
// frame costs nothing for the part thrown away.
func Resize(src []float32, sw, sh, dw, dh, cw, ch int) []float32 {
	xs := taps(sw, dw, cw)
	ys := taps(sh, dh, ch)
	out := make([]float32, cw*ch)
	for oy, ty := range ys {
		r0 := src[ty.i0*sw : (ty.i0+1)*sw]
		r1 := src[ty.i1*sw : (ty.i1+1)*sw]
		row := out[oy*cw : (oy+1)*cw]
		for ox, tx := range xs {
			top := r0[tx.i0] + tx.f*(r0[tx.i1]-r0[tx.i0])
			bot := r1[tx.i0] + tx.f*(r1[tx.i1]-r1[tx.i0])
			row[ox] = top + ty.f*(bot-top)
		}
	}
	return out
}

type tap struct {
	i0, i1 int
	f      float32
}

// taps gives, for the first n outputs of an axis resized from in to out
// samples, the two source indices and the weight of the second.
func taps(in, out, n int) []tap {
	t := make([]tap, n)
	scale := float64(in) / float64(out)
	for o := range t {
		s := max((float64(o)+0.5)*scale-0.5, 0)
		i0 := min(int(s), in-1)
		t[o] = tap{i0, min(i0+1, in-1), float32(s - float64(i0))}
	}
	return t
}
