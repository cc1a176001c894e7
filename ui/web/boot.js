// boot.js: starts busam's user interface, a Go (vugu) WebAssembly app.
// It exposes the model's worker client as window.Busam for the app, makes
// vugu's renderer work under the page's strict Content-Security-Policy,
// registers the service worker that keeps the app usable offline, and
// shows a plain message if any of that fails.
import { Busam } from './busam.js';

const UI_WASM = new URL('./ui.wasm', import.meta.url);

window.Busam = Busam;

function fail(message) {
  const el = document.getElementById('boot-status');
  if (el) {
    el.className = 'alert alert-error';
    el.setAttribute('role', 'alert');
    el.textContent = message;
  }
  document.getElementById('app')?.setAttribute('data-state', 'failed');
}

// vugu's renderer installs its DOM helpers with window.eval, which this
// page's CSP forbids. vugu-render.js (the same helpers, extracted from the
// vugu module at build time) is loaded as a file before us, so the eval
// has nothing left to do: answer it without evaluating anything.
const realEval = window.eval;
window.eval = function (src) {
  if (typeof src === 'string' && src.startsWith('(function(){if(window.vuguRender)return;') && window.vuguRender) {
    return undefined;
  }
  return realEval(src); // anything else still meets the CSP
};

async function registerServiceWorker() {
  if (!('serviceWorker' in navigator)) return;
  try {
    // The name is built, not written as one string: the build gives files
    // content-hashed names by rewriting literal references, and the
    // service worker must keep its own fixed name.
    await navigator.serviceWorker.register(['sw', 'js'].join('.'), { scope: './' });
  } catch (err) {
    console.warn('busam: offline support unavailable:', err);
  }
}

async function start() {
  if (typeof WebAssembly !== 'object' || typeof Go !== 'function') {
    fail('This browser cannot run busam: it needs WebAssembly.');
    return;
  }
  if (!window.vuguRender) {
    fail('busam could not start: its page files are incomplete (vugu-render.js). Reload the page.');
    return;
  }
  const go = new Go();
  let result;
  try {
    result = await WebAssembly.instantiateStreaming(fetch(UI_WASM), go.importObject);
  } catch (err) {
    fail(`busam could not be loaded: ${err.message}. Check the connection and reload the page.`);
    return;
  }
  go.run(result.instance).then(() => fail('busam stopped unexpectedly. Reload the page.'));
}

registerServiceWorker();
start();
