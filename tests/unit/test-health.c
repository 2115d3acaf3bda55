/* test-health.c - unit tests for workers/health.c: the state machine, the backoff, the probe
 * commands and the verdicts drawn from their output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "lib/wf.h"
#include "workers/health.h"

static char *plat_amd64[] = {"linux/amd64"};
static char *plat_both[] = {"linux/amd64", "linux/arm64"};
static char *plat_arm64[] = {"linux/arm64"};

static wf_worker_config worker(char **platforms, size_t n, int emulated)
{
    wf_worker_config w = {0};
    w.name = "w1";
    w.driver = "docker";
    w.platforms = platforms;
    w.n_platforms = n;
    w.slots = 1;
    w.emulated = emulated;
    return w;
}

static char *joined(char **v)
{
    wf_buf b = WF_BUF_INIT;
    wf_buf_add(&b, "", 0);
    for (char **p = v; *p != NULL; p++)
        wf_buf_addf(&b, "%s%s", b.len ? " " : "", *p);
    return wf_buf_detach(&b);
}

static void test_state_machine(void **state)
{
    (void)state;
    wf_health h;
    wf_health_init(&h, 100);
    assert_int_equal(h.state, WF_HEALTH_PROBING);
    assert_string_equal(wf_health_state_name(h.state), "probing");
    assert_int_equal(h.since, 100);
    assert_null(h.reason);

    /* probing -> healthy: a change, since moves, no reason. */
    assert_int_equal(wf_health_record(&h, 1, NULL, 110), 1);
    assert_int_equal(h.state, WF_HEALTH_HEALTHY);
    assert_int_equal(h.since, 110);
    /* healthy -> healthy: nothing changes, since stays. */
    assert_int_equal(wf_health_record(&h, 1, NULL, 140), 0);
    assert_int_equal(h.since, 110);
    assert_int_equal(h.failures, 0);

    /* healthy -> unhealthy: since moves, the reason is kept. */
    assert_int_equal(wf_health_record(&h, 0, "engine unreachable: x", 150), 1);
    assert_int_equal(h.state, WF_HEALTH_UNHEALTHY);
    assert_string_equal(wf_health_state_name(h.state), "unhealthy");
    assert_int_equal(h.since, 150);
    assert_int_equal(h.failures, 1);
    assert_string_equal(h.reason, "engine unreachable: x");
    /* unhealthy again: no change of state, since stays, the newest reason wins. */
    assert_int_equal(wf_health_record(&h, 0, "engine unreachable: y", 160), 0);
    assert_int_equal(h.since, 150);
    assert_int_equal(h.failures, 2);
    assert_string_equal(h.reason, "engine unreachable: y");
    /* An empty reason still says something. */
    wf_health_record(&h, 0, "", 161);
    assert_string_equal(h.reason, "unknown failure");

    /* unhealthy -> healthy: failures reset, reason gone. */
    assert_int_equal(wf_health_record(&h, 1, NULL, 200), 1);
    assert_int_equal(h.failures, 0);
    assert_null(h.reason);
    assert_int_equal(h.since, 200);
    wf_health_release(&h);
    wf_health_release(NULL);
}

static void test_backoff(void **state)
{
    (void)state;
    wf_health h;
    wf_health_init(&h, 0);
    assert_int_equal(wf_health_next_probe_ms(&h), 0); /* probing: at once */
    wf_health_record(&h, 1, NULL, 1);
    assert_int_equal(wf_health_next_probe_ms(&h), WF_HEALTH_INTERVAL_MS);
    /* 2 s, 4 s, 8 s, ... doubling per failure, capped at 5 min. */
    static const uint64_t want[] = {2000,   4000,   8000,   16000,  32000, 64000,
                                    128000, 256000, 300000, 300000, 300000};
    for (size_t i = 0; i < WF_ARRAY_SIZE(want); i++) {
        wf_health_record(&h, 0, "down", 2);
        if (wf_health_next_probe_ms(&h) != want[i])
            fail_msg("after %zu failures: %llu ms, want %llu", i + 1,
                     (unsigned long long)wf_health_next_probe_ms(&h), (unsigned long long)want[i]);
    }
    /* Many more failures neither overflow nor exceed the cap. */
    for (int i = 0; i < 200; i++)
        wf_health_record(&h, 0, "down", 3);
    assert_int_equal(wf_health_next_probe_ms(&h), WF_HEALTH_BACKOFF_MAX_MS);
    /* Recovery resets the backoff. */
    wf_health_record(&h, 1, NULL, 4);
    wf_health_record(&h, 0, "down", 5);
    assert_int_equal(wf_health_next_probe_ms(&h), WF_HEALTH_BACKOFF_MIN_MS);
    wf_health_release(&h);
}

static void test_commands(void **state)
{
    (void)state;
    wf_worker_config w = worker(plat_amd64, 1, 0);
    w.endpoint = "tcp://10.0.0.2:2376";
    char **v = wf_health_version_argv(&w, "/usr/bin/docker");
    char *s = joined(v);
    assert_string_equal(s, "/usr/bin/docker version --format {{.Server.Os}}/{{.Server.Arch}}");
    free(s);
    wf_health_strings_free(v);

    char *env_in[] = {"PATH=/bin", "DOCKER_HOST=unix:///other.sock", "DOCKER_CONTEXT=x", NULL};
    v = wf_health_env(&w, env_in);
    s = joined(v);
    assert_string_equal(s, "PATH=/bin DOCKER_CONTEXT=x DOCKER_HOST=tcp://10.0.0.2:2376");
    free(s);
    wf_health_strings_free(v);

    /* A context worker: --context first, and neither variable may override it. */
    w.endpoint = NULL;
    w.context = "remote-arm";
    v = wf_health_version_argv(&w, "docker");
    s = joined(v);
    assert_string_equal(s, "docker --context remote-arm version --format "
                           "{{.Server.Os}}/{{.Server.Arch}}");
    free(s);
    wf_health_strings_free(v);
    v = wf_health_env(&w, env_in);
    s = joined(v);
    assert_string_equal(s, "PATH=/bin");
    free(s);
    wf_health_strings_free(v);

    v = wf_health_emulation_argv(&w, "docker", "linux/arm64", "wheelfarm/runtime:bookworm-arm64");
    s = joined(v);
    assert_string_equal(s,
                        "docker --context remote-arm run --rm --pull never --network none "
                        "--entrypoint uname --label org.wheelfarm.probe=1 --platform=linux/arm64 "
                        "wheelfarm/runtime:bookworm-arm64 -m");
    free(s);
    wf_health_strings_free(v);

    /* No endpoint, no context: the environment is passed on as it is. */
    w.context = NULL;
    v = wf_health_env(&w, env_in);
    s = joined(v);
    assert_string_equal(s, "PATH=/bin DOCKER_HOST=unix:///other.sock DOCKER_CONTEXT=x");
    free(s);
    wf_health_strings_free(v);
    v = wf_health_env(&w, NULL);
    assert_null(v[0]);
    wf_health_strings_free(v);

    w.driver = "buildx";
    w.builder = "arm-pool";
    v = wf_health_buildx_argv(&w, "docker");
    s = joined(v);
    assert_string_equal(s, "docker buildx inspect --bootstrap arm-pool");
    free(s);
    wf_health_strings_free(v);
}

static void test_version_verdicts(void **state)
{
    (void)state;
    char *engine = NULL, **emulate = NULL, *why = NULL;
    wf_worker_config native = worker(plat_amd64, 1, 0);

    assert_int_equal(
        wf_health_check_version(&native, 0, "linux/amd64\n", "", &engine, &emulate, &why), 0);
    assert_string_equal(engine, "linux/amd64");
    assert_null(emulate[0]);
    free(engine);
    wf_health_strings_free(emulate);

    /* The engine is unreachable: the client's last line is the reason. */
    assert_int_equal(wf_health_check_version(&native, 1, "\n",
                                             "Cannot connect to the Docker daemon at "
                                             "unix:///nope.sock. Is the docker daemon running?\n\n",
                                             &engine, &emulate, &why),
                     WF_EINFRA);
    assert_string_equal(why, "engine unreachable: Cannot connect to the Docker daemon at "
                             "unix:///nope.sock. Is the docker daemon running?");
    free(why);
    assert_int_equal(wf_health_check_version(&native, 125, "", "", &engine, &emulate, &why),
                     WF_EINFRA);
    assert_string_equal(why, "engine unreachable (exit status 125, no output)");
    free(why);
    /* An answer without a platform is no answer. */
    assert_int_equal(wf_health_check_version(&native, 0, "/\n", "", &engine, &emulate, &why),
                     WF_EINFRA);
    assert_non_null(strstr(why, "did not say its platform"));
    free(why);

    /* A native worker must run on its platform's engine. */
    wf_worker_config arm = worker(plat_arm64, 1, 0);
    assert_int_equal(wf_health_check_version(&arm, 0, "linux/amd64", "", &engine, &emulate, &why),
                     WF_EINFRA);
    assert_string_equal(why, "the engine is linux/amd64, but the worker declares linux/arm64 "
                             "natively (set 'emulated: true' if the engine's host runs it under "
                             "emulation, or point the worker at a linux/arm64 engine)");
    free(why);

    /* An emulated worker: the engine's own platform needs no check, the others do. */
    wf_worker_config emu = worker(plat_both, 2, 1);
    assert_int_equal(wf_health_check_version(&emu, 0, "linux/amd64", "", &engine, &emulate, &why),
                     0);
    assert_string_equal(emulate[0], "linux/arm64");
    assert_null(emulate[1]);
    free(engine);
    wf_health_strings_free(emulate);
    /* ... and on an arm64 engine the other way round. */
    assert_int_equal(wf_health_check_version(&emu, 0, "linux/arm64", "", &engine, &emulate, &why),
                     0);
    assert_string_equal(emulate[0], "linux/amd64");
    free(engine);
    wf_health_strings_free(emulate);
}

static void test_emulation_verdicts(void **state)
{
    (void)state;
    char *why = NULL;
    const char *img = "wheelfarm/runtime:bookworm-arm64";
    assert_string_equal(wf_health_machine("linux/amd64"), "x86_64");
    assert_string_equal(wf_health_machine("linux/arm64"), "aarch64");
    assert_null(wf_health_machine("linux/s390x"));

    assert_int_equal(wf_health_check_emulation("linux/arm64", img, 0, "aarch64\n", "", &why), 0);
    assert_int_equal(wf_health_check_emulation("linux/arm64", img, 1, "",
                                               "exec /usr/bin/uname: exec format error\n", &why),
                     WF_EINFRA);
    assert_string_equal(why, "the engine cannot run linux/arm64 programs (no binfmt_misc handler "
                             "for aarch64 on its host; install qemu-user-static or binfmt there)");
    free(why);
    assert_int_equal(wf_health_check_emulation("linux/arm64", img, 125, "",
                                               "Error: No such image: "
                                               "wheelfarm/runtime:"
                                               "bookworm-arm64\n",
                                               &why),
                     WF_EINFRA);
    assert_string_equal(why, "image wheelfarm/runtime:bookworm-arm64 (linux/arm64) is not on the "
                             "engine; load it there (scripts/bootstrap-images)");
    free(why);
    /* The image ran but natively: it is not an arm64 image. */
    assert_int_equal(wf_health_check_emulation("linux/arm64", img, 0, "x86_64\n", "", &why),
                     WF_EINFRA);
    assert_non_null(strstr(why, "printed 'x86_64', not 'aarch64'"));
    free(why);
    assert_int_equal(wf_health_check_emulation("linux/arm64", img, 1, "", "boom\n", &why),
                     WF_EINFRA);
    assert_string_equal(why, "emulation check failed: boom");
    free(why);
}

static void test_buildx_verdicts(void **state)
{
    (void)state;
    char *why = NULL;
    wf_worker_config w = worker(plat_both, 2, 0);
    w.driver = "buildx";
    w.builder = "pool";
    const char *inspect = "Name:          pool\n"
                          "Driver:        docker-container\n"
                          "\n"
                          "Nodes:\n"
                          "Name:      pool0\n"
                          "Endpoint:  ssh://arm-host\n"
                          "Status:    running\n"
                          "Platforms: linux/arm64*, linux/arm/v7\n"
                          "Name:      pool1\n"
                          "Platforms: linux/amd64, linux/amd64/v2, linux/386\n";
    assert_int_equal(wf_health_check_buildx(&w, 0, inspect, "", &why), 0);
    /* A node missing: the platform it gave is not offered. */
    const char *one = "Nodes:\nName: pool1\nPlatforms: linux/amd64, linux/amd64/v2\n";
    assert_int_equal(wf_health_check_buildx(&w, 0, one, "", &why), WF_EINFRA);
    assert_string_equal(why, "builder 'pool' does not offer linux/arm64 (it lists: linux/amd64, "
                             "linux/amd64/v2)");
    free(why);
    /* "linux/amd64/v2" is not "linux/amd64". */
    wf_worker_config a = worker(plat_amd64, 1, 0);
    a.driver = "buildx";
    a.builder = "b";
    assert_int_equal(wf_health_check_buildx(&a, 0, "Platforms: linux/amd64/v2\n", "", &why),
                     WF_EINFRA);
    free(why);
    assert_int_equal(wf_health_check_buildx(&a, 0, "Name: b\n", "", &why), WF_EINFRA);
    assert_string_equal(why, "builder 'b' does not offer linux/amd64 (it lists: nothing)");
    free(why);
    assert_int_equal(wf_health_check_buildx(&a, 1, "", "ERROR: no builder \"b\" found\n", &why),
                     WF_EINFRA);
    assert_string_equal(why, "builder unreachable: ERROR: no builder \"b\" found");
    free(why);
}

static void test_last_line(void **state)
{
    (void)state;
    char *s = wf_health_last_line("first\n  second \r\n\n", NULL);
    assert_string_equal(s, "  second");
    free(s);
    s = wf_health_last_line("\n\n", "from out\n");
    assert_string_equal(s, "from out");
    free(s);
    assert_null(wf_health_last_line("", NULL));
    assert_null(wf_health_last_line(NULL, " \n"));
    s = wf_health_last_line("a\x1b[31mred\x07", NULL);
    assert_string_equal(s, "a[31mred");
    free(s);
    char big[1000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    s = wf_health_last_line(big, NULL);
    assert_int_equal(strlen(s), 300);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_machine),      cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_commands),           cmocka_unit_test(test_version_verdicts),
        cmocka_unit_test(test_emulation_verdicts), cmocka_unit_test(test_buildx_verdicts),
        cmocka_unit_test(test_last_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
