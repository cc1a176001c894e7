package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/busam/busam/dataset"
	"github.com/busam/busam/metrics"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/report"
)

func init() {
	register("calibrate", "fit temperature scaling and the 'unsure' threshold on a validation eval, report calibration and per-dataset/scanner/class results on a test eval", runCalibrate)
}

// Calibration is what the app needs to show honest answers: the
// temperature that calibrates the heads' probabilities and the confidence
// below which an answer is shown as unsure, both fitted on validation data,
// with the accuracy that the threshold promises.
type Calibration struct {
	Temperature     float64 `json:"temperature"`
	SureThreshold   float64 `json:"sure_threshold"`    // calibrated top probability at or above which an answer is "sure"
	SureMinAccuracy float64 `json:"sure_min_accuracy"` // the accuracy the threshold was chosen for
	Val             struct {
		Images       int     `json:"images"`
		Accuracy     float64 `json:"accuracy"`
		SureCoverage float64 `json:"sure_coverage"`
		SureAccuracy float64 `json:"sure_accuracy"`
		ECEBefore    float64 `json:"ece_before"`
		ECEAfter     float64 `json:"ece_after"`
	} `json:"val"`
	FittedOn string `json:"fitted_on"`
	// Typicality, with --typical-train: the distance model's thresholds
	// and how many validation (and test) images pass them.
	Typicality *TypicalityReport `json:"typicality,omitempty"`
}

// TypicalityReport is what busam calibrate measured of the typicality
// model (heads.Typicality).
type TypicalityReport struct {
	Components  int     `json:"components"`
	TrainImages int     `json:"train_images"`
	Warn        float64 `json:"warn"`   // 99th percentile of the validation distances
	Refuse      float64 `json:"refuse"` // twice the largest validation distance
	ValImages   int     `json:"val_images"`
	ValWarned   int     `json:"val_warned"`
	TestImages  int     `json:"test_images,omitempty"`
	TestWarned  int     `json:"test_warned,omitempty"`
	TestRefused int     `json:"test_refused,omitempty"`
}

// typicalWarnPercentile and typicalRefuseFactor set the typicality
// thresholds from the validation distances, by rule and before any
// non-ultrasound image was scored: 1% of held-out scans get a warning; a
// refusal needs twice the distance of the farthest held-out scan, so a
// scan from another hospital is warned about rather than refused.
const (
	typicalWarnPercentile = 99
	typicalRefuseFactor   = 2
)

const eceBins = 15

func runCalibrate(args []string) error {
	fs := flag.NewFlagSet("calibrate", flag.ContinueOnError)
	val := fs.String("val", "", "per_image.csv of `busam eval --part val` (required)")
	test := fs.String("test", "", "per_image.csv of an eval to report on (optional)")
	data := fs.String("data", "", "the dataset(s) of --test, for the per-dataset and per-scanner breakdown")
	minAcc := fs.Float64("sure-accuracy", 0.9, "accuracy the 'sure' answers must reach on validation data")
	out := fs.String("out", "", "calibration JSON to write (required; an existing file is refused without --force)")
	md := fs.String("md", "", "also write the test report as Markdown here")
	headsIn := fs.String("heads", "", "heads file the evals ran (optional): with --heads-out, a copy carrying this calibration is written")
	headsOut := fs.String("heads-out", "", "heads file to write with the calibration in its metadata (every inference path then applies it)")
	force := fs.Bool("force", false, "replace --out and --md")
	typTrain := fs.String("typical-train", "", "context.csv of `busam eval --part train` (optional): fit the typicality model (is this like the training images?) on it, its thresholds on the context.csv beside --val")
	typK := fs.Int("typical-components", 16, "principal components of the typicality model")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *val == "" || *out == "" {
		return errors.New("--val and --out are required")
	}
	if !(*minAcc > 0 && *minAcc <= 1) {
		return fmt.Errorf("--sure-accuracy %v not in (0,1]", *minAcc)
	}
	if (*headsIn == "") != (*headsOut == "") {
		return errors.New("--heads and --heads-out go together")
	}
	for _, p := range []string{*out, *md, *headsOut} {
		if _, err := os.Stat(p); p != "" && err == nil && !*force {
			return fmt.Errorf("%s exists (use --force to replace it)", p)
		}
	}
	var hm *heads.Model
	if *headsIn != "" {
		var err error
		if hm, err = heads.Load(*headsIn); err != nil {
			return err
		}
		if !hm.Calibration().IsZero() {
			return fmt.Errorf("--heads %s is calibrated already (its evals show calibrated probabilities): calibrate the uncalibrated heads", *headsIn)
		}
	}
	_, vrecs, err := report.ReadPerImage(*val)
	if err != nil {
		return err
	}
	vp, vt := probsAndTruth(vrecs)
	var c Calibration
	c.FittedOn, c.SureMinAccuracy = *val, *minAcc
	if c.Temperature, err = metrics.FitTemperature(vp, vt); err != nil {
		return fmt.Errorf("%s: %w", *val, err)
	}
	cal := metrics.WithTemperature(vp, c.Temperature)
	if c.SureThreshold, c.Val.SureCoverage, c.Val.SureAccuracy, err = metrics.SureThreshold(cal, vt, *minAcc); err != nil {
		return err
	}
	c.Val.Images = len(vrecs)
	c.Val.Accuracy = accuracyOf(vrecs)
	c.Val.ECEBefore, _ = metrics.ECE(vp, vt, eceBins)
	c.Val.ECEAfter, _ = metrics.ECE(cal, vt, eceBins)

	var b strings.Builder
	fmt.Fprintf(&b, "Calibration fitted on %s (%d images): temperature %.3f; 'sure' when the calibrated top probability is >= %.3f "+
		"(validation: %.0f%% of answers sure, %.1f%% of those right).\n\n", *val, c.Val.Images, c.Temperature, c.SureThreshold,
		100*c.Val.SureCoverage, 100*c.Val.SureAccuracy)
	if *test != "" {
		if err := testReport(&b, c, *test, *data); err != nil {
			return err
		}
	}
	var typ heads.Typicality
	if *typTrain != "" {
		if hm == nil {
			return errors.New("--typical-train needs --heads (the model whose context features the evals wrote)")
		}
		if typ, c.Typicality, err = fitTypicality(&b, *typTrain, *val, *test, *typK); err != nil {
			return err
		}
	}
	js, _ := json.MarshalIndent(c, "", "  ")
	if err := writeFileAtomic(*out, func(w io.Writer) error { _, err := w.Write(append(js, '\n')); return err }); err != nil {
		return err
	}
	if hm != nil {
		hm.Calib = heads.Calibration{Temperature: c.Temperature, SureThreshold: c.SureThreshold, SureAccuracy: c.Val.SureAccuracy, FittedOn: *val}
		hm.Typical = typ
		meta, err := heads.Metadata(*headsIn)
		if err != nil {
			return err
		}
		if err := hm.SaveWithMetadata(*headsOut, meta); err != nil {
			return err
		}
	}
	if *md != "" {
		if err := writeFileAtomic(*md, func(w io.Writer) error { _, err := io.WriteString(w, b.String()); return err }); err != nil {
			return err
		}
	}
	fmt.Print(b.String())
	return nil
}

// fitTypicality fits the typicality model on the train part's contexts,
// sets its thresholds on the validation part's (beside val), and counts
// the test part's (beside test, when given).
func fitTypicality(b *strings.Builder, trainCSV, val, test string, k int) (heads.Typicality, *TypicalityReport, error) {
	_, train, err := report.ReadContexts(trainCSV)
	if err != nil {
		return heads.Typicality{}, nil, err
	}
	g, err := metrics.FitGaussian(train, k)
	if err != nil {
		return heads.Typicality{}, nil, fmt.Errorf("%s: %w", trainCSV, err)
	}
	distances := func(perImage string) ([]float64, error) {
		_, ctx, err := report.ReadContexts(filepath.Join(filepath.Dir(perImage), report.ContextFile))
		if err != nil {
			return nil, err
		}
		d := make([]float64, len(ctx))
		for i, v := range ctx {
			if len(v) != len(g.Mean) {
				return nil, fmt.Errorf("%s: context of %d values, the train part's have %d", perImage, len(v), len(g.Mean))
			}
			d[i] = g.Distance(v)
		}
		return d, nil
	}
	vd, err := distances(val)
	if err != nil {
		return heads.Typicality{}, nil, err
	}
	r := &TypicalityReport{Components: k, TrainImages: len(train), ValImages: len(vd),
		Warn: metrics.Percentile(vd, typicalWarnPercentile), Refuse: typicalRefuseFactor * slices.Max(vd)}
	for _, d := range vd {
		if d > r.Warn {
			r.ValWarned++
		}
	}
	fmt.Fprintf(b, "Typicality: a %d-component Gaussian of the heads' context features of %d training images; distance "+
		"warned above %.2f (validation's %dth percentile: %d of %d images), refused above %.2f (%d x the largest validation distance).\n\n",
		k, len(train), r.Warn, typicalWarnPercentile, r.ValWarned, r.ValImages, r.Refuse, typicalRefuseFactor)
	if test != "" {
		td, err := distances(test)
		if err != nil {
			return heads.Typicality{}, nil, err
		}
		r.TestImages = len(td)
		for _, d := range td {
			if d > r.Warn {
				r.TestWarned++
			}
			if d > r.Refuse {
				r.TestRefused++
			}
		}
		fmt.Fprintf(b, "Test: %d of %d images warned as unusual, %d refused as not breast ultrasound.\n\n", r.TestWarned, r.TestImages, r.TestRefused)
	}
	t := heads.Typicality{Gaussian: g, Warn: r.Warn, Refuse: r.Refuse, FittedOn: trainCSV,
		ValWarnShare: float64(r.ValWarned) / float64(r.ValImages)}
	return t, r, nil
}

// testReport writes the test part's calibration and its breakdowns.
func testReport(b *strings.Builder, c Calibration, test, data string) error {
	classes, recs, err := report.ReadPerImage(test)
	if err != nil {
		return err
	}
	tp, tt := probsAndTruth(recs)
	cal := metrics.WithTemperature(tp, c.Temperature)
	before, _ := metrics.ECE(tp, tt, eceBins)
	after, _ := metrics.ECE(cal, tt, eceBins)
	sure, right := 0, 0
	for i, p := range cal {
		top, conf := 0, 0.0
		for k, v := range p {
			if v > conf {
				top, conf = k, v
			}
		}
		if conf >= c.SureThreshold {
			sure++
			if top == tt[i] {
				right++
			}
		}
	}
	fmt.Fprintf(b, "Test (%s, %d images): ECE (%d bins) %.3f before, %.3f after temperature scaling; %d of %d answers sure (%.0f%%), "+
		"%.1f%% of those right; accuracy %.3f.\n\n", test, len(recs), eceBins, before, after, sure, len(recs),
		100*float64(sure)/float64(len(recs)), 100*ratioOr(right, sure), accuracyOf(recs))
	keys := []struct {
		what string
		key  func(dataset.Sample) string
	}{
		{"dataset", func(s dataset.Sample) string { return s.Source }},
		{"scanner", func(s dataset.Sample) string {
			if s.Device == "" {
				return ""
			}
			return s.Source + ": " + s.Device
		}},
		{"class", func(s dataset.Sample) string { return s.Source + ": " + s.Label.String() }},
	}
	all := func(metrics.Record) string { return "all" }
	g, err := report.Breakdown(classes, recs, all)
	if err != nil {
		return err
	}
	b.WriteString(report.BreakdownMarkdown("part", g) + "\n")
	if data == "" {
		return nil
	}
	ds, err := dataset.Load(data)
	if err != nil {
		return err
	}
	for _, k := range keys {
		g, err := report.Breakdown(classes, recs, func(r metrics.Record) string {
			s, ok := ds.ByID(r.ID)
			if !ok {
				return ""
			}
			return k.key(s)
		})
		if err != nil {
			return err
		}
		if len(g) > 0 {
			b.WriteString(report.BreakdownMarkdown(k.what, g) + "\n")
		}
	}
	for _, r := range recs {
		if _, ok := ds.ByID(r.ID); !ok {
			return fmt.Errorf("%s lists %q, which is not in %s", test, r.ID, data)
		}
	}
	return nil
}

func probsAndTruth(recs []metrics.Record) ([][]float64, []int) {
	p := make([][]float64, len(recs))
	t := make([]int, len(recs))
	for i, r := range recs {
		p[i], t[i] = r.Probs, r.TrueClass
	}
	return p, t
}

func accuracyOf(recs []metrics.Record) float64 {
	right := 0
	for _, r := range recs {
		if r.PredClass == r.TrueClass {
			right++
		}
	}
	return float64(right) / float64(len(recs))
}

func ratioOr(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}
