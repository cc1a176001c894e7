package report

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/busam/busam/metrics"
)

// ReadPerImage reads a per_image.csv written by Write back into records
// (for calibration and breakdowns after an eval). Missing numbers read as
// NaN; a malformed file is an error naming the file and line.
func ReadPerImage(path string) (classes []string, recs []metrics.Record, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("report: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	header, err := r.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("report: %s: header: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
		if c, ok := strings.CutPrefix(h, "p_"); ok {
			classes = append(classes, c)
		}
	}
	for _, need := range []string{"image", "true", "pred", "has_lesion", "dice"} {
		if _, ok := col[need]; !ok {
			return nil, nil, fmt.Errorf("report: %s: no %q column: not a per-image table of busam eval", path, need)
		}
	}
	if len(classes) < 2 {
		return nil, nil, fmt.Errorf("report: %s: %d probability columns (p_<class>), want at least 2", path, len(classes))
	}
	index := func(name string) int {
		for k, c := range classes {
			if c == name {
				return k
			}
		}
		return -1
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			return nil, nil, fmt.Errorf("report: %s:%d: %w", path, line, err)
		}
		num := func(name string) (float64, error) {
			s := rec[col[name]]
			if s == "" {
				return math.NaN(), nil
			}
			return strconv.ParseFloat(s, 64)
		}
		m := metrics.Record{ID: rec[col["image"]], TrueClass: index(rec[col["true"]]), PredClass: index(rec[col["pred"]])}
		if m.TrueClass < 0 || m.PredClass < 0 {
			return nil, nil, fmt.Errorf("report: %s:%d: class %q or %q is not one of %v", path, line, rec[col["true"]], rec[col["pred"]], classes)
		}
		for _, c := range classes {
			p, err := num("p_" + c)
			if err != nil {
				return nil, nil, fmt.Errorf("report: %s:%d: p_%s: %w", path, line, c, err)
			}
			m.Probs = append(m.Probs, p)
		}
		if m.HasLesion, err = strconv.ParseBool(rec[col["has_lesion"]]); err != nil {
			return nil, nil, fmt.Errorf("report: %s:%d: has_lesion: %w", path, line, err)
		}
		for _, v := range []struct {
			name string
			dst  *float64
		}{{"dice", &m.Dice}, {"iou", &m.IoU}, {"hd95_px", &m.HD95Px}, {"hd95_mm", &m.HD95MM}, {"pred_area", &m.PredArea}, {"truth_area", &m.TruthArea}} {
			*v.dst = math.NaN()
			if _, ok := col[v.name]; !ok {
				continue
			}
			if *v.dst, err = num(v.name); err != nil {
				return nil, nil, fmt.Errorf("report: %s:%d: %s: %w", path, line, v.name, err)
			}
		}
		recs = append(recs, m)
	}
	if len(recs) == 0 {
		return nil, nil, fmt.Errorf("report: %s: no rows", path)
	}
	return classes, recs, nil
}
