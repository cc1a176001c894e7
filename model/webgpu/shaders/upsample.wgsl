// Bilinear resize of a CHW map, align_corners=false (PyTorch
// F.interpolate(mode="bilinear") with an output size): the source
// coordinate of output pixel d is max((d + 0.5) * in/out - 0.5, 0).

struct Params {
    c: u32, in_h: u32, in_w: u32, out_h: u32,
    out_w: u32, scale_h: f32, scale_w: f32, _p0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let idx = linear_id(wid, nwg, lid.x, 256u);
    let plane = p.out_h * p.out_w;
    if (idx >= p.c * plane) {
        return;
    }
    let c = idx / plane;
    let oy = (idx % plane) / p.out_w;
    let ox = idx % p.out_w;
    let sy = max((f32(oy) + 0.5) * p.scale_h - 0.5, 0.0);
    let sx = max((f32(ox) + 0.5) * p.scale_w - 0.5, 0.0);
    let y0 = min(u32(sy), p.in_h - 1u);
    let x0 = min(u32(sx), p.in_w - 1u);
    let y1 = min(y0 + 1u, p.in_h - 1u);
    let x1 = min(x0 + 1u, p.in_w - 1u);
    let ly = sy - f32(y0);
    let lx = sx - f32(x0);
    let base = c * p.in_h * p.in_w;
    let top = (1.0 - lx) * src[base + y0 * p.in_w + x0] + lx * src[base + y0 * p.in_w + x1];
    let bot = (1.0 - lx) * src[base + y1 * p.in_w + x0] + lx * src[base + y1 * p.in_w + x1];
    dst[idx] = (1.0 - ly) * top + ly * bot;
}
