// Process-wide logging used by every layer; the sink is replaceable through the C API.
#pragma once

#include <cstdarg>

namespace eddy {

enum class LogLevel { debug = 0, info = 1, warning = 2, error = 3 };

// True when a message of `level` would reach the sink (cheap; check before formatting).
bool log_enabled(LogLevel level);

// printf-style; the line gets no trailing newline (the sink adds what it wants).
void log(LogLevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace eddy

#define EDDY_LOG_DEBUG_IF(...)                                                                     \
    do {                                                                                           \
        if (::eddy::log_enabled(::eddy::LogLevel::debug))                                          \
            ::eddy::log(::eddy::LogLevel::debug, __VA_ARGS__);                                     \
    } while (0)
