/* forge.h - commit statuses of pull request heads: the state a head's builds are in, and the
 * HTTP request that reports it to GitHub, Gitea/Forgejo or GitLab.
 *
 * Pure functions, no I/O; the daemon (daemon/prs.c) sends the requests with its fetcher.
 * Thread-safe.
 */
#ifndef WF_FORGE_H
#define WF_FORGE_H

#include <stddef.h>

typedef enum {
    WF_COMMIT_NONE = 0, /* nothing reported yet */
    WF_COMMIT_PENDING,  /* the head's recipes are loading, or builds are queued or running */
    WF_COMMIT_SUCCESS,  /* every build of the head succeeded (or nothing needed building) */
    WF_COMMIT_FAILURE,  /* a build failed or was cancelled, or the head's recipes are broken */
} wf_commit_state;

/* "pending", "success", "failure" ("none" for WF_COMMIT_NONE); static. */
const char *wf_commit_state_name(wf_commit_state s);
/* The inverse of wf_commit_state_name; WF_COMMIT_NONE for NULL and unknown names. */
wf_commit_state wf_commit_state_parse(const char *name);

/* Where one pull request head stands. */
typedef struct wf_pr_progress {
    int loading; /* the head is being fetched and its recipes parsed */
    int broken;  /* the head could not be built: it could not be fetched, or its recipes fail */
    size_t queued, running, succeeded, failed, cancelled; /* the head's jobs by state */
} wf_pr_progress;

/* The status a head's progress reports:
 *   broken, or any job failed or cancelled      -> FAILURE (a failure is final for the head)
 *   else loading, or any job queued or running  -> PENDING
 *   else                                        -> SUCCESS (also when no job was needed) */
wf_commit_state wf_pr_progress_state(const wf_pr_progress *p);

/* One line for the forge ("2 of 3 builds done", "1 of 3 builds failed", "3 wheels built",
 * "no recipe changed", "loading the recipes"); caller frees. */
char *wf_pr_progress_describe(const wf_pr_progress *p);

/* The commit status call. url and body are heap strings; headers are heap "Name: value" lines
 * (the first one carries the token). wf_forge_request_release() wipes and frees them. */
typedef struct wf_forge_request {
    char *url;
    char *headers[4];
    size_t n_headers;
    char *body;
} wf_forge_request;

/* Builds the request that sets the status of commit `sha` in `repo` ("owner/name"; GitLab: the
 * project path or id) on the forge `kind` ("github", "gitea" or "gitlab") whose API is at `api`
 * (no trailing slash):
 *   github: POST {api}/repos/{repo}/statuses/{sha}, "Authorization: Bearer {token}",
 *           {"state", "target_url", "description", "context": "wheelfarm"}
 *   gitea:  the same path and body, "Authorization: token {token}"
 *   gitlab: POST {api}/projects/{repo, URL-encoded}/statuses/{sha}, "PRIVATE-TOKEN: {token}",
 *           {"state": pending|success|failed, "target_url", "description", "name": "wheelfarm"}
 * target_url may be NULL (left out). The description is cut to 140 bytes on a UTF-8 boundary
 * (GitHub's limit). Returns 0, or WF_EINVAL for an unknown kind, a state of NONE or a sha that is
 * not 40 or 64 hex digits. */
int wf_forge_status_request(wf_forge_request *out, const char *kind, const char *api,
                            const char *repo, const char *token, const char *sha,
                            wf_commit_state state, const char *target_url, const char *description);
void wf_forge_request_release(wf_forge_request *r);

#endif
