package cpu

// The reference kernels: plain loops that define the semantics. The fast
// paths are tested against them, and the exported ones are the reference
// that other implementations (the WebGPU kernels, the WebAssembly SIMD
// kernels of package wasmsimd) must match; nothing else should call them.
// They never dispatch to assembly or SIMD.

func gemmRef(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += av * bv
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * s
			} else {
				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
}

// Conv2DReference writes the convolution of src (CHW) with w (+ bias, may
// be nil) into dst ([OutC, OH, OW]); Groups == 0 means 1.
func Conv2DReference(dst, src, w, bias []float32, p ConvParams) {
	g := p.Groups
	if g == 0 {
		g = 1
	}
	oh, ow := p.OutSize()
	icg, ocg := p.InC/g, p.OutC/g
	for oc := 0; oc < p.OutC; oc++ {
		grp := oc / ocg
		for y := 0; y < oh; y++ {
			for x := 0; x < ow; x++ {
				var s float32
				if bias != nil {
					s = bias[oc]
				}
				for ic := 0; ic < icg; ic++ {
					cin := grp*icg + ic
					for ky := 0; ky < p.KH; ky++ {
						iy := y*p.Stride - p.Pad + ky
						if iy < 0 || iy >= p.InH {
							continue
						}
						for kx := 0; kx < p.KW; kx++ {
							ix := x*p.Stride - p.Pad + kx
							if ix < 0 || ix >= p.InW {
								continue
							}
							s += src[(cin*p.InH+iy)*p.InW+ix] * w[((oc*icg+ic)*p.KH+ky)*p.KW+kx]
						}
					}
				}
				dst[(oc*oh+y)*ow+x] = s
			}
		}
	}
}

// GELURowReference sets x[i] = gelu(x[i] + bias[i]); bias may be nil. The
// wasm SIMD kernel matches it bit for bit.
func GELURowReference(x, bias []float32) { geluRowGo(x, bias) }

// SoftmaxRowReference replaces row by its softmax, shifted by the row
// maximum; the wasm SIMD kernel matches it bit for bit.
func SoftmaxRowReference(row []float32) { softmaxRowGo(row) }

// DepthwisePixelsReference computes output pixels [ox0, ox1) of row oy of a
// KxK depthwise convolution over an HWC map (see Depthwise), then GELU when
// gelu is set; the wasm SIMD kernel matches it bit for bit.
func DepthwisePixelsReference(row, src []float32, h, wd, c, k, stride, oy, ox0, ox1 int, w, bias []float32, gelu bool) {
	depthwisePixels(row, src, h, wd, c, k, stride, oy, ox0, ox1, w, bias, false)
	if gelu {
		geluRowGo(row[ox0*c:ox1*c], nil)
	}
}
