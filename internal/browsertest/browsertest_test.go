//go:build !js

package browsertest

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The page reads an uploaded file, shows its size, and on request posts it
// from a worker: the recorder must see that POST and its body size, or the
// "no image leaves the browser" checks built on it would prove nothing.
const page = `<!doctype html><title>harness</title>
<input id="f" type="file"><p id="out"></p>
<script src="page.js"></script>`

const pageJS = `
document.getElementById('f').addEventListener('change', async (ev) => {
  const file = ev.target.files[0];
  const bytes = new Uint8Array(await file.arrayBuffer());
  document.getElementById('out').textContent = file.name + ':' + bytes.length;
  window.uploaded = bytes;
});
window.postFromWorker = () => new Promise((resolve) => {
  const w = new Worker('worker.js');
  w.onmessage = (ev) => resolve(ev.data);
  w.postMessage(window.uploaded);
});`

const workerJS = `
self.onmessage = async (ev) => {
  const r = await fetch('/sink', {method: 'POST', body: ev.data});
  self.postMessage(await r.text());
};`

func TestHarness(t *testing.T) {
	mux := http.NewServeMux()
	serve := func(body, ctype string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ctype)
			w.Write([]byte(body))
		}
	}
	mux.HandleFunc("/", serve(page, "text/html"))
	mux.HandleFunc("/page.js", serve(pageJS, "text/javascript"))
	mux.HandleFunc("/worker.js", serve(workerJS, "text/javascript"))
	mux.HandleFunc("/sink", serve("received", "text/plain"))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	dir := t.TempDir()
	upload := filepath.Join(dir, "scan.png")
	if err := os.WriteFile(upload, []byte(strings.Repeat("x", 1234)), 0o644); err != nil {
		t.Fatal(err)
	}

	b := Start(t, Options{ArtifactsDir: dir})
	if err := b.Navigate(srv.URL + "/"); err != nil {
		t.Fatal(err)
	}
	if err := b.Upload("#f", upload); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitFor(`document.getElementById('out').textContent !== ''`, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	text, err := Eval[string](b, `document.getElementById('out').textContent`)
	if err != nil || text != "scan.png:1234" {
		t.Fatalf("page saw %q, %v; want the uploaded file", text, err)
	}
	reply, err := Eval[string](b, `window.postFromWorker()`)
	if err != nil || reply != "received" {
		t.Fatalf("worker reply %q, %v", reply, err)
	}
	if _, err := Eval[bool](b, `Promise.reject(new Error('boom'))`); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("a rejected promise gave %v, want an error saying boom", err)
	}
	if err := b.WaitFor(`false`, 300*time.Millisecond); err == nil {
		t.Error("WaitFor(false) succeeded")
	}

	var sawPage, sawWorkerScript bool
	var post *Request
	for _, r := range b.Requests() {
		switch {
		case r.URL == srv.URL+"/":
			sawPage = true
		case strings.HasSuffix(r.URL, "/worker.js"):
			sawWorkerScript = true
		case strings.HasSuffix(r.URL, "/sink"):
			post = &r
		}
	}
	if !sawPage || !sawWorkerScript {
		t.Errorf("requests %+v lack the page or the worker script", b.Requests())
	}
	if post == nil {
		t.Fatalf("the worker's POST was not recorded: %+v", b.Requests())
	}
	if post.Method != "POST" || !post.HasPostData || post.PostDataSize != 1234 {
		t.Errorf("worker POST recorded as %+v", *post)
	}
	shot, err := b.Screenshot("final")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(shot); err != nil || st.Size() < 100 {
		t.Errorf("screenshot %s: %v", shot, err)
	}
}
