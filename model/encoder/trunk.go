package encoder

import (
	"crypto/sha256"
	"encoding/hex"
	"image"

	"github.com/busam/busam/model/tensor"
)

// ForwardTrunk encodes a normalized [3,H,W] image into the last stage's
// [EmbedDims[3], h, w] features: Forward without the neck.
func (e *Encoder) ForwardTrunk(x *tensor.Tensor) (*tensor.Tensor, error) {
	return e.onCPU(ForwardTrunk[[]float32], x)
}

// Neck turns trunk features [EmbedDims[3], h, w] into the embedding
// [NeckDim, h, w]; Neck(ForwardTrunk(x)) equals Forward(x).
func (e *Encoder) Neck(f *tensor.Tensor) (*tensor.Tensor, error) {
	return e.onCPU(ForwardNeck[[]float32], f)
}

// Trunk is the encoder without its neck, as a cacheable feature extractor:
// Embed returns the trunk features, and SHA256 is distinct from the whole
// encoder's so the two never share cache entries.
type Trunk struct{ *Encoder }

// Embed preprocesses img for SAM (longest side 1024) and returns its trunk
// features.
func (t Trunk) Embed(img image.Image) (*tensor.Tensor, Geometry, error) {
	return preprocessed(img, t.ForwardTrunk)
}

// SHA256 is sha256("trunk:" + the encoder's SHA256), hex, where overrides
// of the neck (NewIdentified) do not count: the trunk never runs them,
// so a fine-tuned neck reuses the trunk features cached for the original.
func (t Trunk) SHA256() string {
	if t.trunkSHA != "" {
		return t.trunkSHA
	}
	return trunkSHA256(t.Encoder.SHA256())
}

func trunkSHA256(encoderSHA string) string {
	s := sha256.Sum256([]byte("trunk:" + encoderSHA))
	return hex.EncodeToString(s[:])
}
