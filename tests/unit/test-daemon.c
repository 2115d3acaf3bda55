/* test-daemon.c - unit tests for daemon/daemon.c and daemon/api.c: an in-process daemon on a
 * private loop, driven through its Unix socket by a blocking HTTP client on a second thread.
 *
 * No worker is configured, so jobs stay queued and nothing touches Docker; the daemon still needs
 * a Docker client binary to start (wf_docker_detect), and the test skips (exit 77) without one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
#include "support/http_client.h"

typedef struct fixture fixture;
typedef void (*client_fn)(fixture *f);

struct fixture {
    daemon_dirs dirs;
    char *upstream; /* upstream_index, or NULL for none */
    uv_loop_t loop;
    wf_daemon *d;
    int port;    /* the daemon's TCP port, read back after start */
    char *token; /* the daemon's bearer token (copy) */
    client_fn client;
    const char *workers_yaml; /* the config's workers (a YAML flow list), NULL for none */
    http_log http;            /* the answers the client got, in order */
};

/* ---- the client, run on its own thread ---- */

/* Sends one request (Connection: close) over the socket, or over TCP, into the next slot. */
static http_resp *request(fixture *f, int via_tcp, const char *method, const char *path,
                          const char *extra_headers, const char *body)
{
    http_resp *out = http_log_next(&f->http);
    http_client_request(out, via_tcp ? NULL : f->dirs.sock, f->port, method, path, extra_headers,
                        body);
    return out;
}

static http_resp *get(fixture *f, const char *path)
{
    return request(f, 0, "GET", path, NULL, NULL);
}

static http_resp *post(fixture *f, const char *path, const char *body)
{
    return request(f, 0, "POST", path, "Content-Type: application/json\r\n", body);
}

/* ---- checks, run on the main thread once the loop has ended ---- */

static void assert_status(const http_resp *r, int status)
{
    if (r->status != status)
        fail_msg("want status %d, got %d: %s", status, r->status, r->body ? r->body : "");
}

/* The JSON object of a response with the given status. */
static const cJSON *json_of(const http_resp *r, int status)
{
    assert_status(r, status);
    if (!cJSON_IsObject(r->json))
        fail_msg("not a JSON object: %s", r->body ? r->body : "(none)");
    return r->json;
}

static const cJSON *member(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (v == NULL)
        fail_msg("key '%s' missing", key);
    return v;
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = member(o, key);
    if (!cJSON_IsString(v))
        fail_msg("key '%s' is not a string", key);
    return v->valuestring;
}

static int64_t num_of(const cJSON *o, const char *key)
{
    const cJSON *v = member(o, key);
    if (!cJSON_IsNumber(v))
        fail_msg("key '%s' is not a number", key);
    return (int64_t)v->valuedouble;
}

static const cJSON *arr_of(const cJSON *o, const char *key, int n)
{
    const cJSON *v = member(o, key);
    if (!cJSON_IsArray(v))
        fail_msg("key '%s' is not an array", key);
    if (n >= 0 && cJSON_GetArraySize(v) != n) {
        char *text = cJSON_PrintUnformatted(v);
        fail_msg("'%s' has %d entries, want %d: %s", key, cJSON_GetArraySize(v), n, text);
    }
    return v;
}

/* An error answer: status, {"error": message containing `in_error`, "hint": non-empty}. */
static void assert_error(const http_resp *r, int status, const char *in_error)
{
    const cJSON *o = json_of(r, status);
    const char *e = str_of(o, "error");
    if (in_error != NULL && strstr(e, in_error) == NULL)
        fail_msg("error '%s' lacks '%s'", e, in_error);
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "hint");
    if (!cJSON_IsString(h) || h->valuestring[0] == '\0')
        fail_msg("error answer without a hint (docs/API.md: {\"error\", \"hint\"}): %s", r->body);
}

/* A queued job as the API shows it before any worker exists. */
static void assert_queued_job(const cJSON *j, const char *version)
{
    assert_string_equal(str_of(j, "recipe"), "demo-pkg");
    assert_string_equal(str_of(j, "version"), version);
    assert_string_equal(str_of(j, "python"), "cp311");
    assert_string_equal(str_of(j, "platform"), "linux/amd64");
    assert_string_equal(str_of(j, "state"), "queued");
    assert_true(cJSON_IsNull(member(j, "worker")));
    assert_true(cJSON_IsNull(member(j, "artifact")));
    assert_true(cJSON_IsNull(member(j, "error")));
    assert_int_equal(strlen(str_of(j, "build_key")), 64);
    const char *why = str_of(j, "wait_reason");
    if (strncmp(why, "no healthy worker for linux/amd64: no worker declares it", 56) != 0)
        fail_msg("unexpected wait_reason '%s'", why);
}

/* ---- the daemon side ---- */

static const char recipe_yaml[] = "name: Demo_Pkg\n"
                                  "versions: [\"1.0.0\", \"1.1\"]\n"
                                  "source: {sdist: upstream}\n"
                                  "python: [cp311]\n"
                                  "platforms: [linux/amd64]\n";

/* Writes the daemon's config file with the given workers (a YAML flow list). Also called from
 * the client thread before a SIGHUP. */
static void write_config(fixture *f, const char *workers)
{
    char *yaml = wf_asprintf("state_dir: %s\n"
                             "listen: {socket: %s, http: \"127.0.0.1:0\"}\n"
                             "recipes: %s\n"
                             "docker: \"\"\n"
                             "log_level: warn\n"
                             "shutdown_grace: 1\n"
                             "workers: %s\n"
                             "upstream_index: \"%s\"\n",
                             f->dirs.state_dir, f->dirs.sock, f->dirs.recipes_dir,
                             workers ? workers : "[]", f->upstream != NULL ? f->upstream : "");
    const char *file = f->dirs.config_file;
    if (wf_fs_write_atomic(file, yaml, strlen(yaml), 0644) != 0)
        fprintf(stderr, "cannot write %s\n", file);
    free(yaml);
}

static wf_config *make_config(fixture *f)
{
    write_config(f, f->workers_yaml);
    return daemon_fixture_load_config(f->dirs.config_file);
}

static int setup(void **state)
{
    fixture *f = wf_calloc(1, sizeof(*f));
    if (daemon_dirs_init(&f->dirs, "daemon") != 0)
        return -1;
    char *rp = wf_asprintf("%s/demo.yaml", f->dirs.recipes_dir);
    int rc = wf_fs_write_atomic(rp, recipe_yaml, strlen(recipe_yaml), 0644);
    free(rp);
    if (rc != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    http_log_clear(&f->http);
    int rc = daemon_dirs_release(&f->dirs);
    free(f->upstream);
    free(f->token);
    free(f);
    return rc;
}

static void call_client(void *arg)
{
    fixture *f = arg;
    f->client(f);
}

/* Starts a daemon on the fixture's state dir, runs `client` on a thread against it, shuts the
 * daemon down from the loop when the client is done, and checks the loop closes cleanly. */
static void run_daemon(fixture *f, client_fn client)
{
    f->d = daemon_fixture_up(&f->loop, make_config(f));
    f->port = wf_httpd_tcp_port(f->d->httpd);
    assert_true(f->port > 0);
    free(f->token);
    f->token = wf_strdup(f->d->token);
    f->client = client;
    daemon_fixture_run_client(&f->loop, f->d, call_client, f);
    daemon_fixture_close(&f->loop, &f->d);
    /* The socket file is gone once the daemon stopped. */
    assert_int_not_equal(access(f->dirs.sock, F_OK), 0);
}

/* ---- scenario 1: the API on a daemon without workers ---- */

enum {
    R_STATUS0,
    R_BUILD,
    R_JOBS,
    R_JOBS_LIMIT,
    R_JOB,
    R_LOG,
    R_REQUEST,
    R_WORKERS,
    R_RECIPES,
    R_BUILD_AGAIN,
    R_CANCEL,
    R_CANCEL_AGAIN,
    R_BUILD_AFTER_CANCEL,
    R_STATUS1,
    R_UNKNOWN_RECIPE,
    R_UNKNOWN_VERSION,
    R_BAD_JSON,
    R_BAD_SPECS,
    R_BAD_TRIGGER,
    R_NO_JOB,
    R_NO_JOB_LOG,
    R_NO_REQUEST,
    R_BAD_STATE,
    R_NO_ENDPOINT,
    R_TCP_NO_TOKEN,
    R_TCP_TOKEN,
    R_COUNT
};

static void client_api(fixture *f)
{
    char path[128];
    get(f, "/api/v1/status");
    http_resp *b = post(f, "/api/v1/builds",
                        "{\"specs\": [\"demo-pkg\"], \"trigger\": \"cli\", \"user\": \"alice\"}");
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(b->json, "request");
    int64_t request_id = cJSON_IsNumber(rid) ? (int64_t)rid->valuedouble : 999999;
    http_resp *jobs = get(f, "/api/v1/jobs");
    /* The oldest job (the last in the newest-first list) is 1.0.0's. */
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(jobs->json, "jobs");
    const cJSON *last = cJSON_GetArrayItem(arr, cJSON_GetArraySize(arr) - 1);
    const cJSON *lid = cJSON_GetObjectItemCaseSensitive(last, "id");
    int64_t job = cJSON_IsNumber(lid) ? (int64_t)lid->valuedouble : 999999;
    get(f, "/api/v1/jobs?state=queued&limit=1");
    snprintf(path, sizeof(path), "/api/v1/jobs/%lld", (long long)job);
    get(f, path);
    snprintf(path, sizeof(path), "/api/v1/jobs/%lld/log", (long long)job);
    get(f, path);
    snprintf(path, sizeof(path), "/api/v1/requests/%lld", (long long)request_id);
    get(f, path);
    get(f, "/api/v1/workers");
    get(f, "/api/v1/recipes");
    post(f, "/api/v1/builds", "{\"specs\": [\"demo-pkg\"], \"trigger\": \"cli\"}");
    snprintf(path, sizeof(path), "/api/v1/jobs/%lld/cancel", (long long)job);
    post(f, path, NULL);
    post(f, path, NULL);
    post(f, "/api/v1/builds", "{\"specs\": [\"Demo.Pkg==1.0\"]}");
    get(f, "/api/v1/status");
    post(f, "/api/v1/builds", "{\"specs\": [\"no-such-recipe\"]}");
    post(f, "/api/v1/builds", "{\"specs\": [\"demo-pkg==9.9\"]}");
    post(f, "/api/v1/builds", "{\"specs\": [\"demo-pkg\"");
    post(f, "/api/v1/builds", "{\"specs\": \"demo-pkg\"}");
    post(f, "/api/v1/builds", "{\"specs\": [\"demo-pkg\"], \"trigger\": \"pr\"}");
    get(f, "/api/v1/jobs/987654");
    get(f, "/api/v1/jobs/987654/log");
    get(f, "/api/v1/requests/987654");
    get(f, "/api/v1/jobs?state=exploded");
    get(f, "/api/v1/nothing-here");
    request(f, 1, "GET", "/api/v1/status", NULL, NULL);
    char *auth = wf_asprintf("Authorization: Bearer %s\r\n", f->token);
    request(f, 1, "GET", "/api/v1/status", auth, NULL);
    free(auth);
}

static void check_api_basics(fixture *f, int64_t *job_out, int64_t *request_out)
{
    const cJSON *o = json_of(&f->http.r[R_STATUS0], 200);
    assert_string_equal(str_of(o, "version"), WF_VERSION);
    assert_int_equal(num_of(o, "workers"), 0);
    assert_int_equal(num_of(member(o, "jobs"), "queued"), 0);
    assert_int_equal(num_of(member(o, "jobs"), "running"), 0);

    /* POST /builds: one job per version, all queued, nothing skipped. */
    o = json_of(&f->http.r[R_BUILD], 201);
    int64_t request_id = num_of(o, "request");
    assert_true(request_id > 0);
    const cJSON *jobs = arr_of(o, "jobs", 2);
    arr_of(o, "skipped", 0);
    const cJSON *j;
    int seen_100 = 0, seen_11 = 0;
    cJSON_ArrayForEach(j, jobs)
    {
        const char *v = str_of(j, "version");
        seen_100 += strcmp(v, "1.0.0") == 0;
        seen_11 += strcmp(v, "1.1") == 0;
        assert_queued_job(j, v);
        assert_int_equal(num_of(j, "request"), request_id);
        assert_false(cJSON_IsTrue(member(j, "forced")));
    }
    assert_int_equal(seen_100, 1);
    assert_int_equal(seen_11, 1);

    /* GET /jobs: newest first; the oldest is 1.0.0's (versions are planned in recipe order). */
    o = json_of(&f->http.r[R_JOBS], 200);
    jobs = arr_of(o, "jobs", 2);
    const cJSON *newest = cJSON_GetArrayItem(jobs, 0), *oldest = cJSON_GetArrayItem(jobs, 1);
    assert_true(num_of(newest, "id") > num_of(oldest, "id"));
    assert_queued_job(oldest, "1.0.0");
    int64_t job = num_of(oldest, "id");
    o = json_of(&f->http.r[R_JOBS_LIMIT], 200);
    arr_of(o, "jobs", 1);

    /* GET /jobs/ID: the job plus its (no) attempts. */
    o = json_of(&f->http.r[R_JOB], 200);
    assert_int_equal(num_of(o, "id"), job);
    assert_queued_job(o, "1.0.0");
    /* Every job carries its request's trigger record. */
    assert_string_equal(str_of(member(o, "trigger"), "kind"), "cli");
    assert_string_equal(str_of(member(o, "trigger"), "user"), "alice");
    /* "attempts" is checked in test_api_job_attempts. */

    /* GET /jobs/ID/log: nothing logged yet, but the headers are there. */
    const http_resp *r = &f->http.r[R_LOG];
    assert_status(r, 200);
    assert_int_equal(r->body_len, 0);
    http_assert_header(r, "X-Wheelfarm-Job-State", "queued");
    http_assert_header(r, "X-Wheelfarm-Log-Size", "0");
    char ct[128];
    assert_non_null(http_resp_header(r, "Content-Type", ct, sizeof(ct)));
    assert_non_null(strstr(ct, "text/plain"));

    /* GET /requests/ID. */
    o = json_of(&f->http.r[R_REQUEST], 200);
    assert_int_equal(num_of(o, "id"), request_id);
    const cJSON *trig = member(o, "trigger");
    assert_string_equal(str_of(trig, "kind"), "cli");
    assert_string_equal(str_of(trig, "user"), "alice");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(trig, "pr")));
    assert_true(num_of(o, "created_at") > 0);
    arr_of(o, "jobs", 2);

    o = json_of(&f->http.r[R_WORKERS], 200);
    arr_of(o, "workers", 0);

    o = json_of(&f->http.r[R_RECIPES], 200);
    const cJSON *recipes = arr_of(o, "recipes", 1);
    const cJSON *rec = cJSON_GetArrayItem(recipes, 0);
    assert_string_equal(str_of(rec, "name"), "Demo_Pkg");
    assert_string_equal(str_of(rec, "source"), "sdist");
    const cJSON *versions = arr_of(rec, "versions", 2);
    assert_string_equal(cJSON_GetArrayItem(versions, 0)->valuestring, "1.0.0");
    assert_string_equal(cJSON_GetArrayItem(arr_of(rec, "platforms", 1), 0)->valuestring,
                        "linux/amd64");
    assert_non_null(strstr(str_of(rec, "file"), "demo.yaml"));
    assert_int_equal(num_of(rec, "line"), 1);
    arr_of(o, "errors", 0);
    *job_out = job;
    *request_out = request_id;
}

static void check_api_requeue_and_cancel(fixture *f, int64_t job)
{
    /* The same request again: nothing new, both keys already have a queued job. */
    const cJSON *o = json_of(&f->http.r[R_BUILD_AGAIN], 201);
    arr_of(o, "jobs", 0);
    const cJSON *skipped = arr_of(o, "skipped", 2);
    const cJSON *s;
    cJSON_ArrayForEach(s, skipped)
    {
        assert_string_equal(str_of(s, "recipe"), "demo-pkg");
        assert_string_equal(str_of(s, "python"), "cp311");
        assert_string_equal(str_of(s, "platform"), "linux/amd64");
        assert_string_equal(str_of(s, "reason"), "already queued or running");
        assert_true(num_of(s, "job") > 0);
    }

    /* Cancelling a queued job ends it at once; cancelling again changes nothing. */
    o = json_of(&f->http.r[R_CANCEL], 200);
    assert_int_equal(num_of(o, "id"), job);
    assert_string_equal(str_of(o, "state"), "cancelled");
    assert_true(cJSON_IsNull(member(o, "wait_reason")));
    assert_true(num_of(o, "finished_at") > 0);
    o = json_of(&f->http.r[R_CANCEL_AGAIN], 200);
    assert_string_equal(str_of(o, "state"), "cancelled");

    /* A cancelled job no longer blocks its key: 1.0 (== 1.0.0) is queued again. */
    o = json_of(&f->http.r[R_BUILD_AFTER_CANCEL], 201);
    const cJSON *jobs = arr_of(o, "jobs", 1);
    assert_queued_job(cJSON_GetArrayItem(jobs, 0), "1.0.0");
    assert_true(num_of(cJSON_GetArrayItem(jobs, 0), "id") > job);
    arr_of(o, "skipped", 0);

    o = json_of(&f->http.r[R_STATUS1], 200);
    assert_int_equal(num_of(member(o, "jobs"), "queued"), 2);
    assert_int_equal(num_of(member(o, "jobs"), "running"), 0);
}

static void check_api_errors(fixture *f)
{
    assert_error(&f->http.r[R_BAD_JSON], 400, "not a JSON object");
    assert_error(&f->http.r[R_BAD_SPECS], 400, "lists of strings");
    /* Only a person's trigger kinds may be claimed over the API. */
    assert_error(&f->http.r[R_BAD_TRIGGER], 400, "trigger must be");
    assert_error(&f->http.r[R_NO_JOB], 404, "no such job");
    assert_error(&f->http.r[R_NO_JOB_LOG], 404, "no such job");
    json_of(&f->http.r[R_NO_REQUEST], 404);
    assert_error(&f->http.r[R_BAD_STATE], 400, "unknown job state");
    assert_error(&f->http.r[R_NO_ENDPOINT], 404, "no such endpoint");
    /* Over TCP the API needs the token. */
    assert_status(&f->http.r[R_TCP_NO_TOKEN], 401);
    json_of(&f->http.r[R_TCP_TOKEN], 200);
    /* Unknown recipe and version: 400, the message names them (and says how to fix it). */
    const cJSON *o = json_of(&f->http.r[R_UNKNOWN_RECIPE], 400);
    assert_non_null(strstr(str_of(o, "error"), "'no-such-recipe'"));
    o = json_of(&f->http.r[R_UNKNOWN_VERSION], 400);
    assert_non_null(strstr(str_of(o, "error"), "'9.9'"));
}

static void test_api(void **state)
{
    fixture *f = *state;
    run_daemon(f, client_api);
    assert_int_equal(f->http.n, R_COUNT);
    int64_t job = 0, request_id = 0;
    check_api_basics(f, &job, &request_id);
    check_api_requeue_and_cancel(f, job);
    check_api_errors(f);
}

/* docs/API.md: errors are {"error", "hint"} with a 4xx/5xx status. Lists every answer that
 * breaks this (the planner's 400s, the missing request's 404, ...). */
static void test_api_errors_have_hints(void **state)
{
    fixture *f = *state;
    run_daemon(f, client_api);
    assert_int_equal(f->http.n, R_COUNT);
    static const struct {
        int slot;
        const char *what;
    } errs[] = {
        {R_UNKNOWN_RECIPE, "POST /builds with an unknown recipe"},
        {R_UNKNOWN_VERSION, "POST /builds with an unknown version"},
        {R_BAD_JSON, "POST /builds with bad JSON"},
        {R_BAD_SPECS, "POST /builds with specs not a list"},
        {R_NO_JOB, "GET /jobs/ID of a missing job"},
        {R_NO_JOB_LOG, "GET /jobs/ID/log of a missing job"},
        {R_NO_REQUEST, "GET /requests/ID of a missing request"},
        {R_BAD_STATE, "GET /jobs?state=exploded"},
        {R_NO_ENDPOINT, "GET of an unknown path"},
        {R_TCP_NO_TOKEN, "GET /status over TCP without a token"},
    };
    wf_buf bad = WF_BUF_INIT;
    for (size_t i = 0; i < WF_ARRAY_SIZE(errs); i++) {
        const http_resp *r = &f->http.r[errs[i].slot];
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(r->json, "error");
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(r->json, "hint");
        if (r->status < 400 || !cJSON_IsString(e) || !cJSON_IsString(h) || h->valuestring[0] == 0)
            wf_buf_addf(&bad, "  %s: %d %s\n", errs[i].what, r->status,
                        r->body ? r->body : "(no body)");
    }
    if (bad.len > 0) {
        /* Print, free, then fail: cmocka's failure does not return. */
        fprintf(stderr, "error answers without {\"error\", \"hint\"}:\n%s", bad.ptr);
        wf_buf_release(&bad);
        fail();
    }
}

/* GET /jobs/ID: "attempts" is the list of attempts (docs/API.md, and what `wheelfarm job ID`
 * renders). It must be the only "attempts" key: a job object also carrying an attempt count under
 * the same name is a duplicate key, and cJSON (the CLI) reads the first one. */
static void test_api_job_attempts(void **state)
{
    fixture *f = *state;
    run_daemon(f, client_api);
    assert_int_equal(f->http.n, R_COUNT);
    const http_resp *r = &f->http.r[R_JOB];
    assert_status(r, 200);
    const char *first = strstr(r->body, "\"attempts\"");
    assert_non_null(first);
    if (strstr(first + 1, "\"attempts\"") != NULL)
        fail_msg("duplicate \"attempts\" key in GET /api/v1/jobs/ID: %s", r->body);
    arr_of(json_of(r, 200), "attempts", 0);
    /* The test config declares no substitutes: the job's key covers none. */
    arr_of(json_of(r, 200), "substitutes", 0);
}

/* ---- scenario 2: a restart on the same state dir keeps the jobs ---- */

static void client_first_life(fixture *f)
{
    post(f, "/api/v1/builds", "{\"specs\": [\"demo-pkg\"], \"user\": \"bob\"}");
    post(f, "/api/v1/jobs/1/cancel", NULL);
}

static void client_second_life(fixture *f)
{
    get(f, "/api/v1/jobs");
    get(f, "/api/v1/status");
    get(f, "/api/v1/requests/1");
    post(f, "/api/v1/builds", "{\"specs\": [\"demo-pkg\", \"demo-pkg==1.0.0\"]}");
    char *auth = wf_asprintf("Authorization: Bearer %s\r\n", f->token);
    request(f, 1, "GET", "/api/v1/status", auth, NULL);
    free(auth);
}

static void test_restart_keeps_jobs(void **state)
{
    fixture *f = *state;
    run_daemon(f, client_first_life);
    assert_int_equal(f->http.n, 2);
    const cJSON *o = json_of(&f->http.r[0], 201);
    arr_of(o, "jobs", 2);
    o = json_of(&f->http.r[1], 200);
    assert_int_equal(num_of(o, "id"), 1);
    assert_string_equal(str_of(o, "state"), "cancelled");
    char *token = wf_strdup(f->token);
    http_log_clear(&f->http);

    run_daemon(f, client_second_life);
    assert_int_equal(f->http.n, 5);
    /* The token file made on the first start is reused. */
    assert_string_equal(f->token, token);
    free(token);
    o = json_of(&f->http.r[0], 200);
    const cJSON *jobs = arr_of(o, "jobs", 2);
    const cJSON *newest = cJSON_GetArrayItem(jobs, 0), *oldest = cJSON_GetArrayItem(jobs, 1);
    assert_int_equal(num_of(oldest, "id"), 1);
    assert_string_equal(str_of(oldest, "state"), "cancelled");
    assert_int_equal(num_of(newest, "id"), 2);
    assert_queued_job(newest, "1.1");
    o = json_of(&f->http.r[1], 200);
    assert_int_equal(num_of(member(o, "jobs"), "queued"), 1);
    o = json_of(&f->http.r[2], 200);
    assert_string_equal(str_of(member(o, "trigger"), "user"), "bob");
    arr_of(o, "jobs", 2);
    /* The queued job from before the restart still blocks its key; the cancelled one does not,
     * and 1.0.0 named twice in one request is queued once. */
    o = json_of(&f->http.r[3], 201);
    const cJSON *fresh = arr_of(o, "jobs", 1);
    assert_queued_job(cJSON_GetArrayItem(fresh, 0), "1.0.0");
    int64_t fresh_id = num_of(cJSON_GetArrayItem(fresh, 0), "id");
    assert_int_equal(fresh_id, 3);
    const cJSON *skipped = arr_of(o, "skipped", 2);
    const cJSON *s0 = cJSON_GetArrayItem(skipped, 0), *s1 = cJSON_GetArrayItem(skipped, 1);
    assert_string_equal(str_of(s0, "version"), "1.1");
    assert_string_equal(str_of(s0, "reason"), "already queued or running");
    assert_int_equal(num_of(s0, "job"), 2);
    assert_string_equal(str_of(s1, "version"), "1.0.0");
    assert_string_equal(str_of(s1, "reason"), "already queued or running");
    assert_int_equal(num_of(s1, "job"), fresh_id);
    json_of(&f->http.r[4], 200);
}

/* ---- scenario: version bumps against an upstream index on loopback ---- */

/* A one-project upstream index on its own thread: /simple/tracked/ as PEP 691 JSON when the
 * client's Accept asks for it (with html_only set: 406), else as PEP 503 HTML; else 404.
 * delay_ms holds each answer back, so a run can be caught in flight. */
typedef struct upstream {
    int fd, port;
    pthread_t th;
    atomic_int delay_ms, html_only, stop, served;
} upstream;

static const char tracked_json[] =
    "{\"meta\":{\"api-version\":\"1.1\"},\"name\":\"tracked\",\"files\":["
    "{\"filename\":\"tracked-1.0.tar.gz\",\"url\":\"../../f/tracked-1.0.tar.gz\",\"hashes\":{},"
    "\"upload-time\":\"2024-01-01T00:00:00Z\"},"
    "{\"filename\":\"tracked-1.1.tar.gz\",\"url\":\"../../f/tracked-1.1.tar.gz\",\"hashes\":{},"
    "\"upload-time\":\"2024-02-01T00:00:00Z\"},"
    "{\"filename\":\"tracked-1.2.tar.gz\",\"url\":\"../../f/tracked-1.2.tar.gz\",\"hashes\":{},"
    "\"upload-time\":\"2024-03-01T00:00:00Z\",\"yanked\":\"broken\"},"
    "{\"filename\":\"tracked-2.0rc1.tar.gz\",\"url\":\"../../f/tracked-2.0rc1.tar.gz\","
    "\"hashes\":{},\"upload-time\":\"2024-04-01T00:00:00Z\"}],"
    "\"versions\":[\"1.0\",\"1.1\",\"1.2\",\"2.0rc1\"]}";
static const char tracked_html[] =
    "<!DOCTYPE html><html><body>\n"
    "<a href=\"../../f/tracked-1.0.tar.gz\">tracked-1.0.tar.gz</a>\n"
    "<a href=\"../../f/tracked-1.1.tar.gz\">tracked-1.1.tar.gz</a>\n"
    "<a href=\"../../f/tracked-1.2.tar.gz\" data-yanked=\"broken\">tracked-1.2.tar.gz</a>\n"
    "<a href=\"../../f/tracked-2.0rc1.tar.gz\">tracked-2.0rc1.tar.gz</a>\n"
    "</body></html>\n";

static void upstream_answer(upstream *u, int fd)
{
    wf_buf req = WF_BUF_INIT;
    char chunk[1024];
    ssize_t n;
    while (strstr(req.ptr ? req.ptr : "", "\r\n\r\n") == NULL &&
           (n = recv(fd, chunk, sizeof(chunk), 0)) > 0) {
        wf_buf_add(&req, chunk, (size_t)n); /* keeps req NUL-terminated for strstr */
    }
    int ms = atomic_load(&u->delay_ms);
    for (int waited = 0; waited < ms && !atomic_load(&u->stop); waited += 20)
        usleep(20 * 1000);
    const char *type = "text/html", *body = tracked_html;
    int status = 200;
    if (req.ptr == NULL || strncmp(req.ptr, "GET /simple/tracked/ ", 21) != 0) {
        status = 404, body = "not found\n";
    } else if (strstr(req.ptr, "application/vnd.pypi.simple.v1+json") != NULL) {
        if (atomic_load(&u->html_only))
            status = 406, body = "only text/html here\n"; /* the daemon asks again for HTML */
        else
            type = "application/vnd.pypi.simple.v1+json", body = tracked_json;
    }
    char *out = wf_asprintf("HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                            "Connection: close\r\n\r\n%s",
                            status, type, strlen(body), body);
    http_client_send_all(fd, out, strlen(out));
    free(out);
    wf_buf_release(&req);
    atomic_fetch_add(&u->served, 1);
}

static void *upstream_main(void *arg)
{
    upstream *u = arg;
    while (!atomic_load(&u->stop)) {
        struct pollfd p = {u->fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(u->fd, NULL, NULL);
        if (c < 0)
            continue;
        upstream_answer(u, c);
        close(c);
    }
    return NULL;
}

static void upstream_start(upstream *u)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    u->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(u->fd >= 0);
    assert_int_equal(bind(u->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(u->fd, 16), 0);
    assert_int_equal(getsockname(u->fd, (struct sockaddr *)&sa, &len), 0);
    u->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&u->th, NULL, upstream_main, u), 0);
}

static void upstream_stop(upstream *u)
{
    atomic_store(&u->stop, 1);
    pthread_join(u->th, NULL);
    close(u->fd);
}

static upstream the_upstream;

enum {
    B_STATUS0,
    B_DRY,
    B_BUSY,
    B_DRY_DONE,
    B_REAL,
    B_REAL_DONE,
    B_REQUEST,
    B_ACTIVE,
    B_ACTIVE_DONE,
    B_HTML,
    B_HTML_DONE,
    B_NOT_TRACKING,
    B_NO_RECIPE,
    B_BAD_BODY,
    B_NO_RUN,
    B_BAD_METHOD,
    B_BUILD_BARE,
    B_STATUS1,
    B_INFLIGHT,
    B_COUNT
};

static int64_t id_in(const http_resp *r, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, key);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

/* Polls a bump run until it is no longer running; its final answer goes into the next slot. */
static void wait_run(fixture *f, int64_t id)
{
    char path[64];
    snprintf(path, sizeof(path), "/api/v1/bump/runs/%lld", (long long)id);
    for (int i = 0; i < 400; i++) {
        http_resp *r = get(f, path);
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(r->json, "state");
        if (!cJSON_IsString(st) || strcmp(st->valuestring, "running") != 0)
            return;
        http_log_drop_last(&f->http);
        usleep(25 * 1000);
    }
}

static void client_bump(fixture *f)
{
    upstream *u = &the_upstream;
    get(f, "/api/v1/bump");
    atomic_store(&u->delay_ms, 400);
    int64_t dry = id_in(post(f, "/api/v1/bump", "{\"dry_run\": true}"), "id");
    post(f, "/api/v1/bump", "{}"); /* while the dry run waits for the index */
    wait_run(f, dry);
    atomic_store(&u->delay_ms, 0);
    int64_t real = id_in(post(f, "/api/v1/bump", "{\"recipes\": [\"Tracked\"]}"), "id");
    wait_run(f, real);
    const cJSON *recs = cJSON_GetObjectItemCaseSensitive(f->http.r[B_REAL_DONE].json, "recipes");
    int64_t req = (int64_t)cJSON_GetNumberValue(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(recs, 0), "request"));
    char path[64];
    snprintf(path, sizeof(path), "/api/v1/requests/%lld", (long long)req);
    get(f, path);
    wait_run(f, id_in(post(f, "/api/v1/bump", "{\"dry_run\": true}"), "id"));
    atomic_store(&u->html_only, 1);
    wait_run(f, id_in(post(f, "/api/v1/bump", "{\"dry_run\": true}"), "id"));
    post(f, "/api/v1/bump", "{\"recipes\": [\"demo-pkg\"]}");
    post(f, "/api/v1/bump", "{\"recipes\": [\"nope\"]}");
    post(f, "/api/v1/bump", "{\"dry_run\": \"yes\"}");
    get(f, "/api/v1/bump/runs/999");
    request(f, 0, "PUT", "/api/v1/bump", NULL, NULL);
    post(f, "/api/v1/builds", "{\"specs\": [\"tracked\"]}");
    get(f, "/api/v1/bump");
    /* A run still waiting for the index when the daemon stops: the loop must close cleanly. */
    atomic_store(&u->delay_ms, 3000);
    post(f, "/api/v1/bump", "{}");
}

static const cJSON *version_entry(const cJSON *rec, const char *version)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(rec, "versions"))
    {
        if (strcmp(str_of(v, "version"), version) == 0)
            return v;
    }
    fail_msg("version %s missing from the report", version);
    return NULL;
}

static const cJSON *only_recipe(const http_resp *r)
{
    const cJSON *o = json_of(r, 200);
    assert_string_equal(str_of(o, "state"), "finished");
    return cJSON_GetArrayItem(arr_of(o, "recipes", 1), 0);
}

static void test_bump(void **state)
{
    fixture *f = *state;
    static const char tracked_yaml[] = "name: tracked\n"
                                       "track: \">=1.0,<2\"\n"
                                       "source: {sdist: upstream}\n"
                                       "python: [cp311]\n"
                                       "platforms: [linux/amd64]\n";
    char *rp = wf_asprintf("%s/tracked.yaml", f->dirs.recipes_dir);
    assert_int_equal(wf_fs_write_atomic(rp, tracked_yaml, strlen(tracked_yaml), 0644), 0);
    free(rp);
    memset(&the_upstream, 0, sizeof(the_upstream));
    upstream_start(&the_upstream);
    f->upstream = wf_asprintf("http://127.0.0.1:%d/simple/", the_upstream.port);
    run_daemon(f, client_bump);
    upstream_stop(&the_upstream);
    assert_int_equal(f->http.n, B_COUNT);
    /* One page per run, two for the run refused JSON (406, then HTML), and maybe the page of
     * the run the shutdown interrupted. */
    int served = atomic_load(&the_upstream.served);
    assert_true(served == 5 || served == 6);

    const cJSON *o = json_of(&f->http.r[B_STATUS0], 200);
    assert_string_equal(str_of(o, "schedule"), "0 3 * * *");
    assert_string_equal(str_of(o, "timezone"), "UTC");
    assert_true(num_of(o, "next_run") > wf_time_s());
    assert_int_equal(num_of(o, "max_builds"), 10);
    assert_true(cJSON_IsNull(member(o, "running")));
    arr_of(o, "runs", 0);

    o = json_of(&f->http.r[B_DRY], 202);
    assert_string_equal(str_of(o, "kind"), "manual");
    assert_true(cJSON_IsTrue(member(o, "dry_run")));
    assert_string_equal(str_of(o, "state"), "running");
    int64_t dry = num_of(o, "id");
    /* One run at a time: the second request names the run in flight. */
    assert_error(&f->http.r[B_BUSY], 409, "in progress");
    assert_int_equal(num_of(f->http.r[B_BUSY].json, "run"), dry);

    /* The dry run: 1.1 would be built, and why not the others. */
    const cJSON *rec = only_recipe(&f->http.r[B_DRY_DONE]);
    assert_int_equal(num_of(f->http.r[B_DRY_DONE].json, "would_queue"), 1);
    assert_string_equal(str_of(rec, "recipe"), "tracked");
    assert_string_equal(str_of(rec, "outcome"), "would-build");
    assert_string_equal(str_of(rec, "version"), "1.1");
    assert_string_equal(str_of(rec, "format"), "json");
    assert_string_equal(str_of(rec, "summary"),
                        "track >=1.0,<2: newest 1.1 (2.0rc1 excluded, 1.2 yanked)");
    assert_string_equal(str_of(version_entry(rec, "1.2"), "reason"), "yanked (broken)");
    assert_string_equal(str_of(version_entry(rec, "2.0rc1"), "verdict"), "excluded");
    assert_string_equal(str_of(version_entry(rec, "1.0"), "verdict"), "older");
    assert_int_equal(num_of(version_entry(rec, "1.1"), "uploaded_at"), 1706745600);
    assert_true(cJSON_IsNull(member(rec, "request")));

    /* The real run queued 1.1 as a request whose trigger record names the bump. */
    json_of(&f->http.r[B_REAL], 202);
    rec = only_recipe(&f->http.r[B_REAL_DONE]);
    assert_int_equal(num_of(f->http.r[B_REAL_DONE].json, "queued"), 1);
    assert_string_equal(str_of(rec, "outcome"), "queued");
    assert_int_equal(num_of(rec, "jobs"), 1);
    o = json_of(&f->http.r[B_REQUEST], 200);
    const cJSON *trig = member(o, "trigger");
    assert_string_equal(str_of(trig, "kind"), "bump");
    assert_string_equal(str_of(trig, "upstream_version"), "1.1");
    assert_string_equal(str_of(trig, "detail"),
                        "track >=1.0,<2: newest 1.1 (2.0rc1 excluded, 1.2 yanked)");
    const cJSON *job = cJSON_GetArrayItem(arr_of(o, "jobs", 1), 0);
    assert_string_equal(str_of(job, "recipe"), "tracked");
    assert_string_equal(str_of(job, "version"), "1.1");

    /* Queued now: the next run does not queue it again. */
    rec = only_recipe(&f->http.r[B_ACTIVE_DONE]);
    assert_string_equal(str_of(rec, "outcome"), "active");
    /* An index refusing JSON (406) is asked again for PEP 503 HTML: same verdicts, no upload
     * times, so each version's first sighting is recorded. */
    rec = only_recipe(&f->http.r[B_HTML_DONE]);
    assert_string_equal(str_of(rec, "format"), "html");
    assert_string_equal(str_of(rec, "version"), "1.1");
    assert_string_equal(str_of(version_entry(rec, "1.2"), "verdict"), "yanked");
    assert_true(cJSON_IsNull(member(version_entry(rec, "1.1"), "uploaded_at")));
    assert_true(num_of(version_entry(rec, "1.1"), "first_seen") > 0);

    assert_error(&f->http.r[B_NOT_TRACKING], 400, "does not track");
    assert_error(&f->http.r[B_NO_RECIPE], 400, "'nope'");
    assert_error(&f->http.r[B_BAD_BODY], 400, "dry_run");
    assert_error(&f->http.r[B_NO_RUN], 404, "no such bump run");
    assert_error(&f->http.r[B_BAD_METHOD], 405, "not allowed");
    assert_error(&f->http.r[B_BUILD_BARE], 400, "lists no versions");
    o = json_of(&f->http.r[B_STATUS1], 200);
    assert_int_equal(cJSON_GetArraySize(member(o, "runs")), 4);
    json_of(&f->http.r[B_INFLIGHT], 202);
}

/* ---- scenario 3: a person's retry ---- */

enum {
    RT_BUILD,
    RT_RETRY_QUEUED,
    RT_CANCEL,
    RT_BAD_BODY,
    RT_RETRY,
    RT_RETRY_AGAIN,
    RT_NEW_JOB,
    RT_OLD_JOB,
    RT_NO_JOB,
    RT_GET_RETRY,
    RT_COUNT
};

static void client_retry(fixture *f)
{
    post(f, "/api/v1/builds", "{\"specs\": [\"demo-pkg==1.0.0\"], \"user\": \"alice\"}");
    post(f, "/api/v1/jobs/1/retry", NULL);
    post(f, "/api/v1/jobs/1/cancel", NULL);
    post(f, "/api/v1/jobs/1/retry", "[1, 2]");
    post(f, "/api/v1/jobs/1/retry", "{\"user\": \"carol\"}");
    post(f, "/api/v1/jobs/1/retry", NULL);
    get(f, "/api/v1/jobs/2");
    get(f, "/api/v1/jobs/1");
    post(f, "/api/v1/jobs/77/retry", NULL);
    get(f, "/api/v1/jobs/1/retry");
}

static void test_api_retry(void **state)
{
    fixture *f = *state;
    run_daemon(f, client_retry);
    assert_int_equal(f->http.n, RT_COUNT);
    json_of(&f->http.r[RT_BUILD], 201);
    assert_error(&f->http.r[RT_RETRY_QUEUED], 409,
                 "job 1 is queued; only a failed or cancelled job");
    json_of(&f->http.r[RT_CANCEL], 200);
    assert_error(&f->http.r[RT_BAD_BODY], 400, "not a JSON object");

    /* The retry is a new queued job of its own request, recording who asked. */
    const cJSON *o = json_of(&f->http.r[RT_RETRY], 201);
    assert_int_equal(num_of(o, "id"), 2);
    assert_int_equal(num_of(o, "retry_of"), 1);
    assert_queued_job(o, "1.0.0");
    assert_int_equal(num_of(o, "request"), 2);
    assert_int_equal(num_of(o, "infra_failures"), 0);
    assert_true(cJSON_IsNull(member(o, "not_before")));
    assert_true(cJSON_IsNull(member(o, "avoid_worker")));
    assert_true(cJSON_IsNull(member(o, "lease")));
    assert_error(&f->http.r[RT_RETRY_AGAIN], 409, "already queued or running as job 2");

    o = json_of(&f->http.r[RT_NEW_JOB], 200);
    assert_int_equal(num_of(o, "retry_of"), 1);
    o = json_of(&f->http.r[RT_OLD_JOB], 200);
    assert_string_equal(str_of(o, "state"), "cancelled");
    assert_true(cJSON_IsNull(member(o, "retry_of")));
    assert_error(&f->http.r[RT_NO_JOB], 404, "no such job");
    assert_error(&f->http.r[RT_GET_RETRY], 404, "no such endpoint");
}

static void client_retry_request(fixture *f)
{
    get(f, "/api/v1/requests/2");
}

static void test_api_retry_records_who(void **state)
{
    fixture *f = *state;
    run_daemon(f, client_retry);
    http_log_clear(&f->http);
    run_daemon(f, client_retry_request);
    const cJSON *o = json_of(&f->http.r[0], 200);
    assert_string_equal(str_of(member(o, "trigger"), "kind"), "retry");
    assert_string_equal(str_of(member(o, "trigger"), "user"), "carol");
    arr_of(o, "jobs", 1);
}

/* A daemon that never started frees cleanly, and a second one on the same socket while the
 * first listens is refused with a message naming the socket. The second runs on its own loop:
 * wf_daemon_free() runs the loop until it is empty, so it must not share it with a live daemon. */
static void test_new_free_and_busy_socket(void **state)
{
    fixture *f = *state;
    uv_loop_t loop, loop2;
    assert_int_equal(uv_loop_init(&loop), 0);
    wf_daemon *d = NULL;
    char *err = NULL;
    assert_int_equal(wf_daemon_new(&d, &loop, make_config(f), &err), 0);
    wf_daemon_free(d);
    assert_int_equal(uv_loop_close(&loop), 0);

    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(uv_loop_init(&loop2), 0);
    wf_daemon *a = NULL, *b = NULL;
    assert_int_equal(wf_daemon_new(&a, &loop, make_config(f), &err), 0);
    assert_int_equal(wf_daemon_start(a, &err), 0);
    assert_int_equal(wf_daemon_new(&b, &loop2, make_config(f), &err), 0);
    int rc = wf_daemon_start(b, &err);
    assert_int_equal(rc, UV_EADDRINUSE);
    assert_non_null(err);
    if (strstr(err, f->dirs.sock) == NULL || strstr(err, "another wheelfarmd") == NULL)
        fail_msg("unexpected message: %s", err);
    free(err);
    wf_daemon_free(b);
    assert_int_equal(uv_loop_close(&loop2), 0);
    /* The failed start did not take the first daemon's socket away. */
    assert_int_equal(access(f->dirs.sock, F_OK), 0);
    wf_daemon_shutdown(a);
    uv_run(&loop, UV_RUN_DEFAULT);
    wf_daemon_free(a);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- scenario 3: workers: health, drain, reload, persistence ---- */

/* Workers whose engines do not exist: their probes fail at once, nothing reaches Docker. */
#define DEAD_WORKERS                                                                               \
    "[{name: dead-a, endpoint: \"unix:///nonexistent/wf-a.sock\"},"                                \
    " {name: dead-b, endpoint: \"unix:///nonexistent/wf-b.sock\", slots: 2, labels: {zone: t}}]"

static const cJSON *find_worker(const http_resp *r, const char *name)
{
    const cJSON *w;
    cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(r->json, "workers"))
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(w, "name");
        if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
            return w;
    }
    return NULL;
}

static const char *state_of(const cJSON *w)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(w, "state");
    return cJSON_IsString(s) ? s->valuestring : "";
}

/* GETs /api/v1/workers until `pred` holds (at most ~10 s); returns the last answer. */
static http_resp *wait_workers(fixture *f, int (*pred)(const http_resp *r))
{
    for (int i = 0; i < 100; i++) {
        http_resp *r = get(f, "/api/v1/workers");
        if (pred(r))
            return r;
        http_log_drop_last(&f->http);
        usleep(100 * 1000);
    }
    return get(f, "/api/v1/workers");
}

static int both_unhealthy(const http_resp *r)
{
    return strcmp(state_of(find_worker(r, "dead-a")), "unhealthy") == 0 &&
           strcmp(state_of(find_worker(r, "dead-b")), "unhealthy") == 0;
}

static int reloaded(const http_resp *r)
{
    return find_worker(r, "dead-b") == NULL && find_worker(r, "dead-c") != NULL;
}

enum {
    W_UNHEALTHY,
    W_DRAIN,
    W_DRAIN_UNKNOWN,
    W_ONE,
    W_BAD_ACTION,
    W_BAD_METHOD,
    W_GET_DRAIN,
    W_BUILD,
    W_RELOADED,
    W_UNDRAIN_B,
    W_COUNT
};

static void client_workers(fixture *f)
{
    wait_workers(f, both_unhealthy);
    post(f, "/api/v1/workers/dead-a/drain", NULL);
    post(f, "/api/v1/workers/nope/drain", NULL);
    get(f, "/api/v1/workers/dead-b");
    post(f, "/api/v1/workers/dead-a/explode", NULL);
    request(f, 0, "DELETE", "/api/v1/workers", NULL, NULL);
    get(f, "/api/v1/workers/dead-a/drain");
    post(f, "/api/v1/builds", "{\"specs\": [\"demo-pkg==1.1\"]}");
    /* SIGHUP with dead-b removed and dead-c added (dead-a kept): the daemon's loop reloads. */
    write_config(f, "[{name: dead-a, endpoint: \"unix:///nonexistent/wf-a.sock\"},"
                    " {name: dead-c, context: no-such-context}]");
    kill(getpid(), SIGHUP);
    wait_workers(f, reloaded);
    post(f, "/api/v1/workers/dead-b/undrain", NULL);
}

static void client_first_workers(fixture *f)
{
    get(f, "/api/v1/workers");
    post(f, "/api/v1/workers/dead-a/undrain", NULL);
}

static void test_workers_api(void **state)
{
    fixture *f = *state;
    f->workers_yaml = DEAD_WORKERS;
    run_daemon(f, client_workers);
    assert_int_equal(f->http.n, W_COUNT);

    const http_resp *r = &f->http.r[W_UNHEALTHY];
    arr_of(json_of(r, 200), "workers", 2);
    const cJSON *b = find_worker(r, "dead-b");
    assert_string_equal(str_of(b, "state"), "unhealthy");
    assert_string_equal(str_of(b, "health"), "unhealthy");
    assert_string_equal(str_of(b, "driver"), "docker");
    assert_string_equal(str_of(b, "endpoint"), "unix:///nonexistent/wf-b.sock");
    assert_true(cJSON_IsNull(member(b, "context")));
    assert_true(cJSON_IsNull(member(b, "builder")));
    assert_string_equal(cJSON_GetArrayItem(arr_of(b, "platforms", 1), 0)->valuestring,
                        "linux/amd64");
    assert_string_equal(cJSON_GetArrayItem(arr_of(b, "labels", 1), 0)->valuestring, "zone=t");
    assert_int_equal(num_of(b, "slots"), 2);
    assert_int_equal(num_of(b, "busy"), 0);
    assert_false(cJSON_IsTrue(member(b, "emulated")));
    assert_false(cJSON_IsTrue(member(b, "drained")));
    if (strstr(str_of(b, "reason"), "engine unreachable") == NULL)
        fail_msg("reason '%s'", str_of(b, "reason"));
    assert_true(num_of(b, "since") > 0);
    assert_true(num_of(b, "last_probe") >= num_of(b, "since"));
    assert_true(cJSON_IsNull(member(b, "engine")));

    const cJSON *o = json_of(&f->http.r[W_DRAIN], 200);
    assert_string_equal(str_of(o, "name"), "dead-a");
    assert_string_equal(str_of(o, "state"), "draining");
    assert_string_equal(str_of(o, "health"), "unhealthy");
    assert_true(cJSON_IsTrue(member(o, "drained")));
    assert_non_null(strstr(str_of(o, "reason"), "drained"));
    assert_error(&f->http.r[W_DRAIN_UNKNOWN], 404, "no worker named 'nope'");
    o = json_of(&f->http.r[W_DRAIN_UNKNOWN], 404);
    assert_non_null(strstr(str_of(o, "hint"), "dead-a, dead-b"));
    o = json_of(&f->http.r[W_ONE], 200);
    assert_string_equal(str_of(o, "name"), "dead-b");
    assert_error(&f->http.r[W_BAD_ACTION], 404, "no such endpoint");
    assert_error(&f->http.r[W_BAD_METHOD], 405, NULL);
    assert_error(&f->http.r[W_GET_DRAIN], 405, NULL);

    /* The queued job says why it waits: one unhealthy worker, one draining. */
    o = json_of(&f->http.r[W_BUILD], 201);
    const cJSON *job = cJSON_GetArrayItem(arr_of(o, "jobs", 1), 0);
    const char *why = str_of(job, "wait_reason");
    if (strncmp(why, "no healthy worker for linux/amd64: 'dead-b' (engine unreachable", 63) != 0 ||
        strstr(why, "is unhealthy; 'dead-a' is draining") == NULL)
        fail_msg("wait_reason '%s'", why);

    /* After SIGHUP: dead-b is gone (it ran nothing), dead-c probed, dead-a kept its drain. */
    r = &f->http.r[W_RELOADED];
    arr_of(json_of(r, 200), "workers", 2);
    assert_string_equal(str_of(cJSON_GetArrayItem(member(r->json, "workers"), 0), "name"),
                        "dead-a");
    assert_string_equal(state_of(find_worker(r, "dead-a")), "draining");
    const cJSON *c = find_worker(r, "dead-c");
    assert_string_equal(str_of(c, "context"), "no-such-context");
    assert_true(cJSON_IsNull(member(c, "endpoint")));
    assert_error(&f->http.r[W_UNDRAIN_B], 404, "no worker named 'dead-b'");

    /* The drain flag outlives the daemon. */
    http_log_clear(&f->http);
    run_daemon(f, client_first_workers);
    const cJSON *a = find_worker(&f->http.r[0], "dead-a");
    assert_non_null(a);
    assert_true(cJSON_IsTrue(member(a, "drained")));
    assert_string_equal(str_of(a, "state"), "draining");
    o = json_of(&f->http.r[1], 200);
    assert_false(cJSON_IsTrue(member(o, "drained")));
}

int main(void)
{
    if (wf_hash_init() != 0)
        return 1;
    if (!daemon_fixture_have_docker("test-daemon"))
        return 77;
    /* Keep the suite quiet: the daemon logs its progress at info. */
    wf_log_set_level(WF_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_api, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_errors_have_hints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_job_attempts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_keeps_jobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_retry_records_who, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_free_and_busy_socket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bump, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workers_api, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
