package metrics

import "testing"

// BenchmarkHD95 measures one BUSI-sized image (the largest, 1048×719) with
// two overlapping elliptic lesions.
func BenchmarkHD95(b *testing.B) {
	const w, h = 1048, 719
	ellipse := func(cx, cy, rx, ry float64) []uint8 {
		m := make([]uint8, w*h)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				dx, dy := (float64(x)-cx)/rx, (float64(y)-cy)/ry
				if dx*dx+dy*dy <= 1 {
					m[y*w+x] = 1
				}
			}
		}
		return m
	}
	pred, truth := ellipse(500, 350, 200, 120), ellipse(530, 360, 180, 140)
	for b.Loop() {
		if _, err := HD95(pred, truth, w, h, Pixels); err != nil {
			b.Fatal(err)
		}
	}
}
