//go:build js && wasm

// Command simdcheck runs in a browser page (model/cpu/wasmsimd/checksite): it
// compares model/cpu's Gemm and its HWC convolutions on the WebAssembly SIMD
// kernel with the plain-Go kernel on many shapes, and package wasmsimd's
// GELU, softmax and depthwise kernels with model/cpu's plain-Go loops (its
// exported *Reference functions); with ?bench=1 in the page address it also
// times both. The result lands in globalThis.simdcheck as JSON
// (see report), for the Go test and `busam bench browser` to read.
package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall/js"
	"time"

	"github.com/busam/busam/model/cpu"
)

type report struct {
	Kernel    string  `json:"kernel"`
	SIMD      bool    `json:"simd"`
	SIMDError string  `json:"simdError,omitempty"`
	Cases     []check `json:"cases"`
	Bench     []bench `json:"bench,omitempty"`
	Error     string  `json:"error,omitempty"`
}

// check is one shape: the largest difference between the SIMD and plain-Go
// results, relative to the sum of |products| of that element.
type check struct {
	Name   string  `json:"name"`
	MaxRel float64 `json:"maxRel"`
	Exact  bool    `json:"exact"` // bit-identical outputs
}

type bench struct {
	Name      string  `json:"name"`
	M, N, K   int     `json:"-"`
	PlainGo   float64 `json:"plainGoGFLOPs"`
	SIMD      float64 `json:"simdGFLOPs"`
	PlainGoMS float64 `json:"plainGoMs"`
	SIMDMS    float64 `json:"simdMs"`
}

func main() {
	rep := run()
	out, _ := json.Marshal(rep)
	js.Global().Set("simdcheck", string(out))
	select {} // keep the Go runtime alive for the page
}

func run() (rep report) {
	defer func() {
		if r := recover(); r != nil {
			rep.Error = fmt.Sprint(r)
		}
	}()
	rep.Kernel = cpu.KernelName()
	var err error
	rep.SIMD, err = cpu.WasmSIMD()
	if err != nil {
		rep.SIMDError = err.Error()
	}
	if !rep.SIMD {
		return rep
	}
	rep.Cases = gemmChecks()
	rep.Cases = append(rep.Cases, convChecks()...)
	rep.Cases = append(rep.Cases, opsChecks()...)
	search := js.Global().Get("location").Get("search").String()
	q, _ := url.ParseQuery(strings.TrimPrefix(search, "?"))
	if q.Get("bench") != "" {
		reps, _ := strconv.Atoi(q.Get("reps"))
		rep.Bench = gemmBench(max(reps, 3))
		rep.Bench = append(rep.Bench, opsBench(max(reps, 3))...)
	}
	return rep
}

type gemmCase struct {
	m, n, k        int
	transA, transB bool
	alpha, beta    float32
	pad            int // extra row stride
}

func gemmChecks() []check {
	var cases []gemmCase
	for _, s := range [][3]int{
		{1, 1, 1}, {4, 8, 1}, {3, 5, 7}, {4, 8, 16}, {64, 64, 64}, {63, 65, 31},
		{65, 63, 257}, {128, 128, 256}, {100, 200, 300}, {49, 49, 32}, {49, 32, 49},
		{256, 64, 64}, {512, 160, 160}, {7, 300, 513}, {300, 7, 100}, {1, 257, 9},
	} {
		cases = append(cases,
			gemmCase{m: s[0], n: s[1], k: s[2], alpha: 1},
			gemmCase{m: s[0], n: s[1], k: s[2], transB: true, alpha: 0.5, beta: 1},
			gemmCase{m: s[0], n: s[1], k: s[2], transA: true, alpha: -1, beta: 0.25, pad: 3},
			gemmCase{m: s[0], n: s[1], k: s[2], transA: true, transB: true, alpha: 2, pad: 1},
		)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var out []check
	for _, tc := range cases {
		ar, ac := tc.m, tc.k
		if tc.transA {
			ar, ac = ac, ar
		}
		br, bc := tc.k, tc.n
		if tc.transB {
			br, bc = bc, br
		}
		lda, ldb, ldc := ac+tc.pad, bc+tc.pad, tc.n+tc.pad
		a, b := randSlice(rng, ar*lda), randSlice(rng, br*ldb)
		c0 := randSlice(rng, tc.m*ldc)
		if tc.beta == 0 {
			for i := range c0 {
				c0[i] = float32(math.NaN()) // must not be read
			}
		}
		got, want := slices.Clone(c0), slices.Clone(c0)
		cpu.Gemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, got, ldc)
		cpu.GemmGeneric(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, want, ldc)
		// Scale: sum of |alpha*a*b| + |beta*c| bounded by the sizes (values in [-1, 1]).
		scale := float64(tc.k)*math.Abs(float64(tc.alpha)) + math.Abs(float64(tc.beta)) + 1
		name := fmt.Sprintf("gemm m=%d n=%d k=%d tA=%v tB=%v alpha=%g beta=%g pad=%d", tc.m, tc.n, tc.k, tc.transA, tc.transB, tc.alpha, tc.beta, tc.pad)
		out = append(out, compare(name, got, want, scale, tc.m, tc.n, ldc))
	}
	return out
}

// convChecks runs dense convolutions the way the encoder does on HWC maps
// (im2col rows, then Linear, then the bias), on the SIMD kernel and on
// plain Go.
func convChecks() []check {
	rng := rand.New(rand.NewPCG(3, 4))
	var out []check
	for _, p := range []cpu.ConvParams{
		{InC: 16, InH: 20, InW: 20, OutC: 24, KH: 1, KW: 1, Stride: 1, Groups: 1},
		{InC: 8, InH: 17, InW: 19, OutC: 12, KH: 3, KW: 3, Stride: 2, Pad: 1, Groups: 1},
		{InC: 64, InH: 32, InW: 32, OutC: 128, KH: 3, KW: 3, Stride: 1, Pad: 1, Groups: 1},
	} {
		outH, outW := p.OutSize()
		src := randSlice(rng, p.InC*p.InH*p.InW)
		w := randSlice(rng, p.OutC*p.InC*p.KH*p.KW)
		bias := randSlice(rng, p.OutC)
		kc := p.KH * p.KW * p.InC
		col := make([]float32, outH*outW*kc)
		cpu.Im2colRows(col, src, p.InH, p.InW, p.InC, p.KH, p.Stride, p.Pad, outW, 0, outH)
		conv := func(dst []float32) {
			cpu.Linear(dst, col, outH*outW, kc, p.OutC, w, false)
			cpu.BiasAct(dst, outH*outW, p.OutC, bias, false)
		}
		got := make([]float32, p.OutC*outH*outW)
		want := make([]float32, len(got))
		conv(got)
		must(cpu.SetWasmSIMD(false))
		conv(want)
		must(cpu.SetWasmSIMD(true))
		name := fmt.Sprintf("conv2d hwc %+v", p)
		out = append(out, compare(name, got, want, float64(kc)+1, outH*outW, p.OutC, p.OutC))
	}
	return out
}

func compare(name string, got, want []float32, scale float64, m, n, ldc int) check {
	ck := check{Name: name, Exact: true}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			g, w := got[i*ldc+j], want[i*ldc+j]
			if math.Float32bits(g) != math.Float32bits(w) {
				ck.Exact = false
			}
			d := math.Abs(float64(g)-float64(w)) / scale
			if math.IsNaN(d) {
				d = math.Inf(1)
			}
			ck.MaxRel = max(ck.MaxRel, d)
		}
	}
	return ck
}

// gemmBench times square products and the encoder's commonest shapes on
// both kernels: warm-up, then the median of reps.
func gemmBench(reps int) []bench {
	shapes := []bench{
		{Name: "256^3", M: 256, N: 256, K: 256},
		{Name: "512^3", M: 512, N: 512, K: 512},
		{Name: "1024^3", M: 1024, N: 1024, K: 1024},
		{Name: "tokens 4096x256x64 (stage-0 MLP)", M: 4096, N: 256, K: 64},
		{Name: "tokens 1024x640x160 (stage-2 MLP)", M: 1024, N: 640, K: 160},
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range shapes {
		s := &shapes[i]
		a, b, c := randSlice(rng, s.M*s.K), randSlice(rng, s.K*s.N), make([]float32, s.M*s.N)
		flop := 2 * float64(s.M) * float64(s.N) * float64(s.K)
		timeIt := func(f func()) float64 {
			f()
			var ts []float64
			for range reps {
				t0 := time.Now()
				f()
				ts = append(ts, float64(time.Since(t0).Microseconds())/1000)
			}
			slices.Sort(ts)
			return ts[len(ts)/2]
		}
		s.PlainGoMS = timeIt(func() { cpu.GemmGeneric(false, false, s.M, s.N, s.K, 1, a, s.K, b, s.N, 0, c, s.N) })
		s.SIMDMS = timeIt(func() { cpu.Gemm(false, false, s.M, s.N, s.K, 1, a, s.K, b, s.N, 0, c, s.N) })
		s.PlainGo = flop / s.PlainGoMS / 1e6
		s.SIMD = flop / s.SIMDMS / 1e6
	}
	return shapes
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = rng.Float32()*2 - 1
	}
	return s
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
