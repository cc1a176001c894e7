package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

func TestScratchAB(t *testing.T) {
	shapes := [][3]int{{1024, 1024, 1024}, {64, 65536, 64}, {64, 4096, 4096}, {128, 16384, 128}, {256, 4096, 320}, {4096, 64, 4096}}
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		r := rand.New(rand.NewPCG(1, 2))
		a, b, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
		best := map[string]float64{}
		for rep := 0; rep < 7; rep++ {
			for _, mode := range []string{"packed", "direct"} {
				lim := 0
				if mode == "direct" {
					lim = 1 << 30
				}
				withDirectLimits(lim, lim, func() {
					t0 := time.Now()
					Gemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
					g := 2 * float64(m*n*k) / time.Since(t0).Seconds() / 1e9
					best[mode] = max(best[mode], g)
				})
			}
		}
		fmt.Printf("%v packed %.1f direct %.1f\n", s, best["packed"], best["direct"])
	}
}
