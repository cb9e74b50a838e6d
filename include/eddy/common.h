/* eddy — common definitions: export macro, version, error codes, shared callback types.
 *
 * Conventions that hold for the whole public API (see also eddy.h):
 *  - Every handle is opaque; options are set with functions, never through struct fields.
 *  - Functions that can fail return an int: 0 on success, a negative EDDY_E* code otherwise.
 *    Constructors return NULL on failure.
 *  - Callbacks take the handle first and the registration's `void *userdata` last.
 *  - Every registration that keeps userdata also takes an optional `eddy_free_fn`, called
 *    exactly once when eddy drops the userdata (after the last callback, on cancel, or when
 *    the owning object is freed first).
 *  - Thread rule: one loop per thread; every call on a loop's objects happens on that loop's
 *    thread, except the functions whose comment says "Thread: any".
 */
#ifndef EDDY_COMMON_H
#define EDDY_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define EDDY_API __declspec(dllexport)
#elif defined(__GNUC__) || defined(__clang__)
#define EDDY_API __attribute__((visibility("default")))
#else
#define EDDY_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define EDDY_VERSION_MAJOR 0
#define EDDY_VERSION_MINOR 1
#define EDDY_VERSION_PATCH 0
/* One number, comparable with <, e.g. 0x000100 for 0.1.0. */
#define EDDY_VERSION_HEX                                                                           \
    ((EDDY_VERSION_MAJOR << 16) | (EDDY_VERSION_MINOR << 8) | EDDY_VERSION_PATCH)

/* Error codes. Every failing call returns one of these (always negative). */
typedef enum eddy_error {
    EDDY_OK = 0,
    EDDY_EINVAL = -1,         /* an argument is invalid (NULL handle, bad length, bad value) */
    EDDY_ENOMEM = -2,         /* out of memory */
    EDDY_EBUSY = -3,          /* an operation of this kind is already pending */
    EDDY_ECLOSED = -4,        /* the object is closed or closing */
    EDDY_ENOENT = -5,         /* no such file or entry (a finished call id, a missing socket) */
    EDDY_ETIMEDOUT = -6,      /* a timeout expired */
    EDDY_ECONNREFUSED = -7,   /* the peer refused the connection */
    EDDY_ECONNRESET = -8,     /* the peer reset the connection */
    EDDY_EADDRINUSE = -9,     /* the address is already in use */
    EDDY_EADDRNOTAVAIL = -10, /* the address cannot be used or resolved */
    EDDY_ETOOBIG = -11,       /* a size limit was exceeded (max_bytes, max buffer size, ...) */
    EDDY_EOF = -12,           /* the peer closed its side before the operation completed */
    EDDY_ESTATE = -13,        /* the call is not allowed in the object's current state */
    EDDY_EMFILE = -14,        /* out of file descriptors */
    EDDY_ENOTSUP = -15,       /* not supported on this platform or in this build */
    EDDY_EIO = -16,           /* another system error; the log line names errno */
    EDDY_EACCES = -17,        /* permission denied */
    EDDY_ECANCELED = -18,     /* the operation was cancelled */
    EDDY_EPROTO = -19,        /* the peer broke the protocol */
    EDDY_ETLS = -20,          /* TLS failed: handshake, certificate verification, a TLS alert */
    EDDY_ERESOLVE = -21       /* a host name could not be resolved */
} eddy_error;

/* A function that releases userdata handed to eddy. */
typedef void (*eddy_free_fn)(void *userdata);

/* Length value meaning "the string is NUL-terminated" (for (pointer, length) arguments). */
#define EDDY_NTS ((size_t)-1)

/* Returns a static, human-readable name for an error code ("invalid argument", ...).
 * Unknown codes give "unknown error". Never returns NULL.
 * Thread: any. */
EDDY_API const char *eddy_strerror(int code);

/* Returns the symbolic name of an error code ("EDDY_EINVAL", ...), or "EDDY_EUNKNOWN".
 * Thread: any. */
EDDY_API const char *eddy_err_name(int code);

/* Returns the library's version as EDDY_VERSION_HEX of the build that is running.
 * Thread: any. */
EDDY_API unsigned eddy_version(void);

/* Returns the library's version as a static string, e.g. "0.1.0". Thread: any. */
EDDY_API const char *eddy_version_string(void);

/* Log levels for eddy_set_log_function(). */
typedef enum eddy_log_level {
    EDDY_LOG_DEBUG = 0,
    EDDY_LOG_INFO = 1,
    EDDY_LOG_WARNING = 2,
    EDDY_LOG_ERROR = 3
} eddy_log_level;

/* A log sink: `msg` is a NUL-terminated line without a trailing newline, valid during the call. */
typedef void (*eddy_log_fn)(int level, const char *msg, void *userdata);

/* Replaces the process-wide log sink. The default writes lines of level >= WARNING to stderr
 * as "eddy: <level>: <msg>", never waiting for it: a line that finds stderr without room (a
 * full pipe, a stopped terminal) is dropped and counted in the next line written, and nothing
 * is written once stderr's reader is gone (instead of raising SIGPIPE). Passing NULL restores
 * the default. The previous sink's userdata is
 * released through its free function.
 * Thread: any, but not concurrently with itself; sinks may be called from every loop thread. */
EDDY_API void eddy_set_log_function(eddy_log_fn fn, void *userdata, eddy_free_fn free_userdata);

/* Sets the lowest level that reaches the sink (default EDDY_LOG_WARNING). Thread: any. */
EDDY_API void eddy_set_log_level(int level);

#ifdef __cplusplus
}
#endif

#endif /* EDDY_COMMON_H */
