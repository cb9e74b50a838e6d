// Where C++ exceptions stop: the C API's functions and the callbacks C code (libevent,
// http-parser, OpenSSL) calls into. An exception must not cross into C frames — the host's
// C, Go, Rust or Lua code — where it would end the process (std::terminate, or a foreign
// unwind the host cannot handle). The only one the core expects is std::bad_alloc, when memory
// runs out (RLIMIT_AS, vm.overcommit_memory=2, a failing allocator): the call it interrupts
// fails with EDDY_ENOMEM (or NULL), or the connection it was for closes, with a log line, and
// the process goes on serving the others, as nginx does. Anything else would be a bug; it is
// logged as one and handled the same way rather than taking the host down.
//
// try/catch costs nothing on the path that does not throw (table-based unwinding).
#pragma once

#include <exception>
#include <new>
#include <type_traits>

namespace eddy {

// Logs an exception stopped at `where` (no allocation: the log formats into a stack buffer).
void log_stopped_exception(const char *where, const std::exception *e) noexcept;

// Runs `fn()` and returns its result; if it throws, logs and returns `failed` (converted to
// fn's result type: `nullptr`, `EDDY_ENOMEM`, `0` need no cast).
template <class Fn, class R = std::invoke_result_t<Fn &>>
R no_throw(const char *where, std::type_identity_t<R> failed, Fn &&fn) noexcept {
    try {
        return fn();
    } catch (const std::exception &e) {
        log_stopped_exception(where, &e);
    } catch (...) {
        log_stopped_exception(where, nullptr);
    }
    return failed;
}

// For callbacks without a result: runs `fn()`; returns false (after the log line) if it threw.
template <class Fn>
bool ran_without_exception(const char *where, Fn &&fn) noexcept {
    try {
        fn();
        return true;
    } catch (const std::exception &e) {
        log_stopped_exception(where, &e);
    } catch (...) {
        log_stopped_exception(where, nullptr);
    }
    return false;
}

}  // namespace eddy
