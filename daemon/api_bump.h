/* api_bump.h - the version-bump endpoints under /api/v1/bump (docs/API.md).
 *
 * Loop thread only, like the rest of the API. A run is asynchronous: POST answers 202 with the
 * run's id, GET /api/v1/bump/runs/ID answers its state and, once finished, its report.
 */
#ifndef WF_API_BUMP_H
#define WF_API_BUMP_H

#include "daemon/internal.h"

/* Handles a request whose path starts with /api/v1/bump; returns 0 when the path is not one of
 * its endpoints (the caller answers 404), else 1 with res filled. */
int wf__api_bump(wf_daemon *d, const wf_http_request *req, wf_http_response *res);

#endif
