package view

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
)

// The mask PNG export is encoded by the model worker
// (wasm/engine.MaskPNG): the page's module has no PNG codec.

// Report is the exported result of one analysis (the JSON download).
type Report struct {
	Tool           string             `json:"tool"`
	Notice         string             `json:"notice"`
	File           string             `json:"file"`
	Format         string             `json:"format,omitempty"`
	Width          int                `json:"width"`
	Height         int                `json:"height"`
	Label          string             `json:"label"`
	Probabilities  map[string]float64 `json:"probabilities"`
	LesionAreaPx   int                `json:"lesionAreaPx"`
	LesionAreaMM2  *float64           `json:"lesionAreaMM2,omitempty"`
	PixelSpacingMM *[2]float64        `json:"pixelSpacingMM,omitempty"`
	Backend        string             `json:"backend"`
	MirrorImage    bool               `json:"mirrorImageAveraged"` // the mirror image was analysed too (test-time flip)
	TimingsMS      map[string]float64 `json:"timingsMs"`
	GroundTruth    *TruthReport       `json:"groundTruth,omitempty"`

	// Certainty is the page's sentence on how far to trust the class.
	Certainty string `json:"certainty,omitempty"`
	// ModelVersion names the model files (role and SHA-256 prefix).
	ModelVersion string `json:"modelVersion,omitempty"`
	// SpacingSource says where PixelSpacingMM comes from: "file" (DICOM)
	// or "calibration" (a line of known length drawn by the user).
	SpacingSource string   `json:"pixelSpacingSource,omitempty"`
	LongAxis      *Length  `json:"longAxis,omitempty"`
	ShortAxis     *Length  `json:"shortAxis,omitempty"`
	Calipers      []Length `json:"calipers,omitempty"`
}

// Length is a measured segment: its ends in image pixels (x, y), its
// length in pixels and, with a known spacing, in mm.
type Length struct {
	From [2]float64 `json:"from"`
	To   [2]float64 `json:"to"`
	Px   float64    `json:"px"`
	MM   *float64   `json:"mm,omitempty"`
}

// LengthOf describes s in the spacing sp (mm omitted when unknown).
func LengthOf(s Segment, sp Spacing) Length {
	l := Length{From: [2]float64{s.A.X, s.A.Y}, To: [2]float64{s.B.X, s.B.Y}, Px: s.LengthPx()}
	if mm, ok := s.LengthMM(sp); ok {
		l.MM = &mm
	}
	return l
}

// TruthReport compares the mask with a ground truth loaded in teaching mode.
type TruthReport struct {
	File string  `json:"file"`
	Dice float64 `json:"dice"`
	TP   int     `json:"truePositivePx"`
	FP   int     `json:"falsePositivePx"`
	FN   int     `json:"falseNegativePx"`
}

// Notice is the statement every export carries.
const Notice = "Research and teaching tool, not a diagnostic device. Computed in the browser; the image was not uploaded."

// JSON encodes the report, indented for people to read.
func (r Report) JSON() ([]byte, error) {
	if r.Notice == "" {
		r.Notice = Notice
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("view: encoding the report: %w", err)
	}
	return append(b, '\n'), nil
}

// ExportName derives a download name from the analysed file's name:
// "benign (1).png" + "_mask.png" -> "benign (1)_mask.png". Path parts and
// characters that file systems refuse are dropped.
func ExportName(file, suffix string) string {
	base := path.Base(strings.ReplaceAll(file, "\\", "/"))
	base = strings.TrimSuffix(base, path.Ext(base))
	base = strings.Map(func(r rune) rune {
		if r < 32 || strings.ContainsRune(`<>:"/\|?*`, r) {
			return '_'
		}
		return r
	}, base)
	if base == "" || base == "." || base == ".." {
		base = "busam"
	}
	return base + suffix
}
