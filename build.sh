#!/usr/bin/env bash
# build.sh: the project's one entry point (see README.md).
#   ./build.sh start   set up, build and start the app on its default weights
#   ./build.sh test    set up and run every test (what .ci/run calls)
#   ./build.sh build   set up and build only (bin/busam and dist/web)
# Everything the project needs (apt, npm and Go packages, the pretrained
# encoder) is installed or fetched here; each step is idempotent and cached.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
export BUSAM_CACHE="${BUSAM_CACHE:-$ROOT/.cache}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"   # lavapipe (Vulkan on CPU) needs it

log() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }

# apt packages: npm/node for the upstream weights and the ONNX Runtime
# reference, Chromium for browser tests, Mesa's lavapipe for native WebGPU.
APT_PKGS=(nodejs npm chromium chromium-driver mesa-vulkan-drivers libvulkan1 wabt ca-certificates)
need_apt() {
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
  # node/npm may come from elsewhere (e.g. nodesource): accept binaries on PATH
  local keep=()
  for p in "${missing[@]}"; do
    case $p in nodejs) command -v node >/dev/null || keep+=("$p");; npm) command -v npm >/dev/null || keep+=("$p");; *) keep+=("$p");; esac
  done
  if ((${#keep[@]})); then
    log "apt-get install ${keep[*]}"
    local sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${keep[@]}" >/dev/null
  fi
}

setup_base() {
  command -v go >/dev/null || { echo "build.sh: Go is required (https://go.dev/dl)" >&2; exit 1; }
  need_apt nodejs npm ca-certificates
  log "go mod download"
  go mod download
}

setup_test_tools() {
  need_apt "${APT_PKGS[@]}"
  if [ -f tools/ort/package-lock.json ]; then
    if [ ! -d tools/ort/node_modules/onnxruntime-node ]; then
      log "npm ci (onnxruntime-node, reference runtime)"
      (cd tools/ort && npm ci --ignore-scripts --no-audit --no-fund >/dev/null)
    fi
  fi
}

weights() {
  log "weights: fetch, verify, convert"
  go run ./cmd/busam weights --cache "$BUSAM_CACHE/weights"
}

build_cli() {
  log "build bin/busam"
  mkdir -p bin
  CGO_ENABLED=0 go build -o bin/busam ./cmd/busam
}

# The heads the app ships: the trained, committed ones (weights/heads/README.md).
DEFAULT_HEADS=${BUSAM_HEADS:-weights/heads/pooled/heads.safetensors}

# The browser downloads the int8 encoder (about a quarter of the float32
# one). Layers the int8 encoder keeps in fp16: the only groups whose int8 rounding
# changed a test-split class (busam bench quant --sensitivity, BENCHMARKS.md 4).
INT8_KEEP='\.local_conv\.|^neck\.'
INT8_KEEP_REASON='busam bench quant --sensitivity: the only layer groups whose int8 rounding changes test-split classes'

# quantize IN OUT MODE [KEEP]: (re)make OUT when it is missing, older than
# IN, or made with another KEEP pattern.
quantize() {
  local in=$1 out=$2 mode=$3 keep=${4:-}
  [ -f "$in" ] || return 0
  # remade when missing, older than its source, or made with another kept set
  if [ ! -f "$out" ] || [ ! -f "$out.manifest.json" ] || [ "$in" -nt "$out" ] ||
     [ "$(cat "$out.keep" 2>/dev/null)" != "$keep" ]; then
    log "quantize $in to $mode${keep:+ (keeping /$keep/ in fp16)}"
    rm -f "$out.keep"
    if [ -n "$keep" ]; then
      bin/busam quantize --in "$in" --out "$out" --mode "$mode" --keep "$keep" --keep-reason "$INT8_KEEP_REASON"
    else
      bin/busam quantize --in "$in" --out "$out" --mode "$mode"
    fi
    printf '%s' "$keep" > "$out.keep"
  fi
}

# The browser gets the int8 encoder (with the kept fp16 layers) and fp16
# heads (their cost: BENCHMARKS.md).
build_web() {
  quantize "$BUSAM_CACHE/weights/encoder.safetensors" "$BUSAM_CACHE/weights/encoder.int8.safetensors" int8 "$INT8_KEEP"
  # the heads are small: always re-made, so a changed BUSAM_HEADS is never served stale
  bin/busam quantize --in "$DEFAULT_HEADS" --out "$BUSAM_CACHE/weights/heads.fp16.safetensors" --mode fp16 >/dev/null
  log "build dist/web (wasm modules, app, model files)"
  go run ./ui/cmd/webapp --out dist/web --weights "$BUSAM_CACHE/weights" --heads "$BUSAM_CACHE/weights/heads.fp16.safetensors"
}

golden() {
  if [ -f tools/ort/golden.sh ]; then
    log "golden outputs from ONNX Runtime"
    bash tools/ort/golden.sh
  fi
}

case "${1:-}" in
  start)
    setup_base; weights; build_cli; build_web
    log "starting busam serve (Ctrl-C to stop)"
    exec bin/busam serve "${@:2}"
    ;;
  build)
    setup_base; weights; build_cli; build_web
    ;;
  test)
    setup_base; setup_test_tools; weights; build_cli; build_web; golden
    log "go vet"
    go vet ./...
    GOOS=js GOARCH=wasm go vet ./wasm/... ./model/... ./imageio/... ./ui/...
    log "go test"
    CI="${CI:-true}" go test -count=1 -timeout 40m ./... 2>&1 | tee "$BUSAM_CACHE/test.log"
    ;;
  *)
    echo "usage: ./build.sh start|build|test" >&2; exit 2
    ;;
esac
