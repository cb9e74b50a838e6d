/* eddy_subprocess_*: child processes with pipes as streams (Tornado's process.Subprocess).
 * Real programs (sh, cat, sleep, head) over real pipes: what the child reads and writes, its exit
 * status or signal, the options (cwd, env, /dev/null, 2>&1, a caller's fd, close_fds, a process
 * group, reset signals; 2>&1 when the parent's fd 1 does not reach the child), spawn errors
 * (out of fds included), kill once the child exited, the stdin stream once the child left, the
 * handle's life cycle (userdata once, untaken streams closed, loop freed first), and the
 * pidfd-less fallback under a seccomp filter. */
#include "test_common.h"

#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/* What one child did, as the exit callback and the stdout stream saw it. */
typedef struct child {
    int exited, exit_status, term_signal, freed;
    int kill_in_exit; /* eddy_subprocess_kill's result inside the exit callback */
    char out[1 << 16];
    size_t out_len;
    int out_closed; /* the stdout stream's close callback ran */
    int out_close_error;
} child;

static void on_exit_cb(eddy_subprocess *proc, int exit_status, int term_signal, void *userdata) {
    child *c = userdata;
    c->exited++;
    c->exit_status = exit_status;
    c->term_signal = term_signal;
    c->kill_in_exit = eddy_subprocess_kill(proc, SIGTERM);
}

static void free_child(void *userdata) { ((child *)userdata)->freed++; }

static void on_out(eddy_stream *s, const char *data, size_t len, void *userdata) {
    child *c = userdata;
    size_t room = sizeof c->out - 1 - c->out_len;
    if (len > room) len = room;
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    c->out[c->out_len] = '\0';
}

static void on_out_close(eddy_stream *s, int error, void *userdata) {
    child *c = userdata;
    c->out_closed = 1;
    c->out_close_error = error;
}

static void close_when_written(eddy_stream *s, int status, void *userdata) {
    assert_int_equal(status, 0);
    eddy_stream_close(s);
}

/* Reads the child's stdout (taken from `proc`) into c->out until it closes. */
static void collect_stdout(eddy_subprocess *proc, child *c) {
    eddy_stream *out = eddy_subprocess_take_stream(proc, 1);
    assert_non_null(out);
    eddy_stream_set_userdata(out, c, NULL);
    assert_int_equal(eddy_stream_set_close_callback(out, on_out_close), 0);
    assert_int_equal(eddy_stream_read_until_close(out, on_out), 0);
}

/* Runs the loop until the child exited and its stdout (if collected) closed. */
static void wait_child(eddy_loop *loop, child *c, int with_stdout) {
    double deadline = mono_now() + TEST_WAIT_SECONDS;
    while ((!c->exited || (with_stdout && !c->out_closed)) && mono_now() < deadline)
        assert_int_equal(eddy_loop_run_once(loop, 50), 0);
    assert_int_equal(c->exited, 1);
    if (with_stdout) assert_int_equal(c->out_closed, 1);
}

static eddy_spawn_options *pipes_options(int in, int out, int err) {
    eddy_spawn_options *o = eddy_spawn_options_new();
    assert_non_null(o);
    assert_int_equal(eddy_spawn_options_set_stdio(o, 0, in), 0);
    assert_int_equal(eddy_spawn_options_set_stdio(o, 1, out), 0);
    assert_int_equal(eddy_spawn_options_set_stdio(o, 2, err), 0);
    return o;
}

/* `sh -c script` with stdout piped; returns its output in c->out after it exited. */
static void run_script(eddy_loop *loop, const eddy_spawn_options *o, const char *script, child *c) {
    const char *argv[] = {"sh", "-c", script, NULL};
    eddy_subprocess *proc = NULL;
    assert_int_equal(eddy_subprocess_spawn(loop, argv, o, on_exit_cb, c, free_child, &proc), 0);
    assert_non_null(proc);
    collect_stdout(proc, c);
    wait_child(loop, c, 1);
    assert_int_equal(c->freed, 1);
}

static void test_cat_echoes_stdin(void **state) {
    eddy_loop *loop = eddy_loop_new();
    eddy_spawn_options *o = pipes_options(EDDY_STDIO_PIPE, EDDY_STDIO_PIPE, EDDY_STDIO_INHERIT);
    static child c;
    memset(&c, 0, sizeof c);
    const char *argv[] = {"cat", NULL};
    eddy_subprocess *proc = NULL;
    assert_int_equal(eddy_subprocess_spawn(loop, argv, o, on_exit_cb, &c, free_child, &proc), 0);
    eddy_spawn_options_free(o);
    assert_true(eddy_subprocess_pid(proc) > 0);
    eddy_stream *in = eddy_subprocess_take_stream(proc, 0);
    assert_non_null(in);
    assert_null(eddy_subprocess_take_stream(proc, 0)); /* once */
    assert_null(eddy_subprocess_take_stream(proc, 2)); /* inherited: no pipe */
    assert_null(eddy_subprocess_take_stream(proc, 3));
    collect_stdout(proc, &c);
    /* Closing the stdin stream once the bytes left is the child's EOF: cat then exits 0. */
    assert_int_equal(eddy_stream_write(in, "hello\nworld\n", 12, close_when_written), 0);
    wait_child(loop, &c, 1);
    assert_string_equal(c.out, "hello\nworld\n");
    assert_int_equal(c.out_close_error, 0);
    assert_int_equal(c.exit_status, 0);
    assert_int_equal(c.term_signal, 0);
    assert_int_equal(c.kill_in_exit, EDDY_ESTATE);
    assert_int_equal(c.freed, 1);
    eddy_loop_free(loop);
}

/* The stdin stream's reader went away (the child exited without reading): an idle stdin stream
 * with a close callback notices, and closes as a stream whose peer closed does (EDDY_EOF), not
 * with an error from reading a pipe's write end. */
static void test_stdin_reader_gone(void **state) {
    eddy_loop *loop = eddy_loop_new();
    eddy_spawn_options *o = pipes_options(EDDY_STDIO_PIPE, EDDY_STDIO_INHERIT, EDDY_STDIO_INHERIT);
    static child c;
    memset(&c, 0, sizeof c);
    const char *argv[] = {"true", NULL};
    eddy_subprocess *proc = NULL;
    assert_int_equal(eddy_subprocess_spawn(loop, argv, o, on_exit_cb, &c, free_child, &proc), 0);
    eddy_spawn_options_free(o);
    eddy_stream *in = eddy_subprocess_take_stream(proc, 0);
    assert_non_null(in);
    eddy_stream_set_userdata(in, &c, NULL);
    assert_int_equal(eddy_stream_set_close_callback(in, on_out_close), 0);
    wait_child(loop, &c, 1);
    assert_int_equal(c.exit_status, 0);
    assert_int_equal(c.out_close_error, EDDY_EOF);
    eddy_loop_free(loop);
}

static void test_exit_status(void **state) {
    eddy_loop *loop = eddy_loop_new();
    static child c;
    memset(&c, 0, sizeof c);
    const char *argv[] = {"sh", "-c", "exit 7", NULL};
    eddy_subprocess *proc = NULL;
    assert_int_equal(eddy_subprocess_spawn(loop, argv, NULL, on_exit_cb, &c, free_child, &proc), 0);
    wait_child(loop, &c, 0);
    assert_int_equal(c.exit_status, 7);
    assert_int_equal(c.term_signal, 0);
    assert_int_equal(c.freed, 1);
    eddy_loop_free(loop);
}

static void test_kill(void **state) {
    eddy_loop *loop = eddy_loop_new();
    static child c;
    memset(&c, 0, sizeof c);
    const char *argv[] = {"sleep", "30", NULL};
    eddy_subprocess *proc = NULL;
    assert_int_equal(eddy_subprocess_spawn(loop, argv, NULL, on_exit_cb, &c, free_child, &proc), 0);
    assert_int_equal(eddy_subprocess_kill(proc, 0), 0);
    assert_int_equal(eddy_subprocess_kill(proc, -1), EDDY_EINVAL);
    assert_int_equal(eddy_subprocess_kill(proc, 100000), EDDY_EINVAL);
    assert_int_equal(eddy_subprocess_kill(NULL, SIGTERM), EDDY_EINVAL);
    assert_int_equal(eddy_subprocess_kill(proc, SIGTERM), 0);
    wait_child(loop, &c, 0);
    assert_int_equal(c.exit_status, 0);
    assert_int_equal(c.term_signal, SIGTERM);
    eddy_loop_free(loop);
}

/* A child that exited but that eddy has not reaped yet (a zombie: kill(2) would still succeed on
 * it) is refused by eddy_subprocess_kill, as the header promises: it is no longer running. */
static void test_kill_after_exit_refused(void **state) {
    eddy_loop *loop = eddy_loop_new();
    static child c;
    memset(&c, 0, sizeof c);
    const char *argv[] = {"true", NULL};
    eddy_subprocess *proc = NULL;
    assert_int_equal(eddy_subprocess_spawn(loop, argv, NULL, on_exit_cb, &c, free_child, &proc), 0);
    /* Wait for the exit without collecting it: the loop does not run, eddy has not noticed. */
    siginfo_t info;
    memset(&info, 0, sizeof info);
    assert_int_equal(waitid(P_PID, (id_t)eddy_subprocess_pid(proc), &info, WEXITED | WNOWAIT), 0);
    assert_int_equal(info.si_pid, eddy_subprocess_pid(proc));
    assert_int_equal(eddy_subprocess_kill(proc, SIGTERM), EDDY_ESTATE);
    assert_int_equal(eddy_subprocess_kill(proc, 0), EDDY_ESTATE);
    wait_child(loop, &c, 0);
    assert_int_equal(c.exit_status, 0); /* it ended on its own: the SIGTERM never reached it */
    assert_int_equal(c.term_signal, 0);
    assert_int_equal(c.freed, 1);
    eddy_loop_free(loop);
}

static void test_spawn_errors(void **state) {
    eddy_loop *loop = eddy_loop_new();
    static child c;
    memset(&c, 0, sizeof c);
    eddy_subprocess *proc = (eddy_subprocess *)&c;
    const char *missing[] = {"/nonexistent/eddy-test-program", NULL};
    assert_int_equal(eddy_subprocess_spawn(loop, missing, NULL, on_exit_cb, &c, free_child, &proc),
                     EDDY_ENOENT);
    assert_null(proc);
    const char *not_in_path[] = {"eddy-test-no-such-program", NULL};
    assert_int_equal(
        eddy_subprocess_spawn(loop, not_in_path, NULL, on_exit_cb, &c, free_child, &proc),
        EDDY_ENOENT);
    /* A file that is not executable. */
    char path[] = "/tmp/eddy-test-noexec-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "#!/bin/sh\n", 10), 10);
    close(fd);
    chmod(path, 0644);
    const char *noexec[] = {path, NULL};
    /* (root too: execve wants an execute bit.) */
    assert_int_equal(eddy_subprocess_spawn(loop, noexec, NULL, on_exit_cb, &c, free_child, &proc),
                     EDDY_EACCES);
    unlink(path);
    /* A working directory that does not exist. */
    eddy_spawn_options *o = eddy_spawn_options_new();
    assert_int_equal(eddy_spawn_options_set_cwd(o, "/nonexistent/eddy-dir"), 0);
    const char *sh[] = {"sh", "-c", "exit 0", NULL};
    assert_int_equal(eddy_subprocess_spawn(loop, sh, o, on_exit_cb, &c, free_child, &proc),
                     EDDY_ENOENT);
    eddy_spawn_options_free(o);
    /* Bad arguments. */
    const char *empty[] = {"", NULL};
    const char *none[] = {NULL};
    assert_int_equal(eddy_subprocess_spawn(NULL, sh, NULL, NULL, NULL, NULL, &proc), EDDY_EINVAL);
    assert_int_equal(eddy_subprocess_spawn(loop, NULL, NULL, NULL, NULL, NULL, &proc), EDDY_EINVAL);
    assert_int_equal(eddy_subprocess_spawn(loop, none, NULL, NULL, NULL, NULL, &proc), EDDY_EINVAL);
    assert_int_equal(eddy_subprocess_spawn(loop, empty, NULL, NULL, NULL, NULL, &proc),
                     EDDY_EINVAL);
    assert_int_equal(eddy_subprocess_spawn(loop, sh, NULL, NULL, NULL, NULL, NULL), EDDY_EINVAL);
    /* A caller's fd that is not open. */
    o = eddy_spawn_options_new();
    assert_int_equal(eddy_spawn_options_set_stdio_fd(o, 1, 1000000), 0);
    assert_int_equal(eddy_subprocess_spawn(loop, sh, o, on_exit_cb, &c, free_child, &proc),
                     EDDY_EINVAL);
    eddy_spawn_options_free(o);
    assert_int_equal(c.freed, 0); /* failures leave userdata with the caller */
    assert_int_equal(c.exited, 0);
    eddy_loop_free(loop);
}

static void test_option_errors(void **state) {
    eddy_spawn_options *o = eddy_spawn_options_new();
    assert_non_null(o);
    assert_int_equal(eddy_spawn_options_set_stdio(o, 3, EDDY_STDIO_PIPE), EDDY_EINVAL);
    assert_int_equal(eddy_spawn_options_set_stdio(o, -1, EDDY_STDIO_PIPE), EDDY_EINVAL);
    assert_int_equal(eddy_spawn_options_set_stdio(o, 0, 42), EDDY_EINVAL);
    assert_int_equal(eddy_spawn_options_set_stdio(o, 1, EDDY_STDIO_STDOUT), EDDY_EINVAL);
    assert_int_equal(eddy_spawn_options_set_stdio(o, 2, EDDY_STDIO_STDOUT), 0);
    assert_int_equal(eddy_spawn_options_set_stdio_fd(o, 1, -1), EDDY_EINVAL);
    assert_int_equal(eddy_spawn_options_set_stdio_fd(o, 3, 1), EDDY_EINVAL);
    assert_int_equal(eddy_spawn_options_set_cwd(o, ""), EDDY_EINVAL);
    assert_int_equal(eddy_spawn_options_set_cwd(o, NULL), 0);
    assert_int_equal(eddy_spawn_options_set_env(o, NULL), 0);
    assert_int_equal(eddy_spawn_options_set_stdio(NULL, 0, EDDY_STDIO_PIPE), EDDY_EINVAL);
    assert_int_equal(eddy_spawn_options_set_close_fds(NULL, 1), EDDY_EINVAL);
    assert_int_equal(eddy_spawn_options_set_new_process_group(NULL, 1), EDDY_EINVAL);
    assert_int_equal(eddy_spawn_options_set_env(NULL, NULL), EDDY_EINVAL);
    eddy_spawn_options_free(o);
    eddy_spawn_options_free(NULL);
    assert_null(eddy_subprocess_take_stream(NULL, 1));
    assert_int_equal(eddy_subprocess_pid(NULL), EDDY_EINVAL);
}

static void test_cwd_and_env(void **state) {
    eddy_loop *loop = eddy_loop_new();
    char dir[] = "/tmp/eddy-test-cwd-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char resolved[PATH_MAX];
    assert_non_null(realpath(dir, resolved));
    eddy_spawn_options *o = pipes_options(EDDY_STDIO_DEVNULL, EDDY_STDIO_PIPE, EDDY_STDIO_INHERIT);
    assert_int_equal(eddy_spawn_options_set_cwd(o, dir), 0);
    const char *env[] = {"EDDY_TEST_VAR=from eddy", "PATH=/usr/bin:/bin", NULL};
    assert_int_equal(eddy_spawn_options_set_env(o, env), 0);
    static child c;
    memset(&c, 0, sizeof c);
    run_script(loop, o, "pwd -P; echo \"$EDDY_TEST_VAR\"; echo \"${HOME-unset}\"", &c);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "%s\nfrom eddy\nunset\n", resolved);
    assert_string_equal(c.out, want);
    eddy_spawn_options_free(o);
    rmdir(dir);
    eddy_loop_free(loop);
}

static void test_stderr_to_stdout_and_devnull(void **state) {
    eddy_loop *loop = eddy_loop_new();
    eddy_spawn_options *o = pipes_options(EDDY_STDIO_DEVNULL, EDDY_STDIO_PIPE, EDDY_STDIO_STDOUT);
    static child c;
    memset(&c, 0, sizeof c);
    /* cat reads /dev/null: nothing, at once. */
    run_script(loop, o, "cat; echo out; echo err >&2", &c);
    assert_string_equal(c.out, "out\nerr\n");
    assert_int_equal(c.exit_status, 0);
    eddy_spawn_options_free(o);
    eddy_loop_free(loop);
}

/* The child's stdout is a copy of a pipe the caller made; the caller's fd stays its own. */
static void test_stdio_fd(void **state) {
    eddy_loop *loop = eddy_loop_new();
    int p[2];
    assert_int_equal(pipe(p), 0);
    eddy_spawn_options *o = eddy_spawn_options_new();
    assert_int_equal(eddy_spawn_options_set_stdio_fd(o, 1, p[1]), 0);
    static child c;
    memset(&c, 0, sizeof c);
    const char *argv[] = {"sh", "-c", "echo via-fd", NULL};
    eddy_subprocess *proc = NULL;
    assert_int_equal(eddy_subprocess_spawn(loop, argv, o, on_exit_cb, &c, free_child, &proc), 0);
    eddy_spawn_options_free(o);
    assert_true(fcntl(p[1], F_GETFD) >= 0); /* still open: the caller's */
    close(p[1]);
    wait_child(loop, &c, 0);
    char buf[64] = {0};
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    assert_int_equal(n, 7);
    assert_string_equal(buf, "via-fd\n");
    close(p[0]);
    eddy_loop_free(loop);
}

/* close_fds: an fd the parent left inheritable reaches the child only with close_fds off. */
static void test_close_fds(void **state) {
    eddy_loop *loop = eddy_loop_new();
    int p[2];
    assert_int_equal(pipe(p), 0); /* no O_CLOEXEC */
    char script[128];
    snprintf(script, sizeof script,
             "if [ -e /proc/self/fd/%d ]; then echo open; else echo closed; fi", p[0]);
    for (int close_fds = 1; close_fds >= 0; close_fds--) {
        eddy_spawn_options *o =
            pipes_options(EDDY_STDIO_INHERIT, EDDY_STDIO_PIPE, EDDY_STDIO_INHERIT);
        assert_int_equal(eddy_spawn_options_set_close_fds(o, close_fds), 0);
        static child c;
        memset(&c, 0, sizeof c);
        run_script(loop, o, script, &c);
        assert_string_equal(c.out, close_fds ? "closed\n" : "open\n");
        eddy_spawn_options_free(o);
    }
    close(p[0]);
    close(p[1]);
    eddy_loop_free(loop);
}

/* The child starts with an empty signal mask and default dispositions, whatever the parent has. */
static void test_signals_reset(void **state) {
    eddy_loop *loop = eddy_loop_new();
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_pipe, old_usr2;
    sigaction(SIGPIPE, &ign, &old_pipe);
    sigaction(SIGUSR2, &ign, &old_usr2);
    sigset_t block, old_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &block, &old_mask);
    eddy_spawn_options *o = pipes_options(EDDY_STDIO_DEVNULL, EDDY_STDIO_PIPE, EDDY_STDIO_INHERIT);
    static child c;
    memset(&c, 0, sizeof c);
    run_script(loop, o, "grep -E '^Sig(Blk|Ign):' /proc/self/status", &c);
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    sigaction(SIGUSR2, &old_usr2, NULL);
    unsigned long long blk = ~0ULL, ign_mask = ~0ULL;
    char *b = strstr(c.out, "SigBlk:"), *i = strstr(c.out, "SigIgn:");
    assert_non_null(b);
    assert_non_null(i);
    blk = strtoull(b + 7, NULL, 16);
    ign_mask = strtoull(i + 7, NULL, 16);
    assert_int_equal(blk & (1ULL << (SIGUSR1 - 1)), 0);
    assert_int_equal(ign_mask & (1ULL << (SIGPIPE - 1)), 0);
    assert_int_equal(ign_mask & (1ULL << (SIGUSR2 - 1)), 0);
    eddy_spawn_options_free(o);
    eddy_loop_free(loop);
}

static int process_group_of(int pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *after_name = strrchr(buf, ')');
    assert_non_null(after_name);
    char state;
    int ppid, pgrp;
    assert_int_equal(sscanf(after_name + 1, " %c %d %d", &state, &ppid, &pgrp), 3);
    return pgrp;
}

static void test_new_process_group(void **state) {
    eddy_loop *loop = eddy_loop_new();
    for (int own = 0; own <= 1; own++) {
        eddy_spawn_options *o = eddy_spawn_options_new();
        assert_int_equal(eddy_spawn_options_set_new_process_group(o, own), 0);
        static child c;
        memset(&c, 0, sizeof c);
        const char *argv[] = {"sleep", "30", NULL};
        eddy_subprocess *proc = NULL;
        assert_int_equal(eddy_subprocess_spawn(loop, argv, o, on_exit_cb, &c, free_child, &proc),
                         0);
        eddy_spawn_options_free(o);
        int pid = eddy_subprocess_pid(proc);
        assert_int_equal(process_group_of(pid), own ? pid : getpgrp());
        assert_int_equal(eddy_subprocess_kill(proc, SIGKILL), 0);
        wait_child(loop, &c, 0);
        assert_int_equal(c.term_signal, SIGKILL);
    }
    eddy_loop_free(loop);
}

/* Many children at once: every exit is seen once, with its own status. */
static void test_many_children(void **state) {
    enum { N = 40 };
    eddy_loop *loop = eddy_loop_new();
    static child c[N];
    memset(c, 0, sizeof c);
    for (int i = 0; i < N; i++) {
        char script[32];
        snprintf(script, sizeof script, "exit %d", i);
        const char *argv[] = {"sh", "-c", script, NULL};
        eddy_subprocess *proc = NULL;
        assert_int_equal(
            eddy_subprocess_spawn(loop, argv, NULL, on_exit_cb, &c[i], free_child, &proc), 0);
    }
    for (int i = 0; i < N; i++) {
        wait_child(loop, &c[i], 0);
        assert_int_equal(c[i].exit_status, i);
        assert_int_equal(c[i].freed, 1);
    }
    eddy_loop_free(loop);
}

/* A megabyte through the stdout pipe (the child blocks on the full pipe meanwhile). */
static size_t zero_bytes, other_bytes;

static void count_zeros(eddy_stream *s, const char *data, size_t len, void *userdata) {
    for (size_t i = 0; i < len; i++) {
        if (data[i] == 0)
            zero_bytes++;
        else
            other_bytes++;
    }
}

static void test_large_output(void **state) {
    eddy_loop *loop = eddy_loop_new();
    static child c;
    memset(&c, 0, sizeof c);
    zero_bytes = other_bytes = 0;
    const char *argv[] = {"head", "-c", "1048576", "/dev/zero", NULL};
    eddy_spawn_options *o = pipes_options(EDDY_STDIO_DEVNULL, EDDY_STDIO_PIPE, EDDY_STDIO_INHERIT);
    eddy_subprocess *proc = NULL;
    assert_int_equal(eddy_subprocess_spawn(loop, argv, o, on_exit_cb, &c, free_child, &proc), 0);
    eddy_spawn_options_free(o);
    eddy_stream *out = eddy_subprocess_take_stream(proc, 1);
    assert_non_null(out);
    eddy_stream_set_userdata(out, &c, NULL);
    assert_int_equal(eddy_stream_set_close_callback(out, on_out_close), 0);
    assert_int_equal(eddy_stream_read_until_close(out, count_zeros), 0);
    wait_child(loop, &c, 1);
    assert_int_equal(c.out_close_error, 0);
    assert_int_equal(c.exit_status, 0);
    assert_int_equal(zero_bytes, 1048576);
    assert_int_equal(other_bytes, 0);
    eddy_loop_free(loop);
}

static int count_open_fds(void) {
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) >= 0) n++;
    return n;
}

/* Streams the caller never took are closed when the handle goes: no fd stays behind. */
static void test_untaken_streams_closed(void **state) {
    eddy_loop *loop = eddy_loop_new();
    eddy_loop_run_once(loop, 0);
    int before = count_open_fds();
    eddy_spawn_options *o = pipes_options(EDDY_STDIO_PIPE, EDDY_STDIO_PIPE, EDDY_STDIO_PIPE);
    static child c;
    memset(&c, 0, sizeof c);
    const char *argv[] = {"sh", "-c", "echo unread; exit 3", NULL};
    eddy_subprocess *proc = NULL;
    assert_int_equal(eddy_subprocess_spawn(loop, argv, o, on_exit_cb, &c, free_child, &proc), 0);
    eddy_spawn_options_free(o);
    assert_true(count_open_fds() >= before + 3);
    wait_child(loop, &c, 0);
    assert_int_equal(c.exit_status, 3);
    for (int i = 0; i < 5; i++) eddy_loop_run_once(loop, 0);
    assert_int_equal(count_open_fds(), before);
    eddy_loop_free(loop);
}

/* The loop freed while the child runs: userdata released, no exit callback, child untouched. */
static void test_loop_freed_first(void **state) {
    eddy_loop *loop = eddy_loop_new();
    static child c;
    memset(&c, 0, sizeof c);
    const char *argv[] = {"sleep", "30", NULL};
    eddy_spawn_options *o = pipes_options(EDDY_STDIO_PIPE, EDDY_STDIO_PIPE, EDDY_STDIO_INHERIT);
    eddy_subprocess *proc = NULL;
    assert_int_equal(eddy_subprocess_spawn(loop, argv, o, on_exit_cb, &c, free_child, &proc), 0);
    eddy_spawn_options_free(o);
    eddy_stream *in = eddy_subprocess_take_stream(proc, 0); /* one taken, one not */
    assert_non_null(in);
    int pid = eddy_subprocess_pid(proc);
    eddy_loop_free(loop);
    assert_int_equal(c.freed, 1);
    assert_int_equal(c.exited, 0);
    assert_int_equal(kill(pid, 0), 0); /* still running */
    kill(pid, SIGKILL);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
}

/* ---- in a forked test process: a seccomp filter refuses pidfd_open (ENOSYS), or SIGCHLD is
 * ignored (the kernel reaps): the exit is still reported. */

static void refuse_pidfd_open(void) {
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pidfd_open, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof filter / sizeof filter[0], .filter = filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(90);
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) _exit(91);
    if (syscall(SYS_pidfd_open, getpid(), 0) != -1 || errno != ENOSYS) _exit(92);
}

/* Returns 0 when every check passed, else the number of the first failed one. */
static int run_in_fork_checks(int no_pidfd) {
    eddy_loop *loop = eddy_loop_new();
    if (!loop) return 10;
    child c;
    memset(&c, 0, sizeof c);
    const char *argv[] = {"sh", "-c", "exit 5", NULL};
    eddy_subprocess *proc = NULL;
    if (eddy_subprocess_spawn(loop, argv, NULL, on_exit_cb, &c, free_child, &proc) != 0) return 11;
    double deadline = mono_now() + TEST_WAIT_SECONDS;
    while (!c.exited && mono_now() < deadline) eddy_loop_run_once(loop, 50);
    if (c.exited != 1 || c.freed != 1) return 12;
    if (no_pidfd && c.exit_status != 5) return 13;
    if (!no_pidfd && c.exit_status != -1) return 14; /* SIGCHLD ignored: the status is lost */
    if (no_pidfd) {
        /* kill without a pidfd, then the poll notices the signal death. */
        memset(&c, 0, sizeof c);
        const char *sleeper[] = {"sleep", "30", NULL};
        if (eddy_subprocess_spawn(loop, sleeper, NULL, on_exit_cb, &c, free_child, &proc) != 0)
            return 15;
        if (eddy_subprocess_kill(proc, SIGKILL) != 0) return 16;
        deadline = mono_now() + TEST_WAIT_SECONDS;
        while (!c.exited && mono_now() < deadline) eddy_loop_run_once(loop, 50);
        if (c.exited != 1 || c.term_signal != SIGKILL) return 17;
    }
    eddy_loop_free(loop);
    return 0;
}

static void run_forked(int no_pidfd) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (no_pidfd)
            refuse_pidfd_open();
        else
            signal(SIGCHLD, SIG_IGN);
        _exit(run_in_fork_checks(no_pidfd));
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* Out of fds with k (0-4) left, 3 pipes wanted: the spawn fails with EDDY_EMFILE, as the header
 * says (not EDDY_ENOMEM: a pipe needs no epoll probe fd to become a stream), and gives back
 * every fd it made. In a forked process: the fd limit is lowered. Returns 0 or the check that
 * failed. */
static int run_out_of_fds_checks(void) {
    eddy_loop *loop = eddy_loop_new();
    if (!loop) return 20;
    eddy_loop_run_once(loop, 0);
    struct rlimit limit = {64, 64};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 21;
    limit.rlim_cur = 64;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) return 22;
    eddy_spawn_options *o = eddy_spawn_options_new();
    for (int i = 0; i < 3; i++)
        if (eddy_spawn_options_set_stdio(o, i, EDDY_STDIO_PIPE) != 0) return 23;
    const char *argv[] = {"true", NULL};
    for (int left = 0; left <= 4; left++) {
        int held[64], n = 0;
        for (int fd; n < 64 && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) held[n++] = fd;
        if (n < 8 || errno != EMFILE) return 24;
        for (int i = 0; i < left; i++) close(held[--n]);
        int before = count_open_fds();
        eddy_subprocess *proc = NULL;
        int rc = eddy_subprocess_spawn(loop, argv, o, NULL, NULL, NULL, &proc);
        eddy_loop_run_once(loop, 0);
        int after = count_open_fds();
        while (n > 0) close(held[--n]);
        if (rc != EDDY_EMFILE) return 30 + left;
        if (proc || after != before) return 40 + left;
    }
    eddy_spawn_options_free(o);
    eddy_loop_free(loop);
    return 0;
}

static void test_out_of_fds(void **state) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) _exit(run_out_of_fds_checks());
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* 2>&1 with the parent's fd 1 inherited when that fd 1 does not reach the child (closed, or
 * close-on-exec: some fd of the parent's own that took the number): the child's fd 2 is closed
 * like its fd 1, never a copy of the parent's private fd, and the spawn succeeds. In a forked
 * process: fd 1 changes. Returns 0 or the check that failed. */
static int run_stderr_to_closed_stdout_checks(void) {
    eddy_loop *loop = eddy_loop_new();
    if (!loop) return 50;
    eddy_spawn_options *o =
        pipes_options(EDDY_STDIO_DEVNULL, EDDY_STDIO_INHERIT, EDDY_STDIO_STDOUT);
    /* Exits 1 if its fd 1 is open, 2 if its fd 2 is. */
    const char *argv[] = {
        "sh", "-c", "[ -e /proc/$$/fd/1 ] && exit 1; [ -e /proc/$$/fd/2 ] && exit 2; exit 0", NULL};
    for (int cloexec = 0; cloexec <= 1; cloexec++) {
        close(1);
        if (cloexec) {
            char path[] = "/tmp/eddy-test-private-XXXXXX";
            int fd = mkostemp(path, O_CLOEXEC);
            unlink(path);
            if (fd < 0 || (fd != 1 && (dup3(fd, 1, O_CLOEXEC) != 1 || close(fd) != 0))) return 51;
        }
        child c;
        memset(&c, 0, sizeof c);
        eddy_subprocess *proc = NULL;
        int rc = eddy_subprocess_spawn(loop, argv, o, on_exit_cb, &c, free_child, &proc);
        if (rc != 0) return 52 + cloexec;
        double deadline = mono_now() + TEST_WAIT_SECONDS;
        while (!c.exited && mono_now() < deadline) eddy_loop_run_once(loop, 50);
        if (c.exited != 1) return 54;
        if (c.exit_status != 0) return 60 + 10 * cloexec + c.exit_status;
    }
    eddy_spawn_options_free(o);
    eddy_loop_free(loop);
    return 0;
}

static void test_stderr_to_closed_stdout(void **state) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) _exit(run_stderr_to_closed_stdout_checks());
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_without_pidfd(void **state) { run_forked(1); }
static void test_sigchld_ignored(void **state) { run_forked(0); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cat_echoes_stdin),
        cmocka_unit_test(test_stdin_reader_gone),
        cmocka_unit_test(test_exit_status),
        cmocka_unit_test(test_kill),
        cmocka_unit_test(test_kill_after_exit_refused),
        cmocka_unit_test(test_spawn_errors),
        cmocka_unit_test(test_option_errors),
        cmocka_unit_test(test_cwd_and_env),
        cmocka_unit_test(test_stderr_to_stdout_and_devnull),
        cmocka_unit_test(test_stdio_fd),
        cmocka_unit_test(test_stderr_to_closed_stdout),
        cmocka_unit_test(test_close_fds),
        cmocka_unit_test(test_signals_reset),
        cmocka_unit_test(test_new_process_group),
        cmocka_unit_test(test_many_children),
        cmocka_unit_test(test_large_output),
        cmocka_unit_test(test_untaken_streams_closed),
        cmocka_unit_test(test_loop_freed_first),
        cmocka_unit_test(test_out_of_fds),
        cmocka_unit_test(test_without_pidfd),
        cmocka_unit_test(test_sigchld_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
