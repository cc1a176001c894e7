package dataset

import "strings"

// IsImageExt reports whether a file extension (".png", any case) names an
// image format the project reads (imageio's).
func IsImageExt(ext string) bool { return imageExts[strings.ToLower(ext)] }

// IsMaskStem reports whether a file name without its extension is a BUSI
// mask's ("<image>_mask", "<image>_mask_K").
func IsMaskStem(stem string) bool { return maskName.MatchString(stem) }

// ColumnName is a CSV manifest header cell as a column name: without a
// byte-order mark and surrounding spaces, lower-case.
func ColumnName(h string) string {
	return strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
}
