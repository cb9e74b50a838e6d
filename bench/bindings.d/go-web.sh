#!/usr/bin/env bash
# The Go binding's hello server for bench/bindings.sh (a route of the web layer, as the C
# web_hello_server): builds it in $BUILD_DIR (CMake target
# eddy_go_examples; needs `go`) and prints the command that starts it on $PORT.
set -eu
[ -n "${BUILD_DIR:-}" ] && [ -n "${PORT:-}" ] || { echo "go.sh: BUILD_DIR and PORT are required" >&2; exit 2; }
command -v go >/dev/null || { echo "go.sh: no go toolchain (apt-get install golang-go)" >&2; exit 1; }
timeout 600 cmake --build "$BUILD_DIR" --target eddy_go_examples >&2
echo "$BUILD_DIR/bindings/go/hello --port $PORT"
