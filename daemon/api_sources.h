/* api_sources.h - POST /api/v1/sources: local files into the sha256 source cache (docs/API.md).
 *
 * Loop thread only, like the rest of the API.
 */
#ifndef WF_API_SOURCES_H
#define WF_API_SOURCES_H

#include "daemon/internal.h"

/* Most paths one request may name, so one call cannot keep the loop busy without bound. */
#define WF_API_SOURCES_MAX_PATHS 64

/* Handles POST /api/v1/sources with the JSON body {"paths": ["/abs/file", ...]}: copies each
 * regular file into d->fetcher's cache (wf_fetcher_add_file: synchronous, blocking file I/O on
 * the loop thread, acceptable for a handful of source tarballs) and answers 200
 * {"sources": [{"path", "sha256", "size"} | {"path", "error", "hint"}]} in
 * request order; one bad file does not stop the others. Answers 403 when the request did not
 * come over the Unix socket (the daemon never reads paths a remote caller names), 400 for a
 * malformed body, 413 for more than WF_API_SOURCES_MAX_PATHS paths. req and res are borrowed
 * for the call; the response body is filled in res->body. */
void wf__api_sources_add(wf_daemon *d, const wf_http_request *req, wf_http_response *res);

#endif
