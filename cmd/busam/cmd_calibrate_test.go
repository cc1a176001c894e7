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

// writeContexts writes n context rows of d standard-normal features; the
// first far of them are moved 20 standard deviations away.
func writeContexts(t *testing.T, path string, n, d, far int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "img%d", i)
		for range d {
			v := rng.NormFloat64()
			if i < far {
				v += 20
			}
			fmt.Fprintf(&b, ",%g", v)
		}
		b.WriteString("\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// With --typical-train the calibrated heads carry a typicality model:
// thresholds from the validation contexts (1% warned), far test images
// refused, and a context of the wrong length named.
func TestCalibrateTypicality(t *testing.T) {
	dir := t.TempDir()
	_, headsIn := freshHeads(t, dir, "conv")
	m, err := heads.Load(headsIn)
	if err != nil {
		t.Fatal(err)
	}
	d := m.Config.EmbedDim + m.Config.Width[0]
	for _, part := range []string{"val", "test"} {
		os.MkdirAll(filepath.Join(dir, part), 0o755)
	}
	val, test := filepath.Join(dir, "val", "per_image.csv"), filepath.Join(dir, "test", "per_image.csv")
	writePerImage(t, val, 400, 1)
	writePerImage(t, test, 400, 2)
	train := filepath.Join(dir, "train.csv")
	writeContexts(t, train, 2000, d, 0, 3)
	writeContexts(t, filepath.Join(dir, "val", "context.csv"), 400, d, 0, 4)
	writeContexts(t, filepath.Join(dir, "test", "context.csv"), 400, d, 7, 5)
	out, headsOut := filepath.Join(dir, "cal.json"), filepath.Join(dir, "cal.safetensors")
	err = runCalibrate([]string{"--val", val, "--test", test, "--out", out, "--heads", headsIn, "--heads-out", headsOut,
		"--typical-train", train, "--typical-components", "4"})
	if err != nil {
		t.Fatal(err)
	}
	var c Calibration
	data, _ := os.ReadFile(out)
	if err := json.Unmarshal(data, &c); err != nil || c.Typicality == nil {
		t.Fatalf("calibration file without typicality: %v", err)
	}
	r := c.Typicality
	if r.ValWarned < 2 || r.ValWarned > 6 || r.TestRefused != 7 || r.TestWarned < 7 || !(r.Warn > 1 && r.Refuse > r.Warn) {
		t.Errorf("typicality report %+v: want about 4 of 400 validation images warned and the 7 far test images refused", r)
	}
	back, err := heads.Load(headsOut)
	if err != nil {
		t.Fatal(err)
	}
	if tb := back.Typicality(); tb.IsZero() || math.Abs(tb.Warn-r.Warn) > 1e-12 || len(tb.Gaussian.Components) != 4 {
		t.Errorf("heads carry typicality %+v, report %+v", tb, r)
	}
	writeContexts(t, filepath.Join(dir, "val", "context.csv"), 400, d+1, 0, 4)
	err = runCalibrate([]string{"--val", val, "--out", filepath.Join(dir, "c2.json"), "--heads", headsIn,
		"--heads-out", filepath.Join(dir, "c2.safetensors"), "--typical-train", train})
	if err == nil || !strings.Contains(err.Error(), "context of") {
		t.Errorf("contexts of another length: %v", err)
	}
	if err := runCalibrate([]string{"--val", val, "--out", filepath.Join(dir, "c3.json"), "--typical-train", train}); err == nil {
		t.Error("--typical-train without --heads accepted")
	}
}
