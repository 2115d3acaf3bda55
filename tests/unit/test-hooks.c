/* test-hooks.c - unit tests for daemon/hooks.c and daemon/prs.c: the webhook endpoints of an
 * in-process daemon (routing, signature and token checks, replays, body limits, event kinds)
 * and what a pull request event does to its channel, against a recipe repository in a local
 * bare git repository. Driven over TCP by a blocking HTTP client on a second thread.
 *
 * No worker is configured, so nothing is built; the daemon still needs a Docker client binary
 * and the tests need the git command to make the repository (exit 77 without either).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "daemon/daemon.h"
#include "daemon/internal.h"
#include "lib/config.h"
#include "lib/fsutil.h"
#include "lib/hash.h"
#include "lib/log.h"
#include "lib/wf.h"
#include "support/daemon_fixture.h"
#include "support/git_fixture.h"
#include "support/http_client.h"

#define SECRET "It's a Secret to Everybody"
#define GITLAB_TOKEN "gl-token-0123"

typedef struct fixture fixture;
typedef void (*client_fn)(fixture *f);

struct fixture {
    char root[64];
    uv_loop_t loop;
    wf_daemon *d;
    int port;
    char *token;
    char head1[41], head2[41], head3[41];
    client_fn client;
    http_log http; /* the answers the client got, in order */
};

/* ---- helpers: commit ids, HMACs, HTTP requests ---- */

static void read_sha(const char *path, char out[41])
{
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(wf_fs_read_file(path, 100, &data, &len), 0);
    assert_true(len >= 40);
    memcpy(out, data, 40);
    out[40] = '\0';
    free(data);
}

static void hmac_hex(const char *key, const char *body, char out[65])
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)key, strlen(key));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, strlen(body));
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(out, 65, mac, sizeof(mac));
}

/* Sends raw request bytes over TCP and reads the answer into the next slot. */
static http_resp *exchange(fixture *f, const char *req, size_t len)
{
    http_resp *out = http_log_next(&f->http);
    http_client_send(out, NULL, f->port, req, len);
    return out;
}

static http_resp *http(fixture *f, const char *method, const char *path, const char *headers,
                       const char *body)
{
    http_resp *out = http_log_next(&f->http);
    http_client_request(out, NULL, f->port, method, path, headers, body);
    return out;
}

/* A GitHub delivery signed with `key` (NULL: no signature header). */
static http_resp *github(fixture *f, const char *event, const char *delivery, const char *body,
                         const char *key)
{
    char sig[65] = "";
    if (key != NULL)
        hmac_hex(key, body, sig);
    char *h = wf_asprintf("X-GitHub-Event: %s\r\nX-GitHub-Delivery: %s\r\n%s%s%s", event, delivery,
                          key ? "X-Hub-Signature-256: sha256=" : "", sig, key ? "\r\n" : "");
    http_resp *r = http(f, "POST", "/hooks/github", h, body);
    free(h);
    return r;
}

static http_resp *api_get(fixture *f, const char *path)
{
    char *h = wf_asprintf("Authorization: Bearer %s\r\n", f->token);
    http_resp *r = http(f, "GET", path, h, NULL);
    free(h);
    return r;
}

static char *pr_body(const char *action, const char *head)
{
    return wf_asprintf("{\"action\":\"%s\",\"number\":7,\"pull_request\":{\"number\":7,"
                       "\"merged\":false,\"head\":{\"sha\":\"%s\",\"ref\":\"x\",\"repo\":null},"
                       "\"base\":{\"sha\":\"%s\",\"ref\":\"main\"}}}",
                       action, head, head);
}

/* Polls GET /api/v1/prs/7 until its head is `head` and no longer loading (10 s at most). */
static const cJSON *wait_pr(fixture *f, const char *head)
{
    for (int i = 0; i < 200; i++) {
        http_resp *r = api_get(f, "/api/v1/prs/7");
        const cJSON *o = r->json;
        const cJSON *h = cJSON_GetObjectItem(o, "head_sha");
        if (r->status == 200 && cJSON_IsString(h) && strcmp(h->valuestring, head) == 0 &&
            cJSON_IsFalse(cJSON_GetObjectItem(o, "loading")))
            return o;
        http_log_drop_last(&f->http);
        usleep(50000);
    }
    return NULL;
}

/* ---- the daemon ---- */

static wf_config *make_config(fixture *f)
{
    char *yaml = wf_asprintf("state_dir: %s/state\n"
                             "listen: {socket: %s/api.sock, http: \"127.0.0.1:0\"}\n"
                             "recipes: {git: %s/repo.git, path: recipes, pull_requests: true}\n"
                             "docker: \"\"\n"
                             "shutdown_grace: 1\n"
                             "workers: []\n"
                             "webhooks:\n"
                             "  github: {secret_file: %s/github-secret}\n"
                             "  gitea: {secret_file: %s/gitea-secret}\n"
                             "  gitlab: {token_file: %s/gitlab-token}\n"
                             "  max_body: 4096\n",
                             f->root, f->root, f->root, f->root, f->root, f->root);
    char *file = wf_asprintf("%s/wheelfarmd.yaml", f->root);
    wf_config *c = daemon_fixture_parse_config(file, yaml);
    free(file);
    free(yaml);
    return c;
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char *p = wf_asprintf("%s/%s", dir, name);
    assert_int_equal(wf_fs_write_atomic(p, text, strlen(text), 0600), 0);
    free(p);
}

/* The recipe repository: main holds demo-pkg 1.0; refs/pull/7/head adds version 1.1 (head1),
 * then 1.2 (head2, pushed later by the client). */
static int setup(void **state)
{
    fixture *f = wf_calloc(1, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "/tmp/wf-test-hooks-XXXXXX");
    if (mkdtemp(f->root) == NULL)
        return -1;
    write_file(f->root, "github-secret", SECRET "\n");
    write_file(f->root, "gitea-secret", "gitea secret");
    write_file(f->root, "gitlab-token", GITLAB_TOKEN);
    char *cmd = wf_asprintf(
        "cd %s; G='git -c user.name=t -c user.email=t@t.invalid -c init.defaultBranch=main'\n"
        "$G init -q --bare repo.git; $G init -q work; mkdir work/recipes\n"
        "printf 'name: demo-pkg\\nversions: [\"1.0\"]\\nsource: {sdist: upstream}\\n' "
        ">work/recipes/demo.yaml\n"
        "cd work; $G add -A; $G commit -qm main; $G push -q ../repo.git HEAD:refs/heads/main\n"
        "sed -i 's/\"1.0\"/\"1.0\", \"1.1\"/' recipes/demo.yaml; $G commit -qam pr\n"
        "$G push -q ../repo.git HEAD:refs/pull/7/head; $G rev-parse HEAD >../head1\n"
        "sed -i 's/\"1.1\"/\"1.1\", \"1.2\"/' recipes/demo.yaml; $G commit -qam pr2\n"
        "$G rev-parse HEAD >../head2\n"
        "$G branch -q at2; printf 'name: demo-pkg\\npyton: [cp311]\\n' >>recipes/demo.yaml\n"
        "$G commit -qam broken; $G rev-parse HEAD >../head3; $G checkout -q at2\n",
        f->root);
    int rc = git_fixture_sh(cmd);
    free(cmd);
    if (rc != 0)
        return -1;
    char *p = wf_asprintf("%s/head1", f->root);
    read_sha(p, f->head1);
    free(p);
    p = wf_asprintf("%s/head2", f->root);
    read_sha(p, f->head2);
    free(p);
    p = wf_asprintf("%s/head3", f->root);
    read_sha(p, f->head3);
    free(p);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    http_log_clear(&f->http);
    int rc = wf_fs_remove_tree(f->root);
    free(f->token);
    free(f);
    return rc;
}

static void call_client(void *arg)
{
    fixture *f = arg;
    f->client(f);
}

static void run_daemon(fixture *f, client_fn client)
{
    f->d = daemon_fixture_up(&f->loop, make_config(f));
    f->port = wf_httpd_tcp_port(f->d->httpd);
    f->token = wf_strdup(f->d->token);
    f->client = client;
    daemon_fixture_run_client(&f->loop, f->d, call_client, f);
    daemon_fixture_close(&f->loop, &f->d);
}

static void assert_status(const http_resp *r, int status, const char *body_has)
{
    if (r->status != status ||
        (body_has != NULL && (r->body == NULL || !strstr(r->body, body_has))))
        fail_msg("want %d with '%s', got %d: %s", status, body_has ? body_has : "", r->status,
                 r->body ? r->body : "(none)");
}

/* ---- routing, verification, replays, limits ---- */

enum {
    R_UNKNOWN_FORGE,
    R_GET,
    R_NO_SIG,
    R_BAD_SIG,
    R_UPPER_SIG,
    R_SHA1_SIG,
    R_TOO_BIG,
    R_TOO_BIG_DECLARED,
    R_PING,
    R_PING_AGAIN,
    R_PING_OTHER,
    R_GITEA_BAD,
    R_GITEA,
    R_GITEA_SAME_ID,
    R_GITLAB_BAD,
    R_GITLAB,
    R_LABELED,
    R_NOT_JSON,
    R_BAD_DELIVERY,
    R_API_NO_TOKEN,
    R_COUNT
};

static void client_checks(fixture *f)
{
    const char ping[] = "{\"zen\":\"hi\"}";
    http(f, "POST", "/hooks/bitbucket", NULL, ping);
    http(f, "GET", "/hooks/github", NULL, NULL);
    github(f, "ping", "p-0", ping, NULL);
    github(f, "ping", "p-0", ping, "wrong secret");
    char sig[65], *h;
    hmac_hex(SECRET, ping, sig);
    for (char *c = sig; *c; c++)
        if (*c >= 'a' && *c <= 'f')
            *c = (char)(*c - 'a' + 'A');
    h = wf_asprintf("X-GitHub-Event: ping\r\nX-GitHub-Delivery: p-0\r\n"
                    "X-Hub-Signature-256: sha256=%s\r\n",
                    sig);
    http(f, "POST", "/hooks/github", h, ping);
    free(h);
    http(f, "POST", "/hooks/github",
         "X-GitHub-Event: ping\r\nX-GitHub-Delivery: p-0\r\n"
         "X-Hub-Signature: sha1=0123456789012345678901234567890123456789\r\n",
         ping);
    /* Over webhooks.max_body (4096): a whole body, then a declared length only. */
    char *big = wf_malloc(5001);
    memset(big, ' ', 5000);
    big[0] = '{';
    big[4999] = '}';
    big[5000] = '\0';
    github(f, "ping", "p-big", big, SECRET);
    free(big);
    const char declared[] = "POST /hooks/github HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                            "Content-Length: 50000000\r\n\r\n{}";
    exchange(f, declared, strlen(declared));
    /* p-0 was offered three times unsigned or badly signed: none of them recorded it. */
    github(f, "ping", "p-0", ping, SECRET);
    github(f, "ping", "p-0", ping, SECRET);
    github(f, "ping", "p-1", ping, SECRET);
    http(f, "POST", "/hooks/gitea",
         "X-Gitea-Event: push\r\nX-Gitea-Delivery: p-0\r\n"
         "X-Gitea-Signature: 00\r\n",
         ping);
    hmac_hex("gitea secret", ping, sig);
    h = wf_asprintf("X-Forgejo-Event: push\r\nX-Forgejo-Delivery: p-0\r\n"
                    "X-Forgejo-Signature: %s\r\n",
                    sig);
    http(f, "POST", "/hooks/gitea", h, ping);
    http(f, "POST", "/hooks/gitea", h, ping);
    free(h);
    http(f, "POST", "/hooks/gitlab",
         "X-Gitlab-Event: Push Hook\r\nX-Gitlab-Token: " GITLAB_TOKEN "x\r\n", ping);
    http(f, "POST", "/hooks/gitlab",
         "X-Gitlab-Event: Push Hook\r\nX-Gitlab-Token: " GITLAB_TOKEN
         "\r\nIdempotency-Key: gl-1\r\n",
         ping);
    char *labeled = pr_body("labeled", f->head1);
    github(f, "pull_request", "pr-label", labeled, SECRET);
    free(labeled);
    github(f, "pull_request", "pr-bad", "[1, 2]", SECRET);
    github(f, "pull_request", "bad id with spaces", ping, SECRET);
    http(f, "GET", "/api/v1/prs", NULL, NULL);
}

static void test_endpoints(void **state)
{
    fixture *f = *state;
    run_daemon(f, client_checks);
    assert_int_equal(f->http.n, R_COUNT);
    assert_status(&f->http.r[R_UNKNOWN_FORGE], 404, "no webhook endpoint");
    assert_status(&f->http.r[R_GET], 405, NULL);
    assert_true(strcasestr(f->http.r[R_GET].head, "Allow: POST") != NULL);
    assert_status(&f->http.r[R_NO_SIG], 401, "missing or malformed signature");
    assert_status(&f->http.r[R_BAD_SIG], 401, "the signature does not match");
    assert_status(&f->http.r[R_UPPER_SIG], 401, "malformed");
    assert_status(&f->http.r[R_SHA1_SIG], 401, "malformed");
    assert_status(&f->http.r[R_TOO_BIG], 413, NULL);
    assert_status(&f->http.r[R_TOO_BIG_DECLARED], 413, NULL);
    /* The first authentic delivery of an id is handled; the same id again is a replay. */
    assert_status(&f->http.r[R_PING], 202, "\"pong\"");
    assert_status(&f->http.r[R_PING_AGAIN], 200, "duplicate delivery");
    assert_status(&f->http.r[R_PING_OTHER], 202, "\"pong\"");
    assert_status(&f->http.r[R_GITEA_BAD], 401, NULL);
    /* Forgejo's headers; the same id as GitHub's is another forge's delivery. */
    assert_status(&f->http.r[R_GITEA], 202, "event 'push' builds nothing");
    assert_status(&f->http.r[R_GITEA_SAME_ID], 200, "duplicate delivery");
    assert_status(&f->http.r[R_GITLAB_BAD], 401, "does not match");
    assert_status(&f->http.r[R_GITLAB], 202, "ignored");
    assert_status(&f->http.r[R_LABELED], 202, "action 'labeled' builds nothing");
    assert_status(&f->http.r[R_NOT_JSON], 400, "not a JSON object");
    assert_status(&f->http.r[R_BAD_DELIVERY], 400, "malformed delivery id");
    /* The API keeps its token over TCP; the webhooks' secrets are not API tokens. */
    assert_status(&f->http.r[R_API_NO_TOKEN], 401, NULL);
}

/* ---- a pull request's life ---- */

enum {
    P_OPENED,
    P_OPENED_AGAIN,
    P_CHANNEL_ROOT,
    P_CHANNEL_PAGE,
    P_CHANNEL_OTHER,
    P_MAIN_ROOT,
    P_SYNC,
    P_CHANNEL_ROOT2,
    P_BROKEN,
    P_CLOSED,
    P_CHANNEL_GONE,
    P_PRS,
};

typedef struct seen {
    char projects[64];
    char state[16];
    char head_after_sync[41];
    char broken_state[16];
    char broken_error[512];
} seen;

static seen g_seen;

/* Pushes `rev` of the work repository as pull request 7's head `head` (first, as the forge
 * does), then delivers the "synchronize" event `delivery` for it. */
static void synchronize(fixture *f, const char *rev, const char *head, const char *delivery)
{
    char *cmd =
        wf_asprintf("cd %s/work && git push -q -f ../repo.git %s:refs/pull/7/head", f->root, rev);
    assert_int_equal(git_fixture_sh(cmd), 0);
    free(cmd);
    char *body = pr_body("synchronize", head);
    github(f, "pull_request", delivery, body, SECRET);
    free(body);
}

static void client_pr(fixture *f)
{
    char *body = pr_body("opened", f->head1);
    github(f, "pull_request", "pr-1", body, SECRET);
    github(f, "pull_request", "pr-1", body, SECRET);
    free(body);
    const cJSON *o = wait_pr(f, f->head1);
    if (o != NULL) {
        const cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "projects"), 0);
        snprintf(g_seen.projects, sizeof(g_seen.projects), "%s",
                 cJSON_IsString(p) ? p->valuestring : "");
        snprintf(g_seen.state, sizeof(g_seen.state), "%s",
                 cJSON_GetStringValue(cJSON_GetObjectItem(o, "status")));
        http_log_drop_last(&f->http); /* wait_pr's answer is not a numbered response */
    }
    http(f, "GET", "/pr/7/simple/", NULL, NULL);
    http(f, "GET", "/pr/7/simple/demo-pkg/", NULL, NULL);
    http(f, "GET", "/pr/7/simple/other-pkg/", NULL, NULL);
    http(f, "GET", "/simple/", NULL, NULL);
    /* A new head. */
    synchronize(f, "HEAD", f->head2, "pr-2");
    o = wait_pr(f, f->head2);
    if (o != NULL) {
        snprintf(g_seen.head_after_sync, sizeof(g_seen.head_after_sync), "%s",
                 cJSON_GetStringValue(cJSON_GetObjectItem(o, "head_sha")));
        http_log_drop_last(&f->http);
    }
    http(f, "GET", "/pr/7/simple/", NULL, NULL);
    /* A head whose recipes do not parse: its errors are recorded, its status is a failure. */
    synchronize(f, f->head3, f->head3, "pr-broken");
    o = wait_pr(f, f->head3);
    if (o != NULL) {
        snprintf(g_seen.broken_state, sizeof(g_seen.broken_state), "%s",
                 cJSON_GetStringValue(cJSON_GetObjectItem(o, "status")));
        char *e = cJSON_PrintUnformatted(cJSON_GetObjectItem(o, "errors"));
        snprintf(g_seen.broken_error, sizeof(g_seen.broken_error), "%s", e ? e : "");
        cJSON_free(e);
        http_log_drop_last(&f->http);
    }
    body = pr_body("closed", f->head3);
    github(f, "pull_request", "pr-3", body, SECRET);
    free(body);
    http(f, "GET", "/pr/7/simple/", NULL, NULL);
    api_get(f, "/api/v1/prs");
}

/* Main has a wheel of another project before the daemon starts (its row and its file). */
static void seed_main(fixture *f)
{
    char *dir = wf_asprintf("%s/state/index/files/other-pkg", f->root);
    assert_int_equal(wf_fs_mkdirs(dir, 0755), 0);
    char *path = wf_asprintf("%s/other_pkg-1.0-py3-none-any.whl", dir);
    assert_int_equal(wf_fs_write_atomic(path, "wheel", 5, 0644), 0);
    char *db = wf_asprintf("%s/state/wheelfarm.db", f->root);
    wf_store *s = NULL;
    assert_int_equal(wf_store_open(&s, db), 0);
    int64_t req = 0, job = 0;
    int attempt = 0;
    assert_int_equal(wf_store_request_create(s, "cli", NULL, &req), 0);
    assert_int_equal(
        wf_store_job_create(s, req, "other-pkg", "1.0", "cp311", "linux/amd64", "ok1", 0, &job), 0);
    assert_int_equal(wf_store_attempt_start(s, job, "w", 0, 600000, &attempt), 0);
    wf_artifact_row a = {.build_key = "ok1",
                         .project = "other-pkg",
                         .version = "1.0",
                         .filename = "other_pkg-1.0-py3-none-any.whl",
                         .sha256 = "abcd",
                         .size = 5,
                         .path = path};
    assert_int_equal(wf_store_artifact_add(s, job, attempt, &a), 0);
    wf_store_close(s);
    free(db);
    free(path);
    free(dir);
}

static void test_pull_request(void **state)
{
    fixture *f = *state;
    memset(&g_seen, 0, sizeof(g_seen));
    seed_main(f);
    run_daemon(f, client_pr);
    assert_status(&f->http.r[P_OPENED], 202, "\"accepted\"");
    assert_status(&f->http.r[P_OPENED_AGAIN], 200, "duplicate delivery");
    /* The head changes demo-pkg (a version was added); with no worker nothing is queued, and
     * the head counts as done. */
    assert_string_equal(g_seen.projects, "demo-pkg");
    assert_string_equal(g_seen.state, "success");
    /* The channel lists the changed project (with none of main's files: main has none yet). */
    assert_status(&f->http.r[P_CHANNEL_ROOT], 200, "<a href=\"demo-pkg/\">demo-pkg</a>");
    assert_status(&f->http.r[P_CHANNEL_PAGE], 200, "<!DOCTYPE html>");
    assert_true(strstr(f->http.r[P_CHANNEL_PAGE].body, ".whl") == NULL);
    /* A project the pull request does not change: main's wheels, linked up to /files/. */
    assert_status(
        &f->http.r[P_CHANNEL_OTHER], 200,
        "href=\"../../../../files/other-pkg/other_pkg-1.0-py3-none-any.whl#sha256=abcd\"");
    assert_status(&f->http.r[P_CHANNEL_ROOT], 200, "<a href=\"other-pkg/\">other-pkg</a>");
    assert_status(&f->http.r[P_MAIN_ROOT], 200, "other-pkg");
    assert_true(strstr(f->http.r[P_MAIN_ROOT].body, "demo-pkg") == NULL);
    assert_status(&f->http.r[P_SYNC], 202, "\"synchronize\"");
    assert_string_equal(g_seen.head_after_sync, f->head2);
    assert_status(&f->http.r[P_CHANNEL_ROOT2], 200, "demo-pkg");
    assert_status(&f->http.r[P_BROKEN], 202, "\"synchronize\"");
    assert_string_equal(g_seen.broken_state, "failure");
    /* Named as in the repository, with the position. */
    if (strstr(g_seen.broken_error,
               "\"recipes/demo.yaml:5:1: unknown key 'pyton' (did you mean 'python'?)\"") == NULL)
        fail_msg("broken head's error: '%s'", g_seen.broken_error);
    assert_status(&f->http.r[P_CLOSED], 202, "\"closed\"");
    assert_status(&f->http.r[P_CHANNEL_GONE], 404, NULL);
    const cJSON *prs = cJSON_GetObjectItem(f->http.r[P_PRS].json, "prs");
    assert_int_equal(cJSON_GetArraySize(prs), 1);
    const cJSON *p = cJSON_GetArrayItem(prs, 0);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(p, "state")), "closed");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(p, "head_sha")), f->head3);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(p, "index")));
    /* Requests recorded: one per planned head, with the trigger "pr". */
    wf_store *s = NULL;
    char *db = wf_asprintf("%s/state/wheelfarm.db", f->root);
    assert_int_equal(wf_store_open(&s, db), 0);
    int yes = 0;
    assert_int_equal(wf_store_pr_head_requested(s, 7, f->head1, &yes), 0);
    assert_int_equal(yes, 1);
    assert_int_equal(wf_store_pr_head_requested(s, 7, f->head2, &yes), 0);
    assert_int_equal(yes, 1);
    /* The request of head 2 (the ids of the other requests depend on the recipe repository's
     * own polls, so it is looked up by its trigger record). */
    wf_request_origin o = {0};
    int found = 0;
    for (int64_t id = 1; id < 64 && !found; id++) {
        if (wf_store_request_origin(s, id, &o) != 0)
            break;
        found = o.pr == 7 && o.head_sha != NULL && strcmp(o.head_sha, f->head2) == 0;
        if (!found)
            wf_request_origin_release(&o);
    }
    assert_true(found);
    assert_string_equal(o.ref, "refs/pull/7/head");
    assert_non_null(strstr(o.detail, "1 recipe(s) changed: demo-pkg"));
    wf_request_origin_release(&o);
    wf_store_close(s);
    free(db);
    /* Main's wheel stays; the exports of the heads are gone with the pull request. */
    char *mainfile =
        wf_asprintf("%s/state/index/files/other-pkg/other_pkg-1.0-py3-none-any.whl", f->root);
    assert_int_equal(access(mainfile, F_OK), 0);
    free(mainfile);
    char *exports = wf_asprintf("%s/state/prs/7", f->root);
    assert_int_not_equal(access(exports, F_OK), 0);
    free(exports);
}

/* ---- a restart keeps an open pull request ---- */

static void client_open_only(fixture *f)
{
    char *body = pr_body("opened", f->head1);
    github(f, "pull_request", "r-1", body, SECRET);
    free(body);
    assert_non_null(wait_pr(f, f->head1));
}

static void client_after_restart(fixture *f)
{
    /* The head's recipes load again (from the export, no fetch) and nothing is planned twice;
     * the catch-up of the same head and a redelivery of the same id change nothing. */
    assert_non_null(wait_pr(f, f->head1));
    http(f, "GET", "/pr/7/simple/", NULL, NULL);
    char *body = pr_body("opened", f->head1);
    github(f, "pull_request", "r-1", body, SECRET);
    github(f, "pull_request", "r-2", body, SECRET);
    free(body);
}

static void test_restart(void **state)
{
    fixture *f = *state;
    run_daemon(f, client_open_only);
    http_log_clear(&f->http);
    free(f->token);
    f->token = NULL;
    run_daemon(f, client_after_restart);
    assert_status(&f->http.r[1], 200, "demo-pkg");
    assert_status(&f->http.r[2], 200, "duplicate delivery");
    assert_status(&f->http.r[3], 202, "accepted");
    wf_store *s = NULL;
    char *db = wf_asprintf("%s/state/wheelfarm.db", f->root);
    assert_int_equal(wf_store_open(&s, db), 0);
    /* Exactly one pull request request, from before the restart: the replayed delivery and
     * the restart planned nothing again. */
    int n_pr = 0;
    for (int64_t id = 1; id < 64; id++) {
        char *trigger = NULL;
        if (wf_store_request_get(s, id, &trigger, NULL, NULL) != 0)
            break;
        n_pr += strcmp(trigger, "pr") == 0;
        free(trigger);
    }
    assert_int_equal(n_pr, 1);
    wf_store_close(s);
    free(db);
}

int main(void)
{
    if (wf_hash_init() != 0)
        return 1;
    if (!daemon_fixture_have_docker("test-hooks"))
        return 77;
    if (git_fixture_sh("git --version >/dev/null") != 0) {
        printf("SKIP: test-hooks needs the git command to make its recipe repository\n");
        return 77;
    }
    wf_log_set_level(WF_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_endpoints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pull_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
