package dataset

import "github.com/busam/busam/model/label"

// Label is the diagnosis class of an image (model/label; kept here under
// its old name, as every importer and manifest uses it).
type Label = label.Label

// The classes, in classifier output order.
const (
	Normal    = label.Normal
	Benign    = label.Benign
	Malignant = label.Malignant
)

// NumLabels is the number of classes the classifier predicts.
const NumLabels = label.NumLabels

// AllLabels lists every class in output order.
var AllLabels = label.AllLabels

// ParseLabel accepts a class name in any case, with surrounding spaces.
func ParseLabel(s string) (Label, error) { return label.ParseLabel(s) }
