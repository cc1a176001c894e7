// Depthwise 2-D convolution (groups = in_c = out_c), one invocation per
// output value: dst = act(conv + bias[c]) + beta * dst. Maps are CHW, or
// channels-last ([h*w, c] token rows) with CHANNELS_LAST; the weight is
// PyTorch's [c, 1, kh, kw] either way.

struct Params {
    c: u32, in_h: u32, in_w: u32, out_h: u32,
    out_w: u32, kh: u32, kw: u32, stride: u32,
    pad: u32, flags: u32, act: u32, beta: f32,
}

const HAS_BIAS: u32 = 4u;
const CHANNELS_LAST: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let idx = linear_id(wid, nwg, lid.x, 256u);
    let plane = p.out_h * p.out_w;
    if (idx >= p.c * plane) {
        return;
    }
    let last = (p.flags & CHANNELS_LAST) != 0u;
    var c = idx / plane;
    var pix = idx % plane;
    if (last) {
        c = idx % p.c;
        pix = idx / p.c;
    }
    let oy = pix / p.out_w;
    let ox = pix % p.out_w;
    var s = 0.0;
    for (var ky = 0u; ky < p.kh; ky = ky + 1u) {
        let iy = i32(oy * p.stride + ky) - i32(p.pad);
        if (iy < 0 || iy >= i32(p.in_h)) {
            continue;
        }
        for (var kx = 0u; kx < p.kw; kx = kx + 1u) {
            let ix = i32(ox * p.stride + kx) - i32(p.pad);
            if (ix < 0 || ix >= i32(p.in_w)) {
                continue;
            }
            var si = (c * p.in_h + u32(iy)) * p.in_w + u32(ix);
            if (last) {
                si = (u32(iy) * p.in_w + u32(ix)) * p.c + c;
            }
            s = fma(src[si], weight[(c * p.kh + ky) * p.kw + kx], s);
        }
    }
    if ((p.flags & HAS_BIAS) != 0u) {
        s = s + bias[c];
    }
    s = activate(s, p.act);
    if (p.beta != 0.0) {
        s = s + p.beta * dst[idx];
    }
    dst[idx] = s;
}
