package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/busam/busam/model/heads"
)

// writePerImage writes a per_image.csv of n images whose reported
// probabilities are sharpened (overconfident) versions of the calibrated
// ones the labels are drawn from.
func writePerImage(t *testing.T, path string, n int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	classes := []string{"normal", "benign", "malignant"}
	var b strings.Builder
	b.WriteString("image,true,pred,p_normal,p_benign,p_malignant,has_lesion,dice,iou,hd95_px,hd95_mm,pred_area,truth_area\n")
	for i := 0; i < n; i++ {
		l := []float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}
		p, q := make([]float64, 3), make([]float64, 3)
		var sp, sq float64
		for k := range l {
			p[k], q[k] = math.Exp(l[k]), math.Exp(3*l[k])
			sp, sq = sp+p[k], sq+q[k]
		}
		u, truth := rng.Float64()*sp, 0
		if u > p[0] {
			truth = 1
		}
		if u > p[0]+p[1] {
			truth = 2
		}
		pred := 0
		for k := range q {
			q[k] /= sq
			if q[k] > q[pred] {
				pred = k
			}
		}
		fmt.Fprintf(&b, "img%d,%s,%s,%g,%g,%g,%t,0.5,0.4,3,,0.1,0.1\n", i, classes[truth], classes[pred], q[0], q[1], q[2], truth != 0)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCalibrateCommand(t *testing.T) {
	dir := t.TempDir()
	val, test := filepath.Join(dir, "val.csv"), filepath.Join(dir, "test.csv")
	writePerImage(t, val, 1500, 1)
	writePerImage(t, test, 1500, 2)
	_, headsIn := freshHeads(t, dir, "conv")
	out, headsOut := filepath.Join(dir, "cal.json"), filepath.Join(dir, "cal.safetensors")
	if err := runCalibrate([]string{"--val", val, "--test", test, "--out", out, "--heads", headsIn, "--heads-out", headsOut}); err != nil {
		t.Fatal(err)
	}
	var c Calibration
	data, err := os.ReadFile(out)
	if err != nil || json.Unmarshal(data, &c) != nil {
		t.Fatalf("calibration file: %v", err)
	}
	// the reported probabilities are the calibrated ones sharpened 3x
	if math.Abs(c.Temperature-3) > 0.4 || !(c.Val.ECEAfter < c.Val.ECEBefore/2) || c.Val.Images != 1500 {
		t.Errorf("calibration %+v: want temperature about 3 and ECE at least halved", c)
	}
	if c.Val.SureAccuracy < 0.9 || c.SureThreshold <= 0 || c.SureThreshold >= 1 {
		t.Errorf("sure threshold %v with accuracy %v, want >= 0.9", c.SureThreshold, c.Val.SureAccuracy)
	}
	m, err := heads.Load(headsOut)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Calibration(); got.Temperature != c.Temperature || got.SureThreshold != c.SureThreshold || got.FittedOn != val {
		t.Errorf("heads carry %+v, calibration file says %+v", got, c)
	}
	// calibrated heads are refused (their evals are calibrated already),
	// an existing output is not overwritten, and --heads needs --heads-out
	if err := runCalibrate([]string{"--val", val, "--out", filepath.Join(dir, "c2.json"), "--heads", headsOut, "--heads-out", filepath.Join(dir, "x.safetensors")}); err == nil ||
		!strings.Contains(err.Error(), "calibrated already") {
		t.Errorf("calibrating calibrated heads: %v", err)
	}
	if err := runCalibrate([]string{"--val", val, "--out", out}); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("existing --out: %v", err)
	}
	if err := runCalibrate([]string{"--val", val, "--out", filepath.Join(dir, "c3.json"), "--heads", headsIn}); err == nil {
		t.Error("--heads without --heads-out accepted")
	}
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("image,true\nx,benign\n"), 0o644)
	if err := runCalibrate([]string{"--val", bad, "--out", filepath.Join(dir, "c4.json")}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("a malformed table: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "c4.json")); err == nil {
		t.Error("a failed run left its output behind")
	}
}
