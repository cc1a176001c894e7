package train

import (
	"math"

	"github.com/busam/busam/model/tensor"
)

// MaskLoss is the segmentation loss of one sample over the image part of
// the padded frame (the padding is cropped away at prediction time, so it
// is not scored): BCE on the logits against a soft target, plus, for
// images with a lesion, the soft Dice loss 1 - (2 sum(p t) + 1) / (sum(p) + sum(t) + 1).
type MaskLoss struct {
	BCEWeight, DiceWeight float64
}

// Eval returns the loss and its gradient w.r.t. the logits [1,S,S] for a
// target [S*S] in [0,1], scoring only pixels with x < validW and y < validH.
func (l MaskLoss) Eval(logits *tensor.Tensor, target []float32, validW, validH int, lesion bool) (float64, *tensor.Tensor) {
	s := logits.Shape[len(logits.Shape)-1]
	grad := tensor.New(logits.Shape...)
	n := float64(validW * validH)
	if n == 0 {
		return 0, grad
	}
	var bce, sumPT, sumP, sumT float64
	for y := range validH {
		for x := range validW {
			i := y*s + x
			z, t := float64(logits.Data[i]), float64(target[i])
			// Stable BCE with logits: max(z,0) - z t + log(1 + e^-|z|).
			bce += math.Max(z, 0) - z*t + math.Log1p(math.Exp(-math.Abs(z)))
			p := 1 / (1 + math.Exp(-z))
			grad.Data[i] = float32(l.BCEWeight * (p - t) / n)
			sumPT += p * t
			sumP += p
			sumT += t
		}
	}
	loss := l.BCEWeight * bce / n
	if lesion && l.DiceWeight > 0 {
		num, den := 2*sumPT+1, sumP+sumT+1
		loss += l.DiceWeight * (1 - num/den)
		// d(1 - num/den)/dp_i = -(2 t_i den - num) / den^2, times p(1-p).
		for y := range validH {
			for x := range validW {
				i := y*s + x
				p := 1 / (1 + math.Exp(-float64(logits.Data[i])))
				dp := -(2*float64(target[i])*den - num) / (den * den)
				grad.Data[i] += float32(l.DiceWeight * dp * p * (1 - p))
			}
		}
	}
	return loss, grad
}

// CrossEntropy returns -log softmax(logits)[label] and its gradient
// softmax - onehot, both scaled by weight.
func CrossEntropy(logits []float32, label int, weight float64) (float64, []float32) {
	mx := float64(logits[0])
	for _, v := range logits {
		mx = math.Max(mx, float64(v))
	}
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v) - mx)
	}
	grad := make([]float32, len(logits))
	for i, v := range logits {
		p := math.Exp(float64(v)-mx) / sum
		if i == label {
			p--
		}
		grad[i] = float32(weight * p)
	}
	loss := -(float64(logits[label]) - mx - math.Log(sum))
	return weight * loss, grad
}

// ClassWeights returns inverse-frequency weights N / (K n_k) for labels in
// [0, k); a class with no samples gets weight 0.
func ClassWeights(labels []int, k int) []float64 {
	counts := make([]int, k)
	for _, l := range labels {
		counts[l]++
	}
	w := make([]float64, k)
	for i, c := range counts {
		if c > 0 {
			w[i] = float64(len(labels)) / float64(k*c)
		}
	}
	return w
}
