package encoder_test

import (
	"fmt"

	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/tensor"
)

// A tiny encoder with random weights (the Tiny configuration has every
// module kind of MobileSAM's at a size that runs in milliseconds) turns a
// [3, 64, 64] image into a [NeckDim, 4, 4] embedding: 1/16 of the input.
func ExampleNewWithConfig() {
	params, err := encoder.RandomParams(encoder.Tiny, 1)
	if err != nil {
		panic(err)
	}
	enc, err := encoder.NewWithConfig(encoder.Tiny, params)
	if err != nil {
		panic(err)
	}
	x := tensor.New(3, 64, 64)
	for i := range x.Data {
		x.Data[i] = float32(i%7) / 7
	}
	emb, err := enc.Forward(x)
	if err != nil {
		panic(err)
	}
	h, w := enc.OutputSize(64, 64)
	fmt.Println(emb.Shape, h, w)
	// Output: [12 4 4] 4 4
}

// ForwardTrunk and Neck split Forward at the neck: the trunk features can
// be cached and the neck run (or fine-tuned) on them later.
func ExampleEncoder_ForwardTrunk() {
	params, err := encoder.RandomParams(encoder.Tiny, 2)
	if err != nil {
		panic(err)
	}
	enc, err := encoder.NewWithConfig(encoder.Tiny, params)
	if err != nil {
		panic(err)
	}
	trunk, err := enc.ForwardTrunk(tensor.New(3, 32, 32))
	if err != nil {
		panic(err)
	}
	emb, err := enc.Neck(trunk)
	if err != nil {
		panic(err)
	}
	fmt.Println(trunk.Shape, emb.Shape)
	// Output: [20 2 2] [12 2 2]
}

// One fine-tuning step of the last stage and the neck: a recorded forward
// (the first stages run as in inference, unrecorded), the gradients of
// L = |y|^2 / 2 (so dL/dy = y), an SGD step on Params (attention biases
// through their tables), and a new Encoder built from the updated Params.
func ExampleTape_Backward() {
	tensors, err := encoder.RandomParams(encoder.Tiny, 1)
	if err != nil {
		panic(err)
	}
	enc, err := encoder.NewWithConfig(encoder.Tiny, tensors)
	if err != nil {
		panic(err)
	}
	x := tensor.New(3, 64, 64)
	for i := range x.Data {
		x.Data[i] = float32(i%17)/8 - 1
	}
	y, tape, err := enc.ForwardRecord(x, encoder.Scope{FromStage: 3})
	if err != nil {
		panic(err)
	}
	grads, _, err := tape.Backward(y)
	if err != nil {
		panic(err)
	}
	const lr = 1e-3
	p := enc.Params
	for _, w := range p.Weights() {
		for i, g := range grads[w.Name] {
			w.Data[i] -= lr * g
		}
	}
	for i := range p.Blocks[3] {
		a := &p.Blocks[3][i].Attn
		table := a.BiasTable()
		for i, g := range grads[a.BiasTableName()] {
			table[i] -= lr * g
		}
		a.SetBiasTable(table)
	}
	enc = encoder.FromParams(p)
	y2, err := enc.Forward(x)
	if err != nil {
		panic(err)
	}
	sq := func(t *tensor.Tensor) (s float64) {
		for _, v := range t.Data {
			s += float64(v) * float64(v)
		}
		return s
	}
	fmt.Println(len(grads), "gradients; loss went down:", sq(y2) < sq(y))
	// Output: 21 gradients; loss went down: true
}
