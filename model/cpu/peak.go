package cpu

import (
	"sync"
	"time"
)

// FMAPeak measures this machine's practical fp32 compute peak: the widest
// register-only fused multiply-add loop this CPU has (AVX-512, else AVX2),
// run on GOMAXPROCS goroutines at once for about d. It returns GFLOP/s, or
// ok == false where there is no such loop (no FMA, or not amd64).
func FMAPeak(d time.Duration) (gflops float64, ok bool) {
	if fmaPeakLoop(1) == 0 {
		return 0, false
	}
	// Calibrate one goroutine's chunk to about 10 ms, so the workers check
	// the clock rarely.
	iters := 1 << 16
	for {
		t0 := time.Now()
		fmaPeakLoop(iters)
		if time.Since(t0) > 10*time.Millisecond || iters > 1<<30 {
			break
		}
		iters *= 2
	}
	workers := Workers()
	var mu sync.Mutex
	var flops float64
	start := time.Now()
	ParallelEach(workers, workers, func(int) {
		var f float64
		for time.Since(start) < d {
			f += fmaPeakLoop(iters)
		}
		mu.Lock()
		flops += f
		mu.Unlock()
	})
	return flops / time.Since(start).Seconds() / 1e9, true
}
