/* test-api-sources.c - unit tests for daemon/api_sources.c: POST /api/v1/sources against a real
 * fetcher cache in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "daemon/api_sources.h"
#include "lib/fsutil.h"
#include "lib/hash.h"

#define CONTENT "librdkafka stand-in"

typedef struct fixture {
    uv_loop_t loop;
    wf_daemon d;
    char dir[64];
    char *file;
} fixture;

static int setup(void **state)
{
    fixture *f = wf_calloc(1, sizeof(*f));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    snprintf(f->dir, sizeof(f->dir), "/tmp/wf-test-api-sources.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char *cache = wf_asprintf("%s/cache", f->dir);
    assert_int_equal(wf_fetcher_new(&f->d.fetcher, &f->loop, cache), 0);
    free(cache);
    f->file = wf_asprintf("%s/src.tar.gz", f->dir);
    FILE *fp = fopen(f->file, "w");
    assert_non_null(fp);
    fputs(CONTENT, fp);
    fclose(fp);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    wf_fetcher_close(f->d.fetcher, NULL, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    assert_int_equal(wf_fs_remove_tree(f->dir), 0);
    free(f->file);
    free(f);
    return 0;
}

/* Calls the handler with `body`; returns the parsed answer (caller deletes) and its status. */
static cJSON *call(fixture *f, int via_socket, const char *body, int *status)
{
    wf_http_request req = {.method = "POST",
                           .method_len = 4,
                           .path = "/api/v1/sources",
                           .path_len = 15,
                           .query = "",
                           .body = body,
                           .body_len = body != NULL ? strlen(body) : 0,
                           .via_socket = via_socket};
    wf_http_response res = {.status = 200, .content_type = "application/json", .body = WF_BUF_INIT};
    wf__api_sources_add(&f->d, &req, &res);
    *status = res.status;
    cJSON *v = cJSON_ParseWithLength(res.body.ptr, res.body.len);
    assert_non_null(v);
    wf_buf_release(&res.body);
    return v;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void test_adds_files_by_sha256(void **state)
{
    fixture *f = *state;
    char *body = wf_asprintf("{\"paths\": [\"%s\", \"%s\", \"relative.tar.gz\", \"%s/missing\"]}",
                             f->file, f->dir, f->dir);
    int status = 0;
    cJSON *v = call(f, 1, body, &status);
    assert_int_equal(status, 200);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(v, "sources");
    assert_int_equal(cJSON_GetArraySize(items), 4);

    const cJSON *ok = cJSON_GetArrayItem(items, 0);
    char want[WF_SHA256_HEX_LEN + 1];
    wf_sha256_hex(CONTENT, strlen(CONTENT), want);
    assert_string_equal(str(ok, "path"), f->file);
    assert_string_equal(str(ok, "sha256"), want);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(ok, "size")->valuedouble, strlen(CONTENT));
    char *cached = wf_fetcher_cached(f->d.fetcher, want);
    assert_non_null(cached);
    free(cached);

    /* Each bad entry has its own error and hint; none stops the others. */
    assert_non_null(strstr(str(cJSON_GetArrayItem(items, 1), "error"), "not a regular file"));
    assert_non_null(strstr(str(cJSON_GetArrayItem(items, 2), "error"), "not an absolute path"));
    const cJSON *missing = cJSON_GetArrayItem(items, 3);
    assert_non_null(strstr(str(missing, "error"), "/missing"));
    assert_non_null(str(missing, "hint"));
    assert_null(str(missing, "sha256"));
    cJSON_Delete(v);
    free(body);
}

static void test_refused_over_tcp(void **state)
{
    fixture *f = *state;
    char *body = wf_asprintf("{\"paths\": [\"%s\"]}", f->file);
    int status = 0;
    cJSON *v = call(f, 0, body, &status);
    assert_int_equal(status, 403);
    assert_non_null(strstr(str(v, "hint"), "socket"));
    /* Nothing was read: the cache stays empty. */
    char want[WF_SHA256_HEX_LEN + 1];
    wf_sha256_hex(CONTENT, strlen(CONTENT), want);
    assert_null(wf_fetcher_cached(f->d.fetcher, want));
    cJSON_Delete(v);
    free(body);
}

static void test_bad_bodies(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *body;
        int status;
    } cases[] = {
        {NULL, 400},
        {"not json", 400},
        {"{\"paths\": []}", 400},
        {"{\"paths\": \"/etc/hostname\"}", 400},
        {"{\"paths\": [1]}", 400},
        {"{\"paths\": [\"\"]}", 400},
    };
    for (size_t i = 0; i < WF_ARRAY_SIZE(cases); i++) {
        int status = 0;
        cJSON *v = call(f, 1, cases[i].body, &status);
        if (status != cases[i].status || str(v, "error") == NULL)
            fail_msg("case %zu: status %d", i, status);
        cJSON_Delete(v);
    }
    /* More paths than one request may name: 413, nothing read. */
    wf_buf b = WF_BUF_INIT;
    wf_buf_adds(&b, "{\"paths\": [");
    for (int i = 0; i <= WF_API_SOURCES_MAX_PATHS; i++)
        wf_buf_addf(&b, "%s\"%s\"", i ? ", " : "", f->file);
    wf_buf_adds(&b, "]}");
    int status = 0;
    cJSON *v = call(f, 1, b.ptr, &status);
    assert_int_equal(status, 413);
    cJSON_Delete(v);
    wf_buf_release(&b);
}

int main(void)
{
    wf_hash_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_adds_files_by_sha256, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_over_tcp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_bodies, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
