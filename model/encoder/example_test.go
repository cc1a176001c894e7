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
