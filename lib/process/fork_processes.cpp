// eddy_fork_processes and friends: a supervising parent and N children sharing listening
// sockets (Tornado's fork_processes). The parent waits with sigwaitinfo on blocked signals, so
// it needs no async signal handlers and never misses a SIGCHLD.
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

#include "eddy/process.h"
#include "util/log.hpp"

namespace {

int g_task_id = -1;

// How long the parent waits before forking again a child whose fork failed.
constexpr time_t kForkRetrySeconds = 1;

struct Supervisor {
    sigset_t old_mask;
    // The caller's SIGCHLD disposition, given back to each child (see eddy_fork_processes).
    struct sigaction old_chld;
    std::map<pid_t, int> children;  // pid -> task id

    // Forks one child for `id`. Returns true in the child (after restoring its signal state).
    bool spawn(int id, bool *failed) {
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid < 0) {
            eddy::log(eddy::LogLevel::error, "fork_processes: fork failed: %s", strerror(errno));
            *failed = true;
            return false;
        }
        if (pid == 0) {
            g_task_id = id;
#ifdef __linux__
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            // A parent that died between fork() and prctl() signalled nobody: the child has
            // been reparented already and would go on alone. Its SIGTERM is sent here instead
            // (still blocked: it arrives once the caller's mask is back, as the kernel's would).
            if (getppid() != parent) kill(getpid(), SIGTERM);
#endif
            sigaction(SIGCHLD, &old_chld, nullptr);
            sigprocmask(SIG_SETMASK, &old_mask, nullptr);
            return true;
        }
        children[pid] = id;
        return false;
    }

    void signal_all(int sig) {
        for (auto &c : children) kill(c.first, sig);
    }
};

}  // namespace

extern "C" int eddy_task_id(void) { return g_task_id; }

extern "C" int eddy_cpu_count(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? static_cast<int>(n) : 1;
}

extern "C" int eddy_fork_processes(int num_processes, int max_restarts) {
    if (g_task_id >= 0) return EDDY_ESTATE;
    if (num_processes <= 0) num_processes = eddy_cpu_count();
    if (max_restarts < 0) max_restarts = 100;

    Supervisor sup;
    sigset_t watched;
    sigemptyset(&watched);
    sigaddset(&watched, SIGCHLD);
    sigaddset(&watched, SIGTERM);
    sigaddset(&watched, SIGINT);
    sigaddset(&watched, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &watched, &sup.old_mask) != 0) return EDDY_EIO;
    // The parent must see its children exit: with SIGCHLD ignored (SIG_IGN, inherited across
    // exec from whoever started this program, or SA_NOCLDWAIT) the kernel reaps them itself,
    // sends no SIGCHLD and waitpid() fails with ECHILD, so no crashed child would be restarted
    // and the parent would wait in sigwaitinfo forever, even after SIGTERM. The default
    // disposition (a blocked signal, taken by sigwaitinfo) restores both; each child gets the
    // caller's disposition back.
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    if (sigaction(SIGCHLD, &dfl, &sup.old_chld) != 0) {
        sigprocmask(SIG_SETMASK, &sup.old_mask, nullptr);
        return EDDY_EIO;
    }

    // Task ids whose fork failed (EAGAIN from a process or memory limit, which often passes):
    // forked again every kForkRetrySeconds, each attempt counting as a restart, instead of being
    // dropped for good (the parent would then exit 0 with a worker missing).
    std::vector<int> unstarted;
    eddy::log(eddy::LogLevel::info, "fork_processes: starting %d processes", num_processes);
    for (int id = 0; id < num_processes; id++) {
        bool failed = false;
        if (sup.spawn(id, &failed)) return id;
        if (failed) {
            if (sup.children.empty()) {
                sigaction(SIGCHLD, &sup.old_chld, nullptr);
                sigprocmask(SIG_SETMASK, &sup.old_mask, nullptr);
                return EDDY_EIO;
            }
            for (; id < num_processes; id++) unstarted.push_back(id);  // supervise, retry these
        }
    }

    int restarts = 0;
    bool stopping = false;
    int exit_status = 0;
    // Forks `id` again unless the restarts are used up (then the others are stopped). True in
    // the new child.
    auto restart = [&](int id) {
        if (++restarts > max_restarts) {
            eddy::log(eddy::LogLevel::error,
                      "fork_processes: too many child restarts (%d), giving up", max_restarts);
            stopping = true;
            exit_status = 1;
            unstarted.clear();
            sup.signal_all(SIGTERM);
            return false;
        }
        bool failed = false;
        if (sup.spawn(id, &failed)) return true;
        if (failed) unstarted.push_back(id);
        return false;
    };
    while (!sup.children.empty() || !unstarted.empty()) {
        int status = 0;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            auto it = sup.children.find(pid);
            if (it == sup.children.end()) continue;
            int id = it->second;
            sup.children.erase(it);
            if (WIFSIGNALED(status)) {
                eddy::log(eddy::LogLevel::warning, "fork_processes: child %d (pid %d) killed by signal %d",
                          id, static_cast<int>(pid), WTERMSIG(status));
            } else if (WEXITSTATUS(status) != 0) {
                eddy::log(eddy::LogLevel::warning, "fork_processes: child %d (pid %d) exited with status %d",
                          id, static_cast<int>(pid), WEXITSTATUS(status));
            } else {
                eddy::log(eddy::LogLevel::info, "fork_processes: child %d (pid %d) exited normally", id,
                          static_cast<int>(pid));
                continue;
            }
            if (stopping) continue;
            if (restart(id)) return id;
        }
        if (sup.children.empty() && unstarted.empty()) break;
        siginfo_t info;
        int sig;
        if (unstarted.empty()) {
            sig = sigwaitinfo(&watched, &info);
        } else {
            timespec retry = {kForkRetrySeconds, 0};
            sig = sigtimedwait(&watched, &info, &retry);
            if (sig < 0 && errno == EAGAIN) {
                std::vector<int> ids;
                ids.swap(unstarted);
                for (int id : ids) {
                    if (stopping) break;
                    if (restart(id)) return id;
                }
                continue;
            }
        }
        if (sig == SIGTERM || sig == SIGINT) {
            stopping = true;
            unstarted.clear();
            sup.signal_all(sig);
        } else if (sig == SIGHUP) {
            sup.signal_all(SIGHUP);
        }
    }
    exit(exit_status);
}
