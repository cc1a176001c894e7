// worker.js: runs busam's Go WebAssembly module in a Web Worker, so the page
// stays responsive while the model loads and analyses. busam.js talks to it
// with messages:
//   page -> worker  {id, op: 'load', baseURL, options: {inputSize, backend}}
//                 | {id, op: 'analyze' | 'decode', name, data: Blob|ArrayBuffer|Uint8Array, options?: {embedding}}
//                 | {id, op: 'maskPNG', mask: Uint8Array, width, height}
//   worker -> page  {id, type: 'progress', progress} | {id, type: 'done', result} | {id, type: 'error', error, kind?}
// 'analyze' with options.embedding adds the encoder's embedding to the
// result ({shape, data: Float32Array}); without it nothing more is read back.
// 'decode' returns the image's RGBA pixels for the page to show and
// 'maskPNG' a mask as PNG bytes for download (the page has no image codecs
// of its own); kind names what is wrong with an image file ('corrupt',
// 'not-image', ...).
// Every failure becomes an 'error' reply; the worker itself stays usable,
// and if the Go runtime ever stops it is started again on the next call.
//
// Model files: model/manifest.json lists them with size and SHA-256. Each
// file is read from Cache Storage or downloaded (with progress), hashed
// (crypto.subtle; Go's crypto/sha256 where that is missing, e.g. plain http
// on a LAN address), checked against the manifest by the Go module, and
// only then cached. A cached file that fails the check is dropped and
// downloaded again; a downloaded file that fails is refused with the
// reason. Nothing is ever uploaded.
'use strict';

importScripts('./wasm_exec.js');

const WASM_URL = new URL('./busam.wasm', self.location.href);
const CACHE_NAME = 'busam-model-v1';

let runtime = null; // Promise<{api, exited}> while the Go program runs
let lastLoad = null; // {baseURL, options}: to reload the model after a runtime restart
let modelLoaded = false;

function startRuntime() {
  if (runtime) return runtime;
  runtime = (async () => {
    const go = new Go();
    const ready = new Promise((resolve) => { self.busamGoReady = resolve; });
    const resp = await fetch(WASM_URL, { credentials: 'same-origin' });
    if (!resp.ok) throw new Error(`busam: ${WASM_URL.pathname}: HTTP ${resp.status}`);
    const result = await WebAssembly.instantiateStreaming(resp, go.importObject);
    // cogentcore/webgpu's js side looks the module up as the global "wasm".
    self.wasm = result;
    const { instance } = result;
    // main never returns, so the end of go.run is a crash (a Go panic
    // outside our recover, or out of memory). Forget the runtime: the next
    // call starts a fresh one and reloads the model from the cache.
    const exited = go.run(instance).then(() => {
      runtime = null;
      modelLoaded = false;
      throw new Error('busam: the WebAssembly module stopped unexpectedly (out of memory?); it restarts on the next call');
    });
    exited.catch(() => {});
    await ready;
    return { api: self.busamGo, exited };
  })();
  runtime.catch(() => { runtime = null; });
  return runtime;
}

// call runs a busamGo function; it fails, rather than hangs, if the Go
// program dies before answering.
async function call(fn, ...args) {
  const { api, exited } = await startRuntime();
  return Promise.race([api[fn](...args), exited]);
}

// cacheStorage returns the model cache, or null where Cache Storage is not
// available (insecure contexts, some private modes).
async function cacheStorage() {
  try {
    return self.caches ? await self.caches.open(CACHE_NAME) : null;
  } catch {
    return null;
  }
}

async function fetchManifest(url, cache) {
  try {
    const resp = await fetch(url, { cache: 'no-cache', credentials: 'same-origin' });
    if (!resp.ok) throw new Error(`busam: ${url.pathname}: HTTP ${resp.status}`);
    return { text: await resp.text(), fromCache: false };
  } catch (err) {
    // Offline: fall back to the manifest of the last successful load.
    const hit = cache && (await cache.match(url));
    if (hit) return { text: await hit.text(), fromCache: true };
    throw err instanceof TypeError ? new Error(`busam: cannot fetch ${url.pathname} (offline?): ${err.message}`) : err;
  }
}

// download streams a file into a buffer of the size the manifest states,
// reporting progress; a response larger than that is cut off and refused.
async function download(url, size, onChunk) {
  const resp = await fetch(url, { credentials: 'same-origin' });
  if (!resp.ok) throw new Error(`busam: ${url.pathname}: HTTP ${resp.status}`);
  const buf = new Uint8Array(size);
  let got = 0;
  const reader = resp.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (got + value.length > size) {
      reader.cancel();
      throw new Error(`busam: model file ${url.pathname} is larger than the ${size} bytes its manifest states (refused)`);
    }
    buf.set(value, got);
    got += value.length;
    onChunk(got);
  }
  if (got !== size) throw new Error(`busam: model file ${url.pathname}: ${got} bytes, manifest states ${size} (refused)`);
  return buf;
}

// probeGPU looks for a WebGPU adapter the Go module could use; the Go side
// decides (a software fallback adapter loses to the CPU path).
async function probeGPU() {
  if (!self.navigator || !self.navigator.gpu) {
    return { available: false, reason: 'navigator.gpu is missing (no WebGPU in this browser or context)' };
  }
  try {
    const adapter = await self.navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) return { available: false, reason: 'requestAdapter() found no WebGPU adapter' };
    const info = adapter.info || {};
    return {
      available: true,
      fallback: Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter),
      description: [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'unknown adapter',
    };
  } catch (err) {
    return { available: false, reason: `requestAdapter() failed: ${err.message}` };
  }
}

// sha256Hex hashes with crypto.subtle (native speed: Go's wasm build hashes
// some 10 MB/s); it returns '' where crypto.subtle is missing (plain http
// on a LAN address), and the Go module then hashes itself.
async function sha256Hex(bytes) {
  if (!self.crypto || !self.crypto.subtle) return '';
  const digest = new Uint8Array(await self.crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

// addFile hands a model file to the Go module, which checks it against the
// manifest before keeping it.
async function addFile(role, bytes) {
  return call('addFile', role, bytes, await sha256Hex(bytes));
}

async function loadModel(id, baseURL, options) {
  const progress = (p) => self.postMessage({ id, type: 'progress', progress: p });
  const modelBase = new URL('model/', baseURL);
  const manifestURL = new URL('manifest.json', modelBase);
  const cache = await cacheStorage();

  progress({ phase: 'manifest', loaded: 0, total: 0 });
  const man = await fetchManifest(manifestURL, cache);
  const files = await call('setManifest', man.text);
  const total = files.reduce((s, f) => s + f.size, 0);
  // Where load time goes, in ms: fetching (network or cache), the SHA-256
  // checks, building the model.
  const timings = { fetch: 0, verify: 0, build: 0 };
  const timed = async (key, promise) => {
    const t0 = performance.now();
    try { return await promise; } finally { timings[key] += performance.now() - t0; }
  };
  let done = 0;
  const sources = {};
  for (const f of files) {
    const url = new URL(f.path, modelBase);
    const report = (loaded, fromCache) => progress({
      phase: 'download', file: f.role, path: f.path, loaded, total: f.size,
      overallLoaded: done + loaded, overallTotal: total, fromCache,
    });
    let ok = false;
    const hit = cache && (await cache.match(url));
    if (hit) {
      try {
        const cached = await timed('fetch', hit.arrayBuffer());
        await timed('verify', addFile(f.role, new Uint8Array(cached)));
        ok = true;
        sources[f.role] = 'cache';
        report(f.size, true);
      } catch {
        await cache.delete(url); // corrupt or tampered cache entry: fetch it again
      }
    }
    if (!ok) {
      const bytes = await timed('fetch', download(url, f.size, (n) => report(n, false)));
      progress({ phase: 'verify', file: f.role, path: f.path, loaded: f.size, total: f.size, overallLoaded: done + f.size, overallTotal: total });
      await timed('verify', addFile(f.role, bytes)); // rejects a file whose SHA-256 differs
      sources[f.role] = 'network';
      if (cache) {
        await cache.put(url, new Response(bytes, { headers: { 'Content-Type': 'application/octet-stream' } }));
      }
    }
    done += f.size;
  }
  progress({ phase: 'init', loaded: total, total, overallLoaded: total, overallTotal: total });
  const opts = options || {};
  const info = await timed('build', call('load', {
    inputSize: Number(opts.inputSize || 0),
    backend: String(opts.backend || 'auto'),
    gpu: opts.backend === 'cpu' ? { available: false, reason: 'not requested' } : await probeGPU(),
  }));
  if (cache) {
    await cache.put(manifestURL, new Response(man.text, { headers: { 'Content-Type': 'application/json' } }));
    // Drop the files of older model versions.
    const keep = new Set([manifestURL.href, ...files.map((f) => new URL(f.path, modelBase).href)]);
    for (const req of await cache.keys()) {
      if (!keep.has(req.url)) await cache.delete(req);
    }
  }
  lastLoad = { baseURL, options };
  modelLoaded = true;
  return { ...info, sources, timings, cache: cache ? 'cache-storage' : 'unavailable' };
}

async function toBytes(data) {
  if (data instanceof Blob) return new Uint8Array(await data.arrayBuffer());
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new Error('busam: an image must be a File, Blob, ArrayBuffer or Uint8Array');
}

async function analyze(id, name, data, options) {
  if (!modelLoaded) {
    if (!lastLoad) throw new Error('busam: no model loaded (call Busam.load first)');
    await loadModel(id, lastLoad.baseURL, lastLoad.options); // the runtime restarted: reload from the cache
  }
  const opts = options || {};
  return call('analyze', String(name || 'image'), await toBytes(data), { flip: Boolean(opts.flip), embedding: Boolean(opts.embedding) });
}

// decode needs the Go runtime, not the model.
async function decode(name, data) {
  return call('decode', String(name || 'image'), await toBytes(data));
}

// Calls run one at a time, in order: the Go module is single-threaded, and
// timings of overlapping analyses would mean nothing.
let queue = Promise.resolve();

self.onmessage = (ev) => {
  const msg = ev.data || {};
  const { id } = msg;
  queue = queue.then(async () => {
    try {
      let result;
      if (msg.op === 'load') result = await loadModel(id, new URL(msg.baseURL), msg.options);
      else if (msg.op === 'analyze') result = await analyze(id, msg.name, msg.data, msg.options);
      else if (msg.op === 'decode') result = await decode(msg.name, msg.data);
      else if (msg.op === 'maskPNG') result = await call('maskPNG', msg.mask, Number(msg.width), Number(msg.height));
      else throw new Error(`busam: unknown operation ${JSON.stringify(msg.op)}`);
      const transfer = [];
      if (result && result.mask) transfer.push(result.mask.buffer);
      if (result && result.attention) transfer.push(result.attention.data.buffer);
      if (result && result.evidence) transfer.push(result.evidence.data.buffer);
      if (result && result.embedding) transfer.push(result.embedding.data.buffer);
      if (result && result.rgba) transfer.push(result.rgba.buffer);
      if (result instanceof Uint8Array) transfer.push(result.buffer);
      self.postMessage({ id, type: 'done', result }, transfer);
    } catch (err) {
      self.postMessage({ id, type: 'error', error: (err && err.message) || String(err), kind: (err && err.kind) || '' });
    }
  });
};
