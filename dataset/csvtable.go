package dataset

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// readTable reads the CSV table at path row by row, for the manifest and
// BUS-BRA readers: the header must have every column of need (names
// compared as ColumnName; header lists what a complete header looks like,
// for the message). Each row goes to row with its "file:line" and a field
// lookup (trimmed; "" for a missing column). A row of the wrong length is
// reported and the others still read, so one run reports every problem.
func readTable(path, what string, need, header []string, row func(where string, field func(name string) string)) problems {
	var probs problems
	f, err := os.Open(path)
	if err != nil {
		probs.add("%v", err)
		return probs
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.TrimLeadingSpace = true
	head, err := r.Read()
	if errors.Is(err, io.EOF) {
		probs.add("%s: empty %s (want a header line %s)", path, what, strings.Join(header, ","))
		return probs
	}
	if err != nil {
		probs.add("%s: %v", path, err)
		return probs
	}
	col := map[string]int{}
	for i, h := range head {
		name := ColumnName(h)
		if _, dup := col[name]; dup {
			probs.add("%s: column %q appears twice in the header", path, name)
		}
		col[name] = i
	}
	for _, n := range need {
		if _, ok := col[ColumnName(n)]; !ok {
			probs.add("%s: header %q lacks the %q column (want %s)", path, strings.Join(head, ","), n, strings.Join(header, ","))
		}
	}
	if len(probs) > 0 {
		return probs
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			probs.add("%s: %v", path, err)
			var pe *csv.ParseError
			if errors.As(err, &pe) && pe.Err == csv.ErrFieldCount {
				continue // the row is reported; keep checking the others
			}
			break
		}
		line, _ := r.FieldPos(0)
		row(fmt.Sprintf("%s:%d", path, line), func(name string) string {
			if i, ok := col[ColumnName(name)]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		})
	}
	return probs
}
