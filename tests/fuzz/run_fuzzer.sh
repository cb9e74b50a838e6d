#!/usr/bin/env bash
# Runs a built libFuzzer target for a bounded time over a temporary copy of the seed corpus.
#   run_fuzzer.sh FUZZER SECONDS [libFuzzer args...]
# Seeds: $EDDY_FUZZ_SEEDS, else shared/corpora/h2o-http1-corpus (next to the repo, or
# /work/shared/corpora) when present, plus seeds/X here for fuzz_X when that folder exists;
# dictionary: http.dict beside them when present.
# Env: EDDY_FUZZ_SEEDS  seed folder; EDDY_FUZZ_DICT  dictionary file ("none": no dictionary)
#      EDDY_FUZZ_CORPUS  keep the working corpus in this folder (default: a temp dir, removed)
#      EDDY_FUZZ_ARTIFACTS  where crash/leak/timeout inputs go (default /tmp/eddy-fuzz-artifacts)
#      EDDY_FUZZ_EXTRA_DICT  a dictionary added to the other one (server_ops.dict for the server targets)
set -u
FUZZER=${1:?usage: run_fuzzer.sh FUZZER SECONDS [args...]}
SECONDS_TOTAL=${2:-30}
shift 2 || shift $#
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CORPORA=
for d in "${EDDY_FUZZ_CORPORA:-}" "$HERE/../../../shared/corpora" /work/shared/corpora; do
  [ -n "$d" ] && [ -d "$d" ] && { CORPORA=$(cd "$d" && pwd); break; }
done
SEEDS=${EDDY_FUZZ_SEEDS:-${CORPORA:+$CORPORA/h2o-http1-corpus}}
DICT=${EDDY_FUZZ_DICT:-${CORPORA:+$CORPORA/http.dict}}
ART=${EDDY_FUZZ_ARTIFACTS:-/tmp/eddy-fuzz-artifacts}
mkdir -p "$ART"

if [ -n "${EDDY_FUZZ_CORPUS:-}" ]; then
  WORK=$EDDY_FUZZ_CORPUS; mkdir -p "$WORK"
else
  WORK=$(mktemp -d /tmp/eddy-fuzz-corpus.XXXXXX)
  trap 'rm -rf "$WORK"' EXIT
fi
# The target's own seeds (seeds/X for fuzz_X) join whatever corpus seeds it: the h2o corpus has
# no "\n--TICK--\n" or "\n--HOLD--\n" inputs, seeds/http_connection has.
OWN="$HERE/seeds/$(basename "$FUZZER" | sed 's/^fuzz_//')"
[ -d "$OWN" ] && cp -n "$OWN"/* "$WORK"/ 2>/dev/null
if [ -n "$SEEDS" ] && [ -d "$SEEDS" ]; then
  cp -n "$SEEDS"/* "$WORK"/ 2>/dev/null || true
  echo "fuzz: $(ls "$WORK" | wc -l) inputs in $WORK (seeds from $SEEDS)"
elif [ -d "$OWN" ]; then
  echo "fuzz: $(ls "$WORK" | wc -l) inputs in $WORK (seeds from $OWN)"
else
  echo "fuzz: no seed corpus found; starting from an empty corpus in $WORK"
fi
args=(-max_total_time="$SECONDS_TOTAL" -max_len=16384 -timeout=10 -rss_limit_mb=2048
      -print_final_stats=1 -artifact_prefix="$ART/")
# EDDY_FUZZ_EXTRA_DICT: more entries (the server targets' op markers), merged with the dictionary
# into a temporary file: libFuzzer takes a single -dict.
if [ -n "${EDDY_FUZZ_EXTRA_DICT:-}" ] && [ -f "$EDDY_FUZZ_EXTRA_DICT" ]; then
  MERGED=$(mktemp /tmp/eddy-fuzz-dict.XXXXXX)
  trap 'rm -f "$MERGED"; [ -z "${EDDY_FUZZ_CORPUS:-}" ] && rm -rf "$WORK"' EXIT
  { [ -n "$DICT" ] && [ -f "$DICT" ] && cat "$DICT"; cat "$EDDY_FUZZ_EXTRA_DICT"; } > "$MERGED"
  DICT=$MERGED
fi
[ -n "$DICT" ] && [ -f "$DICT" ] && args+=(-dict="$DICT")
# Bounded twice: libFuzzer's own -max_total_time, and timeout(1) with room for the seed pass.
timeout -k 10 $((SECONDS_TOTAL + 240)) "$FUZZER" "${args[@]}" "$@" "$WORK"
rc=$?
[ $rc -ne 0 ] && echo "fuzz: exit $rc; reproducers (if any) in $ART" >&2
exit $rc
