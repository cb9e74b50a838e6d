#!/bin/sh
# Every public header compiles on its own, as C11 and as C++17, without warnings.
# Usage: check_headers.sh <include dir> <C compiler> <C++ compiler>
set -eu
inc=$1
cc=$2
cxx=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
for h in "$inc"/eddy/*.h; do
    name=$(basename "$h" .h)
    # Included twice: the include guard must work too.
    printf '#include <eddy/%s.h>\n#include <eddy/%s.h>\nint eddy_header_check_%s;\n' \
        "$name" "$name" "$name" >"$tmp/$name.c"
    cp "$tmp/$name.c" "$tmp/$name.cpp"
    if ! "$cc" -std=c11 -Wall -Wextra -Werror -pedantic -I"$inc" -c "$tmp/$name.c" \
        -o "$tmp/$name.c.o"; then
        echo "FAIL: eddy/$name.h as C11"
        fail=1
    fi
    if ! "$cxx" -std=c++17 -Wall -Wextra -Werror -I"$inc" -c "$tmp/$name.cpp" \
        -o "$tmp/$name.cpp.o"; then
        echo "FAIL: eddy/$name.h as C++17"
        fail=1
    fi
done
[ $fail -eq 0 ] && echo "all headers compile alone as C11 and C++17"
exit $fail
