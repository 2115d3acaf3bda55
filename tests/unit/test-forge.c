/* test-forge.c - unit tests for lib/forge.c: the commit status state machine of a pull request
 * head and the status calls of GitHub, Gitea and GitLab. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "lib/forge.h"
#include "lib/wf.h"

#define SHA "0123456789abcdef0123456789abcdef01234567"

typedef struct row {
    wf_pr_progress p;
    wf_commit_state want;
    const char *describe;
} row;

/* loading, broken, queued, running, succeeded, failed, cancelled */
static const row table[] = {
    {{1, 0, 0, 0, 0, 0, 0}, WF_COMMIT_PENDING, "loading the recipes"},
    {{0, 0, 2, 1, 0, 0, 0}, WF_COMMIT_PENDING, "0 of 3 builds done"},
    {{0, 0, 1, 0, 2, 0, 0}, WF_COMMIT_PENDING, "2 of 3 builds done"},
    {{0, 0, 0, 0, 3, 0, 0}, WF_COMMIT_SUCCESS, "3 wheels built"},
    {{0, 0, 0, 0, 1, 0, 0}, WF_COMMIT_SUCCESS, "1 wheel built"},
    {{0, 0, 0, 0, 0, 0, 0},
     WF_COMMIT_SUCCESS,
     "no recipe changed, or every wheel was already built"},
    /* A failure is final for the head, even while other builds still run. */
    {{0, 0, 1, 1, 1, 1, 0}, WF_COMMIT_FAILURE, "1 of 4 builds failed"},
    {{0, 0, 0, 0, 2, 0, 1}, WF_COMMIT_FAILURE, "1 of 3 builds were cancelled"},
    {{0, 1, 0, 0, 0, 0, 0},
     WF_COMMIT_FAILURE,
     "the recipes at this commit cannot be built; see the details"},
    {{1, 1, 0, 0, 0, 0, 0}, WF_COMMIT_FAILURE, NULL},
};

static void test_state_machine(void **state)
{
    (void)state;
    for (size_t i = 0; i < WF_ARRAY_SIZE(table); i++) {
        if (wf_pr_progress_state(&table[i].p) != table[i].want)
            fail_msg("row %zu: %s, want %s", i,
                     wf_commit_state_name(wf_pr_progress_state(&table[i].p)),
                     wf_commit_state_name(table[i].want));
        char *d = wf_pr_progress_describe(&table[i].p);
        if (table[i].describe != NULL)
            assert_string_equal(d, table[i].describe);
        free(d);
    }
    for (int s = WF_COMMIT_NONE; s <= WF_COMMIT_FAILURE; s++)
        assert_int_equal(wf_commit_state_parse(wf_commit_state_name((wf_commit_state)s)), s);
    assert_int_equal(wf_commit_state_parse("bogus"), WF_COMMIT_NONE);
    assert_int_equal(wf_commit_state_parse(NULL), WF_COMMIT_NONE);
}

static cJSON *body_of(const wf_forge_request *r)
{
    cJSON *o = cJSON_Parse(r->body);
    assert_non_null(o);
    return o;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void test_github(void **state)
{
    (void)state;
    wf_forge_request r;
    assert_int_equal(wf_forge_status_request(&r, "github", "https://api.github.com", "acme/recipes",
                                             "tok", SHA, WF_COMMIT_FAILURE,
                                             "https://wf.example/api/v1/jobs/4/log",
                                             "1 of 2 builds failed"),
                     0);
    assert_string_equal(r.url, "https://api.github.com/repos/acme/recipes/statuses/" SHA);
    assert_int_equal(r.n_headers, 3);
    assert_string_equal(r.headers[0], "Authorization: Bearer tok");
    assert_string_equal(r.headers[1], "Content-Type: application/json");
    assert_string_equal(r.headers[2], "Accept: application/vnd.github+json");
    cJSON *o = body_of(&r);
    assert_string_equal(str(o, "state"), "failure");
    assert_string_equal(str(o, "target_url"), "https://wf.example/api/v1/jobs/4/log");
    assert_string_equal(str(o, "description"), "1 of 2 builds failed");
    assert_string_equal(str(o, "context"), "wheelfarm");
    cJSON_Delete(o);
    wf_forge_request_release(&r);
    assert_null(r.url);
}

static void test_gitea_and_gitlab(void **state)
{
    (void)state;
    wf_forge_request r;
    assert_int_equal(wf_forge_status_request(&r, "gitea", "https://git.example/api/v1", "acme/r",
                                             "tok", SHA, WF_COMMIT_PENDING, NULL, "loading"),
                     0);
    assert_string_equal(r.url, "https://git.example/api/v1/repos/acme/r/statuses/" SHA);
    assert_string_equal(r.headers[0], "Authorization: token tok");
    cJSON *o = body_of(&r);
    assert_string_equal(str(o, "state"), "pending");
    assert_null(cJSON_GetObjectItem(o, "target_url"));
    cJSON_Delete(o);
    wf_forge_request_release(&r);

    /* GitLab: the project path URL-encoded, its own token header and state names. */
    assert_int_equal(wf_forge_status_request(&r, "gitlab", "https://gl.example/api/v4",
                                             "group/sub/recipes", "tok", SHA, WF_COMMIT_FAILURE,
                                             NULL, "broken"),
                     0);
    assert_string_equal(r.url,
                        "https://gl.example/api/v4/projects/group%2Fsub%2Frecipes/statuses/" SHA);
    assert_string_equal(r.headers[0], "PRIVATE-TOKEN: tok");
    o = body_of(&r);
    assert_string_equal(str(o, "state"), "failed");
    assert_string_equal(str(o, "name"), "wheelfarm");
    cJSON_Delete(o);
    wf_forge_request_release(&r);
}

static void test_limits_and_errors(void **state)
{
    (void)state;
    wf_forge_request r;
    /* 139 ASCII bytes then a 2-byte character: cut before it, never inside. */
    char desc[160];
    memset(desc, 'a', 139);
    memcpy(desc + 139, "\xc3\xa9tail", 7);
    assert_int_equal(wf_forge_status_request(&r, "github", "https://a", "o/r", "t", SHA,
                                             WF_COMMIT_SUCCESS, NULL, desc),
                     0);
    cJSON *o = body_of(&r);
    assert_int_equal(strlen(str(o, "description")), 139);
    cJSON_Delete(o);
    wf_forge_request_release(&r);
    assert_int_equal(wf_forge_status_request(&r, "bitbucket", "https://a", "o/r", "t", SHA,
                                             WF_COMMIT_SUCCESS, NULL, ""),
                     WF_EINVAL);
    assert_int_equal(wf_forge_status_request(&r, "github", "https://a", "o/r", "t", SHA,
                                             WF_COMMIT_NONE, NULL, ""),
                     WF_EINVAL);
    assert_int_equal(wf_forge_status_request(&r, "github", "https://a", "o/r", "t", "abc/../x",
                                             WF_COMMIT_SUCCESS, NULL, ""),
                     WF_EINVAL);
    assert_int_equal(wf_forge_status_request(&r, "github", "https://a", "o/r", "t",
                                             "0123456789ABCDEF0123456789abcdef01234567",
                                             WF_COMMIT_SUCCESS, NULL, ""),
                     WF_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_machine),
        cmocka_unit_test(test_github),
        cmocka_unit_test(test_gitea_and_gitlab),
        cmocka_unit_test(test_limits_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
