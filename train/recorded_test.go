package train

import (
	"fmt"
	"math"
	"testing"
)

// Losses of short fixed-seed runs, recorded from the code before the heads'
// training pass became heads.Infer on a recording backend (and the neck
// took its layout from encoder.Layout): the recipe must keep giving them,
// to the bit. (Re-recorded once when training began to hold embeddings as
// float16: the synthetic embeddings lost their low bits, changing losses by
// ~1e-5; real embeddings come from a float16 cache and lose nothing.)
func TestTrainLossesRecorded(t *testing.T) {
	cases := []struct {
		name string
		opt  Options
		set  func() ([]*Example, []*Example)
		want []uint64 // math.Float64bits of each epoch's train loss, then val loss
	}{
		{"conv", func() Options { o := blobOptions("conv"); o.Epochs, o.TeacherForcing = 2, 0.5; return o }(),
			func() ([]*Example, []*Example) { return blobSet(7, 12, 16), blobSet(8, 6, 16) }, recordedConv},
		{"unet", func() Options { o := blobOptions("unet"); o.Epochs = 2; return o }(),
			func() ([]*Example, []*Example) { return blobSet(9, 12, 16), blobSet(10, 6, 16) }, recordedUNet},
		{"neck", neckOptions(2, 2), func() ([]*Example, []*Example) { return trunkSet(11, 8, 8), trunkSet(12, 4, 8) }, recordedNeck},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr, val := c.set()
			res, err := Run(c.opt, tr, val)
			if err != nil {
				t.Fatal(err)
			}
			var got []uint64
			for _, e := range res.Log {
				got = append(got, math.Float64bits(e.TrainLoss), math.Float64bits(e.ValLoss))
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("losses %#v, recorded %#v", got, c.want)
			}
		})
	}
}

var (
	recordedConv = []uint64{0x3ffa25384f979208, 0x3ff976e71473e4d0, 0x3ffa00439a529422, 0x3ff941d9da7d7064}
	recordedUNet = []uint64{0x3ffa57b38ef13518, 0x3ff92c4d22d572b4, 0x3ff95819c84c47c5, 0x3ff886bb99e9db36}
	recordedNeck = []uint64{0x3ffccde668e913e4, 0x3ffc650621e735fb, 0x3ffc66ce6142893c, 0x3ffbf335304440ff}
)
