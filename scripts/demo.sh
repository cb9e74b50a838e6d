#!/usr/bin/env bash
# Builds eddy and runs the main example in the foreground (Ctrl-C stops it).
# PORT (default 8888) selects the port.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The demo: a path under build/ (also its CMake target name) and its arguments.
DEMO=(examples/demo/demo --port "${PORT:-8888}")

bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)" --target "$(basename "${DEMO[0]}")"
exec "build/${DEMO[0]}" "${DEMO[@]:1}"
