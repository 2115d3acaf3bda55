/* hooks.c - the forges' webhook endpoints: POST /hooks/github, /hooks/gitea, /hooks/gitlab.
 *
 * Order of checks, so an unauthenticated sender learns nothing and creates nothing: the forge
 * must be configured (else 404), the method POST (405), the signature (GitHub, Gitea/Forgejo:
 * HMAC-SHA256 of the raw body) or token (GitLab) must verify in constant time (401). Then an
 * authentic delivery whose id was seen before is a replay (200 "duplicate delivery"); events
 * other than pull requests are acknowledged and ignored (202); a pull request event is handed to
 * prs.c (202) and its delivery id recorded. Delivery ids are kept for 30 days, GitHub's
 * redelivery window. Everything runs on the loop; the builds happen later.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/api_json.h"
#include "daemon/internal.h"
#include "lib/log.h"
#include "lib/webhook.h"

#define DELIVERY_KEEP_S (30 * 24 * 3600)
#define DELIVERY_ID_MAX 200

typedef enum { FORGE_GITHUB, FORGE_GITEA, FORGE_GITLAB } forge_kind;

static const char *const forge_names[] = {"github", "gitea", "gitlab"};

static void reply_status(wf_http_response *res, int status, const char *what, const char *message)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", what);
    if (message != NULL)
        cJSON_AddStringToObject(o, "message", message);
    wf_api_reply(res, status, o);
}

/* The first of the named headers that is present. */
static const char *header_any(const wf_http_request *req, const char *const *names, size_t *len)
{
    for (; *names != NULL; names++) {
        const char *v = wf_http_request_header(req, *names, len);
        if (v != NULL)
            return v;
    }
    *len = 0;
    return NULL;
}

/* 0, or the 401 reason. Each forge's own header, verified against its secret. */
static int verify(const wf_webhook_config *w, forge_kind kind, const wf_http_request *req)
{
    static const char *const github_sig[] = {"X-Hub-Signature-256", NULL};
    static const char *const gitea_sig[] = {"X-Gitea-Signature", "X-Forgejo-Signature", NULL};
    static const char *const gitlab_tok[] = {"X-Gitlab-Token", NULL};
    size_t len = 0;
    const char *body = req->body != NULL ? req->body : "";
    switch (kind) {
    case FORGE_GITHUB: {
        const char *sig = header_any(req, github_sig, &len);
        return wf_webhook_verify_github(w->secret, w->secret_len, body, req->body_len, sig, len);
    }
    case FORGE_GITEA: {
        const char *sig = header_any(req, gitea_sig, &len);
        return wf_webhook_verify_gitea(w->secret, w->secret_len, body, req->body_len, sig, len);
    }
    case FORGE_GITLAB: {
        const char *tok = header_any(req, gitlab_tok, &len);
        return wf_webhook_verify_gitlab(w->secret, w->secret_len, tok, len);
    }
    }
    return WF_EINVAL;
}

static int is_pr_event(forge_kind kind, const char *event)
{
    if (event == NULL)
        return 0;
    if (kind == FORGE_GITLAB)
        return strcmp(event, "Merge Request Hook") == 0;
    return strcmp(event, "pull_request") == 0;
}

/* Maps the parsed event to prs.c's action names; NULL for events that build nothing. */
static const char *pr_action(const wf_webhook_pr *pr)
{
    switch (pr->event) {
    case WF_WEBHOOK_PR_OPENED: return strncmp(pr->action, "reopen", 6) == 0 ? "reopened" : "opened";
    case WF_WEBHOOK_PR_UPDATED: return "synchronize";
    case WF_WEBHOOK_PR_CLOSED:
    case WF_WEBHOOK_PR_MERGED: return "closed";
    case WF_WEBHOOK_PR_OTHER: return NULL;
    }
    return NULL;
}

static int delivery_id_ok(const char *id, size_t len)
{
    if (len == 0 || len > DELIVERY_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)id[i] <= 0x20 || (unsigned char)id[i] >= 0x7f)
            return 0;
    return 1;
}

static void record_delivery(wf_daemon *d, const char *forge, const char *id)
{
    int is_new = 0;
    int64_t now = wf_time_s();
    if (id == NULL)
        return;
    if (wf_store_delivery_add(d->store, forge, id, now, &is_new) != 0)
        return;
    wf_store_deliveries_prune(d->store, now - DELIVERY_KEEP_S, NULL);
}

/* Parses and dispatches an authentic, new pull request delivery. */
static void handle_pr(wf_daemon *d, forge_kind kind, const char *delivery,
                      const wf_http_request *req, wf_http_response *res)
{
    const char *forge = forge_names[kind];
    wf_webhook_pr pr = {0};
    char err[256] = "";
    const char *body = req->body != NULL ? req->body : "";
    int rc = kind == FORGE_GITLAB
                 ? wf_webhook_parse_gitlab_mr(&pr, body, req->body_len, err, sizeof(err))
                 : wf_webhook_parse_github_pr(&pr, body, req->body_len, err, sizeof(err));
    if (rc != 0) {
        wf_log_warn("webhook %s: delivery %s is not a usable pull request event: %s", forge,
                    delivery ? delivery : "-", err);
        wf_api_reply_error(res, 400, err,
                           "the body must be the forge's pull request event as sent");
        return;
    }
    record_delivery(d, forge, delivery);
    const char *action = pr_action(&pr);
    if (action == NULL) {
        char *msg = wf_asprintf("pull request action '%s' builds nothing", pr.action);
        reply_status(res, 202, "ignored", msg);
        free(msg);
        wf_webhook_pr_release(&pr);
        return;
    }
    const wf_pr_event ev = {action,      pr.number, pr.head_sha, pr.base_sha,
                            pr.base_ref, pr.merged, delivery};
    wf_log_info("webhook %s: delivery %s: pull request #%lld %s at %.12s", forge,
                delivery ? delivery : "-", (long long)pr.number, pr.action, pr.head_sha);
    wf__pr_event(d, &ev);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "accepted");
    cJSON_AddNumberToObject(o, "pr", (double)pr.number);
    cJSON_AddStringToObject(o, "action", action);
    cJSON_AddStringToObject(o, "head_sha", pr.head_sha);
    char *index = wf_asprintf("/pr/%lld/simple/", (long long)pr.number);
    cJSON_AddStringToObject(o, "index", index);
    free(index);
    wf_api_reply(res, 202, o);
    wf_webhook_pr_release(&pr);
}

static const wf_webhook_config *forge_config(const wf_daemon *d, forge_kind kind)
{
    const wf_webhooks_config *w = d->cfg->webhooks;
    if (w == NULL)
        return NULL;
    const wf_webhook_config *c = kind == FORGE_GITHUB  ? &w->github
                                 : kind == FORGE_GITEA ? &w->gitea
                                                       : &w->gitlab;
    return c->secret != NULL ? c : NULL;
}

static int forge_from_path(const wf_http_request *req, forge_kind *out)
{
    static const char prefix[] = "/hooks/";
    size_t pl = sizeof(prefix) - 1;
    if (req->path_len <= pl || memcmp(req->path, prefix, pl) != 0)
        return -1;
    const char *name = req->path + pl;
    size_t len = req->path_len - pl;
    for (size_t i = 0; i < WF_ARRAY_SIZE(forge_names); i++) {
        if (len == strlen(forge_names[i]) && memcmp(name, forge_names[i], len) == 0) {
            *out = (forge_kind)i;
            return 0;
        }
    }
    return -1;
}

void wf__hooks_handle(const wf_http_request *req, wf_http_response *res, void *ctx)
{
    static const char *const event_headers[][4] = {
        {"X-GitHub-Event", NULL},
        {"X-Gitea-Event", "X-Forgejo-Event", "X-GitHub-Event", NULL},
        {"X-Gitlab-Event", NULL},
    };
    static const char *const delivery_headers[][4] = {
        {"X-GitHub-Delivery", NULL},
        {"X-Gitea-Delivery", "X-Forgejo-Delivery", "X-GitHub-Delivery", NULL},
        {"Idempotency-Key", "X-Gitlab-Event-UUID", NULL},
    };
    wf_daemon *d = ctx;
    forge_kind kind;
    const wf_webhook_config *w = NULL;
    if (forge_from_path(req, &kind) != 0 || (w = forge_config(d, kind)) == NULL) {
        wf_api_reply_error(
            res, 404, "no webhook endpoint here",
            "the endpoints are /hooks/github, /hooks/gitea and /hooks/gitlab, for the "
            "forges configured under webhooks in the daemon's config");
        return;
    }
    const char *forge = forge_names[kind];
    if (req->method_len != 4 || memcmp(req->method, "POST", 4) != 0) {
        wf_http_response_header(res, "Allow", "POST");
        wf_api_reply_error(res, 405, "webhooks are POSTed", NULL);
        return;
    }
    int rc = verify(w, kind, req);
    if (rc != 0) {
        const char *why = kind == FORGE_GITLAB
                              ? (rc == WF_EHASH ? "the token does not match" : "missing token")
                              : (rc == WF_EHASH ? "the signature does not match"
                                                : "missing or malformed signature");
        wf_log_warn("webhook %s: delivery rejected: %s", forge, why);
        wf_api_reply_error(res, 401, why,
                           kind == FORGE_GITLAB
                               ? "set the webhook's secret token to the content of "
                                 "webhooks.gitlab.token_file"
                               : "set the webhook's secret to the content of the "
                                 "configured secret_file");
        return;
    }
    if (d->state != WF_DAEMON_RUNNING) {
        wf_api_reply_error(res, 503, "the daemon is shutting down",
                           "redeliver once it has restarted");
        return;
    }
    size_t len = 0;
    const char *event = header_any(req, event_headers[kind], &len);
    const char *delivery = header_any(req, delivery_headers[kind], &len);
    if (delivery != NULL && !delivery_id_ok(delivery, len)) {
        wf_api_reply_error(res, 400, "malformed delivery id", "at most 200 printable characters");
        return;
    }
    int seen = 0;
    if (delivery != NULL && wf_store_delivery_seen(d->store, forge, delivery, &seen) != 0) {
        wf_api_reply_error(res, 500, "cannot read the state database", "see the daemon's log");
        return;
    }
    if (seen) {
        wf_log_info("webhook %s: delivery %s was seen before; nothing to do", forge, delivery);
        reply_status(res, 200, "duplicate delivery", delivery);
        return;
    }
    if (!is_pr_event(kind, event)) {
        record_delivery(d, forge, delivery);
        char *msg = wf_asprintf("event '%s' builds nothing; only pull request events do",
                                event != NULL ? event : "(none)");
        reply_status(res, 202, event != NULL && strcmp(event, "ping") == 0 ? "pong" : "ignored",
                     msg);
        free(msg);
        return;
    }
    handle_pr(d, kind, delivery, req, res);
}
