package heads

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCalibrationApplyAndSure(t *testing.T) {
	c := Calibration{Temperature: 2, SureThreshold: 0.6, SureAccuracy: 0.9}
	// (0.8, 0.2) at t = 2 -> (sqrt .8, sqrt .2) normalised = (2/3, 1/3)
	got := c.Apply([]float32{0.8, 0.2})
	if math.Abs(float64(got[0])-2.0/3) > 1e-6 || math.Abs(float64(got[1])-1.0/3) > 1e-6 {
		t.Errorf("Apply = %v, want [2/3 1/3]", got)
	}
	if !c.Sure(got) || c.Sure([]float32{0.55, 0.45}) {
		t.Error("Sure: want 2/3 sure and 0.55 not")
	}
	if p := (Calibration{}).Apply([]float32{0.7, 0.3}); p[0] != 0.7 {
		t.Errorf("no calibration changed the probabilities: %v", p)
	}
	if !(Calibration{}).Sure([]float32{0.4, 0.3, 0.3}) {
		t.Error("without a threshold every answer is sure")
	}
}

// A calibration saved with the heads comes back; one out of range is
// refused on saving, and tampered metadata on loading, naming the file.
func TestCalibrationInHeadsFile(t *testing.T) {
	m, _ := New(tinyConfig("conv"))
	m.Calib = Calibration{Temperature: 2.5, SureThreshold: 0.7, SureAccuracy: 0.91, FittedOn: "val.csv"}
	path := filepath.Join(t.TempDir(), "heads.safetensors")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Calibration() != m.Calib {
		t.Errorf("calibration %+v, want %+v", back.Calibration(), m.Calib)
	}
	// extra metadata cannot smuggle in a calibration the model lacks
	plain, _ := New(tinyConfig("conv"))
	p2 := filepath.Join(t.TempDir(), "plain.safetensors")
	if err := plain.SaveWithMetadata(p2, map[string]string{calibrationKey: `{"temperature":9}`}); err != nil {
		t.Fatal(err)
	}
	if b, _ := Load(p2); !b.Calibration().IsZero() {
		t.Errorf("extra metadata became a calibration: %+v", b.Calibration())
	}
	bad := *m
	bad.Calib.Temperature = -1
	if err := bad.Save(filepath.Join(t.TempDir(), "x.safetensors")); err == nil {
		t.Error("a negative temperature was saved")
	}
	data, _ := os.ReadFile(path)
	for _, c := range []struct{ old, new string }{
		{`"temperature\":2.5`, `"temperature\":999`},
		{`"sure_threshold\":0.7`, `"sure_threshold\":7.0`},
		{`"temperature\":2.5`, `"temperaturX\":2.5`},
	} {
		if !bytes.Contains(data, []byte(c.old)) {
			t.Fatalf("file lacks %s", c.old)
		}
		tampered := bytes.Replace(data, []byte(c.old), []byte(c.new), 1)
		if _, err := Decode("tampered.safetensors", tampered); err == nil || !strings.Contains(err.Error(), "tampered.safetensors") ||
			!strings.Contains(err.Error(), "calibration") {
			t.Errorf("%s -> %s: err = %v", c.old, c.new, err)
		}
	}
}
