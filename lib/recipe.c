/* recipe.c - recipe lists: YAML files and directories into validated wf_recipe structs. */
#include "recipe.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "duration.h"
#include "log.h"
#include "pep440.h"
#include "pep503.h"
#include "specifier.h"
#include "yamldoc.h"

static const char *const recipe_keys[] = {
    "name",        "versions",     "source",      "python",       "platforms", "native",
    "environment", "before_build", "repair",      "test_command", "timeout",   "idle_timeout",
    "track",       "min_age",      "prereleases", NULL,
};
static const char *const source_keys[] = {"url", "sha256", "sdist", "path", NULL};
static const char *const native_keys[] = {"name", "url", "sha256", "build", NULL};
static const char *const platforms[] = {"linux/amd64", "linux/arm64", NULL};

#define TIMEOUT_MIN 60
#define TIMEOUT_MAX 86400
#define TIMEOUT_DEFAULT 3600

void wf_diag_list_release(wf_diag_list *d)
{
    for (size_t i = 0; d->items != NULL && i < d->n; i++) {
        free(d->items[i].file);
        free(d->items[i].message);
    }
    free(d->items);
    d->items = NULL;
    d->n = 0;
}

char *wf_diag_format(const wf_diag *d)
{
    if (d->line <= 0)
        return wf_asprintf("%s: %s", d->file, d->message);
    if (d->column <= 0)
        return wf_asprintf("%s:%d: %s", d->file, d->line, d->message);
    return wf_asprintf("%s:%d:%d: %s", d->file, d->line, d->column, d->message);
}

int wf_recipe_platform_valid(const char *platform)
{
    for (size_t i = 0; platforms[i] != NULL; i++) {
        if (strcmp(platform, platforms[i]) == 0)
            return 1;
    }
    return 0;
}

int wf_recipe_python_valid(const char *tag)
{
    size_t len = strlen(tag);

    if (len < 4 || len > 5 || (strncmp(tag, "cp3", 3) != 0 && strncmp(tag, "pp3", 3) != 0))
        return 0;
    for (size_t i = 3; i < len; i++) {
        if (tag[i] < '0' || tag[i] > '9')
            return 0;
    }
    return 1;
}

int wf_recipe_sha256_valid(const char *hex)
{
    size_t i;
    for (i = 0; hex[i] != '\0'; i++) {
        if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
            return 0;
    }
    return i == 64;
}

void wf_recipe_free(wf_recipe *r)
{
    if (r == NULL)
        return;
    free(r->name);
    free(r->normalized);
    wf_yamldoc_strings_free(r->versions, r->n_versions);
    free(r->source.url);
    free(r->source.sha256);
    free(r->source.path);
    wf_yamldoc_strings_free(r->python, r->n_python);
    wf_yamldoc_strings_free(r->platforms, r->n_platforms);
    for (size_t i = 0; i < r->n_native; i++) {
        free(r->native[i].name);
        free(r->native[i].url);
        free(r->native[i].sha256);
        free(r->native[i].build);
    }
    free(r->native);
    for (size_t i = 0; i < r->n_environment; i++) {
        free(r->environment[i].key);
        free(r->environment[i].value);
    }
    free(r->environment);
    free(r->before_build);
    free(r->repair);
    free(r->test_command);
    free(r->track);
    free(r->file);
    free(r);
}

void wf_recipe_list_free(wf_recipe_list *list)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < list->n; i++)
        wf_recipe_free(list->items[i]);
    free(list->items);
    free(list);
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? wf_strdup(s) : NULL;
}

static char **dup_strings(char *const *v, size_t n)
{
    char **out = wf_calloc(n ? n : 1, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = dup_or_null(v[i]);
    return out;
}

wf_recipe *wf_recipe_copy(const wf_recipe *r)
{
    wf_recipe *c = wf_calloc(1, sizeof(*c));

    c->name = dup_or_null(r->name);
    c->normalized = dup_or_null(r->normalized);
    c->versions = dup_strings(r->versions, r->n_versions);
    c->n_versions = r->n_versions;
    c->source.kind = r->source.kind;
    c->source.url = dup_or_null(r->source.url);
    c->source.sha256 = dup_or_null(r->source.sha256);
    c->source.path = dup_or_null(r->source.path);
    c->python = dup_strings(r->python, r->n_python);
    c->n_python = r->n_python;
    c->platforms = dup_strings(r->platforms, r->n_platforms);
    c->n_platforms = r->n_platforms;
    c->native = wf_calloc(r->n_native ? r->n_native : 1, sizeof(*c->native));
    c->n_native = r->n_native;
    for (size_t i = 0; i < r->n_native; i++) {
        c->native[i].name = dup_or_null(r->native[i].name);
        c->native[i].url = dup_or_null(r->native[i].url);
        c->native[i].sha256 = dup_or_null(r->native[i].sha256);
        c->native[i].build = dup_or_null(r->native[i].build);
    }
    c->environment = wf_calloc(r->n_environment ? r->n_environment : 1, sizeof(*c->environment));
    c->n_environment = r->n_environment;
    for (size_t i = 0; i < r->n_environment; i++) {
        c->environment[i].key = dup_or_null(r->environment[i].key);
        c->environment[i].value = dup_or_null(r->environment[i].value);
    }
    c->before_build = dup_or_null(r->before_build);
    c->repair = dup_or_null(r->repair);
    c->test_command = dup_or_null(r->test_command);
    c->timeout_s = r->timeout_s;
    c->idle_timeout_s = r->idle_timeout_s;
    c->track = dup_or_null(r->track);
    c->min_age_s = r->min_age_s;
    c->prereleases = r->prereleases;
    c->file = dup_or_null(r->file);
    c->line = r->line;
    return c;
}

static wf_recipe *recipe_new(const char *file, const wf_yamldoc_node *map)
{
    wf_recipe *r = wf_calloc(1, sizeof(*r));

    r->python = wf_calloc(1, sizeof(char *));
    r->python[0] = wf_strdup("cp311");
    r->n_python = 1;
    r->platforms = wf_calloc(1, sizeof(char *));
    r->platforms[0] = wf_strdup("linux/amd64");
    r->n_platforms = 1;
    r->before_build = wf_strdup("");
    r->repair = wf_strdup(WF_RECIPE_DEFAULT_REPAIR);
    r->test_command = wf_strdup("");
    r->timeout_s = TIMEOUT_DEFAULT;
    r->prereleases = -1;
    r->file = wf_strdup(file);
    r->line = map->line;
    return r;
}

/* Replaces *dst with a freshly read string when the read succeeds. */
static void read_string_into(wf_yamldoc_ctx *ctx, char **dst, const wf_yamldoc_node *n,
                             const char *what)
{
    char *s;
    if (wf_yamldoc_read_string(ctx, &s, n, what) != 0)
        return;
    free(*dst);
    *dst = s;
}

static int is_url(const char *s)
{
    return strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0 ||
           strncmp(s, "file://", 7) == 0;
}

static void check_url(wf_yamldoc_ctx *ctx, const wf_yamldoc_node *n, const char *what)
{
    if (!is_url(n->value))
        wf_yamldoc_error(ctx, n, "'%s': '%s' is not a URL (use https://, http:// or file://)", what,
                         n->value);
}

static void check_sha256(wf_yamldoc_ctx *ctx, const wf_yamldoc_node *n)
{
    if (!wf_recipe_sha256_valid(n->value))
        wf_yamldoc_error(ctx, n,
                         "invalid sha256 '%s': must be 64 lowercase hex characters (sha256sum "
                         "prints it)",
                         n->value);
}

static void read_name(wf_yamldoc_ctx *ctx, wf_recipe *r, const wf_yamldoc_node *n)
{
    if (wf_yamldoc_read_string(ctx, &r->name, n, "name") != 0)
        return;
    if (!wf_pep503_valid(r->name, strlen(r->name))) {
        wf_yamldoc_error(ctx, n,
                         "invalid project name '%s' (use letters, digits, '.', '-' and '_', "
                         "starting and ending with a letter or digit)",
                         r->name);
        return;
    }
    r->normalized = wf_pep503_normalize(r->name, strlen(r->name));
}

/* One listed version, parsed once, with its position in the list. */
typedef struct version_slot {
    wf_pep440 parsed;
    size_t index;
} version_slot;

/* Orders by PEP 440 version, then by position, so equal versions sit together, first written
 * first. */
static int slot_order(const void *a, const void *b)
{
    const version_slot *x = *(const version_slot *const *)a;
    const version_slot *y = *(const version_slot *const *)b;
    int c = wf_pep440_cmp(&x->parsed, &y->parsed);
    if (c != 0)
        return c;
    return (x->index > y->index) - (x->index < y->index);
}

/* Reports the first version (in list order) that equals an earlier one under PEP 440, at its own
 * position, naming the first spelling of it. Sorting makes this O(V log V): recipes may list
 * thousands of versions, and comparing every pair made loading them quadratic. */
static void check_duplicate_versions(wf_yamldoc_ctx *ctx, const wf_recipe *r,
                                     const wf_yamldoc_node *n, version_slot *slots)
{
    if (r->n_versions < 2)
        return;
    const version_slot **order = wf_calloc(r->n_versions, sizeof(*order));
    for (size_t i = 0; i < r->n_versions; i++)
        order[i] = &slots[i];
    qsort(order, r->n_versions, sizeof(*order), slot_order);
    /* Within a run of equal versions the second is the earliest repeat; report the run whose
     * repeat comes first in the file, as the file is read. */
    const version_slot *first = NULL, *repeat = NULL;
    for (size_t k = 1; k < r->n_versions; k++) {
        if (wf_pep440_cmp(&order[k - 1]->parsed, &order[k]->parsed) != 0)
            continue;
        if (k >= 2 && wf_pep440_cmp(&order[k - 2]->parsed, &order[k]->parsed) == 0)
            continue; /* a third or later copy: its run's second one was looked at */
        if (repeat == NULL || order[k]->index < repeat->index) {
            first = order[k - 1];
            repeat = order[k];
        }
    }
    if (repeat != NULL)
        wf_yamldoc_error(ctx, n->items[repeat->index], "duplicate version '%s' (same as '%s')",
                         r->versions[repeat->index], r->versions[first->index]);
    free(order);
}

static void read_versions(wf_yamldoc_ctx *ctx, wf_recipe *r, const wf_yamldoc_node *n, int tracking)
{
    size_t before = ctx->errors;

    if (wf_yamldoc_read_strings(ctx, &r->versions, &r->n_versions, n, "versions") != 0)
        return;
    if (r->n_versions == 0 && !tracking)
        wf_yamldoc_error(ctx, n, "'versions' must list at least one version");
    version_slot *slots = wf_calloc(r->n_versions ? r->n_versions : 1, sizeof(*slots));
    for (size_t i = 0; i < r->n_versions; i++) {
        slots[i].index = i;
        if (wf_pep440_parse(&slots[i].parsed, r->versions[i], strlen(r->versions[i])) != 0) {
            wf_yamldoc_error(ctx, n->items[i],
                             "invalid version '%s' (not a PEP 440 version such as 1.2.0)",
                             r->versions[i]);
        }
    }
    if (ctx->errors == before)
        check_duplicate_versions(ctx, r, n, slots);
    for (size_t i = 0; i < r->n_versions; i++)
        wf_pep440_release(&slots[i].parsed);
    free(slots);
}

/* Reads python: or platforms: over the defaults already in *dst. */
static void read_tags(wf_yamldoc_ctx *ctx, char ***dst, size_t *n_dst, const wf_yamldoc_node *n,
                      const char *what, int (*valid)(const char *), const char *allowed)
{
    char **v;
    size_t count;
    const char *item = strcmp(what, "python") == 0 ? "python tag" : "platform";

    if (wf_yamldoc_read_set(ctx, &v, &count, n, what, item, valid, allowed) != 0)
        return;
    wf_yamldoc_strings_free(*dst, *n_dst);
    *dst = v;
    *n_dst = count;
}

/* The source must name exactly one of url/sdist/path; the first extra one is reported. */
static const wf_yamldoc_node *source_kind(wf_yamldoc_ctx *ctx, const wf_yamldoc_node *map,
                                          wf_source_kind *kind)
{
    static const char *const kinds[] = {"sdist", "url", "path"};
    const wf_yamldoc_node *found = NULL;
    const char *found_name = NULL;

    for (size_t i = 0; i < map->n; i++) {
        const wf_yamldoc_node *k = map->pairs[i].key;
        for (size_t j = 0; k->kind == WF_YAMLDOC_SCALAR && j < WF_ARRAY_SIZE(kinds); j++) {
            if (strcmp(k->value, kinds[j]) != 0)
                continue;
            if (found != NULL && strcmp(found_name, kinds[j]) != 0) {
                wf_yamldoc_error(ctx, k, "source has both '%s' and '%s'; give only one", found_name,
                                 kinds[j]);
                return NULL;
            }
            found = map->pairs[i].value;
            found_name = kinds[j];
            *kind = (wf_source_kind)(j + 1);
        }
    }
    if (found == NULL)
        wf_yamldoc_error(ctx, map,
                         "source needs one of 'url' (with 'sha256'), 'sdist: upstream' or "
                         "'path'");
    return found;
}

static void read_source(wf_yamldoc_ctx *ctx, wf_recipe *r, const wf_yamldoc_node *n)
{
    const wf_yamldoc_node *v, *sha = wf_yamldoc_get(n, "sha256");
    wf_source_kind kind = WF_SOURCE_SDIST;
    char *s = NULL;

    if (n->kind != WF_YAMLDOC_MAPPING) {
        wf_yamldoc_error(ctx, n, "'source': expected a mapping, got %s", wf_yamldoc_describe(n));
        return;
    }
    wf_yamldoc_check_keys(ctx, n, source_keys);
    v = source_kind(ctx, n, &kind);
    if (v == NULL || wf_yamldoc_read_string(ctx, &s, v, "source") != 0)
        return;
    if (kind != WF_SOURCE_URL && sha != NULL)
        wf_yamldoc_error(ctx, sha, "'sha256' only applies to url sources");
    r->source.kind = kind;
    if (kind == WF_SOURCE_SDIST) {
        if (strcmp(s, "upstream") != 0)
            wf_yamldoc_error(ctx, v, "'sdist': expected 'upstream', got '%s'", s);
    } else if (kind == WF_SOURCE_PATH) {
        if (s[0] == '\0')
            wf_yamldoc_error(ctx, v, "'path' must not be empty");
        r->source.path = wf_yamldoc_path(ctx->file, s);
    } else {
        check_url(ctx, v, "url");
        r->source.url = s;
        s = NULL;
        if (sha == NULL)
            wf_yamldoc_error(ctx, n, "url source needs 'sha256' (64 lowercase hex characters)");
        else if (wf_yamldoc_read_string(ctx, &r->source.sha256, sha, "sha256") == 0)
            check_sha256(ctx, sha);
    }
    free(s);
}

static int native_name_valid(const char *s)
{
    if (s[0] == '\0')
        return 0;
    for (; *s != '\0'; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return 0;
    }
    return 1;
}

static void read_native_dep(wf_yamldoc_ctx *ctx, wf_native_dep *d, const wf_yamldoc_node *m)
{
    const wf_yamldoc_node *v;

    if (m->kind != WF_YAMLDOC_MAPPING) {
        wf_yamldoc_error(ctx, m, "'native': expected a list of mappings, but this item is %s",
                         wf_yamldoc_describe(m));
        return;
    }
    wf_yamldoc_check_keys(ctx, m, native_keys);
    if ((v = wf_yamldoc_require(ctx, m, "name")) != NULL &&
        wf_yamldoc_read_string(ctx, &d->name, v, "name") == 0 && !native_name_valid(d->name))
        wf_yamldoc_error(ctx, v, "invalid native dependency name '%s' (use [A-Za-z0-9._-])",
                         d->name);
    if ((v = wf_yamldoc_require(ctx, m, "url")) != NULL &&
        wf_yamldoc_read_string(ctx, &d->url, v, "url") == 0)
        check_url(ctx, v, "url");
    if ((v = wf_yamldoc_require(ctx, m, "sha256")) != NULL &&
        wf_yamldoc_read_string(ctx, &d->sha256, v, "sha256") == 0)
        check_sha256(ctx, v);
    if ((v = wf_yamldoc_require(ctx, m, "build")) != NULL &&
        wf_yamldoc_read_string(ctx, &d->build, v, "build") == 0 && d->build[0] == '\0')
        wf_yamldoc_error(ctx, v, "'build' must not be empty (the commands that install it)");
}

static void read_native(wf_yamldoc_ctx *ctx, wf_recipe *r, const wf_yamldoc_node *n)
{
    if (n->kind != WF_YAMLDOC_SEQUENCE) {
        wf_yamldoc_error(ctx, n, "'native': expected a list of mappings, got %s",
                         wf_yamldoc_describe(n));
        return;
    }
    r->native = wf_calloc(n->n, sizeof(*r->native));
    r->n_native = n->n;
    for (size_t i = 0; i < n->n; i++) {
        read_native_dep(ctx, &r->native[i], n->items[i]);
        for (size_t j = 0; r->native[i].name != NULL && j < i; j++) {
            if (r->native[j].name != NULL && strcmp(r->native[i].name, r->native[j].name) == 0) {
                wf_yamldoc_error(ctx, n->items[i],
                                 "duplicate native dependency '%s' (first at line %d)",
                                 r->native[i].name, n->items[j]->line);
                break;
            }
        }
    }
}

static int env_key_valid(const char *s)
{
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return 0;
    for (s++; *s != '\0'; s++) {
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    }
    return 1;
}

static void read_env_pair(wf_yamldoc_ctx *ctx, wf_recipe *r, const wf_yamldoc_node *map, size_t i)
{
    const wf_yamldoc_node *k = map->pairs[i].key, *v = map->pairs[i].value;
    wf_env_var *e = &r->environment[i];

    if (wf_yamldoc_read_string(ctx, &e->key, k, "environment") != 0)
        return;
    if (!env_key_valid(e->key)) {
        wf_yamldoc_error(
            ctx, k, "invalid environment variable name '%s' (use [A-Za-z_][A-Za-z0-9_]*)", e->key);
        return;
    }
    for (size_t j = 0; j < i; j++) {
        if (r->environment[j].key != NULL && strcmp(r->environment[j].key, e->key) == 0) {
            wf_yamldoc_error(ctx, k, "duplicate key '%s' (first given at line %d)", e->key,
                             map->pairs[j].key->line);
            return;
        }
    }
    wf_yamldoc_read_string(ctx, &e->value, v, e->key);
}

static void read_environment(wf_yamldoc_ctx *ctx, wf_recipe *r, const wf_yamldoc_node *n)
{
    if (wf_yamldoc_is_null(n))
        return;
    if (n->kind != WF_YAMLDOC_MAPPING) {
        wf_yamldoc_error(ctx, n, "'environment': expected a mapping of strings, got %s",
                         wf_yamldoc_describe(n));
        return;
    }
    r->environment = wf_calloc(n->n, sizeof(*r->environment));
    r->n_environment = n->n;
    for (size_t i = 0; i < n->n; i++)
        read_env_pair(ctx, r, n, i);
}

static void read_repair(wf_yamldoc_ctx *ctx, wf_recipe *r, const wf_yamldoc_node *n)
{
    char *s;

    if (wf_yamldoc_read_string(ctx, &s, n, "repair") != 0)
        return;
    /* "" means: keep the wheel as built. Otherwise the command must say where it reads and
     * writes, or the collector would never find the repaired wheel. */
    if (s[0] != '\0' && (strstr(s, "{wheel}") == NULL || strstr(s, "{dest_dir}") == NULL))
        wf_yamldoc_error(ctx, n,
                         "'repair' must contain {wheel} and {dest_dir} (e.g. \"%s\"), or be \"\" "
                         "to skip repair",
                         WF_RECIPE_DEFAULT_REPAIR);
    free(r->repair);
    r->repair = s;
}

/* ---- tracking: track, min_age, prereleases ---- */

/* The column in the file of byte `offset` (0-based) of a single-line scalar: a quoted scalar's
 * text starts one column after its quote. */
static wf_yamldoc_node scalar_at(const wf_yamldoc_node *n, size_t offset)
{
    wf_yamldoc_node at = *n;
    at.column = n->column + (n->plain ? 0 : 1) + (int)offset;
    return at;
}

static void read_track(wf_yamldoc_ctx *ctx, wf_recipe *r, const wf_yamldoc_node *n)
{
    wf_specifier *spec = NULL;
    wf_specifier_error err;
    char *s;

    if (wf_yamldoc_read_string(ctx, &s, n, "track") != 0)
        return;
    if (wf_specifier_parse(&spec, s, strlen(s), &err) != 0) {
        /* err.msg starts with "column N:"; the position goes into the diag's own prefix. */
        const char *msg = strchr(err.msg, ':');
        wf_yamldoc_node at = scalar_at(n, err.column > 0 ? err.column - 1 : 0);
        wf_yamldoc_error(ctx, &at, "'track': invalid PEP 440 specifier '%s':%s", s,
                         msg != NULL ? msg + 1 : err.msg);
        free(s);
        return;
    }
    wf_specifier_free(spec);
    r->track = s;
}

static void read_min_age(wf_yamldoc_ctx *ctx, wf_recipe *r, const wf_yamldoc_node *n)
{
    int64_t secs = 0;
    char *s;

    if (wf_yamldoc_read_string(ctx, &s, n, "min_age") != 0)
        return;
    int rc = wf_duration_parse(s, strlen(s), &secs);
    if (rc == WF_ELIMIT)
        wf_yamldoc_error(ctx, n, "'min_age': '%s' is longer than the limit of 3650d", s);
    else if (rc != 0)
        wf_yamldoc_error(ctx, n,
                         "'min_age': invalid duration '%s' (write a number with a unit, such as "
                         "2d, 12h, 30m or 1d12h, or a number of seconds)",
                         s);
    else
        r->min_age_s = secs;
    free(s);
}

/* track: needs the upstream index as source; min_age and prereleases need track. */
static void read_tracking(wf_yamldoc_ctx *ctx, wf_recipe *r, const wf_yamldoc_node *m)
{
    const wf_yamldoc_node *track = wf_yamldoc_get(m, "track");
    const wf_yamldoc_node *min_age = wf_yamldoc_get(m, "min_age");
    const wf_yamldoc_node *pre = wf_yamldoc_get(m, "prereleases");

    if (track != NULL) {
        read_track(ctx, r, track);
        if (r->source.kind != 0 && r->source.kind != WF_SOURCE_SDIST)
            wf_yamldoc_error(ctx, track,
                             "'track' needs source {sdist: upstream}: new versions are found as "
                             "sdists on the upstream index (a url source pins one file by "
                             "sha256, a path source has one version)");
    }
    if (min_age != NULL) {
        if (track == NULL)
            wf_yamldoc_error(ctx, min_age, "'min_age' only applies to a recipe with 'track'");
        else
            read_min_age(ctx, r, min_age);
    }
    if (pre != NULL) {
        if (track == NULL)
            wf_yamldoc_error(ctx, pre, "'prereleases' only applies to a recipe with 'track'");
        else
            wf_yamldoc_read_bool(ctx, &r->prereleases, pre, "prereleases");
    }
}

/* Looks for an earlier recipe with the same normalized name, in this file or an earlier one. */
static void check_duplicate(wf_yamldoc_ctx *ctx, const wf_recipe_list *list, const wf_recipe *r,
                            const wf_yamldoc_node *name_node)
{
    for (size_t i = 0; r->normalized != NULL && i < list->n; i++) {
        const wf_recipe *o = list->items[i];
        if (o->normalized == NULL || strcmp(o->normalized, r->normalized) != 0)
            continue;
        if (strcmp(o->file, r->file) == 0)
            wf_yamldoc_error(ctx, name_node, "duplicate recipe '%s' (first defined at line %d)",
                             r->name, o->line);
        else
            wf_yamldoc_error(ctx, name_node, "duplicate recipe '%s' (first defined at %s:%d)",
                             r->name, o->file, o->line);
        return;
    }
}

static void parse_recipe(wf_yamldoc_ctx *ctx, wf_recipe_list *list, const wf_yamldoc_node *m)
{
    const wf_yamldoc_node *v;
    wf_recipe *r;

    if (m->kind != WF_YAMLDOC_MAPPING) {
        wf_yamldoc_error(ctx, m, "expected a recipe mapping (name:, versions:, source:...), got %s",
                         wf_yamldoc_describe(m));
        return;
    }
    r = recipe_new(ctx->file, m);
    wf_yamldoc_check_keys(ctx, m, recipe_keys);
    if ((v = wf_yamldoc_require(ctx, m, "name")) != NULL) {
        read_name(ctx, r, v);
        check_duplicate(ctx, list, r, v);
    }
    /* A tracking recipe may leave out versions: the bumps find them upstream. */
    const wf_yamldoc_node *track = wf_yamldoc_get(m, "track");
    if (track != NULL)
        v = wf_yamldoc_get(m, "versions");
    else
        v = wf_yamldoc_require(ctx, m, "versions");
    if (v != NULL)
        read_versions(ctx, r, v, track != NULL);
    if ((v = wf_yamldoc_require(ctx, m, "source")) != NULL)
        read_source(ctx, r, v);
    read_tracking(ctx, r, m);
    if ((v = wf_yamldoc_get(m, "python")) != NULL)
        read_tags(ctx, &r->python, &r->n_python, v, "python", wf_recipe_python_valid,
                  WF_RECIPE_PYTHON_HINT);
    if ((v = wf_yamldoc_get(m, "platforms")) != NULL)
        read_tags(ctx, &r->platforms, &r->n_platforms, v, "platforms", wf_recipe_platform_valid,
                  WF_RECIPE_PLATFORM_LIST);
    if ((v = wf_yamldoc_get(m, "native")) != NULL && !wf_yamldoc_is_null(v))
        read_native(ctx, r, v);
    if ((v = wf_yamldoc_get(m, "environment")) != NULL)
        read_environment(ctx, r, v);
    if ((v = wf_yamldoc_get(m, "before_build")) != NULL)
        read_string_into(ctx, &r->before_build, v, "before_build");
    if ((v = wf_yamldoc_get(m, "repair")) != NULL)
        read_repair(ctx, r, v);
    if ((v = wf_yamldoc_get(m, "test_command")) != NULL)
        read_string_into(ctx, &r->test_command, v, "test_command");
    if ((v = wf_yamldoc_get(m, "timeout")) != NULL)
        wf_yamldoc_read_uint(ctx, &r->timeout_s, v, TIMEOUT_MIN, TIMEOUT_MAX, "timeout");
    if ((v = wf_yamldoc_get(m, "idle_timeout")) != NULL)
        wf_yamldoc_read_uint(ctx, &r->idle_timeout_s, v, WF_RECIPE_IDLE_TIMEOUT_MIN,
                             WF_RECIPE_IDLE_TIMEOUT_MAX, "idle_timeout");
    /* Kept even when invalid, so later duplicates are still found; the list is then dropped. */
    list->items = wf_realloc(list->items, (list->n + 1) * sizeof(*list->items));
    list->items[list->n++] = r;
}

static void parse_root(wf_yamldoc_ctx *ctx, wf_recipe_list *list, const wf_yamldoc_node *root)
{
    if (root == NULL)
        return;
    if (root->kind == WF_YAMLDOC_MAPPING) {
        parse_recipe(ctx, list, root);
        return;
    }
    if (root->kind != WF_YAMLDOC_SEQUENCE) {
        wf_yamldoc_error(ctx, root, "expected a list of recipes or one recipe mapping, got %s",
                         wf_yamldoc_describe(root));
        return;
    }
    for (size_t i = 0; i < root->n; i++)
        parse_recipe(ctx, list, root->items[i]);
}

static int finish(wf_recipe_list **out, wf_recipe_list *list, size_t errors)
{
    if (errors > 0) {
        wf_recipe_list_free(list);
        return WF_EINVAL;
    }
    *out = list;
    return 0;
}

int wf_recipe_parse(wf_recipe_list **out, const char *file, const char *data, size_t len,
                    wf_diag_list *diags)
{
    wf_recipe_list *list = wf_calloc(1, sizeof(*list));
    wf_yamldoc_ctx ctx = {file, diags, 0};
    wf_yamldoc_node *root = NULL;

    assert(file != NULL);
    if (wf_yamldoc_parse(&root, file, data, len, diags) != 0)
        ctx.errors++;
    else
        parse_root(&ctx, list, root);
    wf_yamldoc_free(root);
    return finish(out, list, ctx.errors);
}

static void load_file(wf_yamldoc_ctx *ctx, wf_recipe_list *list, const char *path)
{
    wf_yamldoc_node *root = NULL;

    ctx->file = path;
    if (wf_yamldoc_load_file(&root, path, ctx->diags) != 0) {
        ctx->errors++;
        return;
    }
    parse_root(ctx, list, root);
    wf_yamldoc_free(root);
}

int wf_recipe_file_name_valid(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && ((n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
                              (n > 4 && strcmp(name + n - 4, ".yml") == 0));
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists the *.yaml / *.yml files of a directory in byte order of their names. */
static int list_dir(const char *dir, char ***out, size_t *n_out)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0;

    if (d == NULL)
        return uv_translate_sys_error(errno);
    while ((e = readdir(d)) != NULL) {
        if (!wf_recipe_file_name_valid(e->d_name))
            continue;
        names = wf_realloc(names, (n + 1) * sizeof(*names));
        names[n++] = wf_asprintf("%s/%s", dir, e->d_name);
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof(*names), cmp_names);
    *out = names;
    *n_out = n;
    return 0;
}

int wf_recipe_load_path(wf_recipe_list **out, const char *path, wf_diag_list *diags)
{
    wf_recipe_list *list = wf_calloc(1, sizeof(*list));
    wf_yamldoc_ctx ctx = {path, diags, 0};
    char **files = NULL;
    size_t n_files = 0;
    struct stat st;
    int err;

    if (stat(path, &st) != 0) {
        wf_yamldoc_error(&ctx, NULL, "cannot read recipes: %s",
                         uv_strerror(uv_translate_sys_error(errno)));
        goto done;
    }
    if (!S_ISDIR(st.st_mode)) {
        load_file(&ctx, list, path);
        goto done;
    }
    err = list_dir(path, &files, &n_files);
    if (err != 0) {
        wf_yamldoc_error(&ctx, NULL, "cannot list recipe directory: %s", uv_strerror(err));
        goto done;
    }
    for (size_t i = 0; i < n_files; i++)
        load_file(&ctx, list, files[i]);
done:
    wf_yamldoc_strings_free(files, n_files);
    return finish(out, list, ctx.errors);
}

const wf_recipe *wf_recipe_list_find(const wf_recipe_list *list, const char *name)
{
    char *norm = wf_pep503_normalize(name, strlen(name));
    const wf_recipe *found = NULL;

    for (size_t i = 0; i < list->n && found == NULL; i++) {
        if (strcmp(list->items[i]->normalized, norm) == 0)
            found = list->items[i];
    }
    free(norm);
    return found;
}

/* cJSON signals allocation failure with NULL; like wf_malloc, we treat that as fatal, so a
 * canonical form is never silently missing a member. */
static cJSON *need(cJSON *x)
{
    if (x == NULL) {
        wf_log_error("out of memory building a recipe's canonical form");
        abort();
    }
    return x;
}

static void add_string(cJSON *o, const char *key, const char *value)
{
    cJSON_AddItemToObject(o, key, need(cJSON_CreateString(value)));
}

static cJSON *string_array(char *const *v, size_t n)
{
    cJSON *a = need(cJSON_CreateArray());
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, need(cJSON_CreateString(v[i])));
    return a;
}

static cJSON *canonical_source(const wf_source *s)
{
    cJSON *o = need(cJSON_CreateObject());

    switch (s->kind) {
    case WF_SOURCE_SDIST: add_string(o, "sdist", "upstream"); break;
    case WF_SOURCE_URL:
        add_string(o, "url", s->url);
        add_string(o, "sha256", s->sha256);
        break;
    case WF_SOURCE_PATH: add_string(o, "path", s->path); break;
    }
    return o;
}

static cJSON *canonical_native(const wf_recipe *r)
{
    cJSON *a = need(cJSON_CreateArray());

    for (size_t i = 0; i < r->n_native; i++) {
        cJSON *o = need(cJSON_CreateObject());
        cJSON_AddItemToArray(a, o);
        add_string(o, "name", r->native[i].name);
        add_string(o, "url", r->native[i].url);
        add_string(o, "sha256", r->native[i].sha256);
        add_string(o, "build", r->native[i].build);
    }
    return a;
}

static cJSON *canonical_environment(const wf_recipe *r)
{
    cJSON *o = need(cJSON_CreateObject());
    for (size_t i = 0; i < r->n_environment; i++)
        add_string(o, r->environment[i].key, r->environment[i].value);
    return o;
}

char *wf_recipe_canonical(const wf_recipe *r)
{
    cJSON *o = need(cJSON_CreateObject());
    char *printed, *res;

    add_string(o, "name", r->normalized);
    cJSON_AddItemToObject(o, "versions", string_array(r->versions, r->n_versions));
    cJSON_AddItemToObject(o, "source", canonical_source(&r->source));
    cJSON_AddItemToObject(o, "python", string_array(r->python, r->n_python));
    cJSON_AddItemToObject(o, "platforms", string_array(r->platforms, r->n_platforms));
    cJSON_AddItemToObject(o, "native", canonical_native(r));
    cJSON_AddItemToObject(o, "environment", canonical_environment(r));
    add_string(o, "before_build", r->before_build);
    add_string(o, "repair", r->repair);
    add_string(o, "test_command", r->test_command);
    cJSON_AddItemToObject(o, "timeout", need(cJSON_CreateNumber(r->timeout_s)));
    cJSON_AddItemToObject(o, "idle_timeout", need(cJSON_CreateNumber(r->idle_timeout_s)));
    /* Only tracking recipes carry these, so the canonical form (and the build keys) of every
     * other recipe stays what it was before tracking existed. */
    if (r->track != NULL) {
        add_string(o, "track", r->track);
        cJSON_AddItemToObject(o, "min_age", need(cJSON_CreateNumber((double)r->min_age_s)));
        cJSON_AddItemToObject(
            o, "prereleases",
            need(r->prereleases < 0 ? cJSON_CreateNull() : cJSON_CreateBool(r->prereleases)));
    }
    printed = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (printed == NULL) {
        wf_log_error("out of memory printing a recipe's canonical form");
        abort();
    }
    res = wf_strdup(printed);
    cJSON_free(printed);
    return res;
}
