package cpu

// ConvParams describes a 2-D convolution over a CHW input (batch 1), with
// PyTorch semantics: weight is [OutC, InC/Groups, KH, KW], symmetric zero
// padding, equal stride in both directions.
type ConvParams struct {
	InC, InH, InW int
	OutC          int
	KH, KW        int
	Stride, Pad   int
	Groups        int
}

// OutSize returns the output height and width.
func (p ConvParams) OutSize() (int, int) {
	return (p.InH+2*p.Pad-p.KH)/p.Stride + 1, (p.InW+2*p.Pad-p.KW)/p.Stride + 1
}
