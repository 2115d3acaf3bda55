/* test-recipe.c - unit tests for lib/recipe.c: the recipe model, every error kind, canonical form.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/recipe.h"

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define FILE_NAME "recipes/kafka.yaml"

static const char full_yaml[] =
    "# two recipes, the first with every field\n"
    "- name: Fixture_Ext\n"
    "  versions: [\"1.0.0\", 1.1]\n"
    "  source: {url: \"https://example.invalid/fixture_ext-{version}.tar.gz\", sha256: " SHA "}\n"
    "  python: [cp311, cp312, pp310]\n"
    "  platforms: [linux/amd64, linux/arm64]\n"
    "  native:\n"
    "    - name: libfoo\n"
    "      url: https://example.invalid/libfoo-1.0.tar.gz\n"
    "      sha256: " SHA "\n"
    "      build: ./configure --prefix=/usr/local && make && make install\n"
    "  environment: {CFLAGS: \"-O2\", JOBS: 4, EMPTY: }\n"
    "  before_build: pip install cython\n"
    "  repair: \"\"\n"
    "  test_command: python -c 'import fixture_ext'\n"
    "  timeout: 600\n"
    "  idle_timeout: 300\n"
    "- name: other\n"
    "  versions: [\"2.0\"]\n"
    "  source: {path: ../src}\n";

static char *joined(const wf_diag_list *d)
{
    wf_buf b = WF_BUF_INIT;
    for (size_t i = 0; i < d->n; i++) {
        char *s = wf_diag_format(&d->items[i]);
        wf_buf_addf(&b, "%s\n", s);
        free(s);
    }
    return wf_buf_detach(&b);
}

static wf_recipe_list *parse_ok(const char *file, const char *yaml)
{
    wf_recipe_list *list = NULL;
    wf_diag_list d = {0};
    int err = wf_recipe_parse(&list, file, yaml, strlen(yaml), &d);
    if (err != 0) {
        char *all = joined(&d);
        fprintf(stderr, "unexpected errors:\n%s", all);
        free(all);
    }
    assert_int_equal(err, 0);
    assert_int_equal(d.n, 0);
    return list;
}

/* Parses `yaml` as recipes/kafka.yaml and compares every diag, in order, with `want`. */
static void expect_errors(const char *yaml, const char *want)
{
    wf_recipe_list *list = (wf_recipe_list *)0x1;
    wf_diag_list d = {0};
    char *all;

    assert_int_equal(wf_recipe_parse(&list, FILE_NAME, yaml, strlen(yaml), &d), WF_EINVAL);
    assert_ptr_equal(list, (wf_recipe_list *)0x1);
    all = joined(&d);
    assert_string_equal(all, want);
    free(all);
    wf_diag_list_release(&d);
}

static void test_full(void **state)
{
    (void)state;
    wf_recipe_list *list = parse_ok("/r/recipes/all.yaml", full_yaml);
    const wf_recipe *r;

    assert_int_equal(list->n, 2);
    r = list->items[0];
    assert_string_equal(r->name, "Fixture_Ext");
    assert_string_equal(r->normalized, "fixture-ext");
    assert_int_equal(r->n_versions, 2);
    assert_string_equal(r->versions[0], "1.0.0");
    assert_string_equal(r->versions[1], "1.1"); /* an unquoted number keeps its text */
    assert_int_equal(r->source.kind, WF_SOURCE_URL);
    assert_string_equal(r->source.url, "https://example.invalid/fixture_ext-{version}.tar.gz");
    assert_string_equal(r->source.sha256, SHA);
    assert_null(r->source.path);
    assert_int_equal(r->n_python, 3);
    assert_string_equal(r->python[2], "pp310");
    assert_int_equal(r->n_platforms, 2);
    assert_string_equal(r->platforms[1], "linux/arm64");
    assert_int_equal(r->n_native, 1);
    assert_string_equal(r->native[0].name, "libfoo");
    assert_string_equal(r->native[0].url, "https://example.invalid/libfoo-1.0.tar.gz");
    assert_string_equal(r->native[0].sha256, SHA);
    assert_string_equal(r->native[0].build,
                        "./configure --prefix=/usr/local && make && make install");
    assert_int_equal(r->n_environment, 3);
    assert_string_equal(r->environment[0].key, "CFLAGS");
    assert_string_equal(r->environment[0].value, "-O2");
    assert_string_equal(r->environment[1].key, "JOBS");
    assert_string_equal(r->environment[1].value, "4");
    assert_string_equal(r->environment[2].value, "");
    assert_string_equal(r->before_build, "pip install cython");
    assert_string_equal(r->repair, "");
    assert_string_equal(r->test_command, "python -c 'import fixture_ext'");
    assert_int_equal(r->timeout_s, 600);
    assert_int_equal(r->idle_timeout_s, 300);
    assert_string_equal(r->file, "/r/recipes/all.yaml");
    assert_int_equal(r->line, 2);

    r = list->items[1];
    assert_int_equal(r->source.kind, WF_SOURCE_PATH);
    assert_string_equal(r->source.path, "/r/src");
    assert_null(r->source.url);
    assert_int_equal(r->line, 18);

    assert_ptr_equal(wf_recipe_list_find(list, "fixture.ext"), list->items[0]);
    assert_ptr_equal(wf_recipe_list_find(list, "FIXTURE__EXT"), list->items[0]);
    assert_ptr_equal(wf_recipe_list_find(list, "Other"), list->items[1]);
    assert_null(wf_recipe_list_find(list, "fixture"));
    wf_recipe_list_free(list);
}

static void test_defaults_single_mapping(void **state)
{
    (void)state;
    wf_recipe_list *list = parse_ok(FILE_NAME, "name: kafka\n"
                                               "versions: [1.0]\n"
                                               "source: {sdist: upstream}\n"
                                               "native:\n"
                                               "environment:\n");
    const wf_recipe *r;

    assert_int_equal(list->n, 1);
    r = list->items[0];
    assert_int_equal(r->line, 1);
    assert_int_equal(r->source.kind, WF_SOURCE_SDIST);
    assert_int_equal(r->n_python, 1);
    assert_string_equal(r->python[0], "cp311");
    assert_int_equal(r->n_platforms, 1);
    assert_string_equal(r->platforms[0], "linux/amd64");
    assert_int_equal(r->n_native, 0);
    assert_int_equal(r->n_environment, 0);
    assert_string_equal(r->before_build, "");
    assert_string_equal(r->repair, WF_RECIPE_DEFAULT_REPAIR);
    assert_string_equal(r->test_command, "");
    assert_int_equal(r->timeout_s, 3600);
    assert_int_equal(r->idle_timeout_s, 0); /* the daemon's idle_timeout applies */
    wf_recipe_list_free(list);

    /* An empty file is an empty list, not an error. */
    list = parse_ok(FILE_NAME, "# nothing yet\n");
    assert_int_equal(list->n, 0);
    wf_recipe_list_free(list);
}

#define HEAD "- name: kafka\n  versions: [\"1.0\"]\n  source: {sdist: upstream}\n"

static void test_errors_keys(void **state)
{
    (void)state;
    expect_errors(HEAD "  pyhton: [cp311]\n",
                  FILE_NAME ":4:3: unknown key 'pyhton' (did you mean 'python'?)\n");
    expect_errors(HEAD "  test-command: x\n  colour: red\n", FILE_NAME
                  ":4:3: unknown key 'test-command' (did you mean 'test_command'?)\n" FILE_NAME
                  ":5:3: unknown key 'colour'\n");
    expect_errors(HEAD "  versions: [\"2.0\"]\n",
                  FILE_NAME ":4:3: duplicate key 'versions' (first given at line 2)\n");
    expect_errors("- name: kafka\n  source: {sdist: upstream}\n",
                  FILE_NAME ":1:3: missing required key 'versions'\n");
    expect_errors("- versions: [\"1.0\"]\n",
                  FILE_NAME ":1:3: missing required key 'name'\n" FILE_NAME
                            ":1:3: missing required key 'source'\n");
}

static void test_errors_types(void **state)
{
    (void)state;
    expect_errors(HEAD "  python: {a: b}\n",
                  FILE_NAME ":4:11: 'python': expected a list of strings, got a mapping\n");
    expect_errors(HEAD "  platforms: linux/amd64\n",
                  FILE_NAME ":4:14: 'platforms': expected a list of strings, got a string\n");
    expect_errors(HEAD "  before_build: [a]\n",
                  FILE_NAME ":4:17: 'before_build': expected a string, got a list\n");
    expect_errors(HEAD "  environment: [A]\n",
                  FILE_NAME ":4:16: 'environment': expected a mapping of strings, got a list\n");
    expect_errors(HEAD "  native: {name: x}\n",
                  FILE_NAME ":4:11: 'native': expected a list of mappings, got a mapping\n");
    expect_errors("name: kafka\nversions: [\"1.0\"]\nsource: upstream\n",
                  FILE_NAME ":3:9: 'source': expected a mapping, got a string\n");
    expect_errors("just a string\n", FILE_NAME
                  ":1:1: expected a list of recipes or one recipe mapping, got a string\n");
    expect_errors("- kafka\n", FILE_NAME ":1:3: expected a recipe mapping (name:, versions:, "
                                         "source:...), got a string\n");
    expect_errors(HEAD "  timeout: 10\n",
                  FILE_NAME ":4:12: 'timeout': expected a whole number from 60 to 86400, got "
                            "'10'\n");
    expect_errors(HEAD "  timeout: 1h\n",
                  FILE_NAME ":4:12: 'timeout': expected a whole number from 60 to 86400, got "
                            "'1h'\n");
    expect_errors(HEAD "  idle_timeout: 5\n",
                  FILE_NAME ":4:17: 'idle_timeout': expected a whole number from 10 to 86400, "
                            "got '5'\n");
}

static void test_errors_values(void **state)
{
    (void)state;
    expect_errors("- name: \"-kafka\"\n  versions: [\"1.0\"]\n  source: {sdist: upstream}\n",
                  FILE_NAME ":1:9: invalid project name '-kafka' (use letters, digits, '.', '-' "
                            "and '_', starting and ending with a letter or digit)\n");
    expect_errors("- name: kafka\n  versions: [\"1.0\", \"1.x\", \"2\"]\n  source: {sdist: "
                  "upstream}\n",
                  FILE_NAME ":2:21: invalid version '1.x' (not a PEP 440 version such as "
                            "1.2.0)\n");
    expect_errors("- name: kafka\n  versions: []\n  source: {sdist: upstream}\n",
                  FILE_NAME ":2:13: 'versions' must list at least one version\n");
    expect_errors("- name: kafka\n  versions: [\"1.0\", 1.0.0]\n  source: {sdist: upstream}\n",
                  FILE_NAME ":2:21: duplicate version '1.0.0' (same as '1.0')\n");
    expect_errors(HEAD "  python: [cp311, py3, cp27, cp311]\n", FILE_NAME
                  ":4:19: invalid python tag 'py3' (allowed: cp3X or pp3X tags such "
                  "as cp311, cp312, pp310)\n" FILE_NAME
                  ":4:24: invalid python tag 'cp27' (allowed: cp3X or pp3X tags such as "
                  "cp311, cp312, pp310)\n" FILE_NAME ":4:30: 'python' lists 'cp311' twice\n");
    expect_errors(HEAD "  platforms: [linux/386]\n",
                  FILE_NAME ":4:15: invalid platform 'linux/386' (allowed: linux/amd64, "
                            "linux/arm64)\n");
    expect_errors(HEAD "  repair: auditwheel repair\n",
                  FILE_NAME ":4:11: 'repair' must contain {wheel} and {dest_dir} (e.g. "
                            "\"auditwheel repair -w {dest_dir} {wheel}\"), or be \"\" to skip "
                            "repair\n");
    expect_errors(HEAD "  environment: {1X: a, OK: b, OK: c}\n",
                  FILE_NAME ":4:17: invalid environment variable name '1X' (use "
                            "[A-Za-z_][A-Za-z0-9_]*)\n" FILE_NAME
                            ":4:31: duplicate key 'OK' (first given at line 4)\n");
    expect_errors(HEAD "  native:\n    - {name: \"lib foo\", url: ftp://x, sha256: " SHA "}\n",
                  FILE_NAME ":5:14: invalid native dependency name 'lib foo' (use "
                            "[A-Za-z0-9._-])\n" FILE_NAME
                            ":5:30: 'url': 'ftp://x' is not a URL (use https://, http:// or "
                            "file://)\n" FILE_NAME ":5:7: missing required key 'build'\n");
}

static void test_errors_source(void **state)
{
    (void)state;
    const char *head = "- name: kafka\n  versions: [\"1.0\"]\n";
    wf_buf b = WF_BUF_INIT;

#define SOURCE_CASE(src, want)                                                                     \
    do {                                                                                           \
        wf_buf_reset(&b);                                                                          \
        wf_buf_adds(&b, head);                                                                     \
        wf_buf_adds(&b, "  source: " src "\n");                                                    \
        expect_errors(b.ptr, want);                                                                \
    } while (0)

    SOURCE_CASE("{url: \"https://x.invalid/a.tar.gz\", path: ../src}",
                FILE_NAME ":3:47: source has both 'url' and 'path'; give only one\n");
    SOURCE_CASE("{sdist: upstream, url: \"https://x.invalid/a.tar.gz\"}",
                FILE_NAME ":3:29: source has both 'sdist' and 'url'; give only one\n");
    SOURCE_CASE("{}", FILE_NAME ":3:11: source needs one of 'url' (with 'sha256'), "
                                "'sdist: upstream' or 'path'\n");
    SOURCE_CASE("{sha256: " SHA "}",
                FILE_NAME ":3:11: source needs one of 'url' (with 'sha256'), 'sdist: upstream' "
                          "or 'path'\n");
    SOURCE_CASE("{url: \"https://x.invalid/a.tar.gz\"}",
                FILE_NAME ":3:11: url source needs 'sha256' (64 lowercase hex characters)\n");
    SOURCE_CASE("{url: \"https://x.invalid/a.tar.gz\", sha256: ABC}",
                FILE_NAME ":3:55: invalid sha256 'ABC': must be 64 lowercase hex characters "
                          "(sha256sum prints it)\n");
    SOURCE_CASE("{sdist: pypi}", FILE_NAME ":3:19: 'sdist': expected 'upstream', got 'pypi'\n");
    SOURCE_CASE("{sdist: upstream, sha256: " SHA "}",
                FILE_NAME ":3:37: 'sha256' only applies to url sources\n");
    SOURCE_CASE("{sdist: upstream, ref: main}", FILE_NAME ":3:29: unknown key 'ref'\n");
#undef SOURCE_CASE
    wf_buf_release(&b);
}

static void test_errors_syntax_and_duplicates(void **state)
{
    (void)state;
    expect_errors("- name: kafka\n  versions: [\"1.0\"\n  source: {sdist: upstream}\n",
                  FILE_NAME ":3:3: YAML syntax error: did not find expected ',' or ']' (while "
                            "parsing a flow sequence at line 2, column 13)\n");
    expect_errors(HEAD HEAD "- name: Kafka\n  versions: [\"1.0\"]\n  source: {sdist: upstream}\n",
                  FILE_NAME ":4:9: duplicate recipe 'kafka' (first defined at line 1)\n" FILE_NAME
                            ":7:9: duplicate recipe 'Kafka' (first defined at line 1)\n");
    expect_errors("- name: a\n  versions: [\"1.0\"]\n  source: {sdist: upstream}\n"
                  "  anchors: &x [1]\n",
                  FILE_NAME ":4:12: anchors are not supported (found '&x'); write the value out "
                            "in full\n");
}

/* Replaces every '@' of tmpl with v. Caller frees. */
static char *subst(const char *tmpl, const char *v)
{
    wf_buf b = WF_BUF_INIT;
    for (; *tmpl != '\0'; tmpl++) {
        if (*tmpl == '@')
            wf_buf_adds(&b, v);
        else
            wf_buf_add(&b, tmpl, 1);
    }
    return wf_buf_detach(&b);
}

static char *fixture(const char *name)
{
    const char *root = getenv("WF_SOURCE_ROOT");
    return wf_asprintf("%s/tests/fixtures/recipes-bad/%s", root != NULL ? root : WF_SOURCE_ROOT,
                       name);
}

/* Duplicates are versions equal under PEP 440. The first one that repeats an earlier version, in
 * file order, is reported at its own position and names the first spelling, whatever the sort
 * order of the versions or how many copies there are. */
static void test_duplicate_versions(void **state)
{
    (void)state;
    expect_errors(
        "- name: kafka\n  versions: [\"3.0\", \"1.0\", \"2.0\", \"1.0.0\", \"3\", \"1\"]\n"
        "  source: {sdist: upstream}\n",
        FILE_NAME ":2:35: duplicate version '1.0.0' (same as '1.0')\n");
    expect_errors("- name: kafka\n  versions: [\"2\", \"1\", \"1.0\", \"2.0\", \"v1.0.0\"]\n"
                  "  source: {sdist: upstream}\n",
                  FILE_NAME ":2:24: duplicate version '1.0' (same as '1')\n");
    /* Local versions count: 1.0+a and 1.0+b differ, 1.0+A.1 and 1.0+a-1 do not. */
    expect_errors("- name: kafka\n  versions: [\"1.0+a\", \"1.0+b\", \"1.0+A.1\", \"1.0+a-1\"]\n"
                  "  source: {sdist: upstream}\n",
                  FILE_NAME ":2:43: duplicate version '1.0+a-1' (same as '1.0+A.1')\n");
}

/* 20,000 versions, one per line, load (the duplicate check used to compare every pair: 2 x 10^8
 * version parses), and a repeat deep in the list is found at its own line. */
static void test_many_versions(void **state)
{
    (void)state;
    enum { N = 20000, REPEAT_AT = 15000, REPEATED = 42, LATER_AT = 19999, LATER_OF = 7 };
    wf_buf yaml = WF_BUF_INIT;
    wf_buf_adds(&yaml, "- name: kafka\n  source: {sdist: upstream}\n  versions:\n");
    for (int i = 0; i < N; i++) {
        if (i == REPEAT_AT) /* the same as REPEATED, spelled differently */
            wf_buf_addf(&yaml, "    - \"v%d.%d.%d.0\"\n", REPEATED / 100, REPEATED % 100, 0);
        else if (i == LATER_AT) /* a later repeat: not reported, the first one is */
            wf_buf_addf(&yaml, "    - \"%d.%d\"\n", LATER_OF / 100, LATER_OF % 100);
        else
            wf_buf_addf(&yaml, "    - \"%d.%d.%d\"\n", i / 100, i % 100, 0);
    }
    char *want = wf_asprintf(FILE_NAME ":%d:7: duplicate version 'v0.42.0.0' (same as '0.42.0')\n",
                             4 + REPEAT_AT);
    expect_errors(yaml.ptr, want);
    free(want);

    /* Without the repeats the whole list loads, in order. */
    wf_buf_release(&yaml);
    wf_buf_adds(&yaml, "- name: kafka\n  source: {sdist: upstream}\n  versions:\n");
    for (int i = 0; i < N; i++)
        wf_buf_addf(&yaml, "    - \"%d.%d.%d\"\n", i / 100, i % 100, 0);
    wf_recipe_list *list = parse_ok(FILE_NAME, yaml.ptr);
    assert_int_equal(list->items[0]->n_versions, N);
    assert_string_equal(list->items[0]->versions[N - 1], "199.99.0");
    wf_recipe_list_free(list);
    wf_buf_release(&yaml);
}

/* The fixture holds several mistakes: all of them are reported, recipe by recipe. */
static void test_fixture_collects_all(void **state)
{
    (void)state;
    char *path = fixture("kafka-typos.yaml"), *all, *want;
    wf_recipe_list *list = NULL;
    wf_diag_list d = {0};

    assert_int_equal(wf_recipe_load_path(&list, path, &d), WF_EINVAL);
    assert_null(list);
    all = joined(&d);
    want = subst("@:5:3: unknown key 'pyhton' (did you mean 'python'?)\n"
                 "@:6:28: invalid platform 'linux/arm46' (allowed: linux/amd64, "
                 "linux/arm64)\n"
                 "@:11:7: unknown key 'bulid' (did you mean 'build'?)\n"
                 "@:10:15: invalid sha256 "
                 "'0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef': must "
                 "be 64 lowercase hex characters (sha256sum prints it)\n"
                 "@:8:7: missing required key 'build'\n"
                 "@:12:12: 'timeout': expected a whole number from 60 to 86400, got "
                 "'10'\n",
                 path);
    assert_string_equal(all, want);
    free(all);
    free(want);
    wf_diag_list_release(&d);
    free(path);

    path = fixture("syntax.yaml");
    assert_int_equal(wf_recipe_load_path(&list, path, &d), WF_EINVAL);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.items[0].file, path);
    assert_int_equal(d.items[0].line, 4);
    assert_int_equal(d.items[0].column, 3);
    assert_non_null(strstr(d.items[0].message, "YAML syntax error"));
    wf_diag_list_release(&d);
    free(path);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char *path = wf_asprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    free(path);
}

static void remove_file(const char *dir, const char *name)
{
    char *path = wf_asprintf("%s/%s", dir, name);
    unlink(path);
    free(path);
}

static void test_directory(void **state)
{
    (void)state;
    char dir[] = "/tmp/wf-recipe-XXXXXX";
    wf_recipe_list *list = NULL;
    wf_diag_list d = {0};
    char *all, *want, *missing;

    assert_non_null(mkdtemp(dir));
    write_file(dir, "b.yaml",
               "- {name: bee, versions: [\"1\"], source: {sdist: upstream}}\n"
               "- {name: cee, versions: [\"1\"], source: {path: src}}\n");
    write_file(dir, "a.yml", "name: ay\nversions: [\"1\"]\nsource: {sdist: upstream}\n");
    write_file(dir, "empty.yaml", "");
    write_file(dir, ".hidden.yaml", "this: is not read\n");
    write_file(dir, "notes.txt", "neither: is this\n");
    assert_int_equal(wf_recipe_load_path(&list, dir, &d), 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(list->n, 3);
    assert_string_equal(list->items[0]->name, "ay");
    assert_string_equal(list->items[1]->name, "bee");
    assert_string_equal(list->items[2]->name, "cee");
    want = wf_asprintf("%s/b.yaml", dir);
    assert_string_equal(list->items[1]->file, want);
    free(want);
    want = wf_asprintf("%s/src", dir);
    assert_string_equal(list->items[2]->source.path, want);
    free(want);
    wf_recipe_list_free(list);
    list = NULL;

    /* A duplicate across files names the first one's file and line; errors of other files
     * are collected too. */
    write_file(dir, "c.yaml", "# dup\n- name: Bee\n  versions: [\"2\"]\n  source: {sdist: up}\n");
    assert_int_equal(wf_recipe_load_path(&list, dir, &d), WF_EINVAL);
    assert_null(list);
    all = joined(&d);
    want = subst("@/c.yaml:2:9: duplicate recipe 'Bee' (first defined at @/b.yaml:1)\n"
                 "@/c.yaml:4:19: 'sdist': expected 'upstream', got 'up'\n",
                 dir);
    assert_string_equal(all, want);
    free(all);
    free(want);
    wf_diag_list_release(&d);

    missing = wf_asprintf("%s/nope", dir);
    assert_int_equal(wf_recipe_load_path(&list, missing, &d), WF_EINVAL);
    assert_int_equal(d.n, 1);
    all = wf_diag_format(&d.items[0]);
    want = wf_asprintf("%s: cannot read recipes: no such file or directory", missing);
    assert_string_equal(all, want);
    free(all);
    free(want);
    free(missing);
    wf_diag_list_release(&d);

    remove_file(dir, "a.yml");
    remove_file(dir, "b.yaml");
    remove_file(dir, "c.yaml");
    remove_file(dir, "empty.yaml");
    remove_file(dir, ".hidden.yaml");
    remove_file(dir, "notes.txt");
    assert_int_equal(rmdir(dir), 0);
}

static const char base_yaml[] =
    "name: Fixture_Ext\n"
    "versions: [\"1.0.0\"]\n"
    "source: {url: \"https://example.invalid/f-{version}.tar.gz\", sha256: " SHA "}\n"
    "python: [cp311]\n"
    "platforms: [linux/amd64, linux/arm64]\n"
    "native: [{name: libfoo, url: \"https://example.invalid/foo.tar.gz\", sha256: " SHA
    ", build: make install}]\n"
    "environment: {CFLAGS: \"-O2\"}\n"
    "before_build: echo hi\n"
    "test_command: python -c 'import f'\n";

static char *canonical_of(const char *yaml)
{
    wf_recipe_list *list = parse_ok("/r/x.yaml", yaml);
    char *c;
    assert_int_equal(list->n, 1);
    c = wf_recipe_canonical(list->items[0]);
    wf_recipe_list_free(list);
    return c;
}

static void test_canonical(void **state)
{
    (void)state;
    char *base = canonical_of(base_yaml), *other;
    /* The same recipe written differently (block style, comments, key order, explicit
     * defaults) has the same canonical form. */
    static const char same_yaml[] = "# comment\n"
                                    "test_command: python -c 'import f'\n"
                                    "before_build: 'echo hi'\n"
                                    "environment:\n"
                                    "  CFLAGS: -O2\n"
                                    "native:\n"
                                    "  - name: libfoo\n"
                                    "    build: make install\n"
                                    "    sha256: " SHA "\n"
                                    "    url: https://example.invalid/foo.tar.gz\n"
                                    "platforms:\n"
                                    "  - linux/amd64\n"
                                    "  - linux/arm64\n"
                                    "source:\n"
                                    "  sha256: " SHA "\n"
                                    "  url: https://example.invalid/f-{version}.tar.gz\n"
                                    "versions: [1.0.0]\n"
                                    "name: Fixture_Ext\n"
                                    "repair: auditwheel repair -w {dest_dir} {wheel}\n"
                                    "timeout: 3600\n";
    /* Each change of one field must change the canonical form. */
    static const char *const changes[][2] = {
        {"name: Fixture_Ext", "name: fixture-ext2"},
        {"versions: [\"1.0.0\"]", "versions: [\"1.0.1\"]"},
        {"f-{version}", "g-{version}"},
        {"python: [cp311]", "python: [cp312]"},
        {"platforms: [linux/amd64, linux/arm64]", "platforms: [linux/arm64, linux/amd64]"},
        {"build: make install", "build: make install PREFIX=/opt"},
        {"\"-O2\"", "\"-O3\""},
        {"echo hi", "echo ho"},
        {"import f'", "import g'"},
        {"test_command", "timeout: 61\ntest_command"},
        {"test_command", "idle_timeout: 600\ntest_command"},
        {"test_command", "repair: \"\"\ntest_command"},
    };

    assert_string_equal(base,
                        "{\"name\":\"fixture-ext\",\"versions\":[\"1.0.0\"],\"source\":{\"url\":"
                        "\"https://example.invalid/f-{version}.tar.gz\",\"sha256\":\"" SHA "\"},"
                        "\"python\":[\"cp311\"],\"platforms\":[\"linux/amd64\",\"linux/arm64\"],"
                        "\"native\":[{\"name\":\"libfoo\",\"url\":\"https://example.invalid/"
                        "foo.tar.gz\",\"sha256\":\"" SHA "\",\"build\":\"make install\"}],"
                        "\"environment\":{\"CFLAGS\":\"-O2\"},\"before_build\":\"echo hi\","
                        "\"repair\":\"auditwheel repair -w {dest_dir} {wheel}\","
                        "\"test_command\":\"python -c 'import f'\",\"timeout\":3600,"
                        "\"idle_timeout\":0}");
    other = canonical_of(same_yaml);
    assert_string_equal(other, base);
    free(other);

    for (size_t i = 0; i < WF_ARRAY_SIZE(changes); i++) {
        const char *at = strstr(base_yaml, changes[i][0]);
        wf_buf b = WF_BUF_INIT;
        assert_non_null(at);
        wf_buf_add(&b, base_yaml, (size_t)(at - base_yaml));
        wf_buf_adds(&b, changes[i][1]);
        wf_buf_adds(&b, at + strlen(changes[i][0]));
        other = canonical_of(b.ptr);
        if (strcmp(other, base) == 0)
            fail_msg("change %zu (%s) did not change the canonical form", i, changes[i][1]);
        free(other);
        wf_buf_release(&b);
    }
    free(base);
}

/* track, min_age, prereleases: values, defaults, canonical form, and every error with its
 * position (a specifier error points at the column inside the quoted text). */
static void test_tracking(void **state)
{
    (void)state;
    wf_recipe_list *list = parse_ok(FILE_NAME, "- name: a\n"
                                               "  track: \">=1.0, <2\"\n"
                                               "  min_age: 1d12h\n"
                                               "  prereleases: true\n"
                                               "  source: {sdist: upstream}\n"
                                               "- name: b\n"
                                               "  versions: [\"0.9\"]\n"
                                               "  track: ~=1.2\n"
                                               "  min_age: 3600\n"
                                               "  source: {sdist: upstream}\n"
                                               "- name: c\n"
                                               "  versions: []\n"
                                               "  track: \"\"\n"
                                               "  source: {sdist: upstream}\n"
                                               "- name: d\n"
                                               "  versions: [\"1.0\"]\n"
                                               "  source: {sdist: upstream}\n");
    const wf_recipe *a = list->items[0], *b = list->items[1], *c = list->items[2];
    const wf_recipe *d = list->items[3];
    assert_string_equal(a->track, ">=1.0, <2");
    assert_int_equal(a->n_versions, 0);
    assert_int_equal(a->min_age_s, 36 * 3600);
    assert_int_equal(a->prereleases, 1);
    assert_string_equal(b->track, "~=1.2");
    assert_int_equal(b->n_versions, 1);
    assert_int_equal(b->min_age_s, 3600);
    assert_int_equal(b->prereleases, -1);
    assert_string_equal(c->track, "");
    assert_int_equal(c->min_age_s, 0);
    assert_null(d->track);
    assert_int_equal(d->prereleases, -1);

    char *canon = wf_recipe_canonical(a);
    assert_non_null(strstr(
        canon, ",\"timeout\":3600,\"idle_timeout\":0,\"track\":\">=1.0, <2\",\"min_age\":129600,"
               "\"prereleases\":true}"));
    free(canon);
    canon = wf_recipe_canonical(b);
    assert_non_null(strstr(canon, "\"track\":\"~=1.2\",\"min_age\":3600,\"prereleases\":null}"));
    free(canon);
    /* A recipe that does not track keeps the canonical form it always had. */
    canon = wf_recipe_canonical(d);
    assert_null(strstr(canon, "track"));
    assert_non_null(strstr(canon, "\"timeout\":3600,\"idle_timeout\":0}"));
    free(canon);
    wf_recipe_list_free(list);

    expect_errors("name: a\ntrack: \">=1.0, =>2\"\nsource: {sdist: upstream}\n",
                  FILE_NAME ":2:16: 'track': invalid PEP 440 specifier '>=1.0, =>2': unknown "
                            "operator '=>' (did you mean '>='?)\n");
    expect_errors("name: a\ntrack: ~=1\nsource: {sdist: upstream}\n",
                  FILE_NAME ":2:10: 'track': invalid PEP 440 specifier '~=1': '~=' needs at "
                            "least two release numbers (write '~=1.0', or '==1.*')\n");
    expect_errors("name: a\ntrack: [1]\nsource: {sdist: upstream}\n",
                  FILE_NAME ":2:8: 'track': expected a string, got a list\n");
    expect_errors(
        "name: a\ntrack: \">=1\"\nsource: {url: \"https://x.invalid/a-{version}.tar.gz\", "
        "sha256: " SHA "}\n",
        FILE_NAME ":2:8: 'track' needs source {sdist: upstream}: new versions are found "
                  "as sdists on the upstream index (a url source pins one file by "
                  "sha256, a path source has one version)\n");
    expect_errors("name: a\ntrack: \">=1\"\nmin_age: 2w\nprereleases: maybe\n"
                  "source: {sdist: upstream}\n",
                  FILE_NAME ":3:10: 'min_age': invalid duration '2w' (write a number with a unit, "
                            "such as 2d, 12h, 30m or 1d12h, or a number of seconds)\n" FILE_NAME
                            ":4:14: 'prereleases': expected true or false, got 'maybe'\n");
    expect_errors("name: a\ntrack: \">=1\"\nmin_age: 4000d\nsource: {sdist: upstream}\n",
                  FILE_NAME ":3:10: 'min_age': '4000d' is longer than the limit of 3650d\n");
    expect_errors("name: a\nversions: [\"1\"]\nmin_age: 1h\nprereleases: true\n"
                  "source: {sdist: upstream}\n",
                  FILE_NAME ":3:10: 'min_age' only applies to a recipe with 'track'\n" FILE_NAME
                            ":4:14: 'prereleases' only applies to a recipe with 'track'\n");
    /* Without track, versions stays required and non-empty. */
    expect_errors("name: a\nsource: {sdist: upstream}\n",
                  FILE_NAME ":1:1: missing required key 'versions'\n");
    expect_errors("name: a\nversions: []\nsource: {sdist: upstream}\n",
                  FILE_NAME ":2:11: 'versions' must list at least one version\n");
}

static void test_helpers(void **state)
{
    (void)state;
    wf_diag g = {"f.yaml", 0, 0, "m"};
    char *s = wf_diag_format(&g);
    assert_string_equal(s, "f.yaml: m");
    free(s);
    g.line = 3;
    s = wf_diag_format(&g);
    assert_string_equal(s, "f.yaml:3: m");
    free(s);
    assert_true(wf_recipe_python_valid("cp39"));
    assert_true(wf_recipe_python_valid("pp310"));
    assert_false(wf_recipe_python_valid("cp3"));
    assert_false(wf_recipe_python_valid("cp3100"));
    assert_false(wf_recipe_python_valid("cp27"));
    assert_false(wf_recipe_python_valid("py311"));
    assert_true(wf_recipe_sha256_valid(SHA));
    assert_false(wf_recipe_sha256_valid(SHA "0"));
    assert_false(wf_recipe_sha256_valid("0123"));
    assert_true(wf_recipe_platform_valid("linux/arm64"));
    assert_false(wf_recipe_platform_valid("linux/arm"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_defaults_single_mapping),
        cmocka_unit_test(test_errors_keys),
        cmocka_unit_test(test_errors_types),
        cmocka_unit_test(test_errors_values),
        cmocka_unit_test(test_errors_source),
        cmocka_unit_test(test_errors_syntax_and_duplicates),
        cmocka_unit_test(test_duplicate_versions),
        cmocka_unit_test(test_many_versions),
        cmocka_unit_test(test_fixture_collects_all),
        cmocka_unit_test(test_directory),
        cmocka_unit_test(test_canonical),
        cmocka_unit_test(test_tracking),
        cmocka_unit_test(test_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
