// Package label names the classes the model predicts (normal, benign,
// malignant). It sits below the model and the dataset code, so that the
// inference pipeline need not import the dataset importers.
package label

import (
	"fmt"
	"strings"
)

// Label is the diagnosis class of an image; its value is the classifier's
// output index.
type Label int

// The classes, in classifier output order.
const (
	Normal Label = iota
	Benign
	Malignant
)

// NumLabels is the number of classes the classifier predicts.
const NumLabels = 3

// AllLabels lists every class in output order.
var AllLabels = []Label{Normal, Benign, Malignant}

var labelNames = [NumLabels]string{"normal", "benign", "malignant"}

// String returns the lower-case class name ("normal", "benign", "malignant").
func (l Label) String() string {
	if l.Valid() {
		return labelNames[l]
	}
	return fmt.Sprintf("Label(%d)", int(l))
}

// Valid reports whether l is one of the three classes.
func (l Label) Valid() bool { return l >= 0 && int(l) < NumLabels }

// HasLesion reports whether images of this class must show a lesion.
func (l Label) HasLesion() bool { return l == Benign || l == Malignant }

// ParseLabel accepts a class name in any case, with surrounding spaces.
func ParseLabel(s string) (Label, error) {
	name := strings.ToLower(strings.TrimSpace(s))
	for i, n := range labelNames {
		if n == name {
			return Label(i), nil
		}
	}
	return 0, fmt.Errorf("unknown label %q (want normal, benign or malignant)", s)
}
