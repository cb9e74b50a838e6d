#!/bin/sh
# ABI check: the shared library exports only eddy_* functions (plus its version node) and its
# SONAME is libeddy.so.<major>.
# Usage: check_exports.sh <path to libeddy.so> <expected soname>
set -eu
lib=$1
want_soname=$2
fail=0

syms=$(nm -D --defined-only "$lib")
[ -n "$syms" ] || { echo "FAIL: nm found no exported symbols in $lib"; exit 1; }
bad=$(printf '%s\n' "$syms" | awk '
    NF == 3 && $2 == "T" && $3 ~ /^eddy_[A-Za-z0-9_]+(@@?EDDY_[0-9]+)?$/ { next }
    NF == 3 && $2 == "A" && $3 ~ /^EDDY_[0-9]+(@@?EDDY_[0-9]+)?$/ { next }
    { print }')
if [ -n "$bad" ]; then
    echo "FAIL: unexpected exported symbols (only eddy_* functions are allowed):"
    printf '%s\n' "$bad"
    fail=1
fi
count=$(printf '%s\n' "$syms" | awk '$2 == "T"' | wc -l)
echo "exported functions: $count"

soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
if [ "$soname" != "$want_soname" ]; then
    echo "FAIL: SONAME is '$soname', expected '$want_soname'"
    fail=1
else
    echo "SONAME: $soname"
fi
exit $fail
