#!/bin/sh
# Builds the Go binding against an *installed* eddy found with pkg-config (build tag
# eddy_pkgconfig, i.e. `#cgo pkg-config: eddy`), then runs the hello example and asks it for a
# page over a real socket. Usage: check_pkgconfig.sh <cmake> <build dir> <bindings/go dir>
# (GOCACHE, GOPATH, GOFLAGS, GOPROXY come from the environment, as for the other go tests).
set -eu
cmake=$1
build=$2
src=$3
tmp=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
prefix=$tmp/prefix
"$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" ||
    { cat "$tmp/install.log"; echo "FAIL: cmake --install"; exit 1; }
pc=$(find "$prefix" -name eddy.pc -path '*/pkgconfig/*' | head -n1)
[ -n "$pc" ] || { echo "FAIL: eddy.pc not installed"; exit 1; }
libdir=$(dirname "$(dirname "$pc")")
# A copy of eddy.pc whose prefix is spelt out (the installed one finds it from ${pcfiledir}:
# the same place; spelt out, the -L and rpath below are plain paths).
mkdir "$tmp/pc"
sed "s|^prefix=.*|prefix=$prefix|" "$pc" >"$tmp/pc/eddy.pc"

# Nothing from the build tree: only pkg-config's flags, plus an rpath to the installed lib.
unset CGO_CFLAGS
export PKG_CONFIG_PATH="$tmp/pc" CGO_LDFLAGS="-Wl,-rpath,$libdir"
cd "$src"
go build -tags eddy_pkgconfig -o "$tmp/hello" ./examples/hello
lib=$(ldd "$tmp/hello" | awk '/libeddy/ {print $3}')
case $lib in
"$libdir"/*) echo "linked against the installed $lib" ;;
*) echo "FAIL: hello uses '$lib', not the installed library under $libdir"; exit 1 ;;
esac

"$tmp/hello" --port 0 >"$tmp/out" 2>&1 &
pid=$!
port=
for _ in $(seq 100); do
    port=$(sed -n 's/^listening on //p' "$tmp/out")
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { cat "$tmp/out"; echo "FAIL: hello did not start"; exit 1; }
body=$(curl -s --max-time 10 "http://127.0.0.1:$port/pkgconfig")
[ "$body" = "Hello, World!" ] || { echo "FAIL: got '$body'"; exit 1; }
echo "PASS: go build -tags eddy_pkgconfig against $prefix"
