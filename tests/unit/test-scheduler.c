/* test-scheduler.c - unit tests for daemon/scheduler.c against a real SQLite store in a temp
 * dir: the order jobs start in (priorities from the request's trigger, requests taking turns,
 * FIFO inside a request), slots per worker, which worker is chosen, which workers take nothing,
 * jobs in a backoff and jobs not ready yet left out, the worker a job's last infrastructure
 * failure happened on avoided) and the wait reasons. The workers are table entries made here;
 * "starting" a job records the attempt in the store and takes a slot, as wf__run_start does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/internal.h"
#include "lib/fsutil.h"
#include "lib/log.h"

#define MAX_STARTS 64
#define LEASE_MS 600000

typedef struct start {
    int64_t job, request;
    wf_worker *worker;
    int attempt;
} start;

typedef struct fixture {
    char dir[64];
    wf_store *s;
    wf_worker_config cfgs[4];
    wf_worker workers[4];
    wf_worker *table[4];
    size_t n;
    wf_sched_cursor cursor;
    start starts[MAX_STARTS];
    size_t n_starts;
    int64_t not_ready; /* a job the ready callback holds back (0: none) */
} fixture;

static char *amd64[] = {"linux/amd64"};
static char *arm64[] = {"linux/arm64"};

static int setup(void **state)
{
    fixture *f = wf_calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/wf-test-sched-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    char *db = wf_asprintf("%s/state.db", f->dir);
    int rc = wf_store_open(&f->s, db);
    free(db);
    f->cursor.platform = "linux/amd64";
    *state = f;
    return rc;
}

static int teardown(void **state)
{
    fixture *f = *state;
    wf_store_close(f->s);
    int rc = wf_fs_remove_tree(f->dir);
    for (size_t i = 0; i < f->n; i++)
        wf_health_release(&f->workers[i].health);
    free(f);
    return rc;
}

/* A healthy worker in the table. */
static wf_worker *add_worker(fixture *f, const char *name, char **platforms, unsigned slots,
                             int emulated)
{
    size_t i = f->n++;
    wf_worker_config *c = &f->cfgs[i];
    c->name = (char *)name;
    c->driver = (char *)"docker";
    c->platforms = platforms;
    c->n_platforms = 1;
    c->slots = slots;
    c->emulated = emulated;
    wf_worker *w = &f->workers[i];
    w->cfg = c;
    w->in_table = 1;
    w->refs = 1;
    wf_health_init(&w->health, 1000);
    wf_health_record(&w->health, 1, NULL, 1000);
    f->table[i] = w;
    return w;
}

static int64_t request(fixture *f, const char *trigger, int jobs, const char *platform)
{
    static int keys;
    int64_t id = 0, job = 0;
    assert_int_equal(wf_store_request_create(f->s, trigger, NULL, &id), 0);
    for (int i = 0; i < jobs; i++) {
        char key[32];
        snprintf(key, sizeof(key), "key-%d", ++keys);
        assert_int_equal(
            wf_store_job_create(f->s, id, "demo", "1.0", "cp311", platform, key, 0, &job), 0);
    }
    return id;
}

static int on_start(const wf_job_row *job, wf_worker *w, void *ctx)
{
    fixture *f = ctx;
    assert_true(f->n_starts < MAX_STARTS);
    start *s = &f->starts[f->n_starts++];
    s->job = job->id;
    s->request = job->request_id;
    s->worker = w;
    assert_int_equal(wf_store_attempt_start(f->s, job->id, w->cfg->name, w->cfg->emulated, LEASE_MS,
                                            &s->attempt),
                     0);
    w->busy++;
    if (w->busy > w->cfg->slots)
        fail_msg("worker '%s' runs %u jobs with %u slots", w->cfg->name, w->busy, w->cfg->slots);
    return 0;
}

static int on_ready(const wf_job_row *job, void *ctx)
{
    fixture *f = ctx;
    return job->id != f->not_ready;
}

static int pass(fixture *f, const char *platform)
{
    wf_worker **table = f->table;
    f->cursor.platform = (char *)platform;
    return wf__sched_pass(f->s, &table, &f->n, &f->cursor, platform, on_ready, on_start, f);
}

static void finish(fixture *f, size_t i)
{
    start *s = &f->starts[i];
    assert_int_equal(wf_store_attempt_finish(f->s, s->job, s->attempt, WF_JOB_SUCCEEDED, NULL), 0);
    s->worker->busy--;
}

/* Runs the queue to its end on one slot: pass, finish, pass, ... and returns the request of
 * each job in start order as "r1 r2 ...". */
static char *drain_one_by_one(fixture *f)
{
    wf_buf b = WF_BUF_INIT;
    wf_buf_add(&b, "", 0);
    while (pass(f, "linux/amd64") == 1) {
        wf_buf_addf(&b, "%sr%lld", b.len ? " " : "", (long long)f->starts[f->n_starts - 1].request);
        finish(f, f->n_starts - 1);
    }
    return wf_buf_detach(&b);
}

/* A person's request before PR builds before recipe changes before nightly builds, whatever
 * the order they were queued in; unknown triggers rank with recipe changes. */
static void test_priorities(void **state)
{
    fixture *f = *state;
    add_worker(f, "w1", amd64, 1, 0);
    int64_t nightly = request(f, "nightly", 3, "linux/amd64");
    int64_t pr = request(f, "pr", 1, "linux/amd64");
    int64_t watch = request(f, "watch", 1, "linux/amd64");
    int64_t cli = request(f, "cli", 1, "linux/amd64");
    int64_t api = request(f, "api", 1, "linux/amd64");
    int64_t commit = request(f, "commit", 1, "linux/amd64");
    int64_t bump = request(f, "bump", 1, "linux/amd64");
    int64_t other = request(f, "webhook-x", 1, "linux/amd64");
    int64_t retry = request(f, "retry", 1, "linux/amd64"); /* `wheelfarm retry`: a person's */
    char want[256];
    snprintf(want, sizeof(want),
             "r%lld r%lld r%lld r%lld r%lld r%lld r%lld r%lld r%lld r%lld r%lld", (long long)cli,
             (long long)api, (long long)retry, (long long)pr, (long long)watch, (long long)commit,
             (long long)other, (long long)nightly, (long long)bump, (long long)nightly,
             (long long)nightly);
    char *got = drain_one_by_one(f);
    assert_string_equal(got, want);
    free(got);
}

/* One big request queued first does not starve a small one queued after it: they take turns;
 * inside a request the jobs start oldest first. A request arriving mid-way gets the next turn. */
static void test_fairness(void **state)
{
    fixture *f = *state;
    add_worker(f, "w1", amd64, 1, 0);
    int64_t a = request(f, "cli", 6, "linux/amd64");
    int64_t b = request(f, "cli", 2, "linux/amd64");
    wf_buf seq = WF_BUF_INIT;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(pass(f, "linux/amd64"), 1);
        wf_buf_addf(&seq, "%s%c", i ? " " : "", f->starts[i].request == a ? 'A' : 'B');
        finish(f, (size_t)i);
    }
    assert_string_equal(seq.ptr, "A B A B A");
    wf_buf_release(&seq);
    int64_t c = request(f, "cli", 1, "linux/amd64");
    assert_int_equal(pass(f, "linux/amd64"), 1);
    assert_int_equal(f->starts[5].request, c);
    finish(f, 5);
    char *rest = drain_one_by_one(f);
    char want[64];
    snprintf(want, sizeof(want), "r%lld r%lld r%lld", (long long)a, (long long)a, (long long)a);
    assert_string_equal(rest, want);
    free(rest);
    /* FIFO inside each request: A's jobs started in id order. */
    int64_t last = 0;
    for (size_t i = 0; i < f->n_starts; i++) {
        if (f->starts[i].request != a)
            continue;
        assert_true(f->starts[i].job > last);
        last = f->starts[i].job;
    }
    (void)b;
}

/* Several free slots in one pass: the requests' first jobs go before anyone's second. */
static void test_fairness_in_one_pass(void **state)
{
    fixture *f = *state;
    add_worker(f, "w1", amd64, 3, 0);
    int64_t a = request(f, "cli", 4, "linux/amd64");
    int64_t b = request(f, "cli", 2, "linux/amd64");
    assert_int_equal(pass(f, "linux/amd64"), 3);
    assert_int_equal(f->starts[0].request, a);
    assert_int_equal(f->starts[1].request, b);
    assert_int_equal(f->starts[2].request, a);
    assert_true(f->starts[2].job > f->starts[0].job);
}

/* A requeued job (an infrastructure failure) keeps its place at the head of its request. */
static void test_requeue_keeps_place(void **state)
{
    fixture *f = *state;
    add_worker(f, "w1", amd64, 1, 0);
    request(f, "cli", 3, "linux/amd64");
    assert_int_equal(pass(f, "linux/amd64"), 1);
    start first = f->starts[0];
    assert_int_equal(
        wf_store_attempt_finish(f->s, first.job, first.attempt, WF_JOB_QUEUED, "worker lost"), 0);
    first.worker->busy--;
    assert_int_equal(pass(f, "linux/amd64"), 1);
    assert_int_equal(f->starts[1].job, first.job);
}

/* A job in a backoff after an infrastructure failure is not handed out, neither as its
 * request's only job nor ahead of its request's other jobs; once the backoff is over it is. */
static void test_backoff_left_out(void **state)
{
    fixture *f = *state;
    add_worker(f, "w1", amd64, 4, 0);
    wf_retry_policy later = {3, 600};
    int64_t a = request(f, "cli", 2, "linux/amd64");
    int64_t b = request(f, "cli", 1, "linux/amd64");
    assert_int_equal(pass(f, "linux/amd64"), 3);
    /* A's first job and B's only job fail on the worker's side and back off. */
    for (size_t i = 0; i < 3; i++) {
        start *st = &f->starts[i];
        st->worker->busy--;
        if (st->request == a && st->job != f->starts[0].job)
            continue;
        assert_int_equal(
            wf_store_attempt_retry(f->s, st->job, st->attempt, "engine error", "w1", &later, NULL),
            0);
    }
    int64_t a2 = 0;
    for (size_t i = 0; i < 3; i++)
        if (f->starts[i].request == a && f->starts[i].job != f->starts[0].job)
            a2 = f->starts[i].job;
    assert_int_equal(wf_store_attempt_finish(f->s, a2, 1, WF_JOB_QUEUED, "requeued"), 0);
    int64_t c = request(f, "cli", 1, "linux/amd64");
    /* Only C's job and A's second job may start (C's turn first: A was served last); the two
     * in a backoff wait. */
    size_t before = f->n_starts;
    assert_int_equal(pass(f, "linux/amd64"), 2);
    assert_int_equal(f->starts[before].request, c);
    assert_int_equal(f->starts[before + 1].job, a2);
    assert_int_equal(pass(f, "linux/amd64"), 0);
    (void)b;
}

/* The worker a job's last infrastructure failure happened on is avoided while another worker
 * has a free slot, and used when it is the only one with room. */
static void test_avoid_worker(void **state)
{
    fixture *f = *state;
    wf_worker *w1 = add_worker(f, "w1", amd64, 1, 0);
    wf_worker *w2 = add_worker(f, "w2", amd64, 1, 0);
    wf_retry_policy now = {3, 0}; /* no wait: the job is queued again at once */
    request(f, "cli", 1, "linux/amd64");
    assert_int_equal(pass(f, "linux/amd64"), 1);
    assert_ptr_equal(f->starts[0].worker, w1);
    w1->busy--;
    assert_int_equal(wf_store_attempt_retry(f->s, f->starts[0].job, f->starts[0].attempt,
                                            "engine error", "w1", &now, NULL),
                     0);
    /* Both free: w2, though w1 is listed first. */
    assert_int_equal(pass(f, "linux/amd64"), 1);
    assert_ptr_equal(f->starts[1].worker, w2);
    w2->busy--;
    assert_int_equal(wf_store_attempt_retry(f->s, f->starts[1].job, f->starts[1].attempt,
                                            "engine error", "w1", &now, NULL),
                     0);
    /* w2 full: the avoided worker takes it rather than letting it wait. */
    w2->busy = 1;
    assert_int_equal(pass(f, "linux/amd64"), 1);
    assert_ptr_equal(f->starts[2].worker, w1);
    assert_ptr_equal(wf__sched_pick_avoiding(f->table, f->n, "linux/amd64", "w2"), NULL);
}

/* A job that is not ready (a pull request head still loading) is passed over; the next one
 * takes the slot. */
static void test_not_ready_skipped(void **state)
{
    fixture *f = *state;
    add_worker(f, "w1", amd64, 1, 0);
    int64_t a = request(f, "cli", 1, "linux/amd64");
    int64_t b = request(f, "cli", 1, "linux/amd64");
    wf_job_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(wf_store_jobs_next(f->s, "linux/amd64", 0, 1, &rows, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].request_id, a);
    f->not_ready = rows[0].id;
    wf_job_rows_free(rows, n);
    /* One slot, so the store lists one job: the held-back one; nothing starts. */
    assert_int_equal(pass(f, "linux/amd64"), 0);
    f->cfgs[0].slots = 2;
    assert_int_equal(pass(f, "linux/amd64"), 1);
    assert_int_equal(f->starts[0].request, b);
    f->not_ready = 0;
    assert_int_equal(pass(f, "linux/amd64"), 1);
    assert_int_equal(f->starts[1].request, a);
}

/* Slots are respected per worker; the least busy worker is chosen, the first listed on ties. */
static void test_slots(void **state)
{
    fixture *f = *state;
    wf_worker *w1 = add_worker(f, "w1", amd64, 2, 0);
    wf_worker *w2 = add_worker(f, "w2", amd64, 1, 0);
    request(f, "cli", 6, "linux/amd64");
    assert_int_equal(pass(f, "linux/amd64"), 3);
    assert_ptr_equal(f->starts[0].worker, w1);
    assert_ptr_equal(f->starts[1].worker, w2);
    assert_ptr_equal(f->starts[2].worker, w1);
    assert_int_equal(w1->busy, 2);
    assert_int_equal(w2->busy, 1);
    /* Full: nothing more starts until a slot frees. */
    assert_int_equal(pass(f, "linux/amd64"), 0);
    finish(f, 1);
    assert_int_equal(pass(f, "linux/amd64"), 1);
    assert_ptr_equal(f->starts[3].worker, w2);
    /* Two workers with one slot each, two requests: both are used in one pass. */
    int64_t count = 0;
    assert_int_equal(wf_store_count_jobs(f->s, WF_JOB_RUNNING, &count), 0);
    assert_int_equal(count, 3);
}

/* Native before emulated at equal load; the emulated worker is used when the native is full. */
static void test_native_preferred(void **state)
{
    fixture *f = *state;
    wf_worker *emu = add_worker(f, "qemu", amd64, 1, 1);
    wf_worker *nat = add_worker(f, "native", amd64, 1, 0);
    request(f, "cli", 3, "linux/amd64");
    assert_int_equal(pass(f, "linux/amd64"), 2);
    assert_ptr_equal(f->starts[0].worker, nat);
    assert_ptr_equal(f->starts[1].worker, emu);
}

/* Unhealthy, probing, drained and leaving workers take nothing; no worker for a platform means
 * its jobs wait (strict routing, no fallback to another platform's worker). */
static void test_only_available_workers(void **state)
{
    fixture *f = *state;
    wf_worker *sick = add_worker(f, "sick", amd64, 4, 0);
    wf_worker *drained = add_worker(f, "drained", amd64, 4, 0);
    wf_worker *leaving = add_worker(f, "leaving", amd64, 4, 0);
    wf_worker *fresh = add_worker(f, "fresh", amd64, 4, 0);
    wf_health_record(&sick->health, 0, "engine unreachable: x", 1001);
    drained->drained = 1;
    leaving->removed = 1;
    wf_health_release(&fresh->health);
    wf_health_init(&fresh->health, 1002);
    request(f, "cli", 2, "linux/amd64");
    request(f, "cli", 2, "linux/arm64");
    assert_int_equal(pass(f, "linux/amd64"), 0);
    assert_int_equal(pass(f, "linux/arm64"), 0);
    /* Undrained, it takes both amd64 jobs; the arm64 ones still wait. */
    drained->drained = 0;
    assert_int_equal(pass(f, "linux/amd64"), 2);
    assert_ptr_equal(f->starts[0].worker, drained);
    assert_ptr_equal(f->starts[1].worker, drained);
    assert_int_equal(pass(f, "linux/arm64"), 0);
}

static void expect_reason(fixture *f, const char *platform, const char *want)
{
    char *got = wf__sched_explain(f->table, f->n, platform);
    if (want == NULL) {
        if (got != NULL)
            fail_msg("want no wait reason, got '%s'", got);
        return;
    }
    if (got == NULL || strcmp(got, want) != 0)
        fail_msg("wait reason '%s', want '%s'", got ? got : "(null)", want);
    free(got);
}

static void test_wait_reasons(void **state)
{
    fixture *f = *state;
    expect_reason(f, "linux/arm64",
                  "no healthy worker for linux/arm64: no worker declares it (add one with "
                  "'linux/arm64' in its platforms to the config)");
    wf_worker *a = add_worker(f, "arm-1", arm64, 1, 0);
    wf_worker *b = add_worker(f, "arm-2", arm64, 1, 0);
    wf_worker *c = add_worker(f, "x86", amd64, 1, 0);
    expect_reason(f, "linux/arm64", NULL);
    a->busy = 1;
    b->busy = 1;
    expect_reason(f, "linux/arm64", "all 2 worker(s) for linux/arm64 are busy");
    wf_health_record(&a->health, 0, "engine unreachable: no route to host", 1010);
    expect_reason(f, "linux/arm64", "all 1 worker(s) for linux/arm64 are busy");
    b->drained = 1;
    expect_reason(f, "linux/arm64",
                  "no healthy worker for linux/arm64: 'arm-1' (engine unreachable: no route to "
                  "host) is unhealthy; 'arm-2' is draining");
    wf_health_record(&b->health, 0, "engine unreachable: timeout", 1011);
    b->drained = 0;
    expect_reason(f, "linux/arm64",
                  "no healthy worker for linux/arm64: 'arm-1' (engine unreachable: no route to "
                  "host), 'arm-2' (engine unreachable: timeout) are unhealthy");
    wf_health_release(&b->health);
    wf_health_init(&b->health, 1012);
    expect_reason(f, "linux/arm64",
                  "no healthy worker for linux/arm64: 'arm-1' (engine unreachable: no route to "
                  "host) is unhealthy; 'arm-2' is not probed yet");
    /* The other platform is not affected. */
    expect_reason(f, "linux/amd64", NULL);
    c->pending = &f->cfgs[2]; /* a reload changed it: draining until its builds end */
    expect_reason(f, "linux/amd64", "no healthy worker for linux/amd64: 'x86' is draining");
    c->pending = NULL;
}

int main(void)
{
    wf_log_set_level(WF_LOG_WARN);
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_priorities),           T(test_fairness),
        T(test_fairness_in_one_pass), T(test_requeue_keeps_place),
        T(test_backoff_left_out),     T(test_avoid_worker),
        T(test_not_ready_skipped),    T(test_slots),
        T(test_native_preferred),     T(test_only_available_workers),
        T(test_wait_reasons),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
