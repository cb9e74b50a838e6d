#!/usr/bin/env bash
# The Python binding's hello server for bench/bindings.sh (eddy.web Application + RequestHandler,
# Tornado's hello world): builds the module in $BUILD_DIR (CMake target eddy_python; needs swig
# and python3-dev) and prints the command that starts it on $PORT.
set -eu
[ -n "${BUILD_DIR:-}" ] && [ -n "${PORT:-}" ] || { echo "python.sh: BUILD_DIR and PORT are required" >&2; exit 2; }
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=${PYTHON:-/usr/bin/python3}
timeout 600 cmake --build "$BUILD_DIR" --target eddy_python >&2
[ -d "$BUILD_DIR/bindings/python/site/eddy" ] || { echo "python.sh: binding not built (swig/python3-dev missing?)" >&2; exit 1; }
echo "env PYTHONPATH=$BUILD_DIR/bindings/python/site $PY $ROOT/bindings/python/bench/hello_server.py --port $PORT"
