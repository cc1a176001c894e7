// demo.js: a minimal page over busam.js: load the model with progress,
// pick an image, draw it with the predicted mask, show the class.
import { Busam } from './busam.js';

const $ = (id) => document.getElementById(id);

function showError(err) {
  $('error').hidden = false;
  $('error').textContent = String((err && err.message) || err);
}

function onProgress(p) {
  if (p.overallTotal) {
    $('progress').max = p.overallTotal;
    $('progress').value = p.overallLoaded;
  }
  const mb = (n) => (n / 1e6).toFixed(1);
  $('status').textContent = p.phase === 'download'
    ? `${p.fromCache ? 'Cached' : 'Downloading'} ${p.file}: ${mb(p.loaded)} / ${mb(p.total)} MB`
    : p.phase === 'init' ? 'Preparing the model…' : `Loading (${p.phase})…`;
}

async function draw(file, r) {
  const bitmap = await createImageBitmap(file);
  const canvas = $('view');
  canvas.width = r.width;
  canvas.height = r.height;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(bitmap, 0, 0, r.width, r.height);
  const img = ctx.getImageData(0, 0, r.width, r.height);
  for (let i = 0; i < r.mask.length; i++) {
    if (r.mask[i]) { // tint the lesion red
      img.data[4 * i] = Math.min(255, img.data[4 * i] * 0.5 + 128);
      img.data[4 * i + 1] *= 0.5;
      img.data[4 * i + 2] *= 0.5;
    }
  }
  ctx.putImageData(img, 0, 0);
}

async function main() {
  let busam;
  try {
    busam = await Busam.load(undefined, onProgress);
  } catch (err) {
    $('status').textContent = 'The model could not be loaded.';
    showError(err);
    return;
  }
  $('loading').hidden = true;
  $('input').hidden = false;
  $('backend').textContent = `${busam.info.backend} (${busam.info.backendReason})`;
  $('file').addEventListener('change', async (ev) => {
    const file = ev.target.files[0];
    if (!file) return;
    $('error').hidden = true;
    try {
      const r = await busam.analyze(file);
      $('output').hidden = false;
      $('label').textContent = r.label;
      $('probs').textContent = Object.entries(r.probs).map(([k, v]) => `${k} ${(100 * v).toFixed(1)}%`).join(', ');
      $('timings').textContent = Object.entries(r.timings).map(([k, v]) => `${k} ${v.toFixed(0)} ms`).join(', ');
      try { await draw(file, r); } catch { /* DICOM: the browser cannot draw it; results stay shown */ }
    } catch (err) {
      showError(err);
    }
  });
}

main();
