#!/usr/bin/env bash
# A/B of two builds of a server: CPU time per request at keep-alive c100, in interleaved rounds
# (A, B, A, B ...) so that both see the same moments of a noisy host — the way to judge a change
# worth a few percent, which single runs on this VM cannot show. Same load as cpu_vs_nginx.sh
# (server on core 0, wrk -t1 -c100 on core 1).
#
#   A_BIN=/tmp/before/bench/hello_server B_BIN=build-bench/bench/hello_server bash bench/ab_cpu.sh
#   ROUNDS=16 DURATION=3s A_BIN=... B_BIN=... bash bench/ab_cpu.sh
#
# Both binaries get `--port PORT` plus $SERVER_ARGS (default `--backlog 4096`, for hello_server;
# set it empty for web_hello_server). Prints per round each build's req/s and user+kernel CPU
# us per request and B/A of the total, then the median B/A.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
A_BIN=${A_BIN:?set A_BIN and B_BIN to the two server binaries}
B_BIN=${B_BIN:?set A_BIN and B_BIN to the two server binaries}
ROUNDS=${ROUNDS:-8}
DURATION=${DURATION:-4s}
PORT=${PORT:-18190}
SERVER_ARGS=${SERVER_ARGS---backlog 4096}
SCRATCH=${SCRATCH:-/tmp/eddy_ab_cpu}
mkdir -p "$SCRATCH"
for c in wrk taskset curl; do
  command -v $c >/dev/null || { echo "ab_cpu: $c missing (bench/run.sh installs it)" >&2; exit 2; }
done
for b in "$A_BIN" "$B_BIN"; do [ -x "$b" ] || { echo "ab_cpu: $b is not executable" >&2; exit 2; }; done
# shellcheck source=bench/cpu_per_request.sh
source "$ROOT/bench/cpu_per_request.sh"

ratios=()
for r in $(seq "$ROUNDS"); do
  # shellcheck disable=SC2086  # SERVER_ARGS is a list of words
  a_cpu=$(run_one a "$PORT" "$A_BIN" --port "$PORT" $SERVER_ARGS)
  # shellcheck disable=SC2086
  b_cpu=$(run_one b "$PORT" "$B_BIN" --port "$PORT" $SERVER_ARGS)
  compare_round "$r" A "$a_cpu" B "$b_cpu"
  ratios+=("$round_ratio")
done
printf '%s\n' "${ratios[@]}" | median_ratio B/A
