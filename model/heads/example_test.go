package heads_test

import (
	"fmt"

	"github.com/busam/busam/model/heads"
	"github.com/busam/busam/model/tensor"
)

// Tiny conv heads with random weights on a [8,4,4] embedding: a mask over
// the 4x finer grid and one logit per class.
func ExampleModel_Predict() {
	cfg := heads.DefaultConfig("conv")
	cfg.EmbedDim, cfg.Width, cfg.Hidden = 8, [3]int{8, 8, 4}, 8
	m, err := heads.New(cfg)
	if err != nil {
		panic(err)
	}
	out, err := m.Predict(heads.Input{Embedding: tensor.New(8, 4, 4)})
	fmt.Println(out.MaskLogits.Shape, len(out.ClassLogits), out.Attention.Shape, err)
	_, err = m.Predict(heads.Input{Embedding: tensor.New(7, 4, 4)})
	fmt.Println(err)
	// Output:
	// [1 16 16] 3 [1 4 4] <nil>
	// heads: embedding [7 4 4], want [8,h,w]
}
