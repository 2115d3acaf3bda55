/* test-upstream.c - tests for daemon/upstream.c: sdists in PEP 503 HTML and PEP 691 JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/upstream.h"
#include "lib/wf.h"

#define PAGE "https://index.example.test/simple/zope-interface/"
#define H1 "1111111111111111111111111111111111111111111111111111111111111111"
#define H2 "2222222222222222222222222222222222222222222222222222222222222222"
#define H3 "abcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdef0123"

static const char html_page[] =
    "<!DOCTYPE html>\n<html><head><title>Links for zope.interface</title></head><body>\n"
    "<!-- <a href=\"/commented/zope.interface-5.0.tar.gz\">zope.interface-5.0.tar.gz</a> -->\n"
    "<a href=\"../../packages/aa/zope.interface-5.0-cp311-cp311-manylinux.whl#sha256=" H1
    "\">zope.interface-5.0-cp311-cp311-manylinux.whl</a><br/>\n"
    "<a href=\"../../packages/bb/zope.interface-5.0.zip#sha256=" H1
    "\">zope.interface-5.0.zip</a>\n"
    "<A HREF=\"../../packages/cc/zope.interface-5.0.tar.gz?x=1&amp;y=2#sha256=" H2
    "\" data-requires-python=\"&gt;=3.7\">zope.interface-5.0.tar.gz</A>\n"
    "<a href=\"https://files.example.test/zope_interface-5.1.tar.gz\" data-yanked>"
    "zope_interface-5.1.tar.gz</a>\n"
    "<a href='/p/Zope.Interface-5.1.tar.gz#sha256=" H3 "'>Zope.Interface-5.1.tar.gz</a>\n"
    "<a href=\"/p/zope.interface-6.0rc1.tar.gz\">zope.interface-6.0rc1.tar.gz</a>\n"
    "<a href=\"/p/zope.interface_7.0.tar.gz\">zope.interface_7.0.tar.gz</a>\n"
    "<a href=\"//mirror.example.test/zope-interface-8.0.0.post1.tar.gz\"></a>\n"
    "<a href=\"/p/zope.interface.extra-9.0.tar.gz\">zope.interface.extra-9.0.tar.gz</a>\n"
    "</body></html>\n";

typedef struct find_case {
    const char *version;
    int rc;
    const char *url;
    const char *sha256; /* NULL: none */
} find_case;

static void run_cases(const char *ctype, const char *body, const find_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *url = NULL, *sha = NULL;
        int rc = wf_upstream_find_sdist(PAGE, ctype, body, strlen(body), "zope.interface",
                                        cases[i].version, &url, &sha);
        if (rc != cases[i].rc)
            fail_msg("version %s: rc %d, want %d", cases[i].version, rc, cases[i].rc);
        if (rc != 0)
            continue;
        assert_string_equal(url, cases[i].url);
        if (cases[i].sha256)
            assert_string_equal(sha, cases[i].sha256);
        else
            assert_null(sha);
        free(url);
        free(sha);
    }
}

static void test_html(void **state)
{
    (void)state;
    static const find_case cases[] = {
        /* .tar.gz wins over .zip; entities decoded; query kept; fragment dropped */
        {"5.0", 0, "https://index.example.test/packages/cc/zope.interface-5.0.tar.gz?x=1&y=2", H2},
        {"5.0.0", WF_ENOTFOUND, NULL, NULL},
        /* the yanked 5.1 is skipped, the legacy capitalized name found */
        {"5.1", 0, "https://index.example.test/p/Zope.Interface-5.1.tar.gz", H3},
        {"6.0.rc1", 0, "https://index.example.test/p/zope.interface-6.0rc1.tar.gz", NULL},
        {"7.0", 0, "https://index.example.test/p/zope.interface_7.0.tar.gz", NULL},
        /* no link text: the name comes from the URL; scheme-relative URL */
        {"8.0.0-1", 0, "https://mirror.example.test/zope-interface-8.0.0.post1.tar.gz", NULL},
        {"9.0", WF_ENOTFOUND, NULL, NULL}, /* another project's file */
        {"4.0", WF_ENOTFOUND, NULL, NULL},
        {"not a version", WF_EINVAL, NULL, NULL},
    };
    run_cases("text/html; charset=utf-8", html_page, cases, WF_ARRAY_SIZE(cases));
    run_cases(NULL, html_page, cases, 2);
}

static void test_html_base(void **state)
{
    (void)state;
    static const char page[] =
        "<html><head><base href=\"https://cdn.example.test/files/\"></head>"
        "<a href=\"zope.interface-1.0.tar.gz\">zope.interface-1.0.tar.gz</a>";
    static const find_case cases[] = {
        {"1.0", 0, "https://cdn.example.test/files/zope.interface-1.0.tar.gz", NULL},
    };
    run_cases("text/html", page, cases, WF_ARRAY_SIZE(cases));
}

static const char json_page[] =
    "{\"meta\":{\"api-version\":\"1.1\"},\"name\":\"zope-interface\",\"files\":["
    "{\"filename\":\"zope.interface-5.0.zip\",\"url\":\"https://files.example.test/a/"
    "zope.interface-5.0.zip\","
    "\"hashes\":{\"sha256\":\"" H1 "\"}},"
    "{\"filename\":\"zope.interface-5.0.tar.gz\",\"url\":\"../../b/zope.interface-5.0.tar.gz\","
    "\"hashes\":{\"sha256\":\"" H2 "\",\"md5\":\"00\"},\"yanked\":false},"
    "{\"filename\":\"zope.interface-5.1.tar.gz\",\"url\":\"https://files.example.test/c/x.tar.gz\","
    "\"hashes\":{\"sha256\":\"" H1 "\"},\"yanked\":\"broken build\"},"
    "{\"filename\":\"zope.interface-5.2.tar.gz\",\"url\":\"https://files.example.test/d/x.tar.gz\","
    "\"hashes\":{\"sha256\":\"" H1 "\"},\"yanked\":true},"
    "{\"filename\":\"Zope.Interface-5.3.TAR.GZ\",\"url\":\"https://files.example.test/e/"
    "Z-5.3.tar.gz\","
    "\"hashes\":{\"sha256\":\"ABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCDEF0123\"}},"
    "{\"filename\":\"zope.interface-5.4.tar.gz\",\"url\":\"https://files.example.test/f/x.tar.gz\","
    "\"hashes\":{}},"
    "{\"filename\":\"zope.interface-5.5.tar.gz\",\"url\":\"https://files.example.test/g/x.tar.gz\","
    "\"hashes\":{\"sha256\":\"nothex\"}}"
    "]}";

static void test_json(void **state)
{
    (void)state;
    static const find_case cases[] = {
        {"5.0", 0, "https://index.example.test/b/zope.interface-5.0.tar.gz", H2},
        {"5.1", WF_ENOTFOUND, NULL, NULL}, /* yanked with a reason */
        {"5.2", WF_ENOTFOUND, NULL, NULL}, /* yanked: true */
        {"5.3", 0, "https://files.example.test/e/Z-5.3.tar.gz", H3},
        {"5.4", 0, "https://files.example.test/f/x.tar.gz", NULL},
        {"5.5", WF_EINVAL, NULL, NULL}, /* a hash that is not one */
        {"5.6", WF_ENOTFOUND, NULL, NULL},
    };
    run_cases("application/vnd.pypi.simple.v1+json", json_page, cases, WF_ARRAY_SIZE(cases));
    run_cases(" Application/vnd.pypi.simple.v1+json; charset=utf-8", json_page, cases, 1);
    /* The same bytes read as HTML find nothing. */
    char *url = NULL, *sha = NULL;
    assert_int_equal(wf_upstream_find_sdist(PAGE, "text/html", json_page, strlen(json_page),
                                            "zope.interface", "5.0", &url, &sha),
                     WF_ENOTFOUND);
    assert_null(url);
    static const char *const bad[] = {"", "{", "{\"files\": 3}", "[1,2]"};
    for (size_t i = 0; i < WF_ARRAY_SIZE(bad); i++)
        assert_int_equal(wf_upstream_find_sdist(PAGE, "application/vnd.pypi.simple.v1+json", bad[i],
                                                strlen(bad[i]), "zope.interface", "5.0", &url,
                                                &sha),
                         WF_EINVAL);
}

static void test_not_nul_terminated(void **state)
{
    (void)state;
    static const char page[] = "<a href=\"/p/demo-1.0.tar.gz\">demo-1.0.tar.gz</a>XXXX";
    size_t len = strlen(page) - 4;
    char *body = wf_malloc(len);
    memcpy(body, page, len);
    char *url = NULL, *sha = NULL;
    assert_int_equal(wf_upstream_find_sdist("http://127.0.0.1:1/simple/demo/", "text/html", body,
                                            len, "Demo", "1.0", &url, &sha),
                     0);
    assert_string_equal(url, "http://127.0.0.1:1/p/demo-1.0.tar.gz");
    free(url);
    free(body);
}

/* ---- every release: wf_upstream_list ---- */

static const wf_upstream_release *release_of(const wf_upstream_listing *l, const char *version)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i].version, version) == 0)
            return &l->items[i];
    fail_msg("version %s not listed", version);
    return NULL;
}

static const char list_json[] =
    "{\"meta\":{\"api-version\":\"1.1\"},\"name\":\"fixture-ext\",\"files\":["
    "{\"filename\":\"fixture_ext-1.0.tar.gz\",\"url\":\"f/a\",\"hashes\":{},"
    "\"upload-time\":\"2024-02-29T12:00:00.123456Z\"},"
    "{\"filename\":\"fixture_ext-1.0-cp311-cp311-manylinux_2_17_x86_64.whl\",\"url\":\"f/b\","
    "\"hashes\":{}},"
    /* 1.1: two sdists, the newer upload counts; the yanked .zip does not */
    "{\"filename\":\"fixture_ext-1.1.tar.gz\",\"url\":\"f/c\",\"hashes\":{},"
    "\"upload-time\":\"2025-01-02T03:04:05Z\",\"yanked\":false},"
    "{\"filename\":\"fixture-ext-1.1.zip\",\"url\":\"f/d\",\"hashes\":{},"
    "\"upload-time\":\"2025-01-03T00:00:00+00:00\"},"
    "{\"filename\":\"fixture_ext-1.1.post0.zip\",\"url\":\"f/d2\",\"hashes\":{},"
    "\"yanked\":true},"
    /* 1.2: every sdist yanked, with a reason */
    "{\"filename\":\"fixture_ext-1.2.tar.gz\",\"url\":\"f/e\",\"hashes\":{},"
    "\"upload-time\":\"2025-02-01T00:00:00Z\",\"yanked\":\"broken build\"},"
    /* 2.0rc1: no upload time at all; 2.0: a time that is not RFC 3339 */
    "{\"filename\":\"fixture_ext-2.0rc1.tar.gz\",\"url\":\"f/f\",\"hashes\":{}},"
    "{\"filename\":\"fixture_ext-2.0.tar.gz\",\"url\":\"f/g\",\"hashes\":{},"
    "\"upload-time\":\"yesterday\"},"
    /* 3.0: wheels only; another project's sdist; a file without a URL */
    "{\"filename\":\"fixture_ext-3.0-py3-none-any.whl\",\"url\":\"f/h\",\"hashes\":{}},"
    "{\"filename\":\"fixture_ext_extra-9.0.tar.gz\",\"url\":\"f/i\",\"hashes\":{}},"
    "{\"filename\":\"fixture_ext-8.0.tar.gz\",\"hashes\":{}}"
    "],\"versions\":[\"1.0\",\"1.1\",\"1.2\",\"2.0rc1\",\"2.0\",\"3.0\",\"4.0\",\"not-a-version\"]"
    "}";

static void test_list_json(void **state)
{
    (void)state;
    wf_upstream_listing l = {0};
    assert_int_equal(wf_upstream_list(&l, "application/vnd.pypi.simple.v1+json", list_json,
                                      strlen(list_json), "Fixture.Ext"),
                     0);
    assert_true(l.json);
    assert_int_equal(l.n, 8); /* 1.0 1.1 1.1.post0 1.2 2.0rc1 2.0 3.0 4.0 */
    const wf_upstream_release *r = release_of(&l, "1.0");
    assert_true(r->has_sdist && !r->yanked);
    assert_int_equal(r->upload_time, 1709208000); /* 2024-02-29T12:00:00Z */
    r = release_of(&l, "1.1");
    assert_true(r->has_sdist && !r->yanked);
    assert_int_equal(r->upload_time, 1735862400); /* 2025-01-03T00:00:00Z */
    r = release_of(&l, "1.1.post0");
    assert_true(r->has_sdist && r->yanked);
    assert_null(r->yanked_reason);
    r = release_of(&l, "1.2");
    assert_true(r->has_sdist && r->yanked);
    assert_string_equal(r->yanked_reason, "broken build");
    r = release_of(&l, "2.0rc1");
    assert_true(r->has_sdist && !r->yanked);
    assert_int_equal(r->upload_time, 0);
    assert_int_equal(release_of(&l, "2.0")->upload_time, 0);
    assert_false(release_of(&l, "3.0")->has_sdist);
    assert_false(release_of(&l, "4.0")->has_sdist);
    wf_upstream_listing_release(&l);

    static const char *const bad[] = {"", "{", "{\"files\": 3}", "[]"};
    for (size_t i = 0; i < WF_ARRAY_SIZE(bad); i++) {
        wf_upstream_listing x = {(wf_upstream_release *)0x1, 7, 0};
        assert_int_equal(wf_upstream_list(&x, "application/vnd.pypi.simple.v1+json", bad[i],
                                          strlen(bad[i]), "fixture-ext"),
                         WF_EINVAL);
        assert_int_equal(x.n, 7);
    }
}

static void test_list_html(void **state)
{
    (void)state;
    static const char page[] =
        "<!DOCTYPE html><html><body>\n"
        "<a href=\"../../files/fixture_ext-1.0.tar.gz#sha256=" H1 "\">fixture_ext-1.0.tar.gz</a>\n"
        "<a href=\"../../files/fixture_ext-1.1.tar.gz\" data-requires-python=\"&gt;=3.8\">"
        "fixture_ext-1.1.tar.gz</a>\n"
        "<a href=\"../../files/fixture_ext-1.2.tar.gz\" data-yanked=\"broken &amp; bad\">"
        "fixture_ext-1.2.tar.gz</a>\n"
        "<a href=\"../../files/fixture_ext-1.3.tar.gz\" data-yanked>fixture_ext-1.3.tar.gz</a>\n"
        "<a href=\"../../files/fixture_ext-1.3.zip\" data-yanked=\"\">fixture_ext-1.3.zip</a>\n"
        "<a href=\"../../files/fixture_ext-2.0rc1.tar.gz\">fixture_ext-2.0rc1.tar.gz</a>\n"
        "<a href=\"../../files/fixture_ext-2.1-cp311-cp311-linux_x86_64.whl\"></a>\n"
        "<!-- <a href=\"fixture_ext-5.0.tar.gz\">fixture_ext-5.0.tar.gz</a> -->\n"
        "</body></html>\n";
    wf_upstream_listing l = {0};
    assert_int_equal(wf_upstream_list(&l, "text/html", page, strlen(page), "fixture-ext"), 0);
    assert_false(l.json);
    assert_int_equal(l.n, 6);
    assert_string_equal(l.items[0].version, "1.0"); /* page order */
    assert_true(release_of(&l, "1.1")->has_sdist && !release_of(&l, "1.1")->yanked);
    assert_int_equal(release_of(&l, "1.1")->upload_time, 0); /* HTML has no upload times */
    assert_true(release_of(&l, "1.2")->yanked);
    assert_string_equal(release_of(&l, "1.2")->yanked_reason, "broken & bad");
    assert_true(release_of(&l, "1.3")->yanked);
    assert_null(release_of(&l, "1.3")->yanked_reason);
    assert_false(release_of(&l, "2.0rc1")->yanked);
    assert_false(release_of(&l, "2.1")->has_sdist);
    wf_upstream_listing_release(&l);
    /* Without a content type, or with JSON bytes as HTML, the page is HTML. */
    assert_int_equal(wf_upstream_list(&l, NULL, page, strlen(page), "fixture-ext"), 0);
    assert_int_equal(l.n, 6);
    wf_upstream_listing_release(&l);
    assert_int_equal(wf_upstream_list(&l, "text/html", list_json, strlen(list_json), "x"), 0);
    assert_int_equal(l.n, 0);
    wf_upstream_listing_release(&l);
}

static void test_parse_time(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t t; /* -1: invalid */
    } cases[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"2025-01-02T03:04:05Z", 1735787045},
        {"2025-01-02T03:04:05.123456Z", 1735787045},
        {"2025-01-02t03:04:05.1z", 1735787045},
        {"2025-01-02T03:04:05+00:00", 1735787045},
        {"2000-02-29T23:59:59Z", 951868799},
        {"2100-03-01T00:00:00Z", 4107542400},
        {"2025-01-02T03:04:05", -1},
        {"2025-01-02T03:04:05+01:00", -1},
        {"2025-01-02 03:04:05Z", -1},
        {"2025-13-02T03:04:05Z", -1},
        {"2025-02-30T03:04:05Z", -1},
        {"2025-02-29T03:04:05Z", -1},
        {"2100-02-29T03:04:05Z", -1},
        {"2025-01-02T24:00:00Z", -1},
        {"2025-01-02T03:04:05.Z", -1},
        {"1969-12-31T23:59:59Z", -1},
        {"", -1},
    };
    for (size_t i = 0; i < WF_ARRAY_SIZE(cases); i++) {
        int64_t t = -7;
        int rc = wf_upstream_parse_time(cases[i].text, &t);
        if (cases[i].t < 0) {
            if (rc != WF_EINVAL || t != -7)
                fail_msg("'%s' should be invalid", cases[i].text);
        } else if (rc != 0 || t != cases[i].t) {
            fail_msg("'%s': rc %d, t %lld, want %lld", cases[i].text, rc, (long long)t,
                     (long long)cases[i].t);
        }
    }
}

static void test_resolve(void **state)
{
    (void)state;
    /* RFC 3986 section 5.4 examples. */
    static const char *const base = "http://a/b/c/d;p?q";
    static const struct {
        const char *ref, *want;
    } cases[] = {
        {"g:h", "g:h"},
        {"g", "http://a/b/c/g"},
        {"./g", "http://a/b/c/g"},
        {"g/", "http://a/b/c/g/"},
        {"/g", "http://a/g"},
        {"//g", "http://g"},
        {"?y", "http://a/b/c/d;p?y"},
        {"g?y", "http://a/b/c/g?y"},
        {"#s", "http://a/b/c/d;p?q#s"},
        {"g#s", "http://a/b/c/g#s"},
        {";x", "http://a/b/c/;x"},
        {"", "http://a/b/c/d;p?q"},
        {".", "http://a/b/c/"},
        {"./", "http://a/b/c/"},
        {"..", "http://a/b/"},
        {"../", "http://a/b/"},
        {"../g", "http://a/b/g"},
        {"../..", "http://a/"},
        {"../../g", "http://a/g"},
        {"../../../g", "http://a/g"},
        {"/./g", "http://a/g"},
        {"/../g", "http://a/g"},
        {"g.", "http://a/b/c/g."},
        {"..g", "http://a/b/c/..g"},
        {"./../g", "http://a/b/g"},
        {"./g/.", "http://a/b/c/g/"},
        {"g/./h", "http://a/b/c/g/h"},
        {"g/../h", "http://a/b/c/h"},
        {"g;x=1/./y", "http://a/b/c/g;x=1/y"},
        {"g;x=1/../y", "http://a/b/c/y"},
    };
    for (size_t i = 0; i < WF_ARRAY_SIZE(cases); i++) {
        char *got = wf_upstream_resolve_url(base, cases[i].ref);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("resolve '%s': got '%s', want '%s'", cases[i].ref, got, cases[i].want);
        free(got);
    }
    char *got = wf_upstream_resolve_url("http://host", "x.tar.gz");
    assert_string_equal(got, "http://host/x.tar.gz");
    free(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_html),      cmocka_unit_test(test_html_base),
        cmocka_unit_test(test_json),      cmocka_unit_test(test_not_nul_terminated),
        cmocka_unit_test(test_resolve),   cmocka_unit_test(test_list_json),
        cmocka_unit_test(test_list_html), cmocka_unit_test(test_parse_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
