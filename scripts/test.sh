#!/usr/bin/env bash
# Builds eddy twice and runs every test in each build:
#   build/       RelWithDebInfo
#   build-asan/  Debug with AddressSanitizer + UndefinedBehaviorSanitizer
# Exits non-zero when a build or a test fails. The last line is "N passed, N failed" (plus
# ", N skipped" when a test said its machine cannot run it, e.g. too low a file limit).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

bash scripts/install-deps.sh || exit 1

JOBS=$(nproc)
passed=0
failed=0
skipped=0
status=0

# run_suite NAME BUILD_DIR CMAKE_ARGS...
run_suite() {
    local name=$1 dir=$2
    shift 2
    echo "==== $name: configure + build in $dir/"
    # shellcheck disable=SC2086 # BUILD_ARGS / CTEST_ARGS are word lists
    if ! cmake -S . -B "$dir" "$@" || ! cmake --build "$dir" -j"$JOBS" ${BUILD_ARGS:-}; then
        echo "==== $name: BUILD FAILED"
        status=1
        failed=$((failed + 1)) # count a failed build as one failure
        return
    fi
    echo "==== $name: ctest"
    local log="$dir/ctest-summary.log"
    (cd "$dir" && ctest --output-on-failure --timeout 600 -j"$JOBS" ${CTEST_ARGS:-}) 2>&1 | tee "$log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
    # "100% tests passed, 0 tests failed out of 12"
    local line total nfail nskip
    line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n1)
    if [ -n "$line" ]; then
        nfail=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
        total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
        # Skipped tests (exit code 77, SKIP_RETURN_CODE) count in ctest's total, not as passed.
        nskip=$(grep -cE '\(Skipped\)$' "$log")
        passed=$((passed + total - nfail - nskip))
        failed=$((failed + nfail))
        skipped=$((skipped + nskip))
    elif ! grep -q 'No tests were found' "$log"; then
        echo "==== $name: could not read ctest's summary"
        status=1
    fi
}

run_suite "normal" build -DCMAKE_BUILD_TYPE=RelWithDebInfo

export ASAN_OPTIONS=detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Bindings load libeddy into other runtimes (CPython, Go, Rust), which do not run under ASan.
run_suite "asan+ubsan" build-asan -DCMAKE_BUILD_TYPE=Debug -DEDDY_SANITIZE=ON -DEDDY_BUILD_BINDINGS=OFF

# Fuzz smoke tests: a clang build of the libFuzzer targets only (tests/fuzz), each target run
# for 10 s over its seeds (label "fuzz"). Skipped when clang is missing.
unset ASAN_OPTIONS UBSAN_OPTIONS
if command -v clang++ >/dev/null && command -v clang >/dev/null; then
    # eddy_fuzz_targets: every fuzz_* target of tests/fuzz/CMakeLists.txt, and only those.
    CC=clang CXX=clang++ BUILD_ARGS="--target eddy_fuzz_targets" CTEST_ARGS="-L fuzz" \
        run_suite "fuzz" build-fuzz -DEDDY_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DEDDY_BUILD_EXAMPLES=OFF -DEDDY_BUILD_BENCH=OFF -DEDDY_BUILD_BINDINGS=OFF \
        -DEDDY_FUZZ_SMOKE_SECONDS=10
else
    echo "==== fuzz: skipped (clang not installed)"
fi

[ "$failed" -eq 0 ] || status=1
if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
exit "$status"
