/* test-recipes.c - unit tests for daemon/recipes.c (reloading the recipe set, change detection,
 * scheduling what changed) and daemon/watch.c (the watcher: real inotify on a temporary
 * directory, a real daemon on a private loop with its store; no worker, so jobs stay queued).
 *
 * The daemon needs a Docker client binary to start (wf_docker_detect); without one the daemon
 * tests are skipped with the reason, the pure change-detection tests still run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "daemon/daemon.h"
#include "daemon/internal.h"
#include "lib/config.h"
#include "lib/fsutil.h"
#include "lib/hash.h"
#include "lib/log.h"
#include "lib/wf.h"
#include "support/daemon_fixture.h"

static int have_docker;

/* ---- wf__recipes_changed: pure ---- */

static wf_recipe_list *parse(const char *file, const char *yaml)
{
    wf_recipe_list *l = NULL;
    wf_diag_list diags = {NULL, 0};
    int rc = wf_recipe_parse(&l, file, yaml, strlen(yaml), &diags);
    for (size_t i = 0; i < diags.n; i++) {
        char *line = wf_diag_format(&diags.items[i]);
        fprintf(stderr, "%s\n", line);
        free(line);
    }
    wf_diag_list_release(&diags);
    assert_int_equal(rc, 0);
    return l;
}

static const char prev_yaml[] = "- name: alpha\n"
                                "  versions: [\"1.0\"]\n"
                                "  source: {sdist: upstream}\n"
                                "- name: beta\n"
                                "  versions: [\"2.0\"]\n"
                                "  source: {sdist: upstream}\n"
                                "  environment: {CFLAGS: -O2}\n"
                                "- name: gamma\n"
                                "  versions: [\"3.0\"]\n"
                                "  source: {sdist: upstream}\n";

/* alpha: the same recipe written differently (key order, a default spelled out, the display
 * name's case, another file) is unchanged; beta's environment changed; gamma was removed;
 * delta is new. */
static const char next_yaml[] = "- source: {sdist: upstream}\n"
                                "  name: Alpha\n"
                                "  python: [cp311]\n"
                                "  versions: [\"1.0\"]\n"
                                "- name: beta\n"
                                "  versions: [\"2.0\"]\n"
                                "  source: {sdist: upstream}\n"
                                "  environment: {CFLAGS: -O3}\n"
                                "- name: delta\n"
                                "  versions: [\"4.0\"]\n"
                                "  source: {sdist: upstream}\n";

static void test_changed_new_changed_unchanged_removed(void **state)
{
    (void)state;
    wf_recipe_list *prev = parse("prev.yaml", prev_yaml);
    wf_recipe_list *next = parse("elsewhere/next.yaml", next_yaml);
    const wf_recipe **v = NULL;
    size_t n = 99;
    assert_int_equal(wf__recipes_changed(prev, next, &v, &n), 0);
    assert_int_equal(n, 2);
    /* Borrowed from next, in next's order. */
    assert_ptr_equal(v[0], next->items[1]);
    assert_string_equal(v[0]->normalized, "beta");
    assert_ptr_equal(v[1], next->items[2]);
    assert_string_equal(v[1]->normalized, "delta");
    free(v);

    /* Nothing changed: NULL and 0. */
    assert_int_equal(wf__recipes_changed(next, next, &v, &n), 0);
    assert_int_equal(n, 0);
    assert_null(v);

    /* No previous set: everything is new. */
    assert_int_equal(wf__recipes_changed(NULL, prev, &v, &n), 0);
    assert_int_equal(n, 3);
    free(v);
    wf_recipe_list_free(prev);
    wf_recipe_list_free(next);
}

/* Every field that reaches a build makes a recipe "changed", the versions, python tags and
 * platforms (which builds exist) included. */
static void test_changed_every_field_counts(void **state)
{
    (void)state;
    static const char base[] = "name: x\n"
                               "versions: [\"1.0\"]\n"
                               "source: {url: \"https://example.org/x-{version}.tar.gz\", sha256: "
                               "\"%s\"}\n"
                               "python: [%s]\n"
                               "platforms: [%s]\n"
                               "native: [{name: z, url: \"https://example.org/z.tgz\", sha256: "
                               "\"%s\", build: \"%s\"}]\n"
                               "environment: {A: \"%s\"}\n"
                               "before_build: \"%s\"\n"
                               "test_command: \"%s\"\n"
                               "timeout: %s\n";
    const char *h1 = "1111111111111111111111111111111111111111111111111111111111111111";
    const char *h2 = "2222222222222222222222222222222222222222222222222222222222222222";
    const char *a[] = {h1, "cp311", "linux/amd64", h1, "make", "1", "", "", "600"};
    char *first = wf_asprintf(base, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8]);
    wf_recipe_list *prev = parse("x.yaml", first);
    free(first);
    const char *alt[] = {h2,     "cp311, cp313", "linux/amd64, linux/arm64",
                         h2,     "make -j2",     "2",
                         "true", "python -c 1",  "700"};
    for (size_t field = 0; field < WF_ARRAY_SIZE(alt); field++) {
        const char *b[WF_ARRAY_SIZE(a)];
        memcpy(b, a, sizeof(a));
        b[field] = alt[field];
        char *yaml = wf_asprintf(base, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8]);
        wf_recipe_list *next = parse("x.yaml", yaml);
        const wf_recipe **v = NULL;
        size_t n = 0;
        assert_int_equal(wf__recipes_changed(prev, next, &v, &n), 0);
        if (n != 1)
            fail_msg("changing field %zu ('%s' -> '%s') was not seen as a change", field, a[field],
                     alt[field]);
        free(v);
        wf_recipe_list_free(next);
        free(yaml);
    }
    wf_recipe_list_free(prev);
}

/* A run keeps its own copy of its recipe, so a reload may free the list it came from. */
static void test_recipe_copy(void **state)
{
    (void)state;
    wf_recipe_list *l = parse("c.yaml", "name: c\nversions: [\"1\", \"2\"]\n"
                                        "source: {path: src}\n"
                                        "native: [{name: n, url: \"https://e.org/n.tgz\", "
                                        "sha256: \"1111111111111111111111111111111111111111111111"
                                        "111111111111111111\", build: make}]\n"
                                        "environment: {A: b, C: d}\n");
    wf_recipe *c = wf_recipe_copy(l->items[0]);
    char *want = wf_recipe_canonical(l->items[0]);
    assert_string_equal(c->file, "c.yaml");
    wf_recipe_list_free(l);
    char *got = wf_recipe_canonical(c);
    assert_string_equal(got, want);
    free(got);
    free(want);
    wf_recipe_free(c);
    wf_recipe_free(NULL);

    /* Every field the canonical form carries, including the limits and the tracking keys. */
    l = parse("t.yaml", "name: t\ntrack: \">=1.0,<2\"\nmin_age: 2d\nprereleases: true\n"
                        "source: {sdist: upstream}\ntimeout: 900\nidle_timeout: 60\n");
    c = wf_recipe_copy(l->items[0]);
    want = wf_recipe_canonical(l->items[0]);
    assert_int_equal(c->idle_timeout_s, 60);
    assert_string_equal(c->track, ">=1.0,<2");
    wf_recipe_list_free(l);
    got = wf_recipe_canonical(c);
    assert_string_equal(got, want);
    free(got);
    free(want);
    wf_recipe_free(c);
}

/* ---- a daemon on a private loop ---- */

typedef struct fixture {
    daemon_dirs dirs;
    uv_loop_t loop;
    wf_daemon *d;
} fixture;

static char *path_in(const fixture *f, const char *name)
{
    return wf_asprintf("%s/%s", f->dirs.recipes_dir, name);
}

/* Writes a recipe file the way editors that save atomically do: a temporary file renamed over
 * the old one. */
static void write_atomic(const fixture *f, const char *name, const char *yaml)
{
    char *p = path_in(f, name);
    assert_int_equal(wf_fs_write_atomic(p, yaml, strlen(yaml), 0644), 0);
    free(p);
}

/* Writes in place (truncate, write), as `echo >` and some editors do. */
static void write_in_place(const fixture *f, const char *name, const char *yaml)
{
    char *p = path_in(f, name);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    assert_int_equal(fwrite(yaml, 1, strlen(yaml), fp), strlen(yaml));
    assert_int_equal(fclose(fp), 0);
    free(p);
}

static void remove_file(const fixture *f, const char *name)
{
    char *p = path_in(f, name);
    assert_int_equal(unlink(p), 0);
    free(p);
}

static char *recipe_yaml(const char *name, const char *versions, const char *cflags)
{
    return wf_asprintf("name: %s\n"
                       "versions: [%s]\n"
                       "source: {sdist: upstream}\n"
                       "python: [cp311]\n"
                       "platforms: [linux/amd64]\n"
                       "environment: {CFLAGS: \"%s\"}\n",
                       name, versions, cflags);
}

static void write_recipe(const fixture *f, const char *file, const char *name, const char *versions,
                         const char *cflags)
{
    char *y = recipe_yaml(name, versions, cflags);
    write_atomic(f, file, y);
    free(y);
}

/* recipes: the recipes directory, or a file in it (the watcher's file mode). */
static wf_config *make_config(const fixture *f, const char *recipes)
{
    char *yaml = wf_asprintf("state_dir: %s\n"
                             "listen: {socket: %s, http: \"\"}\n"
                             "recipes: %s\n"
                             "watch_debounce_ms: 30\n"
                             "log_level: warn\n"
                             "shutdown_grace: 1\n"
                             "images:\n"
                             "  linux/amd64: {image: \"b:amd64\", python: [cp311]}\n"
                             "workers: []\n",
                             f->dirs.state_dir, f->dirs.sock, recipes);
    wf_config *c = daemon_fixture_parse_config(f->dirs.config_file, yaml);
    free(yaml);
    return c;
}

static int setup(void **state)
{
    fixture *f = wf_calloc(1, sizeof(*f));
    if (daemon_dirs_init(&f->dirs, "recipes") != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    int rc = daemon_dirs_release(&f->dirs);
    free(f);
    return rc;
}

static void start_daemon(fixture *f, const char *recipes)
{
    if (!have_docker)
        skip();
    f->d = daemon_fixture_up(&f->loop, make_config(f, recipes));
}

/* The jobs of the newest request, and that request's trigger kind and detail. */
typedef struct newest {
    int64_t request_id;
    wf_job_row *jobs;
    size_t n;
    char *kind, *detail;
} newest;

static int64_t newest_request_id(wf_daemon *d)
{
    wf_job_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(wf_store_jobs_list(d->store, NULL, 0, 1, &rows, &n), 0);
    int64_t id = n > 0 ? rows[0].request_id : 0;
    wf_job_rows_free(rows, n);
    return id;
}

static void newest_get(wf_daemon *d, newest *out)
{
    memset(out, 0, sizeof(*out));
    out->request_id = newest_request_id(d);
    assert_true(out->request_id > 0);
    assert_int_equal(wf_store_jobs_list(d->store, NULL, out->request_id, 0, &out->jobs, &out->n),
                     0);
    assert_int_equal(wf_store_request_get(d->store, out->request_id, &out->kind, NULL, NULL), 0);
    wf_request_origin o = {0};
    assert_int_equal(wf_store_request_origin(d->store, out->request_id, &o), 0);
    out->detail = o.detail != NULL ? wf_strdup(o.detail) : NULL;
    wf_request_origin_release(&o);
}

static void newest_release(newest *n)
{
    wf_job_rows_free(n->jobs, n->n);
    free(n->kind);
    free(n->detail);
}

static int64_t count_jobs(wf_daemon *d)
{
    int64_t n = 0;
    assert_int_equal(wf_store_count_jobs(d->store, WF_JOB_QUEUED, &n), 0);
    return n;
}

static const wf_recipe *find(wf_daemon *d, const char *name)
{
    return wf_recipe_list_find(d->recipes, name);
}

static const char *env_of(const wf_recipe *r)
{
    return r != NULL && r->n_environment > 0 ? r->environment[0].value : NULL;
}

/* Queues every build of the named recipe, as `wheelfarm build NAME` does. */
static void build_all(wf_daemon *d, const char *name)
{
    wf_plan_request req = {&name, 1, NULL, 0, NULL, 0};
    wf_plan plan = {NULL, 0};
    char *err = NULL;
    assert_int_equal(wf_plan_build(&plan, d->recipes, d->cfg, &req, &err), 0);
    wf_trigger t = {.kind = "cli", .user = "test"};
    assert_int_equal(wf__submit(d, &plan, &t, 0, NULL, NULL), 0);
    wf_plan_release(&plan);
}

static const wf_trigger watch_trigger = {.kind = "watch", .detail = "recipes changed: test"};

/* Reload semantics, called directly: only changed recipes get builds, an added version builds
 * only its own jobs, a broken file keeps the last good set and reports file:line:column, and
 * fixing it reloads. */
static void test_reload(void **state)
{
    fixture *f = *state;
    write_recipe(f, "a.yaml", "demo-a", "\"1.0\"", "-O2");
    write_recipe(f, "b.yaml", "demo-b", "\"1.0\"", "-O2");
    start_daemon(f, f->dirs.recipes_dir);
    wf_daemon *d = f->d;
    assert_int_equal(d->recipes->n, 2);
    assert_null(d->recipe_errors);
    assert_string_equal(d->recipes_source, f->dirs.recipes_dir);
    assert_true(d->recipes_loaded_at > 0);
    /* Start-up loads and schedules nothing. */
    assert_int_equal(count_jobs(d), 0);
    build_all(d, "demo-a");
    build_all(d, "demo-b");
    assert_int_equal(count_jobs(d), 2);

    /* Nothing changed: nothing scheduled, no request. */
    size_t changed = 99;
    int64_t before = newest_request_id(d);
    assert_int_equal(wf__recipes_reload(d, f->dirs.recipes_dir, &watch_trigger, &changed), 0);
    assert_int_equal(changed, 0);
    assert_int_equal(newest_request_id(d), before);

    /* demo-a gains a version: only 1.1 is queued (1.0's key is unchanged and already queued),
     * and nothing of demo-b. */
    write_recipe(f, "a.yaml", "demo-a", "\"1.0\", \"1.1\"", "-O2");
    assert_int_equal(wf__recipes_reload(d, f->dirs.recipes_dir, &watch_trigger, &changed), 0);
    assert_int_equal(changed, 1);
    newest n;
    newest_get(d, &n);
    assert_true(n.request_id > before);
    assert_string_equal(n.kind, "watch");
    assert_string_equal(n.detail, "recipes changed: test");
    assert_int_equal(n.n, 1);
    assert_string_equal(n.jobs[0].recipe, "demo-a");
    assert_string_equal(n.jobs[0].version, "1.1");
    newest_release(&n);
    assert_int_equal(count_jobs(d), 3);

    /* demo-b's environment changes: its build gets a new key and is queued again. */
    write_recipe(f, "b.yaml", "demo-b", "\"1.0\"", "-O3");
    assert_int_equal(wf__recipes_reload(d, f->dirs.recipes_dir, &watch_trigger, &changed), 0);
    assert_int_equal(changed, 1);
    newest_get(d, &n);
    assert_int_equal(n.n, 1);
    assert_string_equal(n.jobs[0].recipe, "demo-b");
    assert_string_equal(n.jobs[0].version, "1.0");
    newest_release(&n);
    assert_int_equal(count_jobs(d), 4);

    /* A broken file: the set in force stays (the same list), the problem is recorded with
     * file:line:column, nothing is scheduled. */
    const wf_recipe_list *good = d->recipes;
    int64_t last = newest_request_id(d);
    write_atomic(f, "a.yaml",
                 "name: demo-a\nversions: [\"9.0\"]\nsource: {sdist: upstream}\n"
                 "pyhton: [cp311]\n");
    assert_int_equal(wf__recipes_reload(d, f->dirs.recipes_dir, &watch_trigger, &changed),
                     WF_EINVAL);
    assert_ptr_equal(d->recipes, good);
    assert_int_equal(find(d, "demo-a")->n_versions, 2);
    assert_non_null(d->recipe_errors);
    char *want = wf_asprintf("%s/a.yaml:4:1: unknown key 'pyhton'", f->dirs.recipes_dir);
    if (strstr(d->recipe_errors, want) == NULL)
        fail_msg("recipe_errors '%s' lacks '%s'", d->recipe_errors, want);
    free(want);
    assert_int_equal(d->recipe_diags.n, 1);
    assert_int_equal(d->recipe_diags.items[0].line, 4);
    assert_int_equal(d->recipe_diags.items[0].column, 1);
    assert_int_equal(newest_request_id(d), last);

    /* Broken YAML, in the other file: still the same set, the position of the syntax error. */
    write_atomic(f, "b.yaml", "name: demo-b\nversions: [\"1.0\"\nsource: {sdist: upstream}\n");
    assert_int_equal(wf__recipes_reload(d, f->dirs.recipes_dir, &watch_trigger, &changed),
                     WF_EINVAL);
    assert_ptr_equal(d->recipes, good);
    assert_true(d->recipe_diags.n >= 2);
    assert_non_null(strstr(d->recipe_errors, "/b.yaml:"));

    /* Fixed, back to what was in force: reloaded, errors cleared, nothing to build. */
    write_recipe(f, "a.yaml", "demo-a", "\"1.0\", \"1.1\"", "-O2");
    write_recipe(f, "b.yaml", "demo-b", "\"1.0\"", "-O3");
    assert_int_equal(wf__recipes_reload(d, f->dirs.recipes_dir, &watch_trigger, &changed), 0);
    assert_int_equal(changed, 0);
    assert_null(d->recipe_errors);
    assert_int_equal(d->recipe_diags.n, 0);
    assert_int_equal(newest_request_id(d), last);

    /* A removed recipe leaves the set and schedules nothing; a new one is built. */
    remove_file(f, "b.yaml");
    write_recipe(f, "c.yaml", "demo-c", "\"3.0\"", "");
    assert_int_equal(wf__recipes_reload(d, f->dirs.recipes_dir, &watch_trigger, &changed), 0);
    assert_int_equal(changed, 1);
    assert_null(find(d, "demo-b"));
    newest_get(d, &n);
    assert_int_equal(n.n, 1);
    assert_string_equal(n.jobs[0].recipe, "demo-c");
    newest_release(&n);

    /* A python tag the image lacks: the set loads (it is valid) and the recipe is a warning,
     * not an error; nothing is queued for it. */
    int64_t queued = count_jobs(d);
    write_atomic(f, "c.yaml",
                 "name: demo-c\nversions: [\"3.0\"]\nsource: {sdist: upstream}\n"
                 "python: [cp312]\n");
    assert_int_equal(wf__recipes_reload(d, f->dirs.recipes_dir, &watch_trigger, &changed), 0);
    assert_null(d->recipe_errors);
    assert_int_equal(d->recipe_warnings.n, 1);
    assert_non_null(strstr(d->recipe_warnings.items[0].message, "cp312"));
    assert_int_equal(count_jobs(d), queued);
    /* Another recipe changes: demo-c is not planned again and keeps its warning. */
    write_recipe(f, "a.yaml", "demo-a", "\"1.0\", \"1.1\"", "-O1");
    assert_int_equal(wf__recipes_reload(d, f->dirs.recipes_dir, NULL, &changed), 0);
    assert_int_equal(changed, 1);
    assert_int_equal(d->recipe_warnings.n, 1);
    assert_non_null(strstr(d->recipe_warnings.items[0].file, "c.yaml"));
    assert_non_null(strstr(d->recipe_warnings.items[0].message, "cp312"));

    /* Start-up style (no trigger): loads, schedules nothing. */
    write_recipe(f, "c.yaml", "demo-c", "\"3.0\", \"3.1\"", "");
    assert_int_equal(wf__recipes_reload(d, f->dirs.recipes_dir, NULL, &changed), 0);
    assert_int_equal(changed, 1);
    assert_int_equal(d->recipe_warnings.n, 0);
    assert_int_equal(count_jobs(d), queued);
    /* Drained as SIGTERM would; the loop must close cleanly (the watcher's handles too). */
    daemon_fixture_stop(&f->loop, &f->d);
}

/* A broken recipe set at start-up stops the daemon with every problem in the message. */
static void test_broken_at_start(void **state)
{
    fixture *f = *state;
    if (!have_docker)
        skip();
    write_atomic(f, "a.yaml",
                 "name: demo-a\nversions: [\"1.0\"]\nsource: {sdist: upstream}\n"
                 "pyhton: [cp311]\n");
    assert_int_equal(uv_loop_init(&f->loop), 0);
    char *err = NULL;
    wf_daemon *d = NULL;
    int rc = wf_daemon_new(&d, &f->loop, make_config(f, f->dirs.recipes_dir), &err);
    assert_int_equal(rc, WF_ECONFIG);
    assert_null(d);
    assert_non_null(err);
    if (strstr(err, "a.yaml:4:1: unknown key 'pyhton' (did you mean 'python'?)") == NULL)
        fail_msg("start-up error lacks the position: %s", err);
    free(err);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

/* ---- the watcher, driven by a script of steps on the daemon's own loop ---- */

typedef struct step step;
struct step {
    const char *what;
    void (*act)(fixture *f); /* changes files; may be NULL */
    int (*done)(fixture *f); /* polled until true (or the step times out) */
};

typedef struct script {
    fixture *f;
    const step *steps;
    size_t n, at;
    int acted;
    uint64_t started;
    uv_timer_t poll;
    const char *failed; /* the step that timed out */
} script;

#define STEP_TIMEOUT_MS 5000

static void on_poll(uv_timer_t *t)
{
    script *s = t->data;
    fixture *f = s->f;
    while (s->at < s->n) {
        const step *st = &s->steps[s->at];
        if (!s->acted) {
            if (st->act != NULL)
                st->act(f);
            s->acted = 1;
            s->started = uv_now(t->loop);
        }
        if (!st->done(f)) {
            if (uv_now(t->loop) - s->started > STEP_TIMEOUT_MS) {
                s->failed = st->what;
                break;
            }
            return;
        }
        s->at++;
        s->acted = 0;
    }
    uv_close((uv_handle_t *)t, NULL);
    wf_daemon_shutdown(f->d);
}

static void run_script(fixture *f, const step *steps, size_t n)
{
    script s = {.f = f, .steps = steps, .n = n};
    uv_timer_init(&f->loop, &s.poll);
    s.poll.data = &s;
    uv_timer_start(&s.poll, on_poll, 10, 10);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    daemon_fixture_close(&f->loop, &f->d);
    if (s.failed != NULL)
        fail_msg("step '%s' did not happen within %d ms", s.failed, STEP_TIMEOUT_MS);
}

static int env_is(fixture *f, const char *name, const char *want)
{
    const char *v = env_of(find(f->d, name));
    return v != NULL && strcmp(v, want) == 0 && f->d->recipe_errors == NULL;
}

/* The newest request is the watcher's and holds exactly these jobs (recipe==version ...). */
static int newest_is_watch(fixture *f, const char *detail_has, const char *const *jobs, size_t n)
{
    newest w;
    newest_get(f->d, &w);
    int ok = strcmp(w.kind, "watch") == 0 && w.detail != NULL &&
             strstr(w.detail, detail_has) != NULL && w.n == n;
    for (size_t i = 0; ok && i < n; i++) {
        char *have = wf_asprintf("%s==%s", w.jobs[i].recipe, w.jobs[i].version);
        int found = 0;
        for (size_t k = 0; k < n; k++)
            found |= strcmp(have, jobs[k]) == 0;
        ok = found;
        free(have);
    }
    if (!ok)
        fprintf(stderr, "newest request %lld: kind %s, detail '%s', %zu job(s)\n",
                (long long)w.request_id, w.kind, w.detail ? w.detail : "(null)", w.n);
    newest_release(&w);
    return ok;
}

/* Directory mode. */
static void act_edit_atomic(fixture *f)
{
    write_recipe(f, "a.yaml", "demo-a", "\"1.0\"", "-O3");
}
static int done_edit_atomic(fixture *f)
{
    if (!env_is(f, "demo-a", "-O3"))
        return 0;
    static const char *const jobs[] = {"demo-a==1.0"};
    assert_true(newest_is_watch(f, "a.yaml", jobs, 1));
    assert_string_equal(env_of(find(f->d, "demo-b")), "-O2");
    return 1;
}
static void act_edit_in_place(fixture *f)
{
    char *y = recipe_yaml("demo-b", "\"1.0\", \"1.1\"", "-O2");
    write_in_place(f, "b.yaml", y);
    free(y);
}
static int done_edit_in_place(fixture *f)
{
    const wf_recipe *b = find(f->d, "demo-b");
    if (b == NULL || b->n_versions != 2)
        return 0;
    /* Only the added version: 1.0's key did not change. */
    static const char *const jobs[] = {"demo-b==1.1"};
    assert_true(newest_is_watch(f, "b.yaml", jobs, 1));
    return 1;
}
static void act_break(fixture *f)
{
    write_atomic(f, "a.yaml",
                 "name: demo-a\nversions: [\"1.0\"]\nsource: {sdist: upstream}\n"
                 "environment: {CFLAGS: \"-O1\"}\nbogus: 1\n");
}
static int done_break(fixture *f)
{
    if (f->d->recipe_errors == NULL)
        return 0;
    assert_non_null(strstr(f->d->recipe_errors, "a.yaml:5:1: unknown key 'bogus'"));
    assert_string_equal(env_of(find(f->d, "demo-a")), "-O3");
    return 1;
}
static void act_fix(fixture *f)
{
    write_recipe(f, "a.yaml", "demo-a", "\"1.0\"", "-O1");
}
static int done_fix(fixture *f)
{
    if (!env_is(f, "demo-a", "-O1"))
        return 0;
    static const char *const jobs[] = {"demo-a==1.0"};
    assert_true(newest_is_watch(f, "a.yaml", jobs, 1));
    return 1;
}
/* Editors' temporary files are not recipe files; a new file is read, a deleted one leaves. */
static void act_new_and_delete(fixture *f)
{
    write_atomic(f, ".c.yaml.swp", "not: [yaml");
    write_recipe(f, "c.yaml", "demo-c", "\"1.0\"", "");
    remove_file(f, "b.yaml");
}
static int done_new_and_delete(fixture *f)
{
    if (find(f->d, "demo-c") == NULL || find(f->d, "demo-b") != NULL)
        return 0;
    assert_null(f->d->recipe_errors);
    static const char *const jobs[] = {"demo-c==1.0"};
    assert_true(newest_is_watch(f, "c.yaml", jobs, 1));
    return 1;
}

static void test_watch_directory(void **state)
{
    fixture *f = *state;
    write_recipe(f, "a.yaml", "demo-a", "\"1.0\"", "-O2");
    write_recipe(f, "b.yaml", "demo-b", "\"1.0\"", "-O2");
    start_daemon(f, f->dirs.recipes_dir);
    assert_true(f->d->watch.enabled && f->d->watch.armed && f->d->watch.is_dir);
    build_all(f->d, "demo-a");
    build_all(f->d, "demo-b");
    static const step steps[] = {
        {"an atomic save (temp file renamed over it) is reloaded", act_edit_atomic,
         done_edit_atomic},
        {"an in-place write is reloaded; only the added version is queued", act_edit_in_place,
         done_edit_in_place},
        {"a broken save keeps the set and reports file:line:column", act_break, done_break},
        {"fixing it reloads", act_fix, done_fix},
        {"a new file is read, a deleted one leaves, swap files are ignored", act_new_and_delete,
         done_new_and_delete},
    };
    run_script(f, steps, WF_ARRAY_SIZE(steps));
}

/* File mode: `recipes` names one file. Atomic saves replace its inode, so the watch must move
 * to the new file each time; a deleted file is reported and picked up again when it returns. */
static char *single_file;

static void act_file_save1(fixture *f)
{
    write_recipe(f, "all.yaml", "demo-a", "\"1.0\"", "-O3");
}
static int done_file_save1(fixture *f)
{
    return env_is(f, "demo-a", "-O3");
}
static void act_file_save2(fixture *f)
{
    write_recipe(f, "all.yaml", "demo-a", "\"1.0\"", "-O1");
}
static int done_file_save2(fixture *f)
{
    if (!env_is(f, "demo-a", "-O1"))
        return 0;
    static const char *const jobs[] = {"demo-a==1.0"};
    assert_true(newest_is_watch(f, "all.yaml", jobs, 1));
    return 1;
}
static void act_file_delete(fixture *f)
{
    remove_file(f, "all.yaml");
}
static int done_file_delete(fixture *f)
{
    if (f->d->recipe_errors == NULL)
        return 0;
    assert_non_null(strstr(f->d->recipe_errors, "cannot read recipes"));
    assert_non_null(find(f->d, "demo-a"));
    return 1;
}
static void act_file_recreate(fixture *f)
{
    write_in_place(f, "all.yaml",
                   "name: demo-a\nversions: [\"1.0\"]\n"
                   "source: {sdist: upstream}\n"
                   "environment: {CFLAGS: \"-Os\"}\n");
}
static int done_file_recreate(fixture *f)
{
    return env_is(f, "demo-a", "-Os");
}
static void act_file_save3(fixture *f)
{
    write_recipe(f, "all.yaml", "demo-a", "\"1.0\"", "-Og");
}
static int done_file_save3(fixture *f)
{
    return env_is(f, "demo-a", "-Og");
}

static void test_watch_file(void **state)
{
    fixture *f = *state;
    write_recipe(f, "all.yaml", "demo-a", "\"1.0\"", "-O2");
    single_file = path_in(f, "all.yaml");
    start_daemon(f, single_file);
    assert_true(f->d->watch.armed && !f->d->watch.is_dir);
    static const step steps[] = {
        {"the first atomic save is reloaded", act_file_save1, done_file_save1},
        {"the second atomic save too (the watch moved to the new file)", act_file_save2,
         done_file_save2},
        {"deleting the file is reported and keeps the set", act_file_delete, done_file_delete},
        {"re-creating it is noticed", act_file_recreate, done_file_recreate},
        {"and it is watched again afterwards", act_file_save3, done_file_save3},
    };
    run_script(f, steps, WF_ARRAY_SIZE(steps));
    free(single_file);
    single_file = NULL;
}

int main(void)
{
    if (wf_hash_init() != 0)
        return 1;
    /* Without one, only the daemon tests are skipped. */
    have_docker = daemon_fixture_have_docker("test-recipes (its daemon tests)");
    /* Keep the suite quiet: the daemon logs reloads at info. */
    wf_log_set_level(WF_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_changed_new_changed_unchanged_removed),
        cmocka_unit_test(test_changed_every_field_counts),
        cmocka_unit_test(test_recipe_copy),
        cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_at_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
