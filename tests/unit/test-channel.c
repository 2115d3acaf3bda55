/* test-channel.c - unit tests for lib/channel.c: channel names, directories and URL prefixes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "lib/channel.h"
#include "lib/wf.h"

static void test_names(void **state)
{
    (void)state;
    char *c = wf_channel_pr(7);
    assert_string_equal(c, "pr/7");
    int64_t n = 0;
    assert_int_equal(wf_channel_pr_number(c, &n), 0);
    assert_int_equal(n, 7);
    free(c);
    assert_int_equal(wf_channel_pr_number("pr/123456", &n), 0);
    assert_int_equal(n, 123456);
    /* One spelling per pull request; main and anything else are not pull requests. */
    static const char *const bad[] = {"",
                                      "pr/",
                                      "pr/0",
                                      "pr/07",
                                      "pr/+7",
                                      "pr/-7",
                                      "pr/7/",
                                      "pr/7x",
                                      "PR/7",
                                      "pulls/7",
                                      "pr/99999999999999999999"};
    for (size_t i = 0; i < WF_ARRAY_SIZE(bad); i++) {
        n = -1;
        assert_int_equal(wf_channel_pr_number(bad[i], &n), WF_EINVAL);
        assert_int_equal(n, -1);
    }
    assert_int_equal(wf_channel_pr_number(NULL, &n), WF_EINVAL);
    assert_true(wf_channel_is_main(NULL));
    assert_true(wf_channel_is_main(""));
    assert_false(wf_channel_is_main("pr/1"));
}

static void test_places(void **state)
{
    (void)state;
    char *s = wf_channel_root("/var/wf/index", "");
    assert_string_equal(s, "/var/wf/index");
    free(s);
    s = wf_channel_root("/var/wf/index", "pr/12");
    assert_string_equal(s, "/var/wf/index/pr/12");
    free(s);
    s = wf_channel_url_prefix(NULL);
    assert_string_equal(s, "");
    free(s);
    s = wf_channel_url_prefix("pr/12");
    assert_string_equal(s, "/pr/12");
    free(s);
    /* simple/<p>/ climbs 2 levels to the index root; pr/<N>/simple/<p>/ climbs 4. */
    assert_int_equal(wf_channel_page_depth(""), 2);
    assert_int_equal(wf_channel_page_depth("pr/12"), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_places),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
