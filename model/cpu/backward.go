package cpu

import "math"

// Backward kernels on HWC maps: the gradients of the forward kernels in
// hwc.go, for training the encoder (model/encoder's backward.go). Sums that
// run over many rows (bias, norm and depthwise-weight gradients) collect
// float64 partials over fixed chunks of rows and add them in order, so
// that results are the same from run to run (for a given GOMAXPROCS).

// GELUBackward sets dz[i] = dy[i] * gelu'(z[i]) for the exact (erf) GELU:
// gelu'(z) = Phi(z) + z*phi(z). dz may be dy.
func GELUBackward(dz, dy, z []float32) {
	n := len(z)
	dz, dy = dz[:n], dy[:n]
	ParallelFor(n, 16384, func(lo, hi int) {
		geluGradRow(dz[lo:hi], dy[lo:hi], z[lo:hi])
	})
}

// geluGradRowGo is the portable geluGradRow.
func geluGradRowGo(dz, dy, z []float32) {
	dy, z = dy[:len(dz)], z[:len(dz)]
	for i := range dz {
		dz[i] = dy[i] * geluGrad(z[i])
	}
}

// geluGrad is d/dz of gelu: erff's formula inlined, so that its Gaussian
// factor exp(-z^2/2) serves phi(z) too (one expf, not two). Past |z| = 6
// sqrt(2) both exponentials are below 1e-15 and the clamp changes nothing.
func geluGrad(z float32) float32 {
	const invSqrt2Pi = 0.3989422804014327
	x := z * (1 / math.Sqrt2)
	bits := math.Float32bits(x)
	ax := min(math.Float32frombits(bits&^(1<<31)), 6)
	t := 1 / (1 + 0.3275911*ax)
	p := float32(1.061405429)
	p = p*t - 1.453152027
	p = p*t + 1.421413741
	p = p*t - 0.284496736
	p = p*t + 0.254829592
	e := expf(-ax * ax)
	erf := math.Float32frombits(math.Float32bits(1-p*t*e) | bits&(1<<31))
	return 0.5*(1+erf) + z*invSqrt2Pi*e
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

// rowsReduce runs fn over fixed chunks of [0, rows) in parallel, each
// chunk summing into its own zeroed partial of len(dst), then adds the
// partials into dst in chunk order: the result does not depend on which
// worker ran which chunk (training runs are reproducible).
func rowsReduce(rows, c int, dst []float64, fn func(part []float64, lo, hi int)) {
	chunks := max(1, min(4*Workers(), rows/RowGrain(c)))
	parts := make([]float64, chunks*len(dst))
	ParallelFor(chunks, 1, func(c0, c1 int) {
		for ci := c0; ci < c1; ci++ {
			fn(parts[ci*len(dst):(ci+1)*len(dst)], rows*ci/chunks, rows*(ci+1)/chunks)
		}
	})
	for ci := 0; ci < chunks; ci++ {
		for i, v := range parts[ci*len(dst) : (ci+1)*len(dst)] {
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
// the weight gradient into dw [K*K, C] and, when dx is not nil, the input
// gradient into dx [h*wd, c]. The bias gradient is ColSumAdd(dy).
func DepthwiseBackward(dx, dw, dy, src, w []float32, h, wd, c, k, stride int) {
	pad := k / 2
	oh, ow := (h+2*pad-k)/stride+1, (wd+2*pad-k)/stride+1
	// dw: workers take output rows; each sums a row in float32, then adds
	// it to its float64 partial.
	acc := make([]float64, k*k*c)
	rowsReduce(oh, ow*c*k*k, acc, func(part []float64, lo, hi int) {
		row := make([]float32, k*k*c)
		for oy := lo; oy < hi; oy++ {
			clear(row)
			for ky := 0; ky < k; ky++ {
				iy := oy*stride - pad + ky
				if iy < 0 || iy >= h {
					continue
				}
				for kx := 0; kx < k; kx++ {
					a := row[(ky*k+kx)*c : (ky*k+kx+1)*c]
					for ox := 0; ox < ow; ox++ {
						ix := ox*stride - pad + kx
						if ix < 0 || ix >= wd {
							continue
						}
						g := dy[(oy*ow+ox)*c : (oy*ow+ox+1)*c]
						in := src[(iy*wd+ix)*c : (iy*wd+ix+1)*c]
						in, a := in[:len(g)], a[:len(g)]
						for i, v := range g {
							a[i] += v * in[i]
						}
					}
				}
			}
			for i, v := range row {
				part[i] += float64(v)
			}
		}
	})
	for i, v := range acc {
		dw[i] += float32(v)
	}
	if dx == nil {
		return
	}
	// dx: workers take input rows and gather the output pixels whose taps
	// read each input pixel, so no two write the same value.
	ParallelFor(h, max(1, RowGrain(wd*c*k*k)), func(lo, hi int) {
		for iy := lo; iy < hi; iy++ {
			for ky := 0; ky < k; ky++ {
				t := iy + pad - ky // = oy*stride
				if t < 0 || t%stride != 0 || t/stride >= oh {
					continue
				}
				oy := t / stride
				for kx := 0; kx < k; kx++ {
					wk := w[(ky*k+kx)*c : (ky*k+kx+1)*c]
					for ix := 0; ix < wd; ix++ {
						u := ix + pad - kx
						if u < 0 || u%stride != 0 || u/stride >= ow {
							continue
						}
						g := dy[(oy*ow+u/stride)*c : (oy*ow+u/stride+1)*c]
						o := dx[(iy*wd+ix)*c : (iy*wd+ix+1)*c]
						o, wk := o[:len(g)], wk[:len(g)]
						for i, v := range g {
							o[i] += v * wk[i]
						}
					}
				}
			}
		}
	})
}

// SoftmaxBackwardRow turns dp, the gradient of p = softmax(s) over one
// row, into the gradient of s in place: ds = p * (dp - sum(dp*p)). The
// dot product runs in four float32 partial sums: p sums to 1, so it is a
// weighted mean of dp and keeps float32 accuracy.
func SoftmaxBackwardRow(dp, p []float32) {
	n := len(dp)
	p = p[:n]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= n; i += 4 {
		s0 += dp[i] * p[i]
		s1 += dp[i+1] * p[i+1]
		s2 += dp[i+2] * p[i+2]
		s3 += dp[i+3] * p[i+3]
	}
	for ; i < n; i++ {
		s0 += dp[i] * p[i]
	}
	d := (s0 + s1) + (s2 + s3)
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
