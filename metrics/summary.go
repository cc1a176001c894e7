package metrics

import (
	"fmt"
	"math"
	"sort"
)

// Record is everything measured on one image.
type Record struct {
	ID                   string
	TrueClass, PredClass int
	Probs                []float64 // one per class
	HasLesion            bool      // the ground-truth mask is not empty
	Dice, IoU            float64
	HD95Px               float64 // see HD95 for the empty cases
	HD95MM               float64 // NaN when the pixel spacing is unknown
	PredArea, TruthArea  float64 // fraction of the image covered
}

// NewRecord measures one image: pred and truth are w×h masks, probs the
// class probabilities and spacingMM the (row, col) pixel spacing in mm, zero
// when unknown (as imageio.Meta reports it).
func NewRecord(id string, trueClass, predClass int, probs []float64, pred, truth []uint8, w, h int, spacingMM [2]float64) (Record, error) {
	if err := checkPair(pred, truth, w, h); err != nil {
		return Record{}, fmt.Errorf("%s: %w", id, err)
	}
	r := Record{
		ID: id, TrueClass: trueClass, PredClass: predClass,
		Probs:    append([]float64(nil), probs...),
		PredArea: Area(pred), TruthArea: Area(truth),
		HD95MM: math.NaN(),
	}
	r.HasLesion = r.TruthArea > 0
	r.Dice, _ = Dice(pred, truth) // lengths checked above
	r.IoU, _ = IoU(pred, truth)
	var err error
	if r.HD95Px, err = HD95(pred, truth, w, h, Pixels); err != nil {
		return Record{}, fmt.Errorf("%s: %w", id, err)
	}
	if spacingMM[0] > 0 && spacingMM[1] > 0 {
		if r.HD95MM, err = HD95(pred, truth, w, h, Spacing{spacingMM[0], spacingMM[1]}); err != nil {
			return Record{}, fmt.Errorf("%s: %w", id, err)
		}
	}
	return r, nil
}

// Stat describes a sample of values.
type Stat struct {
	N                 int
	Mean, Std, Median float64 // Std is the sample standard deviation (n−1)
	Min, Max          float64
}

// Describe summarises xs: everything NaN when empty, Std NaN below two values.
func Describe(xs []float64) Stat {
	s := Stat{N: len(xs), Mean: math.NaN(), Std: math.NaN(), Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	if len(xs) == 0 {
		return s
	}
	sorted := append([]float64(nil), xs...)
	sort.Float64s(sorted)
	s.Min, s.Max = sorted[0], sorted[len(sorted)-1]
	s.Median = Percentile(sorted, 50)
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	s.Mean = sum / float64(len(xs))
	if len(xs) > 1 {
		ss := 0.0
		for _, x := range xs {
			ss += (x - s.Mean) * (x - s.Mean)
		}
		s.Std = math.Sqrt(ss / float64(len(xs)-1))
	}
	return s
}

// Summary is what a report shows about a set of records.
type Summary struct {
	Classes []string
	Images  int

	Confusion                  Confusion
	Accuracy, BalancedAccuracy float64
	Sensitivity, Specificity   []float64 // per class
	Support                    []int     // true samples per class
	ROC                        []ROCCurve
	MacroAUC                   float64

	// Segmentation over lesion images only (non-empty ground truth).
	LesionImages          int
	Dice, IoU, HD95Px     Stat
	HD95MM                Stat   // over the lesion images with a known spacing
	DiceByClass           []Stat // lesion images of each true class
	MissedLesions         int    // lesion images whose predicted mask is empty
	NormalImages          int    // images with an empty ground-truth mask
	NormalFPArea          Stat   // predicted area (fraction of the image) on them
	NormalWithFalsePixels int    // of them, those with any predicted pixel
}

// Summarize aggregates per-image records over the given classes (names in
// class-index order).
func Summarize(classes []string, recs []Record) (Summary, error) {
	k := len(classes)
	s := Summary{Classes: append([]string(nil), classes...), Images: len(recs)}
	truth := make([]int, len(recs))
	pred := make([]int, len(recs))
	probs := make([][]float64, len(recs))
	for i, r := range recs {
		truth[i], pred[i], probs[i] = r.TrueClass, r.PredClass, r.Probs
	}
	var err error
	if s.Confusion, err = NewConfusion(k, truth, pred); err != nil {
		return Summary{}, err
	}
	if s.ROC, s.MacroAUC, err = OneVsRest(k, truth, probs); err != nil {
		return Summary{}, err
	}
	s.Accuracy = s.Confusion.Accuracy()
	s.BalancedAccuracy = s.Confusion.BalancedAccuracy()
	for c := 0; c < k; c++ {
		s.Sensitivity = append(s.Sensitivity, s.Confusion.Sensitivity(c))
		s.Specificity = append(s.Specificity, s.Confusion.Specificity(c))
		s.Support = append(s.Support, s.Confusion.Support(c))
	}

	var dice, iou, hdPx, hdMM, fpArea []float64
	diceBy := make([][]float64, k)
	for _, r := range recs {
		if !r.HasLesion {
			s.NormalImages++
			fpArea = append(fpArea, r.PredArea)
			if r.PredArea > 0 {
				s.NormalWithFalsePixels++
			}
			continue
		}
		s.LesionImages++
		dice = append(dice, r.Dice)
		iou = append(iou, r.IoU)
		hdPx = append(hdPx, r.HD95Px)
		if !math.IsNaN(r.HD95MM) {
			hdMM = append(hdMM, r.HD95MM)
		}
		diceBy[r.TrueClass] = append(diceBy[r.TrueClass], r.Dice)
		if r.PredArea == 0 {
			s.MissedLesions++
		}
	}
	s.Dice, s.IoU, s.HD95Px, s.HD95MM = Describe(dice), Describe(iou), Describe(hdPx), Describe(hdMM)
	s.NormalFPArea = Describe(fpArea)
	for _, d := range diceBy {
		s.DiceByClass = append(s.DiceByClass, Describe(d))
	}
	return s, nil
}
