/* recipe.h - the validated recipe model and its YAML loader.
 *
 * A recipe list is one YAML file holding a list of recipes (or a single recipe mapping), or a
 * directory of such files (*.yaml / *.yml, read in name order). Loading never stops at the first
 * problem: every error is collected with file:line:column and a hint, so a person fixes them all
 * in one go. A list with any error is rejected whole.
 *
 * Ownership: wf_recipe_list_free() frees the list, every recipe in it and all strings. Recipes are
 * plain structs (read-only after loading); pointers into a list live as long as the list.
 */
#ifndef WF_RECIPE_H
#define WF_RECIPE_H

#include <stddef.h>

#include "wf.h"

typedef enum {
    WF_SOURCE_SDIST = 1, /* {sdist: upstream}: the sdist of the version from the upstream index */
    WF_SOURCE_URL,       /* {url: URL, sha256: HEX}; URL may contain {version} */
    WF_SOURCE_PATH,      /* {path: DIR}: a local source tree, relative to the recipe file */
} wf_source_kind;

typedef struct wf_source {
    wf_source_kind kind;
    char *url;    /* WF_SOURCE_URL: may contain "{version}"; else NULL */
    char *sha256; /* WF_SOURCE_URL: 64 lowercase hex chars; else NULL */
    char *path;   /* WF_SOURCE_PATH: absolute (resolved against the recipe file's directory) */
} wf_source;

typedef struct wf_native_dep {
    char *name;   /* [A-Za-z0-9._-]+ */
    char *url;    /* tarball URL */
    char *sha256; /* 64 lowercase hex chars */
    char *build;  /* shell script run in the unpacked top directory */
} wf_native_dep;

typedef struct wf_env_var {
    char *key; /* [A-Za-z_][A-Za-z0-9_]* */
    char *value;
} wf_env_var;

typedef struct wf_recipe {
    char *name;       /* as written (display name); valid PEP 508 project name */
    char *normalized; /* PEP 503 normalized name */
    char **versions;  /* PEP 440-valid version strings, as written; may be empty when tracking */
    size_t n_versions;
    wf_source source;
    char **python; /* tags like "cp311"; default: {"cp311"} */
    size_t n_python;
    char **platforms; /* "linux/amd64", "linux/arm64"; default: {"linux/amd64"} */
    size_t n_platforms;
    wf_native_dep *native;
    size_t n_native;
    wf_env_var *environment; /* in file order */
    size_t n_environment;
    char *before_build;      /* shell; "" when absent */
    char *repair;            /* shell with {wheel} and {dest_dir}; default below; "" = no repair */
    char *test_command;      /* shell; "" when absent */
    unsigned timeout_s;      /* hard timeout of one build; default 3600 */
    unsigned idle_timeout_s; /* the build ends after this long without log output; 0 = not set
                                (the daemon's idle_timeout applies) */

    /* Tracking (nightly bumps): new upstream versions matching a PEP 440 specifier are built
     * beyond `versions`. Only with source {sdist: upstream}. */
    char *track;       /* the specifier as written ("" matches every version), or NULL */
    int64_t min_age_s; /* seconds an upload must have aged before it is built; 0 when absent */
    int prereleases;   /* 1 true, 0 false, -1 absent: the specifier decides (PEP 440) */

    char *file; /* the file it came from, for messages */
    int line;   /* line of the recipe's mapping (1-based) */
} wf_recipe;

/* Bounds of a log-idle timeout, in the recipe and in the daemon's configuration. */
#define WF_RECIPE_IDLE_TIMEOUT_MIN 10
#define WF_RECIPE_IDLE_TIMEOUT_MAX 86400

#define WF_RECIPE_DEFAULT_REPAIR "auditwheel repair -w {dest_dir} {wheel}"

typedef struct wf_recipe_list {
    wf_recipe **items;
    size_t n;
} wf_recipe_list;

/* One problem found while loading: "file:line:column: message (hint)". */
typedef struct wf_diag {
    char *file;
    int line;      /* 1-based; 0 when unknown */
    int column;    /* 1-based; 0 when unknown */
    char *message; /* what is wrong, e.g. "unknown key 'pyhton' (did you mean 'python'?)" */
} wf_diag;

typedef struct wf_diag_list {
    wf_diag *items;
    size_t n;
} wf_diag_list;

void wf_diag_list_release(wf_diag_list *d);
/* Formats "file:line:column: message" (without newline); caller frees. */
char *wf_diag_format(const wf_diag *d);

/* Loads a file or directory. On success returns 0 and sets *out (caller frees). When any
 * problem is found returns WF_EINVAL, leaves *out untouched and appends every problem to diags
 * (caller releases). I/O errors (missing path) are reported the same way, as a diag. */
int wf_recipe_load_path(wf_recipe_list **out, const char *path, wf_diag_list *diags);

/* Parses one YAML document held in memory; `file` names it in messages and is the base for
 * relative `path:` sources (its directory). Same contract as above. */
int wf_recipe_parse(wf_recipe_list **out, const char *file, const char *data, size_t len,
                    wf_diag_list *diags);

void wf_recipe_list_free(wf_recipe_list *list);

/* A deep copy of one recipe (caller frees with wf_recipe_free), for holders that must outlive
 * the list it came from: a build in flight keeps its recipe while the list is reloaded. */
wf_recipe *wf_recipe_copy(const wf_recipe *r);
/* Frees a recipe from wf_recipe_copy(); NULL ok. Never call it on a list's items. */
void wf_recipe_free(wf_recipe *r);

/* 1 if a directory entry named `name` is read as a recipe file when its directory is loaded:
 * *.yaml or *.yml, not hidden (editors' swap and backup files are not). */
int wf_recipe_file_name_valid(const char *name);

/* Finds a recipe by name, comparing PEP 503 normalized names. Borrowed pointer or NULL. */
const wf_recipe *wf_recipe_list_find(const wf_recipe_list *list, const char *name);

/* The platforms recipes and workers may name, for messages: "linux/amd64, linux/arm64". */
#define WF_RECIPE_PLATFORM_LIST "linux/amd64, linux/arm64"

/* What python tags may be, for messages. */
#define WF_RECIPE_PYTHON_HINT "cp3X or pp3X tags such as cp311, cp312, pp310"

/* 1 if `platform` is one of WF_RECIPE_PLATFORM_LIST; 0 otherwise. */
int wf_recipe_platform_valid(const char *platform);
/* 1 if `tag` is a CPython/PyPy 3 interpreter tag: ^(cp|pp)3[0-9]{1,2}$ (cp311, pp310). */
int wf_recipe_python_valid(const char *tag);
/* 1 if `hex` is exactly 64 lowercase hex characters. */
int wf_recipe_sha256_valid(const char *hex);

/* The recipe's canonical form: a compact JSON string with a fixed key order and no file/line
 * fields, used for build keys and change detection. Caller frees. Keys, in order: name (the
 * normalized name), versions, source ({"sdist":"upstream"} | {"url","sha256"} | {"path"}), python,
 * platforms, native ([{name,url,sha256,build}]), environment (object in file order),
 * before_build, repair, test_command, timeout, idle_timeout (numbers; 0 = not set); then, for a
 * tracking recipe only, track, min_age (number of seconds) and prereleases (true, false or null).
 */
char *wf_recipe_canonical(const wf_recipe *r);

#endif
