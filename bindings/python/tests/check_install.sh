#!/usr/bin/env bash
# `cmake --install` puts a working eddy package into a prefix: import it from there (with
# nothing else on PYTHONPATH) and serve one request. Usage: check_install.sh BUILD_DIR PYTHON
set -euo pipefail
build=$1
python=$2
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
init=$(find "$prefix" -path '*/eddy/__init__.py' | head -n1)
[ -n "$init" ] || { echo "no eddy package under $prefix"; exit 1; }
site=$(dirname "$(dirname "$init")")
cd "$prefix"
PYTHONPATH=$site "$python" - "$site" <<'PY'
import asyncio, sys, urllib.request
import eddy.web
assert eddy.__file__.startswith(sys.argv[1]), eddy.__file__
# The raw-TCP modules are installed too (and import from there).
import eddy.iostream, eddy.netutil, eddy.process, eddy.tcpclient, eddy.tcpserver

class Hello(eddy.web.RequestHandler):
    def get(self):
        self.write("installed")

async def main():
    server = eddy.web.Application([(r"/", Hello)]).listen(0, "127.0.0.1")
    url = "http://127.0.0.1:%d/" % server.port
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=10).read())
    assert body == b"installed", body
    server.stop()

asyncio.run(main())
print("installed package works:", eddy.__file__)
PY
