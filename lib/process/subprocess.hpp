// A child process started with posix_spawn, its exit watched through a pidfd (or, where the
// kernel has none, by polling waitpid), its pipes' parent ends as streams. The object behind
// the opaque eddy_subprocess; see include/eddy/subprocess.h for the contract.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <event2/event_struct.h>

#include "eddy/subprocess.h"
#include "loop/loop.hpp"

namespace eddy {

class Stream;
struct SpawnOptions;

class Subprocess : public LoopResource {
public:
    // Starts the child. Returns 0 and sets *out, or a negative EDDY_E* code (nothing started,
    // userdata still the caller's).
    static int spawn(Loop *loop, const char *const *argv, const SpawnOptions &options,
                     eddy_subprocess_exit_fn on_exit, void *userdata, eddy_free_fn free_userdata,
                     Subprocess **out);

    pid_t pid() const { return pid_; }
    // The parent end of child fd `child_fd`'s pipe, once; nullptr when none (or taken).
    Stream *take_stream(int child_fd);
    int kill(int signum);
    void on_loop_free() override;

    eddy_subprocess *as_c() { return reinterpret_cast<eddy_subprocess *>(this); }
    static Subprocess *from_c(eddy_subprocess *p) { return reinterpret_cast<Subprocess *>(p); }
    static const Subprocess *from_c(const eddy_subprocess *p) {
        return reinterpret_cast<const Subprocess *>(p);
    }

    // How often a child is polled where no pidfd could be had (seconds).
    static constexpr double kPollInterval = 0.05;

private:
    Subprocess() = default;
    ~Subprocess() override;
    int make_pipes(const SpawnOptions &options, int child_ends[3]);
    void watch_exit();
    int wait_child(siginfo_t *info, int flags);
    // Collects the exit status if the child has exited; false while it runs.
    bool reap(int *exit_status, int *term_signal);
    void check_exit();
    void close_untaken_pipes();  // the pipe streams the caller never took
    static void on_pidfd(evutil_socket_t fd, short what, void *arg);
    static void on_poll(TimerNode *node);

    Loop *loop_ = nullptr;
    pid_t pid_ = -1;
    int pidfd_ = -1;
    bool pidfd_watched_ = false;
    bool exited_ = false;
    struct event pidfd_ev_;
    TimerNode poll_timer_;
    Stream *pipes_[3] = {nullptr, nullptr, nullptr};  // not taken yet
    eddy_subprocess_exit_fn on_exit_ = nullptr;
    void *userdata_ = nullptr;
    eddy_free_fn free_userdata_ = nullptr;
};

}  // namespace eddy
