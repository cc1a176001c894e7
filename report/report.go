// Package report writes an evaluation report folder: report.md (summary,
// per-class table, confusion matrix, links to the plots), per_image.csv and
// PNG plots (ROC curves, confusion heat map, Dice histogram, training curves,
// best/worst example overlays). The folder appears complete or not at all:
// everything is written to a temporary sibling folder that is renamed into
// place at the end.
package report

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/busam/busam/metrics"
)

// File names inside a report folder.
const (
	MarkdownFile  = "report.md"
	PerImageFile  = "per_image.csv"
	ContextFile   = "context.csv" // the heads' context features per image (Input.Contexts)
	SummaryFile   = "summary.json"
	ROCFile       = "roc.png"
	ConfusionFile = "confusion.png"
	DiceHistFile  = "dice_hist.png"
	TrainingFile  = "training.png"
	ExamplesFile  = "examples.png"
)

// Input is what a report shows.
type Input struct {
	Title    string   // heading of report.md; "busam evaluation" when empty
	Notes    []string // lines under the heading: weights, data, split, command ...
	Summary  metrics.Summary
	CI       *metrics.Intervals // bootstrap intervals shown next to the headline numbers; nil: none
	Records  []metrics.Record
	TrainLog []Epoch // nil: no training-curve section
	// Best and Worst are drawn as two rows of overlays (see PickExamples).
	Best, Worst []Example
	// Contexts, when set, are the heads' context features of each record
	// (same order), written to context.csv for busam calibrate's
	// typicality model.
	Contexts [][]float32
}

// Write creates the report folder dir. An existing dir is an error unless
// overwrite is set, in which case it is replaced only once the new report
// is complete.
func Write(dir string, in Input, overwrite bool) (err error) {
	dir = filepath.Clean(dir)
	if _, err := os.Lstat(dir); err == nil && !overwrite {
		return fmt.Errorf("report: %s already exists (overwrite it with --force)", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("report: %w", err)
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := writeAll(tmp, in); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return replaceDir(tmp, dir)
}

// replaceDir renames tmp to dir, moving an existing dir aside first and
// deleting it only after the new one is in place.
func replaceDir(tmp, dir string) error {
	old := tmp + ".old"
	moved := false
	if _, err := os.Lstat(dir); err == nil {
		if err := os.Rename(dir, old); err != nil {
			return fmt.Errorf("report: moving the previous report aside: %w", err)
		}
		moved = true
	}
	if err := os.Rename(tmp, dir); err != nil {
		if moved {
			os.Rename(old, dir)
		}
		return fmt.Errorf("report: %w", err)
	}
	if moved {
		if err := os.RemoveAll(old); err != nil {
			return fmt.Errorf("report: removing the previous report %s: %w", old, err)
		}
	}
	return nil
}

// checkSummary rejects a summary whose per-class slices do not match its
// classes (one not made by metrics.Summarize), which would index out of range.
func checkSummary(s metrics.Summary) error {
	k := len(s.Classes)
	if k == 0 {
		return fmt.Errorf("report: summary has no classes")
	}
	if len(s.Sensitivity) != k || len(s.Specificity) != k || len(s.Support) != k || len(s.ROC) != k ||
		len(s.DiceByClass) != k || len(s.Confusion.Counts) != k {
		return fmt.Errorf("report: summary per-class values do not match its %d classes (use metrics.Summarize)", k)
	}
	for _, row := range s.Confusion.Counts {
		if len(row) != k {
			return fmt.Errorf("report: confusion matrix row of %d values for %d classes", len(row), k)
		}
	}
	return nil
}

func writeAll(dir string, in Input) error {
	s := in.Summary
	if err := checkSummary(s); err != nil {
		return err
	}
	if err := writeCSV(filepath.Join(dir, PerImageFile), s.Classes, in.Records); err != nil {
		return err
	}
	if err := writeSummaryJSON(filepath.Join(dir, SummaryFile), s, in.CI); err != nil {
		return err
	}
	if in.Contexts != nil {
		if err := writeContexts(filepath.Join(dir, ContextFile), in.Records, in.Contexts); err != nil {
			return err
		}
	}
	var plots plotFiles
	if s.Images > 0 {
		if err := plotROC(s, filepath.Join(dir, ROCFile)); err != nil {
			return fmt.Errorf("report: ROC plot: %w", err)
		}
		if err := plotConfusion(s, filepath.Join(dir, ConfusionFile)); err != nil {
			return fmt.Errorf("report: confusion plot: %w", err)
		}
		plots.roc, plots.confusion = true, true
	}
	if s.Dice.N > 0 {
		if err := plotDiceHistogram(s, in.Records, filepath.Join(dir, DiceHistFile)); err != nil {
			return fmt.Errorf("report: Dice histogram: %w", err)
		}
		plots.dice = true
	}
	if len(in.TrainLog) > 0 {
		if err := plotTraining(in.TrainLog, filepath.Join(dir, TrainingFile)); err != nil {
			return fmt.Errorf("report: training curves: %w", err)
		}
		plots.training = true
	}
	var rows []exampleRow
	if len(in.Best) > 0 {
		rows = append(rows, exampleRow{"Best Dice", in.Best})
	}
	if len(in.Worst) > 0 {
		rows = append(rows, exampleRow{"Worst Dice", in.Worst})
	}
	if len(rows) > 0 {
		img, err := exampleGrid(rows, s.Classes)
		if err != nil {
			return err
		}
		if err := writePNG(img, filepath.Join(dir, ExamplesFile)); err != nil {
			return err
		}
		plots.examples = true
	}
	md := markdown(in, plots)
	if err := os.WriteFile(filepath.Join(dir, MarkdownFile), []byte(md), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

type plotFiles struct{ roc, confusion, dice, training, examples bool }

// num formats x with prec decimals, "n/a" when undefined.
func num(x float64, prec int) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	return strconv.FormatFloat(x, 'f', prec, 64)
}

// stat formats "mean ± std (median m)".
func stat(s metrics.Stat, prec int) string {
	if s.N == 0 {
		return "n/a"
	}
	out := num(s.Mean, prec)
	if !math.IsNaN(s.Std) {
		out += " ± " + num(s.Std, prec)
	}
	return out + " (median " + num(s.Median, prec) + ")"
}

func pct(x float64) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f%%", 100*x)
}

// SummaryText is the summary as aligned plain text, for a terminal, with
// the bootstrap intervals in brackets when ci is not nil.
func SummaryText(s metrics.Summary, ci *metrics.Intervals) string {
	if err := checkSummary(s); err != nil {
		return err.Error() + "\n"
	}
	var b strings.Builder
	row := func(k, v string) { fmt.Fprintf(&b, "%-34s %s\n", k, v) }
	row("images", strconv.Itoa(s.Images))
	iv := func(pick func(*metrics.Intervals) metrics.Interval) string { return interval(ci, pick) }
	row("accuracy", num(s.Accuracy, 4)+iv(func(c *metrics.Intervals) metrics.Interval { return c.Accuracy }))
	row("balanced accuracy", num(s.BalancedAccuracy, 4)+iv(func(c *metrics.Intervals) metrics.Interval { return c.BalancedAccuracy }))
	row("macro AUC (one vs rest)", num(s.MacroAUC, 4)+iv(func(c *metrics.Intervals) metrics.Interval { return c.MacroAUC }))
	row(fmt.Sprintf("Dice, lesion images (n=%d)", s.Dice.N), stat(s.Dice, 4)+iv(func(c *metrics.Intervals) metrics.Interval { return c.MeanDice }))
	row("IoU, lesion images", stat(s.IoU, 4))
	row("HD95 px, lesion images", stat(s.HD95Px, 2))
	if s.HD95MM.N > 0 {
		row(fmt.Sprintf("HD95 mm (n=%d)", s.HD95MM.N), stat(s.HD95MM, 2))
	}
	row("lesions with empty prediction", fmt.Sprintf("%d of %d", s.MissedLesions, s.LesionImages))
	row(fmt.Sprintf("normal images (n=%d): FP area", s.NormalImages),
		fmt.Sprintf("mean %s, median %s, max %s", pct(s.NormalFPArea.Mean), pct(s.NormalFPArea.Median), pct(s.NormalFPArea.Max)))
	row("normal images with any FP pixel", fmt.Sprintf("%d of %d", s.NormalWithFalsePixels, s.NormalImages))
	fmt.Fprintf(&b, "\n%-12s %7s %11s %11s %7s  %s\n", "class", "support", "sensitivity", "specificity", "AUC", "Dice")
	for k, name := range s.Classes {
		fmt.Fprintf(&b, "%-12s %7d %11s %11s %7s  %s\n", name, s.Support[k], num(s.Sensitivity[k], 4),
			num(s.Specificity[k], 4), num(s.ROC[k].AUC, 4), stat(s.DiceByClass[k], 4))
	}
	if ci != nil {
		fmt.Fprintf(&b, "\n[brackets]: 95%% bootstrap confidence interval (%d resamples of the images)\n", ci.Resamples)
	}
	return b.String()
}

// interval formats " [lo, hi]" of the interval pick selects, or "" when
// there are no intervals or this one is undefined.
func interval(ci *metrics.Intervals, pick func(*metrics.Intervals) metrics.Interval) string {
	if ci == nil {
		return ""
	}
	iv := pick(ci)
	if math.IsNaN(iv.Lo) || math.IsNaN(iv.Hi) {
		return ""
	}
	return fmt.Sprintf(" [%s, %s]", num(iv.Lo, 4), num(iv.Hi, 4))
}

func markdown(in Input, plots plotFiles) string {
	s := in.Summary
	var b strings.Builder
	title := in.Title
	if title == "" {
		title = "busam evaluation"
	}
	fmt.Fprintf(&b, "# %s\n\n", title)
	for _, n := range in.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	if len(in.Notes) > 0 {
		b.WriteString("\n")
	}

	b.WriteString("## Summary\n\n| metric | value |\n|---|---|\n")
	row := func(k, v string) { fmt.Fprintf(&b, "| %s | %s |\n", k, v) }
	ci := func(pick func(*metrics.Intervals) metrics.Interval) string { return interval(in.CI, pick) }
	row("images", strconv.Itoa(s.Images))
	row("accuracy", num(s.Accuracy, 4)+ci(func(c *metrics.Intervals) metrics.Interval { return c.Accuracy }))
	row("balanced accuracy (mean sensitivity)",
		num(s.BalancedAccuracy, 4)+ci(func(c *metrics.Intervals) metrics.Interval { return c.BalancedAccuracy }))
	row("macro AUC (one vs rest)", num(s.MacroAUC, 4)+ci(func(c *metrics.Intervals) metrics.Interval { return c.MacroAUC }))
	row(fmt.Sprintf("Dice, lesion images (n=%d), mean ± sd (median)", s.Dice.N),
		stat(s.Dice, 4)+ci(func(c *metrics.Intervals) metrics.Interval { return c.MeanDice }))
	row("IoU, lesion images", stat(s.IoU, 4))
	row("HD95 in pixels, lesion images", stat(s.HD95Px, 2))
	if s.HD95MM.N > 0 {
		row(fmt.Sprintf("HD95 in mm (n=%d with known spacing)", s.HD95MM.N), stat(s.HD95MM, 2))
	} else {
		row("HD95 in mm", "n/a (no pixel spacing in these images)")
	}
	row("lesion images with an empty prediction", fmt.Sprintf("%d of %d", s.MissedLesions, s.LesionImages))
	row(fmt.Sprintf("normal images (n=%d): false-positive area, mean (median, max)", s.NormalImages),
		fmt.Sprintf("%s (%s, %s)", pct(s.NormalFPArea.Mean), pct(s.NormalFPArea.Median), pct(s.NormalFPArea.Max)))
	row("normal images with any false-positive pixel", fmt.Sprintf("%d of %d", s.NormalWithFalsePixels, s.NormalImages))
	b.WriteString("\nDice, IoU and HD95 are over images with a non-empty ground-truth mask. HD95 is the symmetric " +
		"95th-percentile boundary distance; an empty prediction on a lesion image scores the image diagonal.\n")
	if in.CI != nil {
		fmt.Fprintf(&b, "Brackets: 95%% percentile-bootstrap confidence interval over images (%d resamples; for Dice, of the mean).\n",
			in.CI.Resamples)
	}

	b.WriteString("\n## Per class\n\n| class | support | sensitivity | specificity | AUC (one vs rest) | Dice, mean ± sd (median) |\n|---|---|---|---|---|---|\n")
	for k, name := range s.Classes {
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s |\n", name, s.Support[k], num(s.Sensitivity[k], 4),
			num(s.Specificity[k], 4), num(s.ROC[k].AUC, 4), stat(s.DiceByClass[k], 4))
	}

	b.WriteString("\n## Confusion matrix\n\nRows: true class; columns: predicted class.\n\n| true \\ predicted |")
	for _, name := range s.Classes {
		fmt.Fprintf(&b, " %s |", name)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(s.Classes)) + "\n")
	for t, name := range s.Classes {
		fmt.Fprintf(&b, "| **%s** |", name)
		for p := range s.Classes {
			fmt.Fprintf(&b, " %d |", s.Confusion.Counts[t][p])
		}
		b.WriteString("\n")
	}

	b.WriteString("\n## Plots\n\n")
	img := func(ok bool, alt, file string) {
		if ok {
			fmt.Fprintf(&b, "### %s\n\n![%s](%s)\n\n", alt, alt, file)
		}
	}
	img(plots.confusion, "Confusion matrix", ConfusionFile)
	img(plots.roc, "ROC curves", ROCFile)
	img(plots.dice, "Dice histogram", DiceHistFile)
	img(plots.training, "Training curves", TrainingFile)
	img(plots.examples, "Best and worst Dice examples", ExamplesFile)
	if !plots.training {
		b.WriteString("No training log (train_log.json) was found next to the weights.\n\n")
	}
	fmt.Fprintf(&b, "## Per image\n\n[%s](%s): one row per image. The numbers above are also in [%s](%s).\n",
		PerImageFile, PerImageFile, SummaryFile, SummaryFile)
	return b.String()
}

// writeCSV writes one row per record; undefined values are empty cells.
func writeCSV(path string, classes []string, recs []metrics.Record) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	w := csv.NewWriter(f)
	header := []string{"image", "true", "pred"}
	for _, c := range classes {
		header = append(header, "p_"+c)
	}
	header = append(header, "has_lesion", "dice", "iou", "hd95_px", "hd95_mm", "pred_area", "truth_area")
	w.Write(header)
	cell := func(x float64) string {
		if math.IsNaN(x) {
			return ""
		}
		return strconv.FormatFloat(x, 'g', 6, 64)
	}
	name := func(k int) string {
		if k >= 0 && k < len(classes) {
			return classes[k]
		}
		return strconv.Itoa(k)
	}
	for _, r := range recs {
		row := []string{r.ID, name(r.TrueClass), name(r.PredClass)}
		for k := range classes {
			p := math.NaN()
			if k < len(r.Probs) {
				p = r.Probs[k]
			}
			row = append(row, cell(p))
		}
		row = append(row, strconv.FormatBool(r.HasLesion), cell(r.Dice), cell(r.IoU), cell(r.HD95Px),
			cell(r.HD95MM), cell(r.PredArea), cell(r.TruthArea))
		w.Write(row)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return fmt.Errorf("report: writing %s: %w", path, err)
	}
	return f.Close()
}

// writeSummaryJSON writes the headline numbers for scripts (undefined
// values are null; JSON has no NaN).
func writeSummaryJSON(path string, s metrics.Summary, ci *metrics.Intervals) error {
	v := func(x float64) any {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
		return x
	}
	st := func(x metrics.Stat) map[string]any {
		return map[string]any{"n": x.N, "mean": v(x.Mean), "std": v(x.Std), "median": v(x.Median), "min": v(x.Min), "max": v(x.Max)}
	}
	perClass := []map[string]any{}
	for k, name := range s.Classes {
		perClass = append(perClass, map[string]any{
			"class": name, "support": s.Support[k], "sensitivity": v(s.Sensitivity[k]),
			"specificity": v(s.Specificity[k]), "auc": v(s.ROC[k].AUC), "dice": st(s.DiceByClass[k]),
		})
	}
	out := map[string]any{
		"images": s.Images, "accuracy": v(s.Accuracy), "balanced_accuracy": v(s.BalancedAccuracy),
		"macro_auc": v(s.MacroAUC), "confusion": s.Confusion.Counts, "per_class": perClass,
		"lesion_images": s.LesionImages, "dice": st(s.Dice), "iou": st(s.IoU),
		"hd95_px": st(s.HD95Px), "hd95_mm": st(s.HD95MM), "missed_lesions": s.MissedLesions,
		"normal_images": s.NormalImages, "normal_fp_area": st(s.NormalFPArea),
		"normal_with_false_pixels": s.NormalWithFalsePixels,
	}
	if ci != nil {
		iv := func(x metrics.Interval) []any { return []any{v(x.Lo), v(x.Hi)} }
		out["ci95"] = map[string]any{"resamples": ci.Resamples, "accuracy": iv(ci.Accuracy),
			"balanced_accuracy": iv(ci.BalancedAccuracy), "macro_auc": iv(ci.MacroAUC), "mean_dice": iv(ci.MeanDice)}
	}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("report: %s: %w", path, err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}
