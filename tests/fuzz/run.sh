#!/usr/bin/env bash
# Configures build-fuzz with clang (-DEDDY_FUZZ=ON), builds the fuzz targets and runs
# fuzz_http_connection for SECONDS (default 60) over the shared seed corpus.
#   bash tests/fuzz/run.sh [SECONDS] [libFuzzer args...]
# Env: BUILD_DIR (build-fuzz), CC/CXX (clang/clang++), plus run_fuzzer.sh's EDDY_FUZZ_* variables.
set -eu
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SECS=${1:-60}
shift || true
BUILD_DIR=${BUILD_DIR:-$ROOT/build-fuzz}
export CC=${CC:-clang} CXX=${CXX:-clang++}
command -v "$CXX" >/dev/null || { echo "fuzz: $CXX not found (apt-get install clang)" >&2; exit 2; }
timeout 900 cmake -S "$ROOT" -B "$BUILD_DIR" -DEDDY_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DEDDY_BUILD_EXAMPLES=OFF -DEDDY_BUILD_BENCH=OFF >/dev/null
timeout 1800 cmake --build "$BUILD_DIR" -j"$(nproc)" --target fuzz_http_connection
exec bash "$ROOT/tests/fuzz/run_fuzzer.sh" "$BUILD_DIR/tests/fuzz/fuzz_http_connection" "$SECS" "$@"
