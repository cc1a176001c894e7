package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/busam/busam/metrics"
)

func TestContextsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ContextFile)
	recs := []metrics.Record{{ID: "a/1"}, {ID: "b,2"}}
	ctx := [][]float32{{1.5, -2, 3e-7}, {0, 1, 2}}
	if err := writeContexts(path, recs, ctx); err != nil {
		t.Fatal(err)
	}
	ids, back, err := ReadContexts(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[1] != "b,2" || back[0][0] != 1.5 || float32(back[0][2]) != 3e-7 || back[1][2] != 2 {
		t.Errorf("read back %v %v", ids, back)
	}
	if err := writeContexts(path, recs, ctx[:1]); err == nil {
		t.Error("one context for two records was written")
	}
	for name, body := range map[string]string{
		"ragged.csv": "a,1,2\nb,1\n",
		"nan.csv":    "a,1,NaN\n",
		"text.csv":   "a,1,x\n",
		"empty.csv":  "",
		"short.csv":  "a\n",
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		if _, _, err := ReadContexts(p); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
