// busam.js: the page-side API of busam, an ES module.
//
//   import { Busam } from './busam.js';
//   const b = await Busam.load(baseURL, (p) => console.log(p.phase, p.overallLoaded, p.overallTotal));
//   // optional third argument: {inputSize: 1024, backend: 'auto'|'cpu'|'webgpu'}
//   // (inputSize: the encoder's input side, smaller is faster and coarser;
//   //  backend 'auto' takes WebGPU on a real GPU adapter, else the CPU)
//   const r = await b.analyze(fileOrBlobOrBytes);   // or analyze(input, name?, {flip: true, embedding: true})
//   // r = {mask: Uint8Array(w*h, 0|1), width, height,
//   //      probs: {normal, benign, malignant}, label,
//   //      timings: {decode, encoder, heads, total} (ms),
//   //      backend: 'cpu'|'webgpu', attention: {width, height, data: Float32Array} | null,
//   //      evidence: {width, height, data: Float32Array} | null  (for the label: > 0 towards it, < 0 away;
//   //                gradient x input at the classifier's pooling, over the padded encoder frame like attention),
//      flip: true when the mirror image was analysed too (options.flip),
//   //      embedding: {shape: [256, S/16, S/16], data: Float32Array}  (only when asked for)}
//   const img = await b.decode(fileOrBlobOrBytes);  // the image for display, decoded in the worker
//   // img = {rgba: Uint8ClampedArray(4*w*h), width, height, format, pixelSpacingMM: [row, col] (0 if unknown)}
//   const png = await b.maskPNG(r.mask, r.width, r.height);  // Uint8Array: the mask as an 8-bit PNG
//   await b.cancel();  // stops the work in progress at once (pending calls reject, kind 'cancelled');
//                      // resolves when a fresh worker has the model again (from the cache)
//
// Everything runs in a Web Worker on this machine: the image never leaves
// the browser. Failures reject the promise with an Error whose message says
// what went wrong (and, for a bad image file, whose kind says how:
// 'empty', 'unknown-format', 'not-image', 'too-large', 'corrupt',
// 'unsupported'; for a call cut short by cancel(), 'cancelled'); the
// instance stays usable afterwards.

const WORKER_URL = new URL('./worker.js', import.meta.url);

export class Busam {
  #worker;
  #pending = new Map();
  #nextId = 1;
  #loadMsg = null; // the load request, to load the model again in a fresh worker (cancel)

  /** Information about the loaded model: {backend, backendReason, files, inputSize, sources, cache}. */
  info = null;

  constructor(worker) {
    this.#attach(worker);
  }

  #attach(worker) {
    this.#worker = worker;
    worker.onmessage = (ev) => this.#receive(ev.data);
    // A script error inside the worker (not one of our replies): fail
    // every pending call rather than leave it hanging.
    worker.onerror = (ev) => {
      ev.preventDefault();
      this.#failAll(new Error(`busam worker: ${ev.message || 'failed to start'}`));
    };
    worker.onmessageerror = () => this.#failAll(new Error('busam worker: a reply could not be decoded'));
  }

  /**
   * Starts the worker and loads the model from `${baseURL}model/`.
   * baseURL defaults to the folder of this module. onProgress receives
   * {phase: 'manifest'|'download'|'verify'|'init', file, path, loaded, total,
   * overallLoaded, overallTotal, fromCache}. options: {inputSize, backend}.
   */
  static async load(baseURL, onProgress, options = {}) {
    const base = new URL(baseURL ?? './', baseURL ? globalThis.location?.href : import.meta.url);
    const b = new Busam(new Worker(WORKER_URL));
    b.#loadMsg = { op: 'load', baseURL: base.href, options: { inputSize: options.inputSize, backend: options.backend } };
    try {
      b.info = await b.#request(b.#loadMsg, onProgress);
    } catch (err) {
      b.terminate();
      throw err;
    }
    return b;
  }

  /**
   * Analyses one image: a File, Blob, ArrayBuffer or typed array of its
   * bytes. name (optional) names it in errors. options: {flip: true} also
   * analyses the image mirrored left-right and averages the two predictions
   * (more accurate, about twice the time); {embedding: true} adds the
   * encoder's embedding to the result (on WebGPU it is read back from the
   * GPU only for this). Both are off by default. analyze(input, options)
   * works too.
   */
  analyze(input, name, options) {
    if (name !== null && typeof name === 'object') [name, options] = [undefined, name];
    const opts = options || {};
    return this.#imageRequest('analyze', input, name, { flip: Boolean(opts.flip), embedding: Boolean(opts.embedding) });
  }

  /** Decodes one image for display, in the worker, with the checks analyze makes. */
  decode(input, name) {
    return this.#imageRequest('decode', input, name);
  }

  /** Encodes a 0|1 mask (Uint8Array, width*height) as an 8-bit black-and-white PNG; resolves to its bytes. */
  maskPNG(mask, width, height) {
    if (!(mask instanceof Uint8Array)) return Promise.reject(new Error('busam: maskPNG takes a Uint8Array mask'));
    return this.#request({ op: 'maskPNG', mask, width, height });
  }

  #imageRequest(op, input, name, options) {
    if (!(input instanceof Blob || input instanceof ArrayBuffer || ArrayBuffer.isView(input))) {
      return Promise.reject(new Error(`busam: ${op} takes a File, Blob, ArrayBuffer or Uint8Array`));
    }
    const fileName = name ?? (typeof File !== 'undefined' && input instanceof File ? input.name : 'image');
    return this.#request({ op, name: fileName, data: input, options });
  }

  /**
   * Cancels every call in progress or waiting: they reject with an Error
   * of kind 'cancelled'. An analysis running inside WebAssembly cannot be
   * interrupted, so the worker is ended, which frees the CPU (or GPU) at
   * once, and a fresh worker loads the model again: from Cache Storage
   * (checked against the manifest again) when it is cached, so without a
   * download. Resolves to the new info when the model is ready; calls made
   * meanwhile wait for it in the new worker's queue. onProgress as for load.
   */
  cancel(onProgress) {
    if (!this.#loadMsg) return Promise.reject(new Error('busam: cancel before load'));
    this.#worker.terminate();
    const err = new Error('busam: cancelled');
    err.kind = 'cancelled';
    this.#failAll(err);
    this.#attach(new Worker(WORKER_URL));
    return this.#request(this.#loadMsg, onProgress).then((info) => {
      this.info = info;
      return info;
    });
  }

  /** Stops the worker; pending calls are rejected. */
  terminate() {
    this.#worker.terminate();
    this.#failAll(new Error('busam: terminated'));
  }

  #request(msg, onProgress) {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, onProgress });
      this.#worker.postMessage({ ...msg, id });
    });
  }

  #receive(msg) {
    const p = this.#pending.get(msg && msg.id);
    if (!p) return;
    if (msg.type === 'progress') {
      if (p.onProgress) {
        try { p.onProgress(msg.progress); } catch (err) { console.error('busam onProgress:', err); }
      }
      return;
    }
    this.#pending.delete(msg.id);
    if (msg.type === 'done') {
      p.resolve(msg.result);
      return;
    }
    const err = new Error(msg.error || 'busam: unknown worker error');
    if (msg.kind) err.kind = msg.kind;
    p.reject(err);
  }

  #failAll(err) {
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }
}

export default Busam;
