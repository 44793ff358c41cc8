#!/usr/bin/env bash
# Plain KServe throughput of `fovea serve` with and without Grad-CAM traffic
# beside it (BENCHMARKS.md): 8 clients send UINT8 requests to model b, alone,
# then while 8 other clients upload an image to /v1/predict/a?explain=true.
# Usage: tools/loadgen/explain.sh [extra fovea serve flags, e.g. --no-engine]
# Settings: DURATION=15s PORT=18111 OUTDIR=dir (default: a temporary folder)
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-15s}
PORT=${PORT:-18111}
OUT=${OUTDIR:-$(mktemp -d)}
go build -o "$OUT/fovea" ./cmd/fovea
go build -o "$OUT/loadgen" ./tools/loadgen
cd "$OUT"
# Two mnist-cnn models trained briefly on the embedded MNIST, and a 28×28
# PNG of a white bar on black (a "1") as the upload.
./fovea train --train-limit 2000 --test-limit 500 --epochs 1 --quiet --force --out a.safetensors >/dev/null
./fovea train --train-limit 2000 --test-limit 500 --epochs 1 --quiet --force --seed 2 --out b.safetensors >/dev/null
echo 'iVBORw0KGgoAAAANSUhEUgAAABwAAAAcCAAAAABXZoBIAAAAJklEQVR4nGJiwAMGQpIFmfOfgYGBcYAdNCo5QJJ4wUA4CBAAAP//8VYBOePtv8sAAAAASUVORK5CYII=' | base64 -d > digit.png
./fovea serve --model a=a.safetensors --model b=b.safetensors --no-ui --addr 127.0.0.1:$PORT "$@" 2>serve.log &
SERVER=$!
trap 'kill $SERVER 2>/dev/null' EXIT
sleep 2
L="./loadgen --url http://127.0.0.1:$PORT --header=false"
echo "| run | input | conc. | requests | errors | req/s | img/s | p50 ms | p90 ms | p99 ms | RSS |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
$L --model b --concurrency 8 --duration "$DURATION" --warmup 3s --label "plain alone"
SECS=${DURATION%s}
$L --model a --image digit.png --explain --concurrency 8 --duration $((SECS + 7))s --warmup 0s --label "explain" > explain.md &
EXPLAIN=$!
sleep 3
$L --model b --concurrency 8 --duration "$DURATION" --warmup 0s --label "plain beside explain"
wait $EXPLAIN
cat explain.md
