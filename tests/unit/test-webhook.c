/* test-webhook.c - unit tests for lib/webhook.c: signature checks and event payload parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hash.h"
#include "lib/webhook.h"
#include "lib/wf.h"

/* GitHub's published example ("Validating webhook deliveries"). */
#define GH_SECRET "It's a Secret to Everybody"
#define GH_BODY "Hello, World!"
#define GH_HEX "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

static int gh(const char *secret, const char *body, const char *header)
{
    return wf_webhook_verify_github(secret, strlen(secret), body, strlen(body), header,
                                    header ? strlen(header) : 0);
}

static int gitea(const char *secret, const char *body, const char *header)
{
    return wf_webhook_verify_gitea(secret, strlen(secret), body, strlen(body), header,
                                   header ? strlen(header) : 0);
}

static void test_github_vector(void **state)
{
    (void)state;
    assert_int_equal(gh(GH_SECRET, GH_BODY, "sha256=" GH_HEX), 0);
    /* A key longer than the 64-byte HMAC block is hashed first (python's hmac agrees). */
    char key[101];
    memset(key, 'k', 100);
    key[100] = '\0';
    assert_int_equal(gh(key, "{\"action\":\"opened\"}",
                        "sha256=09f18823dce8a6d91cbd8a6987aafca4640d26c858be4402982a7fba56663c09"),
                     0);
    /* Only [header, header+len) is read: a longer buffer with the right prefix is fine. */
    const char *padded = "sha256=" GH_HEX "trailing";
    assert_int_equal(wf_webhook_verify_github(GH_SECRET, strlen(GH_SECRET), GH_BODY,
                                              strlen(GH_BODY), padded, 7 + 64),
                     0);
}

static void test_github_negatives(void **state)
{
    (void)state;
    /* Malformed or missing: WF_EINVAL. */
    assert_int_equal(gh(GH_SECRET, GH_BODY, NULL), WF_EINVAL);
    assert_int_equal(gh(GH_SECRET, GH_BODY, ""), WF_EINVAL);
    assert_int_equal(gh(GH_SECRET, GH_BODY, GH_HEX), WF_EINVAL); /* no prefix */
    assert_int_equal(gh(GH_SECRET, GH_BODY, "sha1=" GH_HEX), WF_EINVAL);
    assert_int_equal(gh(GH_SECRET, GH_BODY, "sha1=01234567890123456789012345678901234567ab"),
                     WF_EINVAL);
    assert_int_equal(gh(GH_SECRET, GH_BODY, "SHA256=" GH_HEX), WF_EINVAL);
    assert_int_equal(gh(GH_SECRET, GH_BODY, " sha256=" GH_HEX), WF_EINVAL);
    char h[128];
    snprintf(h, sizeof(h), "sha256=%.63s", GH_HEX); /* 63 digits */
    assert_int_equal(gh(GH_SECRET, GH_BODY, h), WF_EINVAL);
    snprintf(h, sizeof(h), "sha256=%s7", GH_HEX); /* 65 digits */
    assert_int_equal(gh(GH_SECRET, GH_BODY, h), WF_EINVAL);
    snprintf(h, sizeof(h), "sha256=%.63sg", GH_HEX); /* a non-hex digit */
    assert_int_equal(gh(GH_SECRET, GH_BODY, h), WF_EINVAL);
    /* Uppercase hex is refused as malformed, even though it spells the right digest. */
    snprintf(h, sizeof(h), "sha256=%s", GH_HEX);
    for (char *p = h + 7; *p; p++)
        *p = (*p >= 'a' && *p <= 'f') ? (char)(*p - 'a' + 'A') : *p;
    assert_int_equal(gh(GH_SECRET, GH_BODY, h), WF_EINVAL);
    /* An empty secret never authenticates, even with its own correct HMAC. */
    assert_int_equal(
        gh("", "x", "sha256=4cbc96099a6467ce002461f10549b4898265ebe6188b45efacc44293516e62c4"),
        WF_EINVAL);

    /* Well-formed but wrong: WF_EHASH. */
    assert_int_equal(gh(GH_SECRET, "Hello, World?", "sha256=" GH_HEX), WF_EHASH);
    assert_int_equal(gh(GH_SECRET, "Hello, World! ", "sha256=" GH_HEX), WF_EHASH);
    assert_int_equal(gh("It's a Secret to Everybodz", GH_BODY, "sha256=" GH_HEX), WF_EHASH);
    assert_int_equal(gh("It's a Secret to Everybod", GH_BODY, "sha256=" GH_HEX), WF_EHASH);
    snprintf(h, sizeof(h), "sha256=%.63s8", GH_HEX); /* last digit 7 -> 8 */
    assert_int_equal(gh(GH_SECRET, GH_BODY, h), WF_EHASH);
    /* The body is bytes, NUL included. */
    assert_int_equal(wf_webhook_verify_github(GH_SECRET, strlen(GH_SECRET), "Hello, World!\0", 14,
                                              "sha256=" GH_HEX, 71),
                     WF_EHASH);
}

static void test_gitea(void **state)
{
    (void)state;
    assert_int_equal(gitea(GH_SECRET, GH_BODY, GH_HEX), 0);
    assert_int_equal(gitea(GH_SECRET, GH_BODY, NULL), WF_EINVAL);
    assert_int_equal(gitea(GH_SECRET, GH_BODY, "sha256=" GH_HEX), WF_EINVAL);
    assert_int_equal(gitea(GH_SECRET, GH_BODY,
                           "757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F"
                           "4379C8B043E17"),
                     WF_EINVAL);
    assert_int_equal(gitea(GH_SECRET, "Hello, World", GH_HEX), WF_EHASH);
    assert_int_equal(gitea("it's a Secret to Everybody", GH_BODY, GH_HEX), WF_EHASH);
}

static void test_gitlab(void **state)
{
    (void)state;
    const char *secret = "s3cr3t-token";
    assert_int_equal(wf_webhook_verify_gitlab(secret, strlen(secret), "s3cr3t-token", 12), 0);
    assert_int_equal(wf_webhook_verify_gitlab(secret, strlen(secret), NULL, 0), WF_EINVAL);
    assert_int_equal(wf_webhook_verify_gitlab(secret, strlen(secret), "", 0), WF_EINVAL);
    assert_int_equal(wf_webhook_verify_gitlab(secret, strlen(secret), "s3cr3t-tokem", 12),
                     WF_EHASH);
    assert_int_equal(wf_webhook_verify_gitlab(secret, strlen(secret), "s3cr3t-token ", 13),
                     WF_EHASH);
    assert_int_equal(wf_webhook_verify_gitlab(secret, strlen(secret), "s3cr3t-toke", 11), WF_EHASH);
    assert_int_equal(wf_webhook_verify_gitlab("", 0, "", 0), WF_EINVAL);
}

/* A GitHub-shaped pull_request event; %s slots: action, head sha, merged. */
static char *github_body(const char *action, const char *head_sha, const char *merged)
{
    return wf_asprintf(
        "{\"action\":\"%s\",\"number\":42,\"pull_request\":{\"number\":42,"
        "\"head\":{\"sha\":\"%s\",\"ref\":\"add-numpy\",\"repo\":{\"clone_url\":"
        "\"https://git.example.test/alice/recipes.git\"}},"
        "\"base\":{\"sha\":\"0123456789abcdef0123456789abcdef01234567\",\"ref\":\"main\","
        "\"repo\":{\"clone_url\":\"https://git.example.test/org/recipes.git\"}},"
        "\"merged\":%s},\"repository\":{\"full_name\":\"org/recipes\"}}",
        action, head_sha, merged);
}

#define HEAD_SHA "89abcdef0123456789abcdef0123456789abcdef"

static void test_parse_github_pr(void **state)
{
    (void)state;
    char *body = github_body("synchronize", HEAD_SHA, "false");
    wf_webhook_pr pr;
    char err[128] = "";
    assert_int_equal(wf_webhook_parse_github_pr(&pr, body, strlen(body), err, sizeof(err)), 0);
    assert_int_equal(pr.event, WF_WEBHOOK_PR_UPDATED);
    assert_string_equal(pr.action, "synchronize");
    assert_int_equal(pr.number, 42);
    assert_string_equal(pr.head_sha, HEAD_SHA);
    assert_string_equal(pr.head_ref, "add-numpy");
    assert_string_equal(pr.head_clone_url, "https://git.example.test/alice/recipes.git");
    assert_string_equal(pr.base_sha, "0123456789abcdef0123456789abcdef01234567");
    assert_string_equal(pr.base_ref, "main");
    assert_int_equal(pr.merged, 0);
    wf_webhook_pr_release(&pr);
    assert_null(pr.action);
    free(body);

    static const struct {
        const char *action, *merged;
        wf_webhook_pr_event event;
    } events[] = {
        {"opened", "false", WF_WEBHOOK_PR_OPENED},
        {"reopened", "false", WF_WEBHOOK_PR_OPENED},
        {"synchronized", "false", WF_WEBHOOK_PR_UPDATED}, /* Gitea's spelling */
        {"closed", "false", WF_WEBHOOK_PR_CLOSED},
        {"closed", "true", WF_WEBHOOK_PR_MERGED},
        {"labeled", "false", WF_WEBHOOK_PR_OTHER},
    };
    for (size_t i = 0; i < WF_ARRAY_SIZE(events); i++) {
        body = github_body(events[i].action, HEAD_SHA, events[i].merged);
        assert_int_equal(wf_webhook_parse_github_pr(&pr, body, strlen(body), NULL, 0), 0);
        assert_int_equal(pr.event, events[i].event);
        assert_int_equal(pr.merged, strcmp(events[i].merged, "true") == 0);
        wf_webhook_pr_release(&pr);
        free(body);
    }

    /* A deleted fork: head.repo is null, which is allowed. */
    const char *nofork = "{\"action\":\"closed\",\"number\":7,\"pull_request\":{"
                         "\"head\":{\"sha\":\"" HEAD_SHA "\",\"ref\":\"x\",\"repo\":null},"
                         "\"base\":{\"sha\":\"" HEAD_SHA "\",\"ref\":\"main\"},\"merged\":false}}";
    assert_int_equal(wf_webhook_parse_github_pr(&pr, nofork, strlen(nofork), NULL, 0), 0);
    assert_null(pr.head_clone_url);
    assert_int_equal(pr.number, 7);
    wf_webhook_pr_release(&pr);
}

static void expect_github_error(const char *body, const char *says)
{
    wf_webhook_pr pr;
    memset(&pr, 0xff, sizeof(pr));
    char err[160] = "";
    int r = wf_webhook_parse_github_pr(&pr, body, strlen(body), err, sizeof(err));
    if (r != WF_EINVAL || strstr(err, says) == NULL)
        fail_msg("expected WF_EINVAL saying \"%s\", got %d: \"%s\"", says, r, err);
    assert_null(pr.action); /* zeroed on failure */
    assert_null(pr.head_sha);
}

static void test_parse_github_pr_errors(void **state)
{
    (void)state;
    expect_github_error("", "not a JSON object");
    expect_github_error("[1,2]", "not a JSON object");
    expect_github_error("{\"action\":\"opened\"", "not a JSON object");
    expect_github_error("{\"number\":1}", "missing string 'action'");
    expect_github_error("{\"action\":\"opened\"}", "missing number 'number'");
    expect_github_error("{\"action\":\"opened\",\"number\":\"1\"}", "expected a number 'number'");
    expect_github_error("{\"action\":\"opened\",\"number\":1.5}", "positive integer");
    expect_github_error("{\"action\":\"opened\",\"number\":0}", "positive integer");
    expect_github_error("{\"action\":\"opened\",\"number\":1}",
                        "missing string 'pull_request.head.sha'");
    char *body = github_body("opened", "89ABCDEF0123456789abcdef0123456789abcdef", "false");
    expect_github_error(body, "'pull_request.head.sha' is not a commit id");
    free(body);
    body = github_body("opened", "--upload-pack=evil", "false");
    expect_github_error(body, "not a commit id");
    free(body);
    body = github_body("opened", HEAD_SHA, "\"no\"");
    expect_github_error(body, "expected a boolean 'pull_request.merged'");
    free(body);
    expect_github_error("{\"action\":\"opened\",\"number\":1,\"pull_request\":{"
                        "\"head\":{\"sha\":\"" HEAD_SHA "\",\"ref\":\"x\"},"
                        "\"base\":{\"sha\":\"" HEAD_SHA "\",\"ref\":\"main\"},\"merged\":false}}",
                        "missing object 'pull_request.head.repo'");
    expect_github_error("{\"action\":\"opened\",\"number\":1,\"pull_request\":{"
                        "\"head\":{\"sha\":\"" HEAD_SHA "\",\"ref\":\"\",\"repo\":null},"
                        "\"base\":{\"sha\":\"" HEAD_SHA "\",\"ref\":\"main\"},\"merged\":false}}",
                        "expected a non-empty string 'pull_request.head.ref'");

    /* Over the size limit: WF_ELIMIT, before any parsing. */
    wf_webhook_pr pr;
    char err[128] = "";
    assert_int_equal(
        wf_webhook_parse_github_pr(&pr, "{}", (size_t)WF_WEBHOOK_MAX_BODY + 1, err, sizeof(err)),
        WF_ELIMIT);
    assert_non_null(strstr(err, "limit"));
}

/* A trimmed GitLab "Merge Request Hook" body; %s slots: action, state, extra attributes. */
static char *gitlab_body(const char *action, const char *state, const char *extra)
{
    return wf_asprintf("{\"object_kind\":\"merge_request\",\"event_type\":\"merge_request\","
                       "\"project\":{\"id\":1},\"object_attributes\":{\"iid\":5,\"id\":901,"
                       "\"action\":\"%s\",\"state\":\"%s\",\"source_branch\":\"feature\","
                       "\"target_branch\":\"main\",\"source\":{\"git_http_url\":"
                       "\"https://gitlab.example.test/alice/recipes.git\"},"
                       "\"last_commit\":{\"id\":\"" HEAD_SHA "\"}%s}}",
                       action, state, extra);
}

static void test_parse_gitlab_mr(void **state)
{
    (void)state;
    static const struct {
        const char *action, *state, *extra;
        wf_webhook_pr_event event;
        int merged;
    } cases[] = {
        {"open", "opened", "", WF_WEBHOOK_PR_OPENED, 0},
        {"reopen", "opened", "", WF_WEBHOOK_PR_OPENED, 0},
        {"update", "opened", ",\"oldrev\":\"" HEAD_SHA "\"", WF_WEBHOOK_PR_UPDATED, 0},
        {"update", "opened", "", WF_WEBHOOK_PR_OTHER, 0}, /* title edit: no new commit */
        {"close", "closed", "", WF_WEBHOOK_PR_CLOSED, 0},
        {"merge", "merged", "", WF_WEBHOOK_PR_MERGED, 1},
        {"approved", "opened", "", WF_WEBHOOK_PR_OTHER, 0},
    };
    for (size_t i = 0; i < WF_ARRAY_SIZE(cases); i++) {
        char *body = gitlab_body(cases[i].action, cases[i].state, cases[i].extra);
        wf_webhook_pr pr;
        char err[128] = "";
        int r = wf_webhook_parse_gitlab_mr(&pr, body, strlen(body), err, sizeof(err));
        if (r != 0)
            fail_msg("case %zu: %d %s", i, r, err);
        assert_int_equal(pr.event, cases[i].event);
        assert_int_equal(pr.merged, cases[i].merged);
        assert_int_equal(pr.number, 5); /* iid, not the global id */
        assert_string_equal(pr.head_sha, HEAD_SHA);
        assert_string_equal(pr.head_ref, "feature");
        assert_string_equal(pr.base_ref, "main");
        assert_string_equal(pr.head_clone_url, "https://gitlab.example.test/alice/recipes.git");
        assert_null(pr.base_sha);
        wf_webhook_pr_release(&pr);
        free(body);
    }

    wf_webhook_pr pr;
    char err[160] = "";
    const char *push = "{\"object_kind\":\"push\"}";
    assert_int_equal(wf_webhook_parse_gitlab_mr(&pr, push, strlen(push), err, sizeof(err)),
                     WF_EINVAL);
    assert_non_null(strstr(err, "not a merge request event"));
    const char *nocommit = "{\"object_kind\":\"merge_request\",\"object_attributes\":{\"iid\":5,"
                           "\"action\":\"open\",\"state\":\"opened\"}}";
    assert_int_equal(wf_webhook_parse_gitlab_mr(&pr, nocommit, strlen(nocommit), err, sizeof(err)),
                     WF_EINVAL);
    assert_string_equal(err, "missing string 'object_attributes.last_commit.id'");
    assert_null(pr.action);
}

static int setup(void **state)
{
    (void)state;
    return wf_hash_init();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_github_vector),   cmocka_unit_test(test_github_negatives),
        cmocka_unit_test(test_gitea),           cmocka_unit_test(test_gitlab),
        cmocka_unit_test(test_parse_github_pr), cmocka_unit_test(test_parse_github_pr_errors),
        cmocka_unit_test(test_parse_gitlab_mr),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
