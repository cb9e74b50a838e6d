#!/bin/sh
# Installs the build tree into a temporary prefix, then builds and runs a small C program
# against the installed library: with pkg-config (shared and static) and with find_package.
# Usage: check_install.sh pkgconfig|cmake <cmake> <build dir> <source dir of this test>
#                         <C compiler> [extra flags]
# Extra flags (e.g. sanitizer flags) are passed to every compile and link of the consumers.
set -eu
mode=$1
shift
case $mode in pkgconfig | cmake) ;; *) echo "unknown mode $mode"; exit 2 ;; esac
cmake=$1
build=$2
here=$3
cc=$4
extra=${5:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

"$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" ||
    { cat "$tmp/install.log"; echo "FAIL: cmake --install"; exit 1; }

pc=$(find "$prefix" -name eddy.pc -path '*/pkgconfig/*' | head -n1)
[ -n "$pc" ] || { echo "FAIL: eddy.pc not installed"; exit 1; }
libdir=$(dirname "$(dirname "$pc")")
echo "installed libdir: ${libdir#"$tmp"/}"
for f in "$libdir/libeddy.so.0" "$libdir/libeddy.a" "$prefix/include/eddy/eddy.h" \
    "$libdir/cmake/eddy/eddyConfig.cmake" "$prefix/share/doc/eddy/LICENSE" \
    "$prefix/share/doc/eddy/README.md" "$prefix/share/doc/eddy/http-conformance.md"; do
    [ -e "$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done

# eddy.pc is relocatable (its prefix is ${pcfiledir}/../..): used where it was installed.
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
pkgconf() { pkg-config "$@" eddy; }
[ "$(pkgconf --modversion)" = "$(sed -n 's/^Version: //p' "$pc")" ]
echo "pkg-config --cflags --libs eddy: $(pkgconf --cflags --libs)"
echo "pkg-config --static --libs eddy: $(pkgconf --static --libs)"

if [ "$mode" = pkgconfig ]; then
    # 1. shared, with pkg-config
    # shellcheck disable=SC2086,SC2046
    "$cc" -std=c11 -Wall -Wextra -Werror $extra -o "$tmp/hello_shared" "$here/consumer/main.c" \
        $(pkgconf --cflags --libs)
    LD_LIBRARY_PATH=$libdir "$tmp/hello_shared"
    readelf -d "$tmp/hello_shared" | grep -q 'NEEDED.*libeddy\.so\.0' ||
        { echo "FAIL: hello_shared does not use libeddy.so.0"; exit 1; }

    # 2. static, with pkg-config --static (-l:libeddy.a picks the archive over the .so)
    libs=$(pkgconf --static --libs | sed 's/-leddy\b/-l:libeddy.a/')
    # shellcheck disable=SC2086,SC2046
    "$cc" -std=c11 -Wall -Wextra -Werror $extra -o "$tmp/hello_static" "$here/consumer/main.c" \
        $(pkgconf --cflags) $libs
    env -u LD_LIBRARY_PATH "$tmp/hello_static"
    if readelf -d "$tmp/hello_static" | grep -q 'NEEDED.*libeddy'; then
        echo "FAIL: hello_static still needs libeddy.so"
        exit 1
    fi
fi

if [ "$mode" = cmake ]; then
    # 3. CMake: find_package(eddy REQUIRED) + eddy::eddy, and COMPONENTS static +
    # eddy::eddy_static
    "$cmake" -S "$here/consumer" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" -DWITH_STATIC=ON \
        -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$extra" -DCMAKE_EXE_LINKER_FLAGS="$extra" \
        >"$tmp/cmake.log" 2>&1 || { cat "$tmp/cmake.log"; echo "FAIL: consumer configure"; exit 1; }
    "$cmake" --build "$tmp/cmake-build" >"$tmp/build.log" 2>&1 ||
        { cat "$tmp/build.log"; echo "FAIL: consumer build"; exit 1; }
    "$tmp/cmake-build/hello_cmake"
    env -u LD_LIBRARY_PATH "$tmp/cmake-build/hello_cmake_static"
    if readelf -d "$tmp/cmake-build/hello_cmake_static" | grep -q 'NEEDED.*libeddy'; then
        echo "FAIL: hello_cmake_static still needs libeddy.so"
        exit 1
    fi
    # 4. COMPONENTS static in a C-only project: configure fails with a message naming CXX
    # (it used to pass, and the link then failed on undefined std:: symbols).
    if "$cmake" -S "$here/consumer" -B "$tmp/cmake-c-only" -DCMAKE_PREFIX_PATH="$prefix" \
        -DSTATIC_WITHOUT_CXX=ON -DCMAKE_C_COMPILER="$cc" >"$tmp/c-only.log" 2>&1; then
        echo "FAIL: find_package(eddy COMPONENTS static) passed in a project without CXX"
        exit 1
    fi
    grep -q "enable CXX" "$tmp/c-only.log" ||
        { cat "$tmp/c-only.log"; echo "FAIL: no message naming CXX"; exit 1; }
fi
echo "install check ($mode) passed"
