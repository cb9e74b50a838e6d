#!/bin/sh
# Absolute CMAKE_INSTALL_LIBDIR / INCLUDEDIR, which GNUInstallDirs accepts (Nix passes them; its
# headers go to another output than the prefix): configures eddy (nothing built) with a libdir
# under the prefix and an includedir outside it, then
#  - places the generated eddy.pc where `cmake --install` would and asks pkg-config;
#  - checks the RUNPATH the Python and Lua modules get at install (the absolute libdir), for
#    the bindings this machine can build.
# Usage: check_absolute_dirs.sh <cmake> <source dir>
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
    -DEDDY_BUILD_BINDINGS=ON >"$tmp/configure.log" 2>&1 ||
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
for binding in python lua; do
    script=$tmp/build/bindings/$binding/cmake_install.cmake
    if [ ! -f "$script" ]; then
        echo "$binding binding not configured here: its RUNPATH not checked"
        continue
    fi
    if grep -qF "NEW_RPATH \"$libdir\"" "$script"; then
        echo "$binding module RUNPATH: $libdir"
    else
        grep -F NEW_RPATH "$script" || true
        echo "FAIL: the $binding module's install RUNPATH is not $libdir"
        fail=1
    fi
done
# A distribution's /usr build (installed with DESTDIR): the prefix is written as /usr, so that
# pkg-config leaves out the system -I/-L (a relocatable ${pcfiledir}/../../.. spelling is not
# recognised as /usr/include or the multiarch libdir, and its -L would come before a user's own).
"$cmake" -S "$src" -B "$tmp/build-usr" -DCMAKE_INSTALL_PREFIX=/usr \
    -DCMAKE_INSTALL_LIBDIR=lib/x86_64-linux-gnu \
    -DEDDY_BUILD_TESTS=OFF -DEDDY_BUILD_EXAMPLES=OFF -DEDDY_BUILD_BENCH=OFF \
    -DEDDY_BUILD_BINDINGS=OFF >"$tmp/configure-usr.log" 2>&1 ||
    { cat "$tmp/configure-usr.log"; echo "FAIL: configure for /usr"; exit 1; }
mkdir -p "$tmp/usr-pc"
cp "$tmp/build-usr/eddy.pc" "$tmp/usr-pc/eddy.pc"
first=$(sed -n 1p "$tmp/usr-pc/eddy.pc")
if [ "$first" != "prefix=/usr" ]; then
    echo "FAIL: a /usr build's eddy.pc starts with '$first', not prefix=/usr"
    fail=1
fi
if [ "$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)" = x86_64-linux-gnu ]; then
    flags=$(PKG_CONFIG_PATH="$tmp/usr-pc" pkg-config --cflags --libs eddy)
    if [ "$(echo $flags)" != "-leddy" ]; then
        echo "FAIL: a /usr build's pkg-config flags are '$flags', expected only -leddy"
        fail=1
    fi
fi
[ $fail -eq 0 ] && echo "eddy.pc and the modules' RUNPATH follow absolute install directories; /usr is /usr"
exit $fail
