// 2-D convolution (CHW, batch 1, PyTorch semantics) as an implicit GEMM per
// group: C[oc, oy*ow+ox] = W[oc, ic*kh*kw] . im2col(src)[ic*kh*kw, oy*ow+ox].
// The im2col matrix is never stored: gemm_load_b gathers it from src.
// dst = act(conv + bias[oc]) + beta * dst.

struct Params {
    in_c: u32, in_h: u32, in_w: u32, out_c: u32,
    kh: u32, kw: u32, stride: u32, pad: u32,
    groups: u32, out_h: u32, out_w: u32, flags: u32,
    act: u32, beta: f32, _p0: u32, _p1: u32,
}

const HAS_BIAS: u32 = 4u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;

fn gemm_m(batch: u32) -> u32 { return p.out_c / p.groups; }
fn gemm_n(batch: u32) -> u32 { return p.out_h * p.out_w; }
fn gemm_k(batch: u32) -> u32 { return (p.in_c / p.groups) * p.kh * p.kw; }

fn gemm_load_a(g: u32, row: u32, kk: u32) -> f32 {
    let oc = g * (p.out_c / p.groups) + row;
    return weight[oc * gemm_k(g) + kk];
}

fn gemm_load_b(g: u32, kk: u32, col: u32) -> f32 {
    let taps = p.kh * p.kw;
    let ic = kk / taps;
    let t = kk % taps;
    let oy = col / p.out_w;
    let ox = col % p.out_w;
    // i32: padding makes the input coordinate negative at the borders.
    let iy = i32(oy * p.stride + t / p.kw) - i32(p.pad);
    let ix = i32(ox * p.stride + t % p.kw) - i32(p.pad);
    if (iy < 0 || ix < 0 || iy >= i32(p.in_h) || ix >= i32(p.in_w)) {
        return 0.0;
    }
    let c = g * (p.in_c / p.groups) + ic;
    return src[(c * p.in_h + u32(iy)) * p.in_w + u32(ix)];
}

fn gemm_store(g: u32, row: u32, col: u32, acc: f32) {
    let oc = g * (p.out_c / p.groups) + row;
    var v = acc;
    if ((p.flags & HAS_BIAS) != 0u) {
        v = v + bias[oc];
    }
    v = activate(v, p.act);
    let idx = oc * p.out_h * p.out_w + col;
    if (p.beta != 0.0) {
        v = v + p.beta * dst[idx];
    }
    dst[idx] = v;
}
