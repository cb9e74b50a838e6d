#!/usr/bin/env bash
# HTTPS benchmark: eddy (bench/tls/https_hello_server) beside nginx with the same certificate,
# in one run. Servers pinned to core 0, clients to core 1 (taskset).
#   full handshakes/s:   openssl s_time -new (a new TLS session per connection)
#   resumed handshakes/s: openssl s_time -reuse
#   keep-alive req/s:    wrk -t1 -c50 over https
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

if [ "$KEY_TYPE" = rsa ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/key.pem" -out "$TMP/cert.pem" \
    -subj /CN=localhost -days 1 2>/dev/null
else
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/key.pem" \
    -out "$TMP/cert.pem" -subj /CN=localhost -days 1 2>/dev/null
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# eddy
taskset -c 0 "$SERVER" --cert "$TMP/cert.pem" --key "$TMP/key.pem" > "$TMP/eddy.out" &
PIDS+=($!)
for _ in $(seq 50); do grep -q listening "$TMP/eddy.out" 2>/dev/null && break; sleep 0.1; done
EDDY_PORT=$(sed -n 's/.*://p' "$TMP/eddy.out")

# nginx, same certificate, one worker, no access log
NGINX_PORT=$(free_port)
mkdir -p "$TMP/nginx"
cat > "$TMP/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  keepalive_requests 100000;
  ssl_session_cache shared:SSL:1m;
  server {
    listen 127.0.0.1:$NGINX_PORT ssl;
    ssl_certificate $TMP/cert.pem;
    ssl_certificate_key $TMP/key.pem;
    location / { default_type text/plain; return 200 "Hello, World!"; }
  }
}
CONF
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
taskset -c 0 "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" &
PIDS+=($!)
sleep 1

s_time() {  # port mode -> connections per second (each: handshake, GET /, response, close)
  # s_time reports whole seconds only: time the run here instead.
  local start end n
  start=$(date +%s.%N)
  n=$(timeout $((DURATION + 30)) taskset -c 1 openssl s_time -connect "127.0.0.1:$1" "$2" \
      -www / -time "$DURATION" 2>/dev/null | awk '/connections in [0-9.]+ real seconds/ { print $1; exit }')
  end=$(date +%s.%N)
  python3 -c "import sys; n, a, b = sys.argv[1:]; print('%.0f' % (int(n) / (float(b) - float(a))) if n else 'n/a')" "${n:-}" "$start" "$end"
}
wrk_rps() {
  timeout $((DURATION + 30)) taskset -c 1 wrk -t1 -c50 -d"${DURATION}s" "https://127.0.0.1:$1/" \
    2>/dev/null | awk '/Requests\/sec/ { printf "%.0f", $2 }'
}

printf "| test | eddy | nginx | eddy/nginx |\n|---|---:|---:|---:|\n"
for t in new reuse wrk; do
  if [ "$t" = wrk ]; then e=$(wrk_rps "$EDDY_PORT"); n=$(wrk_rps "$NGINX_PORT"); label="keep-alive req/s (wrk -t1 -c50)"
  else e=$(s_time "$EDDY_PORT" "-$t"); n=$(s_time "$NGINX_PORT" "-$t")
       label=$([ "$t" = new ] && echo "full handshakes/s (s_time -new)" || echo "resumed handshakes/s (s_time -reuse)"); fi
  ratio=$(python3 -c "import sys; e,n=sys.argv[1:]; print('%.2f' % (float(e)/float(n)) if e.isdigit() and n.isdigit() and float(n) else 'n/a')" "$e" "$n")
  printf "| %s | %s | %s | %s |\n" "$label" "$e" "$n" "$ratio"
done
