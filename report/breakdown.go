package report

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/busam/busam/metrics"
)

// Group is the headline numbers of one subgroup of an evaluation (one
// dataset, scanner or class).
type Group struct {
	Name    string
	N       int
	Lesions int
	Dice    float64 // mean Dice over lesion images (as the app shows them)
	// Accuracy is the share of images with the right class; NormalSens the
	// share of normal images called normal (NaN without normals).
	Accuracy, NormalSens float64
	// BenignVsMalignantAUC ranks lesion images by p(malignant) / (p(benign) +
	// p(malignant)); NaN unless both classes are present.
	BenignVsMalignantAUC float64
	// LesionCalledNormal counts lesion images called normal (their mask
	// cleared).
	LesionCalledNormal int
}

// Breakdown splits recs by key (records whose key is empty are skipped)
// and measures each group; classes names the probability columns (it must
// hold "normal", "benign" and "malignant"). Groups come sorted by name.
func Breakdown(classes []string, recs []metrics.Record, key func(metrics.Record) string) ([]Group, error) {
	idx := map[string]int{}
	for k, c := range classes {
		idx[c] = k
	}
	for _, need := range []string{"normal", "benign", "malignant"} {
		if _, ok := idx[need]; !ok {
			return nil, fmt.Errorf("report: breakdown needs the class %q, have %v", need, classes)
		}
	}
	nrm, ben, mal := idx["normal"], idx["benign"], idx["malignant"]
	by := map[string][]metrics.Record{}
	for _, r := range recs {
		if k := key(r); k != "" {
			by[k] = append(by[k], r)
		}
	}
	var out []Group
	for name, rs := range by {
		g := Group{Name: name, N: len(rs)}
		right, normals, normalRight := 0, 0, 0
		dice := 0.0
		var scores []float64
		var positive []bool
		for _, r := range rs {
			if r.PredClass == r.TrueClass {
				right++
			}
			if r.TrueClass == nrm {
				normals++
				if r.PredClass == nrm {
					normalRight++
				}
				continue
			}
			g.Lesions++
			if !math.IsNaN(r.Dice) {
				dice += r.Dice
			}
			if r.PredClass == nrm {
				g.LesionCalledNormal++
			}
			if s := r.Probs[ben] + r.Probs[mal]; s > 0 {
				scores = append(scores, r.Probs[mal]/s)
			} else {
				scores = append(scores, 0.5)
			}
			positive = append(positive, r.TrueClass == mal)
		}
		g.Accuracy = float64(right) / float64(len(rs))
		g.Dice, g.NormalSens, g.BenignVsMalignantAUC = math.NaN(), math.NaN(), math.NaN()
		if g.Lesions > 0 {
			g.Dice = dice / float64(g.Lesions)
		}
		if normals > 0 {
			g.NormalSens = float64(normalRight) / float64(normals)
		}
		if auc, err := metrics.AUC(scores, positive); err == nil {
			g.BenignVsMalignantAUC = auc
		}
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// BreakdownMarkdown renders groups as a Markdown table titled by what.
func BreakdownMarkdown(what string, groups []Group) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| %s | images | lesion images | Dice (lesion) | accuracy | normal called normal | benign-vs-malignant AUC | lesions called normal |\n", what)
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	f := func(x float64) string {
		if math.IsNaN(x) {
			return "-"
		}
		return fmt.Sprintf("%.3f", x)
	}
	for _, g := range groups {
		fmt.Fprintf(&b, "| %s | %d | %d | %s | %s | %s | %s | %d |\n", g.Name, g.N, g.Lesions, f(g.Dice), f(g.Accuracy),
			f(g.NormalSens), f(g.BenignVsMalignantAUC), g.LesionCalledNormal)
	}
	return b.String()
}
