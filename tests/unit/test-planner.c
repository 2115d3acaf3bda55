/* test-planner.c - unit tests for daemon/planner.c: expansion, version matching, errors, keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "daemon/planner.h"
#include "daemon/substitute.h"
#include "lib/hash.h"

#define CONF "/etc/wf/wheelfarmd.yaml"
#define RECIPES "/etc/wf/recipes/all.yaml"

/* amd64 offers cp311 and cp312, arm64 only cp311. */
static const char config_yaml[] =
    "state_dir: /tmp/wf-planner-unused\n"
    "images:\n"
    "  linux/amd64: {image: \"builder:amd64\", python: [cp311, cp312]}\n"
    "  linux/arm64: {image: \"builder:arm64\", python: [cp311]}\n"
    "workers: []\n";

/* Recipe bodies; every one has a name, a version list and the upstream sdist as its source. */
static const char recipes_yaml[] = "- name: Foo_Bar\n"
                                   "  versions: [\"1.0.0\", \"2.0\"]\n"
                                   "  source: {sdist: upstream}\n"
                                   "  python: [cp311]\n"
                                   "  platforms: [linux/amd64, linux/arm64]\n"
                                   "- name: twopy\n"
                                   "  versions: [\"0.5\"]\n"
                                   "  source: {sdist: upstream}\n"
                                   "  python: [cp311, cp312]\n"
                                   "  platforms: [linux/amd64]\n"
                                   "- name: armpy312\n"
                                   "  versions: [\"3.1\"]\n"
                                   "  source: {sdist: upstream}\n"
                                   "  python: [cp312]\n"
                                   "  platforms: [linux/arm64]\n";

typedef struct fixture {
    wf_config *cfg;
    wf_recipe_list *recipes;
} fixture;

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

static wf_recipe_list *recipes_ok(const char *yaml)
{
    wf_recipe_list *list = NULL;
    wf_diag_list d = {0};
    int err = wf_recipe_parse(&list, RECIPES, yaml, strlen(yaml), &d);
    if (err != 0) {
        char *all = joined(&d);
        fprintf(stderr, "unexpected recipe errors:\n%s", all);
        free(all);
    }
    wf_diag_list_release(&d);
    assert_int_equal(err, 0);
    return list;
}

static wf_config *config_ok(const char *yaml)
{
    wf_config *c = NULL;
    wf_diag_list d = {0};
    int err = wf_config_parse(&c, CONF, yaml, strlen(yaml), &d);
    if (err != 0) {
        char *all = joined(&d);
        fprintf(stderr, "unexpected config errors:\n%s", all);
        free(all);
    }
    wf_diag_list_release(&d);
    assert_int_equal(err, 0);
    return c;
}

static int setup(void **state)
{
    fixture *f = wf_calloc(1, sizeof(*f));
    f->cfg = config_ok(config_yaml);
    f->recipes = recipes_ok(recipes_yaml);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    wf_config_free(f->cfg);
    wf_recipe_list_free(f->recipes);
    free(f);
    return 0;
}

/* A request built from NULL-terminated lists. */
typedef struct req_lists {
    const char *specs[8];
    const char *platforms[4];
    const char *python[4];
} req_lists;

static size_t count(const char *const *v, size_t max)
{
    size_t n = 0;
    while (n < max && v[n] != NULL)
        n++;
    return n;
}

static wf_plan_request make_req(const req_lists *l)
{
    wf_plan_request r = {l->specs,  count(l->specs, 8), l->platforms, count(l->platforms, 4),
                         l->python, count(l->python, 4)};
    return r;
}

static wf_plan plan_ok(fixture *f, const req_lists *l)
{
    wf_plan_request r = make_req(l);
    wf_plan p = {NULL, 0};
    char *err = NULL;
    int rc = wf_plan_build(&p, f->recipes, f->cfg, &r, &err);
    if (rc != 0)
        fail_msg("unexpected planning error: %s", err ? err : "(no message)");
    assert_null(err);
    return p;
}

/* Plans l expecting WF_EINVAL; every string in `want` must occur in the message. */
static void plan_fails(fixture *f, const req_lists *l, const char *const *want)
{
    wf_plan_request r = make_req(l);
    wf_plan p = {(wf_plan_job *)0x1, 12345}; /* must stay untouched */
    char *err = NULL;
    int rc = wf_plan_build(&p, f->recipes, f->cfg, &r, &err);
    assert_int_equal(rc, WF_EINVAL);
    assert_non_null(err);
    assert_ptr_equal(p.jobs, (wf_plan_job *)0x1);
    assert_int_equal(p.n, 12345);
    for (size_t i = 0; want[i] != NULL; i++)
        if (strstr(err, want[i]) == NULL)
            fail_msg("message lacks '%s': %s", want[i], err);
    free(err);
}

static const wf_plan_job *find_job(const wf_plan *p, const char *version, const char *python,
                                   const char *platform)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->jobs[i].version, version) == 0 && strcmp(p->jobs[i].python, python) == 0 &&
            strcmp(p->jobs[i].platform, platform) == 0)
            return &p->jobs[i];
    return NULL;
}

static int is_hex64(const char *s)
{
    size_t n = strlen(s);
    if (n != 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* recipe x versions x python x platform, each job with its image and a distinct key. */
static void test_expansion(void **state)
{
    fixture *f = *state;
    req_lists l = {{"foo-bar", "TwoPy"}, {NULL}, {NULL}};
    wf_plan p = plan_ok(f, &l);
    assert_int_equal(p.n, 2 * 1 * 2 + 1 * 2 * 1);

    const char *v[] = {"1.0.0", "2.0"};
    const char *plat[] = {"linux/amd64", "linux/arm64"};
    const char *img[] = {"builder:amd64", "builder:arm64"};
    for (size_t i = 0; i < 2; i++) {
        for (size_t k = 0; k < 2; k++) {
            const wf_plan_job *j = find_job(&p, v[i], "cp311", plat[k]);
            assert_non_null(j);
            assert_string_equal(j->recipe->normalized, "foo-bar");
            assert_string_equal(j->image, img[k]);
        }
    }
    for (size_t k = 0; k < 2; k++) {
        const char *py = k == 0 ? "cp311" : "cp312";
        const wf_plan_job *j = find_job(&p, "0.5", py, "linux/amd64");
        assert_non_null(j);
        assert_string_equal(j->recipe->name, "twopy");
        assert_string_equal(j->image, "builder:amd64");
    }
    for (size_t i = 0; i < p.n; i++) {
        assert_true(is_hex64(p.jobs[i].build_key));
        char key[65];
        wf_plan_build_key(p.jobs[i].recipe, f->cfg, p.jobs[i].version, p.jobs[i].python,
                          p.jobs[i].platform, p.jobs[i].image, key);
        assert_string_equal(key, p.jobs[i].build_key);
        for (size_t k = i + 1; k < p.n; k++)
            assert_string_not_equal(p.jobs[i].build_key, p.jobs[k].build_key);
    }
    wf_plan_release(&p);
    assert_null(p.jobs);
    assert_int_equal(p.n, 0);
    wf_plan_release(&p); /* a released plan can be released again */
}

/* Plans "spec" for linux/amd64 and checks the one job carries `version` (NULL: no match). */
static void expect_version(fixture *f, const char *spec, const char *version)
{
    req_lists l = {{spec}, {"linux/amd64"}, {NULL}};
    wf_plan_request r = make_req(&l);
    wf_plan p = {NULL, 0};
    char *err = NULL;
    int rc = wf_plan_build(&p, f->recipes, f->cfg, &r, &err);
    if (version == NULL) {
        assert_int_equal(rc, WF_EINVAL);
        assert_non_null(strstr(err, "has no version"));
        free(err);
        return;
    }
    if (rc != 0) {
        /* Copy before failing: cmocka longjmps out, and the message must not leak. */
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", err ? err : "");
        free(err);
        fail_msg("'%s' should match recipe version '%s': %s", spec, version, msg);
    }
    assert_int_equal(p.n, 1);
    assert_string_equal(p.jobs[0].version, version);
    wf_plan_release(&p);
}

/* name==version picks one version, compared under PEP 440 rules; the job carries the version as
 * the recipe writes it, so keys and filenames do not depend on how it was asked for. */
static void test_version_match(void **state)
{
    fixture *f = *state;
    expect_version(f, "foo-bar==1.0.0", "1.0.0");
    expect_version(f, "Foo.Bar==1.0.0", "1.0.0");
    expect_version(f, "foo_bar==v1.0.0", "1.0.0");
    expect_version(f, "FOO-BAR==2.0", "2.0");
    expect_version(f, "foo-bar==2.0.0a0", NULL); /* a pre-release of 2.0.0 is not 2.0 */
}

/* PEP 440 '==' pads the release with zeros: 1.0 == 1.0.0. The recipe loader already refuses
 * ["1.0", "1.0.0"] as duplicates (wf_pep440_cmp_str), so a request for 1.0 must find 1.0.0. */
static void test_version_match_zero_padding(void **state)
{
    fixture *f = *state;
    expect_version(f, "foo-bar==1.0", "1.0.0");
    expect_version(f, "foo-bar==1", "1.0.0");
    expect_version(f, "foo-bar==2.0.0", "2.0");
    expect_version(f, "foo-bar==2", "2.0");
}

/* A tracking recipe builds any version its specifier contains (pre-releases too, when asked
 * for exactly), normalized; a listed version keeps its spelling; the tracking keys do not enter
 * the build key, so widening a track rebuilds nothing. */
static void test_tracking(void **state)
{
    fixture *f = *state;
    wf_recipe_list *old = f->recipes;
    f->recipes = recipes_ok("- name: tracked\n"
                            "  versions: [\"0.9.0\"]\n"
                            "  track: \">=1.0,<2\"\n"
                            "  source: {sdist: upstream}\n"
                            "- name: bare\n"
                            "  track: \"~=3.1\"\n"
                            "  min_age: 2d\n"
                            "  source: {sdist: upstream}\n");
    expect_version(f, "tracked==0.9", "0.9.0");     /* listed, as the recipe writes it */
    expect_version(f, "tracked==1.1", "1.1");       /* tracked */
    expect_version(f, "tracked==v1.1.0", "1.1.0");  /* normalized */
    expect_version(f, "tracked==1.5rc1", "1.5rc1"); /* asked for exactly */
    expect_version(f, "bare==3.4", "3.4");
    {
        req_lists l = {{"tracked==2.0"}, {NULL}, {NULL}};
        const char *want[] = {"'2.0'", "0.9.0", "tracks '>=1.0,<2'", "excludes it", NULL};
        plan_fails(f, &l, want);
    }
    {
        req_lists l = {{"bare==4.0"}, {NULL}, {NULL}};
        const char *want[] = {"(it lists: none; it tracks '~=3.1'", NULL};
        plan_fails(f, &l, want);
    }
    /* "NAME" of a tracking recipe without versions plans nothing (the API says why). */
    req_lists l = {{"bare"}, {NULL}, {NULL}};
    wf_plan p = plan_ok(f, &l);
    assert_int_equal(p.n, 0);
    wf_plan_release(&p);

    /* The build key of 1.1 is the same whatever the recipe tracks. */
    char k1[65], k2[65];
    wf_plan_build_key(f->recipes->items[0], f->cfg, "1.1", "cp311", "linux/amd64", "builder:amd64",
                      k1);
    wf_recipe_list *wider = recipes_ok("- name: tracked\n"
                                       "  versions: [\"0.9.0\", \"1.0\"]\n"
                                       "  track: \">=1.0\"\n"
                                       "  min_age: 1h\n"
                                       "  prereleases: true\n"
                                       "  source: {sdist: upstream}\n");
    wf_plan_build_key(wider->items[0], f->cfg, "1.1", "cp311", "linux/amd64", "builder:amd64", k2);
    assert_string_equal(k1, k2);
    wf_recipe_list_free(wider);
    wf_recipe_list_free(f->recipes);
    f->recipes = old;
}

static void test_errors(void **state)
{
    fixture *f = *state;
    {
        req_lists l = {{"foo-bar", "kafka"}, {NULL}, {NULL}};
        const char *want[] = {"'kafka'", "wheelfarm recipes", NULL};
        plan_fails(f, &l, want);
    }
    {
        req_lists l = {{"foo-bar==3.0"}, {NULL}, {NULL}};
        const char *want[] = {"'3.0'", "Foo_Bar", "1.0.0, 2.0", "add it", NULL};
        plan_fails(f, &l, want);
    }
    {
        req_lists l = {{"foo-bar==not a version"}, {NULL}, {NULL}};
        const char *want[] = {"'not a version'", "1.0.0, 2.0", NULL};
        plan_fails(f, &l, want);
    }
    {
        req_lists l = {{"foo-bar==2.0.post1"}, {NULL}, {NULL}};
        const char *want[] = {"'2.0.post1'", NULL};
        plan_fails(f, &l, want);
    }
    {
        req_lists l = {{"foo-bar"}, {"linux/riscv64"}, {NULL}};
        const char *want[] = {"'linux/riscv64'", "linux/amd64, linux/arm64", "--platform", NULL};
        plan_fails(f, &l, want);
    }
    {
        /* twopy only builds for amd64: asking for arm64 names the platform it lacks. */
        req_lists l = {{"twopy"}, {"linux/arm64"}, {NULL}};
        const char *want[] = {"'twopy'", "'linux/arm64'", "(it lists: linux/amd64)", NULL};
        plan_fails(f, &l, want);
    }
    {
        req_lists l = {{"foo-bar"}, {NULL}, {"cp39"}};
        const char *want[] = {"'cp39'", "cp311", "--python", NULL};
        plan_fails(f, &l, want);
    }
    {
        req_lists l = {{NULL}, {NULL}, {NULL}};
        const char *want[] = {"nothing to build", "NAME==VERSION", NULL};
        plan_fails(f, &l, want);
    }
}

/* A recipe asking for an interpreter its platform's builder image lacks is refused when the
 * request is planned, not when the build runs. */
static void test_image_lacks_python(void **state)
{
    fixture *f = *state;
    req_lists l = {{"armpy312"}, {NULL}, {NULL}};
    const char *want[] = {"builder:arm64",
                          "linux/arm64",
                          "cp312",
                          "(it has: cp311)",
                          "images.linux/arm64.python",
                          CONF,
                          "armpy312",
                          NULL};
    plan_fails(f, &l, want);

    /* A platform without any image is refused too, naming the config file. */
    wf_config *amd_only = config_ok("images: {linux/amd64: \"builder:amd64\"}\nworkers: []\n");
    wf_config *saved = f->cfg;
    f->cfg = amd_only;
    req_lists l2 = {{"foo-bar==2.0"}, {NULL}, {NULL}};
    const char *want2[] = {"no builder image", "linux/arm64", "images:", CONF, NULL};
    plan_fails(f, &l2, want2);
    /* Filtering the platform away makes the same request plannable. */
    req_lists l3 = {{"foo-bar==2.0"}, {"linux/amd64"}, {NULL}};
    wf_plan p = plan_ok(f, &l3);
    assert_int_equal(p.n, 1);
    wf_plan_release(&p);
    f->cfg = saved;
    wf_config_free(amd_only);
}

static void test_filters(void **state)
{
    fixture *f = *state;
    req_lists l = {{"foo-bar", "twopy"}, {"linux/amd64"}, {NULL}};
    wf_plan p = plan_ok(f, &l);
    assert_int_equal(p.n, 2 + 2);
    for (size_t i = 0; i < p.n; i++)
        assert_string_equal(p.jobs[i].platform, "linux/amd64");
    wf_plan_release(&p);

    req_lists l2 = {{"twopy"}, {NULL}, {"cp312"}};
    p = plan_ok(f, &l2);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.jobs[0].python, "cp312");
    wf_plan_release(&p);

    req_lists l3 = {{"foo-bar==2.0"}, {"linux/arm64"}, {"cp311"}};
    p = plan_ok(f, &l3);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.jobs[0].version, "2.0");
    assert_string_equal(p.jobs[0].platform, "linux/arm64");
    assert_string_equal(p.jobs[0].image, "builder:arm64");
    wf_plan_release(&p);

    /* A filter listing a platform twice does not double the jobs. */
    req_lists l4 = {{"twopy"}, {"linux/amd64", "linux/amd64"}, {"cp311"}};
    p = plan_ok(f, &l4);
    assert_int_equal(p.n, 1);
    wf_plan_release(&p);
}

/* The key of one recipe in `yaml` for (version, python, platform, image) under config `cfg`. */
static void key_of_cfg(const char *yaml, const char *cfg, const char *version, const char *python,
                       const char *platform, const char *image, char out[65])
{
    wf_recipe_list *list = recipes_ok(yaml);
    wf_config *c = config_ok(cfg);
    assert_int_equal(list->n, 1);
    wf_plan_build_key(list->items[0], c, version, python, platform, image, out);
    wf_config_free(c);
    wf_recipe_list_free(list);
}

/* The same under the test config, which declares no substitutes. */
static void key_of(const char *yaml, const char *version, const char *python, const char *platform,
                   const char *image, char out[65])
{
    key_of_cfg(yaml, config_yaml, version, python, platform, image, out);
}

#define R_HEAD "name: kafka\n"
#define R_SRC "source: {sdist: upstream}\npython: [cp311, cp312]\n"
#define R_PLAT "platforms: [linux/amd64, linux/arm64]\n"

static void test_build_key(void **state)
{
    (void)state;
    const char *base = R_HEAD "versions: [\"1.0\"]\n" R_SRC R_PLAT;
    char k0[65], k1[65];
    key_of(base, "1.0", "cp311", "linux/amd64", "img:a", k0);
    assert_true(is_hex64(k0));
    key_of(base, "1.0", "cp311", "linux/amd64", "img:a", k1);
    assert_string_equal(k0, k1);
    /* File and line do not count: the same recipe elsewhere keeps its key. */
    wf_recipe_list *list = NULL;
    wf_diag_list d = {0};
    const char *moved = "# moved\n\n" R_HEAD "versions: [\"1.0\"]\n" R_SRC R_PLAT;
    assert_int_equal(wf_recipe_parse(&list, "/elsewhere/x.yaml", moved, strlen(moved), &d), 0);
    wf_diag_list_release(&d);
    wf_config *c = config_ok(config_yaml);
    wf_plan_build_key(list->items[0], c, "1.0", "cp311", "linux/amd64", "img:a", k1);
    wf_config_free(c);
    wf_recipe_list_free(list);
    assert_string_equal(k0, k1);

    /* Each input changes the key. */
    key_of(base, "1.0", "cp312", "linux/amd64", "img:a", k1);
    assert_string_not_equal(k0, k1);
    key_of(base, "1.0", "cp311", "linux/arm64", "img:a", k1);
    assert_string_not_equal(k0, k1);
    key_of(base, "1.0", "cp311", "linux/amd64", "img:b", k1);
    assert_string_not_equal(k0, k1);
    key_of(base, "1.0.0", "cp311", "linux/amd64", "img:a", k1);
    assert_string_not_equal(k0, k1);
    static const char *const changed[] = {
        R_HEAD "versions: [\"1.0\"]\n" R_SRC R_PLAT "test_command: python -c 'import kafka'\n",
        R_HEAD "versions: [\"1.0\"]\n" R_SRC R_PLAT "environment: {CFLAGS: -O2}\n",
        R_HEAD "versions: [\"1.0\"]\n" R_SRC R_PLAT "repair: \"\"\n",
        R_HEAD "versions: [\"1.0\"]\n" R_SRC R_PLAT "before_build: pip install cython\n",
        R_HEAD "versions: [\"1.0\"]\n" R_SRC R_PLAT "timeout: 60\n",
        "name: kafka2\nversions: [\"1.0\"]\n" R_SRC R_PLAT,
        R_HEAD "versions: [\"1.0\"]\nsource: {url: \"http://127.0.0.1:9/k-{version}.tgz\", "
               "sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef}\n"
               "python: [cp311, cp312]\n" R_PLAT,
    };
    for (size_t i = 0; i < WF_ARRAY_SIZE(changed); i++) {
        key_of(changed[i], "1.0", "cp311", "linux/amd64", "img:a", k1);
        if (strcmp(k0, k1) == 0)
            fail_msg("recipe change %zu left the build key unchanged", i);
    }

    /* Adding a version to the list keeps the keys of the versions already there, and its
     * position in the list does not matter either. */
    key_of(R_HEAD "versions: [\"1.0\", \"1.1\"]\n" R_SRC R_PLAT, "1.0", "cp311", "linux/amd64",
           "img:a", k1);
    assert_string_equal(k0, k1);
    key_of(R_HEAD "versions: [\"0.9\", \"1.0\", \"2.0rc1\"]\n" R_SRC R_PLAT, "1.0", "cp311",
           "linux/amd64", "img:a", k1);
    assert_string_equal(k0, k1);
}

/* Adding a platform or an interpreter to the recipe does not change what an existing
 * (version, python, platform) job builds, so its key should stay: otherwise every wheel already
 * published is rebuilt when a recipe gains arm64 or cp312 (the same reason the version list is
 * left out of the key). */
static void test_build_key_ignores_other_targets(void **state)
{
    (void)state;
    char k0[65], k1[65];
    key_of(R_HEAD "versions: [\"1.0\"]\nsource: {sdist: upstream}\npython: [cp311]\n"
                  "platforms: [linux/amd64]\n",
           "1.0", "cp311", "linux/amd64", "img:a", k0);
    key_of(R_HEAD "versions: [\"1.0\"]\nsource: {sdist: upstream}\npython: [cp311]\n"
                  "platforms: [linux/amd64, linux/arm64]\n",
           "1.0", "cp311", "linux/amd64", "img:a", k1);
    if (strcmp(k0, k1) != 0)
        fail_msg("adding linux/arm64 to the recipe changed the key of its cp311 amd64 build");
    key_of(R_HEAD "versions: [\"1.0\"]\nsource: {sdist: upstream}\npython: [cp311, cp312]\n"
                  "platforms: [linux/amd64]\n",
           "1.0", "cp311", "linux/amd64", "img:a", k1);
    if (strcmp(k0, k1) != 0)
        fail_msg("adding cp312 to the recipe changed the key of its cp311 amd64 build");
}

#define PIN_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define PIN_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define PIN_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define NATIVE_RECIPE                                                                              \
    R_HEAD "versions: [\"1.0\"]\n" R_SRC R_PLAT "native:\n"                                        \
           "  - {name: zstd, url: \"http://127.0.0.1:9/zstd.tgz\", sha256: " PIN_A                 \
           ", build: make}\n"
#define SUBST(forh, useh, why)                                                                     \
    "substitutes:\n  - {for: " forh ", use: " useh ", reason: \"" why "\"}\n"

/* A substitute declared for one of the recipe's pins is a build input: the key changes with it
 * (and with what it uses), but not with its reason, and a substitute for another pin does not
 * touch the key. Without substitutes the key is exactly the original formula, so wheels built
 * before substitutes existed keep their keys. */
static void test_build_key_substitutes(void **state)
{
    (void)state;
    char plain[65], k[65], k2[65], want[65];
    key_of(NATIVE_RECIPE, "1.0", "cp311", "linux/amd64", "img:a", plain);

    key_of_cfg(NATIVE_RECIPE, config_yaml, "1.0", "cp311", "linux/amd64", "img:a", k);
    assert_string_equal(plain, k);
    key_of_cfg(NATIVE_RECIPE, SUBST(PIN_C, PIN_B, "another pin"), "1.0", "cp311", "linux/amd64",
               "img:a", k);
    assert_string_equal(plain, k);

    key_of_cfg(NATIVE_RECIPE, SUBST(PIN_A, PIN_B, "Debian's repack"), "1.0", "cp311", "linux/amd64",
               "img:a", k);
    assert_string_not_equal(plain, k);
    key_of_cfg(NATIVE_RECIPE, SUBST(PIN_A, PIN_B, "reworded"), "1.0", "cp311", "linux/amd64",
               "img:a", k2);
    assert_string_equal(k, k2);
    key_of_cfg(NATIVE_RECIPE, SUBST(PIN_A, PIN_C, "Debian's repack"), "1.0", "cp311", "linux/amd64",
               "img:a", k2);
    assert_string_not_equal(k, k2);

    /* The original formula, recomputed here. */
    wf_recipe_list *list = recipes_ok(NATIVE_RECIPE);
    wf_config *c = config_ok(config_yaml);
    wf_plan_build_key(list->items[0], c, "1.0", "cp311", "linux/amd64", "img:a", k);
    char *canon = wf_recipe_canonical(list->items[0]);
    /* canonical_for_key() drops these three lists and the idle timeout; rebuild that text the
     * same way. */
    const char *drop[] = {",\"versions\":[\"1.0\"]", ",\"python\":[\"cp311\",\"cp312\"]",
                          ",\"platforms\":[\"linux/amd64\",\"linux/arm64\"]",
                          ",\"idle_timeout\":0"};
    for (size_t i = 0; i < WF_ARRAY_SIZE(drop); i++) {
        char *at = strstr(canon, drop[i]);
        assert_non_null(at);
        memmove(at, at + strlen(drop[i]), strlen(at + strlen(drop[i])) + 1);
    }
    char *text = wf_asprintf("wheelfarm-build-v%d\n%s\n1.0\ncp311\nlinux/amd64\nimg:a\n",
                             WF_BUILD_SCHEMA, canon);
    wf_sha256_hex(text, strlen(text), want);
    assert_string_equal(k, want);
    free(text);
    free(canon);
    wf_config_free(c);
    wf_recipe_list_free(list);
}

/* A recipe with every part that enters a key: environment, native dependencies (one with a
 * substitute in KEYS_CONFIG), tracking keys, an idle timeout, and several versions,
 * interpreters and platforms. */
#define KEYS_RECIPE                                                                                \
    "name: Keys.Same\n"                                                                            \
    "versions: [\"1.0\", \"1.1\", \"2.0rc1\", \"2.0\", \"v3.0.post1\"]\n"                          \
    "track: \">=1.0\"\n"                                                                           \
    "min_age: 2d\n"                                                                                \
    "prereleases: false\n"                                                                         \
    "source: {sdist: upstream}\n"                                                                  \
    "python: [cp311, cp312]\n"                                                                     \
    "platforms: [linux/amd64, linux/arm64]\n"                                                      \
    "environment: {CFLAGS: \"-O2 \\\"quoted\\\" \\\\ \\u00e9\\t\", B: x}\n"                        \
    "before_build: \"echo \\\"{version}\\\"\\n\"\n"                                                \
    "idle_timeout: 600\n"                                                                          \
    "native:\n"                                                                                    \
    "  - {name: zstd, url: \"http://127.0.0.1:9/zstd.tgz\", sha256: " PIN_A ", build: make}\n"
#define KEYS_CONFIG                                                                                \
    "images:\n"                                                                                    \
    "  linux/amd64: {image: \"builder:amd64\", python: [cp311, cp312]}\n"                          \
    "  linux/arm64: {image: \"builder:arm64\", python: [cp311, cp312]}\n"                          \
    "workers: []\n" SUBST(PIN_A, PIN_C, "repack")

/* The build key as the planner computed it before it cached per-recipe parts: the canonical
 * form printed, parsed, stripped of the job-selecting keys and printed again, for every job. */
static void reference_key(const wf_recipe *r, const wf_config *cfg, const wf_plan_job *j,
                          char out[65])
{
    char *canon = wf_recipe_canonical(r);
    cJSON *o = cJSON_Parse(canon);
    assert_non_null(o);
    const char *drop[] = {"versions", "python",      "platforms",   "track",
                          "min_age",  "prereleases", "idle_timeout"};
    for (size_t i = 0; i < WF_ARRAY_SIZE(drop); i++)
        cJSON_DeleteItemFromObjectCaseSensitive(o, drop[i]);
    char *printed = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char *subs = wf_substitutes_key_text(cfg, r);
    char *text = wf_asprintf("wheelfarm-build-v%d\n%s\n%s\n%s\n%s\n%s\n%s", WF_BUILD_SCHEMA,
                             printed, j->version, j->python, j->platform, j->image, subs);
    wf_sha256_hex(text, strlen(text), out);
    free(text);
    free(subs);
    cJSON_free(printed);
    free(canon);
}

/* The keys of a whole plan are byte-identical to the formula used before planning computed a
 * recipe's canonical form once per plan: recomputed here the old way, and pinned to the digests
 * that formula gave (a change in either is a change of every published wheel's key). */
static void test_build_key_unchanged(void **state)
{
    (void)state;
    wf_recipe_list *list = recipes_ok(KEYS_RECIPE);
    wf_config *cfg = config_ok(KEYS_CONFIG);
    const char *specs[] = {"keys-same", "keys-same==3.0.post1", "Keys_Same==1.1"};
    const wf_plan_request req = {specs, WF_ARRAY_SIZE(specs), NULL, 0, NULL, 0};
    wf_plan p = {NULL, 0};
    char *err = NULL;
    assert_int_equal(wf_plan_build(&p, list, cfg, &req, &err), 0);
    assert_int_equal(p.n, (5 + 1 + 1) * 2 * 2);
    /* The parts that make this recipe a hard case are really there. */
    char *canon = wf_recipe_canonical(list->items[0]);
    char *subs = wf_substitutes_key_text(cfg, list->items[0]);
    assert_non_null(strstr(canon, "\\\"quoted\\\" \\\\ \u00e9\\t"));
    assert_non_null(strstr(canon, "\"track\":\">=1.0\""));
    assert_non_null(strstr(subs, "substitute zstd " PIN_A " " PIN_C));
    free(subs);
    free(canon);
    wf_buf all = WF_BUF_INIT;
    for (size_t i = 0; i < p.n; i++) {
        char want[65], single[65];
        reference_key(list->items[0], cfg, &p.jobs[i], want);
        assert_string_equal(p.jobs[i].build_key, want);
        wf_plan_build_key(p.jobs[i].recipe, cfg, p.jobs[i].version, p.jobs[i].python,
                          p.jobs[i].platform, p.jobs[i].image, single);
        assert_string_equal(single, want);
        wf_buf_addf(&all, "%s\n", p.jobs[i].build_key);
    }
    char digest[65];
    wf_sha256_hex(all.ptr, all.len, digest);
    assert_string_equal(p.jobs[0].build_key,
                        "7db507ab0b773b61e7301823f84ab1f8d0eee4ebf8c7614baf4a2dbdc752f6f7");
    assert_string_equal(digest, "e219acd704c3fc7e3bacf5223d31478aa6f4d7821b4abd6c093e9f388d3115b2");
    wf_buf_release(&all);
    wf_plan_release(&p);
    wf_config_free(cfg);
    wf_recipe_list_free(list);
}

int main(void)
{
    if (wf_hash_init() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_expansion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_match, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_match_zero_padding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tracking, setup, teardown),
        cmocka_unit_test_setup_teardown(test_image_lacks_python, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filters, setup, teardown),
        cmocka_unit_test(test_build_key),
        cmocka_unit_test(test_build_key_ignores_other_targets),
        cmocka_unit_test(test_build_key_substitutes),
        cmocka_unit_test(test_build_key_unchanged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
