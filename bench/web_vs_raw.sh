#!/usr/bin/env bash
# The web layer's cost in throughput (issue 4's budget): interleaved runs of the raw server
# (bench/hello_server) and the same answer through Application + route + handler
# (bench/web_hello_server), so that both see the same moments of a noisy host. Server on core 0,
# wrk on core 1; pipelined x16 over 100 connections unless WRK_ARGS says otherwise.
# WEB=demo measures the demo app instead (examples/demo, its /plaintext unless WEB_PATH says
# otherwise; its access log goes to stderr, which this script sends to /dev/null).
#
#   bash bench/web_vs_raw.sh                       # 4 rounds of 5 s each per server
#   ROUNDS=6 DURATION=5s BUILD_DIR=build bash bench/web_vs_raw.sh
#   WEB=demo WEB_PATH=/json bash bench/web_vs_raw.sh
#
# Prints each run's req/s and the web/raw ratio per round, then the median ratio.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-4}
DURATION=${DURATION:-5s}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
PORT=${PORT:-18190}
WEB=${WEB:-web}
RAW=$BUILD_DIR/bench/hello_server
RAW_PATH=/
if [ "$WEB" = demo ]; then
  WEB_BIN=$BUILD_DIR/examples/demo/demo
  WEB_PATH=${WEB_PATH:-/plaintext}
  RAW_PATH=$WEB_PATH  # hello_server answers any path: the same request bytes for both
  TARGETS="hello_server demo"
  EXAMPLES=ON
else
  WEB_BIN=$BUILD_DIR/bench/web_hello_server
  WEB_PATH=${WEB_PATH:-/}
  TARGETS="hello_server web_hello_server"
  EXAMPLES=OFF
fi
# pipeline_path.lua pipelines the URL's own path (the shared pipeline.lua always asks for "/").
WRK_ARGS=${WRK_ARGS:--t1 -c100 -d$DURATION -s $ROOT/bench/pipeline_path.lua}
if [ ! -x "$RAW" ] || [ ! -x "$WEB_BIN" ]; then
  # shellcheck disable=SC2086  # TARGETS is a list of words
  timeout 900 cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DEDDY_BUILD_TESTS=OFF -DEDDY_BUILD_EXAMPLES=$EXAMPLES >/dev/null &&
    timeout 900 cmake --build "$BUILD_DIR" -j"$(nproc)" --target $TARGETS >/dev/null ||
    { echo "web_vs_raw: build failed" >&2; exit 1; }
fi
for c in wrk taskset curl; do command -v $c >/dev/null || { echo "web_vs_raw: $c missing" >&2; exit 2; }; done

run_one() {  # binary port path -> req/s
  taskset -c 0 "$1" --port "$2" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$2$3" && break; sleep 0.1; done
  # shellcheck disable=SC2086  # WRK_ARGS is a list of words
  timeout 120 taskset -c 1 wrk $WRK_ARGS "http://127.0.0.1:$2$3" 2>/dev/null |
    awk '/Requests\/sec/ {print $2}'
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}

ratios=()
for r in $(seq "$ROUNDS"); do
  raw=$(run_one "$RAW" "$PORT" "$RAW_PATH")
  web=$(run_one "$WEB_BIN" "$((PORT + 1))" "$WEB_PATH")
  ratio=$(awk -v w="${web:-0}" -v r="${raw:-0}" 'BEGIN { if (r > 0) printf "%.2f", w / r; else print "n/a" }')
  echo "round $r: raw ${raw:-failed} req/s, $WEB $WEB_PATH ${web:-failed} req/s, web/raw $ratio"
  ratios+=("$ratio")
done
printf '%s\n' "${ratios[@]}" | grep -v n/a | sort -n |
  awk '{ v[NR] = $1 } END { if (NR) printf "median web/raw: %.2f (%d rounds)\n", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), NR }'
