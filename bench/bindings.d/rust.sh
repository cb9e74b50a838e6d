#!/usr/bin/env bash
# The Rust binding's hello server for bench/bindings.sh (a route of the web layer through the
# safe crate, as the C web_hello_server): builds it in release mode in $BUILD_DIR (CMake target
# eddy_rust; needs cargo) and prints the command that starts it on $PORT.
set -eu
[ -n "${BUILD_DIR:-}" ] && [ -n "${PORT:-}" ] || { echo "rust.sh: BUILD_DIR and PORT are required" >&2; exit 2; }
command -v cargo >/dev/null || [ -x "${HOME:-/root}/.cargo/bin/cargo" ] ||
  { echo "rust.sh: no cargo (apt-get install cargo rustc)" >&2; exit 1; }
timeout 600 cmake --build "$BUILD_DIR" --target eddy_rust >&2
echo "$BUILD_DIR/bindings/rust/hello --port $PORT"
