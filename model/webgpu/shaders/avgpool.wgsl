// Average pooling of a CHW map over non-overlapping k x k blocks (PyTorch
// AvgPool2d(k): stride k, no padding, a partial last block is dropped).

struct Params {
    c: u32, in_h: u32, in_w: u32, k: u32,
    out_h: u32, out_w: u32, _p0: u32, _p1: u32,
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
    var s = 0.0;
    for (var dy = 0u; dy < p.k; dy = dy + 1u) {
        let row = (c * p.in_h + oy * p.k + dy) * p.in_w + ox * p.k;
        for (var dx = 0u; dx < p.k; dx = dx + 1u) {
            s = s + src[row + dx];
        }
    }
    dst[idx] = s / f32(p.k * p.k);
}
