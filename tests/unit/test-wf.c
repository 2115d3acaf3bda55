/* test-wf.c - unit tests for lib/wf.c: buffers, number parsing, error names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "lib/wf.h"

static void test_buf(void **state)
{
    (void)state;
    wf_buf b = WF_BUF_INIT;
    wf_buf_adds(&b, "abc");
    wf_buf_addf(&b, "-%d-", 42);
    assert_string_equal(b.ptr, "abc-42-");
    assert_int_equal(b.len, 7);
    char *s = wf_buf_detach(&b);
    assert_string_equal(s, "abc-42-");
    assert_null(b.ptr);
    free(s);
    wf_buf_release(&b);
}

static void test_parse_i64(void **state)
{
    (void)state;
    int64_t v = 0;
    assert_int_equal(wf_parse_i64("123", 3, &v), 0);
    assert_int_equal(v, 123);
    assert_int_equal(wf_parse_i64("-5", 2, &v), 0);
    assert_int_equal(v, -5);
    assert_int_equal(wf_parse_i64("12a", 3, &v), WF_EINVAL);
    assert_int_equal(wf_parse_i64("", 0, &v), WF_EINVAL);
    assert_int_equal(wf_parse_i64(" 1", 2, &v), WF_EINVAL);
    assert_int_equal(wf_parse_i64("99999999999999999999", 20, &v), WF_EINVAL);
}

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(wf_strerror(WF_EHASH), "content hash mismatch");
    assert_non_null(wf_strerror(-2));
    assert_string_equal(wf_strerror(-99999), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_parse_i64),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
