package encoder

// arena hands out scratch float32 buffers and takes them back, so a
// forward pass allocates only on its first run at a given input size.
// It is not safe for concurrent use: each forward pass owns one.
type arena struct {
	free [][]float32
}

// get returns a buffer of length n (contents undefined): the smallest free
// one that is large enough, else a new one.
func (a *arena) get(n int) []float32 {
	best := -1
	for i, b := range a.free {
		if cap(b) >= n && (best < 0 || cap(b) < cap(a.free[best])) {
			best = i
		}
	}
	if best < 0 {
		return make([]float32, n)
	}
	b := a.free[best]
	a.free[best] = a.free[len(a.free)-1]
	a.free = a.free[:len(a.free)-1]
	return b[:n]
}

// put returns buffers for reuse; nil buffers are ignored.
func (a *arena) put(bufs ...[]float32) {
	for _, b := range bufs {
		if b != nil {
			a.free = append(a.free, b)
		}
	}
}
