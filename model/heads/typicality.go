package heads

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/busam/busam/metrics"
	"github.com/busam/busam/model/tensor"
	"github.com/busam/busam/weights/safetensors"
)

// Typicality says whether an image looks like the images the heads were
// trained on: a Gaussian (metrics.Gaussian) over the classifier's context
// features (Output.Context) of the training images, and two thresholds on
// its distance chosen on validation data (busam calibrate). Above Warn an
// image is unusual (the answer is shown with a warning); above Refuse it
// is not a breast ultrasound image like any the model knows (a photo, a
// screenshot, an X-ray), and no outline or class is given. The zero value
// means none. It travels in the heads file (tensors "typicality.*" and a
// metadata entry), so every inference path applies it.
type Typicality struct {
	Gaussian     metrics.Gaussian `json:"-"`
	Warn         float64          `json:"warn"`
	Refuse       float64          `json:"refuse"`
	FittedOn     string           `json:"fitted_on,omitempty"`
	ValWarnShare float64          `json:"val_warn_share"` // share of validation images above Warn
}

// IsZero reports whether there is no typicality model.
func (t Typicality) IsZero() bool { return len(t.Gaussian.Mean) == 0 }

// Distance is the context's distance from the training images (about 1
// for them; see metrics.Gaussian.Distance); NaN without a model or for a
// context of the wrong length.
func (t Typicality) Distance(context []float32) float64 {
	if t.IsZero() || len(context) != len(t.Gaussian.Mean) {
		return math.NaN()
	}
	v := make([]float64, len(context))
	for i, x := range context {
		v[i] = float64(x)
	}
	return t.Gaussian.Distance(v)
}

// Typicality returns the model's typicality model (the zero value when none).
func (m *Model) Typicality() Typicality { return m.Typical }

const (
	typicalityKey    = "typicality"
	typicalityPrefix = "typicality."
)

func (t Typicality) validate(features int) error {
	g := t.Gaussian
	if len(g.Mean) != features || len(g.Components) == 0 || len(g.Components) != len(g.Variances) {
		return fmt.Errorf("typicality: mean of %d values (the classifier has %d features), %d components, %d variances",
			len(g.Mean), features, len(g.Components), len(g.Variances))
	}
	for i, u := range g.Components {
		if len(u) != features || !(g.Variances[i] > 0) {
			return fmt.Errorf("typicality: component %d has %d values and variance %v", i, len(u), g.Variances[i])
		}
	}
	if !(g.Residual > 0) || !(t.Warn > 0) || !(t.Refuse >= t.Warn) || math.IsInf(t.Refuse, 0) {
		return fmt.Errorf("typicality: residual variance %v, warn %v, refuse %v (want 0 < warn <= refuse)", g.Residual, t.Warn, t.Refuse)
	}
	return nil
}

// typicalityEntries are the tensors and the metadata entry that store t.
func typicalityEntries(t Typicality) ([]safetensors.Entry, string, error) {
	g := t.Gaussian
	k, d := len(g.Components), len(g.Mean)
	mean, comps, vars := tensor.New(d), tensor.New(k, d), tensor.New(k)
	for j, v := range g.Mean {
		mean.Data[j] = float32(v)
	}
	for i, u := range g.Components {
		for j, v := range u {
			comps.Data[i*d+j] = float32(v)
		}
		vars.Data[i] = float32(g.Variances[i])
	}
	meta, err := json.Marshal(struct {
		Typicality
		Residual float64 `json:"residual"`
	}{t, g.Residual})
	if err != nil {
		return nil, "", err
	}
	return []safetensors.Entry{
		safetensors.F32Entry(typicalityPrefix+"mean", mean),
		safetensors.F32Entry(typicalityPrefix+"components", comps),
		safetensors.F32Entry(typicalityPrefix+"variances", vars),
	}, string(meta), nil
}

// decodeTypicality reads t back from the metadata entry and the tensors
// (get returns a tensor by name).
func decodeTypicality(meta string, get func(string) (*tensor.Tensor, error), features int) (Typicality, int, error) {
	var m struct {
		Typicality
		Residual float64 `json:"residual"`
	}
	if err := json.Unmarshal([]byte(meta), &m); err != nil {
		return Typicality{}, 0, err
	}
	t := m.Typicality
	t.Gaussian.Residual = m.Residual
	mean, err := get(typicalityPrefix + "mean")
	if err != nil {
		return t, 0, err
	}
	comps, err := get(typicalityPrefix + "components")
	if err != nil {
		return t, 0, err
	}
	vars, err := get(typicalityPrefix + "variances")
	if err != nil {
		return t, 0, err
	}
	d := mean.Len()
	if len(comps.Shape) != 2 || comps.Shape[1] != d || vars.Len() != comps.Shape[0] {
		return t, 0, fmt.Errorf("typicality tensors of shapes %v, %v, %v do not fit together", mean.Shape, comps.Shape, vars.Shape)
	}
	g := &t.Gaussian
	for _, v := range mean.Data {
		g.Mean = append(g.Mean, float64(v))
	}
	for i := range comps.Shape[0] {
		u := make([]float64, d)
		for j := range u {
			u[j] = float64(comps.Data[i*d+j])
		}
		g.Components = append(g.Components, u)
		g.Variances = append(g.Variances, float64(vars.Data[i]))
	}
	return t, 3, t.validate(features)
}
