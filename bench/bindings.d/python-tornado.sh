#!/usr/bin/env bash
# Peer for the Python binding in bench/bindings.sh: the same hello handler served by Debian's
# python3-tornado; prints the command that starts it on $PORT.
set -eu
[ -n "${PORT:-}" ] || { echo "python-tornado.sh: PORT is required" >&2; exit 2; }
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=${PYTHON:-/usr/bin/python3}
"$PY" -c "import tornado" 2>/dev/null || { echo "python-tornado.sh: python3-tornado missing" >&2; exit 1; }
echo "$PY $ROOT/bindings/python/bench/hello_server.py --impl tornado --port $PORT"
