/* forge.c - commit status states of pull request heads and the forges' status API calls. */
#include "forge.h"

#include <cjson/cJSON.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "wf.h"

#define DESCRIPTION_MAX 140

static const char *const state_names[] = {
    [WF_COMMIT_NONE] = "none",
    [WF_COMMIT_PENDING] = "pending",
    [WF_COMMIT_SUCCESS] = "success",
    [WF_COMMIT_FAILURE] = "failure",
};

const char *wf_commit_state_name(wf_commit_state s)
{
    return (unsigned)s < WF_ARRAY_SIZE(state_names) ? state_names[s] : "none";
}

wf_commit_state wf_commit_state_parse(const char *name)
{
    for (size_t i = 1; name != NULL && i < WF_ARRAY_SIZE(state_names); i++)
        if (strcmp(name, state_names[i]) == 0)
            return (wf_commit_state)i;
    return WF_COMMIT_NONE;
}

wf_commit_state wf_pr_progress_state(const wf_pr_progress *p)
{
    if (p->broken || p->failed > 0 || p->cancelled > 0)
        return WF_COMMIT_FAILURE;
    if (p->loading || p->queued > 0 || p->running > 0)
        return WF_COMMIT_PENDING;
    return WF_COMMIT_SUCCESS;
}

char *wf_pr_progress_describe(const wf_pr_progress *p)
{
    size_t total = p->queued + p->running + p->succeeded + p->failed + p->cancelled;
    size_t done = p->succeeded + p->failed + p->cancelled;
    if (p->broken)
        return wf_strdup("the recipes at this commit cannot be built; see the details");
    if (p->failed > 0)
        return wf_asprintf("%zu of %zu builds failed", p->failed, total);
    if (p->cancelled > 0)
        return wf_asprintf("%zu of %zu builds were cancelled", p->cancelled, total);
    if (p->loading)
        return wf_strdup("loading the recipes");
    if (total == 0)
        return wf_strdup("no recipe changed, or every wheel was already built");
    if (done < total)
        return wf_asprintf("%zu of %zu builds done", done, total);
    return wf_asprintf("%zu wheel%s built", total, total == 1 ? "" : "s");
}

static int sha_valid(const char *sha)
{
    size_t n = sha != NULL ? strlen(sha) : 0;
    return (n == 40 || n == 64) && strspn(sha, "0123456789abcdef") == n;
}

/* At most DESCRIPTION_MAX bytes, never splitting a UTF-8 sequence. */
static char *cut_description(const char *s)
{
    size_t n = strlen(s);
    if (n <= DESCRIPTION_MAX)
        return wf_strdup(s);
    n = DESCRIPTION_MAX;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return wf_strndup(s, n);
}

/* Percent-encodes everything but unreserved characters (GitLab's project id "a/b" -> a%2Fb). */
static char *url_encode(const char *s)
{
    wf_buf b = WF_BUF_INIT;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p) != NULL)
            wf_buf_add(&b, p, 1);
        else
            wf_buf_addf(&b, "%%%02X", *p);
    }
    wf_buf_add(&b, "", 0);
    return wf_buf_detach(&b);
}

int wf_forge_status_request(wf_forge_request *out, const char *kind, const char *api,
                            const char *repo, const char *token, const char *sha,
                            wf_commit_state state, const char *target_url, const char *description)
{
    int gitlab = kind != NULL && strcmp(kind, "gitlab") == 0;
    int github = kind != NULL && strcmp(kind, "github") == 0;
    int gitea = kind != NULL && strcmp(kind, "gitea") == 0;
    if ((!gitlab && !github && !gitea) || state == WF_COMMIT_NONE ||
        (unsigned)state >= WF_ARRAY_SIZE(state_names) || !sha_valid(sha) || api == NULL ||
        repo == NULL || token == NULL)
        return WF_EINVAL;
    wf_forge_request r = {0};
    cJSON *body = cJSON_CreateObject();
    const char *name = wf_commit_state_name(state);
    if (gitlab && state == WF_COMMIT_FAILURE)
        name = "failed";
    cJSON_AddStringToObject(body, "state", name);
    if (target_url != NULL)
        cJSON_AddStringToObject(body, "target_url", target_url);
    char *desc = cut_description(description != NULL ? description : "");
    cJSON_AddStringToObject(body, "description", desc);
    free(desc);
    cJSON_AddStringToObject(body, gitlab ? "name" : "context", "wheelfarm");
    if (gitlab) {
        char *id = url_encode(repo);
        r.url = wf_asprintf("%s/projects/%s/statuses/%s", api, id, sha);
        free(id);
        r.headers[r.n_headers++] = wf_asprintf("PRIVATE-TOKEN: %s", token);
    } else {
        r.url = wf_asprintf("%s/repos/%s/statuses/%s", api, repo, sha);
        r.headers[r.n_headers++] =
            wf_asprintf("Authorization: %s %s", github ? "Bearer" : "token", token);
    }
    r.headers[r.n_headers++] = wf_strdup("Content-Type: application/json");
    r.headers[r.n_headers++] =
        wf_strdup(github ? "Accept: application/vnd.github+json" : "Accept: application/json");
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    r.body = wf_strdup(text != NULL ? text : "{}");
    cJSON_free(text);
    *out = r;
    return 0;
}

void wf_forge_request_release(wf_forge_request *r)
{
    if (r == NULL)
        return;
    free(r->url);
    for (size_t i = 0; i < r->n_headers; i++) {
        sodium_memzero(r->headers[i], strlen(r->headers[i]));
        free(r->headers[i]);
    }
    free(r->body);
    memset(r, 0, sizeof(*r));
}
