package report

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"

	"github.com/busam/busam/metrics"
)

// writeContexts writes one row per record: its image ID, then its context
// features (the folder is made atomically by Write).
func writeContexts(path string, recs []metrics.Record, ctx [][]float32) error {
	if len(ctx) != len(recs) {
		return fmt.Errorf("report: %d contexts for %d records", len(ctx), len(recs))
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	w := csv.NewWriter(f)
	for i, r := range recs {
		row := make([]string, 1, 1+len(ctx[i]))
		row[0] = r.ID
		for _, v := range ctx[i] {
			row = append(row, strconv.FormatFloat(float64(v), 'g', -1, 32))
		}
		w.Write(row)
	}
	w.Flush()
	if err := errors.Join(w.Error(), f.Close()); err != nil {
		return fmt.Errorf("report: %s: %w", path, err)
	}
	return nil
}

// ReadContexts reads a context.csv back: the image IDs and their feature
// vectors, all of one length; a malformed file is an error naming the file
// and line.
func ReadContexts(path string) (ids []string, ctx [][]float64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("report: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = 0 // every row as long as the first
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			return nil, nil, fmt.Errorf("report: %s:%d: %w", path, line, err)
		}
		if len(row) < 2 {
			return nil, nil, fmt.Errorf("report: %s:%d: no features", path, line)
		}
		v := make([]float64, len(row)-1)
		for j, s := range row[1:] {
			if v[j], err = strconv.ParseFloat(s, 64); err != nil || math.IsNaN(v[j]) || math.IsInf(v[j], 0) {
				return nil, nil, fmt.Errorf("report: %s:%d: feature %d is %q, not a finite number", path, line, j, s)
			}
		}
		ids, ctx = append(ids, row[0]), append(ctx, v)
	}
	if len(ids) == 0 {
		return nil, nil, fmt.Errorf("report: %s: no rows", path)
	}
	return ids, ctx, nil
}
