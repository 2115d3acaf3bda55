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

/* 64 hex digits of one character (a valid sha256 when it is 0-9 or a-f). */
#define H16(c) c c c c c c c c c c c c c c c c
#define H64(c) H16(c) H16(c) H16(c) H16(c)
#define HA H64("a")
#define HB H64("b")
#define HC H64("c")
#define HD H64("d")
#define HE H64("e")
#define HA_UPPER H64("A")

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
    assert_int_equal(c->watch_debounce_ms, 300);
    assert_int_equal(c->lease_s, 60);
    assert_int_equal(c->idle_timeout_s, 1200);
    assert_int_equal(c->infra_retries, 3);
    assert_int_equal(c->retry_backoff_s, 10);
    assert_int_equal(c->n_images, 2);
    img = wf_config_image(c, "linux/arm64");
    assert_non_null(img);
    assert_string_equal(img->image, "wheelfarm/builder:bookworm-arm64");
    assert_int_equal(img->n_python, 2);
    assert_string_equal(img->python[0], "cp311");
    assert_string_equal(img->python[1], "cp313");
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
    /* The defaults declare no substitute: replacing a pinned file is always an operator's
     * explicit choice. */
    assert_int_equal(c->n_substitutes, 0);
    assert_null(wf_config_substitute(c, HA));
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
                 "lease_seconds: 15\n"
                 "idle_timeout: 600\n"
                 "infra_retries: 0\n"
                 "retry_backoff: 2\n"
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
    assert_int_equal(c->lease_s, 15);
    assert_int_equal(c->idle_timeout_s, 600);
    assert_int_equal(c->infra_retries, 0);
    assert_int_equal(c->retry_backoff_s, 2);

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

/* schedule.bump and bump.max_builds: defaults, values, and errors at their positions (a cron
 * error points at the column inside the quoted text). */
static void test_bump(void **state)
{
    (void)state;
    wf_config *c = parse_ok("workers: []\n");
    assert_string_equal(c->bump_schedule, "0 3 * * *");
    assert_int_equal(c->bump_max_builds, 10);
    assert_true(c->bump_cron.hours == (1u << 3) && c->bump_cron.minutes == 1u);
    wf_config_free(c);
    c = parse_ok("workers: []\nschedule: {bump: \"*/15 2 * * mon\"}\nbump: {max_builds: 3}\n");
    assert_string_equal(c->bump_schedule, "*/15 2 * * mon");
    assert_int_equal(c->bump_max_builds, 3);
    assert_int_equal(c->bump_cron.wdays, 1u << 1);
    wf_config_free(c);
    /* "" turns the schedule off; an empty section keeps the defaults. */
    c = parse_ok("workers: []\nschedule: {bump: \"\"}\nbump: {}\n");
    assert_string_equal(c->bump_schedule, "");
    assert_int_equal(c->bump_max_builds, 10);
    wf_config_free(c);

    expect_errors("workers: []\nschedule: {bump: \"61 3 * * *\", nightly: 1}\n",
                  CONF ":2:32: unknown key 'nightly'\n" CONF
                       ":2:19: 'schedule.bump': invalid cron schedule '61 3 * * *', minute "
                       "field: 61 is out of range 0-59 (five fields: minute hour day-of-month "
                       "month day-of-week, read in UTC, e.g. \"0 3 * * *\"; \"\" turns "
                       "scheduled bumps off)\n");
    expect_errors("workers: []\nschedule:\n  bump: 0 3 * * 9\n",
                  CONF ":3:17: 'schedule.bump': invalid cron schedule '0 3 * * 9', day-of-week "
                       "field: 9 is out of range 0-7 (five fields: minute hour day-of-month "
                       "month day-of-week, read in UTC, e.g. \"0 3 * * *\"; \"\" turns "
                       "scheduled bumps off)\n");
    expect_errors("workers: []\nschedule: \"0 3 * * *\"\nbump: {max_bulds: 2, max_builds: 0}\n",
                  CONF ":2:11: 'schedule': expected a mapping {bump: CRON}, got a string\n" CONF
                       ":3:8: unknown key 'max_bulds' (did you mean 'max_builds'?)\n" CONF
                       ":3:34: 'max_builds': expected a whole number from 1 to 1000, got '0'\n");
    expect_errors("workers: []\nbump: [1]\nschedule: {bump: [a]}\n",
                  CONF ":2:7: 'bump': expected a mapping {max_builds: N}, got a list\n" CONF
                       ":3:18: 'bump': expected a string, got a list\n");
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
    expect_errors("watch_debounce_ms: 5\n",
                  CONF ":1:20: 'watch_debounce_ms': expected a whole number from 10 to 60000, got "
                       "'5'\n");
    expect_errors("lease_seconds: 1\nidle_timeout: 5\ninfra_retries: 21\nretry_backoff: 0\n", CONF
                  ":1:16: 'lease_seconds': expected a whole number from 5 to 3600, got '1'\n" CONF
                  ":2:15: 'idle_timeout': expected a whole number from 10 to 86400, got "
                  "'5'\n" CONF
                  ":3:16: 'infra_retries': expected a whole number from 0 to 20, got '21'\n" CONF
                  ":4:16: 'retry_backoff': expected a whole number from 1 to 3600, got "
                  "'0'\n");
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

static void test_recipes_git(void **state)
{
    (void)state;
    wf_config *c = parse_ok("state_dir: /srv/wf\n"
                            "recipes: {git: \"https://git.example.org/team/recipes.git\",\n"
                            "          branch: release/1.x, path: ./recipes/, poll: 5,\n"
                            "          pull_requests: true}\n");
    assert_non_null(c->recipes_git);
    assert_string_equal(c->recipes_git->url, "https://git.example.org/team/recipes.git");
    assert_string_equal(c->recipes_git->branch, "release/1.x");
    assert_string_equal(c->recipes_git->path, "recipes");
    assert_int_equal(c->recipes_git->poll_s, 5);
    assert_true(c->recipes_git->pull_requests);
    assert_string_equal(c->recipes, "/srv/wf/recipes-git/current");
    wf_config_free(c);

    /* Defaults; a local path is resolved against the config file's directory. */
    c = parse_ok("recipes:\n  git: ../repos/recipes\n");
    assert_string_equal(c->recipes_git->url, "/etc/repos/recipes");
    assert_string_equal(c->recipes_git->branch, "main");
    assert_string_equal(c->recipes_git->path, "");
    assert_int_equal(c->recipes_git->poll_s, 60);
    assert_false(c->recipes_git->pull_requests);
    assert_string_equal(c->recipes, "/etc/wf/var/recipes-git/current");
    wf_config_free(c);

    c = parse_ok("recipes: {git: \"git://127.0.0.1:9418/r.git\", path: .}\n");
    assert_string_equal(c->recipes_git->path, "");
    wf_config_free(c);

    /* The path form leaves recipes_git NULL. */
    c = parse_ok("recipes: ./r\n");
    assert_null(c->recipes_git);
    assert_string_equal(c->recipes, "/etc/wf/r");
    wf_config_free(c);
}

static void test_errors_recipes_git(void **state)
{
    (void)state;
    expect_errors("recipes: {git: x, brnch: main, pol: 60}\n",
                  CONF ":1:19: unknown key 'brnch' (did you mean 'branch'?)\n" CONF
                       ":1:32: unknown key 'pol' (did you mean 'poll'?)\n");
    expect_errors("recipes: {branch: main}\n", CONF ":1:10: missing required key 'git'\n");
    expect_errors("recipes: {git: \"ftp://h/r.git\"}\n",
                  CONF ":1:16: 'git': unsupported URL 'ftp://h/r.git' (use an https://, http://, "
                       "git:// or file:// URL, or a local path; ssh needs credentials wheelfarm "
                       "does not hold)\n");
    expect_errors("recipes: {git: \"git@host:team/r.git\"}\n",
                  CONF ":1:16: 'git': 'git@host:team/r.git' looks like an ssh address, which "
                       "needs credentials wheelfarm does not hold (use an https:// or git:// "
                       "URL)\n");
    expect_errors("recipes:\n  git: \"\"\n  branch: refs/heads/main\n  path: ../x\n  poll: 4\n"
                  "  pull_requests: maybe\n",
                  CONF ":2:8: 'git' must not be empty (the URL of the recipe repository)\n" CONF
                       ":3:11: 'branch': 'refs/heads/main' is not a valid branch name (write the "
                       "name alone, such as main, not refs/heads/main)\n" CONF
                       ":4:9: 'path': '../x' must be a relative path inside the repository, "
                       "without '..' (\".\" for its root)\n" CONF
                       ":5:9: 'poll': expected a whole number from 5 to 86400, got '4'\n" CONF
                       ":6:18: 'pull_requests': expected true or false, got 'maybe'\n");
    expect_errors("recipes: {git: x, branch: \"a b\", path: /abs}\n",
                  CONF ":1:27: 'branch': 'a b' is not a valid branch name (write the name "
                       "alone, such as main, not refs/heads/main)\n" CONF
                       ":1:40: 'path': '/abs' must be a relative path inside the repository, "
                       "without '..' (\".\" for its root)\n");
    expect_errors("recipes: [a]\n", CONF ":1:10: 'recipes': expected a path or a mapping {git: "
                                         "URL, branch, path, poll, pull_requests}, got a list\n");
}

static void test_substitutes(void **state)
{
    (void)state;
    wf_config *c = parse_ok("workers: []\n"
                            "substitutes:\n"
                            "  - for: " HA "\n"
                            "    use: " HB "\n"
                            "    reason: \"Debian's repack of the same release\"\n"
                            "  - {for: " HC ", use: " HB ", reason: x}\n");
    assert_int_equal(c->n_substitutes, 2);
    const wf_substitute_config *s = wf_config_substitute(c, HA);
    assert_ptr_equal(s, &c->substitutes[0]);
    assert_string_equal(s->pinned, HA);
    assert_string_equal(s->use, HB);
    assert_string_equal(s->reason, "Debian's repack of the same release");
    assert_string_equal(s->where, CONF ":3");
    assert_string_equal(wf_config_substitute(c, HC)->where, CONF ":6");
    /* Only `for` is looked up: a file used as a substitute is not itself replaced. */
    assert_null(wf_config_substitute(c, HB));
    assert_null(wf_config_substitute(c, NULL));
    wf_config_free(c);

    c = parse_ok("workers: []\nsubstitutes:\n");
    assert_int_equal(c->n_substitutes, 0);
    wf_config_free(c);
}

static void test_errors_substitutes(void **state)
{
    (void)state;
    expect_errors("substitutes: {for: x}\n",
                  CONF ":1:14: 'substitutes': expected a list of mappings {for, use, reason}, "
                       "got a mapping\n");
    expect_errors(
        "substitutes:\n"
        "  - " HA "\n"
        "  - {for: " HA_UPPER ", use: abc, reasn: x}\n"
        "  - {for: " HA ", use: " HA ", reason: same}\n"
        "  - {for: " HD ", use: " HE ", reason: \"\"}\n",
        CONF
        ":2:5: 'substitutes': expected a list of mappings {for, use, reason}, but "
        "this item is a string\n" CONF ":3:87: unknown key 'reasn' (did you mean 'reason'?)\n" CONF
        ":3:11: 'for': invalid sha256 '" HA_UPPER "': must be 64 lowercase hex "
        "characters (sha256sum FILE prints it)\n" CONF
        ":3:82: 'use': invalid sha256 'abc': must be 64 lowercase hex characters "
        "(sha256sum FILE prints it)\n" CONF ":3:5: missing required key 'reason'\n" CONF
        ":4:82: 'use' is the same sha256 as 'for': a file cannot substitute "
        "itself\n" CONF ":5:156: 'reason' must say why the replacement is acceptable (it is logged "
        "with every build that uses it)\n");
    expect_errors("substitutes:\n"
                  "  - {for: " HA ", use: " HB ", reason: one}\n"
                  "  - {for: " HA ", use: " HC ", reason: two}\n",
                  CONF ":3:11: a substitute for sha256 " HA " is already declared at " CONF ":2\n");
}

/* scripts/bootstrap-images moves the plain image tags the embedded defaults name only to images
 * with at least its DEFAULT_PYTHON interpreters: the two lists must agree, per platform. */
static void test_defaults_match_bootstrap(void **state)
{
    (void)state;
    const char *root = getenv("WF_SOURCE_ROOT");
    if (root == NULL)
        skip();
    char *path = wf_asprintf("%s/scripts/bootstrap-images", root);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[512], *decl = NULL;
    while (decl == NULL && fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "declare -A DEFAULT_PYTHON=(", 27) == 0)
            decl = wf_strdup(line + 27);
    fclose(f);
    free(path);
    if (decl == NULL)
        fail_msg("scripts/bootstrap-images has no 'declare -A DEFAULT_PYTHON=(' line");
    wf_config *c = NULL;
    wf_diag_list d = {0};
    assert_int_equal(wf_config_load(&c, NULL, &d), 0);
    for (size_t i = 0; i < c->n_images; i++) {
        const wf_image_config *img = &c->images[i];
        wf_buf want = WF_BUF_INIT;
        wf_buf_addf(&want, "[%s]=\"", img->platform + strlen("linux/"));
        for (size_t k = 0; k < img->n_python; k++)
            wf_buf_addf(&want, "%s%s", k ? " " : "", img->python[k]);
        wf_buf_adds(&want, "\"");
        if (strstr(decl, want.ptr) == NULL)
            fail_msg("embedded defaults list %s for %s; bootstrap-images DEFAULT_PYTHON=(%s",
                     want.ptr, img->platform, decl);
        wf_buf_release(&want);
    }
    wf_config_free(c);
    free(decl);
}

/* Labels (a mapping or a list), docker contexts and endpoint schemes. */
static void test_worker_targets_and_labels(void **state)
{
    (void)state;
    wf_config *c = parse_ok("workers:\n"
                            "  - {name: a, endpoint: \"ssh://builder@arm-1\",\n"
                            "     labels: {zone: eu-west, gpu: \"\"}}\n"
                            "  - {name: b, context: prod-amd64, labels: [fast-disk, rack=3]}\n"
                            "  - {name: c, endpoint: \"tcp://10.0.0.5:2376\", tls: false,\n"
                            "     labels: []}\n");
    assert_int_equal(c->n_workers, 3);
    assert_string_equal(c->workers[0].endpoint, "ssh://builder@arm-1");
    assert_null(c->workers[0].context);
    assert_int_equal(c->workers[0].n_labels, 2);
    assert_string_equal(c->workers[0].labels[0], "zone=eu-west");
    assert_string_equal(c->workers[0].labels[1], "gpu=");
    assert_null(c->workers[1].endpoint);
    assert_string_equal(c->workers[1].context, "prod-amd64");
    assert_int_equal(c->workers[1].n_labels, 2);
    assert_string_equal(c->workers[1].labels[0], "fast-disk");
    assert_string_equal(c->workers[1].labels[1], "rack=3");
    assert_int_equal(c->workers[2].n_labels, 0);
    assert_string_equal(c->workers[2].endpoint, "tcp://10.0.0.5:2376");
    wf_config_free(c);

    expect_errors(
        "workers:\n"
        "  - {name: a, endpoint: \"/var/run/docker.sock\"}\n"
        "  - {name: b, endpoint: \"unix:///x\", context: prod}\n"
        "  - {name: c, driver: buildx, builder: x, context: prod}\n"
        "  - {name: d, context: \"-bad\"}\n"
        "  - {name: e, labels: \"zone=eu\"}\n"
        "  - {name: f, labels: [\"zone=eu\", \"zone=us\", \"bad key\"]}\n"
        "  - {name: g, labels: {\"a=b\": c, d: [e]}}\n",
        CONF ":2:25: invalid endpoint '/var/run/docker.sock' (use unix:///path/docker.sock, "
             "tcp://HOST:PORT or ssh://[USER@]HOST, or 'context: NAME' for a docker "
             "context)\n" CONF
             ":3:47: give either 'endpoint' or 'context', not both (a docker context "
             "already names its endpoint)\n" CONF
             ":4:52: 'context' only applies to driver docker (a buildx builder is named "
             "with 'builder')\n" CONF
             ":5:24: invalid docker context name '-bad' (`docker context ls` lists "
             "them)\n" CONF ":6:23: 'labels': expected a mapping {key: value} or a list of key or "
             "key=value strings, got a string\n" CONF ":7:35: duplicate label 'zone'\n" CONF
             ":7:46: invalid label 'bad key' (a key of letters, digits and ._/- up to 63 "
             "characters, optionally =VALUE)\n" CONF
             ":8:24: invalid label key 'a=b' ('=' separates the value)\n" CONF
             ":8:37: 'labels': each label is a string, got a list\n");
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

/* Writes `text` into <dir>/<name>; returns the path (caller frees). */
static char *put(const char *dir, const char *name, const char *text)
{
    char *p = wf_asprintf("%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    return p;
}

static void test_webhooks_and_forge(void **state)
{
    (void)state;
    char dir[] = "/tmp/wf-config-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *gh = put(dir, "gh", "It's a Secret to Everybody\n");
    char *gl = put(dir, "gl", "  tok en \r\n\n");
    char *tok = put(dir, "tok", "ghp_123\n");
    char *yaml = wf_asprintf(
        "recipes: {git: \"https://git.example/acme/recipes.git\", path: recipes, "
        "pull_requests: true}\n"
        "webhooks: {github: {secret_file: %s}, gitlab: {token_file: %s}, max_body: 65536}\n"
        "forge: {kind: github, api: \"https://api.github.com/\", repo: acme/recipes, "
        "token_file: %s, public_url: \"https://wf.example\"}\n",
        gh, gl, tok);
    wf_config *c = parse_ok(yaml);
    assert_non_null(c->recipes_git);
    assert_string_equal(c->recipes_git->url, "https://git.example/acme/recipes.git");
    assert_string_equal(c->recipes_git->branch, "main");
    assert_string_equal(c->recipes_git->path, "recipes");
    assert_int_equal(c->recipes_git->poll_s, 60);
    assert_true(c->recipes_git->pull_requests);
    assert_string_equal(c->recipes,
                        "/etc/wf/var/recipes-git/current"); /* <state_dir>/recipes-git */
    assert_non_null(c->webhooks);
    /* The secret is the file's bytes without trailing whitespace (a trailing newline is an
     * editor's, not the forge's); leading and inner spaces stay. */
    assert_int_equal(c->webhooks->github.secret_len, 26);
    assert_memory_equal(c->webhooks->github.secret, "It's a Secret to Everybody", 26);
    assert_string_equal(c->webhooks->github.secret_file, gh);
    assert_int_equal(c->webhooks->gitlab.secret_len, 8);
    assert_memory_equal(c->webhooks->gitlab.secret, "  tok en", 8);
    assert_null(c->webhooks->gitea.secret);
    assert_int_equal(c->webhooks->max_body, 65536);
    assert_string_equal(c->forge->kind, "github");
    assert_string_equal(c->forge->api, "https://api.github.com");
    assert_string_equal(c->forge->token, "ghp_123");
    assert_string_equal(c->forge->public_url, "https://wf.example");
    wf_config_free(c);
    free(yaml);

    /* Without webhooks and forge: none; the default body cap. */
    c = parse_ok("webhooks: ~\n");
    assert_null(c->webhooks);
    assert_null(c->forge);
    assert_null(c->recipes_git);
    wf_config_free(c);

    char *empty = put(dir, "empty", " \n\n");
    char *tworow = put(dir, "two", "a\nb\n");
    yaml = wf_asprintf("webhooks:\n"
                       "  github: {secret_file: %s}\n"
                       "  gitea: {secret_file: %s/missing}\n"
                       "  gitlab: {secret_file: x}\n"
                       "  max_body: 100\n"
                       "  bitbucket: {}\n"
                       "forge: {kind: gogs, api: \"ftp://x\", repo: \"\", token_file: %s}\n",
                       empty, dir, tworow);
    char *want = wf_asprintf(
        CONF ":6:3: unknown key 'bitbucket'\n" CONF ":2:25: 'secret_file': '%s' is empty (write "
             "the secret into it)\n" CONF ":3:24: 'secret_file': cannot read '%s/missing': no "
             "such file or directory\n" CONF ":4:12: unknown key 'secret_file'\n" CONF
             ":4:11: missing required key 'token_file'\n" CONF
             ":5:13: 'max_body': expected a whole number from 1024 to 4194304, got '100'\n" CONF
             ":2:3: webhooks build pull requests of a recipe repository: set recipes: {git: URL, "
             "pull_requests: true}\n" CONF ":7:15: invalid forge kind 'gogs' (allowed: github, "
             "gitea, gitlab)\n" CONF ":7:26: 'api': expected an http:// or https:// URL, got "
             "'ftp://x'\n" CONF ":7:43: 'repo': expected \"owner/name\", got ''\n" CONF
             ":7:59: 'token_file': the token must be one line\n",
        empty, dir);
    expect_errors(yaml, want);
    free(want);
    free(yaml);
    char *cmd[] = {gh, gl, tok, empty, tworow};
    for (size_t i = 0; i < WF_ARRAY_SIZE(cmd); i++) {
        unlink(cmd[i]);
        free(cmd[i]);
    }
    rmdir(dir);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* Loads `yaml` written to dir/wf.yaml; returns the joined diags ("" when it loaded) and frees
 * the config. */
static char *load_in(const char *dir, const char *yaml, wf_config **keep)
{
    char *path = wf_asprintf("%s/wf.yaml", dir);
    wf_config *c = NULL;
    wf_diag_list d = {0};
    write_text(path, yaml);
    int rc = wf_config_load(&c, path, &d);
    char *all = joined(&d);
    assert_int_equal(rc, d.n == 0 ? 0 : WF_EINVAL);
    if (keep != NULL)
        *keep = c;
    else
        wf_config_free(c);
    wf_diag_list_release(&d);
    unlink(path);
    free(path);
    return all;
}

/* tmpl with every '@' replaced by dir; caller frees. */
static char *with_dir(const char *tmpl, const char *dir)
{
    wf_buf b = WF_BUF_INIT;
    for (const char *p = tmpl; *p; p++) {
        if (*p == '@')
            wf_buf_adds(&b, dir);
        else
            wf_buf_add(&b, p, 1);
    }
    return wf_buf_detach(&b);
}

static void test_worker_tls(void **state)
{
    (void)state;
    char dir[] = "/tmp/wf-config-tls-XXXXXX";
    const char *names[] = {"ca.pem", "cert.pem", "key.pem", "der.bin", "empty.pem"};
    wf_config *c = NULL;
    char *all, *want, *p;

    assert_non_null(mkdtemp(dir));
    p = wf_asprintf("%s/ca.pem", dir);
    write_text(p, "subject=CN = x\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    free(p);
    p = wf_asprintf("%s/cert.pem", dir);
    write_text(p, "-----BEGIN CERTIFICATE-----\r\nMIIB\r\n-----END CERTIFICATE-----\r\n");
    free(p);
    p = wf_asprintf("%s/key.pem", dir);
    write_text(p, "-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----\n");
    free(p);
    p = wf_asprintf("%s/der.bin", dir);
    write_text(p, "0\x82\x01\x0a-----BEGIN junk\n");
    free(p);
    p = wf_asprintf("%s/empty.pem", dir);
    write_text(p, "");
    free(p);

    /* Relative paths resolve against the config file; unix:// workers need nothing. */
    all = load_in(dir,
                  "images: {linux/amd64: a}\n"
                  "workers:\n"
                  "  - {name: local, endpoint: \"unix:///var/run/docker.sock\"}\n"
                  "  - {name: remote, endpoint: \"tcp://10.0.0.2:2376\",\n"
                  "     tls: {ca: ca.pem, cert: ./cert.pem, key: key.pem}}\n"
                  "  - {name: open, endpoint: \"tcp://10.0.0.3:2375\", tls: false}\n"
                  "  - {name: sshw, endpoint: \"ssh://u@h\", tls: false}\n",
                  &c);
    assert_string_equal(all, "");
    free(all);
    assert_null(c->workers[0].tls.ca);
    assert_false(wf_config_worker_unauthenticated(&c->workers[0]));
    want = wf_asprintf("%s/ca.pem", dir);
    assert_string_equal(c->workers[1].tls.ca, want);
    free(want);
    want = wf_asprintf("%s/cert.pem", dir);
    assert_string_equal(c->workers[1].tls.cert, want);
    free(want);
    want = wf_asprintf("%s/key.pem", dir);
    assert_string_equal(c->workers[1].tls.key, want);
    free(want);
    assert_false(wf_config_worker_unauthenticated(&c->workers[1]));
    assert_null(c->workers[2].tls.ca);
    assert_true(wf_config_worker_unauthenticated(&c->workers[2]));
    assert_false(wf_config_worker_unauthenticated(&c->workers[3]));
    /* Only the unauthenticated engine gets the warning the daemon logs. */
    for (size_t i = 0; i < 4; i++) {
        char *warning = wf_config_worker_warning(&c->workers[i]);
        if (i != 2)
            assert_null(warning);
        else
            assert_string_equal(warning, "worker 'open': tcp://10.0.0.3:2375 is used without TLS "
                                         "(tls: false): anyone who can reach it controls that "
                                         "engine and its host");
        free(warning);
    }
    wf_config_free(c);

    /* Every way to get it wrong, each at its position. */
    all =
        load_in(dir,
                "images: {linux/amd64: a}\n"
                "workers:\n"
                "  - {name: bare, endpoint: \"tcp://10.0.0.2:2375\"}\n"
                "  - {name: half, endpoint: \"tcp://h:2376\", tls: {ca: ca.pem, cert: cert.pem}}\n"
                "  - {name: yes, endpoint: \"tcp://h:2376\", tls: true}\n"
                "  - {name: sock, endpoint: \"unix:///s\", tls: {ca: ca.pem, cert: cert.pem, "
                "key: key.pem}}\n"
                "  - {name: bx, driver: buildx, builder: b, tls: {ca: a, cert: b, key: c}}\n"
                "  - {name: bad, endpoint: \"tcp://h:2376\", tls: {ca: der.bin, cert: key.pem,\n"
                "     key: cert.pem, crt: x}}\n"
                "  - {name: gone, endpoint: \"tcp://h:2376\", tls: {ca: nope.pem, cert: empty.pem,"
                " key: key.pem}}\n"
                "  - {name: none, tls: {ca: ca.pem, cert: cert.pem, key: key.pem}}\n",
                NULL);
    want = with_dir(
        "@/wf.yaml:3:28: worker 'bare': endpoint 'tcp://10.0.0.2:2375' has no TLS, so anyone "
        "who can reach it controls the engine and its host; add tls: {ca: CA.pem, cert: "
        "CERT.pem, key: KEY.pem} (paths relative to this file), or write tls: false to use the "
        "engine unauthenticated\n"
        "@/wf.yaml:4:49: missing required key 'key'\n"
        "@/wf.yaml:5:48: 'tls': expected a mapping {ca, cert, key} or false, got 'true'\n"
        "@/wf.yaml:6:46: 'tls' applies to tcp:// endpoints only, and this worker's endpoint is "
        "'unix:///s' (unix sockets are guarded by their file mode, ssh:// by ssh)\n"
        "@/wf.yaml:7:49: 'tls': a buildx builder keeps its own TLS settings (docker buildx "
        "create --driver remote --driver-opt cacert=...,cert=...,key=...); remove 'tls' here\n"
        "@/wf.yaml:9:21: unknown key 'crt' (did you mean 'cert'?)\n"
        "@/wf.yaml:8:53: 'ca': @/der.bin holds no PEM CERTIFICATE (a \"-----BEGIN "
        "...CERTIFICATE-----\" block)\n"
        "@/wf.yaml:8:68: 'cert': @/key.pem holds no PEM CERTIFICATE (a \"-----BEGIN "
        "...CERTIFICATE-----\" block)\n"
        "@/wf.yaml:9:11: 'key': @/cert.pem holds no PEM PRIVATE KEY (a \"-----BEGIN "
        "...PRIVATE KEY-----\" block)\n"
        "@/wf.yaml:10:54: 'ca': cannot read @/nope.pem: no such file or directory\n"
        "@/wf.yaml:10:70: 'cert': @/empty.pem holds no PEM CERTIFICATE (a \"-----BEGIN "
        "...CERTIFICATE-----\" block)\n"
        "@/wf.yaml:11:23: 'tls' applies to tcp:// endpoints only, and this worker names no "
        "endpoint (a docker context or the daemon's own DOCKER_HOST carries its own TLS "
        "settings)\n",
        dir);
    assert_string_equal(all, want);
    free(all);
    free(want);

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        p = wf_asprintf("%s/%s", dir, names[i]);
        unlink(p);
        free(p);
    }
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_partial),
        cmocka_unit_test(test_errors_top),
        cmocka_unit_test(test_errors_images),
        cmocka_unit_test(test_errors_workers),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_recipes_git),
        cmocka_unit_test(test_errors_recipes_git),
        cmocka_unit_test(test_bump),
        cmocka_unit_test(test_webhooks_and_forge),
        cmocka_unit_test(test_substitutes),
        cmocka_unit_test(test_errors_substitutes),
        cmocka_unit_test(test_defaults_match_bootstrap),
        cmocka_unit_test(test_worker_targets_and_labels),
        cmocka_unit_test(test_worker_tls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
