/* eddy_loop_run_in_executor: blocking work on worker threads, its completion on the loop's
 * thread; the thread limit, cancellation, and freeing the loop with work running and queued. */
#include "test_common.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

/* One piece of work. `gate`: when set, the work waits until it opens. */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int open;
} gate;

static void gate_init(gate *g) {
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->open = 0;
}

static void gate_open(gate *g) {
    pthread_mutex_lock(&g->mu);
    g->open = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void gate_wait(gate *g) {
    pthread_mutex_lock(&g->mu);
    while (!g->open) pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

typedef struct shared {
    pthread_t loop_thread;
    atomic_int running, most_running, worked;
    int done_calls, freed, done_off_loop, worked_on_loop, signals_open;
    gate *gate;
    eddy_loop *freeing_loop; /* set: free_job tries to queue more work on it */
    int submitted_while_freed;
} shared;

typedef struct job {
    shared *sh;
    int index;
    atomic_int ran;
    int status;
    int done_ran;
    int freed;
} job;

static void work(void *userdata) {
    job *j = userdata;
    shared *sh = j->sh;
    if (pthread_equal(pthread_self(), sh->loop_thread)) sh->worked_on_loop = 1;
    sigset_t mask;
    pthread_sigmask(SIG_BLOCK, NULL, &mask);
    if (!sigismember(&mask, SIGTERM) || !sigismember(&mask, SIGINT)) sh->signals_open = 1;
    int now = atomic_fetch_add(&sh->running, 1) + 1;
    int most = atomic_load(&sh->most_running);
    while (now > most && !atomic_compare_exchange_weak(&sh->most_running, &most, now)) {}
    if (sh->gate) gate_wait(sh->gate);
    atomic_store(&j->ran, 1);
    atomic_fetch_sub(&sh->running, 1);
    atomic_fetch_add(&sh->worked, 1);
}

static void done(eddy_loop *loop, int status, void *userdata) {
    (void)loop;
    job *j = userdata;
    if (!pthread_equal(pthread_self(), j->sh->loop_thread)) j->sh->done_off_loop = 1;
    assert_int_equal(j->done_ran, 0);
    assert_int_equal(j->freed, 0); /* userdata is released after done */
    j->done_ran = 1;
    j->status = status;
    j->sh->done_calls++;
}

static void free_job(void *userdata) {
    job *j = userdata;
    assert_int_equal(j->freed, 0);
    j->freed = 1;
    j->sh->freed++;
    if (j->sh->freeing_loop &&
        eddy_loop_run_in_executor(j->sh->freeing_loop, work, NULL, NULL, NULL) != 0)
        j->sh->submitted_while_freed++;
}

static void setup(shared *sh, job *jobs, int n) {
    memset(sh, 0, sizeof *sh);
    sh->loop_thread = pthread_self();
    for (int i = 0; i < n; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].sh = sh;
        jobs[i].index = i;
    }
}

/* Runs the loop until `n` done callbacks ran (bounded). */
static void run_until_done(eddy_loop *loop, shared *sh, int n) {
    assert_int_equal(run_until_count(loop, &sh->done_calls, n, TEST_WAIT_SECONDS), n);
}

static void test_work_runs_off_the_loop_and_done_on_it(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    shared sh;
    job jobs[40];
    setup(&sh, jobs, 40);
    for (int i = 0; i < 40; i++)
        assert_true(eddy_loop_run_in_executor(loop, work, done, &jobs[i], free_job) != 0);
    run_until_done(loop, &sh, 40);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(atomic_load(&jobs[i].ran), 1);
        assert_int_equal(jobs[i].status, 0);
        assert_int_equal(jobs[i].freed, 1);
    }
    assert_int_equal(sh.freed, 40);
    assert_int_equal(sh.worked_on_loop, 0);
    assert_int_equal(sh.done_off_loop, 0);
    assert_int_equal(sh.signals_open, 0); /* workers leave signals to the loop's thread */
    assert_true(atomic_load(&sh.most_running) <= 4); /* the default limit */
    /* done may be NULL; free_userdata may be NULL. */
    job extra;
    memset(&extra, 0, sizeof extra);
    extra.sh = &sh;
    assert_true(eddy_loop_run_in_executor(loop, work, NULL, &extra, NULL) != 0);
    double deadline = mono_now() + TEST_WAIT_SECONDS;
    while (!atomic_load(&extra.ran) && mono_now() < deadline) eddy_loop_run_once(loop, 10);
    assert_int_equal(atomic_load(&extra.ran), 1);
    for (int i = 0; i < 5; i++) eddy_loop_run_once(loop, 0); /* its completion, with no done */
    eddy_loop_free(loop);
}

/* A loop limited to `threads` workers with `n` jobs queued (ids in `ids` unless NULL), each held
 * at `g` once started; returns when `running` of them are at the gate. */
static void queue_gated(eddy_loop *loop, int threads, shared *sh, job *jobs, int n, gate *g,
                        eddy_call_id *ids, int running) {
    assert_int_equal(eddy_loop_set_executor_threads(loop, threads), 0);
    setup(sh, jobs, n);
    gate_init(g);
    sh->gate = g;
    for (int i = 0; i < n; i++) {
        eddy_call_id id = eddy_loop_run_in_executor(loop, work, done, &jobs[i], free_job);
        assert_true(id != 0);
        if (ids) ids[i] = id;
    }
    double deadline = mono_now() + TEST_WAIT_SECONDS;
    while (atomic_load(&sh->running) < running && mono_now() < deadline) sleep_ms(1);
    assert_int_equal(atomic_load(&sh->running), running);
}

static void test_thread_limit(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    shared sh;
    job jobs[6];
    gate g;
    /* Two start and wait at the gate; the others wait in the queue. */
    queue_gated(loop, 2, &sh, jobs, 6, &g, NULL, 2);
    for (int i = 0; i < 10; i++) eddy_loop_run_once(loop, 1);
    assert_int_equal(sh.done_calls, 0);
    gate_open(&g);
    run_until_done(loop, &sh, 6);
    assert_int_equal(atomic_load(&sh.most_running), 2);
    assert_int_equal(sh.freed, 6);
    eddy_loop_free(loop);
}

static void test_cancel(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    assert_int_equal(eddy_loop_cancel_work(loop, 1), EDDY_ENOENT); /* no executor yet */
    shared sh;
    job jobs[3];
    gate g;
    eddy_call_id ids[3];
    queue_gated(loop, 1, &sh, jobs, 3, &g, ids, 1);
    assert_int_equal(eddy_loop_cancel_work(loop, ids[0]), EDDY_EBUSY); /* running */
    assert_int_equal(eddy_loop_cancel_work(loop, ids[1]), 0);          /* queued */
    assert_int_equal(eddy_loop_cancel_work(loop, ids[1]), EDDY_EBUSY); /* done still to come */
    assert_int_equal(jobs[1].done_ran, 0);                             /* later, not now */
    run_until_done(loop, &sh, 1);
    assert_int_equal(jobs[1].status, EDDY_ECANCELED);
    assert_int_equal(jobs[1].freed, 1);
    assert_int_equal(eddy_loop_cancel_work(loop, ids[1]), EDDY_ENOENT);
    gate_open(&g);
    run_until_done(loop, &sh, 3);
    assert_int_equal(atomic_load(&jobs[1].ran), 0); /* cancelled work never ran */
    assert_int_equal(jobs[0].status, 0);
    assert_int_equal(jobs[2].status, 0);
    assert_int_equal(eddy_loop_cancel_work(loop, ids[2]), EDDY_ENOENT);
    assert_int_equal(eddy_loop_cancel_work(loop, 0), EDDY_ENOENT);
    assert_int_equal(eddy_loop_cancel_work(loop, 999999), EDDY_ENOENT);
    assert_int_equal(sh.freed, 3);
    eddy_loop_free(loop);
}

/* Work that finished before the loop ran again: the done callbacks come in the order the work
 * finished (one worker: the order queued). */
static int done_order[8], done_order_n;

static void done_in_order(eddy_loop *loop, int status, void *userdata) {
    (void)loop;
    assert_int_equal(status, 0);
    job *j = userdata;
    j->sh->done_calls++;
    done_order[done_order_n++] = j->index;
}

static void test_done_in_the_order_work_finished(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    assert_int_equal(eddy_loop_set_executor_threads(loop, 1), 0);
    shared sh;
    job jobs[8];
    setup(&sh, jobs, 8);
    done_order_n = 0;
    for (int i = 0; i < 8; i++)
        assert_true(eddy_loop_run_in_executor(loop, work, done_in_order, &jobs[i], NULL) != 0);
    double deadline = mono_now() + TEST_WAIT_SECONDS;
    while (atomic_load(&sh.worked) < 8 && mono_now() < deadline) sleep_ms(1);
    assert_int_equal(atomic_load(&sh.worked), 8); /* all finished: one batch of completions */
    run_until_done(loop, &sh, 8);
    for (int i = 0; i < 8; i++) assert_int_equal(done_order[i], i);
    eddy_loop_free(loop);
}

static void *open_gate_later(void *arg) {
    sleep_ms(50);
    gate_open(arg);
    return NULL;
}

static void test_loop_freed_with_work_running_and_queued(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    shared sh;
    job jobs[3];
    gate g;
    queue_gated(loop, 1, &sh, jobs, 3, &g, NULL, 1);
    pthread_t opener;
    pthread_create(&opener, NULL, open_gate_later, &g);
    /* Waits for the running one; drops the queued ones; no done is called. A free function
     * that queues more work then is refused. */
    sh.freeing_loop = loop;
    eddy_loop_free(loop);
    assert_int_equal(sh.submitted_while_freed, 0);
    pthread_join(opener, NULL);
    assert_int_equal(atomic_load(&jobs[0].ran), 1);
    assert_int_equal(atomic_load(&jobs[1].ran), 0);
    assert_int_equal(atomic_load(&jobs[2].ran), 0);
    assert_int_equal(sh.done_calls, 0);
    for (int i = 0; i < 3; i++) assert_int_equal(jobs[i].freed, 1);
}

/* Work ids come from the loop's call count: eddy_loop_cancel never takes one for a timer's. */
static void count_timer(eddy_loop *loop, void *userdata) {
    (void)loop;
    (*(int *)userdata)++;
}

static void test_work_ids_are_not_call_ids(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    shared sh;
    job jobs[1];
    setup(&sh, jobs, 1);
    int timer_runs = 0;
    eddy_call_id timer = eddy_loop_call_later(loop, 0.001, count_timer, &timer_runs, NULL);
    eddy_call_id w = eddy_loop_run_in_executor(loop, work, done, &jobs[0], NULL);
    assert_true(timer != 0 && w != 0 && timer != w);
    assert_int_equal(eddy_loop_cancel(loop, w), EDDY_ENOENT);
    assert_int_equal(eddy_loop_cancel_work(loop, timer), EDDY_ENOENT);
    run_until_done(loop, &sh, 1);
    assert_int_equal(run_until_count(loop, &timer_runs, 1, TEST_WAIT_SECONDS), 1);
    eddy_loop_free(loop);
}

static void test_arguments(void **state) {
    (void)state;
    eddy_loop *loop = eddy_loop_new();
    int x = 0;
    assert_true(eddy_loop_run_in_executor(NULL, work, done, &x, NULL) == 0);
    assert_true(eddy_loop_run_in_executor(loop, NULL, done, &x, NULL) == 0);
    assert_int_equal(eddy_loop_set_executor_threads(NULL, 2), EDDY_EINVAL);
    assert_int_equal(eddy_loop_set_executor_threads(loop, 0), EDDY_EINVAL);
    assert_int_equal(eddy_loop_set_executor_threads(loop, 1025), EDDY_EINVAL);
    assert_int_equal(eddy_loop_set_executor_threads(loop, 1024), 0);
    assert_int_equal(eddy_loop_cancel_work(NULL, 1), EDDY_EINVAL);
    eddy_loop_free(loop);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_work_runs_off_the_loop_and_done_on_it),
        cmocka_unit_test(test_thread_limit),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_done_in_the_order_work_finished),
        cmocka_unit_test(test_loop_freed_with_work_running_and_queued),
        cmocka_unit_test(test_work_ids_are_not_call_ids),
        cmocka_unit_test(test_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
