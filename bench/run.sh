#!/usr/bin/env bash
# eddy's side-by-side benchmark: builds bench/hello_server (RelWithDebInfo) and runs the shared
# peer harness (shared/bench-peers) with eddy added as one more server, then the idle-memory test.
#
#   bash bench/run.sh                          # RUNS=2 DURATION=5s, peers: nginx evhttp
#   RUNS=3 DURATION=10s PEERS="nginx,evhttp,h2o,mhd" bash bench/run.sh
#   SKIP_IDLE=1 bash bench/run.sh              # throughput tests only
#
# Env: RUNS (2) DURATION (5s) PEERS (nginx,evhttp) IDLE_PEERS ("nginx evhttp") N (10000 idle
#      connections) PORT (18090) BUILD_DIR (build-bench) PEERS_DIR (shared/bench-peers)
#      SCRATCH (/tmp/bench_peers) INSTALL (1: apt-get install what is missing) SKIP_IDLE SKIP_BUILD
# Every load is bounded: wrk by -d and timeout(1) inside the harness, each harness by timeout(1)
# here. Servers are started and stopped by PID by the harness (server on core 0, wrk on core 1).
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-2}
DURATION=${DURATION:-5s}; DURATION=${DURATION%s}s
PEERS=${PEERS:-nginx,evhttp}
IDLE_PEERS=${IDLE_PEERS:-nginx evhttp}
N=${N:-10000}
PORT=${PORT:-18090}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
# The servers are started from the harness's own directory: a relative BUILD_DIR (as in
# "BUILD_DIR=build") is taken from where this script was started.
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$PWD/$BUILD_DIR ;; esac
SCRATCH=${SCRATCH:-/tmp/bench_peers}
INSTALL=${INSTALL:-1}
if [ -z "${PEERS_DIR:-}" ]; then
  for d in "$ROOT/../shared/bench-peers" /work/shared/bench-peers; do
    [ -f "$d/run_peers.sh" ] && { PEERS_DIR=$(cd "$d" && pwd); break; }
  done
fi
[ -f "${PEERS_DIR:-}/run_peers.sh" ] || { echo "bench: peer harness not found (set PEERS_DIR)" >&2; exit 2; }
export SCRATCH

# ---- packages (only what is missing) --------------------------------------------------------
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx)
[ -f /usr/include/event2/event.h ] || need+=(libevent-dev)
command -v curl >/dev/null || need+=(curl)
command -v h2load >/dev/null || need+=(nghttp2-client)  # LOADGEN=h2load bench/cpu_vs_nginx.sh
command -v taskset >/dev/null || need+=(util-linux)
command -v cmake >/dev/null || need+=(cmake)
[[ ",$PEERS," == *",h2o,"* ]] && ! command -v h2o >/dev/null && need+=(h2o)
[[ ",$PEERS," == *",tornado,"* ]] && ! python3 -c 'import tornado' 2>/dev/null && need+=(python3-tornado)
[[ ",$PEERS," == *",mhd,"* ]] && [ ! -f /usr/include/microhttpd.h ] && need+=(libmicrohttpd-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$INSTALL" = 1 ] && [ "$(id -u)" = 0 ]; then
    echo "bench: installing ${need[*]}"
    timeout 300 apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq "${need[@]}" >/dev/null ||
      echo "bench: apt-get install failed for some of: ${need[*]}" >&2
  else
    echo "bench: missing ${need[*]} (install them, or run as root with INSTALL=1)" >&2
  fi
fi
for c in wrk nginx taskset curl; do command -v $c >/dev/null || { echo "bench: $c missing" >&2; exit 2; }; done

# ---- build ----------------------------------------------------------------------------------
HELLO=$BUILD_DIR/bench/hello_server
if [ -z "${SKIP_BUILD:-}" ]; then
  timeout 900 cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DEDDY_BUILD_BENCH=ON -DEDDY_BUILD_TESTS=OFF -DEDDY_BUILD_EXAMPLES=OFF >/dev/null &&
    timeout 900 cmake --build "$BUILD_DIR" -j"$(nproc)" --target hello_server web_hello_server >/dev/null ||
    { echo "bench: build failed" >&2; exit 1; }
fi
[ -x "$HELLO" ] || { echo "bench: $HELLO missing" >&2; exit 1; }

EDDY_LINE="eddy $PORT $HELLO --port $PORT --backlog 4096"
# The same answer through the web layer (Application + route + handler, the demo's /plaintext
# handler), to see what routing and the handler life cycle cost over the raw server. (The
# harness checks for the "Hello, World!" body, so the JSON variant of web_hello_server is not
# run here.)
WEB=$BUILD_DIR/bench/web_hello_server
WEB_LINE="eddy-web $((PORT + 1)) $WEB --port $((PORT + 1))"
STAMP=$(date +%Y%m%d-%H%M%S)
OUT=${OUT:-$SCRATCH/results/eddy-$STAMP}; mkdir -p "$OUT"
echo "bench: $(date -u '+%F %T UTC'), $(nproc) cores, $(uname -r); RUNS=$RUNS DURATION=$DURATION"
echo "bench: results in $OUT"

# ---- throughput: plain c100, pipelined x16 c100, c1000 ---------------------------------------
dsec=${DURATION%s}
nsrv=$(( $(echo "$PEERS" | tr ',' '\n' | grep -c .) + 2 ))
bound=$(( RUNS * nsrv * (3 * (dsec + 35) + 50) + 60 ))
ONLY="$PEERS,eddy,eddy-web" RUNS=$RUNS DURATION=$DURATION OUTDIR="$OUT/peers" \
  timeout -k 10 "$bound" bash "$PEERS_DIR/run_peers.sh" "$EDDY_LINE" "$WEB_LINE" 2>&1 |
  tee "$OUT/peers.log"

# ---- memory per idle keep-alive connection ---------------------------------------------------
if [ -z "${SKIP_IDLE:-}" ]; then
  nsrv=$(( $(echo "$IDLE_PEERS" | wc -w) + 1 ))
  IDLE_SERVERS="$IDLE_PEERS eddy" N=$N RUNS=$RUNS \
    timeout -k 10 $(( RUNS * nsrv * 150 + 60 )) bash "$PEERS_DIR/run_idle.sh" "$EDDY_LINE" 2>&1 |
    tee "$OUT/idle.log"
fi

# ---- summary ----------------------------------------------------------------------------------
python3 "$ROOT/bench/summary.py" "$OUT/peers/results.tsv" "$OUT/idle.log" | tee "$OUT/summary.txt"
