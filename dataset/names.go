package dataset

import "strings"

// IsImageExt reports whether a file extension (".png", any case) names an
// image format the project reads (imageio's).
func IsImageExt(ext string) bool { return imageExts[strings.ToLower(ext)] }

// IsMaskStem reports whether a file name without its extension is a BUSI
// mask's ("<image>_mask", "<image>_mask_K").
func IsMaskStem(stem string) bool { return maskName.MatchString(stem) }
