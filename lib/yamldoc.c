/* yamldoc.c - libyaml wrapper: one bounded YAML document into a positioned node tree, plus checks.
 */
#include "yamldoc.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>
#include <yaml.h>

/* The event-driven tree builder. Containers are attached to their parent when they open, so the
 * root owns everything built so far and one wf_yamldoc_free() cleans up after an error. */
typedef struct builder {
    wf_yamldoc_node *root;
    wf_yamldoc_node *stack[WF_YAMLDOC_MAX_DEPTH];
    size_t depth;
    size_t nodes;
    int documents;
} builder;

static void add_diag(wf_diag_list *d, const char *file, int line, int column, const char *fmt,
                     va_list ap)
{
    d->items = wf_realloc(d->items, (d->n + 1) * sizeof(*d->items));
    wf_diag *g = &d->items[d->n++];
    g->file = wf_strdup(file != NULL ? file : "<input>");
    g->line = line;
    g->column = column;
    g->message = wf_vasprintf(fmt, ap);
}

static void diag_at(wf_diag_list *d, const char *file, int line, int column, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void diag_at(wf_diag_list *d, const char *file, int line, int column, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_diag(d, file, line, column, fmt, ap);
    va_end(ap);
}

void wf_yamldoc_free(wf_yamldoc_node *n)
{
    if (n == NULL)
        return;
    free(n->value);
    for (size_t i = 0; n->items != NULL && i < n->n; i++)
        wf_yamldoc_free(n->items[i]);
    for (size_t i = 0; n->pairs != NULL && i < n->n; i++) {
        wf_yamldoc_free(n->pairs[i].key);
        wf_yamldoc_free(n->pairs[i].value);
    }
    free(n->items);
    free(n->pairs);
    free(n);
}

static void node_attach(builder *b, wf_yamldoc_node *child)
{
    if (b->depth == 0) {
        b->root = child;
        return;
    }
    wf_yamldoc_node *parent = b->stack[b->depth - 1];
    if (parent->kind == WF_YAMLDOC_SEQUENCE) {
        parent->items = wf_realloc(parent->items, (parent->n + 1) * sizeof(*parent->items));
        parent->items[parent->n++] = child;
        return;
    }
    /* A mapping receives key, value, key, value...: a pair without a value is waiting for one. */
    if (parent->n > 0 && parent->pairs[parent->n - 1].value == NULL) {
        parent->pairs[parent->n - 1].value = child;
        return;
    }
    parent->pairs = wf_realloc(parent->pairs, (parent->n + 1) * sizeof(*parent->pairs));
    parent->pairs[parent->n].key = child;
    parent->pairs[parent->n].value = NULL;
    parent->n++;
}

static wf_yamldoc_node *node_new(wf_yamldoc_kind kind, const yaml_mark_t *mark)
{
    wf_yamldoc_node *n = wf_calloc(1, sizeof(*n));
    n->kind = kind;
    n->line = (int)mark->line + 1;
    n->column = (int)mark->column + 1;
    return n;
}

/* Anchors would let a small file expand into a huge tree (billion laughs), and recipes gain
 * nothing from them, so they are refused outright. */
static const char *event_anchor(const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_SCALAR_EVENT: return (const char *)ev->data.scalar.anchor;
    case YAML_SEQUENCE_START_EVENT: return (const char *)ev->data.sequence_start.anchor;
    case YAML_MAPPING_START_EVENT: return (const char *)ev->data.mapping_start.anchor;
    default: return NULL;
    }
}

/* Handles one event; returns 0, or an error after adding a diag. */
static int builder_event(builder *b, const yaml_event_t *ev, const char *file, wf_diag_list *d)
{
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    const char *anchor = event_anchor(ev);
    wf_yamldoc_node *n;

    if (anchor != NULL) {
        diag_at(d, file, line, col,
                "anchors are not supported (found '&%s'); write the value out in full", anchor);
        return WF_EINVAL;
    }
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        diag_at(d, file, line, col,
                "aliases are not supported (found '*%s'); write the value out in full",
                (const char *)ev->data.alias.anchor);
        return WF_EINVAL;
    case YAML_DOCUMENT_START_EVENT:
        if (++b->documents > 1) {
            diag_at(d, file, line, col,
                    "only one YAML document per file is supported (remove this '---')");
            return WF_EINVAL;
        }
        return 0;
    case YAML_SCALAR_EVENT:
        if (strlen((const char *)ev->data.scalar.value) != ev->data.scalar.length) {
            diag_at(d, file, line, col, "string contains a NUL character");
            return WF_EINVAL;
        }
        break;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (b->depth == WF_YAMLDOC_MAX_DEPTH) {
            diag_at(d, file, line, col, "nesting is deeper than %d levels", WF_YAMLDOC_MAX_DEPTH);
            return WF_ELIMIT;
        }
        break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        assert(b->depth > 0);
        b->depth--;
        return 0;
    default: return 0;
    }

    if (++b->nodes > WF_YAMLDOC_MAX_NODES) {
        diag_at(d, file, line, col, "document has more than %d nodes", WF_YAMLDOC_MAX_NODES);
        return WF_ELIMIT;
    }
    if (ev->type == YAML_SCALAR_EVENT) {
        n = node_new(WF_YAMLDOC_SCALAR, &ev->start_mark);
        n->value = wf_strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
        n->len = ev->data.scalar.length;
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        node_attach(b, n);
        return 0;
    }
    n = node_new(ev->type == YAML_SEQUENCE_START_EVENT ? WF_YAMLDOC_SEQUENCE : WF_YAMLDOC_MAPPING,
                 &ev->start_mark);
    node_attach(b, n);
    b->stack[b->depth++] = n;
    return 0;
}

static void syntax_error(const yaml_parser_t *p, const char *file, wf_diag_list *d)
{
    const char *problem = p->problem != NULL ? p->problem : "unknown problem";

    if (p->error == YAML_READER_ERROR) {
        diag_at(d, file, 0, 0, "cannot read YAML input at byte %zu: %s", p->problem_offset,
                problem);
        return;
    }
    if (p->context != NULL) {
        diag_at(d, file, (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1,
                "YAML syntax error: %s (%s at line %d, column %d)", problem, p->context,
                (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
        return;
    }
    diag_at(d, file, (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1,
            "YAML syntax error: %s", problem);
}

int wf_yamldoc_parse(wf_yamldoc_node **out, const char *file, const char *data, size_t len,
                     wf_diag_list *diags)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    builder b;
    int err = 0, done = 0;

    if (len > WF_YAMLDOC_MAX_BYTES) {
        diag_at(diags, file, 0, 0, "file is larger than 1 MiB (%zu bytes)", len);
        return WF_ELIMIT;
    }
    memset(&b, 0, sizeof(b));
    if (!yaml_parser_initialize(&parser)) {
        diag_at(diags, file, 0, 0, "cannot initialize the YAML parser");
        return UV_ENOMEM;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            syntax_error(&parser, file, diags);
            err = WF_EINVAL;
            goto cleanup;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        err = builder_event(&b, &ev, file, diags);
        yaml_event_delete(&ev);
        if (err != 0)
            goto cleanup;
    }
    *out = b.root;
    b.root = NULL;
cleanup:
    wf_yamldoc_free(b.root);
    yaml_parser_delete(&parser);
    return err;
}

/* Reads at most WF_YAMLDOC_MAX_BYTES + 1 bytes, so an oversized file is detected without
 * trusting st_size (pipes, files growing while read). */
static int read_bounded(const char *path, wf_buf *buf)
{
    char chunk[16384];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int err = 0;

    if (fd < 0)
        return uv_translate_sys_error(errno);
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            err = uv_translate_sys_error(errno);
            break;
        }
        if (r == 0)
            break;
        wf_buf_add(buf, chunk, (size_t)r);
        if (buf->len > WF_YAMLDOC_MAX_BYTES) {
            err = WF_ELIMIT;
            break;
        }
    }
    close(fd);
    return err;
}

int wf_yamldoc_load_file(wf_yamldoc_node **out, const char *path, wf_diag_list *diags)
{
    wf_buf buf = WF_BUF_INIT;
    int err = read_bounded(path, &buf);

    if (err == WF_ELIMIT) {
        diag_at(diags, path, 0, 0, "file is larger than 1 MiB");
        goto cleanup;
    }
    if (err != 0) {
        diag_at(diags, path, 0, 0, "cannot read file: %s", uv_strerror(err));
        goto cleanup;
    }
    err = wf_yamldoc_parse(out, path, buf.ptr != NULL ? buf.ptr : "", buf.len, diags);
cleanup:
    wf_buf_release(&buf);
    return err;
}

int wf_yamldoc_is_null(const wf_yamldoc_node *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};

    if (n == NULL || n->kind != WF_YAMLDOC_SCALAR || !n->plain)
        return 0;
    for (size_t i = 0; i < WF_ARRAY_SIZE(nulls); i++) {
        if (strcmp(n->value, nulls[i]) == 0)
            return 1;
    }
    return 0;
}

const char *wf_yamldoc_describe(const wf_yamldoc_node *n)
{
    if (n == NULL || wf_yamldoc_is_null(n))
        return "nothing (null)";
    switch (n->kind) {
    case WF_YAMLDOC_SCALAR: return "a string";
    case WF_YAMLDOC_SEQUENCE: return "a list";
    case WF_YAMLDOC_MAPPING: return "a mapping";
    }
    return "an unknown node";
}

const wf_yamldoc_node *wf_yamldoc_get(const wf_yamldoc_node *map, const char *key)
{
    if (map == NULL || map->kind != WF_YAMLDOC_MAPPING)
        return NULL;
    for (size_t i = 0; i < map->n; i++) {
        const wf_yamldoc_node *k = map->pairs[i].key;
        if (k->kind == WF_YAMLDOC_SCALAR && strcmp(k->value, key) == 0)
            return map->pairs[i].value;
    }
    return NULL;
}

static size_t min3(size_t a, size_t b, size_t c)
{
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

size_t wf_yamldoc_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t *d = wf_malloc((la + 1) * (lb + 1) * sizeof(*d));
    size_t w = lb + 1, r;

    for (size_t i = 0; i <= la; i++)
        d[i * w] = i;
    for (size_t j = 0; j <= lb; j++)
        d[j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t v =
                min3(d[(i - 1) * w + j] + 1, d[i * w + j - 1] + 1, d[(i - 1) * w + j - 1] + cost);
            /* A swap of two neighbours costs one edit, as people mistype that way. */
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[(i - 2) * w + j - 2] + 1 < v)
                v = d[(i - 2) * w + j - 2] + 1;
            d[i * w + j] = v;
        }
    }
    r = d[la * w + lb];
    free(d);
    return r;
}

const char *wf_yamldoc_suggest(const char *word, const char *const *known)
{
    const char *best = NULL;
    size_t best_d = 3;

    /* Long garbage keys are never a typo of a short one; skip the quadratic table for them. */
    if (strlen(word) > 64)
        return NULL;
    for (size_t i = 0; known[i] != NULL; i++) {
        size_t dist = wf_yamldoc_distance(word, known[i]);
        if (dist < best_d) {
            best_d = dist;
            best = known[i];
        }
    }
    return best;
}

void wf_yamldoc_error(wf_yamldoc_ctx *ctx, const wf_yamldoc_node *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_diag(ctx->diags, ctx->file, at != NULL ? at->line : 0, at != NULL ? at->column : 0, fmt,
             ap);
    va_end(ap);
    ctx->errors++;
}

static int is_known(const char *key, const char *const *known)
{
    for (size_t i = 0; known[i] != NULL; i++) {
        if (strcmp(key, known[i]) == 0)
            return 1;
    }
    return 0;
}

size_t wf_yamldoc_check_keys(wf_yamldoc_ctx *ctx, const wf_yamldoc_node *map,
                             const char *const *known)
{
    size_t before = ctx->errors;

    assert(map->kind == WF_YAMLDOC_MAPPING);
    for (size_t i = 0; i < map->n; i++) {
        const wf_yamldoc_node *k = map->pairs[i].key;
        const char *hint;

        if (k->kind != WF_YAMLDOC_SCALAR) {
            wf_yamldoc_error(ctx, k, "mapping keys must be strings, got %s",
                             wf_yamldoc_describe(k));
            continue;
        }
        if (!is_known(k->value, known)) {
            hint = wf_yamldoc_suggest(k->value, known);
            if (hint != NULL)
                wf_yamldoc_error(ctx, k, "unknown key '%s' (did you mean '%s'?)", k->value, hint);
            else
                wf_yamldoc_error(ctx, k, "unknown key '%s'", k->value);
            continue;
        }
        for (size_t j = 0; j < i; j++) {
            const wf_yamldoc_node *first = map->pairs[j].key;
            if (first->kind == WF_YAMLDOC_SCALAR && strcmp(first->value, k->value) == 0) {
                wf_yamldoc_error(ctx, k, "duplicate key '%s' (first given at line %d)", k->value,
                                 first->line);
                break;
            }
        }
    }
    return ctx->errors - before;
}

const wf_yamldoc_node *wf_yamldoc_require(wf_yamldoc_ctx *ctx, const wf_yamldoc_node *map,
                                          const char *key)
{
    const wf_yamldoc_node *v = wf_yamldoc_get(map, key);
    if (v == NULL)
        wf_yamldoc_error(ctx, map, "missing required key '%s'", key);
    return v;
}

static int is_scalar(const wf_yamldoc_node *n)
{
    return n->kind == WF_YAMLDOC_SCALAR;
}

int wf_yamldoc_read_string(wf_yamldoc_ctx *ctx, char **out, const wf_yamldoc_node *n,
                           const char *what)
{
    if (!is_scalar(n)) {
        wf_yamldoc_error(ctx, n, "'%s': expected a string, got %s", what, wf_yamldoc_describe(n));
        return WF_EINVAL;
    }
    *out = wf_strdup(wf_yamldoc_is_null(n) ? "" : n->value);
    return 0;
}

void wf_yamldoc_strings_free(char **v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        free(v[i]);
    free(v);
}

int wf_yamldoc_read_strings(wf_yamldoc_ctx *ctx, char ***out, size_t *n_out,
                            const wf_yamldoc_node *n, const char *what)
{
    char **v;

    if (n->kind != WF_YAMLDOC_SEQUENCE) {
        wf_yamldoc_error(ctx, n, "'%s': expected a list of strings, got %s", what,
                         wf_yamldoc_describe(n));
        return WF_EINVAL;
    }
    for (size_t i = 0; i < n->n; i++) {
        const wf_yamldoc_node *it = n->items[i];
        if (!is_scalar(it) || wf_yamldoc_is_null(it)) {
            wf_yamldoc_error(ctx, it, "'%s': expected a list of strings, but this item is %s", what,
                             wf_yamldoc_describe(it));
            return WF_EINVAL;
        }
    }
    v = wf_calloc(n->n, sizeof(*v));
    for (size_t i = 0; i < n->n; i++)
        v[i] = wf_strdup(n->items[i]->value);
    *out = v;
    *n_out = n->n;
    return 0;
}

int wf_yamldoc_read_set(wf_yamldoc_ctx *ctx, char ***out, size_t *n_out, const wf_yamldoc_node *n,
                        const char *what, const char *item, int (*valid)(const char *),
                        const char *allowed)
{
    char **v;
    size_t count, before = ctx->errors;

    if (wf_yamldoc_read_strings(ctx, &v, &count, n, what) != 0)
        return WF_EINVAL;
    if (count == 0)
        wf_yamldoc_error(ctx, n, "'%s' must list at least one %s (allowed: %s)", what, item,
                         allowed);
    for (size_t i = 0; i < count; i++) {
        if (!valid(v[i])) {
            wf_yamldoc_error(ctx, n->items[i], "invalid %s '%s' (allowed: %s)", item, v[i],
                             allowed);
            continue;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(v[i], v[j]) == 0) {
                wf_yamldoc_error(ctx, n->items[i], "'%s' lists '%s' twice", what, v[i]);
                break;
            }
        }
    }
    if (ctx->errors != before) {
        wf_yamldoc_strings_free(v, count);
        return WF_EINVAL;
    }
    *out = v;
    *n_out = count;
    return 0;
}

int wf_yamldoc_read_uint(wf_yamldoc_ctx *ctx, unsigned *out, const wf_yamldoc_node *n, unsigned min,
                         unsigned max, const char *what)
{
    int64_t v;

    if (!is_scalar(n) || wf_yamldoc_is_null(n) || wf_parse_i64(n->value, n->len, &v) != 0 ||
        v < (int64_t)min || v > (int64_t)max) {
        wf_yamldoc_error(ctx, n, "'%s': expected a whole number from %u to %u, got %s%s%s", what,
                         min, max, is_scalar(n) && !wf_yamldoc_is_null(n) ? "'" : "",
                         is_scalar(n) && !wf_yamldoc_is_null(n) ? n->value : wf_yamldoc_describe(n),
                         is_scalar(n) && !wf_yamldoc_is_null(n) ? "'" : "");
        return WF_EINVAL;
    }
    *out = (unsigned)v;
    return 0;
}

int wf_yamldoc_read_bool(wf_yamldoc_ctx *ctx, int *out, const wf_yamldoc_node *n, const char *what)
{
    static const char *const yes[] = {"true", "True", "TRUE"};
    static const char *const no[] = {"false", "False", "FALSE"};

    for (size_t i = 0; is_scalar(n) && i < WF_ARRAY_SIZE(yes); i++) {
        if (strcmp(n->value, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcmp(n->value, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    wf_yamldoc_error(ctx, n, "'%s': expected true or false, got %s%s%s", what,
                     is_scalar(n) ? "'" : "", is_scalar(n) ? n->value : wf_yamldoc_describe(n),
                     is_scalar(n) ? "'" : "");
    return WF_EINVAL;
}

/* Folds "", "." and ".." components of an absolute path in place. */
static void normalize_abs(wf_buf *out, const char *path)
{
    const char *p = path;
    wf_buf_reset(out);
    while (*p != '\0') {
        const char *end;
        size_t n;

        while (*p == '/')
            p++;
        end = strchrnul(p, '/');
        n = (size_t)(end - p);
        if (n == 0 || (n == 1 && p[0] == '.')) {
            /* nothing to add */
        } else if (n == 2 && p[0] == '.' && p[1] == '.') {
            char *slash = out->len > 0 ? memrchr(out->ptr, '/', out->len) : NULL;
            out->len = slash != NULL ? (size_t)(slash - out->ptr) : 0;
            if (out->ptr != NULL)
                out->ptr[out->len] = '\0';
        } else {
            wf_buf_adds(out, "/");
            wf_buf_add(out, p, n);
        }
        p = end;
    }
    if (out->len == 0)
        wf_buf_adds(out, "/");
}

char *wf_yamldoc_path(const char *file, const char *p)
{
    wf_buf joined = WF_BUF_INIT, norm = WF_BUF_INIT;
    const char *slash = file != NULL && file[0] != '<' ? strrchr(file, '/') : NULL;
    char cwd[4096];

    if (p[0] != '/') {
        if (slash == NULL || file[0] != '/') {
            if (getcwd(cwd, sizeof(cwd)) == NULL)
                return wf_strdup(p);
            wf_buf_adds(&joined, cwd);
            wf_buf_adds(&joined, "/");
        }
        if (slash != NULL) {
            wf_buf_add(&joined, file, (size_t)(slash - file));
            wf_buf_adds(&joined, "/");
        }
    }
    wf_buf_adds(&joined, p);
    normalize_abs(&norm, joined.ptr);
    wf_buf_release(&joined);
    return wf_buf_detach(&norm);
}
