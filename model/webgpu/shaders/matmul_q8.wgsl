// C[m,n] = act(scale[n] * (A[m,k] . Wq[n,k]) + bias[n]) + beta * C:
// nn.Linear with int8 weights, one float scale per output channel. Wq rows
// hold k int8 values packed four per u32 (low byte first), padded to
// kw = ceil(k/4) words.

struct Params {
    m: u32, n: u32, k: u32, flags: u32,
    lda: u32, kw: u32, ldc: u32, act: u32,
    beta: f32, _p0: u32, _p1: u32, _p2: u32,
}

const HAS_BIAS: u32 = 4u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> mat_a: array<f32>;
@group(0) @binding(2) var<storage, read> wq: array<u32>;
@group(0) @binding(3) var<storage, read> scale: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read_write> mat_c: array<f32>;

fn gemm_m(batch: u32) -> u32 { return p.m; }
fn gemm_n(batch: u32) -> u32 { return p.n; }
fn gemm_k(batch: u32) -> u32 { return p.k; }

fn gemm_load_a(batch: u32, row: u32, kk: u32) -> f32 {
    return mat_a[row * p.lda + kk];
}

fn gemm_load_b(batch: u32, kk: u32, col: u32) -> f32 {
    let word = bitcast<i32>(wq[col * p.kw + kk / 4u]);
    // Shift the wanted byte to the top, then arithmetic-shift it back down
    // to sign-extend it.
    return f32((word << (24u - 8u * (kk % 4u))) >> 24u);
}

fn gemm_store(batch: u32, row: u32, col: u32, acc: f32) {
    var v = scale[col] * acc;
    if ((p.flags & HAS_BIAS) != 0u) {
        v = v + bias[col];
    }
    v = activate(v, p.act);
    let idx = row * p.ldc + col;
    if (p.beta != 0.0) {
        v = v + p.beta * mat_c[idx];
    }
    mat_c[idx] = v;
}
