// dst[i] = a[i] op b[j] with op add or mul, b broadcast by index mapping:
// mode 0: j = i (same shape); mode 1: j = i % b_len (b repeats, e.g. a
// [1,H,W] mask over [C,H,W]); mode 2: j = (i / inner) % b_len (b per
// channel, e.g. [C] over [C,H,W] with inner = H*W).

struct Params {
    n: u32, op: u32, mode: u32, b_len: u32,
    inner: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid.x, 256u);
    if (i >= p.n) {
        return;
    }
    var j = i;
    if (p.mode == 1u) {
        j = i % p.b_len;
    } else if (p.mode == 2u) {
        j = (i / p.inner) % p.b_len;
    }
    if (p.op == 1u) {
        dst[i] = a[i] * b[j];
    } else {
        dst[i] = a[i] + b[j];
    }
}
