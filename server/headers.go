package server

import (
	"net/http"
	"path"
	"regexp"
	"strings"
)

// ContentSecurityPolicy allows only this origin. 'wasm-unsafe-eval' is the
// one exception: WebAssembly.instantiate needs it, and it does not allow
// eval() of JavaScript. blob: and data: images let the page show the
// uploaded picture and the mask it draws on a canvas without uploading them.
const ContentSecurityPolicy = "default-src 'self'; " +
	"script-src 'self' 'wasm-unsafe-eval'; " +
	"worker-src 'self'; " +
	"connect-src 'self'; " +
	"img-src 'self' blob: data:; " +
	"style-src 'self'; " +
	"font-src 'self'; " +
	"object-src 'none'; " +
	"base-uri 'none'; " +
	"form-action 'none'; " +
	"frame-ancestors 'none'"

// securityHeaders are sent on every response, errors included. COOP + COEP
// make the page cross-origin isolated (SharedArrayBuffer, precise timers,
// threaded wasm runtimes); CORP lets our own files load under COEP.
var securityHeaders = [][2]string{
	{"Content-Security-Policy", ContentSecurityPolicy},
	{"X-Content-Type-Options", "nosniff"},
	{"Referrer-Policy", "no-referrer"},
	{"Cross-Origin-Opener-Policy", "same-origin"},
	{"Cross-Origin-Embedder-Policy", "require-corp"},
	{"Cross-Origin-Resource-Policy", "same-origin"},
	{"X-Frame-Options", "DENY"},
	{"Permissions-Policy", "camera=(), microphone=(), geolocation=()"},
}

func setSecurityHeaders(h http.Header) {
	for _, kv := range securityHeaders {
		h.Set(kv[0], kv[1])
	}
}

// mimeTypes is explicit rather than taken from the system's mime.types, so
// the answer (application/wasm above all: instantiateStreaming refuses
// anything else) does not depend on the machine the server runs on.
var mimeTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".json":        "application/json",
	".wasm":        "application/wasm",
	".safetensors": "application/octet-stream",
	".bin":         "application/octet-stream",
	".onnx":        "application/octet-stream",
	".png":         "image/png",
	".jpg":         "image/jpeg",
	".jpeg":        "image/jpeg",
	".svg":         "image/svg+xml",
	".ico":         "image/x-icon",
	".webp":        "image/webp",
	".txt":         "text/plain; charset=utf-8",
	".map":         "application/json",
	".webmanifest": "application/manifest+json",
}

// ContentType returns the MIME type for a file name; unknown types are
// served as opaque bytes (and nosniff stops the browser guessing).
func ContentType(name string) string {
	if t, ok := mimeTypes[strings.ToLower(path.Ext(name))]; ok {
		return t
	}
	return "application/octet-stream"
}

// hashedName matches names that carry a content hash, as the assembler
// writes them: "busam.3f2a9c1d0b7e.wasm". Such a file never changes under
// its name, so browsers may keep it forever.
var hashedName = regexp.MustCompile(`\.[0-9a-f]{8,64}\.[A-Za-z0-9]+$`)

// IsHashedName reports whether a file name carries a content hash.
func IsHashedName(name string) bool { return hashedName.MatchString(path.Base(name)) }

const (
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheRevalidate = "no-cache"
)

// cacheControl: content-hashed files are immutable; everything else
// (index.html, manifests) must be revalidated so a new build is seen at once.
func cacheControl(name string) string {
	if IsHashedName(name) {
		return cacheImmutable
	}
	return cacheRevalidate
}
