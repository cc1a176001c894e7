package pipeline_test

import (
	"fmt"
	"image"

	"github.com/busam/busam/model/encoder"
	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/pipeline"
	"github.com/busam/busam/model/tensor"
)

// Predict turns the heads' output on an embedding into a result at the
// image's own size: here a 50x30 image preprocessed at side 64, whose
// embedding is [8,4,4], through tiny random heads.
func ExamplePredict() {
	cfg := heads.DefaultConfig("conv")
	cfg.EmbedDim, cfg.Width, cfg.Hidden = 8, [3]int{8, 8, 4}, 8
	m, err := heads.New(cfg)
	if err != nil {
		panic(err)
	}
	input, g := encoder.Preprocess(image.NewGray(image.Rect(0, 0, 50, 30)), 64)
	r, err := pipeline.Predict(m, tensor.New(8, 4, 4), input, g)
	if err != nil {
		panic(err)
	}
	fmt.Println(r.W, r.H, len(r.Mask), r.Classes, len(r.Probs))
	// Output: 50 30 1500 [normal benign malignant] 3
}
