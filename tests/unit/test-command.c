/* test-command.c - unit tests for workers/command.c: real child processes on a private loop:
 * output capture, exit status, the deadline, cancel, environment, a missing program. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "lib/wf.h"
#include "workers/command.h"

typedef struct result {
    int calls;
    int status, exit_status;
    char *out, *err;
    size_t out_len;
} result;

static void on_done(const wf_command_result *r, void *ctx)
{
    result *res = ctx;
    res->calls++;
    res->status = r->status;
    res->exit_status = r->exit_status;
    res->out = wf_strdup(r->out);
    res->err = wf_strdup(r->err);
    res->out_len = r->out_len;
}

static void result_release(result *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof(*r));
}

/* Runs argv to its end on a private loop and checks the loop closes cleanly. */
static void run(result *res, const char *const *argv, const char *const *env, unsigned timeout_ms)
{
    uv_loop_t loop;
    wf_command *c = NULL;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(wf_command_start(&c, &loop, argv, env, timeout_ms, on_done, res), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(res->calls, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_output_and_status(void **state)
{
    (void)state;
    result r = {0};
    const char *argv[] = {"/bin/sh", "-c", "echo out; echo err >&2; exit 3", NULL};
    run(&r, argv, NULL, 10000);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.exit_status, 3);
    assert_string_equal(r.out, "out\n");
    assert_string_equal(r.err, "err\n");
    result_release(&r);

    /* A signal shows as 128 + N. */
    const char *argv2[] = {"/bin/sh", "-c", "kill -TERM $$", NULL};
    run(&r, argv2, NULL, 10000);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.exit_status, 128 + SIGTERM);
    result_release(&r);
}

static void test_environment(void **state)
{
    (void)state;
    result r = {0};
    const char *argv[] = {"/bin/sh", "-c", "printf %s \"$WF_PROBE_X\"", NULL};
    const char *env[] = {"WF_PROBE_X=hello", "PATH=/usr/bin:/bin", NULL};
    run(&r, argv, env, 10000);
    assert_string_equal(r.out, "hello");
    result_release(&r);
}

static void test_output_is_bounded(void **state)
{
    (void)state;
    result r = {0};
    const char *argv[] = {"/bin/sh", "-c", "head -c 300000 /dev/zero | tr '\\0' x", NULL};
    run(&r, argv, NULL, 20000);
    assert_int_equal(r.exit_status, 0);
    assert_int_equal(r.out_len, WF_COMMAND_OUTPUT_MAX);
    result_release(&r);
}

static void test_timeout_kills_the_group(void **state)
{
    (void)state;
    result r = {0};
    /* The shell's child holds the pipe too: the whole group must go for the command to end. */
    const char *argv[] = {"/bin/sh", "-c", "sleep 30 & sleep 30; echo never", NULL};
    uint64_t t0 = wf_now_ms();
    run(&r, argv, NULL, 300);
    uint64_t took = wf_now_ms() - t0;
    assert_int_equal(r.status, WF_ETIMEOUT);
    assert_true(took < 5000);
    assert_null(strstr(r.out, "never"));
    result_release(&r);
}

static void on_cancel_timer(uv_timer_t *t)
{
    wf_command_cancel(t->data);
    uv_close((uv_handle_t *)t, NULL);
}

static void test_cancel(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_timer_t timer;
    wf_command *c = NULL;
    result r = {0};
    const char *argv[] = {"/bin/sh", "-c", "sleep 30", NULL};
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(wf_command_start(&c, &loop, argv, NULL, 0, on_done, &r), 0);
    uv_timer_init(&loop, &timer);
    timer.data = c;
    uv_timer_start(&timer, on_cancel_timer, 100, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, WF_ECANCELED);
    assert_int_equal(uv_loop_close(&loop), 0);
    result_release(&r);
}

static void test_missing_program(void **state)
{
    (void)state;
    uv_loop_t loop;
    wf_command *c = NULL;
    result r = {0};
    const char *argv[] = {"/nonexistent/wf-no-such-program", NULL};
    assert_int_equal(uv_loop_init(&loop), 0);
    int rc = wf_command_start(&c, &loop, argv, NULL, 1000, on_done, &r);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (rc == 0) {
        /* Behind setpriv the exec fails in the child: exit 127 and a message. */
        assert_int_equal(r.calls, 1);
        assert_int_equal(r.exit_status, 127);
        assert_true(strlen(r.err) > 0);
    } else {
        assert_int_equal(rc, UV_ENOENT);
        assert_int_equal(r.calls, 0);
    }
    assert_int_equal(uv_loop_close(&loop), 0);
    result_release(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_output_and_status),
        cmocka_unit_test(test_environment),
        cmocka_unit_test(test_output_is_bounded),
        cmocka_unit_test(test_timeout_kills_the_group),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_missing_program),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
