/* A server for the production tests (tests/integration/test_production.py): runs as one
 * process, N threads sharing a port (SO_REUSEPORT), or N forked processes sharing one socket;
 * speaks the PROXY protocol or xheaders when asked; shuts down gracefully on SIGTERM and
 * reloads on SIGHUP (a new process inherits the listening socket, the old one drains).
 *
 * Options: --threads N, --processes N, --port N, --fd N, --proxy-protocol, --xheaders,
 * --trusted IP, --idle-timeout S (also the header timeout; 0 = none), --max-restarts N,
 * --private-fds (with --threads: each loop thread gets its own fd table, see below),
 * --max-body-memory N (eddy_server_set_max_body_memory; 0 = no limit).
 * Routes: /info -> "pid=P task=T thread=K ip=I port=N scheme=S"; /slow?ms=N -> that after N ms;
 * /big?mb=N -> N MiB of 'x' (with backpressure); /upload (POST) -> the body length;
 * /crash -> a forked child exits with status 3 (to test restarts).
 * Prints "PORT <n>" on stdout once listening. */
#define _GNU_SOURCE
#include <eddy/eddy.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int g_proxy_protocol, g_xheaders, g_threads = 1, g_processes = 0, g_private_fds;
static double g_idle_timeout = -1;
static long long g_max_body_memory = -1; /* -1: eddy's default */
static int g_max_restarts = 20;
static const char *g_trusted;
static char **g_argv;

typedef struct worker {
    int index;
    int fd; /* listening socket, or -1 to bind with REUSEPORT on g_port */
    eddy_loop *loop;
    eddy_server *server;
    pthread_t thread;
} worker;
static worker *g_workers;
static int g_port;

static void answer(eddy_request *req, int thread) {
    char body[512];
    int n = snprintf(body, sizeof body, "pid=%d task=%d thread=%d ip=%s port=%d scheme=%s\n",
                     (int)getpid(), eddy_task_id(), thread, eddy_request_remote_ip(req),
                     eddy_request_remote_port(req), eddy_request_scheme(req));
    eddy_request_write(req, body, (size_t)n);
    eddy_request_finish(req);
}

typedef struct { eddy_request *req; int thread; } deferred;
static void finish_later(eddy_loop *loop, void *arg) {
    deferred *d = arg;
    answer(d->req, d->thread);
    free(d);
}

/* A large response written with backpressure: the next 64 KiB only once the previous piece
 * reached the kernel, so a client that never reads costs one piece, not the whole body. */
typedef struct { int left; } big_state;
static void big_next(eddy_request *req, int status, void *userdata) {
    static char chunk[65536];
    big_state *b = userdata;
    if (status != 0 || b->left == 0) {
        eddy_request_finish(req);
        return;
    }
    if (chunk[0] != 'x') memset(chunk, 'x', sizeof chunk);
    b->left--;
    eddy_request_write(req, chunk, sizeof chunk);
    eddy_request_flush(req, big_next);
}

static void on_request(eddy_request *req, void *userdata) {
    worker *w = userdata;
    const char *path = eddy_request_path(req, NULL);
    if (strcmp(path, "/slow") == 0) {
        const char *ms = eddy_request_argument(req, EDDY_ARGS_QUERY, "ms", EDDY_NTS, NULL);
        deferred *d = malloc(sizeof *d);
        d->req = req;
        d->thread = w->index;
        eddy_loop_call_later(w->loop, (ms ? atoi(ms) : 100) / 1000.0, finish_later, d, NULL);
        return;
    }
    if (strcmp(path, "/big") == 0) {
        const char *mb = eddy_request_argument(req, EDDY_ARGS_QUERY, "mb", EDDY_NTS, NULL);
        big_state *b = malloc(sizeof *b);
        b->left = (mb ? atoi(mb) : 1) * 16;
        eddy_request_set_userdata(req, b, free);
        big_next(req, 0, b);
        return;
    }
    if (strcmp(path, "/crash") == 0 && eddy_task_id() >= 0) _exit(3); /* a child "crashes" */
    if (strcmp(path, "/upload") == 0) {
        size_t len = 0;
        eddy_request_body(req, &len);
        char body[64];
        int n = snprintf(body, sizeof body, "%zu\n", len);
        eddy_request_write(req, body, (size_t)n);
        eddy_request_finish(req);
        return;
    }
    answer(req, w->index);
}

static void configure(worker *w) {
    w->server = eddy_server_new(w->loop, on_request, w, NULL);
    if (g_proxy_protocol) eddy_server_set_proxy_protocol(w->server, 1);
    if (g_xheaders) eddy_server_set_xheaders(w->server, 1);
    if (g_trusted) eddy_server_add_trusted_proxy(w->server, g_trusted);
    if (g_max_body_memory >= 0) eddy_server_set_max_body_memory(w->server, (size_t)g_max_body_memory);
    if (g_idle_timeout >= 0) {
        eddy_server_set_idle_timeout(w->server, g_idle_timeout);
        eddy_server_set_header_timeout(w->server, g_idle_timeout);
    }
    if (w->fd >= 0) {
        if (eddy_server_add_fd(w->server, w->fd) != 0) exit(3);
    } else if (eddy_server_listen(w->server, "127.0.0.1", g_port, EDDY_LISTEN_REUSEPORT) != 0) {
        exit(3);
    }
}

static void on_drained(eddy_server *server, void *userdata) {
    eddy_loop_stop(((worker *)userdata)->loop);
}
static void shutdown_worker(eddy_loop *loop, void *arg) {
    worker *w = arg;
    if (eddy_server_shutdown(w->server, on_drained, w, NULL) != 0) eddy_loop_stop(loop);
}
static void shutdown_all(void) {
    for (int i = 0; i < g_threads; i++)
        eddy_loop_call_soon_threadsafe(g_workers[i].loop, shutdown_worker, &g_workers[i], NULL);
}

static void on_signal(eddy_signal *sig, int signum, void *userdata) {
    if (signum == SIGHUP) {
        /* Graceful reload: a new process of this program takes over the listening socket (the
         * same socket, so connections waiting in its accept queue are not lost); we drain. */
        int fd = eddy_server_listening_fd(g_workers[0].server, 0);
        if (fd < 0 || g_threads != 1) return;
        pid_t pid = fork();
        if (pid == 0) {
            fcntl(fd, F_SETFD, 0);
            char fdarg[16];
            snprintf(fdarg, sizeof fdarg, "%d", fd);
            int argc = 0;
            while (g_argv[argc]) argc++;
            char **args = calloc((size_t)argc + 3, sizeof *args);
            for (int i = 0; i < argc; i++) args[i] = g_argv[i];
            args[argc] = "--fd";
            args[argc + 1] = fdarg;
            execv("/proc/self/exe", args);
            _exit(127);
        }
        if (pid < 0) return;
    }
    eddy_signal_free(sig);
    shutdown_all();
}

/* --private-fds: RLIMIT_NOFILE bounds the fd *numbers* of one fd table, and a container may
 * cap it (the development one at 20,000, with CAP_SYS_RESOURCE dropped). A thread that
 * unshares its fd table (CLONE_FILES, no privilege needed) gets a copy of the process's table
 * and its own 20,000, so N loop threads hold N times that many connections in one process.
 * Everything a thread shares with the others (loops, their wake-up fds, listeners) is created
 * before the copy, so its number means the same in every table; what a loop accepts lives only
 * in its own thread's table, so each thread frees its own server and loop. Each thread closes
 * its copies of the other loops' listeners: a listener that stayed open in another table would
 * keep taking connections after its own loop closed it (at shutdown) that no one accepts. */
static int unshare_fd_table(const worker *self) {
    if (!g_private_fds) return 0;
    if (unshare(CLONE_FILES) != 0) {
        perror("prod_server: unshare(CLONE_FILES)");
        return -1;
    }
    for (int i = 0; i < g_threads; i++) {
        if (&g_workers[i] == self) continue;
        int fd;
        for (int k = 0; (fd = eddy_server_listening_fd(g_workers[i].server, k)) >= 0; k++)
            close(fd);
    }
    return 0;
}

static void run_and_free(worker *w) {
    eddy_loop_run(w->loop);
    eddy_server_free(w->server);
    eddy_loop_free(w->loop);
}

static void *run_worker(void *arg) {
    worker *w = arg;
    if (unshare_fd_table(w) != 0) _exit(5);
    run_and_free(w);
    return NULL;
}

int main(int argc, char **argv) {
    g_argv = argv;
    int inherited_fd = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--proxy-protocol")) g_proxy_protocol = 1;
        else if (!strcmp(argv[i], "--xheaders")) g_xheaders = 1;
        else if (!strcmp(argv[i], "--trusted") && i + 1 < argc) g_trusted = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) g_threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--processes") && i + 1 < argc) g_processes = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--port") && i + 1 < argc) g_port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--fd") && i + 1 < argc) inherited_fd = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--idle-timeout") && i + 1 < argc) g_idle_timeout = atof(argv[++i]);
        else if (!strcmp(argv[i], "--max-restarts") && i + 1 < argc) g_max_restarts = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--private-fds")) g_private_fds = 1;
        else if (!strcmp(argv[i], "--max-body-memory") && i + 1 < argc) g_max_body_memory = atoll(argv[++i]);
    }
    signal(SIGPIPE, SIG_IGN);
    if (g_threads < 1) g_threads = 1;
    int shared_fd = inherited_fd;
    if (g_processes > 0 || (g_threads == 1 && shared_fd < 0)) {
        shared_fd = eddy_bind_socket("127.0.0.1", g_port, 1024, 0);
        if (shared_fd < 0) return 2;
    }
    if (shared_fd >= 0) {
        g_port = eddy_socket_port(shared_fd);
        if (inherited_fd < 0) {
            printf("PORT %d\n", g_port);
            fflush(stdout);
        }
    }
    if (g_processes > 0) {
        int id = eddy_fork_processes(g_processes, g_max_restarts);
        if (id < 0) return 4;
    }
    g_workers = calloc((size_t)g_threads, sizeof *g_workers);
    for (int i = 0; i < g_threads; i++) {
        worker *w = &g_workers[i];
        w->index = i;
        w->fd = g_threads == 1 ? shared_fd : -1;
        w->loop = eddy_loop_new();
        if (i == 0 && g_port == 0 && w->fd < 0) {
            configure(w);
            g_port = eddy_server_port(w->server);
            printf("PORT %d\n", g_port);
            fflush(stdout);
        } else {
            configure(w);
        }
    }
    eddy_signal *term = eddy_signal_new(g_workers[0].loop, SIGTERM, on_signal, NULL, NULL);
    eddy_signal *hup = eddy_signal_new(g_workers[0].loop, SIGHUP, on_signal, NULL, NULL);
    (void)term;
    (void)hup;
    for (int i = 1; i < g_threads; i++) pthread_create(&g_workers[i].thread, NULL, run_worker, &g_workers[i]);
    if (unshare_fd_table(&g_workers[0]) != 0) return 5;
    run_and_free(&g_workers[0]);
    for (int i = 1; i < g_threads; i++) pthread_join(g_workers[i].thread, NULL);
    free(g_workers);
    return 0;
}
