// Persistent ONNX Runtime worker for `busam bench encoder`: loads the
// encoder once (all requested threads, full graph optimization), runs one
// warm-up pass, prints "ready <session ms> <warm-up ms>", then answers each
// stdin line "<path of raw float32 [3,H,W]> <H> <W>" with "<ms> <cpu ms>"
// for one timed run (wall time, and CPU time of this process, all threads),
// until stdin closes.
//
//   node tools/ort/bench.mjs <encoder.onnx> <threads>
import fs from 'node:fs';
import readline from 'node:readline';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node');

const [modelPath, threadsArg] = process.argv.slice(2);
const threads = Number(threadsArg);
if (!modelPath || !(threads > 0)) {
  console.error('usage: node bench.mjs <encoder.onnx> <threads>');
  process.exit(2);
}
const t0 = performance.now();
const session = await ort.InferenceSession.create(modelPath, {
  graphOptimizationLevel: 'all',
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
});
const created = performance.now() - t0;
const inputName = session.inputNames[0];

async function run(data, h, w) {
  const feeds = { [inputName]: new ort.Tensor('float32', data, [1, 3, h, w]) };
  const c = process.cpuUsage();
  const t = performance.now();
  const out = await session.run(feeds);
  const ms = performance.now() - t;
  const cu = process.cpuUsage(c);
  for (const v of Object.values(out)) v.dispose?.();
  return [ms, (cu.user + cu.system) / 1000];
}

const [warm] = await run(new Float32Array(3 * 1024 * 1024), 1024, 1024);
console.log(`ready ${created.toFixed(1)} ${warm.toFixed(1)}`);

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  const [file, h, w] = line.trim().split(/\s+/);
  if (!file) continue;
  try {
    const bytes = fs.readFileSync(file);
    const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    const [ms, cpu] = await run(data, Number(h), Number(w));
    console.log(`${ms.toFixed(3)} ${cpu.toFixed(3)}`);
  } catch (e) {
    console.log(`error ${String(e.message).replace(/\s+/g, ' ')}`);
  }
}
