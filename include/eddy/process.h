/* eddy — many processes on one port (Tornado's process.fork_processes and bind_sockets).
 *
 * The pattern: bind the listening socket first (eddy_bind_socket), then fork
 * (eddy_fork_processes), then in each child create a loop and a server and hand it the socket
 * (eddy_server_add_fd). The children share one accept queue, so no connection is lost while a
 * child restarts. For N loops on N threads of one process, bind each loop's server with
 * EDDY_LISTEN_REUSEPORT on the same port instead (the kernel spreads connections over them).
 *
 * Thread: call these from the main thread before any loop or thread exists.
 */
#ifndef EDDY_PROCESS_H
#define EDDY_PROCESS_H

#include "common.h"
#include "net.h" /* EDDY_DEFAULT_BACKLOG and EDDY_LISTEN_* for eddy_bind_socket */

#ifdef __cplusplus
extern "C" {
#endif

/* Binds and listens on a TCP socket without a loop, for sharing across processes.
 * `host` is a numeric address ("[::1]" too, as eddy_listener_bind takes it) or name (NULL or
 * "" = every IPv4 address), `port` 0 picks a free port, `backlog` <= 0 means
 * EDDY_DEFAULT_BACKLOG, `flags` are EDDY_LISTEN_* (net.h).
 * The socket is non-blocking and close-on-exec (clear FD_CLOEXEC to pass it through exec).
 * Ownership: the returned fd is the caller's (give it to eddy_server_add_fd or close it).
 * Returns the fd (>= 0), or EDDY_EINVAL (also a host with a stray bracket, as
 * eddy_listener_bind), EDDY_EADDRINUSE, EDDY_EADDRNOTAVAIL, EDDY_EACCES, EDDY_EMFILE, EDDY_EIO,
 * EDDY_ENOMEM. */
EDDY_API int eddy_bind_socket(const char *host, int port, int backlog, int flags);

/* Returns the local port of a bound socket `fd`, or EDDY_EINVAL. */
EDDY_API int eddy_socket_port(int fd);

/* Forks `num_processes` children (<= 0: one per CPU) and returns in each child its task id,
 * 0 .. num_processes-1. The parent never returns: it supervises. A child that dies from a
 * signal or exits with a non-zero status is forked again with the same task id (at most
 * `max_restarts` times in total; < 0 means 100); a child that exits with status 0 is not. A
 * child whose fork fails (a process or memory limit) is forked again a second later, each
 * attempt counting as a restart.
 * SIGTERM, SIGINT and SIGHUP sent to the parent are forwarded to every child; after SIGTERM or
 * SIGINT nothing is restarted. The parent exits with status 0 once every child exited, or 1
 * after too many restarts (the remaining children get SIGTERM first). Each child also gets
 * SIGTERM if the parent dies (Linux). A SIGCHLD the caller ignores (SIG_IGN, SA_NOCLDWAIT) is
 * set back to its default in the parent, which must reap its children itself; each child gets
 * the caller's disposition back.
 * Call it before creating any loop or thread. Returns a negative code only on failure before
 * anything was forked: EDDY_ESTATE (already forked: called in a child) or EDDY_EIO. */
EDDY_API int eddy_fork_processes(int num_processes, int max_restarts);

/* Returns this process's task id from eddy_fork_processes(), or -1 when it was not forked. */
EDDY_API int eddy_task_id(void);

/* Returns the number of CPUs this process may run on (at least 1). */
EDDY_API int eddy_cpu_count(void);

#ifdef __cplusplus
}
#endif

#endif /* EDDY_PROCESS_H */
