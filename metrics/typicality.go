package metrics

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// Gaussian is a probabilistic-PCA model of feature vectors (Tipping and
// Bishop 1999): a mean, K principal directions with their variances, and
// one isotropic variance for the remaining D-K dimensions. It is a
// Gaussian whose covariance needs K*D numbers instead of D*D, and whose
// Mahalanobis distance stays defined when there are fewer samples than
// dimensions.
type Gaussian struct {
	Mean       []float64
	Components [][]float64 // K orthonormal rows of length D
	Variances  []float64   // variance along each component, decreasing
	Residual   float64     // mean variance of the other D-K directions
}

// FitGaussian fits a Gaussian with k components to the rows of x (n
// vectors of one length D > k). The residual variance is floored at 1e-6
// of the total so a degenerate direction cannot make distances explode.
func FitGaussian(x [][]float64, k int) (Gaussian, error) {
	n := len(x)
	if n < 2 {
		return Gaussian{}, fmt.Errorf("metrics: fitting a Gaussian to %d vectors", n)
	}
	d := len(x[0])
	if k < 1 || k >= d {
		return Gaussian{}, fmt.Errorf("metrics: %d components for %d dimensions", k, d)
	}
	mean := make([]float64, d)
	for i, row := range x {
		if len(row) != d {
			return Gaussian{}, fmt.Errorf("metrics: vector %d has %d values, the first %d", i, len(row), d)
		}
		for j, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return Gaussian{}, fmt.Errorf("metrics: vector %d holds %v", i, v)
			}
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	cov := mat.NewSymDense(d, nil)
	c := make([]float64, d)
	for _, row := range x {
		for j, v := range row {
			c[j] = v - mean[j]
		}
		cov.SymRankOne(cov, 1/float64(n-1), mat.NewVecDense(d, c))
	}
	var eig mat.EigenSym
	if !eig.Factorize(cov, true) {
		return Gaussian{}, fmt.Errorf("metrics: eigen-decomposition of the %dx%d covariance failed", d, d)
	}
	vals := eig.Values(nil) // ascending
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	var total float64
	for _, v := range vals {
		total += max(v, 0)
	}
	g := Gaussian{Mean: mean}
	for i := d - 1; i >= d-k; i-- {
		g.Variances = append(g.Variances, max(vals[i], 1e-6*total/float64(d)))
		g.Components = append(g.Components, mat.Col(nil, i, &vecs))
	}
	var rest float64
	for _, v := range vals[:d-k] {
		rest += max(v, 0)
	}
	g.Residual = max(rest/float64(d-k), 1e-6*total/float64(d))
	return g, nil
}

// Distance is the squared Mahalanobis distance of v from g, divided by
// the dimension: about 1 for a vector drawn from g, growing with how
// unlike g's data v is.
func (g Gaussian) Distance(v []float64) float64 {
	d := len(g.Mean)
	c := make([]float64, d)
	var all float64
	for j := range c {
		c[j] = v[j] - g.Mean[j]
		all += c[j] * c[j]
	}
	var sq, along float64
	for i, u := range g.Components {
		var p float64
		for j, uj := range u {
			p += uj * c[j]
		}
		sq += p * p / g.Variances[i]
		along += p * p
	}
	sq += max(all-along, 0) / g.Residual
	return sq / float64(d)
}
