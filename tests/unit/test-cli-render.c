/* test-cli-render.c - unit tests for cli/render.c: durations, cleaning, tables, job lines,
 * error messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "cli/render.h"
#include "lib/wf.h"

static void test_durations(void **state)
{
    (void)state;
    static const struct {
        int64_t secs;
        const char *duration, *age;
    } cases[] = {
        {-5, "0s", "0s"},       {0, "0s", "0s"},         {59, "59s", "59s"},
        {60, "1m00s", "1m"},    {65, "1m05s", "1m"},     {3599, "59m59s", "59m"},
        {3600, "1h00m", "1h"},  {7380, "2h03m", "2h"},   {86399, "23h59m", "23h"},
        {86400, "1d00h", "1d"}, {190800, "2d05h", "2d"},
    };
    for (size_t i = 0; i < WF_ARRAY_SIZE(cases); i++) {
        char buf[32];
        assert_string_equal(wf_cli_render_duration(buf, sizeof(buf), cases[i].secs),
                            cases[i].duration);
        assert_string_equal(wf_cli_render_age(buf, sizeof(buf), cases[i].secs), cases[i].age);
    }
}

static void test_clean(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t max;
        const char *out;
    } cases[] = {
        {"plain", 0, "plain"},
        {"a\tb", 0, "a b"},
        {"\x1b[1;31mred\x1b[0m text", 0, "red text"},
        {"\x1b]0;title\atext", 0, "text"},
        {"\x1b]0;title\x1b\\text", 0, "text"},
        {"progress 10%\rprogress 100%", 0, "progress 100%"},
        {"line\r\n", 0, "line"},
        {"bell\a and nul-free \x01"
         "ctl",
         0, "bell and nul-free ctl"},
        {"bad \xff\xfe utf8", 0, "bad ?? utf8"},
        {"caf\xc3\xa9", 4, "caf\xc3\xa9"},                       /* 4 columns fit exactly */
        {"caf\xc3\xa9s", 4, "caf\xe2\x80\xa6"},                  /* cut, with the ellipsis */
        {"\xc3\xa9\xc3\xa9\xc3\xa9", 2, "\xc3\xa9\xe2\x80\xa6"}, /* never splits a character */
        {"abcdef", 1, "\xe2\x80\xa6"},
        {"trailing esc \x1b", 0, "trailing esc "},
        {"unterminated \x1b[12", 0, "unterminated "},
    };
    for (size_t i = 0; i < WF_ARRAY_SIZE(cases); i++) {
        char *s = wf_cli_render_clean(cases[i].in, cases[i].max);
        if (strcmp(s, cases[i].out) != 0)
            fail_msg("case %zu: got '%s', expected '%s'", i, s, cases[i].out);
        free(s);
    }
    char *s = wf_cli_render_clean(NULL, 0);
    assert_string_equal(s, "");
    free(s);
    assert_int_equal(wf_cli_render_width("caf\xc3\xa9\xe2\x80\xa6"), 5);
}

static void test_table(void **state)
{
    (void)state;
    const char *h[] = {"ID", "NAME", "STATE"};
    wf_cli_table *t = wf_cli_table_new(3, h);
    const char *r1[] = {"1", "caf\xc3\xa9-ext", "queued"};
    const char *r2[] = {"123", NULL, "ok"};
    wf_cli_table_add(t, r1);
    wf_cli_table_add(t, r2);
    char *s = wf_cli_table_render(t);
    /* Widths count characters, not bytes; the last column has no trailing spaces. */
    assert_string_equal(s, "ID   NAME      STATE\n"
                           "1    caf\xc3\xa9-ext  queued\n"
                           "123  -         ok\n");
    free(s);
    wf_cli_table_free(t);
    wf_cli_table_free(NULL);
}

static const char job_json[] =
    "{\"id\": 12, \"request\": 3, \"recipe\": \"fixture-ext\", \"version\": \"1.0.0\","
    " \"python\": \"cp311\", \"platform\": \"linux/amd64\", \"state\": \"running\","
    " \"worker\": \"local\", \"emulated\": false, \"build_key\": \"ab12\", \"forced\": false,"
    " \"created_at\": 1000, \"started_at\": 1010, \"finished_at\": null, \"error\": null,"
    " \"wait_reason\": null, \"last_log_line\": \"\\u001b[32mcompiling foo.c\","
    " \"artifact\": null}";

static cJSON *job(void)
{
    cJSON *j = cJSON_Parse(job_json);
    assert_non_null(j);
    return j;
}

static void set_string(cJSON *j, const char *key, const char *value)
{
    cJSON_ReplaceItemInObjectCaseSensitive(j, key,
                                           value ? cJSON_CreateString(value) : cJSON_CreateNull());
}

static void test_live_line(void **state)
{
    (void)state;
    cJSON *j = job();
    char *head = wf_cli_render_job_head(j);
    assert_string_equal(head, "#12 fixture-ext==1.0.0 cp311 linux/amd64");
    free(head);

    /* Running: elapsed since start, and the last log line without its color codes. */
    char *s = wf_cli_render_live_line(j, 1075, 0, 0);
    assert_string_equal(s, "#12 fixture-ext==1.0.0 cp311 linux/amd64  running    1m05s  "
                           "compiling foo.c");
    free(s);
    /* Padded head, and cut to the terminal width. */
    s = wf_cli_render_live_line(j, 1075, 45, 60);
    assert_int_equal(wf_cli_render_width(s), 60);
    assert_non_null(strstr(s, "linux/amd64       running"));
    assert_non_null(strstr(s, "\xe2\x80\xa6"));
    free(s);

    /* Queued: the wait reason, elapsed since creation. */
    set_string(j, "state", "queued");
    set_string(j, "wait_reason", "no healthy worker for linux/arm64");
    cJSON_ReplaceItemInObjectCaseSensitive(j, "started_at", cJSON_CreateNull());
    s = wf_cli_render_live_line(j, 1030, 0, 0);
    assert_non_null(strstr(s, "queued       30s  no healthy worker for linux/arm64"));
    free(s);
    s = wf_cli_render_state_line(j, 1030);
    assert_string_equal(s, "#12 fixture-ext==1.0.0 cp311 linux/amd64: queued (no healthy "
                           "worker for linux/arm64)");
    free(s);
    cJSON_Delete(j);
}

static void test_state_lines(void **state)
{
    (void)state;
    cJSON *j = job();
    char *s = wf_cli_render_state_line(j, 2000);
    assert_string_equal(s, "#12 fixture-ext==1.0.0 cp311 linux/amd64: running on local");
    free(s);

    set_string(j, "state", "failed");
    set_string(j, "error", "build failed:\nexit status 1");
    cJSON_ReplaceItemInObjectCaseSensitive(j, "finished_at", cJSON_CreateNumber(1135));
    s = wf_cli_render_state_line(j, 5000);
    /* Duration from start to finish, not to now; newlines cannot break the line. */
    assert_string_equal(s, "#12 fixture-ext==1.0.0 cp311 linux/amd64: failed after 2m05s: "
                           "build failed: exit status 1");
    free(s);

    set_string(j, "state", "succeeded");
    cJSON_ReplaceItemInObjectCaseSensitive(
        j, "artifact", cJSON_Parse("{\"filename\": \"fixture_ext-1.0.0-cp311.whl\"}"));
    s = wf_cli_render_state_line(j, 5000);
    assert_string_equal(s, "#12 fixture-ext==1.0.0 cp311 linux/amd64: succeeded after 2m05s: "
                           "fixture_ext-1.0.0-cp311.whl");
    free(s);
    cJSON_Delete(j);
}

static void test_tables_from_json(void **state)
{
    (void)state;
    cJSON *jobs = cJSON_CreateArray();
    cJSON_AddItemToArray(jobs, job());
    char *s = wf_cli_render_jobs(jobs, 1000 + 7200);
    assert_string_equal(s, "ID  STATE    RECIPE       VERSION  PYTHON  PLATFORM     WORKER  AGE\n"
                           "12  running  fixture-ext  1.0.0    cp311   linux/amd64  local   2h\n");
    free(s);
    s = wf_cli_render_created(jobs);
    assert_string_equal(s, "ID  RECIPE              PYTHON  PLATFORM     STATE\n"
                           "12  fixture-ext==1.0.0  cp311   linux/amd64  running\n");
    free(s);
    cJSON_Delete(jobs);

    /* Not an array: just the header. */
    s = wf_cli_render_jobs(NULL, 0);
    assert_string_equal(s, "ID  STATE  RECIPE  VERSION  PYTHON  PLATFORM  WORKER  AGE\n");
    free(s);

    cJSON *skipped = cJSON_Parse("[{\"recipe\": \"x\", \"version\": \"1.0\", \"python\": "
                                 "\"cp311\", \"platform\": \"linux/arm64\", \"reason\": "
                                 "\"already built\"}]");
    s = wf_cli_render_skipped(skipped);
    assert_string_equal(s, "skipped x==1.0 cp311 linux/arm64: already built\n");
    free(s);
    cJSON_Delete(skipped);

    cJSON *workers = cJSON_Parse(
        "[{\"name\": \"arm\", \"driver\": \"docker\", \"endpoint\": \"ssh://pi\", "
        "\"context\": null, \"builder\": null, \"platforms\": [\"linux/arm64\"], \"slots\": 2, "
        "\"busy\": 1, \"emulated\": true, \"labels\": [\"zone=eu\", \"fast\"], \"state\": "
        "\"healthy\", \"reason\": null, \"since\": 1000},"
        " {\"name\": \"b\", \"driver\": \"docker\", \"endpoint\": null, \"context\": \"prod\", "
        "\"platforms\": [\"linux/amd64\"], \"slots\": 1, \"busy\": 0, \"emulated\": false, "
        "\"labels\": [], \"state\": \"unhealthy\", \"reason\": \"engine unreachable: no\", "
        "\"since\": 1100},"
        " {\"name\": \"c\", \"driver\": \"buildx\", \"endpoint\": null, \"builder\": \"k8s\", "
        "\"platforms\": [\"linux/amd64\", \"linux/arm64\"], \"slots\": 4, \"busy\": 0, "
        "\"labels\": [], \"state\": \"draining\", \"since\": 0}]");
    s = wf_cli_render_workers(workers, 1130);
    assert_string_equal(
        s, "NAME  DRIVER  PLATFORMS                SLOTS  STATE      SINCE  TARGET        LABELS\n"
           "arm   docker  linux/arm64 (emulated)   1/2    healthy    2m     ssh://pi      "
           "zone=eu,fast\n"
           "b     docker  linux/amd64              0/1    unhealthy  30s    context prod  -\n"
           "c     buildx  linux/amd64,linux/arm64  0/4    draining   -      builder k8s   -\n"
           "\n"
           "b: engine unreachable: no\n");
    free(s);
    cJSON_Delete(workers);

    static const struct {
        const char *json, *want;
    } drains[] = {
        {"{\"name\": \"a\", \"state\": \"draining\", \"drained\": true, \"busy\": 2}",
         "worker 'a' is draining: its 2 running build(s) finish, it takes no new jobs\n"},
        {"{\"name\": \"a\", \"state\": \"draining\", \"drained\": true, \"busy\": 0}",
         "worker 'a' is drained: it takes no new jobs\n"},
        {"{\"name\": \"a\", \"state\": \"healthy\", \"drained\": false, \"busy\": 0}",
         "worker 'a' takes jobs again\n"},
        {"{\"name\": \"a\", \"state\": \"unhealthy\", \"drained\": false, \"reason\": "
         "\"engine unreachable\"}",
         "worker 'a' is undrained; it takes jobs once it is healthy (now unhealthy: engine "
         "unreachable)\n"},
    };
    for (size_t i = 0; i < WF_ARRAY_SIZE(drains); i++) {
        cJSON *w = cJSON_Parse(drains[i].json);
        s = wf_cli_render_drained(w);
        assert_string_equal(s, drains[i].want);
        free(s);
        cJSON_Delete(w);
    }

    cJSON *recipes = cJSON_Parse("[{\"name\": \"x\", \"versions\": [\"1.0\", \"2.0\"], "
                                 "\"python\": [\"cp311\", \"cp312\"], \"platforms\": "
                                 "[\"linux/amd64\"], \"source\": \"sdist\", \"file\": "
                                 "\"recipes/x.yaml\", \"line\": 3}]");
    s = wf_cli_render_recipes(recipes);
    assert_string_equal(s, "NAME  VERSIONS  PYTHON       PLATFORMS    SOURCE  FILE\n"
                           "x     1.0,2.0   cp311,cp312  linux/amd64  sdist   recipes/x.yaml:3\n");
    free(s);
    cJSON_Delete(recipes);

    recipes = cJSON_Parse("[{\"name\": \"t\", \"versions\": [], \"python\": [\"cp311\"], "
                          "\"platforms\": [\"linux/amd64\"], \"source\": \"sdist\", \"track\": "
                          "{\"specifier\": \">=1.0,<2\"}, \"file\": \"t.yaml\", \"line\": 1}]");
    s = wf_cli_render_recipes(recipes);
    assert_string_equal(s, "NAME  VERSIONS        PYTHON  PLATFORMS    SOURCE  FILE\n"
                           "t     track >=1.0,<2  cp311   linux/amd64  sdist   t.yaml:1\n");
    free(s);
    cJSON_Delete(recipes);
}

static void test_bump(void **state)
{
    (void)state;
    cJSON *run = cJSON_Parse(
        "{\"id\": 7, \"kind\": \"manual\", \"dry_run\": true, \"state\": \"finished\", "
        "\"started_at\": 1000, \"max_builds\": 1, \"would_queue\": 1, \"deferred\": 1, "
        "\"errors\": 1, \"recipes\": ["
        "{\"recipe\": \"fixture-ext\", \"track\": \">=1.0,<2\", \"index\": "
        "\"http://i/simple/fixture-ext/\", \"format\": \"json\", \"outcome\": \"would-build\", "
        "\"version\": \"1.1\", \"summary\": \"track >=1.0,<2: newest 1.1 (1.2 yanked)\", "
        "\"error\": null, \"versions_omitted\": 3, \"versions\": ["
        "{\"version\": \"1.2\", \"verdict\": \"yanked\", \"reason\": \"yanked "
        "(broken\\u001b[31m)\"},"
        "{\"version\": \"1.1\", \"verdict\": \"build\", \"reason\": \"newest\"}]},"
        "{\"recipe\": \"other\", \"track\": \"~=2.0\", \"index\": \"http://i/simple/other/\", "
        "\"format\": \"html\", \"outcome\": \"deferred\", \"version\": \"2.1\", \"summary\": "
        "\"track ~=2.0: newest 2.1\", \"versions\": []},"
        "{\"recipe\": \"gone\", \"track\": \">=1\", \"index\": \"http://i/simple/gone/\", "
        "\"format\": null, \"outcome\": \"error\", \"error\": \"HTTP 404\", \"versions\": []}]}");
    char *s = wf_cli_render_bump(run, 1000 + 120);
    assert_string_equal(
        s, "bump run 7 (manual, dry run, 2m ago): 1 version would be queued, 1 deferred by "
           "max_builds 1, 1 error\n"
           "RECIPE       TRACK     OUTCOME                  VERSION  WHY\n"
           "fixture-ext  >=1.0,<2  would build              1.1      track >=1.0,<2: newest 1.1 "
           "(1.2 yanked)\n"
           "other        ~=2.0     deferred (max_builds 1)  2.1      track ~=2.0: newest 2.1\n"
           "gone         >=1       error                    -        HTTP 404\n"
           "\n"
           "fixture-ext: track >=1.0,<2, index http://i/simple/fixture-ext/ (json)\n"
           "  VERSION  VERDICT  WHY\n"
           "  1.2      yanked   yanked (broken)\n"
           "  1.1      build    newest\n"
           "  (3 older versions not shown)\n"
           "\n"
           "other: track ~=2.0, index http://i/simple/other/ (html)\n"
           "  (no versions listed)\n"
           "\n"
           "gone: track >=1, index http://i/simple/gone/ (not read)\n"
           "  error: HTTP 404\n");
    free(s);
    cJSON_Delete(run);
    run = cJSON_Parse("{\"id\": 8, \"kind\": \"schedule\", \"dry_run\": false, \"queued\": 0, "
                      "\"started_at\": 5, \"recipes\": []}");
    s = wf_cli_render_bump(run, 5);
    assert_string_equal(s, "bump run 8 (schedule, 0s ago): 0 versions queued, 0 deferred by "
                           "max_builds 0, 0 errors\n"
                           "no tracking recipes (give a recipe 'track: SPECIFIER')\n");
    free(s);
    cJSON_Delete(run);
}

/* GET /api/v1/recipes problems: errors (the last load failed; the set shown stays in force)
 * and warnings, one "file:line:column: message" line each, control characters removed. */
static void test_recipe_problems(void **state)
{
    (void)state;
    cJSON *root = cJSON_Parse(
        "{\"recipes\": [], \"source\": \"/srv/recipes\", \"loaded_at\": 1000, \"errors\": "
        "[{\"file\": \"/srv/recipes/x.yaml\", \"line\": 4, \"column\": 3, \"message\": "
        "\"unknown key 'pyhton'\", \"text\": \"/srv/recipes/x.yaml:4:3: unknown key "
        "'pyhton'\\u001b[2J\"}], \"warnings\": [{\"file\": \"/srv/recipes/y.yaml\", "
        "\"line\": 1, \"column\": null, \"message\": \"no cp399\", \"text\": "
        "\"/srv/recipes/y.yaml:1: no cp399\"}]}");
    assert_non_null(root);
    char *s = wf_cli_render_recipe_problems(root, 1000 + 125);
    assert_string_equal(s, "errors in the daemon's recipe files; the set loaded from /srv/recipes "
                           "2m ago stays in force until they are fixed:\n"
                           "  /srv/recipes/x.yaml:4:3: unknown key 'pyhton'\n"
                           "recipes that cannot be built with this daemon's images:\n"
                           "  /srv/recipes/y.yaml:1: no cp399\n");
    free(s);
    cJSON_Delete(root);

    root = cJSON_Parse("{\"recipes\": [], \"errors\": [], \"warnings\": []}");
    s = wf_cli_render_recipe_problems(root, 0);
    assert_string_equal(s, "");
    free(s);
    cJSON_Delete(root);
}

static void test_repository(void **state)
{
    (void)state;
    cJSON *repo = cJSON_Parse("{\"git\": \"git://127.0.0.1:9418/r.git\", \"branch\": \"main\", "
                              "\"path\": \"recipes\", \"poll\": 60, \"pull_requests\": false, "
                              "\"commit\": \"0123456789abcdef0123456789abcdef01234567\", "
                              "\"head\": null, \"polled_at\": 1000, \"error\": null}");
    char *s = wf_cli_render_repository(repo, 1005);
    assert_string_equal(s, "recipes from branch main of git://127.0.0.1:9418/r.git (path recipes): "
                           "commit 0123456789ab, polled 5s ago\n");
    free(s);
    cJSON_ReplaceItemInObjectCaseSensitive(repo, "commit", cJSON_CreateNull());
    cJSON_ReplaceItemInObjectCaseSensitive(repo, "polled_at", cJSON_CreateNull());
    s = wf_cli_render_repository(repo, 1005);
    assert_string_equal(s, "recipes from branch main of git://127.0.0.1:9418/r.git (path recipes): "
                           "commit none yet, polled never\n");
    free(s);
    assert_null(wf_cli_render_repository(NULL, 0));
    cJSON_Delete(repo);
}

static void test_show(void **state)
{
    (void)state;
    cJSON *j = job();
    set_string(j, "state", "succeeded");
    cJSON_ReplaceItemInObjectCaseSensitive(j, "finished_at", cJSON_CreateNumber(1070));
    cJSON_ReplaceItemInObjectCaseSensitive(
        j, "artifact",
        cJSON_Parse("{\"filename\": \"x.whl\", \"sha256\": \"abc\", \"size\": 1234, "
                    "\"platform_tag\": \"manylinux_2_17_x86_64\", \"url\": \"/files/x/x.whl\"}"));
    cJSON_AddItemToObject(j, "attempts",
                          cJSON_Parse("[{\"n\": 1, \"worker\": \"w1\", \"state\": \"failed\", "
                                      "\"started_at\": 1000, \"finished_at\": 1005, \"error\": "
                                      "\"engine unreachable\"}, {\"n\": 2, \"worker\": \"local\", "
                                      "\"state\": \"succeeded\", \"started_at\": 1010, "
                                      "\"finished_at\": 1070, \"error\": null}]"));
    cJSON_AddItemToObject(j, "trigger",
                          cJSON_Parse("{\"kind\": \"pr\", \"user\": null, \"pr\": 12, "
                                      "\"head_sha\": \"0123456789abcdef0123\", \"commit\": "
                                      "\"0123456789abcdef0123\", \"ref\": \"refs/pull/12/head\", "
                                      "\"detail\": \"synchronize\"}"));
    cJSON_AddItemToObject(j, "substitutes",
                          cJSON_Parse("[{\"source\": \"zstd\", \"for\": \"eb33\", \"use\": "
                                      "\"0c09\", \"reason\": \"Debian's repack\", "
                                      "\"declared_at\": \"/etc/wf.yaml:12\"}]"));
    char *s = wf_cli_render_job(j, 1130);
    static const char *const expected[] = {
        "job 12\n",
        "state:       succeeded\n",
        "worker:      local\n",
        "request:     3\n",
        "trigger:     pr #12 head 0123456789ab on refs/pull/12/head: synchronize\n",
        "build key:   ab12\n",
        "created:     1970-01-01 00:16:40 UTC (2m ago)\n",
        "finished:    1970-01-01 00:17:50 UTC (1m ago)\n",
        "duration:    1m00s\n",
        "wait reason: -\n",
        "error:       -\n",
        "artifact:    x.whl\n",
        "  platform:  manylinux_2_17_x86_64\n",
        "  sha256:    abc\n",
        "  size:      1234 bytes\n",
        "  url:       /files/x/x.whl\n",
        "substitute:  zstd: sha256:0c09 for sha256:eb33 (/etc/wf.yaml:12: Debian's repack)\n",
        "attempts:\n  #1 w1 failed 5s: engine unreachable\n  #2 local succeeded 1m00s\n",
    };
    for (size_t i = 0; i < WF_ARRAY_SIZE(expected); i++)
        if (strstr(s, expected[i]) == NULL)
            fail_msg("missing '%s' in:\n%s", expected[i], s);
    free(s);
    cJSON_Delete(j);
}

static void test_http_errors(void **state)
{
    (void)state;
    int code = -1;
    const char *body = "{\"error\": \"unknown recipe 'nope'\", \"hint\": \"see wheelfarm "
                       "recipes\"}";
    char *s = wf_cli_render_http_error(400, body, strlen(body), false, &code);
    assert_string_equal(s, "unknown recipe 'nope' (HTTP 400 bad request)\nhint: see wheelfarm "
                           "recipes");
    assert_int_equal(code, 2);
    free(s);

    s = wf_cli_render_http_error(401, "{\"error\": \"missing token\"}", 26, true, &code);
    assert_non_null(strstr(s, "missing token (HTTP 401"));
    assert_non_null(strstr(s, "hint: set WHEELFARM_TOKEN"));
    assert_int_equal(code, 2);
    free(s);

    body = "<html>\x1b[2Jbad gateway</html>";
    s = wf_cli_render_http_error(502, body, strlen(body), false, &code);
    assert_string_equal(s, "<html>bad gateway</html> (HTTP 502 server error)");
    assert_int_equal(code, 1);
    free(s);

    s = wf_cli_render_http_error(404, "", 0, false, &code);
    assert_string_equal(s, "not found (HTTP 404 not found)");
    assert_int_equal(code, 2);
    free(s);
}

static void test_unreachable(void **state)
{
    (void)state;
    char *s =
        wf_cli_render_unreachable("http://127.0.0.1:8780", "default", false, "Connection refused");
    assert_non_null(strstr(s, "cannot reach the daemon at http://127.0.0.1:8780 (the default, "
                              "as there is no socket at ./var/wheelfarm.sock): Connection "
                              "refused"));
    assert_non_null(strstr(s, "--socket PATH or --url URL"));
    assert_non_null(strstr(s, "WHEELFARM_SOCKET or WHEELFARM_URL"));
    free(s);
    s = wf_cli_render_unreachable("unix socket /run/x.sock", "WHEELFARM_SOCKET", true, "");
    assert_non_null(strstr(s, "at unix socket /run/x.sock (from WHEELFARM_SOCKET): no answer"));
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_clean),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_live_line),
        cmocka_unit_test(test_state_lines),
        cmocka_unit_test(test_tables_from_json),
        cmocka_unit_test(test_recipe_problems),
        cmocka_unit_test(test_repository),
        cmocka_unit_test(test_show),
        cmocka_unit_test(test_http_errors),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_bump),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
