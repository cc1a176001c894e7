// bench.js: the steps `busam bench browser` runs in bench.html, one
// evaluation each, on the same preprocessed BUSI image:
//   benchPage.init(weightsURL, imageURL)       start busam's Go wasm (globalThis.wasm kept, so
//                                              model/cpu can load its SIMD kernel), load weights
//   benchPage.prepare(size)                    decode + preprocess at size (busam's Go code)
//   benchPage.busamCPU(size, simd, reps)       busam CPU encoder, wasm SIMD GEMM or plain Go
//   benchPage.busamGPU(size, reps)             busam WebGPU encoder
//   benchPage.ort(ep, size, reps, threads, modelURL)  onnxruntime-web, ep 'wasm' or 'webgpu'
// Each run step does one warm-up pass and reps timed passes and resolves to
// {warmupMs, times, medianMs, setupMs, maxAbsDiff, ...}; maxAbsDiff compares
// the embedding with the first one computed at that size.
const ORT_DIST = '/ortweb/node_modules/onnxruntime-web/dist/';

const inputs = new Map(); // size -> Float32Array [3,size,size]
const reference = new Map(); // size -> {name, output}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

function summarize(name, size, r, extra) {
  let maxAbsDiff = null;
  const ref = reference.get(size);
  if (!ref) {
    reference.set(size, { name, output: r.output });
  } else if (ref.output.length === r.output.length) {
    maxAbsDiff = 0;
    for (let i = 0; i < r.output.length; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(r.output[i] - ref.output[i]));
  }
  return {
    name, size, setupMs: r.setupMs, warmupMs: r.warmupMs, times: r.times, medianMs: median(r.times),
    maxAbsDiff, diffAgainst: ref ? ref.name : null, ...extra,
  };
}

async function init(weightsURL, imageURL) {
  const go = new Go();
  const result = await WebAssembly.instantiateStreaming(fetch('/busam/browserbench.wasm'), go.importObject);
  globalThis.wasm = result; // model/cpu finds the Go memory here for the SIMD module
  go.run(result.instance);
  for (let i = 0; i < 500 && !globalThis.busamBench; i++) await new Promise((r) => setTimeout(r, 10));
  if (!globalThis.busamBench) throw new Error('browserbench.wasm did not start');
  globalThis.benchImage = imageURL;
  const info = await busamBench.load(weightsURL);
  return { ...info, crossOriginIsolated: globalThis.crossOriginIsolated, userAgent: navigator.userAgent };
}

async function prepare(size) {
  const r = await busamBench.input(globalThis.benchImage, size);
  inputs.set(size, r.data);
  return { decodeMs: r.decodeMs, preprocessMs: r.preprocessMs, width: r.width, height: r.height };
}

async function busamCPU(size, simd, reps) {
  const r = await busamBench.cpu(size, simd, reps);
  r.setupMs = 0;
  return summarize(simd ? 'busam cpu (wasm SIMD)' : 'busam cpu (plain Go)', size, r, { kernel: r.kernel });
}

async function busamGPU(size, reps) {
  const r = await busamBench.webgpu(size, reps);
  r.setupMs = r.buildMs;
  return summarize('busam webgpu', size, r, {});
}

async function ort(ep, size, reps, threads, modelURL) {
  const mod = await import(ORT_DIST + (ep === 'webgpu' ? 'ort.webgpu.min.mjs' : 'ort.wasm.min.mjs'));
  const ortNS = mod.default && mod.default.InferenceSession ? mod.default : mod;
  ortNS.env.wasm.wasmPaths = ORT_DIST;
  ortNS.env.wasm.numThreads = threads;
  const t0 = performance.now();
  const session = await ortNS.InferenceSession.create(modelURL, {
    executionProviders: [ep],
    graphOptimizationLevel: 'all',
  });
  const setupMs = performance.now() - t0;
  const input = inputs.get(size);
  if (!input) throw new Error(`prepare(${size}) first`);
  const feeds = { [session.inputNames[0]]: new ortNS.Tensor('float32', input, [1, 3, size, size]) };
  const once = async () => {
    const out = await session.run(feeds);
    const t = out[session.outputNames[0]];
    const data = await t.getData();
    return data;
  };
  let t = performance.now();
  let output = await once();
  const warmupMs = performance.now() - t;
  const times = [];
  for (let i = 0; i < reps; i++) {
    t = performance.now();
    output = await once();
    times.push(performance.now() - t);
  }
  await session.release();
  return summarize(`onnxruntime-web ${ep}`, size, { setupMs, warmupMs, times, output }, {
    threads: ep === 'wasm' ? ortNS.env.wasm.numThreads : null,
  });
}

globalThis.benchPage = { init, prepare, busamCPU, busamGPU, ort };
