#!/usr/bin/env bash
# Runs a built libFuzzer target for a bounded time over a temporary copy of the seed corpus.
#   run_fuzzer.sh FUZZER SECONDS [libFuzzer args...]
# Seeds: $EDDY_FUZZ_SEEDS, else shared/corpora/h2o-http1-corpus (next to the repo, or
# /work/shared/corpora) when present; dictionary: http.dict beside them when present.
# Env: EDDY_FUZZ_SEEDS  seed folder; EDDY_FUZZ_DICT  dictionary file ("none": no dictionary)
#      EDDY_FUZZ_CORPUS  keep the working corpus in this folder (default: a temp dir, removed)
#      EDDY_FUZZ_ARTIFACTS  where crash/leak/timeout inputs go (default /tmp/eddy-fuzz-artifacts)
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
if [ -n "$SEEDS" ] && [ -d "$SEEDS" ]; then
  cp -n "$SEEDS"/* "$WORK"/ 2>/dev/null || true
  echo "fuzz: $(ls "$WORK" | wc -l) inputs in $WORK (seeds from $SEEDS)"
else
  echo "fuzz: no seed corpus found; starting from an empty corpus in $WORK"
fi
args=(-max_total_time="$SECONDS_TOTAL" -max_len=16384 -timeout=10 -rss_limit_mb=2048
      -print_final_stats=1 -artifact_prefix="$ART/")
[ -n "$DICT" ] && [ -f "$DICT" ] && args+=(-dict="$DICT")
# Bounded twice: libFuzzer's own -max_total_time, and timeout(1) with room for the seed pass.
timeout -k 10 $((SECONDS_TOTAL + 240)) "$FUZZER" "${args[@]}" "$@" "$WORK"
rc=$?
[ $rc -ne 0 ] && echo "fuzz: exit $rc; reproducers (if any) in $ART" >&2
exit $rc
