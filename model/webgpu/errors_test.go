package webgpu

import (
	"testing"

	"github.com/busam/busam/model/cpu"
)

// TestBadInputsReturnErrors: wrong sizes, nil or released buffers and
// aliasing come back as errors, never as panics or device errors.
func TestBadInputsReturnErrors(t *testing.T) {
	d := testDevice(t)
	small := zeros(t, d, 4)
	big := zeros(t, d, 1000)
	released := zeros(t, d, 16)
	released.Release()
	q, err := d.UploadQWeight(make([]int8, 6), []float32{1, 1}, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	conv := cpu.ConvParams{InC: 2, InH: 5, InW: 5, OutC: 4, KH: 3, KW: 3, Stride: 1, Pad: 1}
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"gemm A too small", func() error { return d.Gemm(false, false, 8, 8, 8, 1, small, 8, big, 8, 0, big, 8) }},
		{"gemm negative size", func() error { return d.Gemm(false, false, -1, 8, 8, 1, big, 8, big, 8, 0, big, 8) }},
		{"gemm lda < k", func() error { return d.Gemm(false, false, 4, 4, 8, 1, big, 4, big, 8, 0, big, 8) }},
		{"gemm nil C", func() error { return d.Gemm(false, false, 2, 2, 2, 1, big, 2, big, 2, 0, nil, 2) }},
		{"gemm released B", func() error { return d.Gemm(false, false, 2, 2, 2, 1, big, 2, released, 2, 0, big, 2) }},
		{"gemm C aliases A", func() error { return d.Gemm(false, false, 2, 2, 2, 1, big, 2, small, 2, 0, big, 2) }},
		{"linear zero rows", func() error { return d.Linear(big, big, big, 0, 2, 2, Epilogue{}) }},
		{"linear bias too small", func() error { return d.Linear(big, big, big, 2, 2, 8, Epilogue{Bias: zeros(t, d, 3)}) }},
		{"linear_q8 nil weight", func() error { return d.LinearQ8(big, big, nil, 2, Epilogue{}) }},
		{"linear_q8 x too small", func() error { return d.LinearQ8(big, small, q, 2, Epilogue{}) }},
		{"int8 weight scale count", func() error { _, err := d.UploadQWeight(make([]int8, 6), []float32{1}, 2, 3); return err }},
		{"conv src too small", func() error { return d.Conv2D(big, small, big, nil, conv) }},
		{"conv zero stride", func() error { p := conv; p.Stride = 0; return d.Conv2D(big, big, big, nil, p) }},
		{"conv groups do not divide", func() error { p := conv; p.Groups = 3; return d.Conv2D(big, big, big, nil, p) }},
		{"conv empty output", func() error { p := conv; p.Pad = 0; p.KH = 9; return d.Conv2D(big, big, big, nil, p) }},
		{"layernorm gamma without beta", func() error { return d.LayerNorm(big, zeros(t, d, 8), small, nil, 2, 4, 1e-5) }},
		{"layernorm dst is src", func() error { return d.LayerNorm(big, big, nil, nil, 2, 4, 1e-5) }},
		{"softmax bias without rows", func() error { return d.SoftmaxBias(big, 2, 2, 1, small, 0) }},
		{"softmax x too small", func() error { return d.Softmax(small, 3, 3) }},
		{"window partition dst too small", func() error { return d.WindowPartition(small, big, 5, 5, 1, 7) }},
		{"window reverse zero window", func() error { return d.WindowReverse(big, zeros(t, d, 100), 5, 5, 1, 0, 0) }},
		{"attention qkv too small", func() error {
			return d.WindowAttention(big, small, nil, nil, Attention{Windows: 1, Tokens: 4, Heads: 1, KeyDim: 2, ValDim: 2})
		}},
		{"activation unknown", func() error { return d.Activate(big, zeros(t, d, 8), 8, Activation(9)) }},
		{"binary b too small", func() error { return d.Add(big, zeros(t, d, 8), small, 8) }},
		{"binary bad broadcast", func() error { return d.Binary(big, zeros(t, d, 8), small, 8, OpAdd, Broadcast{Len: -1}) }},
		{"transpose dst too small", func() error { return d.Transpose(small, big, 4, 4, 0) }},
		{"resize zero output", func() error { return d.ResizeBilinear(big, zeros(t, d, 8), 1, 2, 4, 0, 4) }},
		{"groupnorm groups do not divide", func() error { return d.GroupNorm(big, zeros(t, d, 30), small, small, 3, 2, 5, 2, 1e-5) }},
		{"avgpool block larger than map", func() error { return d.AvgPool(big, zeros(t, d, 9), 1, 3, 3, 4) }},
		{"maskweights dst without stats room", func() error { return d.MaskWeights(small, small, 4, 1) }},
		{"maskweights zero mask", func() error { return d.MaskWeights(big, small, 0, 1) }},
		{"maskpool weights too small", func() error { return d.MaskPool(big, big, small, 2, 8) }},
		{"maskpool dst aliases f", func() error { return d.MaskPool(big, big, zeros(t, d, 8), 2, 8) }},
		{"copy negative offset", func() error { return d.Copy(big, -1, zeros(t, d, 8), 0, 4) }},
		{"copy past src", func() error { return d.Copy(big, 0, small, 2, 4) }},
		{"upload shape mismatch", func() error { _, err := d.UploadFloats(make([]float32, 5), 2, 3); return err }},
		{"write too long", func() error { return d.Write(small, make([]float32, 5)) }},
		{"read released", func() error { _, err := d.Read(released); return err }},
		{"upload nil tensor", func() error { _, err := d.Upload(nil); return err }},
		{"buffer over the binding limit", func() error { _, err := d.NewBuffer(int(d.Limits().MaxStorageBufferBindingSize/4) + 1); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); err == nil {
				t.Error("no error")
			} else {
				t.Log(err)
			}
		})
	}
	// After all of that, the device still computes.
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	x := upload(t, d, []float32{1, 2, 3, 4})
	y := zeros(t, d, 4)
	if err := d.Add(y, x, x, 4); err != nil {
		t.Fatal(err)
	}
	check(t, "add after errors", read(t, d, y), []float32{2, 4, 6, 8}, 0)
}
