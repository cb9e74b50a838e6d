#!/usr/bin/env bash
# The Lua binding's hello server for bench/bindings.sh (Application + route + handler, as web_hello_server:
# bindings/lua/examples/bench_hello.lua): builds the module in $BUILD_DIR (CMake target
# eddy_lua; needs swig and liblua5.4-dev) and prints the command that starts it on $PORT.
set -eu
[ -n "${BUILD_DIR:-}" ] && [ -n "${PORT:-}" ] || { echo "lua-web.sh: BUILD_DIR and PORT are required" >&2; exit 2; }
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
command -v lua5.4 >/dev/null || { echo "lua-web.sh: no lua5.4 (apt-get install lua5.4 liblua5.4-dev)" >&2; exit 1; }
timeout 600 cmake --build "$BUILD_DIR" --target eddy_lua >&2
echo "env 'LUA_CPATH=$BUILD_DIR/bindings/lua/?.so;;' 'LUA_PATH=$ROOT/bindings/lua/?.lua;;' lua5.4 $ROOT/bindings/lua/examples/bench_hello.lua --port $PORT --web"
