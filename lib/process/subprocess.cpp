#include "process/subprocess.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "process/spawn_options.hpp"
#include "stream/stream.hpp"
#include "util/errors.hpp"
#include "util/log.hpp"

extern char **environ;

namespace eddy {

namespace {

// waitid's P_PIDFD (Linux 5.4), by value: older C libraries do not name it.
constexpr int kIdTypePidfd = 3;

// The kernel's pidfd calls by number: glibc wraps them only from 2.36, and an older libc on a
// newer kernel should still get them. ENOSYS (older kernel, or a seccomp policy) means: poll.
int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
    return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
#else
    errno = ENOSYS;
    return -1;
#endif
}

int signal_pidfd(int pidfd, int signum) {
#ifdef SYS_pidfd_send_signal
    return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, signum, nullptr, 0));
#else
    errno = ENOSYS;
    return -1;
#endif
}

// A copy of `fd` numbered 3 or above, close-on-exec; `fd` itself is closed. Pipes made while
// the parent's fd 0, 1 or 2 is closed get those numbers, and the child's dup2 into 0-2 would
// then overwrite one source with another.
int move_above_stdio(int fd) {
    if (fd > 2) return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    int saved = errno;
    ::close(fd);
    errno = saved;
    return moved;
}

int spawn_error(int err, const char *program) {
    // A path component that is no directory is "no such program" too (or no such cwd).
    int code = err == ENOTDIR ? EDDY_ENOENT : error_from_errno(err);
    if (code == EDDY_EIO)
        log(LogLevel::error, "subprocess: cannot start %s: %s", program, strerror(err));
    return code;
}

// The fds the spawn made in the parent, closed on every way out.
struct SpawnFds {
    int child_end[3] = {-1, -1, -1};  // dup2'd into the child's 0-2, closed after the spawn
    ~SpawnFds() {
        for (int fd : child_end)
            if (fd >= 0) ::close(fd);
    }
};

// posix_spawn's two attribute objects, destroyed on every way out.
struct SpawnAttrs {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    bool actions_made = false;
    bool attr_made = false;
    ~SpawnAttrs() {
        if (actions_made) posix_spawn_file_actions_destroy(&actions);
        if (attr_made) posix_spawnattr_destroy(&attr);
    }
};

// Whether the parent's `fd` reaches a spawned program: open and not close-on-exec.
bool inheritable(int fd) {
    int flags = fcntl(fd, F_GETFD);
    return flags >= 0 && !(flags & FD_CLOEXEC);
}

// Fills the file actions and attributes from `options`; 0 or an errno value.
int describe_child(const SpawnOptions &options, const int child_end[3], SpawnAttrs &sa) {
    if (int rc = posix_spawn_file_actions_init(&sa.actions)) return rc;
    sa.actions_made = true;
    if (int rc = posix_spawnattr_init(&sa.attr)) return rc;
    sa.attr_made = true;
    for (int i = 0; i < 3; i++) {
        int rc = 0;
        switch (options.stdio_mode[i]) {
        case EDDY_STDIO_PIPE:
        case SpawnOptions::kStdioFd:
            rc = posix_spawn_file_actions_adddup2(&sa.actions, child_end[i], i);
            break;
        case EDDY_STDIO_DEVNULL:
            rc = posix_spawn_file_actions_addopen(&sa.actions, i, "/dev/null",
                                                  i == 0 ? O_RDONLY : O_WRONLY, 0);
            break;
        case EDDY_STDIO_STDOUT:
            // 2>&1, after fd 1 is set up. An inherited fd 1 that does not reach the child
            // (closed, or close-on-exec: a private fd of the parent's that took the number)
            // leaves the child's fd 2 closed like its fd 1: dup2 would fail, or hand the
            // child that private fd.
            if (options.stdio_mode[1] == EDDY_STDIO_INHERIT && !inheritable(1))
                rc = posix_spawn_file_actions_addclose(&sa.actions, 2);
            else
                rc = posix_spawn_file_actions_adddup2(&sa.actions, 1, 2);
            break;
        default: break;  // inherited
        }
        if (rc) return rc;
    }
    if (options.cwd) {
        if (int rc = posix_spawn_file_actions_addchdir_np(&sa.actions, options.cwd->c_str()))
            return rc;
    }
    if (options.close_fds) {
        if (int rc = posix_spawn_file_actions_addclosefrom_np(&sa.actions, 3)) return rc;
    }
    // Nothing of the parent's signal set-up reaches the program: an empty mask, every signal
    // at its default (an ignored SIGPIPE would make a pipeline's writer loop on EPIPE).
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (options.new_process_group) flags |= POSIX_SPAWN_SETPGROUP;
    if (int rc = posix_spawnattr_setsigmask(&sa.attr, &none)) return rc;
    if (int rc = posix_spawnattr_setsigdefault(&sa.attr, &all)) return rc;
    if (int rc = posix_spawnattr_setpgroup(&sa.attr, 0)) return rc;
    return posix_spawnattr_setflags(&sa.attr, flags);
}

}  // namespace

Subprocess::~Subprocess() {
    if (pidfd_watched_) event_del(&pidfd_ev_);
    if (pidfd_ >= 0) ::close(pidfd_);
}

// Makes the pipes the options ask for and the caller's fds' copies: `child_ends` gets what the
// child's 0-2 become, pipes_ the parent ends as streams. 0 or an EDDY_E* code.
int Subprocess::make_pipes(const SpawnOptions &options, int child_ends[3]) {
    for (int i = 0; i < 3; i++) {
        if (options.stdio_mode[i] == SpawnOptions::kStdioFd) {
            child_ends[i] = fcntl(options.stdio_fd[i], F_DUPFD_CLOEXEC, 3);
            if (child_ends[i] < 0) return errno == EBADF ? EDDY_EINVAL : error_from_errno(errno);
            continue;
        }
        if (options.stdio_mode[i] != EDDY_STDIO_PIPE) continue;
        int p[2];
        if (pipe2(p, O_CLOEXEC) != 0) return error_from_errno(errno);
        // The child reads its stdin from the pipe and writes stdout and stderr into it.
        int child = i == 0 ? p[0] : p[1];
        int parent = i == 0 ? p[1] : p[0];
        child = move_above_stdio(child);
        if (child < 0) {
            int err = errno;
            ::close(parent);
            return error_from_errno(err);
        }
        child_ends[i] = child;
        Stream *s = Stream::create(loop_, parent);
        if (!s) {
            ::close(parent);
            return EDDY_ENOMEM;
        }
        pipes_[i] = s;
    }
    return 0;
}

int Subprocess::spawn(Loop *loop, const char *const *argv, const SpawnOptions &options,
                      eddy_subprocess_exit_fn on_exit, void *userdata, eddy_free_fn free_userdata,
                      Subprocess **out) {
    *out = nullptr;
    // The one allocation that may throw comes first, before anything needs undoing.
    std::vector<char *> envp;
    char *const *env = environ;
    if (options.env) {
        envp.reserve(options.env->size() + 1);
        for (const std::string &entry : *options.env)
            envp.push_back(const_cast<char *>(entry.c_str()));
        envp.push_back(nullptr);
        env = envp.data();
    }
    Subprocess *p = new (std::nothrow) Subprocess();
    if (!p) return EDDY_ENOMEM;
    p->loop_ = loop;
    SpawnFds fds;
    SpawnAttrs sa;
    int rc = p->make_pipes(options, fds.child_end);
    if (rc == 0) {
        if (int err = describe_child(options, fds.child_end, sa)) rc = spawn_error(err, argv[0]);
    }
    if (rc == 0) {
        pid_t pid = -1;
        // posix_spawn reports a failed exec (no such program, not executable) as its result:
        // glibc's child runs on the parent's memory (CLONE_VFORK) and hands the errno back.
        int err = posix_spawnp(&pid, argv[0], &sa.actions, &sa.attr,
                               const_cast<char *const *>(argv), env);
        if (err)
            rc = spawn_error(err, argv[0]);
        else
            p->pid_ = pid;
    }
    if (rc != 0) {
        p->close_untaken_pipes();
        delete p;
        return rc;
    }
    p->on_exit_ = on_exit;
    p->userdata_ = userdata;
    p->free_userdata_ = free_userdata;
    p->poll_timer_.fire = on_poll;
    p->poll_timer_.owner = p;
    loop->add_resource(p);
    p->watch_exit();
    *out = p;
    return 0;
}

// A pidfd becomes readable when the child exits. Without one (pidfd_open refused, or no memory
// for the event), the child is polled: the exit is noticed up to kPollInterval late.
void Subprocess::watch_exit() {
    pidfd_ = open_pidfd(pid_);
    if (pidfd_ >= 0) {
        event_assign(&pidfd_ev_, loop_->base(), pidfd_, EV_READ | EV_PERSIST, on_pidfd, this);
        if (event_add(&pidfd_ev_, nullptr) == 0) {
            pidfd_watched_ = true;
            return;
        }
    } else {
        EDDY_LOG_DEBUG_IF("subprocess %d: no pidfd (%s): polling for its exit",
                          static_cast<int>(pid_), strerror(errno));
    }
    loop_->timer_start(&poll_timer_, Loop::now() + kPollInterval);
}

// waitid(WEXITED | WNOHANG | `flags`) on this child: 0 or -1 with errno, as waitid.
int Subprocess::wait_child(siginfo_t *info, int flags) {
    memset(info, 0, sizeof *info);
    int rc;
    do {
        rc = pidfd_ >= 0 ? waitid(static_cast<idtype_t>(kIdTypePidfd), static_cast<id_t>(pidfd_),
                                  info, WEXITED | WNOHANG | flags)
                         : waitid(P_PID, static_cast<id_t>(pid_), info, WEXITED | WNOHANG | flags);
        // Linux 5.3 has pidfds but waits on them only from 5.4: the pid is as good (the child
        // is not reaped yet, so its pid is not reused).
        if (rc != 0 && errno == EINVAL && pidfd_ >= 0)
            rc = waitid(P_PID, static_cast<id_t>(pid_), info, WEXITED | WNOHANG | flags);
    } while (rc != 0 && errno == EINTR);
    return rc;
}

bool Subprocess::reap(int *exit_status, int *term_signal) {
    siginfo_t info;
    int rc = wait_child(&info, 0);
    if (rc != 0) {
        // ECHILD: someone else collected the status (SIGCHLD ignored, a waitpid(-1) elsewhere).
        // The child is gone all the same.
        log(LogLevel::warning, "subprocess %d: its exit status was taken elsewhere (%s)",
            static_cast<int>(pid_), strerror(errno));
        *exit_status = -1;
        *term_signal = 0;
        return true;
    }
    if (info.si_pid == 0) return false;  // still running
    if (info.si_code == CLD_EXITED) {
        *exit_status = info.si_status;
        *term_signal = 0;
    } else {
        *exit_status = 0;
        *term_signal = info.si_status;
    }
    return true;
}

void Subprocess::check_exit() {
    int exit_status = 0, term_signal = 0;
    if (!reap(&exit_status, &term_signal)) {
        if (!pidfd_watched_) loop_->timer_start(&poll_timer_, Loop::now() + kPollInterval);
        return;
    }
    exited_ = true;
    if (pidfd_watched_) {
        event_del(&pidfd_ev_);
        pidfd_watched_ = false;
    }
    loop_->remove_resource(this);
    if (on_exit_) on_exit_(as_c(), exit_status, term_signal, userdata_);
    close_untaken_pipes();
    if (free_userdata_) free_userdata_(userdata_);
    delete this;
}

void Subprocess::on_pidfd(evutil_socket_t, short, void *arg) {
    static_cast<Subprocess *>(arg)->check_exit();
}

void Subprocess::on_poll(TimerNode *node) { static_cast<Subprocess *>(node->owner)->check_exit(); }

void Subprocess::close_untaken_pipes() {
    for (Stream *&s : pipes_) {
        if (s) s->close();
        s = nullptr;
    }
}

Stream *Subprocess::take_stream(int child_fd) {
    if (child_fd < 0 || child_fd > 2) return nullptr;
    Stream *s = pipes_[child_fd];
    pipes_[child_fd] = nullptr;
    return s;
}

int Subprocess::kill(int signum) {
    if (signum < 0 || signum >= NSIG) return EDDY_EINVAL;
    if (exited_) return EDDY_ESTATE;
    // An exited child not reaped yet is a zombie, which kill(2) and pidfd_send_signal(2) still
    // "signal" with success: look first (WNOWAIT leaves the status for check_exit). ECHILD: its
    // status was taken elsewhere, so its pid may already be another process's.
    siginfo_t info;
    if (wait_child(&info, WNOWAIT) != 0 || info.si_pid != 0) return EDDY_ESTATE;
    // Until eddy reaps it, the pid cannot be reused (an exited child stays a zombie), so kill()
    // is as safe as the pidfd where there is none (unless someone else reaps it right now).
    int rc = pidfd_ >= 0 ? signal_pidfd(pidfd_, signum) : ::kill(pid_, signum);
    if (rc == 0) return 0;
    int code = errno == ESRCH ? EDDY_ESTATE : error_from_errno(errno);
    if (code == EDDY_EIO)
        log(LogLevel::error, "subprocess %d: cannot signal it: %s", static_cast<int>(pid_),
            strerror(errno));
    return code;
}

// The loop goes first: the pipe streams are the loop's resources too (it frees them itself),
// the child is left alone.
void Subprocess::on_loop_free() {
    loop_->timer_stop(&poll_timer_);
    if (free_userdata_) free_userdata_(userdata_);
    delete this;
}

}  // namespace eddy
