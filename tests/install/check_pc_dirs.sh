#!/bin/sh
# eddy.pc's libdir and includedir for absolute CMAKE_INSTALL_LIBDIR / INCLUDEDIR, which
# GNUInstallDirs accepts (Nix passes them; its headers go to another output than the prefix):
# configures eddy (nothing built) with a libdir under the prefix and an includedir outside it,
# places the generated eddy.pc where `cmake --install` would, and asks pkg-config.
# Usage: check_pc_dirs.sh <cmake> <source dir>
set -eu
cmake=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/out
libdir=$tmp/out/lib64
includedir=$tmp/dev/include
"$cmake" -S "$src" -B "$tmp/build" -DCMAKE_INSTALL_PREFIX="$prefix" \
    -DCMAKE_INSTALL_LIBDIR="$libdir" -DCMAKE_INSTALL_INCLUDEDIR="$includedir" \
    -DEDDY_BUILD_TESTS=OFF -DEDDY_BUILD_EXAMPLES=OFF -DEDDY_BUILD_BENCH=OFF \
    -DEDDY_BUILD_BINDINGS=OFF >"$tmp/configure.log" 2>&1 ||
    { cat "$tmp/configure.log"; echo "FAIL: configure"; exit 1; }
mkdir -p "$libdir/pkgconfig"
cp "$tmp/build/eddy.pc" "$libdir/pkgconfig/eddy.pc"
sed -n '1,4p' "$libdir/pkgconfig/eddy.pc"
fail=0
for var in libdir includedir; do
    got=$(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --variable=$var eddy)
    eval want=\$$var
    # realpath -m: ${pcfiledir}/../.. spellings are fine, as long as they lead there.
    if [ "$(realpath -m "$got")" != "$want" ]; then
        echo "FAIL: eddy.pc's $var is '$got', expected $want"
        fail=1
    fi
done
[ $fail -eq 0 ] && echo "eddy.pc follows absolute install directories"
exit $fail
