#!/usr/bin/env bash
# HTTPS benchmark: eddy (bench/tls/https_hello_server) beside nginx with the same certificate,
# in one run. Servers pinned to core 0, clients to core 1 (taskset).
#   full handshakes/s:    openssl s_time -new (a new TLS session per connection), TLS 1.3
#   resumed handshakes/s: openssl s_time -reuse, TLS 1.3 and TLS 1.2 (the share of connections
#                         actually resumed is checked: a row says so if some were not)
#   keep-alive req/s:     wrk -t1 -c50 over https, and the server's CPU time per request in
#                         that run (user + system, /proc/PID/stat; nginx: master + worker)
#   first request after a resumed TLS 1.2 handshake, client with Nagle on (nagle_probe.py):
#                         median ms from handshake end to response end
# Both servers offer TLS 1.2 and 1.3 (nginx 1.22's default ssl_protocols stops at TLS 1.2).
# Env: DURATION (seconds, default 5), BUILD_DIR (default build), KEY_TYPE (ec|rsa, default ec).
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-5}
BUILD_DIR=${BUILD_DIR:-build}
KEY_TYPE=${KEY_TYPE:-ec}
SERVER=$BUILD_DIR/bench/tls/https_hello_server
[ -x "$SERVER" ] || { echo "build first: cmake --build $BUILD_DIR" >&2; exit 1; }
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

# shellcheck source=bench/tls/setup.sh
source bench/tls/setup.sh
make_cert "$TMP" "$KEY_TYPE"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# eddy
taskset -c 0 "$SERVER" --cert "$TMP/cert.pem" --key "$TMP/key.pem" > "$TMP/eddy.out" &
PIDS+=($!)
EDDY_PID=$!
for _ in $(seq 50); do grep -q listening "$TMP/eddy.out" 2>/dev/null && break; sleep 0.1; done
EDDY_PORT=$(sed -n 's/.*://p' "$TMP/eddy.out")

# nginx, same certificate, one worker, no access log
NGINX_PORT=$(free_port)
write_nginx_conf "$TMP" "$NGINX_PORT"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
taskset -c 0 "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" &
PIDS+=($!)
NGINX_PID=$!
sleep 1

s_time() {  # port mode [version flag] -> connections per second (each: handshake, GET /,
            # response, close). s_time prints one character per connection: r = resumed.
  # s_time reports whole seconds only: time the run here instead.
  local start end out
  start=$(date +%s.%N)
  out=$(timeout $((DURATION + 30)) taskset -c 1 openssl s_time -connect "127.0.0.1:$1" "$2" ${3:-} \
      -www / -time "$DURATION" 2>/dev/null || true)
  end=$(date +%s.%N)
  python3 - "$2" "$start" "$end" "$out" <<'PY'
import re, sys
mode, start, end, out = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
m = re.search(r"(\d+) connections in [0-9.]+ real seconds", out)
if not m:
    print("n/a")
    sys.exit()
rate = "%.0f" % (int(m.group(1)) / (end - start))
if mode == "-reuse":
    marks = re.search(r"starting\s*([^\n]*)", out)
    marks = marks.group(1) if marks else ""
    resumed, total = marks.count("r"), len(marks)
    if total and resumed < 0.99 * total:
        rate += " (only %d%% resumed)" % (100 * resumed // total)
print(rate)
PY
}
# shellcheck source=bench/cpu_per_request.sh
source bench/cpu_per_request.sh  # ticks PID: user and system clock ticks of PID and its children
wrk_rps() {  # port server_pid -> "req/s cpu_us_per_request"
  local before after out
  before=$(ticks "$2")
  out=$(timeout $((DURATION + 30)) taskset -c 1 wrk -t1 -c50 -d"${DURATION}s" "https://127.0.0.1:$1/" \
    2>/dev/null)
  after=$(ticks "$2")
  echo "$out" | awk -v b="$before" -v a="$after" -v hz="$HZ" '
    /requests in/ { n = $1 } /Requests\/sec/ { rps = $2 }
    END { split(b, x, " "); split(a, y, " ")
          if (n > 0) printf "%.0f %.2f", rps, (y[1] + y[2] - x[1] - x[2]) * 1e6 / hz / n }'
}

printf "| test | eddy | nginx | eddy/nginx |\n|---|---:|---:|---:|\n"
row() {  # label eddy nginx
  ratio=$(python3 -c "
import re, sys
num = lambda v: float(v) if re.fullmatch(r'[0-9.]+', v) else None
e, n = map(num, sys.argv[1:])
print('%.3g' % (e / n) if e is not None and n else 'n/a')" "$2" "$3")
  printf "| %s | %s | %s | %s |\n" "$1" "$2" "$3" "$ratio"
}
row "full handshakes/s (s_time -new, TLS 1.3)" "$(s_time "$EDDY_PORT" -new)" "$(s_time "$NGINX_PORT" -new)"
for v in 1_3 1_2; do
  row "resumed handshakes/s (s_time -reuse, TLS ${v/_/.})" \
      "$(s_time "$EDDY_PORT" -reuse "-tls$v")" "$(s_time "$NGINX_PORT" -reuse "-tls$v")"
done
read -r eddy_rps eddy_cpu <<<"$(wrk_rps "$EDDY_PORT" "$EDDY_PID")"
read -r nginx_rps nginx_cpu <<<"$(wrk_rps "$NGINX_PORT" "$NGINX_PID")"
row "keep-alive req/s (wrk -t1 -c50)" "${eddy_rps:-n/a}" "${nginx_rps:-n/a}"
row "server CPU us per keep-alive request (lower is better)" "${eddy_cpu:-n/a}" "${nginx_cpu:-n/a}"
probe() { timeout 60 taskset -c 1 python3 bench/tls/nagle_probe.py "$1" 1.2 20 || echo n/a; }
row "request after resumed TLS 1.2 handshake, Nagle client (median ms, lower is better)" \
    "$(probe "$EDDY_PORT")" "$(probe "$NGINX_PORT")"
