package cpu

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// The one parallel loop of busam: every fan-out over goroutines (kernels,
// the encoder's bands, training samples) is one of the entry points below,
// all run by forChunks.

// Workers is the number of goroutines the parallel loops use
// (GOMAXPROCS); scratch that is private to each worker is sized by it.
func Workers() int { return runtime.GOMAXPROCS(0) }

// ParallelFor calls fn on disjoint chunks [lo, hi) that cover [0, n), each
// of at least grain items (grain < 1 counts as 1), on up to Workers()
// goroutines, and returns when all are done. Loops of fewer than 2*grain
// items run inline on the calling goroutine, so starting workers is only
// paid for with enough work. There are up to four chunks per worker, handed
// out in order as workers become free: that evens out chunks that run
// slower (a core shared with another process).
func ParallelFor(n, grain int, fn func(lo, hi int)) {
	ParallelForWorker(n, grain, Workers(), func(_, lo, hi int) { fn(lo, hi) })
}

// ParallelForWorker is ParallelFor on at most maxWorkers goroutines that
// also tells fn which worker (in [0, maxWorkers)) runs the chunk, for
// per-worker scratch buffers sized by the caller.
func ParallelForWorker(n, grain, maxWorkers int, fn func(worker, lo, hi int)) {
	maxChunks := n / max(grain, 1)
	nw := min(maxWorkers, maxChunks)
	forChunks(n, min(4*nw, maxChunks), nw, fn)
}

// ParallelSplit is ParallelFor with one chunk per worker, as equal as can
// be: for work where every chunk pays a setup of its own (a GEMM block
// packs its panels), so more chunks would cost more.
func ParallelSplit(n, grain int, fn func(lo, hi int)) {
	nw := min(Workers(), n/max(grain, 1))
	forChunks(n, nw, nw, func(_, lo, hi int) { fn(lo, hi) })
}

// ParallelEach calls f(i) for every i in [0, n) on up to workers goroutines
// (<= 0: Workers()), handing the items out one at a time in order: for
// items that each cost milliseconds and vary (training samples, images).
func ParallelEach(n, workers int, f func(i int)) {
	if workers <= 0 {
		workers = Workers()
	}
	forChunks(n, n, workers, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			f(i)
		}
	})
}

// forChunks cuts [0, n) into chunks balanced contiguous pieces and runs fn
// on them on up to workers goroutines, the calling one included (worker 0);
// each goroutine takes the next chunk when it is done with one. With fewer
// than two chunks or workers it runs fn(0, 0, n) inline.
func forChunks(n, chunks, workers int, fn func(worker, lo, hi int)) {
	if n <= 0 {
		return
	}
	chunks = min(chunks, n)
	workers = min(workers, chunks)
	if workers <= 1 {
		fn(0, 0, n)
		return
	}
	var next atomic.Int64
	run := func(worker int) {
		for {
			i := int(next.Add(1)) - 1
			if i >= chunks {
				return
			}
			fn(worker, n*i/chunks, n*(i+1)/chunks)
		}
	}
	var wg sync.WaitGroup
	wg.Add(workers - 1)
	for w := 1; w < workers; w++ {
		go func() {
			defer wg.Done()
			run(w)
		}()
	}
	run(0)
	wg.Wait()
}
