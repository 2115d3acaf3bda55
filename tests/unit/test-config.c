/* test-config.c - unit tests for lib/config.c: defaults, a full file, path resolution, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/config.h"

#define CONF "/etc/wf/wheelfarm.yaml"

static char *joined(const wf_diag_list *d)
{
    wf_buf b = WF_BUF_INIT;
    for (size_t i = 0; i < d->n; i++) {
        char *s = wf_diag_format(&d->items[i]);
        wf_buf_addf(&b, "%s\n", s);
        free(s);
    }
    return wf_buf_detach(&b);
}

static wf_config *parse_ok(const char *yaml)
{
    wf_config *c = NULL;
    wf_diag_list d = {0};
    int err = wf_config_parse(&c, CONF, yaml, strlen(yaml), &d);
    if (err != 0) {
        char *all = joined(&d);
        fprintf(stderr, "unexpected errors:\n%s", all);
        free(all);
    }
    assert_int_equal(err, 0);
    assert_int_equal(d.n, 0);
    return c;
}

static void expect_errors(const char *yaml, const char *want)
{
    wf_config *c = (wf_config *)0x1;
    wf_diag_list d = {0};
    char *all;

    assert_int_equal(wf_config_parse(&c, CONF, yaml, strlen(yaml), &d), WF_EINVAL);
    assert_ptr_equal(c, (wf_config *)0x1);
    all = joined(&d);
    assert_string_equal(all, want);
    free(all);
    wf_diag_list_release(&d);
}

static void test_defaults(void **state)
{
    (void)state;
    wf_config *c = NULL;
    wf_diag_list d = {0};
    char cwd[4096], *want;
    const wf_image_config *img;

    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(wf_config_load(&c, NULL, &d), 0);
    assert_int_equal(d.n, 0);
    assert_string_equal(c->file, "<defaults>");
    want = wf_asprintf("%s/var", cwd);
    assert_string_equal(c->state_dir, want);
    free(want);
    want = wf_asprintf("%s/var/wheelfarm.sock", cwd);
    assert_string_equal(c->socket_path, want);
    free(want);
    want = wf_asprintf("%s/var/api-token", cwd);
    assert_string_equal(c->api_token_file, want);
    free(want);
    want = wf_asprintf("%s/recipes", cwd);
    assert_string_equal(c->recipes, want);
    free(want);
    assert_string_equal(c->http_addr, "127.0.0.1:8780");
    assert_string_equal(c->upstream_index, "");
    assert_string_equal(c->docker, "");
    assert_string_equal(c->log_level, "info");
    assert_int_equal(c->shutdown_grace_s, 30);
    assert_int_equal(c->n_images, 2);
    img = wf_config_image(c, "linux/arm64");
    assert_non_null(img);
    assert_string_equal(img->image, "wheelfarm/builder:bookworm-arm64");
    assert_int_equal(img->n_python, 1);
    assert_string_equal(img->python[0], "cp311");
    assert_string_equal(img->runtime, "wheelfarm/runtime:bookworm-arm64");
    img = wf_config_image(c, "linux/amd64");
    assert_string_equal(img->image, "wheelfarm/builder:bookworm-amd64");
    assert_string_equal(img->runtime, "wheelfarm/runtime:bookworm-amd64");
    assert_int_equal(img->n_python, 2);
    assert_string_equal(img->python[0], "cp311");
    assert_string_equal(img->python[1], "cp313");
    assert_null(wf_config_image(c, "linux/riscv64"));
    assert_int_equal(c->n_workers, 1);
    assert_string_equal(c->workers[0].name, "local");
    assert_string_equal(c->workers[0].driver, "docker");
    assert_string_equal(c->workers[0].endpoint, "unix:///var/run/docker.sock");
    assert_null(c->workers[0].builder);
    assert_int_equal(c->workers[0].n_platforms, 1);
    assert_string_equal(c->workers[0].platforms[0], "linux/amd64");
    assert_int_equal(c->workers[0].slots, 2);
    assert_int_equal(c->workers[0].emulated, 0);
    assert_ptr_equal(wf_config_worker(c, "local"), &c->workers[0]);
    assert_null(wf_config_worker(c, "remote"));
    wf_config_free(c);
}

static void test_full(void **state)
{
    (void)state;
    wf_config *c =
        parse_ok("state_dir: ../../srv/wf\n"
                 "listen: {socket: run/wf.sock, http: \"[::1]:0\"}\n"
                 "recipes: /opt/recipes/kafka.yaml\n"
                 "upstream_index: \"http://127.0.0.1:9999/simple/\"\n"
                 "api_token_file: secrets/token\n"
                 "docker: /usr/bin/docker\n"
                 "log_level: debug\n"
                 "shutdown_grace: 0\n"
                 "images:\n"
                 "  linux/amd64: {image: \"builder:amd64\", python: [cp311, cp312],\n"
                 "                runtime: rt:amd64}\n"
                 "  linux/arm64: builder:arm64\n"
                 "workers:\n"
                 "  - {name: local, driver: docker, endpoint: \"unix:///var/run/docker.sock\",\n"
                 "     platforms: [linux/amd64], slots: 2, emulated: false}\n"
                 "  - name: graviton-1\n"
                 "    driver: buildx\n"
                 "    builder: arm\n"
                 "    platforms: [linux/arm64]\n"
                 "    slots: 64\n"
                 "    emulated: true\n"
                 "  - {name: plain}\n");
    const wf_image_config *img;

    assert_string_equal(c->file, CONF);
    assert_string_equal(c->state_dir, "/srv/wf");
    assert_string_equal(c->socket_path, "/etc/wf/run/wf.sock");
    assert_string_equal(c->http_addr, "[::1]:0");
    assert_string_equal(c->recipes, "/opt/recipes/kafka.yaml");
    assert_string_equal(c->upstream_index, "http://127.0.0.1:9999/simple/");
    assert_string_equal(c->api_token_file, "/etc/wf/secrets/token");
    assert_string_equal(c->docker, "/usr/bin/docker");
    assert_string_equal(c->log_level, "debug");
    assert_int_equal(c->shutdown_grace_s, 0);

    assert_int_equal(c->n_images, 2);
    img = wf_config_image(c, "linux/amd64");
    assert_string_equal(img->image, "builder:amd64");
    assert_int_equal(img->n_python, 2);
    assert_string_equal(img->python[1], "cp312");
    assert_string_equal(img->runtime, "rt:amd64");
    img = wf_config_image(c, "linux/arm64");
    assert_string_equal(img->image, "builder:arm64");
    assert_null(img->runtime);
    assert_int_equal(img->n_python, 1);
    assert_string_equal(img->python[0], "cp311");

    assert_int_equal(c->n_workers, 3);
    assert_string_equal(c->workers[1].name, "graviton-1");
    assert_string_equal(c->workers[1].driver, "buildx");
    assert_string_equal(c->workers[1].builder, "arm");
    assert_null(c->workers[1].endpoint);
    assert_string_equal(c->workers[1].platforms[0], "linux/arm64");
    assert_int_equal(c->workers[1].slots, 64);
    assert_int_equal(c->workers[1].emulated, 1);
    /* Worker defaults. */
    assert_string_equal(c->workers[2].driver, "docker");
    assert_null(c->workers[2].endpoint);
    assert_int_equal(c->workers[2].slots, 1);
    assert_string_equal(c->workers[2].platforms[0], "linux/amd64");
    wf_config_free(c);
}

/* Settings that depend on state_dir follow it when not given; http "" disables TCP. */
static void test_partial(void **state)
{
    (void)state;
    wf_config *c = parse_ok("state_dir: /srv/wf\nlisten: {http: \"\"}\ndocker: docker\n");

    assert_string_equal(c->state_dir, "/srv/wf");
    assert_string_equal(c->socket_path, "/srv/wf/wheelfarm.sock");
    assert_string_equal(c->api_token_file, "/srv/wf/api-token");
    assert_string_equal(c->http_addr, "");
    assert_string_equal(c->recipes, "/etc/wf/recipes");
    assert_string_equal(c->docker, "docker"); /* a bare name is looked up in PATH later */
    assert_int_equal(c->n_workers, 1);
    wf_config_free(c);

    c = parse_ok("# empty\n");
    assert_string_equal(c->state_dir, "/etc/wf/var");
    assert_string_equal(c->http_addr, "127.0.0.1:8780");
    wf_config_free(c);

    c = parse_ok("listen: {socket: /run/wf.sock}\nworkers: []\n");
    assert_string_equal(c->socket_path, "/run/wf.sock");
    assert_string_equal(c->http_addr, "127.0.0.1:8780");
    assert_int_equal(c->n_workers, 0);
    wf_config_free(c);
}

static void test_errors_top(void **state)
{
    (void)state;
    expect_errors("stat_dir: ./var\nlog_lvl: info\nbogus: 1\n",
                  CONF ":1:1: unknown key 'stat_dir' (did you mean 'state_dir'?)\n" CONF
                       ":2:1: unknown key 'log_lvl' (did you mean 'log_level'?)\n" CONF
                       ":3:1: unknown key 'bogus'\n");
    expect_errors("listen: {sokcet: x, http: \"localhost\"}\n",
                  CONF ":1:10: unknown key 'sokcet' (did you mean 'socket'?)\n" CONF
                       ":1:27: 'http': expected \"host:port\" such as \"127.0.0.1:8780\" (port 0 "
                       "picks a free one; \"\" disables TCP), got 'localhost'\n");
    expect_errors("listen: {http: \"127.0.0.1:70000\"}\n",
                  CONF ":1:16: 'http': expected \"host:port\" such as \"127.0.0.1:8780\" (port 0 "
                       "picks a free one; \"\" disables TCP), got '127.0.0.1:70000'\n");
    expect_errors("listen: {http: \"::1:80\"}\n",
                  CONF ":1:16: 'http': expected \"host:port\" such as \"127.0.0.1:8780\" (port 0 "
                       "picks a free one; \"\" disables TCP), got '::1:80'\n");
    expect_errors("log_level: loud\nshutdown_grace: -1\nupstream_index: ftp://x\nstate_dir: \"\"\n",
                  CONF ":4:12: 'state_dir' must not be empty\n" CONF
                       ":3:17: 'upstream_index': expected an http:// or https:// URL or \"\", "
                       "got 'ftp://x'\n" CONF
                       ":1:12: invalid log_level 'loud' (allowed: error, warn, info, debug)\n" CONF
                       ":2:17: 'shutdown_grace': expected a whole number from 0 to 3600, got "
                       "'-1'\n");
    expect_errors("- a\n", CONF ":1:1: expected a mapping of settings, got a list\n");
    expect_errors("a: [\n", CONF ":2:1: YAML syntax error: did not find expected node content "
                                 "(while parsing a flow node at line 2, column 1)\n");
}

static void test_errors_images(void **state)
{
    (void)state;
    expect_errors("images:\n  linux/amd46: x\n  linux/arm64: {image: y, pyton: [cp311]}\n",
                  CONF ":2:3: unknown key 'linux/amd46' (did you mean 'linux/amd64'?)\n" CONF
                       ":3:27: unknown key 'pyton' (did you mean 'python'?)\n" CONF
                       ":2:3: worker 'local' builds for 'linux/amd64' but images has no entry for "
                       "it (add images: {linux/amd64: IMAGE})\n");
    expect_errors("images:\n  linux/amd64: {python: [cp2]}\n  linux/arm64: [x]\n",
                  CONF ":2:16: missing required key 'image'\n" CONF
                       ":2:26: invalid python tag 'cp2' (allowed: cp3X or pp3X tags such as "
                       "cp311, cp312, pp310)\n" CONF
                       ":3:16: 'linux/arm64': expected an image name or a mapping {image, "
                       "runtime, python}, got a list\n");
    expect_errors("images:\n  linux/amd64: {image: b, runtime: \"\"}\n",
                  CONF ":2:36: 'linux/amd64': the runtime image name must not be empty (leave the "
                       "key out to test in the builder image)\n");
    expect_errors("images: [a]\n",
                  CONF ":1:9: 'images': expected a mapping of platform to image, got a list\n" CONF
                       ":1:9: worker 'local' builds for 'linux/amd64' but images has no entry for "
                       "it (add images: {linux/amd64: IMAGE})\n");
}

static void test_errors_workers(void **state)
{
    (void)state;
    expect_errors("images: {linux/amd64: a}\n"
                  "workers:\n"
                  "  - {name: Local_1, driver: podman, slots: 0}\n"
                  "  - {name: b, driver: buildx, slot: 2}\n"
                  "  - {name: c, builder: x, platforms: [linux/arm64, linux/s390x]}\n"
                  "  - {name: b, slots: 65, emulated: maybe}\n"
                  "  - {driver: docker}\n"
                  "  - just-a-name\n",
                  CONF ":3:12: invalid worker name 'Local_1' (use [a-z0-9-]+)\n" CONF
                       ":3:29: invalid driver 'podman' (allowed: docker, buildx)\n" CONF
                       ":3:44: 'slots': expected a whole number from 1 to 64, got '0'\n" CONF
                       ":4:31: unknown key 'slot' (did you mean 'slots'?)\n" CONF
                       ":4:5: driver buildx needs 'builder' (the name of a `docker buildx` "
                       "builder)\n" CONF ":5:24: 'builder' only applies to driver buildx\n" CONF
                       ":5:52: invalid platform 'linux/s390x' (allowed: linux/amd64, "
                       "linux/arm64)\n" CONF
                       ":6:22: 'slots': expected a whole number from 1 to 64, got '65'\n" CONF
                       ":6:36: 'emulated': expected true or false, got 'maybe'\n" CONF
                       ":6:12: duplicate worker name 'b' (first at line 4)\n" CONF
                       ":7:5: missing required key 'name'\n" CONF
                       ":8:5: 'workers': expected a list of mappings, but this item is a "
                       "string\n");
    expect_errors("images: {linux/amd64: a}\n"
                  "workers:\n"
                  "  - {name: arm, platforms: [linux/amd64, linux/arm64]}\n",
                  CONF ":3:42: worker 'arm' builds for 'linux/arm64' but images has no entry for "
                       "it (add images: {linux/arm64: IMAGE})\n");
}

static void test_load_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/wf-config-XXXXXX";
    char *path, *want, *all;
    wf_config *c = NULL;
    wf_diag_list d = {0};
    FILE *f;

    assert_non_null(mkdtemp(dir));
    path = wf_asprintf("%s/wf.yaml", dir);
    assert_int_equal(wf_config_load(&c, path, &d), WF_EINVAL);
    assert_null(c);
    all = joined(&d);
    want = wf_asprintf("%s: cannot read file: no such file or directory\n", path);
    assert_string_equal(all, want);
    free(all);
    free(want);
    wf_diag_list_release(&d);

    f = fopen(path, "w");
    assert_non_null(f);
    fputs("state_dir: state\nrecipes: ./r\n", f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(wf_config_load(&c, path, &d), 0);
    assert_int_equal(d.n, 0);
    assert_string_equal(c->file, path);
    want = wf_asprintf("%s/state", dir);
    assert_string_equal(c->state_dir, want);
    free(want);
    want = wf_asprintf("%s/state/wheelfarm.sock", dir);
    assert_string_equal(c->socket_path, want);
    free(want);
    want = wf_asprintf("%s/r", dir);
    assert_string_equal(c->recipes, want);
    free(want);
    wf_config_free(c);
    unlink(path);
    rmdir(dir);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),      cmocka_unit_test(test_full),
        cmocka_unit_test(test_partial),       cmocka_unit_test(test_errors_top),
        cmocka_unit_test(test_errors_images), cmocka_unit_test(test_errors_workers),
        cmocka_unit_test(test_load_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
