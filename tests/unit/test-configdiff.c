/* test-configdiff.c - unit tests for lib/configdiff.c: what a reload changes (workers added,
 * removed, changed, updated in place), the settings that need a restart, worker copies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/configdiff.h"

#define CONF "/etc/wf/wheelfarm.yaml"

static wf_config *parse(const char *yaml)
{
    wf_config *c = NULL;
    wf_diag_list d = {0};
    int err = wf_config_parse(&c, CONF, yaml, strlen(yaml), &d);
    for (size_t i = 0; i < d.n; i++) {
        char *s = wf_diag_format(&d.items[i]);
        fprintf(stderr, "%s\n", s);
        free(s);
    }
    wf_diag_list_release(&d);
    assert_int_equal(err, 0);
    return c;
}

/* "name:kind" for each change, space-separated. */
static char *describe(const wf_config *a, const wf_config *b)
{
    wf_worker_change *v = NULL;
    size_t n = 0;
    wf_config_diff_workers(a, b, &v, &n);
    wf_buf out = WF_BUF_INIT;
    wf_buf_add(&out, "", 0);
    for (size_t i = 0; i < n; i++) {
        wf_buf_addf(&out, "%s%s:%s", i ? " " : "", v[i].name, wf_worker_change_name(v[i].kind));
        /* before/after point at the right configurations' entries. */
        if (v[i].before != NULL)
            assert_ptr_equal(v[i].before, wf_config_worker(a, v[i].name));
        if (v[i].after != NULL)
            assert_ptr_equal(v[i].after, wf_config_worker(b, v[i].name));
        assert_true(v[i].kind == WF_WORKER_ADDED ? v[i].before == NULL : v[i].before != NULL);
        assert_true(v[i].kind == WF_WORKER_REMOVED ? v[i].after == NULL : v[i].after != NULL);
    }
    free(v);
    return wf_buf_detach(&out);
}

static const char base[] =
    "workers:\n"
    "  - {name: keep, endpoint: \"unix:///var/run/docker.sock\", slots: 2, labels: [a]}\n"
    "  - {name: tune, endpoint: \"unix:///var/run/docker.sock\", slots: 1, labels: [x]}\n"
    "  - {name: move, endpoint: \"tcp://10.0.0.1:2376\", tls: false}\n"
    "  - {name: emu, platforms: [linux/amd64], emulated: false}\n"
    "  - {name: gone, context: old}\n";

static void test_diff_workers(void **state)
{
    (void)state;
    wf_config *a = parse(base);
    wf_config *b = parse(
        "workers:\n"
        "  - {name: added, context: new-one}\n"
        "  - {name: move, endpoint: \"tcp://10.0.0.2:2376\", tls: false}\n"
        "  - {name: keep, endpoint: \"unix:///var/run/docker.sock\", slots: 2, labels: [a]}\n"
        "  - {name: tune, endpoint: \"unix:///var/run/docker.sock\", slots: 4, labels: [x, y]}\n"
        "  - {name: emu, platforms: [linux/amd64], emulated: true}\n");
    char *s = describe(a, b);
    /* The new order first, then the removed ones. */
    assert_string_equal(s, "added:added move:changed keep:kept tune:updated emu:changed "
                           "gone:removed");
    free(s);
    s = describe(a, a);
    assert_string_equal(s, "keep:kept tune:kept move:kept emu:kept gone:kept");
    free(s);
    wf_config *none = parse("workers: []\n");
    s = describe(a, none);
    assert_string_equal(s, "keep:removed tune:removed move:removed emu:removed gone:removed");
    free(s);
    s = describe(none, none);
    assert_string_equal(s, "");
    free(s);
    /* Platforms, driver and builder are part of the target; an endpoint that becomes a context
     * too. */
    wf_config *c = parse("workers:\n"
                         "  - {name: keep, context: local, slots: 2, labels: [a]}\n"
                         "  - {name: tune, endpoint: \"unix:///var/run/docker.sock\", slots: 1,\n"
                         "     labels: [x], platforms: [linux/amd64, linux/arm64]}\n");
    s = describe(a, c);
    assert_string_equal(s, "keep:changed tune:changed move:removed emu:removed gone:removed");
    free(s);
    wf_config_free(a);
    wf_config_free(b);
    wf_config_free(c);
    wf_config_free(none);
}

static void test_copies(void **state)
{
    (void)state;
    wf_config *a = parse(base);
    const wf_worker_config *w = wf_config_worker(a, "keep");
    wf_worker_config *copy = wf_worker_config_dup(w);
    wf_config_free(a); /* the copy owns everything it points at */
    assert_string_equal(copy->name, "keep");
    assert_string_equal(copy->driver, "docker");
    assert_string_equal(copy->endpoint, "unix:///var/run/docker.sock");
    assert_null(copy->context);
    assert_null(copy->builder);
    assert_int_equal(copy->n_platforms, 1);
    assert_string_equal(copy->platforms[0], "linux/amd64");
    assert_int_equal(copy->slots, 2);
    assert_int_equal(copy->n_labels, 1);
    assert_string_equal(copy->labels[0], "a");
    wf_worker_config *again = wf_worker_config_dup(copy);
    assert_true(wf_worker_config_equal(copy, again));
    again->slots = 3;
    assert_false(wf_worker_config_equal(copy, again));
    assert_true(wf_worker_config_same_target(copy, again));
    wf_worker_config_free(again);
    wf_worker_config_free(copy);
    wf_worker_config_free(NULL);
}

static void test_restart_keys(void **state)
{
    (void)state;
    wf_config *a = parse(base);
    wf_config *same = parse("log_level: debug\nshutdown_grace: 5\nworkers: []\n");
    /* Workers, log_level and shutdown_grace change at runtime. */
    assert_null(wf_config_restart_keys(a, same));
    wf_config *b = parse("state_dir: /srv/other\n"
                         "listen: {http: \"127.0.0.1:9999\"}\n"
                         "docker: /usr/bin/docker\n"
                         "images:\n"
                         "  linux/amd64: {image: x, python: [cp311]}\n"
                         "  linux/arm64: {image: \"wheelfarm/builder:bookworm-arm64\",\n"
                         "                runtime: \"wheelfarm/runtime:bookworm-arm64\"}\n");
    char *keys = wf_config_restart_keys(a, b);
    /* The socket and the token file follow state_dir when not given, so they changed too. */
    assert_string_equal(keys, "state_dir, listen.socket, listen.http, api_token_file, docker, "
                              "images");
    free(keys);
    /* The settings of leases, retries, watching, the recipe repository and bumps are read once
     * at start. */
    wf_config *c = parse("watch_debounce_ms: 500\n"
                         "lease_seconds: 30\n"
                         "idle_timeout: 60\n"
                         "infra_retries: 1\n"
                         "retry_backoff: 5\n"
                         "schedule: {bump: \"0 4 * * *\"}\n"
                         "bump: {max_builds: 3}\n");
    keys = wf_config_restart_keys(a, c);
    assert_string_equal(keys, "watch_debounce_ms, lease_seconds, idle_timeout, infra_retries, "
                              "retry_backoff, schedule.bump, bump.max_builds");
    free(keys);
    wf_config *g1 = parse("recipes: {git: \"git://127.0.0.1/r.git\", poll: 60}\n");
    wf_config *g2 = parse("recipes: {git: \"git://127.0.0.1/r.git\", poll: 30}\n");
    keys = wf_config_restart_keys(g1, g2);
    assert_string_equal(keys, "recipes");
    free(keys);
    assert_null(wf_config_restart_keys(g1, g1));
    wf_config_free(a);
    wf_config_free(same);
    wf_config_free(b);
    wf_config_free(c);
    wf_config_free(g1);
    wf_config_free(g2);
}

static void test_worker_images(void **state)
{
    (void)state;
    wf_config *in_force = parse("images: {linux/amd64: a}\nworkers: []\n");
    wf_config *next = parse("workers:\n  - {name: arm, platforms: [linux/arm64]}\n");
    char *err = NULL;
    assert_int_equal(wf_config_check_worker_images(in_force, next, &err), WF_EINVAL);
    assert_string_equal(err, "worker 'arm' builds for linux/arm64, but the images in force have "
                             "no entry for it (changing images needs a restart)");
    free(err);
    assert_int_equal(wf_config_check_worker_images(next, next, &err), 0);
    wf_config_free(in_force);
    wf_config_free(next);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diff_workers),
        cmocka_unit_test(test_copies),
        cmocka_unit_test(test_restart_keys),
        cmocka_unit_test(test_worker_images),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
