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
flaky=""
status=0

# The tests a ctest log lists as failed ("	 19 - http_client (Failed)"), one per line.
failed_in() {
    sed -n -E 's/^[[:space:]]*[0-9]+ - ([^ ]+) \(.*\)$/\1/p' "$1"
}

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
    if [ "${PIPESTATUS[0]}" -ne 0 ]; then
        # Each test that failed is run once more, alone. One that passes then is reported as
        # flaky (its first failure is printed above, and it is named on the last line) instead
        # of failing the run: on a loaded 2-core CI machine a timing race in one test must not
        # throw away every other result. One that fails again fails the run.
        local first_failed again_failed name_ rerun_log="$dir/ctest-rerun.log"
        first_failed=$(failed_in "$log")
        if [ -n "$first_failed" ]; then
            echo "==== $name: rerunning what failed, once, alone:" $first_failed
            (cd "$dir" && ctest --output-on-failure --timeout 600 --rerun-failed) 2>&1 | tee "$rerun_log"
            again_failed=$(failed_in "$rerun_log")
            for name_ in $first_failed; do
                grep -qxF "$name_" <<<"$again_failed" || flaky="$flaky $name_"
            done
            # The counts below are read from the first run's summary: make it say what failed twice.
            sed -i -E "s/^[0-9]+% tests passed, [0-9]+ (tests?) failed out of ([0-9]+)/N% tests passed, $(grep -c . <<<"$again_failed") \\1 failed out of \\2/" "$log"
        fi
        [ -n "$first_failed" ] && [ -z "$again_failed" ] || status=1
    fi
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
summary="$passed passed, $failed failed"
[ "$skipped" -eq 0 ] || summary="$summary, $skipped skipped"
[ -z "$flaky" ] || summary="$summary (flaky, failed once and passed when rerun:$flaky)"
echo "$summary"
exit "$status"
