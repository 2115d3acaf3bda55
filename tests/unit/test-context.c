/* test-context.c - unit tests for workers/context.c: job template rendering and context files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "lib/wf.h"
#include "workers/context.h"

/* A scratch directory per test, removed afterwards. */
typedef struct fixture {
    char root[64];
} fixture;

static void remove_tree(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *e;

    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        d = opendir(path);
        assert_non_null(d);
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char *p = wf_asprintf("%s/%s", path, e->d_name);
            remove_tree(p);
            free(p);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int setup(void **state)
{
    fixture *f = wf_calloc(1, sizeof(*f));

    snprintf(f->root, sizeof(f->root), "/tmp/wf-test-context.XXXXXX");
    if (mkdtemp(f->root) == NULL)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    remove_tree(f->root);
    free(f);
    return 0;
}

static void put(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "r");
    wf_buf b = WF_BUF_INIT;
    char chunk[4096];
    size_t n;

    if (fp == NULL)
        fail_msg("cannot open '%s'", path);
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        wf_buf_add(&b, chunk, n);
    fclose(fp);
    wf_buf_adds(&b, "");
    return wf_buf_detach(&b);
}

static char *slurp_in(const char *dir, const char *name)
{
    char *p = wf_asprintf("%s/%s", dir, name);
    char *s = slurp(p);

    free(p);
    return s;
}

static int exists_in(const char *dir, const char *name)
{
    struct stat st;
    char *p = wf_asprintf("%s/%s", dir, name);
    int ok = lstat(p, &st) == 0;

    free(p);
    return ok;
}

static int mode_in(const char *dir, const char *name)
{
    struct stat st;
    char *p = wf_asprintf("%s/%s", dir, name);

    assert_int_equal(lstat(p, &st), 0);
    free(p);
    return (int)(st.st_mode & 07777);
}

static const char tmpl[] = "## template doc with @ANYTHING@\n"
                           "FROM @IMAGE@ AS native\n"
                           "#@native-begin\n"
                           "  ## block doc @ANYTHING@\n"
                           "COPY native/@NATIVE@.archive /x/\n"
                           "RUN echo user@host @NATIVE@ @lower@\n"
                           "#@native-end\n"
                           "FROM native AS build\n"
                           "FROM @RUNTIME@ AS test\n";

static void test_dockerfile_repeats_native_block(void **state)
{
    (void)state;
    wf_context_native nat[] = {{"zstd", "/a", "make"}, {"librdkafka", "/b", "make"}};
    char *out = NULL, *err = NULL;

    assert_int_equal(wf_context_render_dockerfile(&out, "t", tmpl, strlen(tmpl),
                                                  "wheelfarm/builder:bookworm-amd64",
                                                  "wheelfarm/runtime:bookworm-amd64", nat, 2, &err),
                     0);
    assert_null(err);
    assert_string_equal(out, "FROM wheelfarm/builder:bookworm-amd64 AS native\n"
                             "COPY native/zstd.archive /x/\n"
                             "RUN echo user@host zstd @lower@\n"
                             "COPY native/librdkafka.archive /x/\n"
                             "RUN echo user@host librdkafka @lower@\n"
                             "FROM native AS build\n"
                             "FROM wheelfarm/runtime:bookworm-amd64 AS test\n");
    free(out);

    /* No native dependencies: the block disappears; no runtime image: the builder's. */
    out = NULL;
    assert_int_equal(wf_context_render_dockerfile(&out, "t", tmpl, strlen(tmpl), "img@sha256:ab",
                                                  NULL, NULL, 0, &err),
                     0);
    assert_string_equal(out, "FROM img@sha256:ab AS native\nFROM native AS build\n"
                             "FROM img@sha256:ab AS test\n");
    free(out);
    out = NULL;
    assert_int_equal(
        wf_context_render_dockerfile(&out, "t", tmpl, strlen(tmpl), "img", "", NULL, 0, &err), 0);
    assert_non_null(strstr(out, "FROM img AS test\n"));
    free(out);
}

static void test_dockerfile_errors(void **state)
{
    (void)state;
    static const struct {
        const char *tmpl;
        const char *msg;
    } cases[] = {
        {"FROM @IMAGE@\nRUN @PYTHON@\n", "t:2:5: unknown placeholder '@PYTHON@'"},
        {"FROM x\nRUN @NATIVE@\n", "t:2:5: @NATIVE@ outside"},
        {"#@native-begin\nRUN x\n", "t:1:1: '#@native-begin' is never closed"},
        {"RUN x\n  #@native-end\n", "t:2:1: '#@native-end' without"},
        {"#@native-begin\n#@native-begin\n#@native-end\n", "t:2:1: '#@native-begin' inside"},
        {"#@native-begin\nRUN @BOGUS@\n#@native-end\n", "t:2:5: unknown placeholder '@BOGUS@'"},
    };
    wf_context_native nat[] = {{"z", "/a", ""}};

    for (size_t i = 0; i < WF_ARRAY_SIZE(cases); i++) {
        char *out = NULL, *err = NULL;
        int rc = wf_context_render_dockerfile(&out, "t", cases[i].tmpl, strlen(cases[i].tmpl),
                                              "img", "rt", nat, 1, &err);
        assert_int_equal(rc, WF_EINVAL);
        assert_null(out);
        assert_non_null(err);
        if (strstr(err, cases[i].msg) == NULL)
            fail_msg("case %zu: '%s' does not contain '%s'", i, err, cases[i].msg);
        free(err);
    }
}

/* Options for a context rendered from the real template into f->root/ctx. */
static wf_context_options base_options(fixture *f, const char *source, wf_context_native *nat,
                                       size_t n_nat)
{
    static char tpath[512];
    wf_context_options o;

    snprintf(tpath, sizeof(tpath), "%s/dockerfiles/job.Dockerfile.in", WF_SOURCE_ROOT);
    memset(&o, 0, sizeof(o));
    o.dir = wf_asprintf("%s/ctx/sub", f->root); /* parents are created */
    o.template_path = tpath;
    o.image = "wheelfarm/builder:bookworm-amd64";
    o.runtime_image = "wheelfarm/runtime:bookworm-amd64";
    o.python = "cp311";
    o.source_path = source;
    o.project = "fixture-ext";
    o.version = "1.0.0";
    o.native = nat;
    o.n_native = n_nat;
    o.before_build = "";
    o.repair = WF_RECIPE_DEFAULT_REPAIR;
    o.test_command = "python -c \"import fixture_ext\"";
    o.upstream_index = "";
    return o;
}

static void test_render_sdist_with_native(void **state)
{
    fixture *f = *state;
    char *src = wf_asprintf("%s/fixture_ext-1.0.0.tar.gz", f->root);
    char *arc = wf_asprintf("%s/cache-blob", f->root);
    char *err = NULL, *s;
    wf_context_native nat[] = {{"wfnum", arc, "make && make install PREFIX=/usr/local"}};
    wf_env_var env[] = {{"CFLAGS", "-O2 \"quoted\" $HOME \\x"}, {"EMPTY", ""}};

    put(src, "sdist bytes");
    put(arc, "archive bytes");
    wf_context_options o = base_options(f, src, nat, 1);
    o.environment = env;
    o.n_environment = 2;
    o.before_build = "echo 'before'";
    assert_int_equal(wf_context_render(&o, &err), 0);
    assert_null(err);

    s = slurp_in(o.dir, "Dockerfile");
    assert_non_null(strstr(s, "FROM wheelfarm/builder:bookworm-amd64 AS native\n"));
    assert_non_null(strstr(s, "COPY native/wfnum.archive native/wfnum.sh /wf/native/\n"));
    assert_null(strstr(s, "@NATIVE@"));
    assert_null(strstr(s, "#@native"));
    /* Libraries installed into /usr/local/lib64 are found by ldconfig, auditwheel and
     * pkg-config, before the first native dependency is built. */
    char *lib64 = strstr(s, "RUN echo /usr/local/lib64 >/etc/ld.so.conf.d/");
    assert_non_null(lib64);
    assert_true(lib64 < strstr(s, "COPY native/wfnum.archive"));
    assert_non_null(strstr(s, "\nENV PKG_CONFIG_PATH=/usr/local/lib/pkgconfig:/usr/local/lib64/"
                              "pkgconfig:/usr/local/share/pkgconfig\n"));
    /* The native stage must not depend on the python tag or the source: nothing before the
     * build stage copies wf/ or src/. */
    char *build = strstr(s, "FROM native AS build");
    assert_non_null(build);
    *build = '\0';
    assert_null(strstr(s, "COPY wf/"));
    assert_null(strstr(s, "COPY src/"));
    assert_null(strstr(s, "cp311"));
    /* The test runs in the runtime image, and the exported wheels come out of the test stage
     * only: a failing test exports nothing. */
    char *test = strstr(build + 1, "FROM wheelfarm/runtime:bookworm-amd64 AS test\n");
    assert_non_null(test);
    /* The build stage does not see the test script: a new test_command keeps its cache. */
    *test = '\0';
    assert_null(strstr(build + 1, "test.sh"));
    *test = 'F';
    assert_non_null(strstr(test, "COPY --from=build /out/ /wf/wheels/\n"));
    assert_non_null(strstr(test, "sh -ex /wf/test.sh"));
    char *out_stage = strstr(test, "FROM scratch AS out\n");
    assert_non_null(out_stage);
    assert_non_null(strstr(out_stage, "COPY --from=test /wf/passed/ /\n"));
    assert_null(strstr(out_stage, "--from=build"));
    assert_null(strstr(build + 1, "@RUNTIME@"));
    free(s);

    s = slurp_in(o.dir, "native/wfnum.archive");
    assert_string_equal(s, "archive bytes");
    free(s);
    s = slurp_in(o.dir, "native/wfnum.sh");
    assert_non_null(strstr(s, "\nmake && make install PREFIX=/usr/local\n"));
    free(s);
    s = slurp_in(o.dir, "src/fixture_ext-1.0.0.tar.gz");
    assert_string_equal(s, "sdist bytes");
    free(s);

    s = slurp_in(o.dir, "wf/job.sh");
    assert_non_null(strstr(s, "WF_PYTHON=/opt/python/cp311-cp311/bin/python\n"));
    assert_non_null(strstr(s, "WF_SOURCE=/wf/src/fixture_ext-1.0.0.tar.gz\n"));
    assert_non_null(strstr(s, "WF_SRCDIR=/wf/src\n"));
    assert_non_null(strstr(s, "PIP_NO_INDEX=1\n"));
    assert_non_null(strstr(s, "WF_PIP_BUILD=--no-build-isolation\n"));
    assert_non_null(strstr(s, "WF_PIP_INSTALL='--no-index --no-deps'\n"));
    assert_null(strstr(s, "PIP_INDEX_URL"));
    free(s);
    s = slurp_in(o.dir, "wf/env.sh");
    assert_non_null(strstr(s, "export CFLAGS=\"-O2 \\\"quoted\\\" $HOME \\\\x\"\n"));
    assert_non_null(strstr(s, "export EMPTY=\"\"\n"));
    free(s);
    s = slurp_in(o.dir, "wf/repair.sh");
    assert_non_null(strstr(s, "\nauditwheel repair -w \"$2\" \"$1\"\n"));
    free(s);
    s = slurp_in(o.dir, "wf/before_build.sh");
    assert_non_null(strstr(s, "\necho 'before'\n"));
    free(s);
    s = slurp_in(o.dir, "wf/test.sh");
    assert_non_null(strstr(s, "\npython -c \"import fixture_ext\"\n"));
    free(s);

    /* Fixed modes, whatever the umask: BuildKit's cache keys include them. */
    assert_int_equal(mode_in(o.dir, "wf/job.sh"), 0644);
    assert_int_equal(mode_in(o.dir, "native/wfnum.archive"), 0644);
    assert_int_equal(mode_in(o.dir, "native"), 0755);

    /* Rendering into the now non-empty directory is refused. */
    assert_int_equal(wf_context_render(&o, &err), WF_EEXIST);
    assert_non_null(strstr(err, "is not empty"));
    free(err);

    free((char *)o.dir);
    free(src);
    free(arc);
}

static void test_render_tree_index_and_plain_repair(void **state)
{
    fixture *f = *state;
    char *tree = wf_asprintf("%s/tree", f->root), *p, *err = NULL, *s;

    assert_int_equal(mkdir(tree, 0755), 0);
    p = wf_asprintf("%s/.git", tree);
    assert_int_equal(mkdir(p, 0755), 0);
    free(p);
    p = wf_asprintf("%s/.git/HEAD", tree);
    put(p, "ref");
    free(p);
    p = wf_asprintf("%s/pkg", tree);
    assert_int_equal(mkdir(p, 0700), 0);
    free(p);
    p = wf_asprintf("%s/pkg/mod.c", tree);
    put(p, "int x;");
    free(p);
    p = wf_asprintf("%s/run.sh", tree);
    put(p, "#!/bin/sh");
    assert_int_equal(chmod(p, 0700), 0);
    free(p);
    p = wf_asprintf("%s/link", tree);
    assert_int_equal(symlink("pkg/mod.c", p), 0);
    free(p);

    wf_context_options o = base_options(f, tree, NULL, 0);
    o.runtime_image = NULL;
    o.python = "cp313t";
    o.repair = "";
    o.test_command = "";
    o.upstream_index = "http://127.0.0.1:1/simple/it's";
    assert_int_equal(wf_context_render(&o, &err), 0);
    assert_null(err);

    assert_true(exists_in(o.dir, "src/tree/pkg/mod.c"));
    assert_false(exists_in(o.dir, "src/tree/.git"));
    assert_int_equal(mode_in(o.dir, "src/tree/run.sh"), 0755);
    assert_int_equal(mode_in(o.dir, "src/tree/pkg"), 0755);
    char buf[64];
    p = wf_asprintf("%s/src/tree/link", o.dir);
    ssize_t n = readlink(p, buf, sizeof(buf) - 1);
    free(p);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, "pkg/mod.c");

    s = slurp_in(o.dir, "Dockerfile");
    assert_null(strstr(s, "native/"));
    /* Without a runtime image the test stage uses the builder image. */
    assert_non_null(strstr(s, "FROM wheelfarm/builder:bookworm-amd64 AS test\n"));
    free(s);
    s = slurp_in(o.dir, "wf/job.sh");
    assert_non_null(strstr(s, "WF_PYTHON=/opt/python/cp313-cp313t/bin/python\n"));
    assert_non_null(strstr(s, "WF_SOURCE=/wf/src/tree\nWF_SRCDIR=/wf/src/tree\n"));
    assert_non_null(strstr(s, "PIP_INDEX_URL='http://127.0.0.1:1/simple/it'\\''s'\n"));
    assert_non_null(strstr(s, "WF_PIP_BUILD=\n"));
    assert_non_null(strstr(s, "WF_PIP_INSTALL=\n"));
    assert_null(strstr(s, "PIP_NO_INDEX"));
    free(s);
    s = slurp_in(o.dir, "wf/repair.sh");
    assert_non_null(strstr(s, "\ncp \"$1\" \"$2\"/\n"));
    free(s);

    free((char *)o.dir);
    free(tree);
}

static void test_render_rejects_bad_options(void **state)
{
    fixture *f = *state;
    char *src = wf_asprintf("%s/pkg-1.0.tar.gz", f->root);
    char *bad_src = wf_asprintf("%s/pkg 1.0.tar.gz", f->root);
    wf_context_native bad_name[] = {{"../x", "/a", ""}};
    wf_context_native twice[] = {{"z", src, ""}, {"z", src, ""}};
    wf_env_var bad_env[] = {{"1X", "v"}};

    put(src, "x");
    put(bad_src, "x");
    static const struct {
        int which;
        int rc;
        const char *msg;
    } cases[] = {
        {0, WF_EINVAL, "python tag 'py3'"},
        {1, WF_EINVAL, "native dependency name '../x'"},
        {2, WF_EINVAL, "'z' is listed twice"},
        {3, WF_EINVAL, "environment key '1X'"},
        {4, WF_EINVAL, "builder image 'a b'"},
        {5, WF_EINVAL, "must be a directory or an sdist file"},
        {6, UV_ENOENT, "cannot read job template"},
        {7, UV_ENOENT, "cannot stat"},
        {8, WF_EINVAL, "runtime image 'rt;x'"},
    };
    for (size_t i = 0; i < WF_ARRAY_SIZE(cases); i++) {
        wf_context_options o = base_options(f, src, NULL, 0);
        char *err = NULL;
        char *dir = wf_asprintf("%s/bad%zu", f->root, i);
        free((char *)o.dir);
        o.dir = dir;
        switch (cases[i].which) {
        case 0: o.python = "py3"; break;
        case 1:
            o.native = bad_name;
            o.n_native = 1;
            break;
        case 2:
            o.native = twice;
            o.n_native = 2;
            break;
        case 3:
            o.environment = bad_env;
            o.n_environment = 1;
            break;
        case 4: o.image = "a b"; break;
        case 5: o.source_path = bad_src; break;
        case 6: o.template_path = "/nonexistent/job.Dockerfile.in"; break;
        case 7: o.source_path = "/nonexistent/pkg.tar.gz"; break;
        case 8: o.runtime_image = "rt;x"; break;
        }
        int rc = wf_context_render(&o, &err);
        if (rc != cases[i].rc || err == NULL || strstr(err, cases[i].msg) == NULL)
            fail_msg("case %zu: rc %d, message '%s'", i, rc, err ? err : "(null)");
        free(err);
        free(dir);
    }
    free(src);
    free(bad_src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dockerfile_repeats_native_block),
        cmocka_unit_test(test_dockerfile_errors),
        cmocka_unit_test_setup_teardown(test_render_sdist_with_native, setup, teardown),
        cmocka_unit_test_setup_teardown(test_render_tree_index_and_plain_repair, setup, teardown),
        cmocka_unit_test_setup_teardown(test_render_rejects_bad_options, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
