/* test-workers.c - unit tests for daemon/workers.c on a private loop: probes as real child
 * processes (a stand-in docker client script that prints the engine's platform or fails), health
 * transitions and backoff after a failure, drain persisted in a real store, and SIGHUP reloads
 * applied while runs hold workers: a removed worker leaves only when its run ends, a changed one
 * switches then, untouched and updated ones keep going. Run under ASan, it also checks that no
 * worker is freed while a run or a probe still points at it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "daemon/internal.h"
#include "lib/fsutil.h"
#include "lib/log.h"

typedef struct fixture {
    char dir[64];
    char *conf;
    uv_loop_t loop;
    wf_daemon *d;
} fixture;

/* The stand-in client: it logs its arguments to calls.log next to itself; `version` prints
 * linux/amd64 and `run` (the emulation check) prints aarch64, unless the endpoint names "down"
 * (the client cannot reach its engine) or "nobinfmt" (the engine cannot run arm64 programs). */
static const char fake_docker[] =
    "#!/bin/sh\n"
    "echo \"$DOCKER_HOST $*\" >>\"$(dirname \"$0\")/calls.log\"\n"
    "case \"$DOCKER_HOST\" in *down*) echo \"Cannot connect to the Docker daemon at "
    "$DOCKER_HOST. Is the docker daemon running?\" >&2; exit 1;; esac\n"
    "case \"$1\" in\n"
    "version) echo linux/amd64 ;;\n"
    "run) case \"$DOCKER_HOST\" in *nobinfmt*) echo 'exec /usr/bin/uname: exec format error' >&2;"
    " exit 1;; esac; echo aarch64 ;;\n"
    "esac\n";

/* How many times the stand-in client was called for worker `name` (its endpoint
 * unix:///run/NAME.sock) with `word` as its first argument. */
static int calls(fixture *f, const char *name, const char *word)
{
    char *head = wf_asprintf("unix:///run/%s.sock %s ", name, word);
    char *path = wf_asprintf("%s/calls.log", f->dir);
    FILE *fp = fopen(path, "r");
    free(path);
    int n = 0;
    char line[1024];
    while (fp != NULL && fgets(line, sizeof(line), fp) != NULL)
        n += strncmp(line, head, strlen(head)) == 0;
    if (fp != NULL)
        fclose(fp);
    free(head);
    return n;
}

static void write_conf(fixture *f, const char *workers)
{
    char *yaml = wf_asprintf("state_dir: %s/state\nrecipes: %s\nlisten: {http: \"\"}\n"
                             "log_level: warn\nworkers:\n%s",
                             f->dir, f->dir, workers);
    assert_int_equal(wf_fs_write_atomic(f->conf, yaml, strlen(yaml), 0644), 0);
    free(yaml);
}

static int setup(void **state)
{
    fixture *f = wf_calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/wf-test-workers-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    f->conf = wf_asprintf("%s/wf.yaml", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    int rc = wf_fs_remove_tree(f->dir);
    free(f->conf);
    free(f);
    return rc;
}

static const char workers1[] = "  - {name: a, endpoint: \"unix:///run/a.sock\"}\n"
                               "  - {name: b, endpoint: \"unix:///run/b.sock\"}\n"
                               "  - {name: c, endpoint: \"unix:///run/c.sock\", labels: [x]}\n";

/* A daemon with just what workers.c and the scheduler touch: loop, config, store, client. */
static wf_daemon *daemon_new(fixture *f)
{
    wf_daemon *d = wf_calloc(1, sizeof(*d));
    wf_diag_list diags = {NULL, 0};
    assert_int_equal(uv_loop_init(&f->loop), 0);
    d->loop = &f->loop;
    write_conf(f, workers1);
    assert_int_equal(wf_config_load(&d->cfg, f->conf, &diags), 0);
    char *db = wf_asprintf("%s/state.db", f->dir);
    assert_int_equal(wf_store_open(&d->store, db), 0);
    free(db);
    d->docker.path = wf_asprintf("%s/docker", f->dir);
    assert_int_equal(wf_fs_write_atomic(d->docker.path, fake_docker, strlen(fake_docker), 0755), 0);
    d->docker.mode = WF_DOCKER_BUILDKIT;
    assert_int_equal(uv_timer_init(&f->loop, &d->kick), 0);
    d->state = WF_DAEMON_RUNNING;
    f->d = d;
    return d;
}

static void daemon_free(fixture *f)
{
    wf_daemon *d = f->d;
    wf__workers_close(d);
    uv_close((uv_handle_t *)&d->kick, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(d->workers_live, 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    wf__workers_free(d);
    wf_store_close(d->store);
    wf_config_free(d->cfg);
    wf_docker_client_release(&d->docker);
    free(d);
}

static wf_worker *find(wf_daemon *d, const char *name)
{
    return wf__worker_find(d, name);
}

/* Runs the loop until `name` has `state` (shown state), at most ~10 s. */
static void wait_state(fixture *f, const char *name, const char *state)
{
    uint64_t deadline = uv_now(&f->loop) + 10000;
    for (;;) {
        wf_worker *w = find(f->d, name);
        if (w != NULL && strcmp(wf__worker_state(w), state) == 0)
            return;
        if (uv_now(&f->loop) > deadline)
            fail_msg("worker '%s' is %s, want %s", name, w ? wf__worker_state(w) : "gone", state);
        uv_run(&f->loop, UV_RUN_ONCE);
    }
}

static char *names(wf_daemon *d)
{
    wf_buf b = WF_BUF_INIT;
    wf_buf_add(&b, "", 0);
    for (size_t i = 0; i < d->n_workers; i++)
        wf_buf_addf(&b, "%s%s", i ? " " : "", d->workers[i]->cfg->name);
    return wf_buf_detach(&b);
}

static void assert_names(wf_daemon *d, const char *want)
{
    char *got = names(d);
    if (strcmp(got, want) != 0)
        fail_msg("workers '%s', want '%s'", got, want);
    free(got);
}

static void test_probe_states(void **state)
{
    fixture *f = *state;
    wf_daemon *d = daemon_new(f);
    write_conf(f, "  - {name: up, endpoint: \"unix:///run/up.sock\"}\n"
                  "  - {name: down, endpoint: \"unix:///run/down.sock\"}\n"
                  "  - {name: arm, endpoint: \"unix:///run/x.sock\", platforms: [linux/arm64]}\n");
    wf_config_free(d->cfg);
    wf_diag_list diags = {NULL, 0};
    assert_int_equal(wf_config_load(&d->cfg, f->conf, &diags), 0);
    assert_int_equal(wf__workers_start(d), 0);
    wf_worker *up = find(d, "up");
    assert_string_equal(wf__worker_state(up), "probing");
    char *why = wf__worker_reason(up);
    assert_string_equal(why, "not probed yet");
    free(why);
    wait_state(f, "up", "healthy");
    wait_state(f, "down", "unhealthy");
    wait_state(f, "arm", "unhealthy");
    assert_true(wf__worker_available(up));
    assert_string_equal(up->engine, "linux/amd64");
    assert_true(up->last_probe > 0);
    assert_null(wf__worker_reason(up));
    wf_worker *down = find(d, "down");
    assert_false(wf__worker_available(down));
    why = wf__worker_reason(down);
    assert_string_equal(why, "engine unreachable: Cannot connect to the Docker daemon at "
                             "unix:///run/down.sock. Is the docker daemon running?");
    free(why);
    /* The next probe of an unhealthy worker comes after the backoff, not at once. */
    assert_true(uv_is_active((uv_handle_t *)&down->timer));
    assert_true(uv_timer_get_due_in(&down->timer) <= WF_HEALTH_BACKOFF_MIN_MS);
    why = wf__worker_reason(find(d, "arm"));
    assert_non_null(strstr(why, "the engine is linux/amd64, but the worker declares linux/arm64"));
    free(why);

    /* A failure seen by a run: unhealthy now, probed again after the backoff, healthy again. */
    wf__worker_failed(d, up, "lost lease on job 7");
    assert_string_equal(wf__worker_state(up), "unhealthy");
    assert_false(wf__worker_available(up));
    assert_string_equal(up->health.reason, "lost lease on job 7");
    assert_true(uv_timer_get_due_in(&up->timer) <= WF_HEALTH_BACKOFF_MIN_MS);
    wait_state(f, "up", "healthy");

    /* Drained: draining, not available, kept in the store; undrained: back. */
    assert_int_equal(wf__worker_set_drained(d, up, 1), 0);
    assert_string_equal(wf__worker_state(up), "draining");
    assert_false(wf__worker_available(up));
    why = wf__worker_reason(up);
    assert_non_null(strstr(why, "'wheelfarm undrain up'"));
    free(why);
    wf_worker_flag_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(wf_store_workers_drained(d->store, &rows, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].name, "up");
    wf_worker_flag_rows_free(rows, n);
    assert_int_equal(wf__worker_set_drained(d, up, 0), 0);
    assert_true(wf__worker_available(up));
    daemon_free(f);
}

/* SIGHUP while a and b run builds: a removed, b's endpoint changed, c's slots and labels
 * updated, d added. */
static void test_reload_with_runs(void **state)
{
    fixture *f = *state;
    wf_daemon *d = daemon_new(f);
    assert_int_equal(wf__workers_start(d), 0);
    assert_names(d, "a b c");
    wait_state(f, "a", "healthy");
    wait_state(f, "b", "healthy");
    wait_state(f, "c", "healthy");
    wf_worker *a = find(d, "a"), *b = find(d, "b"), *c = find(d, "c");
    wf__worker_run_started(a);
    wf__worker_run_started(b);

    write_conf(f, "  - {name: d, endpoint: \"unix:///run/d.sock\"}\n"
                  "  - {name: c, endpoint: \"unix:///run/c.sock\", slots: 3, labels: [x, y]}\n"
                  "  - {name: b, endpoint: \"unix:///run/b2.sock\"}\n");
    wf__daemon_reload(d);
    /* The new order, the leaving worker last; nothing was restarted. */
    assert_names(d, "d c b a");
    assert_ptr_equal(find(d, "c"), c);
    assert_int_equal(c->cfg->slots, 3);
    assert_int_equal(c->cfg->n_labels, 2);
    assert_string_equal(wf__worker_state(c), "healthy");
    assert_string_equal(wf__worker_state(a), "draining");
    assert_false(wf__worker_available(a));
    char *why = wf__worker_reason(a);
    assert_string_equal(why, "removed from the configuration; leaves when its 1 build(s) finish");
    free(why);
    /* b keeps its old target while its run lasts. */
    assert_string_equal(b->cfg->endpoint, "unix:///run/b.sock");
    assert_string_equal(wf__worker_state(b), "draining");
    why = wf__worker_reason(b);
    assert_string_equal(why, "changed in the configuration; replaced when its 1 build(s) finish");
    free(why);
    wait_state(f, "d", "healthy");
    /* d->cfg says what is configured now. */
    assert_int_equal(d->cfg->n_workers, 3);
    assert_string_equal(d->cfg->workers[0].name, "d");

    /* The runs end: a leaves the table, b switches to its new endpoint and is probed anew. */
    wf__worker_run_ended(a);
    a = NULL;
    assert_null(find(d, "a"));
    assert_names(d, "d c b");
    wf__worker_run_ended(b);
    assert_ptr_equal(find(d, "b"), b);
    assert_string_equal(b->cfg->endpoint, "unix:///run/b2.sock");
    assert_string_equal(wf__worker_state(b), "probing");
    wait_state(f, "b", "healthy");

    /* A broken file changes nothing. */
    write_conf(f, "  - {name: a, endpoint: \"unix:///run/a.sock\"}\n  - [\n");
    wf__daemon_reload(d);
    assert_names(d, "d c b");
    daemon_free(f);
}

/* A worker removed, then added back by the next reload before its run ended, stays the same
 * worker (same target: it simply stops leaving); with another target it switches after the run. */
static void test_reload_back_and_forth(void **state)
{
    fixture *f = *state;
    wf_daemon *d = daemon_new(f);
    assert_int_equal(wf__workers_start(d), 0);
    wait_state(f, "a", "healthy");
    wf_worker *a = find(d, "a");
    wf__worker_run_started(a);
    write_conf(f, "  - {name: b, endpoint: \"unix:///run/b.sock\"}\n"
                  "  - {name: c, endpoint: \"unix:///run/c.sock\", labels: [x]}\n");
    wf__daemon_reload(d);
    assert_true(a->removed);
    write_conf(f, workers1);
    wf__daemon_reload(d);
    assert_false(a->removed);
    assert_null(a->pending);
    assert_names(d, "a b c");
    assert_string_equal(wf__worker_state(a), "healthy");
    /* Now changed while it runs, then changed back before the run ends: no switch at all. */
    write_conf(f, "  - {name: a, endpoint: \"unix:///run/a2.sock\"}\n"
                  "  - {name: b, endpoint: \"unix:///run/b.sock\"}\n"
                  "  - {name: c, endpoint: \"unix:///run/c.sock\", labels: [x]}\n");
    wf__daemon_reload(d);
    assert_non_null(a->pending);
    write_conf(f, workers1);
    wf__daemon_reload(d);
    assert_null(a->pending);
    wf__worker_run_ended(a);
    assert_ptr_equal(find(d, "a"), a);
    assert_string_equal(a->cfg->endpoint, "unix:///run/a.sock");
    assert_string_equal(wf__worker_state(a), "healthy");
    daemon_free(f);
}

/* Reloads with the log (stderr) sent to a file, at level warn; returns what was logged. */
static char *reload_logged(fixture *f)
{
    char *path = wf_asprintf("%s/reload.log", f->dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    close(fd);
    wf_log_level level = wf_log_threshold;
    wf_log_set_level(WF_LOG_WARN);
    wf__daemon_reload(f->d);
    wf_log_set_level(level);
    fflush(stderr);
    assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(wf_fs_read_file(path, 1 << 20, &text, &len), 0);
    free(path);
    return text;
}

/* How many lines of `log` contain `what`. */
static int lines_with(const char *log, const char *what)
{
    int n = 0;
    for (const char *at = log; (at = strstr(at, what)) != NULL; at += strlen(what))
        n++;
    return n;
}

#define NO_TLS "is used without TLS (tls: false): anyone who can reach it controls that engine"

/* A reload that brings in a tcp:// worker with `tls: false` (added, or an existing worker
 * changed to it) warns as the start does, once per such worker; reloads that keep or only
 * update it do not repeat it. */
static void test_reload_warns_unauthenticated(void **state)
{
    fixture *f = *state;
    wf_daemon *d = daemon_new(f);
    assert_int_equal(wf__workers_start(d), 0);
    wait_state(f, "a", "healthy");
    static const char open_workers[] =
        "  - {name: a, endpoint: \"tcp://127.0.0.1:2375\", tls: false}\n"
        "  - {name: b, endpoint: \"unix:///run/b.sock\"}\n"
        "  - {name: c, endpoint: \"unix:///run/c.sock\", labels: [x]}\n"
        "  - {name: open, endpoint: \"tcp://10.0.0.3:2375\", tls: false}\n"
        "  - {name: d, endpoint: \"unix:///run/d.sock\"}\n";
    write_conf(f, open_workers);
    char *log = reload_logged(f);
    assert_int_equal(lines_with(log, NO_TLS), 2);
    assert_int_equal(lines_with(log, " warn reload: worker 'a': tcp://127.0.0.1:2375 " NO_TLS), 1);
    assert_int_equal(lines_with(log, " warn reload: worker 'open': tcp://10.0.0.3:2375 " NO_TLS),
                     1);
    free(log);
    assert_names(d, "a b c open d");

    /* The same file again: every worker kept, nothing said. */
    log = reload_logged(f);
    assert_int_equal(lines_with(log, NO_TLS), 0);
    free(log);

    /* Only slots change: updated in place, not brought in anew. */
    write_conf(f, "  - {name: a, endpoint: \"tcp://127.0.0.1:2375\", tls: false, slots: 2}\n"
                  "  - {name: open, endpoint: \"tcp://10.0.0.3:2375\", tls: false, slots: 3}\n");
    log = reload_logged(f);
    assert_int_equal(lines_with(log, NO_TLS), 0);
    free(log);
    assert_int_equal(find(d, "open")->cfg->slots, 3);
    daemon_free(f);
}

/* An emulated worker: the engine is amd64, arm64 is checked by running a program of it. */
static void test_emulation_check(void **state)
{
    fixture *f = *state;
    wf_daemon *d = daemon_new(f);
    write_conf(f, "  - {name: emu, endpoint: \"unix:///run/emu.sock\", emulated: true,\n"
                  "     platforms: [linux/amd64, linux/arm64]}\n"
                  "  - {name: nobinfmt, endpoint: \"unix:///run/nobinfmt.sock\", emulated: true,\n"
                  "     platforms: [linux/arm64]}\n"
                  "  - {name: native, endpoint: \"unix:///run/native.sock\", emulated: true}\n");
    wf_config_free(d->cfg);
    wf_diag_list diags = {NULL, 0};
    assert_int_equal(wf_config_load(&d->cfg, f->conf, &diags), 0);
    assert_int_equal(wf__workers_start(d), 0);
    wait_state(f, "emu", "healthy");
    wait_state(f, "nobinfmt", "unhealthy");
    wait_state(f, "native", "healthy");
    char *why = wf__worker_reason(find(d, "nobinfmt"));
    assert_string_equal(why, "the engine cannot run linux/arm64 programs (no binfmt_misc handler "
                             "for aarch64 on its host; install qemu-user-static or binfmt there)");
    free(why);
    /* The emulation check runs for the platform that is not the engine's, none for the worker
     * whose platforms are all native. */
    assert_int_equal(calls(f, "emu", "version"), 1);
    assert_int_equal(calls(f, "emu", "run"), 1);
    assert_int_equal(calls(f, "native", "version"), 1);
    assert_int_equal(calls(f, "native", "run"), 0);
    /* After a failure the check runs again before the worker is healthy again. */
    wf__worker_failed(d, find(d, "emu"), "engine error");
    wait_state(f, "emu", "healthy");
    assert_int_equal(calls(f, "emu", "version"), 2);
    assert_int_equal(calls(f, "emu", "run"), 2);
    daemon_free(f);
}

int main(void)
{
    wf_log_set_level(WF_LOG_ERROR);
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_probe_states),          T(test_reload_with_runs),
        T(test_reload_back_and_forth), T(test_reload_warns_unauthenticated),
        T(test_emulation_check),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
