/* yamldoc.h - YAML documents as a small node tree with positions, and checked field readers.
 *
 * The only module that includes <yaml.h>. wf_yamldoc_parse() turns one YAML document into a tree
 * of scalars, sequences and mappings, each node carrying the 1-based line and column where it
 * starts. Input is bounded (WF_YAMLDOC_MAX_BYTES, WF_YAMLDOC_MAX_DEPTH, WF_YAMLDOC_MAX_NODES);
 * anchors, aliases and multi-document streams are rejected with a clear message. Tags are ignored:
 * every scalar is kept as its text (so `1.0` stays "1.0").
 *
 * The second half is a toolkit the loaders (recipe.c, config.c) share to validate a tree and
 * report "file:line:column: message" diagnostics into a wf_diag_list (see recipe.h), collecting
 * every problem instead of stopping at the first.
 *
 * Everything here is a pure function of its input, except wf_yamldoc_load_file() (reads a file)
 * and wf_yamldoc_path() (may call getcwd). Thread-safe.
 */
#ifndef WF_YAMLDOC_H
#define WF_YAMLDOC_H

#include <stddef.h>

#include "recipe.h"
#include "wf.h"

#define WF_YAMLDOC_MAX_BYTES (1024 * 1024) /* larger input is rejected (WF_ELIMIT) */
#define WF_YAMLDOC_MAX_DEPTH 32            /* nested sequences/mappings; the root counts as 1 */
#define WF_YAMLDOC_MAX_NODES 200000        /* bounds memory for pathological flow lists */

typedef enum {
    WF_YAMLDOC_SCALAR = 1,
    WF_YAMLDOC_SEQUENCE,
    WF_YAMLDOC_MAPPING,
} wf_yamldoc_kind;

typedef struct wf_yamldoc_node wf_yamldoc_node;

typedef struct wf_yamldoc_pair {
    wf_yamldoc_node *key; /* usually a scalar; validators reject other kinds */
    wf_yamldoc_node *value;
} wf_yamldoc_pair;

struct wf_yamldoc_node {
    wf_yamldoc_kind kind;
    int line;   /* 1-based */
    int column; /* 1-based */
    /* WF_YAMLDOC_SCALAR */
    char *value; /* NUL-terminated text (scalars holding a NUL byte are rejected) */
    size_t len;
    int plain; /* 1 when written without quotes: then "", "~" and "null" mean null */
    /* WF_YAMLDOC_SEQUENCE */
    wf_yamldoc_node **items;
    /* WF_YAMLDOC_MAPPING, in document order (duplicates are kept; see check_keys) */
    wf_yamldoc_pair *pairs;
    size_t n; /* number of items or pairs */
};

/* Parses [data, data+len) as one YAML document. On success returns 0 and sets *out to the root,
 * or to NULL for an empty document (nothing but comments/whitespace); the caller frees it with
 * wf_yamldoc_free(). On failure leaves *out untouched, appends one diag naming `file` with the
 * position and libyaml's problem to diags, and returns WF_EINVAL (syntax, anchors, aliases,
 * several documents, NUL in a scalar) or WF_ELIMIT (size, depth or node count). */
int wf_yamldoc_parse(wf_yamldoc_node **out, const char *file, const char *data, size_t len,
                     wf_diag_list *diags);

/* Reads `path` (at most WF_YAMLDOC_MAX_BYTES) and parses it; messages name `path`. Same contract
 * as wf_yamldoc_parse(); a file that cannot be read is reported as a diag with the system's error
 * and returns its UV_E* code; a file too large returns WF_ELIMIT. */
int wf_yamldoc_load_file(wf_yamldoc_node **out, const char *path, wf_diag_list *diags);

/* Frees a node and everything below it. Accepts NULL. */
void wf_yamldoc_free(wf_yamldoc_node *n);

/* 1 for a plain scalar "", "~", "null", "Null" or "NULL" (what `key:` with no value gives). */
int wf_yamldoc_is_null(const wf_yamldoc_node *n);

/* "a string", "a list", "a mapping" or "nothing (null)", for "expected X, got Y" messages. */
const char *wf_yamldoc_describe(const wf_yamldoc_node *n);

/* The value of the first pair whose key is the scalar `key`, or NULL. Borrowed from the tree. */
const wf_yamldoc_node *wf_yamldoc_get(const wf_yamldoc_node *map, const char *key);

/* Optimal-string-alignment (Damerau-Levenshtein) distance between two strings. */
size_t wf_yamldoc_distance(const char *a, const char *b);

/* The entry of the NULL-terminated `known` closest to `word` at a distance of at most 2 (the first
 * one on ties), or NULL. Borrowed from `known`. */
const char *wf_yamldoc_suggest(const char *word, const char *const *known);

/* Validation context: where diagnostics go and how many were added through it. The strings are
 * borrowed for the context's lifetime. */
typedef struct wf_yamldoc_ctx {
    const char *file;
    wf_diag_list *diags;
    size_t errors;
} wf_yamldoc_ctx;

/* Appends "file:line:column: <message>" at node `at` (position 0:0 when `at` is NULL). */
void wf_yamldoc_error(wf_yamldoc_ctx *ctx, const wf_yamldoc_node *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Checks a mapping's keys against the NULL-terminated `known` list: non-string keys, unknown keys
 * (with "did you mean" when one is close) and duplicate keys (naming the first one's line) are
 * reported. Returns the number of problems found. `map` must be a mapping. */
size_t wf_yamldoc_check_keys(wf_yamldoc_ctx *ctx, const wf_yamldoc_node *map,
                             const char *const *known);

/* Reports "missing required key 'key'" at the mapping when `key` is absent; returns the value
 * node or NULL. */
const wf_yamldoc_node *wf_yamldoc_require(wf_yamldoc_ctx *ctx, const wf_yamldoc_node *map,
                                          const char *key);

/* Checked readers. Each takes the node to read and `what`, the field's name for messages. On
 * success it returns 0 and sets the outputs (new heap memory the caller frees); otherwise it adds
 * a diag at the node ("'what': expected a list of strings, got a mapping") and returns WF_EINVAL
 * with the outputs untouched. */

/* A scalar's text; a null scalar gives "". Free with free(). */
int wf_yamldoc_read_string(wf_yamldoc_ctx *ctx, char **out, const wf_yamldoc_node *n,
                           const char *what);
/* A sequence of scalars (null items are rejected). Free with wf_yamldoc_strings_free(). */
int wf_yamldoc_read_strings(wf_yamldoc_ctx *ctx, char ***out, size_t *n_out,
                            const wf_yamldoc_node *n, const char *what);
/* A decimal integer in [min, max]. */
int wf_yamldoc_read_uint(wf_yamldoc_ctx *ctx, unsigned *out, const wf_yamldoc_node *n, unsigned min,
                         unsigned max, const char *what);
/* true/false (also True/False/TRUE/FALSE). */
int wf_yamldoc_read_bool(wf_yamldoc_ctx *ctx, int *out, const wf_yamldoc_node *n, const char *what);

/* A non-empty list of distinct strings, each accepted by valid(). Every bad item is reported at
 * its own position as "invalid <item> 'x' (allowed: <allowed>)". Free with
 * wf_yamldoc_strings_free(). */
int wf_yamldoc_read_set(wf_yamldoc_ctx *ctx, char ***out, size_t *n_out, const wf_yamldoc_node *n,
                        const char *what, const char *item, int (*valid)(const char *),
                        const char *allowed);

/* Frees an array of n strings and the array. Accepts NULL. */
void wf_yamldoc_strings_free(char **v, size_t n);

/* Resolves `p` as written in the document `file`: absolute paths are kept, relative ones are taken
 * against the file's directory (or the current directory when `file` is NULL or has the form
 * "<name>"); the result is absolute and lexically normalized ("." and ".." folded). Never NULL
 * (falls back to the unresolved text if getcwd fails); the caller frees it. */
char *wf_yamldoc_path(const char *file, const char *p);

#endif
