/* eddy_fork_processes (Tornado's process.fork_processes), each case in a forked test process
 * that becomes the supervisor (its parent never returns): children exiting 0 end it with 0, a
 * child that keeps crashing ends it with 1 after max_restarts, and a child whose parent dies
 * before the child has asked for SIGTERM on its parent's death (PR_SET_PDEATHSIG) is still
 * terminated, and a child whose restart cannot be forked (fork fails) is forked again later
 * instead of being dropped. The end-to-end cases (serving, SIGTERM forwarded, SIGCHLD ignored) are
 * in tests/integration/test_production.py. */
#include "test_common.h"

#include <dlfcn.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/* ---- prctl interposed: eddy's call to it (through the PLT) comes here first. With
 * g_hold_pdeathsig set, a PR_SET_PDEATHSIG waits until the parent has died, so that the window
 * between fork() and prctl() in which a dying parent signals nobody is hit every time. */
static int g_hold_pdeathsig;
static pid_t g_parent_to_outlive;
static int g_report_fd = -1; /* the child writes its pid here before waiting */

int prctl(int option, ...) {
    va_list ap;
    va_start(ap, option);
    unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long),
                  a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
    va_end(ap);
    if (option == PR_SET_PDEATHSIG && g_hold_pdeathsig) {
        pid_t me = getpid();
        if (write(g_report_fd, &me, sizeof me) != (ssize_t)sizeof me) _exit(70);
        double deadline = mono_now() + TEST_WAIT_SECONDS;
        while (getppid() == g_parent_to_outlive && mono_now() < deadline) sleep_ms(5);
    }
    return (int)syscall(SYS_prctl, option, a2, a3, a4, a5);
}

/* ---- fork interposed too: with g_fail_fork_number set, that fork() call of this process (1
 * the first) fails with EAGAIN, as under a process limit. g_fork_number is what the child
 * inherits: which call made it. */
static int g_fail_fork_number;
static int g_fork_number;

pid_t fork(void) {
    static pid_t (*real_fork)(void);
    if (!real_fork) real_fork = (pid_t(*)(void))dlsym(RTLD_NEXT, "fork");
    g_fork_number++;
    if (g_fail_fork_number && g_fork_number == g_fail_fork_number) {
        errno = EAGAIN;
        return -1;
    }
    return real_fork();
}

/* Waits for `pid` (bounded) and returns its wait status, or -1. */
static int wait_bounded(pid_t pid) {
    double deadline = mono_now() + TEST_WAIT_SECONDS;
    int status = 0;
    while (mono_now() < deadline) {
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid) return status;
        if (got < 0) return -1;
        sleep_ms(5);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

/* Children that exit 0 are not restarted; the supervisor then exits 0. */
static void test_children_exiting_zero_end_the_parent(void **state) {
    pid_t sup = fork();
    assert_true(sup >= 0);
    if (sup == 0) {
        int id = eddy_fork_processes(3, 5);
        _exit(id >= 0 && id < 3 && eddy_task_id() == id ? 0 : 40);
    }
    int status = wait_bounded(sup);
    assert_true(status != -1 && WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* A child that always crashes is restarted max_restarts times, then the supervisor exits 1. */
static void test_too_many_restarts_exit_one(void **state) {
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t sup = fork();
    assert_true(sup >= 0);
    if (sup == 0) {
        close(p[0]);
        int id = eddy_fork_processes(1, 2);
        char c = (char)('0' + id);
        if (write(p[1], &c, 1) != 1) _exit(41);
        _exit(3);
    }
    close(p[1]);
    int status = wait_bounded(sup);
    char starts[16] = {0};
    ssize_t n = read(p[0], starts, sizeof starts - 1);
    close(p[0]);
    assert_true(status != -1 && WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    assert_int_equal(n, 3); /* the first start and two restarts */
    assert_string_equal(starts, "000");
}

/* Task 0 crashes once and the fork of its restart fails (EAGAIN): the supervisor forks it
 * again later (the header: a crashed child "is forked again with the same task id"), rather
 * than going on without it and exiting 0 as if every task had finished. */
static void test_failed_restart_fork_retried(void **state) {
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t sup = fork();
    assert_true(sup >= 0);
    if (sup == 0) {
        close(p[0]);
        g_fork_number = 0;
        g_fail_fork_number = 3; /* tasks 0 and 1, then the restart of task 0 */
        int id = eddy_fork_processes(2, 5);
        char c = (char)('0' + id);
        if (write(p[1], &c, 1) != 1) _exit(41);
        _exit(id == 0 && g_fork_number == 1 ? 3 : 0); /* the first task 0 crashes */
    }
    close(p[1]);
    int status = wait_bounded(sup);
    char starts[16] = {0};
    size_t n = 0;
    for (ssize_t got; n < sizeof starts - 1 && (got = read(p[0], starts + n, 1)) == 1;) n++;
    close(p[0]);
    assert_true(status != -1 && WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(n, 3); /* 0 and 1, then 0 again */
    int zeros = 0;
    for (size_t i = 0; i < n; i++) zeros += starts[i] == '0';
    assert_int_equal(zeros, 2);
}

/* The supervisor dies (SIGKILL) after forking a child but before the child's prctl took
 * effect: the kernel sends that child nothing, so eddy must notice the new parent itself and
 * end the child with SIGTERM, as the header promises ("each child also gets SIGTERM if the
 * parent dies"). Runs in a forked process that is a child subreaper, so that the orphaned child
 * comes to it and its end can be seen. Returns 0 or the check that failed. */
static int run_parent_dies_before_prctl(void) {
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) return 10;
    int p[2];
    if (pipe(p) != 0) return 11;
    pid_t sup = fork();
    if (sup < 0) return 12;
    if (sup == 0) {
        close(p[0]);
        g_hold_pdeathsig = 1;
        g_parent_to_outlive = getpid();
        g_report_fd = p[1];
        eddy_fork_processes(1, 0);
        /* The child: were it not ended, it would go on as a worker for a while. */
        sleep_ms(3000);
        _exit(0);
    }
    close(p[1]);
    pid_t child = 0;
    if (read(p[0], &child, sizeof child) != (ssize_t)sizeof child) return 13;
    close(p[0]);
    kill(sup, SIGKILL);
    int status = wait_bounded(sup);
    if (status == -1 || !WIFSIGNALED(status)) return 14;
    status = wait_bounded(child);
    if (status == -1) return 15;
    if (!WIFSIGNALED(status)) return 16; /* it went on working: an orphan */
    if (WTERMSIG(status) != SIGTERM) return 17;
    return 0;
}

static void test_parent_dies_before_prctl(void **state) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) _exit(run_parent_dies_before_prctl());
    int status = wait_bounded(pid);
    assert_true(status != -1 && WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_children_exiting_zero_end_the_parent),
        cmocka_unit_test(test_too_many_restarts_exit_one),
        cmocka_unit_test(test_failed_restart_fork_retried),
        cmocka_unit_test(test_parent_dies_before_prctl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
