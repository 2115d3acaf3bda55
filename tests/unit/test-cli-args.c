/* test-cli-args.c - unit tests for cli/args.c: commands, options, specs and the daemon location. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "lib/wf.h"

/* Parses a NULL-terminated argument list (without argv[0]). */
static int parse(wf_cli_args *a, char **err, const char *const *words)
{
    char *argv[32] = {"wheelfarm"};
    int argc = 1;
    for (; words[argc - 1] != NULL; argc++)
        argv[argc] = (char *)words[argc - 1];
    *err = NULL;
    return wf_cli_args_parse(a, argc, argv, err);
}

static void test_build_options(void **state)
{
    (void)state;
    wf_cli_args a;
    char *err;
    const char *w[] = {"--socket",
                       "/tmp/s",
                       "build",
                       "x==1.0",
                       "--platform",
                       "linux/arm64",
                       "--python=cp311",
                       "--platform=linux/amd64",
                       "y",
                       "--force",
                       "-f",
                       NULL};
    assert_int_equal(parse(&a, &err, w), 0);
    assert_int_equal(a.command, WF_CLI_CMD_BUILD);
    assert_int_equal(a.n_positional, 2);
    assert_string_equal(a.positional[0], "x==1.0");
    assert_string_equal(a.positional[1], "y");
    assert_int_equal(a.n_platforms, 2);
    assert_string_equal(a.platforms[0], "linux/arm64");
    assert_string_equal(a.platforms[1], "linux/amd64");
    assert_int_equal(a.n_python, 1);
    assert_string_equal(a.python[0], "cp311");
    assert_true(a.force);
    assert_true(a.follow);
    assert_true(a.wait); /* --follow implies --wait */
    assert_false(a.json);
    assert_string_equal(a.socket_path, "/tmp/s");
    wf_cli_args_release(&a);
}

static void test_job_commands(void **state)
{
    (void)state;
    wf_cli_args a;
    char *err;
    const char *w1[] = {"logs", "42", "-f", NULL};
    assert_int_equal(parse(&a, &err, w1), 0);
    assert_int_equal(a.command, WF_CLI_CMD_LOGS);
    assert_int_equal(a.job_id, 42);
    assert_true(a.follow);
    wf_cli_args_release(&a);

    const char *w2[] = {"show", "0", NULL};
    assert_int_equal(parse(&a, &err, w2), WF_EINVAL);
    assert_non_null(strstr(err, "not a job id"));
    assert_int_equal(a.command, WF_CLI_CMD_SHOW);
    free(err);

    const char *w3[] = {"cancel", "7", "8", NULL};
    assert_int_equal(parse(&a, &err, w3), WF_EINVAL);
    assert_non_null(strstr(err, "unexpected argument '8'"));
    free(err);

    const char *w4[] = {"show", NULL};
    assert_int_equal(parse(&a, &err, w4), WF_EINVAL);
    assert_non_null(strstr(err, "JOB"));
    free(err);

    const char *w5[] = {"retry", "12", "--json", NULL};
    assert_int_equal(parse(&a, &err, w5), 0);
    assert_int_equal(a.command, WF_CLI_CMD_RETRY);
    assert_int_equal(a.job_id, 12);
    assert_true(a.json);
    wf_cli_args_release(&a);
    assert_non_null(strstr(wf_cli_args_usage(WF_CLI_CMD_NONE), "retry JOB"));

    const char *w6[] = {"retry", "--force", "3", NULL};
    assert_int_equal(parse(&a, &err, w6), WF_EINVAL);
    assert_non_null(strstr(err, "option --force is not valid for 'retry'"));
    free(err);
}

static void test_usage_errors(void **state)
{
    (void)state;
    wf_cli_args a;
    char *err;
    static const struct {
        const char *words[6];
        const char *message;
    } cases[] = {
        {{"frobnicate", NULL}, "unknown command 'frobnicate'"},
        {{"jobs", "--bogus", NULL}, "unknown option '--bogus'"},
        {{"jobs", "--force", NULL}, "option --force is not valid for 'jobs'"},
        {{"check", "--json", "x", NULL}, "option --json is not valid for 'check'"},
        {{"jobs", "--state", "sleeping", NULL}, "unknown job state 'sleeping'"},
        {{"jobs", "--state", NULL}, "option --state needs a value"},
        {{"jobs", "--json=yes", NULL}, "option --json takes no value"},
        {{"build", NULL}, "'build' needs a SPEC"},
        {{"build", "x>=1.0", NULL}, "bad build spec 'x>=1.0'"},
        {{"jobs", "--socket", "a", "--url", "http://x", NULL}, "not both"},
        {{"--json", NULL}, "option --json needs a command"},
        {{NULL}, "no command given"},
        {{"help", "nope", NULL}, "unknown command 'nope'"},
        {{"workers", "extra", NULL}, "unexpected argument 'extra'"},
        {{"sources", NULL}, "'sources' needs 'add' and a FILE"},
        {{"sources", "add", NULL}, "'sources' needs 'add' and a FILE"},
        {{"sources", "remove", "f", NULL}, "unknown 'sources' subcommand 'remove'"},
        {{"sources", "add", "f", "--force", NULL}, "option --force is not valid for 'sources'"},
        {{"drain", NULL}, "'drain' needs a worker NAME"},
        {{"undrain", "a", "b", NULL}, "unexpected argument 'b' for 'undrain'"},
        {{"drain", "Local_1", NULL}, "'Local_1' is not a worker name"},
        {{"drain", "x", "--force", NULL}, "option --force is not valid for 'drain'"},
    };
    for (size_t i = 0; i < WF_ARRAY_SIZE(cases); i++) {
        int rc = parse(&a, &err, cases[i].words);
        if (rc != WF_EINVAL || err == NULL || strstr(err, cases[i].message) == NULL)
            fail_msg("case %zu: rc %d, message '%s', expected '%s'", i, rc, err ? err : "(null)",
                     cases[i].message);
        free(err);
    }
}

static void test_help_and_version(void **state)
{
    (void)state;
    wf_cli_args a;
    char *err;
    /* --help skips the argument checks: `build --help` needs no SPEC. */
    const char *w1[] = {"build", "--help", NULL};
    assert_int_equal(parse(&a, &err, w1), 0);
    assert_true(a.help);
    assert_int_equal(a.command, WF_CLI_CMD_BUILD);
    assert_non_null(strstr(wf_cli_args_usage(a.command), "--platform"));
    wf_cli_args_release(&a);

    const char *w2[] = {"--version", NULL};
    assert_int_equal(parse(&a, &err, w2), 0);
    assert_true(a.version);
    assert_int_equal(a.command, WF_CLI_CMD_NONE);
    assert_non_null(strstr(wf_cli_args_usage(WF_CLI_CMD_NONE), "Commands:"));
    wf_cli_args_release(&a);

    const char *w3[] = {"help", "logs", NULL};
    assert_int_equal(parse(&a, &err, w3), 0);
    assert_int_equal(a.command, WF_CLI_CMD_HELP);
    assert_string_equal(a.positional[0], "logs");
    wf_cli_args_release(&a);

    const char *w5[] = {"sources", "add", "a.tar.gz", "b.tar.xz", "--json", NULL};
    assert_int_equal(parse(&a, &err, w5), 0);
    assert_int_equal(a.command, WF_CLI_CMD_SOURCES);
    assert_int_equal(a.n_positional, 3);
    assert_string_equal(a.positional[2], "b.tar.xz");
    assert_true(a.json);
    assert_non_null(strstr(wf_cli_args_usage(a.command), "sources add FILE"));
    wf_cli_args_release(&a);

    const char *w6[] = {"drain", "arm-1", "--json", NULL};
    assert_int_equal(parse(&a, &err, w6), 0);
    assert_int_equal(a.command, WF_CLI_CMD_DRAIN);
    assert_string_equal(a.positional[0], "arm-1");
    assert_true(a.json);
    assert_non_null(strstr(wf_cli_args_usage(a.command), "running builds finish"));
    wf_cli_args_release(&a);
    const char *w7[] = {"undrain", "arm-1", NULL};
    assert_int_equal(parse(&a, &err, w7), 0);
    assert_int_equal(a.command, WF_CLI_CMD_UNDRAIN);
    wf_cli_args_release(&a);
    const char *w8[] = {"help", "undrain", NULL};
    assert_int_equal(parse(&a, &err, w8), 0);
    assert_string_equal(a.positional[0], "undrain");
    wf_cli_args_release(&a);
    assert_non_null(strstr(wf_cli_args_usage(WF_CLI_CMD_NONE), "drain NAME"));

    /* After "--" everything is an argument, even what looks like an option. */
    const char *w4[] = {"check", "--", "--weird-dir", NULL};
    assert_int_equal(parse(&a, &err, w4), 0);
    assert_string_equal(a.positional[0], "--weird-dir");
    wf_cli_args_release(&a);
}

static void test_specs(void **state)
{
    (void)state;
    static const struct {
        const char *spec;
        int ok;
    } cases[] = {
        {"confluent-kafka", 1},
        {"confluent-kafka==2.6.0", 1},
        {"zope.interface==6.0", 1},
        {"a", 1},
        {"x==1.0rc1", 1},
        {"x==1!2.0+local.1", 1},
        {"", 0},
        {"==1.0", 0},
        {"x==", 0},
        {"-x", 0},
        {"x-", 0},
        {"x===1.0", 0},
        {"x>=1.0", 0},
        {"x y", 0},
        {"x==1.0 ", 0},
    };
    for (size_t i = 0; i < WF_ARRAY_SIZE(cases); i++) {
        char *err = NULL;
        int rc = wf_cli_args_check_spec(cases[i].spec, &err);
        if ((rc == 0) != cases[i].ok)
            fail_msg("spec '%s': rc %d", cases[i].spec, rc);
        assert_true(cases[i].ok ? err == NULL : err != NULL);
        free(err);
    }
}

static void test_bump(void **state)
{
    (void)state;
    wf_cli_args a;
    char *err;
    const char *w1[] = {"bump", "--dry-run", "fixture-ext", "kafka", "--json", NULL};
    assert_int_equal(parse(&a, &err, w1), 0);
    assert_int_equal(a.command, WF_CLI_CMD_BUMP);
    assert_true(a.dry_run);
    assert_true(a.json);
    assert_int_equal(a.n_positional, 2);
    assert_string_equal(a.positional[1], "kafka");
    wf_cli_args_release(&a);

    const char *w2[] = {"bump", NULL};
    assert_int_equal(parse(&a, &err, w2), 0);
    assert_false(a.dry_run);
    assert_int_equal(a.n_positional, 0);
    wf_cli_args_release(&a);

    const char *w3[] = {"build", "x", "--dry-run", NULL};
    assert_int_equal(parse(&a, &err, w3), WF_EINVAL);
    assert_string_equal(err, "option --dry-run is not valid for 'build'");
    free(err);
    const char *w4[] = {"bump", "--force", NULL};
    assert_int_equal(parse(&a, &err, w4), WF_EINVAL);
    assert_string_equal(err, "option --force is not valid for 'bump'");
    free(err);
    assert_non_null(strstr(wf_cli_args_usage(WF_CLI_CMD_BUMP), "--dry-run"));
    assert_non_null(strstr(wf_cli_args_usage(WF_CLI_CMD_NONE), "bump [RECIPE...]"));
    assert_string_equal(wf_cli_args_command_name(WF_CLI_CMD_BUMP), "bump");
}

static void test_locate(void **state)
{
    (void)state;
    wf_cli_args a = {0};
    wf_cli_location loc;
    char *err = NULL;

    /* Defaults: the socket when it exists, else the URL. */
    assert_int_equal(wf_cli_args_locate(&loc, &a, NULL, NULL, true, &err), 0);
    assert_string_equal(loc.socket_path, WF_CLI_DEFAULT_SOCKET);
    assert_null(loc.url);
    assert_string_equal(loc.origin, "default");
    wf_cli_location_release(&loc);
    assert_int_equal(wf_cli_args_locate(&loc, &a, "", "", false, &err), 0);
    assert_string_equal(loc.url, WF_CLI_DEFAULT_URL);
    assert_null(loc.socket_path);
    wf_cli_location_release(&loc);

    /* The environment beats the default; the socket beats the URL. */
    assert_int_equal(wf_cli_args_locate(&loc, &a, "/run/wf.sock", "http://h:1", true, &err), 0);
    assert_string_equal(loc.socket_path, "/run/wf.sock");
    assert_string_equal(loc.origin, "WHEELFARM_SOCKET");
    wf_cli_location_release(&loc);
    assert_int_equal(wf_cli_args_locate(&loc, &a, NULL, "https://h:1/", true, &err), 0);
    assert_string_equal(loc.url, "https://h:1"); /* trailing slash dropped */
    assert_string_equal(loc.origin, "WHEELFARM_URL");
    wf_cli_location_release(&loc);

    /* Flags beat the environment. */
    a.url = "http://flag:2//";
    assert_int_equal(wf_cli_args_locate(&loc, &a, "/run/wf.sock", NULL, true, &err), 0);
    assert_string_equal(loc.url, "http://flag:2");
    assert_string_equal(loc.origin, "--url");
    wf_cli_location_release(&loc);

    /* A URL that is not http(s) is a configuration error naming where it came from. */
    a.url = NULL;
    assert_int_equal(wf_cli_args_locate(&loc, &a, NULL, "localhost:8780", false, &err), WF_ECONFIG);
    assert_non_null(strstr(err, "WHEELFARM_URL 'localhost:8780'"));
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_options), cmocka_unit_test(test_job_commands),
        cmocka_unit_test(test_usage_errors),  cmocka_unit_test(test_help_and_version),
        cmocka_unit_test(test_specs),         cmocka_unit_test(test_locate),
        cmocka_unit_test(test_bump),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
