// Runs ONNX Runtime (onnxruntime-node, CPU) on the golden inputs that
// `go run ./tools/golden` wrote and stores its outputs next to them, plus
// ort.json (shapes and the runtime version) for model/encoder/golden_test.go.
// Inputs of another size than 1024 run on the model rewritten for that
// size by resize_onnx.mjs.
//
//   node tools/ort/golden.mjs .cache/weights/encoder.onnx .cache/golden
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { resizeModel } from './resize_onnx.mjs';

const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node');

const [modelPath, dir] = process.argv.slice(2);
if (!modelPath || !dir) {
  console.error('usage: node golden.mjs <encoder.onnx> <golden dir>');
  process.exit(2);
}
const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8'));
const modelBytes = fs.readFileSync(modelPath);
const sessions = new Map(); // input side -> session
async function sessionFor(size) {
  if (!sessions.has(size)) {
    const bytes = size === 1024 ? modelBytes : resizeModel(modelBytes, size);
    sessions.set(size, await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all' }));
  }
  return sessions.get(size);
}
const result = { ortVersion: ort.env.versions?.common ?? 'unknown', entries: {} };

for (const e of index.entries) {
  const bytes = fs.readFileSync(path.join(dir, e.input));
  const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const want = e.shape.reduce((a, b) => a * b, 1);
  if (data.length !== want) {
    throw new Error(`${e.input}: ${data.length} values, shape ${e.shape} needs ${want}`);
  }
  if (e.shape[1] !== e.shape[2]) throw new Error(`${e.name}: only square inputs are supported`);
  const session = await sessionFor(e.shape[1]);
  const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', data, [1, ...e.shape]) });
  const y = out[session.outputNames[0]];
  fs.writeFileSync(path.join(dir, e.output), Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength));
  result.entries[e.name] = { shape: y.dims.slice(1) };
  console.log(`${e.name}: ${e.shape.join('x')} -> ${y.dims.join('x')}`);
}
fs.writeFileSync(path.join(dir, 'ort.json'), JSON.stringify(result, null, 2) + '\n');
