// Usage: node resize.mjs <encoder.onnx> <size> <out.onnx>
// Writes MobileSAM's encoder.onnx patched for a size x size input (see
// ../ort/resize_onnx.mjs), for `busam bench browser` at reduced sizes.
import { readFileSync, writeFileSync } from 'node:fs';
import { resizeModel } from '../ort/resize_onnx.mjs';

const [src, sizeArg, out] = process.argv.slice(2);
const size = Number(sizeArg);
if (!src || !out || !Number.isInteger(size)) {
  console.error('usage: node resize.mjs <encoder.onnx> <size> <out.onnx>');
  process.exit(2);
}
writeFileSync(out, resizeModel(readFileSync(src), size));
