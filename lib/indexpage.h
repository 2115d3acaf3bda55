/* indexpage.h - PEP 503 "simple" index pages: pure HTML formatters, no I/O.
 *
 * The pages follow PEP 503 with the PEP 629 version meta tag, PEP 592/345 data-requires-python
 * and the PEP 658/714 core-metadata attributes. Thread-safe.
 */
#ifndef WF_INDEXPAGE_H
#define WF_INDEXPAGE_H

#include <stddef.h>

/* One distribution file on a project page. All strings are borrowed for the call. */
typedef struct wf_index_file {
    const char *filename;        /* the file's name, shown as the anchor text */
    const char *url;             /* href, relative or absolute, unencoded, without #fragment;
                                    NULL means the filename itself */
    const char *sha256;          /* lowercase hex digest; NULL or non-hex = no #sha256= fragment */
    const char *requires_python; /* e.g. ">=3.8"; NULL = no data-requires-python */
    const char *metadata_sha256; /* hex digest of <url>.metadata (PEP 658); NULL = no metadata */
} wf_index_file;

/* The root page: one link "<normalized name>/" per project, sorted by normalized name.
 * Names are PEP 503-normalized for the href and HTML-escaped for the text. Never NULL; the
 * caller frees the string with free(). */
char *wf_indexpage_root(const char *const *projects, size_t n);

/* A project page: one link per file, sorted by filename. Each href is the file's url
 * percent-encoded (everything but ALPHA DIGIT "-._~/:@", so '+' becomes %2B) followed by
 * "#sha256=<hex>"; data-requires-python and the anchor text are HTML-escaped. Never NULL; the
 * caller frees the string with free(). */
char *wf_indexpage_project(const char *project, const wf_index_file *files, size_t n);

/* A copy of [s, s+len) with & < > " ' HTML-escaped. Exposed for the dashboard
 * and tests; the caller frees the result with free(). Never NULL. */
char *wf_indexpage_escape(const char *s, size_t len);

#endif
