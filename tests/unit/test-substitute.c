/* test-substitute.c - unit tests for daemon/substitute.c: which recipe pins a config's
 * substitutes cover, their build-key text, and how a pin resolves against a real source cache. */
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

#include "daemon/substitute.h"
#include "lib/fsutil.h"
#include "lib/hash.h"

#define H16(c) c c c c c c c c c c c c c c c c
#define H64(c) H16(c) H16(c) H16(c) H16(c)
#define HA H64("a")
#define HB H64("b")
#define HC H64("c")
#define HE H64("e")
#define HF H64("f")
#define H8 H64("8")
#define H9 H64("9")

typedef struct fixture {
    uv_loop_t loop;
    wf_fetcher *fetcher;
    char dir[64];
    char pinned[65];   /* in the cache */
    char repack[65];   /* in the cache: the substitute of an uncached pin */
    char uncached[65]; /* the sha256 of a file that is not in the cache */
} fixture;

/* Stores `content` in the fixture's cache; its sha256 into hex. */
static void cache_add(fixture *f, const char *name, const char *content, char hex[65])
{
    char *path = wf_asprintf("%s/%s", f->dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(content, fp);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(wf_fetcher_add_file(f->fetcher, path, hex), 0);
    free(path);
}

static int setup(void **state)
{
    fixture *f = wf_calloc(1, sizeof(*f));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    snprintf(f->dir, sizeof(f->dir), "/tmp/wf-test-substitute.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char *cache = wf_asprintf("%s/cache", f->dir);
    assert_int_equal(wf_fetcher_new(&f->fetcher, &f->loop, cache), 0);
    free(cache);
    cache_add(f, "zstd-1.5.7.tar.gz", "upstream release", f->pinned);
    cache_add(f, "libzstd_1.5.7+dfsg.orig.tar.xz", "debian repack", f->repack);
    wf_sha256_hex("never stored", strlen("never stored"), f->uncached);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    wf_fetcher_close(f->fetcher, NULL, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    assert_int_equal(wf_fs_remove_tree(f->dir), 0);
    free(f);
    return 0;
}

static wf_config *config_of(const char *yaml)
{
    wf_config *c = NULL;
    wf_diag_list d = {0};
    int rc = wf_config_parse(&c, "/etc/wf/wf.yaml", yaml, strlen(yaml), &d);
    for (size_t i = 0; i < d.n; i++) {
        char *s = wf_diag_format(&d.items[i]);
        fprintf(stderr, "%s\n", s);
        free(s);
    }
    wf_diag_list_release(&d);
    assert_int_equal(rc, 0);
    return c;
}

/* The cached object's path for a sha256. */
static char *object(fixture *f, const char *hex)
{
    return wf_asprintf("%s/cache/sha256/%s", f->dir, hex);
}

static void test_resolve(void **state)
{
    fixture *f = *state;
    char *yaml = wf_asprintf("workers: []\n"
                             "substitutes:\n"
                             "  - {for: %s, use: %s, reason: cached pin}\n"
                             "  - {for: %s, use: %s, reason: \"Debian's repack\"}\n"
                             "  - {for: " HA ", use: %s, reason: nothing cached}\n",
                             f->pinned, f->uncached, f->uncached, f->repack, HB);
    wf_config *c = config_of(yaml);
    free(yaml);
    const wf_substitute_config *sub = (const void *)1;
    char *path = (char *)1, *want;

    /* The pinned file is cached: it is used, even though a substitute is declared. */
    assert_int_equal(wf_substitute_resolve(f->fetcher, c, f->pinned, &path, &sub), WF_PIN_CACHED);
    want = object(f, f->pinned);
    assert_string_equal(path, want);
    free(want);
    free(path);
    assert_non_null(sub);
    assert_string_equal(sub->reason, "cached pin");

    /* Not cached, its substitute is: the substitute. */
    assert_int_equal(wf_substitute_resolve(f->fetcher, c, f->uncached, &path, &sub),
                     WF_PIN_SUBSTITUTED);
    want = object(f, f->repack);
    assert_string_equal(path, want);
    free(want);
    free(path);
    assert_string_equal(sub->use, f->repack);
    assert_string_equal(sub->where, "/etc/wf/wf.yaml:4");

    /* Neither is cached: download the pin; the declared substitute is still named. */
    assert_int_equal(wf_substitute_resolve(f->fetcher, c, HA, &path, &sub), WF_PIN_DOWNLOAD);
    assert_null(path);
    assert_string_equal(sub->reason, "nothing cached");

    /* No substitute declared. */
    assert_int_equal(wf_substitute_resolve(f->fetcher, c, HC, &path, &sub), WF_PIN_DOWNLOAD);
    assert_null(path);
    assert_null(sub);
    assert_int_equal(wf_substitute_resolve(f->fetcher, c, f->repack, &path, &sub), WF_PIN_CACHED);
    assert_null(sub);
    free(path);
    wf_config_free(c);
}

static void test_for_recipe_and_key_text(void **state)
{
    (void)state;
    const char *recipes =
        "- name: kafka\n"
        "  versions: [\"1.0\"]\n"
        "  source: {url: \"http://127.0.0.1:9/k-{version}.tgz\", sha256: " HE "}\n"
        "  native:\n"
        "    - {name: zstd, url: \"http://127.0.0.1:9/z.tgz\", sha256: " HA ", build: make}\n"
        "    - {name: rdk, url: \"http://127.0.0.1:9/r.tgz\", sha256: " HC ", build: make}\n";
    wf_recipe_list *list = NULL;
    wf_diag_list d = {0};
    assert_int_equal(wf_recipe_parse(&list, "/r.yaml", recipes, strlen(recipes), &d), 0);
    const wf_recipe *r = list->items[0];

    wf_config *none = config_of("workers: []\n");
    wf_recipe_substitute *v = (void *)1;
    assert_int_equal(wf_substitutes_for_recipe(none, r, &v), 0);
    assert_null(v);
    char *text = wf_substitutes_key_text(none, r);
    assert_string_equal(text, "");
    free(text);
    wf_config_free(none);

    wf_config *c = config_of("workers: []\n"
                             "substitutes:\n"
                             "  - {for: " HE ", use: " HF ", reason: sdist}\n"
                             "  - {for: " H9 ", use: " H8 ", reason: other}\n"
                             "  - {for: " HA ", use: " HB ", reason: zstd}\n");
    assert_int_equal(wf_substitutes_for_recipe(c, r, &v), 2);
    assert_string_equal(v[0].source, "zstd");
    assert_string_equal(v[0].sub->reason, "zstd");
    assert_string_equal(v[1].source, "source");
    assert_string_equal(v[1].sub->use, HF);
    free(v);
    text = wf_substitutes_key_text(c, r);
    assert_string_equal(text, "substitute zstd " HA " " HB "\n"
                              "substitute source " HE " " HF "\n");
    free(text);
    wf_config_free(c);
    wf_recipe_list_free(list);
}

int main(void)
{
    if (wf_hash_init() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
        cmocka_unit_test(test_for_recipe_and_key_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
