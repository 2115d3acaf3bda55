/* test-yamldoc.c - unit tests for lib/yamldoc.c: tree and positions, limits, checked readers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "lib/yamldoc.h"

/* Parses `text` expecting failure `want_err`, and checks the single diag's formatted text. */
static void expect_parse_error(const char *text, size_t len, int want_err, const char *want)
{
    wf_diag_list d = {0};
    wf_yamldoc_node *root = (wf_yamldoc_node *)0x1;
    char *s;

    assert_int_equal(wf_yamldoc_parse(&root, "t.yaml", text, len, &d), want_err);
    assert_ptr_equal(root, (wf_yamldoc_node *)0x1);
    assert_int_equal(d.n, 1);
    s = wf_diag_format(&d.items[0]);
    assert_string_equal(s, want);
    free(s);
    wf_diag_list_release(&d);
}

static wf_yamldoc_node *parse_ok(const char *text)
{
    wf_diag_list d = {0};
    wf_yamldoc_node *root = NULL;
    assert_int_equal(wf_yamldoc_parse(&root, "t.yaml", text, strlen(text), &d), 0);
    assert_int_equal(d.n, 0);
    return root;
}

static void test_tree_positions(void **state)
{
    (void)state;
    wf_yamldoc_node *root = parse_ok("# comment\n"
                                     "name: demo\n"
                                     "versions: [1.0, \"2.0\"]\n"
                                     "nested:\n"
                                     "  - {a: b}\n"
                                     "empty:\n");
    const wf_yamldoc_node *v;

    assert_int_equal(root->kind, WF_YAMLDOC_MAPPING);
    assert_int_equal(root->line, 2);
    assert_int_equal(root->column, 1);
    assert_int_equal(root->n, 4);
    assert_string_equal(root->pairs[1].key->value, "versions");
    assert_int_equal(root->pairs[1].key->line, 3);

    v = wf_yamldoc_get(root, "versions");
    assert_int_equal(v->kind, WF_YAMLDOC_SEQUENCE);
    assert_int_equal(v->n, 2);
    /* A plain number keeps its text; quoting is remembered. */
    assert_string_equal(v->items[0]->value, "1.0");
    assert_int_equal(v->items[0]->plain, 1);
    assert_int_equal(v->items[0]->line, 3);
    assert_int_equal(v->items[0]->column, 12);
    assert_int_equal(v->items[1]->plain, 0);
    assert_int_equal(v->items[1]->column, 17);

    v = wf_yamldoc_get(root, "nested");
    assert_int_equal(v->items[0]->kind, WF_YAMLDOC_MAPPING);
    assert_int_equal(v->items[0]->line, 5);
    assert_int_equal(v->items[0]->column, 5);
    assert_string_equal(wf_yamldoc_get(v->items[0], "a")->value, "b");

    v = wf_yamldoc_get(root, "empty");
    assert_true(wf_yamldoc_is_null(v));
    assert_string_equal(wf_yamldoc_describe(v), "nothing (null)");
    assert_null(wf_yamldoc_get(root, "missing"));
    wf_yamldoc_free(root);
}

static void test_empty_document(void **state)
{
    (void)state;
    wf_diag_list d = {0};
    wf_yamldoc_node *root = (wf_yamldoc_node *)0x1;
    assert_int_equal(wf_yamldoc_parse(&root, "t.yaml", "# only a comment\n", 17, &d), 0);
    assert_null(root);
    assert_int_equal(d.n, 0);
}

static void test_syntax_errors(void **state)
{
    (void)state;
    const char *unclosed = "a: [1, 2\nb: 3\n";
    const char *badindent = "a:\n  b: 1\n c: 2\n";
    expect_parse_error(unclosed, strlen(unclosed), WF_EINVAL,
                       "t.yaml:2:2: YAML syntax error: did not find expected ',' or ']' (while "
                       "parsing a flow sequence at line 1, column 4)");
    expect_parse_error(badindent, strlen(badindent), WF_EINVAL,
                       "t.yaml:3:2: YAML syntax error: did not find expected key (while parsing "
                       "a block mapping at line 1, column 1)");
}

static void test_anchors_aliases_documents(void **state)
{
    (void)state;
    const char *anchor = "a: &x 1\nb: *x\n";
    const char *alias = "- *x\n";
    const char *docs = "a: 1\n---\nb: 2\n";
    const char *nul = "a: \"x\\0y\"\n";
    expect_parse_error(anchor, strlen(anchor), WF_EINVAL,
                       "t.yaml:1:4: anchors are not supported (found '&x'); write the value out "
                       "in full");
    /* libyaml reports an undefined alias only in its loader, so the parser sees it first. */
    expect_parse_error(alias, strlen(alias), WF_EINVAL,
                       "t.yaml:1:3: aliases are not supported (found '*x'); write the value out "
                       "in full");
    expect_parse_error(docs, strlen(docs), WF_EINVAL,
                       "t.yaml:2:1: only one YAML document per file is supported (remove this "
                       "'---')");
    expect_parse_error(nul, strlen(nul), WF_EINVAL, "t.yaml:1:4: string contains a NUL character");
}

static void test_depth_limit(void **state)
{
    (void)state;
    char text[2 * (WF_YAMLDOC_MAX_DEPTH + 1) + 1];
    wf_yamldoc_node *root;

    /* Exactly at the limit parses. */
    memset(text, '[', WF_YAMLDOC_MAX_DEPTH);
    memset(text + WF_YAMLDOC_MAX_DEPTH, ']', WF_YAMLDOC_MAX_DEPTH);
    text[2 * WF_YAMLDOC_MAX_DEPTH] = '\0';
    root = parse_ok(text);
    assert_int_equal(root->kind, WF_YAMLDOC_SEQUENCE);
    wf_yamldoc_free(root);

    /* One more level fails, pointing at the innermost opening bracket. */
    memset(text, '[', WF_YAMLDOC_MAX_DEPTH + 1);
    memset(text + WF_YAMLDOC_MAX_DEPTH + 1, ']', WF_YAMLDOC_MAX_DEPTH + 1);
    expect_parse_error(text, sizeof(text) - 1, WF_ELIMIT,
                       "t.yaml:1:33: nesting is deeper than 32 levels");
}

static void test_size_limit(void **state)
{
    (void)state;
    size_t n = WF_YAMLDOC_MAX_BYTES + 1;
    char *big = malloc(n);
    wf_yamldoc_node *root;

    assert_non_null(big);
    memset(big, ' ', n);
    big[0] = 'a';
    big[1] = ':';
    expect_parse_error(big, n, WF_ELIMIT, "t.yaml: file is larger than 1 MiB (1048577 bytes)");
    /* The limit itself is allowed. */
    root = NULL;
    {
        wf_diag_list d = {0};
        assert_int_equal(wf_yamldoc_parse(&root, "t.yaml", big, n - 1, &d), 0);
        assert_int_equal(d.n, 0);
    }
    assert_int_equal(root->kind, WF_YAMLDOC_MAPPING);
    wf_yamldoc_free(root);
    free(big);
}

static void test_load_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/wf-yamldoc-XXXXXX";
    char *path, *big;
    wf_diag_list d = {0};
    wf_yamldoc_node *root = NULL;
    FILE *f;
    char *s;

    assert_non_null(mkdtemp(dir));
    path = wf_asprintf("%s/missing.yaml", dir);
    assert_int_equal(wf_yamldoc_load_file(&root, path, &d), UV_ENOENT);
    assert_int_equal(d.n, 1);
    s = wf_diag_format(&d.items[0]);
    assert_non_null(strstr(s, "missing.yaml: cannot read file: no such file or directory"));
    free(s);
    wf_diag_list_release(&d);

    /* A file over the limit is refused while reading. */
    free(path);
    path = wf_asprintf("%s/big.yaml", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    big = calloc(1, WF_YAMLDOC_MAX_BYTES + 10);
    memset(big, '#', WF_YAMLDOC_MAX_BYTES + 10);
    assert_int_equal(fwrite(big, 1, WF_YAMLDOC_MAX_BYTES + 10, f), WF_YAMLDOC_MAX_BYTES + 10);
    fclose(f);
    free(big);
    assert_int_equal(wf_yamldoc_load_file(&root, path, &d), WF_ELIMIT);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.items[0].message, "file is larger than 1 MiB");
    wf_diag_list_release(&d);

    f = fopen(path, "w");
    assert_non_null(f);
    fputs("k: v\n", f);
    fclose(f);
    assert_int_equal(wf_yamldoc_load_file(&root, path, &d), 0);
    assert_string_equal(wf_yamldoc_get(root, "k")->value, "v");
    wf_yamldoc_free(root);
    unlink(path);
    rmdir(dir);
    free(path);
}

static void test_distance_suggest(void **state)
{
    (void)state;
    static const char *const known[] = {"name", "python", "platforms", "timeout", NULL};
    assert_int_equal(wf_yamldoc_distance("pyhton", "python"), 1);
    assert_int_equal(wf_yamldoc_distance("kitten", "sitting"), 3);
    assert_int_equal(wf_yamldoc_distance("", "abc"), 3);
    assert_int_equal(wf_yamldoc_distance("same", "same"), 0);
    assert_string_equal(wf_yamldoc_suggest("pyhton", known), "python");
    assert_string_equal(wf_yamldoc_suggest("platform", known), "platforms");
    assert_string_equal(wf_yamldoc_suggest("timout", known), "timeout");
    assert_null(wf_yamldoc_suggest("colour", known));
    assert_string_equal(wf_yamldoc_suggest("nm", known), "name");
    assert_string_equal(wf_yamldoc_suggest("nme", known), "name");
}

/* Collects the formatted diags of a context into one newline-separated string. */
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

static void test_check_keys(void **state)
{
    (void)state;
    static const char *const known[] = {"name", "python", NULL};
    wf_yamldoc_node *root = parse_ok("name: a\npyhton: [cp311]\nzzz: 1\nname: b\n[x]: 2\n");
    wf_diag_list d = {0};
    wf_yamldoc_ctx ctx = {"t.yaml", &d, 0};
    char *all;

    assert_int_equal(wf_yamldoc_check_keys(&ctx, root, known), 4);
    assert_int_equal(ctx.errors, 4);
    all = joined(&d);
    assert_string_equal(all, "t.yaml:2:1: unknown key 'pyhton' (did you mean 'python'?)\n"
                             "t.yaml:3:1: unknown key 'zzz'\n"
                             "t.yaml:4:1: duplicate key 'name' (first given at line 1)\n"
                             "t.yaml:5:1: mapping keys must be strings, got a list\n");
    free(all);
    wf_diag_list_release(&d);

    assert_null(wf_yamldoc_require(&ctx, root, "python"));
    assert_int_equal(d.n, 1);
    assert_string_equal(d.items[0].message, "missing required key 'python'");
    assert_int_equal(d.items[0].line, 1);
    wf_diag_list_release(&d);
    wf_yamldoc_free(root);
}

static int only_ab(const char *s)
{
    return strcmp(s, "a") == 0 || strcmp(s, "b") == 0;
}

static void test_readers(void **state)
{
    (void)state;
    wf_yamldoc_node *root = parse_ok("s: text\n"
                                     "n: 42\n"
                                     "m: {x: 1}\n"
                                     "l: [a, b]\n"
                                     "big: 99\n"
                                     "t: True\n"
                                     "f: false\n"
                                     "y: yes\n"
                                     "nul:\n"
                                     "set: [a, c, a, b]\n"
                                     "lnull: [a, ~]\n");
    wf_diag_list d = {0};
    wf_yamldoc_ctx ctx = {"t.yaml", &d, 0};
    char *s = NULL, **v = NULL, *all;
    size_t n = 0;
    unsigned u = 7;
    int b = -1;

    assert_int_equal(wf_yamldoc_read_string(&ctx, &s, wf_yamldoc_get(root, "s"), "s"), 0);
    assert_string_equal(s, "text");
    free(s);
    assert_int_equal(wf_yamldoc_read_string(&ctx, &s, wf_yamldoc_get(root, "nul"), "nul"), 0);
    assert_string_equal(s, "");
    free(s);
    assert_int_equal(wf_yamldoc_read_uint(&ctx, &u, wf_yamldoc_get(root, "n"), 1, 50, "n"), 0);
    assert_int_equal(u, 42);
    assert_int_equal(wf_yamldoc_read_strings(&ctx, &v, &n, wf_yamldoc_get(root, "l"), "l"), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[1], "b");
    wf_yamldoc_strings_free(v, n);
    assert_int_equal(wf_yamldoc_read_bool(&ctx, &b, wf_yamldoc_get(root, "t"), "t"), 0);
    assert_int_equal(b, 1);
    assert_int_equal(wf_yamldoc_read_bool(&ctx, &b, wf_yamldoc_get(root, "f"), "f"), 0);
    assert_int_equal(b, 0);
    assert_int_equal(ctx.errors, 0);

    s = NULL;
    u = 7;
    b = -1;
    v = NULL;
    assert_int_equal(wf_yamldoc_read_string(&ctx, &s, wf_yamldoc_get(root, "m"), "m"), WF_EINVAL);
    assert_int_equal(wf_yamldoc_read_strings(&ctx, &v, &n, wf_yamldoc_get(root, "m"), "m"),
                     WF_EINVAL);
    assert_int_equal(wf_yamldoc_read_uint(&ctx, &u, wf_yamldoc_get(root, "big"), 1, 50, "big"),
                     WF_EINVAL);
    assert_int_equal(wf_yamldoc_read_uint(&ctx, &u, wf_yamldoc_get(root, "s"), 1, 50, "s"),
                     WF_EINVAL);
    assert_int_equal(wf_yamldoc_read_bool(&ctx, &b, wf_yamldoc_get(root, "y"), "y"), WF_EINVAL);
    assert_int_equal(wf_yamldoc_read_strings(&ctx, &v, &n, wf_yamldoc_get(root, "lnull"), "lnull"),
                     WF_EINVAL);
    assert_int_equal(wf_yamldoc_read_set(&ctx, &v, &n, wf_yamldoc_get(root, "set"), "set", "letter",
                                         only_ab, "a, b"),
                     WF_EINVAL);
    assert_null(s);
    assert_null(v);
    assert_int_equal(u, 7);
    assert_int_equal(b, -1);
    all = joined(&d);
    assert_string_equal(all, "t.yaml:3:4: 'm': expected a string, got a mapping\n"
                             "t.yaml:3:4: 'm': expected a list of strings, got a mapping\n"
                             "t.yaml:5:6: 'big': expected a whole number from 1 to 50, got '99'\n"
                             "t.yaml:1:4: 's': expected a whole number from 1 to 50, got 'text'\n"
                             "t.yaml:8:4: 'y': expected true or false, got 'yes'\n"
                             "t.yaml:11:12: 'lnull': expected a list of strings, but this item is "
                             "nothing (null)\n"
                             "t.yaml:10:10: invalid letter 'c' (allowed: a, b)\n"
                             "t.yaml:10:13: 'set' lists 'a' twice\n");
    free(all);
    wf_diag_list_release(&d);
    wf_yamldoc_free(root);
}

static void test_path(void **state)
{
    (void)state;
    char cwd[4096], *p, *want;

    assert_non_null(getcwd(cwd, sizeof(cwd)));
    p = wf_yamldoc_path("/a/b/c.yaml", "../src");
    assert_string_equal(p, "/a/src");
    free(p);
    p = wf_yamldoc_path("/a/b/c.yaml", "/abs/./x/../y/");
    assert_string_equal(p, "/abs/y");
    free(p);
    p = wf_yamldoc_path("/a/b/c.yaml", "../../../..");
    assert_string_equal(p, "/");
    free(p);
    p = wf_yamldoc_path("<defaults>", "./var");
    want = wf_asprintf("%s/var", strcmp(cwd, "/") == 0 ? "" : cwd);
    assert_string_equal(p, want);
    free(p);
    free(want);
    p = wf_yamldoc_path("conf/wf.yaml", "var");
    want = wf_asprintf("%s/conf/var", strcmp(cwd, "/") == 0 ? "" : cwd);
    assert_string_equal(p, want);
    free(p);
    free(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_positions), cmocka_unit_test(test_empty_document),
        cmocka_unit_test(test_syntax_errors),  cmocka_unit_test(test_anchors_aliases_documents),
        cmocka_unit_test(test_depth_limit),    cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_load_file),      cmocka_unit_test(test_distance_suggest),
        cmocka_unit_test(test_check_keys),     cmocka_unit_test(test_readers),
        cmocka_unit_test(test_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
