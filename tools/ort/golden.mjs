// Runs ONNX Runtime (onnxruntime-node, CPU) on the golden inputs that
// `go run ./tools/golden` wrote and stores its outputs next to them, plus
// ort.json (shapes and the runtime version) for model/encoder/golden_test.go.
//
//   node tools/ort/golden.mjs .cache/weights/encoder.onnx .cache/golden
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node');

const [modelPath, dir] = process.argv.slice(2);
if (!modelPath || !dir) {
  console.error('usage: node golden.mjs <encoder.onnx> <golden dir>');
  process.exit(2);
}
const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8'));
const session = await ort.InferenceSession.create(modelPath, { graphOptimizationLevel: 'all' });
const inputName = session.inputNames[0];
const outputName = session.outputNames[0];
const result = { ortVersion: ort.env.versions?.common ?? 'unknown', entries: {} };

for (const e of index.entries) {
  const bytes = fs.readFileSync(path.join(dir, e.input));
  const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const want = e.shape.reduce((a, b) => a * b, 1);
  if (data.length !== want) {
    throw new Error(`${e.input}: ${data.length} values, shape ${e.shape} needs ${want}`);
  }
  const out = await session.run({ [inputName]: new ort.Tensor('float32', data, [1, ...e.shape]) });
  const y = out[outputName];
  fs.writeFileSync(path.join(dir, e.output), Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength));
  result.entries[e.name] = { shape: y.dims.slice(1) };
  console.log(`${e.name}: ${e.shape.join('x')} -> ${y.dims.join('x')}`);
}
fs.writeFileSync(path.join(dir, 'ort.json'), JSON.stringify(result, null, 2) + '\n');
