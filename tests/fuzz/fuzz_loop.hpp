// The start every fuzz target that runs a whole loop shares: SIGPIPE ignored (a peer closes
// while eddy writes), and every log line — DEBUG included — formatted and counted but not
// printed, so the logging paths run and the fuzzer's output stays readable. Header-only.
#pragma once

#include <eddy/eddy.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

namespace fuzz_loop {

inline size_t log_bytes;  // keeps the formatted lines "used"

inline void count_log(int level, const char *msg, void *) {
    log_bytes += static_cast<size_t>(level) + strlen(msg);
}

// A new loop with the settings above; aborts when none can be made.
inline eddy_loop *start() {
    signal(SIGPIPE, SIG_IGN);
    eddy_set_log_function(count_log, nullptr, nullptr);
    eddy_set_log_level(EDDY_LOG_DEBUG);
    eddy_loop *loop = eddy_loop_new();
    if (!loop) abort();
    return loop;
}

}  // namespace fuzz_loop
