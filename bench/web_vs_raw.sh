#!/usr/bin/env bash
# The web layer's cost in throughput (issue 4's budget): interleaved runs of the raw server
# (bench/hello_server) and the same answer through Application + route + handler
# (bench/web_hello_server), so that both see the same moments of a noisy host. Server on core 0,
# wrk on core 1; pipelined x16 over 100 connections unless WRK_ARGS says otherwise.
#
#   bash bench/web_vs_raw.sh                       # 4 rounds of 5 s each per server
#   ROUNDS=6 DURATION=5s BUILD_DIR=build bash bench/web_vs_raw.sh
#
# Prints each run's req/s and the web/raw ratio per round, then the median ratio.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-4}
DURATION=${DURATION:-5s}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
PORT=${PORT:-18190}
PIPELINE=${PIPELINE:-}
for d in "$ROOT/../shared/bench-peers" /work/shared/bench-peers; do
  [ -z "$PIPELINE" ] && [ -f "$d/pipeline.lua" ] && PIPELINE="$d/pipeline.lua"
done
WRK_ARGS=${WRK_ARGS:--t1 -c100 -d$DURATION -s $PIPELINE}
RAW=$BUILD_DIR/bench/hello_server
WEB=$BUILD_DIR/bench/web_hello_server
if [ ! -x "$RAW" ] || [ ! -x "$WEB" ]; then
  timeout 900 cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DEDDY_BUILD_TESTS=OFF -DEDDY_BUILD_EXAMPLES=OFF >/dev/null &&
    timeout 900 cmake --build "$BUILD_DIR" -j"$(nproc)" --target hello_server web_hello_server >/dev/null ||
    { echo "web_vs_raw: build failed" >&2; exit 1; }
fi
for c in wrk taskset curl; do command -v $c >/dev/null || { echo "web_vs_raw: $c missing" >&2; exit 2; }; done

run_one() {  # binary port -> req/s
  taskset -c 0 "$1" --port "$2" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$2/" && break; sleep 0.1; done
  # shellcheck disable=SC2086  # WRK_ARGS is a list of words
  timeout 120 taskset -c 1 wrk $WRK_ARGS "http://127.0.0.1:$2/" -- 16 2>/dev/null |
    awk '/Requests\/sec/ {print $2}'
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}

ratios=()
for r in $(seq "$ROUNDS"); do
  raw=$(run_one "$RAW" "$PORT")
  web=$(run_one "$WEB" "$((PORT + 1))")
  ratio=$(awk -v w="${web:-0}" -v r="${raw:-0}" 'BEGIN { if (r > 0) printf "%.2f", w / r; else print "n/a" }')
  echo "round $r: raw ${raw:-failed} req/s, web ${web:-failed} req/s, web/raw $ratio"
  ratios+=("$ratio")
done
printf '%s\n' "${ratios[@]}" | grep -v n/a | sort -n |
  awk '{ v[NR] = $1 } END { if (NR) printf "median web/raw: %.2f (%d rounds)\n", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), NR }'
