#!/usr/bin/env bash
# How low can CPU per request at keep-alive c100 go, against nginx in the same moments? Runs, in
# interleaved rounds, nginx (the harness's config), eddy's hello_server, and the two floor
# servers of this directory: epoll (level- and edge-triggered) and io_uring, which do no work
# but one recv/send per request. Same load and measure as bench/cpu_vs_nginx.sh (server on core
# 0, wrk -t1 -c100 on core 1, CPU from /proc/PID/stat). See README.md here.
#
#   bash bench/floor/floor_vs_nginx.sh               # 6 rounds of 4 s per server
#   ROUNDS=8 DURATION=5s BUILD_DIR=build-bench bash bench/floor/floor_vs_nginx.sh
#
# Needs gcc, wrk, nginx, taskset, curl (bench/run.sh installs them) and, for the io_uring
# floor, liburing-dev (skipped with a message when missing).
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/bench/floor"
ROUNDS=${ROUNDS:-6}
DURATION=${DURATION:-4s}
NAME=floor_vs_nginx
# shellcheck source=bench/vs_nginx_setup.sh
source "$ROOT/bench/vs_nginx_setup.sh"
mkdir -p "$SCRATCH/nginx"
# shellcheck source=bench/cpu_per_request.sh
source "$ROOT/bench/cpu_per_request.sh"

gcc -O2 -Wall -o "$SCRATCH/epoll_floor" "$HERE/epoll_floor.c" || exit 1
URING=1
if ! gcc -O2 -Wall -o "$SCRATCH/uring_floor" "$HERE/uring_floor.c" -luring 2>/dev/null; then
  echo "floor: no io_uring floor (apt-get install liburing-dev)" >&2
  URING=0
fi

declare -A ratios
servers="eddy epoll-lt epoll-et"
[ "$URING" = 1 ] && servers="$servers uring"
for r in $(seq "$ROUNDS"); do
  nginx_cpu=$(run_one nginx "$NGINX_PORT" nginx -p "$SCRATCH/nginx" \
      -c "$PEERS_DIR/nginx.conf" -g "daemon off; pid $SCRATCH/nginx/nginx.pid;")
  for s in $servers; do
    case $s in
      # shellcheck disable=SC2086  # EDDY_ARGS is a list of words
      eddy) cpu=$(run_one eddy "$EDDY_PORT" "$EDDY_BIN" --port "$EDDY_PORT" $EDDY_ARGS) ;;
      epoll-lt) cpu=$(run_one "$s" "$EDDY_PORT" "$SCRATCH/epoll_floor" --port "$EDDY_PORT") ;;
      epoll-et) cpu=$(run_one "$s" "$EDDY_PORT" env FLOOR_ET=1 "$SCRATCH/epoll_floor" --port "$EDDY_PORT") ;;
      uring) cpu=$(run_one "$s" "$EDDY_PORT" "$SCRATCH/uring_floor" --port "$EDDY_PORT") ;;
    esac
    compare_round "$r" nginx "$nginx_cpu" "$s" "$cpu"
    ratios[$s]="${ratios[$s]:-} $round_ratio"
  done
done
for s in $servers; do
  # shellcheck disable=SC2086  # one ratio per word
  printf '%s\n' ${ratios[$s]} | median_ratio "$s/nginx"
done
