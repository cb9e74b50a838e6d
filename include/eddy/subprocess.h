/* eddy — child processes with non-blocking pipes (Tornado's process.Subprocess, libuv's
 * uv_spawn).
 *
 * eddy_subprocess_spawn() starts a program (posix_spawn: no fork of a large parent, safe with
 * threads). Each of the child's standard streams is inherited, /dev/null, a caller's fd, or a
 * pipe whose parent end becomes an eddy_stream (Tornado's Subprocess.STREAM). The exit callback
 * runs on the loop thread once the child has exited, and eddy reaps the child itself: no
 * SIGCHLD handler is installed (the loop watches a pidfd, Linux 5.3; on older kernels, or where
 * a seccomp policy refuses pidfd_open, it polls the child with waitid(WNOHANG) every 50 ms), so
 * it works on every loop of every thread and leaves eddy_signal free for the application.
 *
 * Life cycle: a subprocess handle lives until the child has exited and its exit callback has
 * returned; then it is released with its userdata (through its free function). The caller never
 * frees it. Without an exit callback the handle goes as silently once the child exited: do not
 * keep the pointer then. If the loop is freed first, the handle is released without its exit
 * callback and the child is left running (it is not signalled; once it exits it stays a zombie
 * until this process exits or reaps it).
 *
 * Children inherit nothing they were not given: by default every fd above 2 is closed in the
 * child (Python's close_fds=True), the signal mask is emptied and every signal disposition is
 * reset to its default (ignored SIGPIPE included).
 *
 * A process-wide SIGCHLD set to SIG_IGN, or another part of the program calling waitpid(-1),
 * takes the exit status away from eddy: the exit callback then gets -1 (status unknown).
 *
 * Thread: every function here that takes a loop or a subprocess must be called on the loop's
 * thread. The spawn options are plain data: any thread, one at a time.
 */
#ifndef EDDY_SUBPROCESS_H
#define EDDY_SUBPROCESS_H

#include "stream.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eddy_subprocess eddy_subprocess;
typedef struct eddy_spawn_options eddy_spawn_options;

/* What a child's standard stream (child fd 0, 1 or 2) is connected to. */
/* the parent's own fd 0, 1 or 2 (the default; closed in the child when it is closed or
 * close-on-exec in the parent) */
#define EDDY_STDIO_INHERIT 0
#define EDDY_STDIO_PIPE 1    /* a pipe; its parent end is an eddy_stream (take_stream) */
#define EDDY_STDIO_DEVNULL 2 /* /dev/null */
/* child fd 2 only: the same as the child's fd 1 (2>&1); closed when the child's fd 1 is (an
 * inherited fd 1 that the parent has closed or marked close-on-exec) */
#define EDDY_STDIO_STDOUT 3

/* The child exited: `exit_status` is its exit code (0-255) and `term_signal` 0, or it was killed
 * by a signal: `exit_status` is 0 and `term_signal` the signal's number. `exit_status` -1 (and
 * `term_signal` 0) means the status was lost (see the top of this header). Runs on the loop
 * thread; the handle is released when this returns (eddy_subprocess_kill is refused here: the
 * pid may already belong to another process). Pipe streams are independent of it: output the
 * child wrote before exiting may still be arriving. */
typedef void (*eddy_subprocess_exit_fn)(eddy_subprocess *proc, int exit_status, int term_signal,
                                        void *userdata);

/* ---- spawn options -------------------------------------------------------------------------- */

/* Returns new options (every stream inherited, no cwd or environment change, fds above 2
 * closed in the child, same process group), or NULL when out of memory. Free them with
 * eddy_spawn_options_free; eddy_subprocess_spawn does not keep them. */
EDDY_API eddy_spawn_options *eddy_spawn_options_new(void);

/* Frees options and what the setters copied. NULL does nothing. */
EDDY_API void eddy_spawn_options_free(eddy_spawn_options *options);

/* Connects the child's fd `child_fd` (0, 1 or 2) as `mode` says (EDDY_STDIO_*).
 * Returns 0, or EDDY_EINVAL (NULL options, `child_fd` not 0-2, unknown mode, EDDY_STDIO_STDOUT
 * for a `child_fd` other than 2). */
EDDY_API int eddy_spawn_options_set_stdio(eddy_spawn_options *options, int child_fd, int mode);

/* Connects the child's fd `child_fd` (0, 1 or 2) to a copy of the caller's `fd` (a file, a
 * socket, a pipe; dup2 semantics). `fd` stays the caller's and must stay open until
 * eddy_subprocess_spawn has returned. Returns 0 or EDDY_EINVAL (NULL options, `child_fd` not
 * 0-2, negative `fd`). */
EDDY_API int eddy_spawn_options_set_stdio_fd(eddy_spawn_options *options, int child_fd, int fd);

/* Runs the child in directory `dir` (copied; NULL: the parent's working directory). A
 * directory that does not exist makes eddy_subprocess_spawn fail with EDDY_ENOENT.
 * Returns 0, EDDY_EINVAL (NULL options, empty `dir`), EDDY_ENOMEM. */
EDDY_API int eddy_spawn_options_set_cwd(eddy_spawn_options *options, const char *dir);

/* Gives the child the environment `envp` ("NAME=value" strings, NULL-terminated; copied) instead
 * of the parent's. NULL restores the default: the parent's environment at spawn time. The
 * program is still looked up in the parent's PATH (posix_spawnp).
 * Returns 0, EDDY_EINVAL (NULL options), EDDY_ENOMEM. */
EDDY_API int eddy_spawn_options_set_env(eddy_spawn_options *options, const char *const *envp);

/* `on` non-zero (the default): every fd above 2 is closed in the child, whether or not it is
 * close-on-exec. 0: fds without FD_CLOEXEC are inherited (to hand a child a socket on fd 3+).
 * Returns 0 or EDDY_EINVAL. */
EDDY_API int eddy_spawn_options_set_close_fds(eddy_spawn_options *options, int on);

/* `on` non-zero: the child leads a new process group (its pgid is its pid), so that a
 * terminal's Ctrl-C does not reach it, and kill(-pid, signum) reaches it and every process it
 * starts. Default 0 (the parent's group). Returns 0 or EDDY_EINVAL. */
EDDY_API int eddy_spawn_options_set_new_process_group(eddy_spawn_options *options, int on);

/* ---- subprocesses --------------------------------------------------------------------------- */

/* Starts `argv[0]` (looked up in PATH when it has no '/'; a relative path with a cwd option is
 * taken from that directory, as Python's subprocess does) with the arguments `argv`
 * (NULL-terminated, at least argv[0]), connected as `options` say (NULL: the defaults of
 * eddy_spawn_options_new). `on_exit` (may be NULL) runs once, on the loop thread, after the child
 * exited.
 * On success `*out` is the handle (see "Life cycle" above), and pipe streams are ready for
 * eddy_subprocess_take_stream.
 * Userdata: handed to `free_userdata` (when not NULL) exactly once, when the handle is released.
 * Returns 0; or, with `*out` NULL, nothing started and `free_userdata` NOT called:
 * EDDY_EINVAL (NULL loop, argv, argv[0] or out; a bad option), EDDY_ENOENT (no such program, or
 * the cwd does not exist), EDDY_EACCES (not executable, permission denied), EDDY_ENOMEM,
 * EDDY_EMFILE (out of fds for the pipes), EDDY_EIO (another failure; a log line names errno). */
EDDY_API int eddy_subprocess_spawn(eddy_loop *loop, const char *const *argv,
                                   const eddy_spawn_options *options,
                                   eddy_subprocess_exit_fn on_exit, void *userdata,
                                   eddy_free_fn free_userdata, eddy_subprocess **out);

/* Returns the child's process id (EDDY_EINVAL for NULL). */
EDDY_API int eddy_subprocess_pid(const eddy_subprocess *proc);

/* Hands over the parent end of the pipe made for `child_fd` (0: the child's stdin, which the
 * stream writes to; 1 and 2: its stdout and stderr, which the stream reads from) as a stream:
 * from now on it is the caller's, to read, write and close like any stream (closing the stdin
 * stream sends the child EOF). Each stream can be taken once, until the handle is released;
 * streams never taken are closed then.
 * Returns the stream, or NULL: `child_fd` was not EDDY_STDIO_PIPE, or was taken already. */
EDDY_API eddy_stream *eddy_subprocess_take_stream(eddy_subprocess *proc, int child_fd);

/* Sends `signum` to the child (0: only checks that it can be signalled). Uses the pidfd where
 * there is one, so a recycled pid is never hit.
 * Returns 0, EDDY_EINVAL (NULL proc, bad signal number), EDDY_ESTATE (the child has exited:
 * inside the exit callback, or it exited and eddy has not noticed yet, or another part of the
 * program reaped it), EDDY_EACCES, EDDY_EIO. */
EDDY_API int eddy_subprocess_kill(eddy_subprocess *proc, int signum);

#ifdef __cplusplus
}
#endif

#endif /* EDDY_SUBPROCESS_H */
