package cpu

import (
	"runtime"
	"sync"
)

// ParallelFor calls fn on disjoint chunks [lo, hi) that cover [0, n), one
// chunk per available core (GOMAXPROCS), and returns when all are done. It
// runs fn(0, n) inline when n < 2 or only one core is available. Items should
// be worth a few microseconds each; for cheap items use ParallelForGrain.
func ParallelFor(n int, fn func(lo, hi int)) {
	ParallelForGrain(n, 1, fn)
}

// ParallelForGrain is ParallelFor where each chunk holds at least grain
// items, so small loops (n < 2*grain) run inline on the calling goroutine.
func ParallelForGrain(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	workers := min(runtime.GOMAXPROCS(0), n/grain)
	if workers <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	wg.Add(workers - 1)
	for w := 1; w < workers; w++ {
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(n*w/workers, n*(w+1)/workers)
	}
	fn(0, n/workers)
	wg.Wait()
}
