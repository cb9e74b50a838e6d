#!/usr/bin/env bash
# Server CPU time per keep-alive HTTPS request, eddy (bench/tls/https_hello_server) against
# nginx with the same certificate, in interleaved rounds — nginx, eddy, nginx, eddy ... — so
# that both see the same moments of a noisy host. Server on core 0, wrk (one thread, -c50,
# TLS 1.3 with its default ciphers) on core 1; user and kernel time from /proc/PID/stat (nginx:
# master + worker). Over TLS wrk is usually the bottleneck, so req/s say little and the CPU the
# server spent per request says what a server costs.
#
#   bash bench/tls/cpu_vs_nginx.sh                  # 6 rounds of 4 s each per server
#   ROUNDS=8 DURATION=5s BUILD_DIR=build bash bench/tls/cpu_vs_nginx.sh
#   EDDY_BIN=/tmp/old/bench/tls/https_hello_server bash bench/tls/cpu_vs_nginx.sh
#
# Prints per round each server's req/s and user/kernel/total microseconds of CPU per request,
# the eddy/nginx ratio of the total, then the median ratio.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
ROUNDS=${ROUNDS:-6}
DURATION=${DURATION:-4s}
BUILD_DIR=${BUILD_DIR:-build}
EDDY_BIN=${EDDY_BIN:-$BUILD_DIR/bench/tls/https_hello_server}
EDDY_PORT=${EDDY_PORT:-18443}
NGINX_PORT=${NGINX_PORT:-18444}
[ -x "$EDDY_BIN" ] || { echo "build first: cmake --build $BUILD_DIR" >&2; exit 1; }
for c in wrk taskset curl nginx openssl; do
  command -v $c >/dev/null || { echo "$c missing" >&2; exit 2; }
done
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
# shellcheck source=bench/tls/setup.sh
source bench/tls/setup.sh
# shellcheck source=bench/cpu_per_request.sh
source bench/cpu_per_request.sh
make_cert "$SCRATCH" "${KEY_TYPE:-ec}"
write_nginx_conf "$SCRATCH" "$NGINX_PORT"
export SCHEME=https CONNS=50

ratios=()
for r in $(seq "$ROUNDS"); do
  nginx_cpu=$(run_one nginx "$NGINX_PORT" nginx -p "$SCRATCH/nginx" -c "$SCRATCH/nginx/nginx.conf" \
      -e "$SCRATCH/nginx/error.log")
  eddy_cpu=$(run_one eddy "$EDDY_PORT" "$EDDY_BIN" --cert "$SCRATCH/cert.pem" \
      --key "$SCRATCH/key.pem" --port "$EDDY_PORT")
  compare_round "$r" nginx "$nginx_cpu" eddy "$eddy_cpu"
  ratios+=("$round_ratio")
done
printf '%s\n' "${ratios[@]}" | median_ratio eddy/nginx
