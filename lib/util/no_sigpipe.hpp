// Writes that cannot pass MSG_NOSIGNAL — writev(2) to a pipe, sendfile(2) to a socket whose
// peer is gone — raise SIGPIPE, and SIGPIPE ends a host that did not ignore it. A library must
// not depend on its host's signal setup, so such a write runs with SIGPIPE blocked on this
// thread, and the SIGPIPE it raised is taken back: the write returns EPIPE, and eddy closes
// the stream as for any other error. Four extra syscalls per write, on paths that move large
// chunks (files) or are rare (pipes); the socket paths use MSG_NOSIGNAL instead.
#ifndef EDDY_UTIL_NO_SIGPIPE_HPP
#define EDDY_UTIL_NO_SIGPIPE_HPP

#include <pthread.h>
#include <signal.h>
#include <sys/types.h>

#include <cerrno>
#include <ctime>

namespace eddy {

template <class Write>
ssize_t without_sigpipe(Write &&write) {
    sigset_t pipe_only, saved_mask, pending;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    // A SIGPIPE already pending (raised elsewhere, for the host) must not be taken back.
    sigemptyset(&pending);
    sigpending(&pending);
    const bool already_pending = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_only, &saved_mask);
    ssize_t n = write();
    const int err = errno;
    if (n < 0 && err == EPIPE && !already_pending) {
        static const timespec no_wait = {0, 0};
        sigtimedwait(&pipe_only, nullptr, &no_wait);
    }
    pthread_sigmask(SIG_SETMASK, &saved_mask, nullptr);
    errno = err;
    return n;
}

}  // namespace eddy

#endif
