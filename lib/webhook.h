/* webhook.h - forge webhooks: signature checks (GitHub, Gitea/Forgejo, GitLab) and the pull
 * request / merge request event payloads.
 *
 * Verification results: 0 means authentic; WF_EINVAL means the header is missing or malformed
 * (or the secret is empty, which never authenticates anything); WF_EHASH means a well-formed
 * signature or token that does not match. Callers answer 401 to both and log which one it was.
 * Comparisons run in constant time. Header values are taken as (ptr, len) exactly as received;
 * ptr == NULL means the header was absent. Hex digests must be lowercase, as both GitHub and
 * Gitea send them: an uppercase digit is malformed (WF_EINVAL), so one byte string has exactly
 * one accepted spelling.
 *
 * libsodium must have been initialized (wf_hash_init()) before the verify functions run; they
 * are thread-safe and keep no state. The parsers are pure functions of (ptr, len).
 */
#ifndef WF_WEBHOOK_H
#define WF_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

/* Largest event body the parsers accept (GitHub caps deliveries at 25 MB; PR events are far
 * smaller). Callers should cap the HTTP body at this size too. */
#define WF_WEBHOOK_MAX_BODY (4u * 1024 * 1024)

/* GitHub: "X-Hub-Signature-256: sha256=<64 lowercase hex>", the HMAC-SHA256 of the raw body
 * keyed with the secret (any length). */
int wf_webhook_verify_github(const void *secret, size_t secret_len, const void *body,
                             size_t body_len, const char *header, size_t header_len);

/* Gitea and Forgejo: "X-Gitea-Signature: <64 lowercase hex>" (the same HMAC, no prefix). */
int wf_webhook_verify_gitea(const void *secret, size_t secret_len, const void *body,
                            size_t body_len, const char *header, size_t header_len);

/* GitLab: "X-Gitlab-Token: <secret>" sent in clear. Both sides are hashed (BLAKE2b) before a
 * constant-time compare, so neither the content nor the length of the secret leaks. */
int wf_webhook_verify_gitlab(const void *secret, size_t secret_len, const char *header,
                             size_t header_len);

/* What a pull request event asks for, normalized across forges. */
typedef enum {
    WF_WEBHOOK_PR_OTHER = 0, /* labelled, edited, approved, ...: nothing to build */
    WF_WEBHOOK_PR_OPENED,    /* opened, reopened (GitLab: open, reopen) */
    WF_WEBHOOK_PR_UPDATED,   /* new head commit: synchronize / synchronized (GitLab: update
                              * with a new last_commit) */
    WF_WEBHOOK_PR_CLOSED,    /* closed without merging (GitLab: close) */
    WF_WEBHOOK_PR_MERGED,    /* closed by merging (GitLab: merge) */
} wf_webhook_pr_event;

/* A parsed pull request (GitHub, Gitea) or merge request (GitLab) event. All strings are heap
 * copies owned by the struct; free them with wf_webhook_pr_release(). */
typedef struct wf_webhook_pr {
    wf_webhook_pr_event event;
    char *action;         /* as sent: "synchronize", "update", ... */
    int64_t number;       /* PR number (GitLab: the merge request's iid), >= 1 */
    char *head_sha;       /* 40 or 64 lowercase hex */
    char *head_ref;       /* source branch */
    char *head_clone_url; /* clone URL of the head repository; NULL when the forge sent none
                           * (GitHub sends head.repo = null once a fork is deleted) */
    char *base_sha;       /* 40 or 64 lowercase hex; NULL for GitLab, which does not send it */
    char *base_ref;       /* target branch */
    int merged;           /* 1 if the PR has been merged */
} wf_webhook_pr;

/* Parses a GitHub or Gitea/Forgejo "pull_request" event body (the two share the shape: action,
 * number, pull_request.{head,base}.{sha,ref}, pull_request.head.repo.clone_url,
 * pull_request.merged). On success returns 0 and fills *out. On failure returns WF_EINVAL (or
 * WF_ELIMIT for a body over WF_WEBHOOK_MAX_BODY), leaves *out zeroed and, when err_size > 0,
 * writes a message naming the missing or bad field ("missing string 'pull_request.head.sha'")
 * into err. */
int wf_webhook_parse_github_pr(wf_webhook_pr *out, const char *body, size_t len, char *err,
                               size_t err_size);

/* Parses a GitLab "Merge Request Hook" body: object_attributes.{iid, action, state,
 * last_commit.id, source_branch, target_branch, source.git_http_url}. Same contract as
 * wf_webhook_parse_github_pr(); base_sha is NULL. */
int wf_webhook_parse_gitlab_mr(wf_webhook_pr *out, const char *body, size_t len, char *err,
                               size_t err_size);

/* Frees the strings of *pr and zeroes it. Accepts NULL and a zeroed struct. */
void wf_webhook_pr_release(wf_webhook_pr *pr);

#endif
