# Sourced by cpu_vs_nginx.sh and kernel_vs_nginx.sh: the settings they share (eddy's binary and
# port, nginx with the shared harness's config), building hello_server when it is missing, and
# the tools both need. Expects ROOT, and NAME (the script's name for messages); SCRATCH may be
# set by the caller's environment, else /tmp/eddy_$NAME.
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
PEERS_DIR=${PEERS_DIR:-$ROOT/../shared/bench-peers}
SCRATCH=${SCRATCH:-/tmp/eddy_$NAME}
EDDY_BIN=${EDDY_BIN:-$BUILD_DIR/bench/hello_server}
EDDY_PORT=${EDDY_PORT:-18190}
# hello_server makes its listening socket with nginx's backlog (4096); web_hello_server has
# no such option.
if [ "$(basename "$EDDY_BIN")" = hello_server ]; then EDDY_ARGS=${EDDY_ARGS:---backlog 4096}; fi
EDDY_ARGS=${EDDY_ARGS:-}
NGINX_PORT=18081  # fixed by the shared nginx.conf
if [ ! -x "$EDDY_BIN" ]; then
  timeout 900 cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DEDDY_BUILD_TESTS=OFF -DEDDY_BUILD_EXAMPLES=OFF >/dev/null &&
    timeout 900 cmake --build "$BUILD_DIR" -j"$(nproc)" --target hello_server web_hello_server \
      >/dev/null || { echo "$NAME: build failed" >&2; exit 1; }
fi
for c in wrk taskset curl nginx $([ "${LOADGEN:-wrk}" = h2load ] && echo h2load); do
  command -v $c >/dev/null || { echo "$NAME: $c missing (bench/run.sh installs it)" >&2; exit 2; }
done
[ -f "$PEERS_DIR/nginx.conf" ] || { echo "$NAME: no $PEERS_DIR/nginx.conf" >&2; exit 2; }
