#!/usr/bin/env bash
# Server CPU time per request at keep-alive c100 (issue 3's criterion: <= 0.8x nginx), measured
# in interleaved rounds — nginx, eddy, nginx, eddy ... — so that both see the same moments of a
# noisy host, with user and kernel time apart (from /proc/PID/stat) to show where each spends it.
# Server on core 0, wrk (one thread, -c100, no pipelining) on core 1; nginx with the shared
# harness's config (../shared/bench-peers/nginx.conf: one worker, no access log).
#
#   bash bench/cpu_vs_nginx.sh                     # 6 rounds of 5 s each per server
#   ROUNDS=10 DURATION=5s BUILD_DIR=build bash bench/cpu_vs_nginx.sh
#   EDDY_BIN=build/bench/web_hello_server bash bench/cpu_vs_nginx.sh   # the web layer instead
#   LOADGEN=h2load [DEPTH=16] [CONNS=1000] bash bench/cpu_vs_nginx.sh  # nghttp2's h2load --h1
#
# Prints per round each server's req/s and user/kernel/total microseconds of CPU per request,
# the eddy/nginx ratio of the total, then the median ratio.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-6}
DURATION=${DURATION:-5s}
NAME=cpu_vs_nginx
# shellcheck source=bench/vs_nginx_setup.sh
source "$ROOT/bench/vs_nginx_setup.sh"
mkdir -p "$SCRATCH/nginx"
# shellcheck source=bench/cpu_per_request.sh
source "$ROOT/bench/cpu_per_request.sh"

ratios=()
for r in $(seq "$ROUNDS"); do
  nginx_cpu=$(run_one nginx "$NGINX_PORT" nginx -p "$SCRATCH/nginx" \
      -c "$PEERS_DIR/nginx.conf" -g "daemon off; pid $SCRATCH/nginx/nginx.pid;")
  # shellcheck disable=SC2086  # EDDY_ARGS is a list of words
  eddy_cpu=$(run_one eddy "$EDDY_PORT" "$EDDY_BIN" --port "$EDDY_PORT" $EDDY_ARGS)
  compare_round "$r" nginx "$nginx_cpu" eddy "$eddy_cpu"
  ratios+=("$round_ratio")
done
printf '%s\n' "${ratios[@]}" | median_ratio eddy/nginx
