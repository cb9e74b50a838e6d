/* Unit tests for the event loop (eddy/loop.h) through the public C API. */
#include "test_common.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/wait.h>

/* ---- a small event log shared by the ordering tests --------------------------------------- */

typedef struct {
    char seq[256];
    size_t n;
} trace;

static void trace_add(trace *t, char c) {
    if (t->n + 1 < sizeof t->seq) {
        t->seq[t->n++] = c;
        t->seq[t->n] = '\0';
    }
}

/* ---- call_soon ---------------------------------------------------------------------------- */

typedef struct {
    int order[100];
    int n;
} order_log;

typedef struct {
    order_log *log;
    int index;
} order_item;

static void record_order(eddy_loop *loop, void *userdata) {
    (void)loop;
    order_item *item = userdata;
    item->log->order[item->log->n++] = item->index;
}

static void test_call_soon_fifo(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    assert_non_null(loop);
    order_log log = {{0}, 0};
    order_item items[100];
    eddy_call_id last = 0;
    for (int i = 0; i < 100; i++) {
        items[i].log = &log;
        items[i].index = i;
        eddy_call_id id = eddy_loop_call_soon(loop, record_order, &items[i], NULL);
        assert_true(id != 0);
        assert_true(id != last); /* ids are unique */
        last = id;
    }
    /* All 100 were queued before the iteration started: one iteration runs them all. */
    assert_int_equal(eddy_loop_run_once(loop, 0), 0);
    assert_int_equal(log.n, 100);
    for (int i = 0; i < 100; i++) assert_int_equal(log.order[i], i);
    /* Bad arguments: id 0, userdata stays the caller's. */
    assert_true(eddy_loop_call_soon(NULL, record_order, NULL, NULL) == 0);
    assert_true(eddy_loop_call_soon(loop, NULL, NULL, NULL) == 0);
    eddy_loop_free(loop);
}

/* A callback queued while the ready queue runs waits for the next iteration, and I/O that
 * became ready meanwhile is handled in between. */
typedef struct {
    trace t;
    int fds[2];
    eddy_watch *watch;
} next_iter_ctx;

static void nested_b(eddy_loop *loop, void *userdata) {
    (void)loop;
    trace_add(&((next_iter_ctx *)userdata)->t, 'B');
}

static void nested_a(eddy_loop *loop, void *userdata) {
    next_iter_ctx *ctx = userdata;
    trace_add(&ctx->t, 'A');
    assert_true(eddy_loop_call_soon(loop, nested_b, ctx, NULL) != 0);
    /* Make the watched socket readable now: its callback must run before B. */
    write_all(ctx->fds[1], "x", 1);
}

static void next_iter_watch(eddy_watch *watch, int fd, int events, void *userdata) {
    next_iter_ctx *ctx = userdata;
    assert_int_equal(events & EDDY_READABLE, EDDY_READABLE);
    char c;
    assert_int_equal(read(fd, &c, 1), 1);
    trace_add(&ctx->t, 'W');
    eddy_watch_free(watch);
    ctx->watch = NULL;
}

static void test_call_soon_next_iteration(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    next_iter_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctx.fds), 0);
    ctx.watch = eddy_watch_new(loop, ctx.fds[0], EDDY_READABLE, next_iter_watch, &ctx, NULL);
    assert_non_null(ctx.watch);
    assert_true(eddy_loop_call_soon(loop, nested_a, &ctx, NULL) != 0);

    /* run_once runs only the snapshot of the ready queue: A, not B. */
    assert_int_equal(eddy_loop_run_once(loop, 0), 0);
    assert_string_equal(ctx.t.seq, "A");
    double deadline = mono_now() + TEST_WAIT_SECONDS;
    while (ctx.t.n < 3 && mono_now() < deadline) assert_int_equal(eddy_loop_run_once(loop, 50), 0);
    assert_string_equal(ctx.t.seq, "AWB");
    close(ctx.fds[0]);
    close(ctx.fds[1]);
    eddy_loop_free(loop);
}

/* ---- timers ------------------------------------------------------------------------------- */

typedef struct {
    trace *t;
    char c;
} trace_item;

static void trace_cb(eddy_loop *loop, void *userdata) {
    (void)loop;
    trace_item *item = userdata;
    trace_add(item->t, item->c);
}

static void test_timer_ordering(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    trace t = {{0}, 0};
    trace_item a = {&t, 'A'}, b = {&t, 'B'}, c1 = {&t, '1'}, c2 = {&t, '2'}, c3 = {&t, '3'},
               z = {&t, 'Z'}, n = {&t, 'N'};
    double now = eddy_loop_time(loop);
    assert_true(eddy_loop_call_later(loop, 0.12, trace_cb, &b, NULL) != 0);
    assert_true(eddy_loop_call_later(loop, 0.03, trace_cb, &a, NULL) != 0);
    /* Same deadline: scheduling order. */
    assert_true(eddy_loop_call_at(loop, now + 0.07, trace_cb, &c1, NULL) != 0);
    assert_true(eddy_loop_call_at(loop, now + 0.07, trace_cb, &c2, NULL) != 0);
    assert_true(eddy_loop_call_at(loop, now + 0.07, trace_cb, &c3, NULL) != 0);
    /* Negative and NaN delays count as 0; a deadline in the past runs soon. */
    assert_true(eddy_loop_call_later(loop, -5.0, trace_cb, &z, NULL) != 0);
    assert_true(eddy_loop_call_later(loop, 0.0 / 0.0, trace_cb, &n, NULL) != 0);
    while (t.n < 7) {
        assert_true(eddy_loop_time(loop) < now + TEST_WAIT_SECONDS);
        assert_int_equal(eddy_loop_run_once(loop, 50), 0);
    }
    assert_string_equal(t.seq, "ZNA123B");
    /* Loop time is monotonic and moves forward. */
    assert_true(eddy_loop_time(loop) >= now + 0.12);
    eddy_loop_free(loop);
}

/* The same call_at deadline many times: FIFO even across heap reorganisations. */
static void test_timer_same_deadline_many(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    order_log log = {{0}, 0};
    order_item items[100];
    double when = eddy_loop_time(loop) + 0.01;
    for (int i = 0; i < 100; i++) {
        items[i].log = &log;
        items[i].index = i;
        /* interleave with other deadlines to shake the heap */
        assert_true(eddy_loop_call_at(loop, when, record_order, &items[i], NULL) != 0);
    }
    assert_int_equal(run_until_count(loop, &log.n, 100, TEST_WAIT_SECONDS), 100);
    for (int i = 0; i < 100; i++) assert_int_equal(log.order[i], i);
    eddy_loop_free(loop);
}


/* Many timers with colliding deadlines, half of them cancelled in random order: the rest run in
 * (deadline, scheduling order), each exactly once, and every userdata is released once. */
#define HEAP_N 2000

typedef struct {
    int order[HEAP_N];
    int n;
    int frees[HEAP_N];
} heap_log;

typedef struct {
    heap_log *log;
    int index;
} heap_item;

static void heap_run(eddy_loop *loop, void *userdata) {
    (void)loop;
    heap_item *it = userdata;
    it->log->order[it->log->n++] = it->index;
}

static void heap_free(void *userdata) {
    heap_item *it = userdata;
    it->log->frees[it->index]++;
}

static void test_timer_heap_random(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    heap_log *log = calloc(1, sizeof *log);
    heap_item *items = calloc(HEAP_N, sizeof *items);
    eddy_call_id *ids = calloc(HEAP_N, sizeof *ids);
    double *when = calloc(HEAP_N, sizeof *when);
    unsigned char *cancelled = calloc(HEAP_N, 1);
    unsigned seed = 12345;
    double base = eddy_loop_time(loop) + 0.02;
    for (int i = 0; i < HEAP_N; i++) {
        seed = seed * 1103515245u + 12345u;
        when[i] = base + (double)((seed >> 16) % 25) * 0.001;
        items[i].log = log;
        items[i].index = i;
        ids[i] = eddy_loop_call_at(loop, when[i], heap_run, &items[i], heap_free);
        assert_true(ids[i] != 0);
    }
    int expected_runs = HEAP_N;
    for (int k = 0; k < HEAP_N; k++) {
        seed = seed * 1103515245u + 12345u;
        int i = (int)((seed >> 8) % HEAP_N);
        if (cancelled[i] || (seed & 1)) continue;
        assert_int_equal(eddy_loop_cancel(loop, ids[i]), 0);
        cancelled[i] = 1;
        expected_runs--;
    }
    assert_int_equal(run_until_count(loop, &log->n, expected_runs, TEST_WAIT_SECONDS),
                     expected_runs);
    for (int i = 0; i < 3; i++) assert_int_equal(eddy_loop_run_once(loop, 0), 0);
    assert_int_equal(log->n, expected_runs);
    for (int k = 1; k < log->n; k++) {
        int a = log->order[k - 1], b = log->order[k];
        assert_false(cancelled[b]);
        assert_true(when[a] < when[b] || (when[a] == when[b] && a < b));
    }
    for (int i = 0; i < HEAP_N; i++) assert_int_equal(log->frees[i], 1);
    eddy_loop_free(loop);
    free(log);
    free(items);
    free(ids);
    free(when);
    free(cancelled);
}

/* ---- cancel ------------------------------------------------------------------------------- */

typedef struct {
    int runs;
    int frees;
} call_counts;

static void count_run(eddy_loop *loop, void *userdata) {
    (void)loop;
    ((call_counts *)userdata)->runs++;
}

static void count_counts_free(void *userdata) { ((call_counts *)userdata)->frees++; }

typedef struct {
    eddy_call_id victim;
    int cancel_rc;
    eddy_call_id self;
    int self_cancel_rc;
    int ran;
} cancel_ctx;

static void cancel_other(eddy_loop *loop, void *userdata) {
    cancel_ctx *ctx = userdata;
    ctx->cancel_rc = eddy_loop_cancel(loop, ctx->victim);
    ctx->ran++;
}

static void cancel_self(eddy_loop *loop, void *userdata) {
    cancel_ctx *ctx = userdata;
    ctx->self_cancel_rc = eddy_loop_cancel(loop, ctx->self);
    ctx->ran++;
}

static void test_cancel(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    call_counts soon = {0, 0}, timer = {0, 0}, ran = {0, 0}, victim = {0, 0};

    eddy_call_id soon_id = eddy_loop_call_soon(loop, count_run, &soon, count_counts_free);
    eddy_call_id timer_id = eddy_loop_call_later(loop, 0.01, count_run, &timer, count_counts_free);
    eddy_call_id ran_id = eddy_loop_call_soon(loop, count_run, &ran, count_counts_free);
    assert_true(soon_id && timer_id && ran_id);

    assert_int_equal(eddy_loop_cancel(loop, soon_id), 0);
    assert_int_equal(soon.frees, 1); /* released at once */
    assert_int_equal(eddy_loop_cancel(loop, timer_id), 0);
    assert_int_equal(timer.frees, 1);
    /* Cancelling twice: ENOENT, and no second free. */
    assert_int_equal(eddy_loop_cancel(loop, soon_id), EDDY_ENOENT);
    assert_int_equal(eddy_loop_cancel(loop, timer_id), EDDY_ENOENT);
    assert_int_equal(eddy_loop_cancel(loop, 0), EDDY_ENOENT);
    assert_int_equal(eddy_loop_cancel(NULL, 1), EDDY_EINVAL);

    /* A canceller that runs first in the same batch cancels a later queued call. */
    cancel_ctx cctx;
    memset(&cctx, 0, sizeof cctx);
    assert_true(eddy_loop_call_soon(loop, cancel_other, &cctx, NULL) != 0);
    cctx.victim = eddy_loop_call_soon(loop, count_run, &victim, count_counts_free);
    /* A callback cancelling itself while it runs: ENOENT. */
    cctx.self = eddy_loop_call_soon(loop, cancel_self, &cctx, NULL);

    /* Wait past the cancelled timer's deadline. */
    double until = eddy_loop_time(loop) + 0.05;
    while (eddy_loop_time(loop) < until) assert_int_equal(eddy_loop_run_once(loop, 10), 0);

    assert_int_equal(soon.runs, 0);
    assert_int_equal(soon.frees, 1);
    assert_int_equal(timer.runs, 0);
    assert_int_equal(timer.frees, 1);
    assert_int_equal(ran.runs, 1);
    assert_int_equal(ran.frees, 1);
    assert_int_equal(cctx.ran, 2);
    assert_int_equal(cctx.cancel_rc, 0);
    assert_int_equal(victim.runs, 0);
    assert_int_equal(victim.frees, 1);
    assert_int_equal(cctx.self_cancel_rc, EDDY_ENOENT);
    /* Cancel of a call that already ran: ENOENT, no extra free. */
    assert_int_equal(eddy_loop_cancel(loop, ran_id), EDDY_ENOENT);
    assert_int_equal(ran.frees, 1);
    eddy_loop_free(loop);
    assert_int_equal(victim.frees, 1);
}

/* A timer cancelled by an earlier timer of the same pass never runs. */
typedef struct {
    eddy_call_id victim;
    int rc;
} timer_cancel_ctx;

static void timer_cancel_cb(eddy_loop *loop, void *userdata) {
    timer_cancel_ctx *ctx = userdata;
    ctx->rc = eddy_loop_cancel(loop, ctx->victim);
}

static void test_cancel_timer_from_timer(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    call_counts victim = {0, 0}, after = {0, 0};
    timer_cancel_ctx ctx = {0, 1};
    double when = eddy_loop_time(loop) + 0.01;
    assert_true(eddy_loop_call_at(loop, when, timer_cancel_cb, &ctx, NULL) != 0);
    ctx.victim = eddy_loop_call_at(loop, when, count_run, &victim, count_counts_free);
    assert_true(eddy_loop_call_at(loop, when + 0.01, count_run, &after, count_counts_free) != 0);
    assert_int_equal(run_until_count(loop, &after.runs, 1, TEST_WAIT_SECONDS), 1);
    assert_int_equal(ctx.rc, 0);
    assert_int_equal(victim.runs, 0);
    assert_int_equal(victim.frees, 1);
    assert_int_equal(after.frees, 1);
    eddy_loop_free(loop);
}

/* ---- eddy_loop_free releases everything that never ran ------------------------------------ */

static void never_run(eddy_loop *loop, void *userdata) {
    (void)loop;
    (void)userdata;
    fail_msg("callback must not run");
}

static void never_watch(eddy_watch *w, int fd, int events, void *userdata) {
    (void)w;
    (void)fd;
    (void)events;
    (void)userdata;
    fail_msg("watch must not run");
}

static void never_signal(eddy_signal *s, int signum, void *userdata) {
    (void)s;
    (void)signum;
    (void)userdata;
    fail_msg("signal must not run");
}

static void never_periodic(eddy_periodic *p, void *userdata) {
    (void)p;
    (void)userdata;
    fail_msg("periodic must not run");
}

static void queue_from_callback(eddy_loop *loop, void *userdata) {
    /* Queued while the queue runs, then the loop is freed before the next iteration. */
    assert_true(eddy_loop_call_soon(loop, never_run, userdata, count_free) != 0);
}

static void test_free_releases_userdata(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    int soon_frees = 0, later_frees = 0, at_frees = 0, ts_frees = 0, watch_frees = 0,
        sig_frees = 0, per_frees = 0, nested_frees = 0, cancelled_frees = 0;
    for (int i = 0; i < 10; i++) {
        assert_true(eddy_loop_call_soon(loop, never_run, &soon_frees, count_free) != 0);
        assert_true(eddy_loop_call_later(loop, 100 + i, never_run, &later_frees, count_free) != 0);
        assert_true(eddy_loop_call_at(loop, eddy_loop_time(loop) + 50, never_run, &at_frees,
                                      count_free) != 0);
        assert_int_equal(
            eddy_loop_call_soon_threadsafe(loop, never_run, &ts_frees, count_free), 0);
    }
    /* A cancelled call still in the ready queue is not released twice. */
    eddy_call_id cid = eddy_loop_call_soon(loop, never_run, &cancelled_frees, count_free);
    assert_int_equal(eddy_loop_cancel(loop, cid), 0);
    assert_int_equal(cancelled_frees, 1);

    int fds[2];
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    assert_non_null(eddy_watch_new(loop, fds[0], EDDY_READABLE, never_watch, &watch_frees,
                                   count_free));
    assert_non_null(eddy_signal_new(loop, SIGUSR2, never_signal, &sig_frees, count_free));
    eddy_periodic *p = eddy_periodic_new(loop, 100, never_periodic, &per_frees, count_free);
    assert_non_null(p);
    assert_int_equal(eddy_periodic_start(p), 0);
    eddy_periodic *p2 = eddy_periodic_new(loop, 100, never_periodic, &per_frees, count_free);
    assert_non_null(p2); /* never started */

    eddy_loop_free(loop);
    assert_int_equal(soon_frees, 10);
    assert_int_equal(later_frees, 10);
    assert_int_equal(at_frees, 10);
    assert_int_equal(ts_frees, 10);
    assert_int_equal(cancelled_frees, 1);
    assert_int_equal(watch_frees, 1);
    assert_int_equal(sig_frees, 1);
    assert_int_equal(per_frees, 2);

    /* Same after some iterations ran, with a call queued from inside a callback. */
    loop = eddy_loop_new();
    assert_true(eddy_loop_call_soon(loop, queue_from_callback, &nested_frees, NULL) != 0);
    assert_int_equal(eddy_loop_run_once(loop, 0), 0);
    assert_int_equal(nested_frees, 0);
    eddy_loop_free(loop);
    assert_int_equal(nested_frees, 1);
    close(fds[0]);
    close(fds[1]);
    eddy_loop_free(NULL); /* harmless */
}

/* ---- run / stop --------------------------------------------------------------------------- */

typedef struct {
    eddy_loop *loop;
    atomic_int running;
} stopper_ctx;

static void mark_running(eddy_loop *loop, void *userdata) {
    (void)loop;
    atomic_store(&((stopper_ctx *)userdata)->running, 1);
}

static void *stopper_thread(void *arg) {
    stopper_ctx *ctx = arg;
    double deadline = mono_now() + TEST_WAIT_SECONDS;
    while (!atomic_load(&ctx->running) && mono_now() < deadline) sleep_ms(1);
    sleep_ms(20); /* let the loop block in its poll */
    eddy_loop_stop(ctx->loop);
    return NULL;
}

static void reentrant_cb(eddy_loop *loop, void *userdata) {
    int *rcs = userdata;
    rcs[0] = eddy_loop_run(loop);
    rcs[1] = eddy_loop_run_once(loop, 0);
}

static void stop_now(eddy_loop *loop, void *userdata) {
    (void)userdata;
    eddy_loop_stop(loop);
}

static void test_stop_from_thread(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    stopper_ctx ctx;
    ctx.loop = loop;
    atomic_init(&ctx.running, 0);
    test_guard guard;
    eddy_call_id gid = arm_guard(loop, &guard, 30);
    int rcs[2] = {1, 1};
    assert_true(eddy_loop_call_soon(loop, mark_running, &ctx, NULL) != 0);
    assert_true(eddy_loop_call_soon(loop, reentrant_cb, rcs, NULL) != 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stopper_thread, &ctx), 0);
    assert_int_equal(eddy_loop_run(loop), 0);
    pthread_join(th, NULL);
    assert_false(guard.fired);
    assert_int_equal(rcs[0], EDDY_ESTATE);
    assert_int_equal(rcs[1], EDDY_ESTATE);

    /* A stop requested while not running makes the next run return after one iteration. */
    eddy_loop_stop(loop);
    assert_int_equal(eddy_loop_run(loop), 0);
    assert_false(guard.fired);

    /* Stop from inside a callback. */
    assert_true(eddy_loop_call_later(loop, 0.01, stop_now, NULL, NULL) != 0);
    assert_int_equal(eddy_loop_run(loop), 0);
    assert_false(guard.fired);
    assert_int_equal(eddy_loop_cancel(loop, gid), 0);
    assert_int_equal(eddy_loop_run(NULL), EDDY_EINVAL);
    eddy_loop_free(loop);
}

/* ---- call_soon_threadsafe: 8 threads x 10000 posts ---------------------------------------- */

#define TS_THREADS 8
#define TS_POSTS 10000

typedef struct {
    eddy_loop *loop;
    int next_seq[TS_THREADS];
    unsigned char ran[TS_THREADS][TS_POSTS];
    int total;
    int order_errors;
    int frees;
    int post_errors;
} ts_ctx;

typedef struct {
    ts_ctx *ctx;
    int tid;
} ts_thread_arg;

static ts_ctx *g_ts;

static void ts_cb(eddy_loop *loop, void *userdata) {
    uintptr_t v = (uintptr_t)userdata;
    int tid = (int)(v >> 20) - 1;
    int seq = (int)(v & 0xFFFFF);
    ts_ctx *ctx = g_ts;
    if (seq != ctx->next_seq[tid]) ctx->order_errors++;
    ctx->next_seq[tid] = seq + 1;
    ctx->ran[tid][seq]++;
    if (++ctx->total == TS_THREADS * TS_POSTS) eddy_loop_stop(loop);
}

static void ts_free(void *userdata) {
    (void)userdata;
    g_ts->frees++; /* runs on the loop thread */
}

static void *ts_thread(void *arg) {
    ts_thread_arg *a = arg;
    for (int i = 0; i < TS_POSTS; i++) {
        uintptr_t v = ((uintptr_t)(a->tid + 1) << 20) | (uintptr_t)i;
        if (eddy_loop_call_soon_threadsafe(a->ctx->loop, ts_cb, (void *)v, ts_free) != 0)
            __atomic_add_fetch(&a->ctx->post_errors, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void test_call_soon_threadsafe(void **state) {
    (void)state;
    ts_ctx *ctx = calloc(1, sizeof *ctx);
    assert_non_null(ctx);
    g_ts = ctx;
    ctx->loop = eddy_loop_new();
    test_guard guard;
    arm_guard(ctx->loop, &guard, 50);
    pthread_t th[TS_THREADS];
    ts_thread_arg args[TS_THREADS];
    for (int i = 0; i < TS_THREADS; i++) {
        args[i].ctx = ctx;
        args[i].tid = i;
        assert_int_equal(pthread_create(&th[i], NULL, ts_thread, &args[i]), 0);
    }
    assert_int_equal(eddy_loop_run(ctx->loop), 0);
    for (int i = 0; i < TS_THREADS; i++) pthread_join(th[i], NULL);
    assert_false(guard.fired);
    assert_int_equal(ctx->post_errors, 0);
    assert_int_equal(ctx->total, TS_THREADS * TS_POSTS);
    assert_int_equal(ctx->frees, TS_THREADS * TS_POSTS);
    assert_int_equal(ctx->order_errors, 0);
    for (int t = 0; t < TS_THREADS; t++)
        for (int i = 0; i < TS_POSTS; i++) assert_int_equal(ctx->ran[t][i], 1);
    assert_int_equal(eddy_loop_call_soon_threadsafe(NULL, ts_cb, NULL, NULL), EDDY_EINVAL);
    assert_int_equal(eddy_loop_call_soon_threadsafe(ctx->loop, NULL, NULL, NULL), EDDY_EINVAL);
    eddy_loop_free(ctx->loop);
    free(ctx);
    g_ts = NULL;
}

/* ---- periodic ----------------------------------------------------------------------------- */

typedef struct {
    eddy_loop *loop;
    int count;
    int frees;
    int running_after_stop;
    int done;
} periodic_ctx;

static void periodic_restart(eddy_loop *loop, void *userdata) {
    (void)loop;
    eddy_periodic *p = userdata;
    assert_int_equal(eddy_periodic_is_running(p), 0);
    assert_int_equal(eddy_periodic_start(p), 0);
    assert_int_equal(eddy_periodic_is_running(p), 1);
}

static void periodic_cb(eddy_periodic *p, void *userdata) {
    periodic_ctx *ctx = userdata;
    ctx->count++;
    if (ctx->count == 3) {
        assert_int_equal(eddy_periodic_stop(p), 0); /* stop inside its own callback */
        ctx->running_after_stop = eddy_periodic_is_running(p);
        assert_true(eddy_loop_call_later(ctx->loop, 0.02, periodic_restart, p, NULL) != 0);
    } else if (ctx->count == 5) {
        /* stop + start again inside the callback keeps it going */
        assert_int_equal(eddy_periodic_stop(p), 0);
        assert_int_equal(eddy_periodic_start(p), 0);
    } else if (ctx->count == 7) {
        eddy_periodic_free(p); /* free inside its own callback */
        assert_int_equal(ctx->frees, 0); /* released after the callback returns */
        ctx->done = 1;
    }
}

static void periodic_free_cb(void *userdata) { ((periodic_ctx *)userdata)->frees++; }

static void test_periodic(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    periodic_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.loop = loop;
    assert_null(eddy_periodic_new(loop, 0, periodic_cb, &ctx, NULL));
    assert_null(eddy_periodic_new(loop, -1, periodic_cb, &ctx, NULL));
    assert_null(eddy_periodic_new(loop, 0.0 / 0.0, periodic_cb, &ctx, NULL));
    assert_null(eddy_periodic_new(loop, 1, NULL, &ctx, NULL));
    eddy_periodic *p = eddy_periodic_new(loop, 0.005, periodic_cb, &ctx, periodic_free_cb);
    assert_non_null(p);
    assert_int_equal(eddy_periodic_is_running(p), 0);
    assert_int_equal(eddy_periodic_start(p), 0);
    assert_int_equal(eddy_periodic_start(p), 0); /* already running: harmless */
    assert_int_equal(eddy_periodic_is_running(p), 1);
    assert_int_equal(run_until_flag(loop, &ctx.done, TEST_WAIT_SECONDS), 1);
    assert_int_equal(ctx.count, 7);
    assert_int_equal(ctx.running_after_stop, 0);
    assert_int_equal(ctx.frees, 1);
    /* No further ticks after the free. */
    double until = eddy_loop_time(loop) + 0.03;
    while (eddy_loop_time(loop) < until) assert_int_equal(eddy_loop_run_once(loop, 10), 0);
    assert_int_equal(ctx.count, 7);
    assert_int_equal(ctx.frees, 1);

    /* Free outside the callback, while started. */
    int frees = 0;
    p = eddy_periodic_new(loop, 0.001, never_periodic, &frees, count_free);
    assert_int_equal(eddy_periodic_start(p), 0);
    eddy_periodic_free(p);
    assert_int_equal(frees, 1);
    until = eddy_loop_time(loop) + 0.01;
    while (eddy_loop_time(loop) < until) assert_int_equal(eddy_loop_run_once(loop, 5), 0);
    assert_int_equal(eddy_periodic_start(NULL), EDDY_EINVAL);
    assert_int_equal(eddy_periodic_stop(NULL), EDDY_EINVAL);
    eddy_periodic_free(NULL);
    eddy_loop_free(loop);
}

/* ---- signals ------------------------------------------------------------------------------ */

typedef struct {
    int calls;
    int signum;
    int frees;
} signal_ctx;

static void signal_cb(eddy_signal *sig, int signum, void *userdata) {
    signal_ctx *ctx = userdata;
    ctx->calls++;
    ctx->signum = signum;
    eddy_signal_free(sig); /* free inside its own callback */
}

static void signal_free_cb(void *userdata) { ((signal_ctx *)userdata)->frees++; }

static void raise_usr1(eddy_loop *loop, void *userdata) {
    (void)loop;
    (void)userdata;
    raise(SIGUSR1);
}

static void test_signal(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    signal_ctx ctx = {0, 0, 0};
    assert_null(eddy_signal_new(loop, 0, signal_cb, &ctx, NULL));
    assert_null(eddy_signal_new(loop, SIGUSR1, NULL, &ctx, NULL));
    eddy_signal *sig = eddy_signal_new(loop, SIGUSR1, signal_cb, &ctx, signal_free_cb);
    assert_non_null(sig);
    assert_true(eddy_loop_call_soon(loop, raise_usr1, NULL, NULL) != 0);
    assert_int_equal(run_until_count(loop, &ctx.calls, 1, TEST_WAIT_SECONDS), 1);
    assert_int_equal(ctx.signum, SIGUSR1);
    assert_int_equal(ctx.frees, 1);
    eddy_signal_free(NULL);

    /* A second handler after the first was freed works too (and is freed with the loop). */
    signal_ctx ctx2 = {0, 0, 0};
    sig = eddy_signal_new(loop, SIGUSR1, signal_cb, &ctx2, signal_free_cb);
    assert_non_null(sig);
    raise(SIGUSR1);
    assert_int_equal(run_until_count(loop, &ctx2.calls, 1, TEST_WAIT_SECONDS), 1);
    assert_int_equal(ctx2.frees, 1);
    eddy_loop_free(loop);
}


/* Signals go to one loop per process: a second loop cannot register handlers while the first
 * has some, and can once they are gone. (Regression: the second loop's handler was accepted and
 * the first loop's signals were silently lost.) */
static void test_signal_two_loops(void **state) {
    (void)state;
    eddy_loop *a = eddy_loop_new();
    eddy_loop *b = eddy_loop_new();
    signal_ctx ca = {0, 0, 0}, cb = {0, 0, 0};
    eddy_signal *sa = eddy_signal_new(a, SIGUSR1, signal_cb, &ca, signal_free_cb);
    assert_non_null(sa);
    int frees = 0;
    assert_null(eddy_signal_new(b, SIGUSR2, never_signal, &frees, count_free));
    assert_int_equal(frees, 0); /* caller keeps userdata on failure */
    /* The first loop still gets its signal. */
    raise(SIGUSR1);
    assert_int_equal(run_until_count(a, &ca.calls, 1, TEST_WAIT_SECONDS), 1); /* frees sa */
    assert_int_equal(ca.frees, 1);
    /* Now the other loop may handle signals. */
    eddy_signal *sb = eddy_signal_new(b, SIGUSR2, signal_cb, &cb, signal_free_cb);
    assert_non_null(sb);
    raise(SIGUSR2);
    assert_int_equal(run_until_count(b, &cb.calls, 1, TEST_WAIT_SECONDS), 1);
    assert_int_equal(cb.signum, SIGUSR2);
    /* Freeing a loop that holds handlers also releases the claim. */
    sb = eddy_signal_new(b, SIGUSR2, never_signal, &frees, count_free);
    assert_non_null(sb);
    eddy_loop_free(b);
    assert_int_equal(frees, 1);
    sa = eddy_signal_new(a, SIGUSR1, never_signal, &frees, count_free);
    assert_non_null(sa);
    eddy_signal_free(sa);
    assert_int_equal(frees, 2);
    eddy_loop_free(a);
}

/* ---- fd watches --------------------------------------------------------------------------- */

typedef struct {
    int rfd, wfd;
    eddy_watch *rw, *ww;
    int read_calls;
    int write_calls;
    int frees;
    char got[16];
    size_t got_len;
    int done;
} watch_ctx;

static void write_watch_cb(eddy_watch *w, int fd, int events, void *userdata) {
    watch_ctx *ctx = userdata;
    assert_int_equal(fd, ctx->wfd);
    assert_int_equal(events, EDDY_WRITABLE);
    ctx->write_calls++;
    write_all(fd, "hi", 2);
    /* Idle the watch from inside its callback. */
    assert_int_equal(eddy_watch_set_events(w, 0), 0);
    assert_int_equal(eddy_watch_events(w), 0);
}

static void read_watch_cb(eddy_watch *w, int fd, int events, void *userdata) {
    watch_ctx *ctx = userdata;
    assert_int_equal(fd, ctx->rfd);
    assert_int_equal(events, EDDY_READABLE);
    ctx->read_calls++;
    if (ctx->read_calls == 1) return; /* level-triggered: called again since nothing was read */
    ssize_t n = read(fd, ctx->got, sizeof ctx->got);
    assert_true(n > 0);
    ctx->got_len = (size_t)n;
    eddy_watch_free(w); /* free inside its own callback */
    ctx->rw = NULL;
    ctx->done = 1;
}

static void watch_free_cb(void *userdata) { ((watch_ctx *)userdata)->frees++; }

static void test_watch_pipe(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    int fds[2];
    assert_int_equal(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    watch_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.rfd = fds[0];
    ctx.wfd = fds[1];
    assert_null(eddy_watch_new(loop, -1, EDDY_READABLE, read_watch_cb, &ctx, NULL));
    assert_null(eddy_watch_new(loop, fds[0], 0x10, read_watch_cb, &ctx, NULL));
    assert_null(eddy_watch_new(loop, fds[0], EDDY_READABLE, NULL, &ctx, NULL));
    assert_null(eddy_watch_new(NULL, fds[0], EDDY_READABLE, read_watch_cb, &ctx, NULL));
    ctx.rw = eddy_watch_new(loop, fds[0], EDDY_READABLE, read_watch_cb, &ctx, watch_free_cb);
    /* The write side starts idle (events 0) and is switched on with set_events. */
    ctx.ww = eddy_watch_new(loop, fds[1], 0, write_watch_cb, &ctx, watch_free_cb);
    assert_non_null(ctx.rw);
    assert_non_null(ctx.ww);
    assert_int_equal(eddy_watch_events(ctx.rw), EDDY_READABLE);
    assert_int_equal(eddy_watch_events(ctx.ww), 0);
    assert_int_equal(eddy_watch_set_events(ctx.ww, 0x8), EDDY_EINVAL);
    assert_int_equal(eddy_watch_set_events(NULL, EDDY_READABLE), EDDY_EINVAL);
    assert_int_equal(eddy_watch_set_events(ctx.ww, EDDY_WRITABLE), 0);
    assert_int_equal(eddy_watch_events(ctx.ww), EDDY_WRITABLE);

    assert_int_equal(run_until_flag(loop, &ctx.done, TEST_WAIT_SECONDS), 1);
    assert_int_equal(ctx.write_calls, 1);
    assert_int_equal(ctx.read_calls, 2);
    assert_int_equal(ctx.got_len, 2);
    assert_memory_equal(ctx.got, "hi", 2);
    assert_int_equal(ctx.frees, 1); /* the read watch */

    /* The idle write watch is not called again. */
    for (int i = 0; i < 5; i++) assert_int_equal(eddy_loop_run_once(loop, 0), 0);
    assert_int_equal(ctx.write_calls, 1);
    eddy_watch_free(ctx.ww);
    assert_int_equal(ctx.frees, 2);
    eddy_watch_free(NULL);
    close(fds[0]);
    close(fds[1]);
    eddy_loop_free(loop);
}

/* One watch for both directions on a socketpair: both bits reported together. */
typedef struct {
    int calls;
    int events_seen;
} both_ctx;

static void both_cb(eddy_watch *w, int fd, int events, void *userdata) {
    (void)fd;
    both_ctx *ctx = userdata;
    ctx->calls++;
    ctx->events_seen |= events;
    eddy_watch_free(w);
}

static void test_watch_both_directions(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    write_all(sv[1], "x", 1);
    both_ctx ctx = {0, 0};
    assert_non_null(
        eddy_watch_new(loop, sv[0], EDDY_READABLE | EDDY_WRITABLE, both_cb, &ctx, NULL));
    assert_int_equal(run_until_count(loop, &ctx.calls, 1, TEST_WAIT_SECONDS), 1);
    assert_int_equal(ctx.events_seen, EDDY_READABLE | EDDY_WRITABLE);
    for (int i = 0; i < 3; i++) assert_int_equal(eddy_loop_run_once(loop, 0), 0);
    assert_int_equal(ctx.calls, 1);
    close(sv[0]);
    close(sv[1]);
    eddy_loop_free(loop);
}


/* Two watches ready in the same pass: whichever runs first frees the other, which then must not
 * run (its userdata is released once). */
typedef struct {
    eddy_watch *w[2];
    int calls;
    int frees;
} pair_ctx;

static void pair_free(void *userdata) { ((pair_ctx *)userdata)->frees++; }

static void pair_cb(eddy_watch *w, int fd, int events, void *userdata) {
    (void)fd;
    (void)events;
    pair_ctx *ctx = userdata;
    ctx->calls++;
    int self = ctx->w[0] == w ? 0 : 1;
    if (ctx->w[1 - self]) {
        eddy_watch_free(ctx->w[1 - self]);
        ctx->w[1 - self] = NULL;
    }
    eddy_watch_free(w);
    ctx->w[self] = NULL;
}

static void test_watch_free_other_in_same_pass(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    int a[2], b[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b), 0);
    write_all(a[1], "x", 1);
    write_all(b[1], "y", 1);
    pair_ctx ctx = {{NULL, NULL}, 0, 0};
    ctx.w[0] = eddy_watch_new(loop, a[0], EDDY_READABLE, pair_cb, &ctx, pair_free);
    ctx.w[1] = eddy_watch_new(loop, b[0], EDDY_READABLE, pair_cb, &ctx, pair_free);
    assert_int_equal(run_until_count(loop, &ctx.calls, 1, TEST_WAIT_SECONDS), 1);
    for (int i = 0; i < 3; i++) assert_int_equal(eddy_loop_run_once(loop, 0), 0);
    assert_int_equal(ctx.calls, 1);
    assert_int_equal(ctx.frees, 2);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
    eddy_loop_free(loop);
}

/* ---- run_once ----------------------------------------------------------------------------- */

static void test_run_once(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    /* Nothing scheduled: both forms return 0. */
    assert_int_equal(eddy_loop_run_once(loop, 0), 0);
    assert_int_equal(eddy_loop_run_once(loop, 20), 0);
    assert_int_equal(eddy_loop_run_once(NULL, 0), EDDY_EINVAL);

    /* A timer due within the wait runs in that one call. */
    call_counts c = {0, 0};
    assert_true(eddy_loop_call_later(loop, 0.02, count_run, &c, count_counts_free) != 0);
    double deadline = mono_now() + TEST_WAIT_SECONDS;
    while (c.runs == 0 && mono_now() < deadline) assert_int_equal(eddy_loop_run_once(loop, 5000), 0);
    assert_int_equal(c.runs, 1);
    assert_int_equal(c.frees, 1);

    /* run_once(0) runs what is due right now. */
    call_counts d = {0, 0};
    assert_true(eddy_loop_call_soon(loop, count_run, &d, NULL) != 0);
    assert_int_equal(eddy_loop_run_once(loop, 0), 0);
    assert_int_equal(d.runs, 1);

    /* run_once(-1) blocks until something is ready: a timer. */
    call_counts e = {0, 0};
    assert_true(eddy_loop_call_later(loop, 0.01, count_run, &e, NULL) != 0);
    deadline = mono_now() + TEST_WAIT_SECONDS;
    while (e.runs == 0 && mono_now() < deadline) assert_int_equal(eddy_loop_run_once(loop, -1), 0);
    assert_int_equal(e.runs, 1);
    eddy_loop_free(loop);
}

/* Timers run at or after their deadline on the loop's clock, never before it, whether the
 * earliest deadline arrives before or after later ones (the timer fd is re-armed only when an
 * earlier deadline comes in); a bounded run_once waits its whole bound when nothing is due,
 * and a bound shorter than the next timer does not run it early. */
typedef struct {
    double due;
    double ran_at;
    int runs;
} due_timer;

static void due_timer_run(eddy_loop *loop, void *userdata) {
    due_timer *t = userdata;
    t->ran_at = eddy_loop_time(loop);
    t->runs++;
}

static void test_timers_never_early(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    enum { N = 24 };
    due_timer timers[N];
    double start = eddy_loop_time(loop);
    for (int i = 0; i < N; i++) {
        /* Later and earlier deadlines interleaved, 0 to ~70 ms ahead, some equal. */
        double delay = 0.003 * (double)((i * 7) % N);
        timers[i] = (due_timer){start + delay, 0, 0};
        assert_true(eddy_loop_call_at(loop, timers[i].due, due_timer_run, &timers[i], NULL) != 0);
    }
    int done = 0;
    while (done < N && eddy_loop_time(loop) < start + TEST_WAIT_SECONDS) {
        assert_int_equal(eddy_loop_run_once(loop, -1), 0);
        done = 0;
        for (int i = 0; i < N; i++) done += timers[i].runs;
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(timers[i].runs, 1);
        assert_true(timers[i].ran_at >= timers[i].due);
    }

    /* Nothing scheduled: run_once(30) returns once its 30 ms are over, not before. */
    double before = eddy_loop_time(loop);
    assert_int_equal(eddy_loop_run_once(loop, 30), 0);
    assert_true(eddy_loop_time(loop) >= before + 0.030 - 1e-6);

    /* A timer 80 ms ahead and a 10 ms bound: the call ends on the bound without running it;
     * later calls run it on time. */
    due_timer late = {eddy_loop_time(loop) + 0.08, 0, 0};
    assert_true(eddy_loop_call_at(loop, late.due, due_timer_run, &late, NULL) != 0);
    before = eddy_loop_time(loop);
    assert_int_equal(eddy_loop_run_once(loop, 10), 0);
    assert_true(eddy_loop_time(loop) >= before + 0.010 - 1e-6);
    if (late.runs) assert_true(late.ran_at >= late.due); /* only if the host stalled 70 ms */
    while (late.runs == 0 && eddy_loop_time(loop) < before + TEST_WAIT_SECONDS)
        assert_int_equal(eddy_loop_run_once(loop, 1000), 0);
    assert_int_equal(late.runs, 1);
    assert_true(late.ran_at >= late.due);
    eddy_loop_free(loop);
}

/* ---- embedding: a poll() driver that never calls eddy_loop_run ---------------------------- */

typedef struct {
    trace t;
    int sv[2];
    eddy_watch *watch;
    int io_done;
    int ts_done;
    eddy_loop *loop;
} embed_ctx;

static void embed_soon2(eddy_loop *loop, void *userdata) {
    (void)loop;
    trace_add(&((embed_ctx *)userdata)->t, 'S');
}

static void embed_timer(eddy_loop *loop, void *userdata) {
    embed_ctx *ctx = userdata;
    trace_add(&ctx->t, 'T');
    /* I/O for the watch, and a callback queued from a timer. */
    write_all(ctx->sv[1], "ping", 4);
    assert_true(eddy_loop_call_soon(loop, embed_soon2, ctx, NULL) != 0);
}

static void embed_soon(eddy_loop *loop, void *userdata) {
    embed_ctx *ctx = userdata;
    trace_add(&ctx->t, 'A');
    assert_true(eddy_loop_call_later(loop, 0.03, embed_timer, ctx, NULL) != 0);
}

static void embed_watch(eddy_watch *w, int fd, int events, void *userdata) {
    embed_ctx *ctx = userdata;
    assert_true(events & EDDY_READABLE);
    char buf[8];
    ssize_t n = read(fd, buf, sizeof buf);
    assert_int_equal(n, 4);
    trace_add(&ctx->t, 'W');
    eddy_watch_free(w);
    ctx->watch = NULL;
    ctx->io_done = 1;
}

static void embed_foreign(eddy_loop *loop, void *userdata) {
    (void)loop;
    embed_ctx *ctx = userdata;
    trace_add(&ctx->t, 'F');
    ctx->ts_done = 1;
}

static void *embed_poster(void *arg) {
    embed_ctx *ctx = arg;
    sleep_ms(20);
    eddy_loop_call_soon_threadsafe(ctx->loop, embed_foreign, ctx, NULL);
    return NULL;
}

/* Drives the loop with poll(); returns when cond is set or after the deadline. */
static void drive_with_poll(eddy_loop *loop, volatile int *cond, int *max_timeout_seen) {
    int bfd = eddy_loop_backend_fd(loop);
    double deadline = mono_now() + TEST_WAIT_SECONDS;
    while (!*cond && mono_now() < deadline) {
        int to = eddy_loop_next_timeout(loop);
        if (max_timeout_seen && to > *max_timeout_seen) *max_timeout_seen = to;
        /* Cap the wait only so that a broken backend fd fails the test instead of hanging. */
        if (to < 0 || to > 1000) to = 1000;
        struct pollfd pfd = {bfd, POLLIN, 0};
        int rc = poll(&pfd, 1, to);
        assert_true(rc >= 0);
        assert_int_equal(eddy_loop_run_once(loop, 0), 0);
    }
}

static void test_embedding_poll_driver(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    assert_true(eddy_loop_backend_fd(loop) >= 0);
    /* Nothing scheduled: -1. */
    assert_int_equal(eddy_loop_next_timeout(loop), -1);

    embed_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.loop = loop;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctx.sv), 0);
    ctx.watch = eddy_watch_new(loop, ctx.sv[0], EDDY_READABLE, embed_watch, &ctx, NULL);
    assert_non_null(ctx.watch);
    assert_int_equal(eddy_loop_next_timeout(loop), -1); /* a watch alone is not "work" */

    /* A far timer: the timeout is positive and bounded by it. */
    call_counts far = {0, 0};
    eddy_call_id far_id = eddy_loop_call_later(loop, 10, count_run, &far, NULL);
    int to = eddy_loop_next_timeout(loop);
    assert_true(to > 0 && to <= 10000);

    /* A ready callback: 0. */
    assert_true(eddy_loop_call_soon(loop, embed_soon, &ctx, NULL) != 0);
    assert_int_equal(eddy_loop_next_timeout(loop), 0);

    int max_to = -1;
    drive_with_poll(loop, &ctx.io_done, &max_to);
    assert_int_equal(ctx.io_done, 1);
    /* Drive a little more so the callback queued by the timer runs. */
    double until = mono_now() + TEST_WAIT_SECONDS;
    while (ctx.t.n < 4 && mono_now() < until) {
        int t2 = eddy_loop_next_timeout(loop);
        struct pollfd pfd = {eddy_loop_backend_fd(loop), POLLIN, 0};
        poll(&pfd, 1, (t2 < 0 || t2 > 1000) ? 1000 : t2);
        assert_int_equal(eddy_loop_run_once(loop, 0), 0);
    }
    /* A, then the timer T (which writes and queues S); W and S follow in either order. */
    assert_int_equal(ctx.t.n, 4);
    assert_int_equal(ctx.t.seq[0], 'A');
    assert_int_equal(ctx.t.seq[1], 'T');
    assert_true(strchr(ctx.t.seq, 'W') && strchr(ctx.t.seq, 'S'));

    /* A cross-thread post wakes the backend fd. */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, embed_poster, &ctx), 0);
    drive_with_poll(loop, &ctx.ts_done, NULL);
    pthread_join(th, NULL);
    assert_int_equal(ctx.ts_done, 1);

    /* Only the far timer remains: positive timeout again, then -1 after cancelling it. */
    to = eddy_loop_next_timeout(loop);
    assert_true(to > 0 && to <= 10000);
    assert_int_equal(eddy_loop_cancel(loop, far_id), 0);
    assert_int_equal(eddy_loop_next_timeout(loop), -1);
    assert_int_equal(far.runs, 0);

    /* A due timer gives 0. */
    call_counts due = {0, 0};
    assert_true(eddy_loop_call_later(loop, 0, count_run, &due, NULL) != 0);
    assert_int_equal(eddy_loop_next_timeout(loop), 0);
    drive_with_poll(loop, &due.runs, NULL);
    assert_int_equal(due.runs, 1);
    assert_int_equal(eddy_loop_next_timeout(loop), -1);

    assert_int_equal(eddy_loop_backend_fd(NULL), -1);
    close(ctx.sv[0]);
    close(ctx.sv[1]);
    eddy_loop_free(loop);
}


/* ---- far deadlines ------------------------------------------------------------------------ */

typedef struct {
    eddy_loop *loop;
    int ran;
} far_ctx;

static void far_mark(eddy_loop *loop, void *userdata) {
    (void)loop;
    ((far_ctx *)userdata)->ran = 1;
}

static void *far_poster(void *arg) {
    far_ctx *ctx = arg;
    sleep_ms(50);
    eddy_loop_call_soon_threadsafe(ctx->loop, far_mark, ctx, NULL);
    return NULL;
}

/* Timers due in a year, in 1e30 s or never (INFINITY) must not wake the loop: a blocking
 * run_once returns only for the cross-thread post. (Regression: the libevent timeout overflowed
 * time_t, fired at once and the loop spun.) */
static void test_far_timers_do_not_spin(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    int frees = 0;
    eddy_call_id ids[4];
    ids[0] = eddy_loop_call_later(loop, 1.0 / 0.0, never_run, &frees, count_free);
    ids[1] = eddy_loop_call_later(loop, 1e30, never_run, &frees, count_free);
    ids[2] = eddy_loop_call_at(loop, 1e300, never_run, &frees, count_free);
    for (int i = 0; i < 3; i++) assert_true(ids[i] != 0);
    assert_int_equal(eddy_loop_next_timeout(loop), 2147483647);
    far_ctx ctx = {loop, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, far_poster, &ctx), 0);
    int iterations = 0;
    double deadline = mono_now() + TEST_WAIT_SECONDS;
    while (!ctx.ran && mono_now() < deadline) {
        assert_int_equal(eddy_loop_run_once(loop, -1), 0);
        iterations++;
    }
    pthread_join(th, NULL);
    assert_int_equal(ctx.ran, 1);
    assert_true(iterations <= 3); /* one wake-up; not thousands of spurious timer firings */
    /* Same with a finite but distant timer (400 days) at the top of the heap. */
    ids[3] = eddy_loop_call_later(loop, 86400.0 * 400, never_run, &frees, count_free);
    assert_true(ids[3] != 0);
    int to = eddy_loop_next_timeout(loop);
    assert_true(to > 86400 * 1000 || to == 2147483647);
    ctx.ran = 0;
    assert_int_equal(pthread_create(&th, NULL, far_poster, &ctx), 0);
    iterations = 0;
    deadline = mono_now() + TEST_WAIT_SECONDS;
    while (!ctx.ran && mono_now() < deadline) {
        assert_int_equal(eddy_loop_run_once(loop, -1), 0);
        iterations++;
    }
    pthread_join(th, NULL);
    assert_int_equal(ctx.ran, 1);
    assert_true(iterations <= 3);
    assert_int_equal(frees, 0);
    assert_int_equal(eddy_loop_cancel(loop, ids[0]), 0);
    assert_int_equal(frees, 1);
    eddy_loop_free(loop);
    assert_int_equal(frees, 4);
}

/* ---- several loops, one per thread -------------------------------------------------------- */

typedef struct {
    int ok;
} thread_loop_result;

static void tl_timer(eddy_loop *loop, void *userdata) {
    int *n = userdata;
    if (++*n == 20) eddy_loop_stop(loop);
}

static void tl_watch(eddy_watch *w, int fd, int events, void *userdata) {
    (void)w;
    (void)events;
    char buf[16];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) *(int *)userdata += (int)n;
}

static void *thread_loop(void *arg) {
    thread_loop_result *res = arg;
    eddy_loop *loop = eddy_loop_new();
    if (!loop) return NULL;
    int timers = 0, bytes = 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return NULL;
    eddy_watch *w = eddy_watch_new(loop, sv[0], EDDY_READABLE, tl_watch, &bytes, NULL);
    for (int i = 0; i < 20; i++) {
        eddy_loop_call_later(loop, 0.001 * (i % 5), tl_timer, &timers, NULL);
        if (write(sv[1], "ab", 2) != 2) return NULL;
    }
    test_guard guard = {0};
    eddy_loop_call_later(loop, 30, test_guard_cb, &guard, NULL);
    int rc = eddy_loop_run(loop);
    /* let the watch catch up with every byte */
    double deadline = mono_now() + TEST_WAIT_SECONDS;
    while (bytes < 40 && mono_now() < deadline) eddy_loop_run_once(loop, 10);
    res->ok = rc == 0 && !guard.fired && timers == 20 && bytes == 40 &&
              eddy_loop_backend_fd(loop) >= 0;
    eddy_watch_free(w);
    eddy_loop_free(loop);
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

static void test_loops_in_threads(void **state) {
    (void)state;
    enum { N = 6 };
    pthread_t th[N];
    thread_loop_result res[N];
    memset(res, 0, sizeof res);
    for (int i = 0; i < N; i++) assert_int_equal(pthread_create(&th[i], NULL, thread_loop, &res[i]), 0);
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) assert_int_equal(res[i].ok, 1);
}

/* ---- embedding with a stream: deferred flushes count as ready work ------------------------ */

typedef struct {
    int lines;
    int closed;
} embed_stream_ctx;

static void embed_on_line(eddy_stream *s, const char *data, size_t len, void *userdata) {
    embed_stream_ctx *ctx = userdata;
    ctx->lines++;
    eddy_stream_write(s, data, len, NULL);
    if (ctx->lines < 3) eddy_stream_read_until(s, "\n", 1, 0, embed_on_line);
}

static void test_embedding_stream(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    set_rcv_timeout(sv[1], TEST_WAIT_SECONDS);
    eddy_stream *s = eddy_stream_new(loop, sv[0]);
    embed_stream_ctx ctx = {0, 0};
    eddy_stream_set_userdata(s, &ctx, NULL);
    /* A write queued outside any iteration is pending work: timeout 0. */
    assert_int_equal(eddy_stream_write(s, "hello\n", 6, NULL), 0);
    assert_int_equal(eddy_loop_next_timeout(loop), 0);
    assert_int_equal(eddy_stream_read_until(s, "\n", 1, 0, embed_on_line), 0);
    write_all(sv[1], "a\nb\nc\n", 6);
    drive_with_poll(loop, &ctx.lines, NULL);
    double deadline = mono_now() + TEST_WAIT_SECONDS;
    while (ctx.lines < 3 && mono_now() < deadline) {
        int to = eddy_loop_next_timeout(loop);
        struct pollfd pfd = {eddy_loop_backend_fd(loop), POLLIN, 0};
        poll(&pfd, 1, (to < 0 || to > 1000) ? 1000 : to);
        assert_int_equal(eddy_loop_run_once(loop, 0), 0);
    }
    assert_int_equal(ctx.lines, 3);
    /* flush the echoes the same way */
    while (eddy_loop_next_timeout(loop) == 0) assert_int_equal(eddy_loop_run_once(loop, 0), 0);
    char buf[16];
    assert_int_equal(read_full(sv[1], buf, 12), 12);
    assert_memory_equal(buf, "hello\na\nb\nc\n", 12);
    assert_int_equal(eddy_loop_next_timeout(loop), -1);
    eddy_stream_close(s);
    assert_int_equal(eddy_loop_next_timeout(loop), 0); /* the close callback is pending */
    while (eddy_loop_next_timeout(loop) == 0) assert_int_equal(eddy_loop_run_once(loop, 0), 0);
    close(sv[1]);
    eddy_loop_free(loop);
}

/* ---- eddy_loop_new without free fds ------------------------------------------------------- */

static void test_loop_new_without_fds(void **state) {
    (void)state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Use up every fd, then ask for a loop: NULL, no crash. */
        struct rlimit rl = {64, 64};
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) _exit(10);
        while (dup(0) >= 0 || errno != EMFILE) {
            if (errno == EBADF) _exit(11);
        }
        eddy_loop *loop = eddy_loop_new();
        _exit(loop == NULL ? 0 : 12);
    }
    int status = 0;
    double deadline = mono_now() + TEST_WAIT_SECONDS;
    pid_t r;
    while ((r = waitpid(pid, &status, WNOHANG)) == 0 && mono_now() < deadline) sleep_ms(5);
    if (r == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fail_msg("child hung");
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- eddy_loop_reinit: a forked child gets an epoll instance of its own ------------------- */

/* True when the epoll fd `epfd` has `fd` registered (its /proc fdinfo lists "tfd: fd"). */
static int epoll_lists(int epfd, int fd) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", epfd);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[256];
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        int tfd;
        if (sscanf(line, "tfd: %d", &tfd) == 1 && tfd == fd) found = 1;
    }
    fclose(f);
    return found;
}

static void count_call(eddy_loop *loop, void *userdata) {
    (void)loop;
    (*(int *)userdata)++;
}

static void count_watch(eddy_watch *w, int fd, int events, void *userdata) {
    (void)w;
    (void)fd;
    (void)events;
    (*(int *)userdata)++;
}

/* The child reinitialises the loop the parent made (and still holds), watches a pipe there and
 * runs timers and cross-thread posts. The watch must not show up in the parent's epoll instance
 * (without eddy_loop_reinit it does: the instance is shared), and the loop must work. */
static void test_reinit_after_fork(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    assert_non_null(loop);
    int timer_calls = 0;
    assert_true(eddy_loop_call_later(loop, 0.001, count_call, &timer_calls, NULL) != 0);
    int report[2], go[2];
    assert_int_equal(pipe(report), 0);
    assert_int_equal(pipe(go), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int watched[2];
        if (pipe(watched) != 0) _exit(10); /* before reinit: a number the parent has no fd for */
        if (eddy_loop_reinit(loop) != 0) _exit(11);
        int readable = 0;
        eddy_watch *w =
            eddy_watch_new(loop, watched[0], EDDY_READABLE, count_watch, &readable, NULL);
        if (!w) _exit(12);
        if (write(report[1], &watched[0], sizeof watched[0]) != sizeof watched[0]) _exit(13);
        char c;
        if (read(go[0], &c, 1) != 1) _exit(14); /* the parent has looked at its instance */
        /* The timer made before the fork fires on the new timerfd; a post wakes the new eventfd;
         * the watch reports on the new epoll fd. Each run_once is bounded. */
        int posted = 0;
        if (eddy_loop_call_soon_threadsafe(loop, count_call, &posted, NULL) != 0) _exit(15);
        if (write(watched[1], "x", 1) != 1) _exit(16);
        for (int i = 0; i < 100 && !(timer_calls && posted && readable); i++)
            if (eddy_loop_run_once(loop, 50) != 0) _exit(17);
        if (!timer_calls) _exit(18);
        if (!posted) _exit(19);
        if (!readable) _exit(20);
        if (eddy_loop_reinit(loop) != EDDY_ESTATE) _exit(21); /* it ran: refused */
        eddy_watch_free(w);
        eddy_loop_free(loop);
        _exit(0);
    }
    int child_fd = -1;
    ssize_t n = read(report[0], &child_fd, sizeof child_fd);
    int parent_epoll = eddy_loop_backend_fd(loop);
    int listed = n == sizeof child_fd ? epoll_lists(parent_epoll, child_fd) : -2;
    assert_true(write(go[1], "g", 1) == 1);
    int status = 0;
    double deadline = mono_now() + TEST_WAIT_SECONDS;
    pid_t r;
    while ((r = waitpid(pid, &status, WNOHANG)) == 0 && mono_now() < deadline) sleep_ms(5);
    if (r == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fail_msg("child hung");
    }
    close(report[0]);
    close(report[1]);
    close(go[0]);
    close(go[1]);
    assert_int_equal(n, (ssize_t)sizeof child_fd);
    assert_true(parent_epoll >= 0);
    assert_int_equal(listed, 0); /* the child's watch is not in the parent's instance */
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    /* The parent's loop is untouched: its own timer still fires here. */
    for (int i = 0; i < 100 && !timer_calls; i++) assert_int_equal(eddy_loop_run_once(loop, 50), 0);
    assert_int_equal(timer_calls, 1);
    assert_int_equal(eddy_loop_reinit(loop), EDDY_ESTATE); /* it ran */
    assert_int_equal(eddy_loop_reinit(NULL), EDDY_EINVAL);
    eddy_loop_free(loop);
    /* A loop with worker threads (never run): refused, the threads are not in a child. */
    loop = eddy_loop_new();
    assert_int_equal(eddy_loop_set_executor_threads(loop, 1), 0);
    assert_int_equal(eddy_loop_reinit(loop), EDDY_ESTATE);
    eddy_loop_free(loop);
}

/* ---- misc API ----------------------------------------------------------------------------- */

static void test_misc_api(void **state) {
    (void)state;
    assert_int_equal(eddy_version(), EDDY_VERSION_HEX);
    assert_string_equal(eddy_version_string(), "0.1.0");
    assert_string_equal(eddy_err_name(EDDY_ETOOBIG), "EDDY_ETOOBIG");
    assert_string_equal(eddy_err_name(12345), "EDDY_EUNKNOWN");
    assert_string_equal(eddy_strerror(12345), "unknown error");
    /* What a missing Unix socket reports (reverse_proxy's 502 body): it read "no such item". */
    assert_string_equal(eddy_strerror(EDDY_ENOENT), "no such file or entry");
    for (int code = 0; code >= EDDY_ERESOLVE; code--) {
        assert_non_null(eddy_strerror(code));
        assert_string_not_equal(eddy_err_name(code), "EDDY_EUNKNOWN");
    }
    /* Two loops can coexist (one per thread is the rule; creating both here is fine). */
    eddy_loop *a = eddy_loop_new();
    eddy_loop *b = eddy_loop_new();
    assert_non_null(a);
    assert_non_null(b);
    assert_true(eddy_loop_backend_fd(a) != eddy_loop_backend_fd(b));
    eddy_loop_free(b);
    eddy_loop_free(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_call_soon_fifo),
        cmocka_unit_test(test_call_soon_next_iteration),
        cmocka_unit_test(test_timer_ordering),
        cmocka_unit_test(test_timer_same_deadline_many),
        cmocka_unit_test(test_timer_heap_random),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_cancel_timer_from_timer),
        cmocka_unit_test(test_free_releases_userdata),
        cmocka_unit_test(test_stop_from_thread),
        cmocka_unit_test(test_call_soon_threadsafe),
        cmocka_unit_test(test_periodic),
        cmocka_unit_test(test_signal),
        cmocka_unit_test(test_signal_two_loops),
        cmocka_unit_test(test_watch_pipe),
        cmocka_unit_test(test_watch_both_directions),
        cmocka_unit_test(test_watch_free_other_in_same_pass),
        cmocka_unit_test(test_run_once),
        cmocka_unit_test(test_timers_never_early),
        cmocka_unit_test(test_embedding_poll_driver),
        cmocka_unit_test(test_far_timers_do_not_spin),
        cmocka_unit_test(test_loops_in_threads),
        cmocka_unit_test(test_embedding_stream),
        cmocka_unit_test(test_loop_new_without_fds),
        cmocka_unit_test(test_reinit_after_fork),
        cmocka_unit_test(test_misc_api),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
