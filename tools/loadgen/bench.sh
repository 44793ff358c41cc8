#!/usr/bin/env bash
# Load benchmark of `fovea serve`: dynamic batching on (--max-batch 16
# --max-delay 2ms) and off (--max-batch 1) at concurrency 1, 8 and 64 for
# mnist-cnn and resnet20, then a steady-memory run (batching on,
# concurrency 8, RSS sampled every second). Prints Markdown tables.
#
#   tools/loadgen/bench.sh [MNIST.safetensors [RESNET20.safetensors|.onnx]]
#
# Without arguments it makes both models in its work folder: mnist-cnn
# trained for one epoch on 1000 embedded MNIST images, and a zoo-initialized
# resnet20 exported as ONNX (weights do not change the speed). Settings
# (environment): DURATION (20s per level), WARMUP (2s, unmeasured, before each
# level), LEVELS (1,8,64), INPUT (uint8 or
# fp32), SOAK (5m; 0 skips the steady-memory run), PORT (18080), OUTDIR
# (a new temporary folder). The whole matrix takes about
# 2 configs x 2 models x 3 levels x (DURATION + 2s) + SOAK: 9 minutes with the
# defaults. Run it on an otherwise idle machine; everything stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-2s}
LEVELS=${LEVELS:-1,8,64}
INPUT=${INPUT:-uint8}
SOAK=${SOAK:-5m}
PORT=${PORT:-18080}
OUTDIR=${OUTDIR:-$(mktemp -d -t fovea-bench.XXXXXX)}
mkdir -p "$OUTDIR"
URL=http://127.0.0.1:$PORT

echo "building fovea and loadgen into $OUTDIR" >&2
go build -o "$OUTDIR/fovea" ./cmd/fovea
go build -o "$OUTDIR/loadgen" ./tools/loadgen

MNIST=${1:-}
RESNET=${2:-}
if [ -z "$MNIST" ]; then
	MNIST=$OUTDIR/mnist.safetensors
	echo "training a small mnist-cnn: $MNIST" >&2
	"$OUTDIR/fovea" train --train-limit 1000 --test-limit 500 --epochs 1 --quiet --out "$MNIST" >&2
fi
if [ -z "$RESNET" ]; then
	RESNET=$OUTDIR/resnet20.onnx
	echo "exporting a zoo-initialized resnet20: $RESNET" >&2
	"$OUTDIR/fovea" export --model resnet20 --dynamic-batch --out "$RESNET" >&2
fi

SERVER_PID=
stop_server() {
	if [ -n "$SERVER_PID" ]; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
		SERVER_PID=
	fi
}
trap stop_server EXIT

# start_server ARGS...: fovea serve with both models, waiting until ready.
start_server() {
	"$OUTDIR/fovea" serve --model mnist="$MNIST" --model resnet20="$RESNET" \
		--addr 127.0.0.1:$PORT --no-ui "$@" 2>>"$OUTDIR/serve.log" &
	SERVER_PID=$!
	for _ in $(seq 1 300); do
		if curl -fsS "$URL/v2/health/ready" >/dev/null 2>&1; then return 0; fi
		kill -0 "$SERVER_PID" 2>/dev/null || { echo "fovea serve exited; see $OUTDIR/serve.log" >&2; exit 1; }
		sleep 0.2
	done
	echo "fovea serve did not become ready; see $OUTDIR/serve.log" >&2
	exit 1
}

echo "## fovea serve load benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, input $INPUT, $DURATION per level)"
header=true
for cfg in "batch16:--max-batch 16 --max-delay 2ms" "nobatch:--max-batch 1"; do
	name=${cfg%%:*}
	# shellcheck disable=SC2086 # the flags are meant to split
	start_server ${cfg#*:}
	for model in mnist resnet20; do
		"$OUTDIR/loadgen" --url "$URL" --model "$model" --concurrency "$LEVELS" --duration "$DURATION" \
			--warmup "$WARMUP" --input "$INPUT" --pid "$SERVER_PID" --label "$model $name" --header=$header
		header=false
	done
	stop_server
done

if [ "$SOAK" != 0 ]; then
	echo
	echo "## steady memory: mnist, batching on, concurrency 8, $SOAK (RSS every second: $OUTDIR/rss.csv)"
	start_server --max-batch 16 --max-delay 2ms
	"$OUTDIR/loadgen" --url "$URL" --model mnist --concurrency 8 --duration "$SOAK" --warmup "$WARMUP" \
		--input "$INPUT" --pid "$SERVER_PID" --label "mnist soak" --rss-log "$OUTDIR/rss.csv"
	stop_server
fi
echo "server log: $OUTDIR/serve.log" >&2
