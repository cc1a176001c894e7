package cpu

import "math"

// Backward kernels on HWC maps: the gradients of the forward kernels in
// hwc.go, for training the encoder (model/encoder's backward.go). Sums that
// run over many rows (bias, norm and depthwise-weight gradients) collect
// per-worker partials in float64 and add them once, so the result does not
// depend on how the rows were split.

// GELUBackward sets dz[i] = dy[i] * gelu'(z[i]) for the exact (erf) GELU:
// gelu'(z) = Phi(z) + z*phi(z). dz may be dy.
func GELUBackward(dz, dy, z []float32) {
	n := len(z)
	dz, dy = dz[:n], dy[:n]
	ParallelFor(n, 16384, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dz[i] = dy[i] * geluGrad(z[i])
		}
	})
}

// geluGrad is d/dz of gelu, with the float32 erff and expf of the forward.
func geluGrad(z float32) float32 {
	const invSqrt2Pi = 0.3989422804014327
	return 0.5*(1+erff(z*(1/math.Sqrt2))) + z*invSqrt2Pi*expf(-0.5*z*z)
}

// ColSumAdd adds the column sums of x [rows, c] to dst [c]: the gradient
// of a bias added to every row.
func ColSumAdd(dst, x []float32, rows, c int) {
	sum := make([]float64, c)
	rowsReduce(rows, c, sum, func(part []float64, lo, hi int) {
		for r := lo; r < hi; r++ {
			for i, v := range x[r*c : (r+1)*c] {
				part[i] += float64(v)
			}
		}
	})
	for i, s := range sum {
		dst[i] += float32(s)
	}
}

// rowsReduce runs fn over chunks of [0, rows) in parallel, each worker
// summing into its own zeroed partial of len(dst), then adds the partials
// into dst.
func rowsReduce(rows, c int, dst []float64, fn func(part []float64, lo, hi int)) {
	nwk := Workers()
	parts := make([]float64, nwk*len(dst))
	ParallelForWorker(rows, RowGrain(c), nwk, func(worker, lo, hi int) {
		fn(parts[worker*len(dst):(worker+1)*len(dst)], lo, hi)
	})
	for w := 0; w < nwk; w++ {
		for i, v := range parts[w*len(dst) : (w+1)*len(dst)] {
			dst[i] += v
		}
	}
}

// LayerNormBackward is the gradient of LayerNorm(dst, src, rows, c, w, b,
// eps): given dy [rows, c] and the forward's input src, it writes dx
// (overwritten, may not alias dy or src) and adds into dw, db [c]. The row
// statistics are recomputed from src as LayerNormRow computes them. Per row,
// with xhat = (x - mean)*rstd and g = dy*w,
// dx = rstd * (g - mean(g) - xhat*mean(g*xhat)).
func LayerNormBackward(dx, dy, src []float32, rows, c int, w []float32, eps float32, dw, db []float32) {
	acc := make([]float64, 2*c) // dw | db
	rowsReduce(rows, c, acc, func(part []float64, lo, hi int) {
		xh := make([]float64, c)
		for r := lo; r < hi; r++ {
			x, d, o := src[r*c:(r+1)*c], dy[r*c:(r+1)*c], dx[r*c:(r+1)*c]
			var sum float64
			for _, v := range x {
				sum += float64(v)
			}
			mean := sum / float64(c)
			var sq float64
			for _, v := range x {
				e := float64(v) - mean
				sq += e * e
			}
			rstd := 1 / math.Sqrt(sq/float64(c)+float64(eps))
			var mg, mgx float64
			for i, v := range x {
				xh[i] = (float64(v) - mean) * rstd
				g := float64(d[i]) * float64(w[i])
				mg += g
				mgx += g * xh[i]
				part[i] += float64(d[i]) * xh[i]
				part[c+i] += float64(d[i])
			}
			mg /= float64(c)
			mgx /= float64(c)
			for i := range o {
				g := float64(d[i]) * float64(w[i])
				o[i] = float32(rstd * (g - mg - xh[i]*mgx))
			}
		}
	})
	for i := 0; i < c; i++ {
		dw[i] += float32(acc[i])
		db[i] += float32(acc[c+i])
	}
}

// DepthwiseBackward is the gradient of Depthwise(dst, src, h, wd, c, k,
// stride, w, bias, false) (w laid out [K*K, C]): given dy [oh*ow, c] it adds
// the weight gradient into dw [K*K, C] and, when dx is not nil, adds the
// input gradient into dx [h*wd, c]. Workers split the
// channels, so neither sum needs partials. The bias gradient is
// ColSumAdd(dy).
func DepthwiseBackward(dx, dw, dy, src, w []float32, h, wd, c, k, stride int) {
	pad := k / 2
	oh, ow := (h+2*pad-k)/stride+1, (wd+2*pad-k)/stride+1
	ParallelFor(c, 8, func(c0, c1 int) {
		acc := make([]float64, k*k*(c1-c0))
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				g := dy[(oy*ow+ox)*c+c0 : (oy*ow+ox)*c+c1]
				for ky := 0; ky < k; ky++ {
					iy := oy*stride - pad + ky
					if iy < 0 || iy >= h {
						continue
					}
					for kx := 0; kx < k; kx++ {
						ix := ox*stride - pad + kx
						if ix < 0 || ix >= wd {
							continue
						}
						t := ky*k + kx
						in := src[(iy*wd+ix)*c+c0 : (iy*wd+ix)*c+c1]
						a := acc[t*(c1-c0) : (t+1)*(c1-c0)]
						for i, v := range g {
							a[i] += float64(v) * float64(in[i])
						}
						if dx != nil {
							wk := w[t*c+c0 : t*c+c1]
							o := dx[(iy*wd+ix)*c+c0 : (iy*wd+ix)*c+c1]
							for i, v := range g {
								o[i] += v * wk[i]
							}
						}
					}
				}
			}
		}
		for t := 0; t < k*k; t++ {
			for i := c0; i < c1; i++ {
				dw[t*c+i] += float32(acc[t*(c1-c0)+i-c0])
			}
		}
	})
}

// SoftmaxBackwardRow turns dp, the gradient of p = softmax(s) over one
// row, into the gradient of s in place: ds = p * (dp - sum(dp*p)).
func SoftmaxBackwardRow(dp, p []float32) {
	p = p[:len(dp)]
	var dot float64
	for i, v := range dp {
		dot += float64(v) * float64(p[i])
	}
	d := float32(dot)
	for i, v := range dp {
		dp[i] = p[i] * (v - d)
	}
}

// Col2imRowsAdd is the adjoint of Im2colRows: it adds each value of col
// (output rows [oy0, oy1) of a KxK convolution, one row of (ky, kx, c)
// taps per output pixel) into the input pixel it was copied from in dx
// [h*wd, c]; taps outside the image are dropped. Serial: neighbouring output
// rows write the same input rows.
func Col2imRowsAdd(dx, col []float32, h, wd, c, k, stride, pad, ow, oy0, oy1 int) {
	kc := k * k * c
	for oy := oy0; oy < oy1; oy++ {
		for ox := 0; ox < ow; ox++ {
			row := col[((oy-oy0)*ow+ox)*kc : ((oy-oy0)*ow+ox+1)*kc]
			for ky := 0; ky < k; ky++ {
				iy := oy*stride - pad + ky
				if iy < 0 || iy >= h {
					continue
				}
				for kx := 0; kx < k; kx++ {
					ix := ox*stride - pad + kx
					if ix < 0 || ix >= wd {
						continue
					}
					seg := row[(ky*k+kx)*c : (ky*k+kx+1)*c]
					o := dx[(iy*wd+ix)*c : (iy*wd+ix+1)*c]
					for i, v := range seg {
						o[i] += v
					}
				}
			}
		}
	}
}
