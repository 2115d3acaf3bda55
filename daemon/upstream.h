/* upstream.h - reading a PEP 503 / PEP 691 simple index project page: the sdist of one release
 * (for a build), or every release with its yanked state and upload time (for a bump).
 *
 * Pure functions of their inputs: no I/O; the caller fetches the page (daemon/fetch.h).
 * Thread-safe.
 */
#ifndef WF_UPSTREAM_H
#define WF_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

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

/* One release of a project as its page shows it. */
typedef struct wf_upstream_release {
    char *version;       /* normalized PEP 440 */
    int has_sdist;       /* at least one sdist (.tar.gz or .zip) of it is listed */
    int yanked;          /* it has sdists and every one is yanked (PEP 592) */
    char *yanked_reason; /* a yanked release's reason, or NULL */
    int64_t upload_time; /* the newest PEP 700 upload-time of its non-yanked sdists (epoch
                            seconds), or 0 when any of them has none (always 0 from HTML) */
} wf_upstream_release;

typedef struct wf_upstream_listing {
    wf_upstream_release *items; /* in order of first appearance on the page */
    size_t n;
    int json; /* 1: the page was PEP 691 JSON; 0: PEP 503 HTML */
} wf_upstream_listing;

/* Lists every release of `project` on its page (content type and body as for
 * wf_upstream_find_sdist). A release is known from an sdist named as there, from a wheel of the
 * project (PEP 427 name), or from the JSON "versions" list (PEP 700); versions that are not
 * PEP 440 are skipped. Files of other projects are ignored. Returns 0 and fills *out (release it
 * with wf_upstream_listing_release), or WF_EINVAL for malformed JSON (*out untouched). Pure:
 * may run on the thread pool. */
int wf_upstream_list(wf_upstream_listing *out, const char *content_type, const char *body,
                     size_t len, const char *project);
void wf_upstream_listing_release(wf_upstream_listing *l);

/* Parses a PEP 700 upload time, RFC 3339 in UTC: "2025-01-02T03:04:05Z", with optional
 * fractions of a second (dropped) and "+00:00" accepted for "Z". Returns 0 and sets *out
 * (epoch seconds), or WF_EINVAL. */
int wf_upstream_parse_time(const char *s, int64_t *out);

/* Resolves a URL reference against an absolute base URL (RFC 3986 section 5.2, with dot
 * segments removed). Returns a heap string the caller frees. */
char *wf_upstream_resolve_url(const char *base, const char *ref);

#endif
