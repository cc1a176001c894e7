// dst[dst_off + i] = src[src_off + i] for i < n: concatenation of CHW maps
// along channels is one copy per map.

struct Params {
    n: u32, src_off: u32, dst_off: u32, _p0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid.x, 256u);
    if (i < p.n) {
        dst[p.dst_off + i] = src[p.src_off + i];
    }
}
