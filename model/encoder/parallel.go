package encoder

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// workers is the number of goroutines parallel loops use; scratch that is
// private to each worker is sized by it.
func workers() int { return runtime.GOMAXPROCS(0) }

// parallelFor splits [0,n) into contiguous chunks of at least grain items
// and runs fn on them on up to workers() goroutines. Small loops run on the
// calling goroutine, so starting workers is only paid for with enough work.
func parallelFor(n, grain int, fn func(lo, hi int)) {
	parallelForWorker(n, grain, workers(), func(_, lo, hi int) { fn(lo, hi) })
}

// parallelForWorker is parallelFor on at most maxWorkers goroutines that
// also tells fn which worker (in [0, maxWorkers)) runs the chunk, for
// per-worker scratch buffers sized by the caller.
func parallelForWorker(n, grain, maxWorkers int, fn func(worker, lo, hi int)) {
	if n <= 0 {
		return
	}
	grain = max(grain, 1)
	maxChunks := (n + grain - 1) / grain
	nw := min(maxWorkers, maxChunks)
	if nw <= 1 {
		fn(0, 0, n)
		return
	}
	// More chunks than workers evens out chunks that run slower (a core
	// shared with another process), at the price of one atomic per chunk.
	chunks := min(nw*4, maxChunks)
	size := (n + chunks - 1) / chunks
	var next atomic.Int64
	run := func(worker int) {
		for {
			lo := int(next.Add(int64(size))) - size
			if lo >= n {
				return
			}
			fn(worker, lo, min(lo+size, n))
		}
	}
	var wg sync.WaitGroup
	wg.Add(nw - 1)
	for w := 1; w < nw; w++ {
		go func() {
			defer wg.Done()
			run(w)
		}()
	}
	run(0)
	wg.Wait()
}
