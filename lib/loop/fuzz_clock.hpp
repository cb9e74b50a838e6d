// A virtual clock for the fuzz build only. The server fuzz targets must reach timeouts
// (header, body, idle) deterministically, in microseconds of real time: with EDDY_FUZZ_CLOCK
// defined (tests/fuzz/CMakeLists.txt sets it for its own copy of the library objects, never for
// libeddy) Loop::now() reads this clock instead of CLOCK_MONOTONIC, and it moves only when the
// harness calls advance(). Nothing here is compiled into the shared or static library; the
// header is included by loop.cpp under #ifdef EDDY_FUZZ_CLOCK and by the fuzz harness.
#pragma once

#include <ctime>

namespace eddy::fuzz_clock {

// Virtual seconds. Fixed start (not the real clock) so a reproducer behaves the same in every
// process; one process (one fuzz run) shares it, which is fine: it never goes back.
inline double virtual_now = 1000.0;
// How many times the clock moved: a loop compares it with the count it last saw, because a
// timerfd armed before a jump expires late (see to_real) and must be armed again.
inline unsigned long jumps = 0;

inline double now() { return virtual_now; }

// Moves time forward; the next loop iteration runs the timers that became due.
inline void advance(double seconds) {
    if (!(seconds > 0)) return;
    virtual_now += seconds;
    ++jumps;
}

// The loop's timerfd runs on CLOCK_MONOTONIC: a virtual deadline is armed as the same distance
// from the real now, so "wait at most N ms" still waits N real ms and a timer due in the
// virtual future does not fire (and if it does, run_timers finds nothing due and re-arms).
inline double to_real(double deadline) {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double real = static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
    return deadline - virtual_now + real;
}

}  // namespace eddy::fuzz_clock
