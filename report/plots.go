package report

import (
	"fmt"
	"image/color"
	"math"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/brewer"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/busam/busam/metrics"
)

// dpi of every plot: 144 keeps 10-pt text readable on a laptop screen.
const dpi = 144

// saveCanvas writes a drawn canvas as a PNG file.
func saveCanvas(c *vgimg.Canvas, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("report: writing %s: %w", path, err)
	}
	return f.Close()
}

func savePlot(p *plot.Plot, w, h vg.Length, path string) error {
	c := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(dpi))
	p.Draw(draw.New(c))
	return saveCanvas(c, path)
}

// finiteXYs drops the points with a NaN or infinite coordinate, which
// plotter refuses (a training log may lack validation on some epochs).
func finiteXYs(xs, ys []float64) plotter.XYs {
	var out plotter.XYs
	for i := range xs {
		if isFinite(xs[i]) && isFinite(ys[i]) {
			out = append(out, plotter.XY{X: xs[i], Y: ys[i]})
		}
	}
	return out
}

func isFinite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// classColor gives each class the same colour in every plot.
func classColor(k int) color.Color { return plotutil.Color(k) }

// plotROC draws the one-vs-rest ROC curve of every class with a defined AUC,
// the chance diagonal, and the macro AUC in the title and legend.
func plotROC(s metrics.Summary, path string) error {
	p := plot.New()
	p.Title.Text = "ROC, one class vs rest"
	p.X.Label.Text = "false positive rate (1 - specificity)"
	p.Y.Label.Text = "true positive rate (sensitivity)"
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	p.Add(plotter.NewGrid())
	chance, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
	if err != nil {
		return err
	}
	chance.Color = color.Gray{Y: 160}
	chance.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
	p.Add(chance)
	for k, c := range s.ROC {
		if len(c.Points) == 0 {
			continue
		}
		xys := make(plotter.XYs, len(c.Points))
		for i, pt := range c.Points {
			xys[i] = plotter.XY{X: pt.FPR, Y: pt.TPR}
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return err
		}
		l.Color = classColor(k)
		l.Width = vg.Points(2)
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s (AUC %.3f, n=%d)", s.Classes[k], c.AUC, c.Positives), l)
	}
	p.Legend.Add(fmt.Sprintf("macro AUC %s", num(s.MacroAUC, 3)))
	p.Legend.Top, p.Legend.Left = false, false
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(6), vg.Points(6)
	return savePlot(p, 5.5*vg.Inch, 5*vg.Inch, path)
}

// confusionGrid is the confusion matrix as a heat map: column = predicted
// class, row = true class with class 0 at the top, value = fraction of the
// true class (so the colour reads as per-class recall).
type confusionGrid struct{ counts [][]int }

func (g confusionGrid) Dims() (c, r int)   { return len(g.counts), len(g.counts) }
func (g confusionGrid) X(c int) float64    { return float64(c) }
func (g confusionGrid) Y(r int) float64    { return float64(r) }
func (g confusionGrid) row(r int) []int    { return g.counts[len(g.counts)-1-r] }
func (g confusionGrid) Z(c, r int) float64 { return rowFraction(g.row(r), c) }

func rowFraction(row []int, c int) float64 {
	n := 0
	for _, v := range row {
		n += v
	}
	if n == 0 {
		return 0
	}
	return float64(row[c]) / float64(n)
}

// plotConfusion draws the confusion matrix with the count and the row
// percentage in each cell.
func plotConfusion(s metrics.Summary, path string) error {
	k := len(s.Classes)
	if k == 0 {
		return fmt.Errorf("report: confusion matrix without classes")
	}
	pal, err := brewer.GetPalette(brewer.TypeSequential, "Blues", 9)
	if err != nil {
		return err
	}
	g := confusionGrid{s.Confusion.Counts}
	hm := plotter.NewHeatMap(g, pal)
	hm.Min, hm.Max = 0, 1
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Confusion matrix (n=%d, accuracy %s)", s.Images, num(s.Accuracy, 3))
	p.X.Label.Text = "predicted"
	p.Y.Label.Text = "true"
	p.Add(hm)
	var labels plotter.XYLabels
	var styles []text.Style
	for r := 0; r < k; r++ {
		row := g.row(r)
		for c := 0; c < k; c++ {
			frac := rowFraction(row, c)
			labels.XYs = append(labels.XYs, plotter.XY{X: float64(c), Y: float64(r)})
			labels.Labels = append(labels.Labels, fmt.Sprintf("%d\n%.0f%%", row[c], 100*frac))
			st := text.Style{Color: color.Black, XAlign: draw.XCenter, YAlign: draw.YCenter,
				Font: plot.DefaultFont, Handler: p.Title.TextStyle.Handler}
			st.Font.Size = vg.Points(14)
			if frac > 0.55 { // dark cell
				st.Color = color.White
			}
			styles = append(styles, st)
		}
	}
	lab, err := plotter.NewLabels(labels)
	if err != nil {
		return err
	}
	lab.TextStyle = styles
	p.Add(lab)
	names := make([]string, k)
	rev := make([]string, k)
	for i, n := range s.Classes {
		names[i], rev[k-1-i] = n, n
	}
	p.NominalX(names...)
	p.NominalY(rev...)
	p.X.Padding, p.Y.Padding = 0, 0
	return savePlot(p, 5*vg.Inch, 4.5*vg.Inch, path)
}

// plotDiceHistogram draws the Dice distribution over lesion images in
// 20 bins on [0, 1], one translucent histogram per true class.
func plotDiceHistogram(s metrics.Summary, recs []metrics.Record, path string) error {
	const bins = 20
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Dice on lesion images (n=%d, mean %s, median %s)",
		s.Dice.N, num(s.Dice.Mean, 3), num(s.Dice.Median, 3))
	p.X.Label.Text = "Dice"
	p.Y.Label.Text = "images"
	p.X.Min, p.X.Max = 0, 1
	p.Add(plotter.NewGrid())
	highest := 0.0
	for k := range s.Classes {
		counts := make([]float64, bins)
		n := 0
		for _, r := range recs {
			if !r.HasLesion || r.TrueClass != k || !isFinite(r.Dice) {
				continue
			}
			b := int(r.Dice * bins)
			b = min(max(b, 0), bins-1) // Dice 1 goes in the last bin
			counts[b]++
			n++
		}
		if n == 0 {
			continue
		}
		for _, c := range counts {
			highest = max(highest, c)
		}
		h := &plotter.Histogram{Width: 1.0 / bins, LineStyle: plotter.DefaultLineStyle}
		for b, c := range counts {
			h.Bins = append(h.Bins, plotter.HistogramBin{Min: float64(b) / bins, Max: float64(b+1) / bins, Weight: c})
		}
		r, g, b, _ := classColor(k).RGBA()
		h.FillColor = color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: 140}
		h.LineStyle.Color = classColor(k)
		p.Add(h)
		p.Legend.Add(fmt.Sprintf("%s (n=%d)", s.Classes[k], n), h)
	}
	p.Y.Min, p.Y.Max = 0, math.Ceil(highest*1.3) // headroom for the legend
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs = vg.Points(6)
	return savePlot(p, 6*vg.Inch, 4*vg.Inch, path)
}

// plotTraining draws three panels from the training log: losses, validation
// Dice and (balanced) accuracy, and the learning rate. Series absent from
// the log are left out.
func plotTraining(log []Epoch, path string) error {
	if len(log) == 0 {
		return fmt.Errorf("report: empty training log")
	}
	series := func(get func(Epoch) float64) plotter.XYs {
		xs, ys := make([]float64, len(log)), make([]float64, len(log))
		for i, e := range log {
			xs[i], ys[i] = float64(e.Epoch), get(e)
		}
		return finiteXYs(xs, ys)
	}
	panel := func(title, ylabel string, lines ...any) (*plot.Plot, error) {
		p := plot.New()
		p.Title.Text = title
		p.X.Label.Text = "epoch"
		p.Y.Label.Text = ylabel
		p.Add(plotter.NewGrid())
		for i := 0; i+1 < len(lines); i += 2 {
			xys := lines[i+1].(plotter.XYs)
			if len(xys) == 0 {
				continue
			}
			l, pts, err := plotter.NewLinePoints(xys)
			if err != nil {
				return nil, err
			}
			c := plotutil.Color(i / 2)
			l.Color, pts.Color = c, c
			pts.Radius = vg.Points(1.5)
			l.Width = vg.Points(1.5)
			p.Add(l, pts)
			p.Legend.Add(lines[i].(string), l)
		}
		p.Legend.Top = true
		return p, nil
	}
	loss, err := panel("Loss", "loss",
		"train", series(func(e Epoch) float64 { return e.TrainLoss }),
		"validation", series(func(e Epoch) float64 { return e.ValLoss }))
	if err != nil {
		return err
	}
	quality, err := panel("Validation", "score",
		"Dice", series(func(e Epoch) float64 { return e.ValDice }),
		"accuracy", series(func(e Epoch) float64 { return e.ValAcc }),
		"balanced accuracy", series(func(e Epoch) float64 { return e.ValBalAcc }))
	if err != nil {
		return err
	}
	quality.Legend.Top = false
	quality.Legend.Left = false
	lrXY := series(func(e Epoch) float64 { return e.LR })
	lr, err := panel("Learning rate", "lr", "lr", lrXY)
	if err != nil {
		return err
	}
	lr.Legend = plot.NewLegend() // one line needs no legend

	w, h := 13*vg.Inch, 4*vg.Inch
	c := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(dpi))
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: 1, Cols: 3, PadX: vg.Points(20), PadTop: vg.Points(6), PadBottom: vg.Points(6),
		PadLeft: vg.Points(6), PadRight: vg.Points(12)}
	plots := [][]*plot.Plot{{loss, quality, lr}}
	canvases := plot.Align(plots, tiles, dc)
	for i, p := range plots[0] {
		p.Draw(canvases[0][i])
	}
	return saveCanvas(c, path)
}
