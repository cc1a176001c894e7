// sw.js: busam's service worker. It keeps the app shell (page, scripts,
// styles, both WebAssembly modules) in Cache Storage so that, after one
// visit, the app starts with the network off. The model files are not
// handled here: the model's worker caches and verifies them itself
// (cache "busam-model-v1"), and this worker never deletes that cache.
//
// The build rewrites the file names below to content-hashed ones, so this
// file changes whenever the app does and the browser installs the new
// version; old shell caches are then removed.
'use strict';

const SHELL = [
  './',
  './index.html',
  './app.css',
  './boot.js',
  './busam.js',
  './worker.js',
  './wasm_exec.js',
  './vugu-render.js',
  './ui.wasm',
  './busam.wasm',
  './icon.svg',
  './app.webmanifest',
];
const SHELL_CACHE_PREFIX = 'busam-shell-';
const MODEL_CACHE = 'busam-model-v1';

// The cache name follows the list, which changes with every build.
async function shellCacheName() {
  const bytes = new TextEncoder().encode(SHELL.join('\n'));
  let h = 0x811c9dc5; // FNV-1a: crypto.subtle is absent on plain-http LAN addresses
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return SHELL_CACHE_PREFIX + h.toString(16);
}

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(await shellCacheName());
    // Hashed files never change, so the HTTP cache may answer (no second
    // download of what the page just loaded); the page and the web
    // manifest keep their names and are revalidated.
    const fixedName = (p) => p === './' || p.endsWith('.html') || p.endsWith('.webmanifest');
    await cache.addAll(SHELL.map((p) => new Request(p, { cache: fixedName(p) ? 'no-cache' : 'default' })));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    const keep = await shellCacheName();
    for (const name of await caches.keys()) {
      if (name.startsWith(SHELL_CACHE_PREFIX) && name !== keep) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

const shellURLs = new Set(SHELL.map((p) => new URL(p, self.registration.scope).href));

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (req.mode === 'navigate') {
    // Pages: the network first (a new version shows at once), the cached
    // shell when offline.
    event.respondWith((async () => {
      try {
        return await fetch(req);
      } catch (err) {
        const cache = await caches.open(await shellCacheName());
        const hit = (await cache.match('./index.html')) || (await cache.match('./'));
        if (hit) return hit;
        throw err;
      }
    })());
    return;
  }
  if (shellURLs.has(url.href)) {
    // Content-hashed files never change: the cache first.
    event.respondWith((async () => {
      const cache = await caches.open(await shellCacheName());
      const hit = await cache.match(req);
      return hit || fetch(req);
    })());
  }
  // Everything else (the model manifest and files) goes to the network as
  // usual; the model worker falls back to its own cache when offline.
});

void MODEL_CACHE; // named above so readers see which cache is left alone
