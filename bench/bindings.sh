#!/usr/bin/env bash
# Hello world through each language binding beside the C hello world, in one run: pipelined
# req/s (wrk, 100 connections, 16 requests per round trip) and the ratio to C, plus the
# server's CPU time per request (user+sys from /proc, all threads), which a host loaded by
# other work disturbs less than req/s.
#
#   bash bench/bindings.sh                      # RUNS=3 DURATION=5s
#   RUNS=5 DURATION=10s bash bench/bindings.sh
#
# Servers: `c` is build/bench/hello_server (the raw HTTP server API), `c-web` is
# web_hello_server (the same answer through Application + route + handler, the layer the
# bindings use). Each bench/bindings.d/<lang>.sh prints the command line that starts that
# binding's hello server on $PORT (it may build it first, with BUILD_DIR set); a script that
# fails is reported and skipped.
# Env: RUNS (3) DURATION (5s) PORT (18190, one per server from there) BUILD_DIR (build-bench)
#      SERVER_CPU (0) CLIENT_CPU (1) PIPELINE_DEPTH (16) SKIP_BUILD
# Every load is bounded (wrk -d under timeout(1)); servers are started and stopped by PID;
# runs are interleaved (c, c-web, go, ... then again) so a load change on the host hits all.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-3}
DURATION=${DURATION:-5s}; DURATION=${DURATION%s}s; dsec=${DURATION%s}
PORT0=${PORT:-18190}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
DEPTH=${PIPELINE_DEPTH:-16}
for c in wrk taskset curl cmake; do
  command -v $c >/dev/null || { echo "bindings.sh: $c missing (apt-get install wrk util-linux curl cmake)" >&2; exit 2; }
done

if [ -z "${SKIP_BUILD:-}" ]; then
  timeout 900 cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DEDDY_BUILD_BENCH=ON -DEDDY_BUILD_TESTS=OFF -DEDDY_BUILD_EXAMPLES=OFF >/dev/null &&
    timeout 900 cmake --build "$BUILD_DIR" -j"$(nproc)" --target hello_server web_hello_server >/dev/null ||
    { echo "bindings.sh: build failed" >&2; exit 1; }
fi

SCRATCH=$(mktemp -d /tmp/eddy-bindings-bench.XXXXXX)
SRV_PID=
cleanup() {
  [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 16 GETs written back-to-back per round trip (as shared/bench-peers/pipeline.lua).
cat >"$SCRATCH/pipeline.lua" <<LUA
init = function(args)
  local r = {}
  for i = 1, $DEPTH do r[i] = wrk.format(nil, "/") end
  req = table.concat(r)
end
request = function() return req end
LUA

# ---- the servers: name and command line ------------------------------------------------------
NAMES=(c c-web)
CMDS=("$BUILD_DIR/bench/hello_server --port $PORT0 --backlog 4096"
      "$BUILD_DIR/bench/web_hello_server --port $((PORT0 + 1))")
PORTS=("$PORT0" "$((PORT0 + 1))")
next=$((PORT0 + 2))
for script in "$ROOT"/bench/bindings.d/*.sh; do
  [ -e "$script" ] || continue
  lang=$(basename "$script" .sh)
  if line=$(BUILD_DIR=$BUILD_DIR PORT=$next ROOT=$ROOT timeout 900 bash "$script"); then
    NAMES+=("$lang"); CMDS+=("$line"); PORTS+=("$next")
  else
    echo "bindings.sh: $lang skipped ($script failed)" >&2
  fi
  next=$((next + 1))
done

# start_server CMD PORT: starts CMD pinned to SERVER_CPU; waits (bounded) until it answers
# "Hello, World!" on PORT.
start_server() {
  taskset -c "$SERVER_CPU" bash -c "exec $1" >"$SCRATCH/server.log" 2>&1 &
  SRV_PID=$!
  for _ in $(seq 100); do
    if curl -s --max-time 1 "http://127.0.0.1:$2/" 2>/dev/null | grep -q "Hello, World!"; then
      return 0
    fi
    kill -0 "$SRV_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "bindings.sh: server did not come up: $1" >&2
  cat "$SCRATCH/server.log" >&2
  stop_server
  return 1
}
stop_server() {
  [ -n "$SRV_PID" ] || return 0
  kill "$SRV_PID" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$SRV_PID" 2>/dev/null
  wait "$SRV_PID" 2>/dev/null
  SRV_PID=
}

echo "bindings.sh: $(date -u '+%F %T UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg);" \
     "RUNS=$RUNS DURATION=$DURATION depth $DEPTH, server on CPU $SERVER_CPU, wrk on CPU $CLIENT_CPU"
declare -A SUM CPU COUNT
CLK_TCK=$(getconf CLK_TCK)
# user+sys ticks of a process, all its threads
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
for run in $(seq "$RUNS"); do
  for i in "${!NAMES[@]}"; do
    name=${NAMES[$i]}; port=${PORTS[$i]}
    start_server "${CMDS[$i]}" "$port" || continue
    timeout 30 taskset -c "$CLIENT_CPU" wrk -t1 -c100 -d1s "http://127.0.0.1:$port/" >/dev/null 2>&1
    c0=$(cpu_ticks "$SRV_PID")
    out=$(timeout $((dsec + 30)) taskset -c "$CLIENT_CPU" wrk -t1 -c100 -d"$DURATION" \
            -s "$SCRATCH/pipeline.lua" "http://127.0.0.1:$port/" 2>&1)
    c1=$(cpu_ticks "$SRV_PID")
    stop_server
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    errs=$(awk '/Socket errors|Non-2xx/ {print}' <<<"$out")
    if [ -z "$rps" ]; then
      echo "run$run $name: wrk failed: $out" >&2
      continue
    fi
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    us=$(awk -v a="$c0" -v b="$c1" -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN {printf "%.3f", (b - a) / hz * 1e6 / n}')
    printf 'run%s %-8s %12.0f req/s %8s CPU us/req %s\n' "$run" "$name" "$rps" "$us" "$errs"
    SUM[$name]=$(awk -v a="${SUM[$name]:-0}" -v b="$rps" 'BEGIN {print a + b}')
    CPU[$name]=$(awk -v a="${CPU[$name]:-0}" -v b="$us" 'BEGIN {print a + b}')
    COUNT[$name]=$(( ${COUNT[$name]:-0} + 1 ))
  done
done

# ---- table: mean req/s per server and ratio to C ---------------------------------------------
echo
echo "| server | req/s (pipelined x16, c100; mean) | x C req/s | CPU us/req (mean) | C CPU / this CPU |"
echo "|---|---:|---:|---:|---:|"
c_mean=$(awk -v s="${SUM[c]:-0}" -v n="${COUNT[c]:-0}" 'BEGIN {print (n ? s / n : 0)}')
c_cpu=$(awk -v s="${CPU[c]:-0}" -v n="${COUNT[c]:-0}" 'BEGIN {print (n ? s / n : 0)}')
for name in "${NAMES[@]}"; do
  [ -n "${COUNT[$name]:-}" ] || { echo "| $name | failed | - | - | - |"; continue; }
  awk -v name="$name" -v s="${SUM[$name]}" -v cpu="${CPU[$name]}" -v n="${COUNT[$name]}" \
      -v c="$c_mean" -v cc="$c_cpu" 'BEGIN {
    m = s / n; u = cpu / n
    printf "| %s | %.0f | %s | %.2f | %s |\n", name, m, (c > 0 ? sprintf("%.2f", m / c) : "-"), u,
           (u > 0 && cc > 0 ? sprintf("%.2f", cc / u) : "-") }'
done
