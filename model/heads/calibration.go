package heads

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/busam/busam/metrics"
)

// Calibration makes the classifier's probabilities honest: a temperature
// fitted on validation data (busam calibrate; the zero value means none)
// and the confidence at or above which an answer is "sure", with the
// accuracy that such answers had there. It travels in the heads file's
// metadata, so every inference path (CLI, wasm CPU, WebGPU) applies it.
type Calibration struct {
	Temperature   float64 `json:"temperature"`
	SureThreshold float64 `json:"sure_threshold"` // calibrated top probability; 0: no threshold
	SureAccuracy  float64 `json:"sure_accuracy"`  // accuracy of the sure answers on validation data
	FittedOn      string  `json:"fitted_on,omitempty"`
}

// calibrationKey is the heads file's metadata entry.
const calibrationKey = "calibration"

// IsZero reports whether there is no calibration.
func (c Calibration) IsZero() bool { return c.Temperature == 0 }

func (c Calibration) validate() error {
	if c.IsZero() {
		return nil
	}
	if !(c.Temperature >= 0.01 && c.Temperature <= 100) || !(c.SureThreshold >= 0 && c.SureThreshold <= 1) ||
		!(c.SureAccuracy >= 0 && c.SureAccuracy <= 1) {
		return fmt.Errorf("calibration out of range: temperature %v (want 0.01..100), sure threshold %v, sure accuracy %v (want 0..1)",
			c.Temperature, c.SureThreshold, c.SureAccuracy)
	}
	return nil
}

// Apply rescales class probabilities by the temperature
// (metrics.WithTemperature); without a calibration it returns them as they are.
func (c Calibration) Apply(probs []float32) []float32 {
	if c.IsZero() {
		return probs
	}
	p := make([]float64, len(probs))
	for i, v := range probs {
		p[i] = float64(v)
	}
	q := metrics.WithTemperature([][]float64{p}, c.Temperature)[0]
	out := make([]float32, len(q))
	for i, v := range q {
		out[i] = float32(v)
	}
	return out
}

// Sure reports whether calibrated probabilities are a sure answer: the top
// one at or above the threshold. Without a threshold every answer is sure.
func (c Calibration) Sure(calibrated []float32) bool {
	top := float32(math.Inf(-1))
	for _, v := range calibrated {
		top = max(top, v)
	}
	return c.SureThreshold == 0 || float64(top) >= c.SureThreshold
}

// Calibration returns the model's calibration (the zero value when none).
func (m *Model) Calibration() Calibration { return m.Calib }

func encodeCalibration(c Calibration) (string, error) {
	b, err := json.Marshal(c)
	return string(b), err
}

func decodeCalibration(s string) (Calibration, error) {
	var c Calibration
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		return c, err
	}
	if c.IsZero() {
		return c, fmt.Errorf("calibration without a temperature")
	}
	return c, c.validate()
}
