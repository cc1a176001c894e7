// dst[i] = act(src[i]) for GELU, sigmoid, ReLU (or a plain copy).

struct Params {
    n: u32, act: u32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid.x, 256u);
    if (i < p.n) {
        dst[i] = activate(src[i], p.act);
    }
}
