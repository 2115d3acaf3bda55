/* upstream.h - finding a release's sdist on a PEP 503 / PEP 691 simple index page.
 *
 * Pure functions of their inputs: no I/O; the caller fetches the page (daemon/fetch.h).
 * Thread-safe.
 */
#ifndef WF_UPSTREAM_H
#define WF_UPSTREAM_H

#include <stddef.h>

/* The Accept header to send for a project page: PEP 691 JSON preferred, PEP 503 HTML accepted. */
#define WF_UPSTREAM_ACCEPT                                                                         \
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "             \
    "text/html;q=0.01"

/* Given the body of <index>/<normalized project>/ (PEP 691 JSON if content_type is
 * application/vnd.pypi.simple.v1+json, parameters allowed; else PEP 503 HTML), finds the sdist of
 * `version`: a file named "<name><sep><version><ext>" where <name> normalizes (PEP 503) to
 * `project`, <sep> is '-' (or '_', for some legacy uploads), <version> is PEP 440-equal to
 * `version` after normalization, and <ext> is .tar.gz or .zip (.tar.gz preferred). Yanked files
 * are skipped. On success *url_out is the absolute URL (resolved against page_url, or a
 * <base href> in HTML; fragment removed) and *sha256_out the lowercase hex sha256 from the
 * "hashes" object or the "#sha256=" fragment, or NULL when the index gives none; both are heap
 * strings the caller frees. Errors: WF_ENOTFOUND (no such sdist), WF_EINVAL (version is not
 * PEP 440, or the JSON is malformed). body need not be NUL-terminated. */
int wf_upstream_find_sdist(const char *page_url, const char *content_type, const char *body,
                           size_t len, const char *project, const char *version, char **url_out,
                           char **sha256_out);

/* Resolves a URL reference against an absolute base URL (RFC 3986 section 5.2, with dot
 * segments removed). Returns a heap string the caller frees. */
char *wf_upstream_resolve_url(const char *base, const char *ref);

#endif
