//go:build js && wasm

package main

import "math"

// Copies of model/encoder's plain-Go loops (fastmath.go: expf, erff, gelu;
// ops.go: geluRowGo, softmaxRowGo, depthwisePixels; as of commit 3b90d66),
// which are unexported there. The SIMD ops must give exactly their bits:
// if the encoder's versions change, these copies and ops.wat must follow.

const (
	log2e = 1.44269504088896341
	ln2Hi = 0.693359375
	ln2Lo = -2.12194440e-4
)

func expf(x float32) float32 {
	if x < -87.3 {
		return 0
	}
	if x > 88.7 {
		return float32(math.Inf(1))
	}
	const magic = 12582912 // 1.5 * 2^23
	k := x*log2e + magic
	n := int32(math.Float32bits(k)) - int32(math.Float32bits(magic))
	fn := k - magic
	r := x - fn*ln2Hi - fn*ln2Lo
	p := float32(1.0 / 5040)
	p = p*r + 1.0/720
	p = p*r + 1.0/120
	p = p*r + 1.0/24
	p = p*r + 1.0/6
	p = p*r + 0.5
	p = p*r + 1
	p = p*r + 1
	return p * math.Float32frombits(uint32(n+127)<<23)
}

func erff(x float32) float32 {
	bits := math.Float32bits(x)
	ax := math.Float32frombits(bits &^ (1 << 31))
	ax = min(ax, 6)
	t := 1 / (1 + 0.3275911*ax)
	p := float32(1.061405429)
	p = p*t - 1.453152027
	p = p*t + 1.421413741
	p = p*t - 0.284496736
	p = p*t + 0.254829592
	y := 1 - p*t*expf(-ax*ax)
	return math.Float32frombits(math.Float32bits(y) | bits&(1<<31))
}

func gelu(x float32) float32 {
	return 0.5 * x * (1 + erff(x*(1/math.Sqrt2)))
}

func geluRowGo(x, bias []float32) {
	if bias != nil {
		bias = bias[:len(x)]
		for i, v := range x {
			x[i] = gelu(v + bias[i])
		}
		return
	}
	for i, v := range x {
		x[i] = gelu(v)
	}
}

func softmaxRowGo(row []float32) {
	m := float32(math.Inf(-1))
	for _, v := range row {
		m = max(m, v)
	}
	var sum float32
	for i, v := range row {
		e := expf(v - m)
		row[i] = e
		sum += e
	}
	inv := 1 / sum
	for i := range row {
		row[i] *= inv
	}
}

func depthwisePixels(row, src []float32, h, wd, c, k, stride, oy, ox0, ox1 int, w, bias []float32, geluAct bool) {
	pad := k / 2
	for ox := ox0; ox < ox1; ox++ {
		out := row[ox*c : (ox+1)*c]
		copy(out, bias[:c])
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
				in := src[(iy*wd+ix)*c : (iy*wd+ix+1)*c]
				wk := w[(ky*k+kx)*c : (ky*k+kx+1)*c]
				for i := range out {
					out[i] += in[i] * wk[i]
				}
			}
		}
		if geluAct {
			geluRowGo(out, nil)
		}
	}
}
