#!/bin/sh
# Prepares and checks the encoder golden test: preprocessed BUSI inputs
# (Go), ONNX Runtime outputs on them (node), then the Go comparison.
#   tools/ort/golden.sh            (from anywhere inside the repository)
# Needs .cache/weights/encoder.onnx and encoder.safetensors (busam weights).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
cache=${BUSAM_CACHE:-$root/.cache}
if [ ! -d tools/ort/node_modules/onnxruntime-node ]; then
	(cd tools/ort && npm ci --ignore-scripts --no-audit --no-fund)
fi
go run ./tools/golden -out "$cache/golden"
node tools/ort/golden.mjs "$cache/weights/encoder.onnx" "$cache/golden"
go test -count=1 -run 'TestGolden' -v ./model/encoder/
