#!/usr/bin/env bash
# Slowloris (slow headers) and slow bodies with slowhttptest, loopback only: normal clients'
# throughput (wrk, /info, keep-alive) with SLOW slow connections open, against the same server
# unloaded. Prints the server's open fds while under attack and the ratio per attack.
#   bash bench/abuse/slow_clients.sh [SERVER] [SLOW] [SECONDS]
# Defaults: build/tests/integration/prod_server, 5000, 5. Needs wrk and slowhttptest.
# Bounded: each wrk run lasts SECONDS, each slowhttptest run is under `timeout`.
set -eu
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SERVER=${1:-$ROOT/build/tests/integration/prod_server}
SLOW=${2:-5000}
SECS=${3:-5}
ulimit -n $((SLOW * 2 + 1000)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"
OUT=$(mktemp -d /tmp/eddy-slow.XXXXXX)
"$SERVER" >"$OUT/port" 2>/dev/null &
SPID=$!
trap 'kill $SPID 2>/dev/null; [ -n "${HPID:-}" ] && kill $HPID 2>/dev/null; rm -rf "$OUT"' EXIT
for _ in $(seq 50); do grep -q PORT "$OUT/port" && break; sleep 0.1; done
PORT=$(awk '/PORT/{print $2}' "$OUT/port")
URL=http://127.0.0.1:$PORT/info

rps() { wrk -t1 -c20 -d"${SECS}s" "$URL" | awk '/Requests\/sec/{print $2}'; }

BASE=$(rps)
echo "unloaded: $BASE req/s"
for MODE in -H -B; do
  timeout $((SECS + 120)) slowhttptest $MODE -c "$SLOW" -r 1000 -i 10 -l $((SECS + 60)) \
    -u "$URL" -t POST -s 100000 -p 3 -o "$OUT/slow" >/dev/null 2>&1 &
  HPID=$!
  # Wait until the slow connections are open (bounded).
  for _ in $(seq 100); do
    [ "$(ls /proc/$SPID/fd | wc -l)" -ge $((SLOW * 9 / 10)) ] && break
    sleep 0.2
  done
  OPEN=$(ls /proc/$SPID/fd | wc -l)
  LOADED=$(rps)
  kill $HPID 2>/dev/null; wait $HPID 2>/dev/null || true; HPID=
  awk -v m="$MODE" -v b="$BASE" -v l="$LOADED" -v o="$OPEN" \
    'BEGIN{printf "%s: %s req/s with %d server fds open (slow connections) = %.0f%% of unloaded\n", (m=="-H"?"slowloris":"slow body"), l, o, 100*l/b}'
  sleep 2
done
