// Direct 2-D convolution (CHW, batch 1, one group) for few output
// channels: the tiled implicit GEMM pads the output channels to its
// 64-row tile, most of its work wasted when out_c is 1..16 (the heads'
// decoder tail at the highest resolutions). One invocation computes one
// output pixel for a block of 4 output channels (workgroup_id.z), summed
// in a vec4 that stays in registers.
// dst = act(conv + bias[oc]) + beta * dst.

struct Params {
    in_c: u32, in_h: u32, in_w: u32, out_c: u32,
    kh: u32, kw: u32, stride: u32, pad: u32,
    out_h: u32, out_w: u32, flags: u32, act: u32,
    beta: f32, _p0: u32, _p1: u32, _p2: u32,
}

const HAS_BIAS: u32 = 4u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let idx = (wid.y * nwg.x + wid.x) * 256u + lid.x;
    let plane = p.out_h * p.out_w;
    if (idx >= plane) {
        return;
    }
    let oy = idx / p.out_w;
    let ox = idx % p.out_w;
    let taps = p.kh * p.kw;
    let wrow = p.in_c * taps; // weights of one output channel
    // Rows of the 4 channels; past out_c they repeat the last (never stored).
    let oc0 = wid.z * 4u;
    let last = p.out_c - 1u;
    let w0 = min(oc0, last) * wrow;
    let w1 = min(oc0 + 1u, last) * wrow;
    let w2 = min(oc0 + 2u, last) * wrow;
    let w3 = min(oc0 + 3u, last) * wrow;
    var acc = vec4<f32>(0.0);
    for (var ic = 0u; ic < p.in_c; ic = ic + 1u) {
        for (var ky = 0u; ky < p.kh; ky = ky + 1u) {
            // i32: padding makes the input coordinate negative at the borders.
            let iy = i32(oy * p.stride + ky) - i32(p.pad);
            if (iy < 0 || iy >= i32(p.in_h)) {
                continue;
            }
            for (var kx = 0u; kx < p.kw; kx = kx + 1u) {
                let ix = i32(ox * p.stride + kx) - i32(p.pad);
                if (ix < 0 || ix >= i32(p.in_w)) {
                    continue;
                }
                let v = src[(ic * p.in_h + u32(iy)) * p.in_w + u32(ix)];
                let k = ic * taps + ky * p.kw + kx;
                acc = fma(vec4<f32>(weight[w0 + k], weight[w1 + k], weight[w2 + k], weight[w3 + k]), vec4<f32>(v), acc);
            }
        }
    }
    for (var j = 0u; j < 4u; j = j + 1u) {
        let oc = oc0 + j;
        if (oc >= p.out_c) {
            break;
        }
        var v = acc[j];
        if ((p.flags & HAS_BIAS) != 0u) {
            v = v + bias[oc];
        }
        v = activate(v, p.act);
        let di = oc * plane + idx;
        if (p.beta != 0.0) {
            v = v + p.beta * dst[di];
        }
        dst[di] = v;
    }
}
