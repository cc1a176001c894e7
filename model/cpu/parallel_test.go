package cpu

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestParallelForCoversOnce(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 7, 100, 1001} {
		for _, grain := range []int{0, 1, 3, 50, 2000} {
			counts := make([]int32, n)
			ParallelFor(n, grain, func(lo, hi int) {
				if lo >= hi {
					t.Errorf("n=%d grain=%d: empty chunk [%d,%d)", n, grain, lo, hi)
				}
				for i := lo; i < hi; i++ {
					atomic.AddInt32(&counts[i], 1)
				}
			})
			for i, c := range counts {
				if c != 1 {
					t.Fatalf("n=%d grain=%d: index %d visited %d times", n, grain, i, c)
				}
			}
		}
	}
}

func TestParallelForSmallRunsInline(t *testing.T) {
	calls := 0 // not atomic: an inline run is on this goroutine
	ParallelFor(10, 8, func(lo, hi int) {
		calls++
		if lo != 0 || hi != 10 {
			t.Fatalf("chunk [%d,%d), want [0,10)", lo, hi)
		}
	})
	if calls != 1 {
		t.Fatalf("%d calls, want 1", calls)
	}
}

func TestParallelForCoversRange(t *testing.T) {
	for _, n := range []int{0, 1, 2, 7, 100, 1001} {
		for _, grain := range []int{0, 1, 3, 1000} {
			hits := make([]int32, n)
			ParallelForWorker(n, grain, 3, func(worker, lo, hi int) {
				if worker < 0 || worker >= 3 {
					t.Errorf("worker %d out of range", worker)
				}
				for i := lo; i < hi; i++ {
					hits[i]++
				}
			})
			for i, h := range hits {
				if h != 1 {
					t.Fatalf("n=%d grain=%d: item %d run %d times", n, grain, i, h)
				}
			}
		}
	}
}

func TestParallelEachRunsEveryItem(t *testing.T) {
	for _, n := range []int{0, 1, 2, 7, 100} {
		for _, workers := range []int{0, 1, 3} {
			hits := make([]int32, n)
			ParallelEach(n, workers, func(i int) { atomic.AddInt32(&hits[i], 1) })
			for i, h := range hits {
				if h != 1 {
					t.Fatalf("n=%d workers=%d: item %d run %d times", n, workers, i, h)
				}
			}
		}
	}
}

func TestParallelSplitOneChunkPerWorker(t *testing.T) {
	var chunks atomic.Int32
	ParallelSplit(1000, 1, func(lo, hi int) { chunks.Add(1) })
	if got, want := int(chunks.Load()), min(Workers(), 1000); got != want {
		t.Fatalf("%d chunks, want %d (one per worker)", got, want)
	}
}

// TestFMAPeak checks the peak loop runs and reports a rate where this CPU
// has one (AVX2 or AVX-512 FMA on amd64), and reports none elsewhere.
func TestFMAPeak(t *testing.T) {
	gflops, ok := FMAPeak(20 * time.Millisecond)
	if want := fmaPeakLoop(1) > 0; ok != want {
		t.Fatalf("FMAPeak ok = %v, want %v", ok, want)
	}
	if ok && !(gflops > 0) {
		t.Fatalf("FMAPeak = %g GFLOP/s", gflops)
	}
}
