#!/bin/sh
# Project rule: every public function is documented. Each EDDY_API declaration in the public
# headers must be immediately preceded by a comment block (the line before it ends a /* */
# comment). Several declarations may share one comment when they follow it directly, with no
# blank line between them (e.g. a group of getters).
# Usage: check_docs.sh <include dir>
set -eu
inc=$1
awk '
    FNR == 1 { prev = "none"; in_decl = 0 }
    /^[ \t]*#/ { prev = "other"; next }
    in_decl {
        if ($0 ~ /;[ \t]*$/) { in_decl = 0; prev = "decl" }
        next
    }
    /^[ \t]*EDDY_API[ \t]/ {
        name = $0
        if (name ~ /\(/) { sub(/\(.*/, "", name); sub(/.*[ \t*]/, "", name) }
        if (prev != "comment" && prev != "decl") {
            printf "%s:%d: %s has no comment block right before it\n", FILENAME, FNR, name
            bad++
        }
        n++
        if ($0 ~ /;[ \t]*$/) prev = "decl"; else in_decl = 1
        next
    }
    /\*\/[ \t]*$/ { prev = "comment"; next }
    /^[ \t]*(\/\*|\*)/ { prev = "incomment"; next }
    { prev = "other" }
    END {
        if (n == 0) { print "no EDDY_API declarations found"; exit 1 }
        printf "%d EDDY_API declarations, %d undocumented\n", n, bad
        exit bad > 0
    }
' "$inc"/eddy/*.h
