// test.js: the page wasm/browser_test.go drives. It imports busam.js by its
// hashed name (from /assets.json) exactly as the app does, and exposes
// small async helpers that return JSON-friendly summaries.
const assets = await (await fetch('/assets.json')).json();
const { Busam } = await import('/' + assets['busam.js']);

function base64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function summary(r) {
  return {
    width: r.width, height: r.height, label: r.label, probs: r.probs, timings: r.timings,
    backend: r.backend, mask: base64(r.mask), maskLength: r.mask.length,
    attention: r.attention ? {
      width: r.attention.width, height: r.attention.height, length: r.attention.data.length,
      data: base64(new Uint8Array(r.attention.data.buffer)),
    } : null,
    embedding: r.embedding ? {
      shape: r.embedding.shape, length: r.embedding.data.length,
      data: base64(new Uint8Array(r.embedding.data.buffer)),
    } : null,
  };
}

window.busamTest = {
  progress: [],
  async load(inputSize, backend) {
    this.progress = [];
    if (this.b) this.b.terminate();
    this.b = await Busam.load('/', (p) => this.progress.push(p), { inputSize, backend });
    return this.b.info;
  },
  // Analyzes the file picked in #file, as a user would (options: analyze's).
  async analyzePicked(options) {
    return summary(await this.b.analyze(document.getElementById('file').files[0], options));
  },
  async analyzeBytes(text) {
    return summary(await this.b.analyze(new TextEncoder().encode(text), 'junk.png'));
  },
  // Calls that must reject: returns the message, or throws if one resolved.
  async rejection(fn) {
    try { await fn(); } catch (err) { return String(err.message); }
    throw new Error('expected a rejection');
  },
};
document.getElementById('state').textContent = 'ready';
