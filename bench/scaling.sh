#!/usr/bin/env bash
# Scaling over cores: wrk against prod_server with 1 and 2 loops (threads sharing the port with
# SO_REUSEPORT) and 2 forked processes (one shared socket). Bounded: SECONDS per run.
#   bash bench/scaling.sh [SERVER] [SECONDS]
set -eu
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVER=${1:-$ROOT/build/tests/integration/prod_server}
SECS=${2:-5}
OUT=$(mktemp -d /tmp/eddy-scaling.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
for MODE in "--threads 1" "--threads 2" "--processes 2"; do
  # shellcheck disable=SC2086
  "$SERVER" $MODE --idle-timeout 0 >"$OUT/port" 2>/dev/null &
  PID=$!
  for _ in $(seq 50); do grep -q PORT "$OUT/port" && break; sleep 0.1; done
  PORT=$(awk '/PORT/{print $2}' "$OUT/port")
  RPS=$(wrk -t2 -c64 -d"${SECS}s" "http://127.0.0.1:$PORT/info" | awk '/Requests\/sec/{print $2}')
  echo "$MODE: $RPS req/s"
  kill -TERM $PID; wait $PID 2>/dev/null || true
done
