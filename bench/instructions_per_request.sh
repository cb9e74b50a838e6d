#!/usr/bin/env bash
# User-space instructions per request of a server under keep-alive load, from callgrind: the
# one measure of a user-space change that this kind of VM gives without noise (it has no
# hardware counters, and CPU time per request varies by ±10% between runs of one binary).
#
#   bash bench/instructions_per_request.sh [SERVER_BIN] [-- server args]
#   BIN_A=old/bench/hello_server BIN_B=build-bench/bench/hello_server bash bench/instructions_per_request.sh
#
#   WITH_NGINX=1 bash bench/instructions_per_request.sh    # the server, then nginx, and the ratio
#   CACHE_SIM=1 WITH_NGINX=1 bash bench/instructions_per_request.sh   # also cache misses and
#                                                          # branch mispredictions per request
#
# The server runs under `valgrind --tool=callgrind` (about 50x slower), `wrk -t1 -c100` loads it
# for DURATION (default 4s) over loopback, and the instructions run inside the event loop
# (eddy::Loop::run: startup and teardown, such as libcrypto's setup at the first loop, are left
# out) are divided by the requests wrk completed. With BIN_A and BIN_B, both are measured and
# the ratio B/A printed. With WITH_NGINX=1, nginx is measured the same way after the server
# (its one process: the shared harness's config, PEERS_DIR/nginx.conf, with master_process
# off; the instructions inside ngx_process_events_and_timers, its event loop pass) and the
# server/nginx ratio printed (not NGINX=1: nginx reads a variable of that name as inherited
# listening sockets). Needs valgrind (callgrind_annotate) and wrk; PORT (18114), KEEP (a
# directory to keep the callgrind outputs in, for callgrind_annotate), KEEP_SCRATCH (keep the
# logs), PEERS_DIR (../shared/bench-peers). CACHE_SIM=1 turns on callgrind's cache and branch
# simulation (slower still) and prints, per request, the simulated misses of the first-level
# instruction and data caches (I1mr, D1mr, D1mw) and the mispredicted conditional and indirect
# branches (Bcm, Bim): where user time goes beyond the instruction count. The simulation sees
# user space only; the kernel's own use of the caches between two requests is not in it.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${DURATION:-4s}
PORT=${PORT:-18114}
SCRATCH=$(mktemp -d /tmp/eddy_ipr.XXXXXX)
trap '[ -n "${KEEP_SCRATCH:-}" ] || rm -rf "$SCRATCH"' EXIT

for tool in valgrind callgrind_annotate wrk curl; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install valgrind wrk curl)" >&2; exit 2; }
done

measure() {  # name bin args... -> prints "name: N requests, M instructions per request"
  local name=$1 bin=$2; shift 2
  measure_cmd "$name" 'eddy::Loop::run()' "$PORT" "$bin" --port "$PORT" "$@"
}

# name, the function whose inclusive instructions count, the port, the command.
measure_cmd() {
  local name=$1 toggle=$2 port=$3; shift 3
  local out=$SCRATCH/$name.callgrind
  local sim=()
  [ -n "${CACHE_SIM:-}" ] && sim=(--cache-sim=yes --branch-sim=yes)
  valgrind --tool=callgrind "${sim[@]}" --callgrind-out-file="$out" --toggle-collect="$toggle" "$@" \
    >"$SCRATCH/$name.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
  timeout 60 wrk -t1 -c100 -d"$DURATION" "http://127.0.0.1:$port/" >"$SCRATCH/$name.wrk" 2>&1 || true
  kill -INT "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local requests total
  requests=$(awk '/requests in/ {print $1}' "$SCRATCH/$name.wrk")
  total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  if [ -z "$requests" ] || [ -z "$total" ] || [ "$requests" -eq 0 ]; then
    echo "$name: no measurement (see $SCRATCH/$name.log)" >&2
    return 1
  fi
  [ -n "${KEEP:-}" ] && mkdir -p "$KEEP" && cp "$out" "$KEEP/"
  echo "$name: $requests requests, $((total / requests)) instructions per request"
  if [ -n "${CACHE_SIM:-}" ]; then
    # The events line names the totals line's columns.
    callgrind_annotate "$out" 2>/dev/null | awk -v n="$requests" -v who="$name" '
      /^Events recorded:/ { for (i = 3; i <= NF; i++) col[i - 2] = $i }
      /PROGRAM TOTALS/ {
        line = who ": per request"
        for (i = 1; i in col; i++) {
          v = $(2 * i - 1); gsub(",", "", v)
          if (col[i] ~ /^(I1mr|D1mr|D1mw|Bcm|Bim)$/) line = line sprintf(" %s %.1f", col[i], v / n)
        }
        print line
      }'
  fi
  eval "ipr_$name=$((total / requests))"
}

if [ -n "${BIN_A:-}" ] && [ -n "${BIN_B:-}" ]; then
  measure A "$BIN_A" "$@"
  measure B "$BIN_B" "$@"
  # shellcheck disable=SC2154  # set by measure through eval
  awk -v a="$ipr_A" -v b="$ipr_B" 'BEGIN { printf "B/A instructions per request: %.3f\n", b / a }'
else
  BIN=${1:-$ROOT/build-bench/bench/hello_server}
  [ $# -gt 0 ] && shift
  [ "${1:-}" = "--" ] && shift
  measure server "$BIN" "$@"
  if [ -n "${WITH_NGINX:-}" ]; then
    PEERS_DIR=${PEERS_DIR:-$ROOT/../shared/bench-peers}
    command -v nginx >/dev/null || { echo "WITH_NGINX=1 needs nginx (bench/run.sh installs it)" >&2; exit 2; }
    mkdir -p "$SCRATCH/nginx/logs"
    # Port 18081, fixed by the shared config.
    measure_cmd nginx ngx_process_events_and_timers 18081 nginx -p "$SCRATCH/nginx" \
      -c "$PEERS_DIR/nginx.conf" -e stderr \
      -g "daemon off; master_process off; pid $SCRATCH/nginx/nginx.pid;"
    # shellcheck disable=SC2154  # set by measure through eval
    awk -v a="$ipr_nginx" -v b="$ipr_server" \
      'BEGIN { printf "server/nginx instructions per request: %.3f\n", b / a }'
  fi
fi
