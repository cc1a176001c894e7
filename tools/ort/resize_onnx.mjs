// Rewrites MobileSAM's encoder.onnx (exported for 1024x1024 input) for
// another square input size. The export baked the feature-map sizes of a
// 1024 input into constants (window padding, window counts, the views in
// TinyViT blocks and PatchMerging, the final 64x64 view), so ONNX Runtime
// refuses any other size. This patches exactly those constants, in place
// and at equal byte length, which keeps the protobuf valid without a full
// re-encode. Used by golden.mjs for the small-size golden test.
//
// Only MobileSAM's layout is handled: stage resolutions S/8, S/16, S/16
// with windows 7, 14, 7. size must be a multiple of 16 in [128, 2032] so
// every patched number keeps its varint length.

const STAGES = [
  // layer, window, 1024-export resolution
  { layer: 1, window: 7, res: 128 },
  { layer: 2, window: 14, res: 64 },
  { layer: 3, window: 7, res: 64 },
];

function plan(res, window) {
  const pad = (window - (res % window)) % window;
  return { res, pad, padded: res + pad, windows: (res + pad) / window };
}

// Minimal protobuf walker: calls visit(field, wire, start, end, value) for
// each field of the message in buf[start:end]; for length-delimited fields
// start/end bound the payload, for varints they bound the encoded bytes.
function walk(buf, start, end, visit) {
  let p = start;
  const varint = () => {
    let v = 0n, shift = 0n;
    for (;;) {
      const b = buf[p++];
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
      shift += 7n;
    }
  };
  while (p < end) {
    const key = Number(varint());
    const field = key >>> 3, wire = key & 7;
    if (wire === 0) {
      const s = p;
      const v = varint();
      visit(field, wire, s, p, v);
    } else if (wire === 2) {
      const len = Number(varint());
      visit(field, wire, p, p + len);
      p += len;
    } else if (wire === 5) { p += 4; } else if (wire === 1) { p += 8; } else {
      throw new Error(`onnx: unsupported wire type ${wire}`);
    }
  }
}

function writeVarint(buf, start, end, value) {
  let v = BigInt(value);
  for (let p = start; p < end; p++) {
    const more = p < end - 1;
    buf[p] = Number(v & 0x7fn) | (more ? 0x80 : 0);
    v >>= 7n;
  }
  if (v !== 0n) throw new Error(`onnx: ${value} does not fit ${end - start} varint bytes`);
}

const text = (buf, s, e) => buf.toString('utf8', s, e);

// resizeModel returns a copy of the ONNX bytes rewritten for size x size.
export function resizeModel(bytes, size) {
  if (size % 16 !== 0 || size < 128 || size > 2032) {
    throw new Error(`resize: size ${size} must be a multiple of 16 in [128, 2032]`);
  }
  const buf = Buffer.from(bytes);
  const old = {}, now = {};
  for (const s of STAGES) {
    old[s.layer] = plan(s.res, s.window);
    now[s.layer] = plan(s.layer === 1 ? size / 8 : size / 16, s.window);
  }
  let patched = 0;
  // Rewrites int64 raw_data values of a Constant node through map.
  const patchConstant = (nodeStart, nodeEnd, map) => {
    walk(buf, nodeStart, nodeEnd, (f, w, s, e) => {
      if (f !== 5 || w !== 2) return; // attribute
      walk(buf, s, e, (af, aw, as, ae) => {
        if (af !== 5 || aw !== 2) return; // attribute.t
        let dtype = 0, raw = null;
        walk(buf, as, ae, (tf, tw, ts, te, tv) => {
          if (tf === 2) dtype = Number(tv);
          if (tf === 9) raw = [ts, te];
        });
        if (dtype !== 7 || !raw) return;
        const vals = new BigInt64Array(Uint8Array.prototype.slice.call(buf, raw[0], raw[1]).buffer);
        const out = map(Array.from(vals, Number));
        if (!out) return;
        const nb = new BigInt64Array(out.map(BigInt));
        Buffer.from(nb.buffer).copy(buf, raw[0]);
        patched++;
      });
    });
  };

  walk(buf, 0, buf.length, (f, w, gs, ge) => {
    if (f !== 7 || w !== 2) return; // graph
    walk(buf, gs, ge, (gf, gw, s, e) => {
      if (gf === 1 && gw === 2) { // node
        let name = '', op = '';
        walk(buf, s, e, (nf, nw, ns, ne) => {
          if (nf === 3) name = text(buf, ns, ne);
          if (nf === 4) op = text(buf, ns, ne);
        });
        if (op !== 'Constant') return;
        let m = /^\/layers\.(\d)\/blocks\.\d+\/Constant(_\d+)?$/.exec(name);
        if (m && old[m[1]]) {
          const o = old[m[1]], n = now[m[1]];
          const scalar = new Map([[o.res, n.res], [o.padded, n.padded], [o.windows, n.windows]]);
          patchConstant(s, e, (v) => {
            if (v.length === 6) return [0, 0, 0, n.pad, 0, n.pad]; // F.pad amounts
            if (v.length === 1 && scalar.has(v[0])) return [scalar.get(v[0])];
            return null;
          });
          return;
        }
        m = /^\/layers\.(\d)\/downsample\/Constant$/.exec(name);
        if (m && old[m[1]]) { // PatchMerging's view(B, H, W, -1)
          const r = now[m[1]].res;
          patchConstant(s, e, (v) => (v.length === 4 ? [v[0], r, r, v[3]] : null));
          return;
        }
        if (name === '/Constant_2' || name === '/Constant_3') { // final view(B, 64, 64, C)
          patchConstant(s, e, (v) => (v.length === 1 && v[0] === 64 ? [now[3].res] : null));
        }
      } else if ((gf === 11 || gf === 12) && gw === 2) { // graph input / output shapes
        const isInput = gf === 11;
        walk(buf, s, e, (vf, vw, vs, ve) => {
          if (vf !== 2) return; // type
          walk(buf, vs, ve, (tf, tw, ts, te) => {
            if (tf !== 1) return; // tensor_type
            walk(buf, ts, te, (xf, xw, xs, xe) => {
              if (xf !== 2) return; // shape
              let axis = 0;
              walk(buf, xs, xe, (df, dw, ds, de) => {
                if (df !== 1) return; // dim
                walk(buf, ds, de, (kf, kw, ks, ke, kv) => {
                  if (kf !== 1 || axis < 2) return; // dim_value of H, W
                  writeVarint(buf, ks, ke, isInput ? size : now[3].res);
                  patched++;
                });
                axis++;
              });
            });
          });
        });
      }
    });
  });
  if (patched === 0) throw new Error('resize: nothing patched: not MobileSAM encoder.onnx?');
  return buf;
}
