/* webhook.c - forge webhook signature checks (libsodium) and pull/merge request event parsing. */
#include "webhook.h"
#include "wf.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#define HEX_LEN (2 * crypto_auth_hmacsha256_BYTES)

/* Strict lowercase hex: exactly 2 * n digits into n bytes. Returns 0 or WF_EINVAL. */
static int decode_hex(unsigned char *out, size_t n, const char *hex, size_t hex_len)
{
    if (hex_len != 2 * n)
        return WF_EINVAL;
    for (size_t i = 0; i < hex_len; i++) {
        char c = hex[i];
        unsigned v;
        if (c >= '0' && c <= '9')
            v = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = (unsigned)(c - 'a' + 10);
        else
            return WF_EINVAL;
        if (i % 2 == 0)
            out[i / 2] = (unsigned char)(v << 4);
        else
            out[i / 2] |= (unsigned char)v;
    }
    return 0;
}

/* HMAC-SHA256 with a key of any length (crypto_auth_hmacsha256() itself assumes 32 bytes), then
 * a constant-time compare with the hex digest [hex, hex+hex_len). */
static int verify_hmac(const void *secret, size_t secret_len, const void *body, size_t body_len,
                       const char *hex, size_t hex_len)
{
    unsigned char want[crypto_auth_hmacsha256_BYTES], got[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    int r = WF_EINVAL;
    if (decode_hex(want, sizeof(want), hex, hex_len) != 0)
        goto out;
    crypto_auth_hmacsha256_init(&st, secret, secret_len);
    crypto_auth_hmacsha256_update(&st, body, body_len);
    crypto_auth_hmacsha256_final(&st, got);
    r = crypto_verify_32(got, want) == 0 ? 0 : WF_EHASH;
out:
    sodium_memzero(&st, sizeof(st));
    sodium_memzero(got, sizeof(got));
    return r;
}

int wf_webhook_verify_github(const void *secret, size_t secret_len, const void *body,
                             size_t body_len, const char *header, size_t header_len)
{
    static const char prefix[] = "sha256=";
    const size_t plen = sizeof(prefix) - 1;
    assert(secret != NULL || secret_len == 0);
    assert(body != NULL || body_len == 0);
    if (secret_len == 0 || header == NULL || header_len != plen + HEX_LEN ||
        memcmp(header, prefix, plen) != 0)
        return WF_EINVAL;
    return verify_hmac(secret, secret_len, body, body_len, header + plen, header_len - plen);
}

int wf_webhook_verify_gitea(const void *secret, size_t secret_len, const void *body,
                            size_t body_len, const char *header, size_t header_len)
{
    assert(secret != NULL || secret_len == 0);
    assert(body != NULL || body_len == 0);
    if (secret_len == 0 || header == NULL)
        return WF_EINVAL;
    return verify_hmac(secret, secret_len, body, body_len, header, header_len);
}

int wf_webhook_verify_gitlab(const void *secret, size_t secret_len, const char *header,
                             size_t header_len)
{
    unsigned char a[crypto_generichash_BYTES], b[crypto_generichash_BYTES];
    assert(secret != NULL || secret_len == 0);
    if (secret_len == 0 || header == NULL || header_len == 0)
        return WF_EINVAL;
    crypto_generichash(a, sizeof(a), secret, secret_len, NULL, 0);
    crypto_generichash(b, sizeof(b), (const unsigned char *)header, header_len, NULL, 0);
    int r = sodium_memcmp(a, b, sizeof(a)) == 0 ? 0 : WF_EHASH;
    sodium_memzero(a, sizeof(a));
    return r;
}

void wf_webhook_pr_release(wf_webhook_pr *pr)
{
    if (pr == NULL)
        return;
    free(pr->action);
    free(pr->head_sha);
    free(pr->head_ref);
    free(pr->head_clone_url);
    free(pr->base_sha);
    free(pr->base_ref);
    memset(pr, 0, sizeof(*pr));
}

/* A parse in progress: the error buffer, and whether an error was recorded. */
typedef struct parse_ctx {
    char *err;
    size_t err_size;
    int failed;
} parse_ctx;

static void set_error(parse_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records the first error only: later ones are usually consequences of it. */
static void set_error(parse_ctx *ctx, const char *fmt, ...)
{
    if (ctx->failed)
        return;
    ctx->failed = 1;
    if (ctx->err_size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err, ctx->err_size, fmt, ap);
    va_end(ap);
}

/* Follows a dotted path ("pull_request.head.sha") from obj; NULL if any step is missing. */
static const cJSON *at(const cJSON *obj, const char *path)
{
    char key[64];
    while (obj != NULL && *path != '\0') {
        size_t n = strcspn(path, ".");
        assert(n < sizeof(key));
        memcpy(key, path, n);
        key[n] = '\0';
        obj = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
        path += n + (path[n] == '.');
    }
    return obj;
}

/* A required non-empty string at path, copied; NULL (with an error) when absent or not one. */
static char *need_string(parse_ctx *ctx, const cJSON *root, const char *path)
{
    const cJSON *v = at(root, path);
    if (!cJSON_IsString(v) || v->valuestring == NULL || v->valuestring[0] == '\0') {
        set_error(ctx, "%s string '%s'", v == NULL ? "missing" : "expected a non-empty", path);
        return NULL;
    }
    return wf_strdup(v->valuestring);
}

/* A required commit id: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits. The daemon fetches by
 * it, so anything else is refused here. */
static char *need_sha(parse_ctx *ctx, const cJSON *root, const char *path)
{
    char *s = need_string(ctx, root, path);
    if (s == NULL)
        return NULL;
    size_t n = strlen(s);
    int ok = n == 40 || n == 64;
    for (size_t i = 0; ok && i < n; i++)
        ok = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
    if (!ok) {
        set_error(ctx, "'%s' is not a commit id (40 or 64 lowercase hex digits)", path);
        free(s);
        return NULL;
    }
    return s;
}

/* A required positive integer that a double holds exactly. */
static int64_t need_number(parse_ctx *ctx, const cJSON *root, const char *path)
{
    const cJSON *v = at(root, path);
    if (!cJSON_IsNumber(v)) {
        set_error(ctx, "%s number '%s'", v == NULL ? "missing" : "expected a", path);
        return 0;
    }
    double d = v->valuedouble;
    if (!(d >= 1 && d <= 9007199254740992.0) || (double)(int64_t)d != d) {
        set_error(ctx, "'%s' must be a positive integer", path);
        return 0;
    }
    return (int64_t)d;
}

static cJSON *parse_json(parse_ctx *ctx, const char *body, size_t len, int *r)
{
    if (len > WF_WEBHOOK_MAX_BODY) {
        set_error(ctx, "event body is %zu bytes; the limit is %u", len, WF_WEBHOOK_MAX_BODY);
        *r = WF_ELIMIT;
        return NULL;
    }
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (root == NULL || !cJSON_IsObject(root)) {
        set_error(ctx, "event body is not a JSON object");
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

static wf_webhook_pr_event github_event(const char *action, int merged)
{
    if (strcmp(action, "opened") == 0 || strcmp(action, "reopened") == 0)
        return WF_WEBHOOK_PR_OPENED;
    if (strcmp(action, "synchronize") == 0 || strcmp(action, "synchronized") == 0)
        return WF_WEBHOOK_PR_UPDATED;
    if (strcmp(action, "closed") == 0)
        return merged ? WF_WEBHOOK_PR_MERGED : WF_WEBHOOK_PR_CLOSED;
    return WF_WEBHOOK_PR_OTHER;
}

int wf_webhook_parse_github_pr(wf_webhook_pr *out, const char *body, size_t len, char *err,
                               size_t err_size)
{
    assert(out != NULL && (body != NULL || len == 0));
    parse_ctx ctx = {err, err_size, 0};
    wf_webhook_pr pr;
    memset(&pr, 0, sizeof(pr));
    memset(out, 0, sizeof(*out));
    int r = WF_EINVAL;
    cJSON *root = parse_json(&ctx, body, len, &r);
    if (root == NULL)
        goto out;
    pr.action = need_string(&ctx, root, "action");
    pr.number = need_number(&ctx, root, "number");
    pr.head_sha = need_sha(&ctx, root, "pull_request.head.sha");
    pr.head_ref = need_string(&ctx, root, "pull_request.head.ref");
    pr.base_sha = need_sha(&ctx, root, "pull_request.base.sha");
    pr.base_ref = need_string(&ctx, root, "pull_request.base.ref");
    const cJSON *repo = at(root, "pull_request.head.repo");
    if (repo == NULL)
        set_error(&ctx, "missing object 'pull_request.head.repo'");
    else if (!cJSON_IsNull(repo))
        pr.head_clone_url = need_string(&ctx, root, "pull_request.head.repo.clone_url");
    const cJSON *merged = at(root, "pull_request.merged");
    if (!cJSON_IsBool(merged))
        set_error(&ctx, "%s boolean 'pull_request.merged'", merged ? "expected a" : "missing");
    if (ctx.failed)
        goto out;
    pr.merged = cJSON_IsTrue(merged);
    pr.event = github_event(pr.action, pr.merged);
    *out = pr;
    memset(&pr, 0, sizeof(pr));
    r = 0;
out:
    wf_webhook_pr_release(&pr);
    cJSON_Delete(root);
    return r;
}

/* GitLab's action names; "update" is a new head only when it comes with "oldrev". */
static wf_webhook_pr_event gitlab_event(const char *action, int has_oldrev)
{
    if (strcmp(action, "open") == 0 || strcmp(action, "reopen") == 0)
        return WF_WEBHOOK_PR_OPENED;
    if (strcmp(action, "update") == 0)
        return has_oldrev ? WF_WEBHOOK_PR_UPDATED : WF_WEBHOOK_PR_OTHER;
    if (strcmp(action, "close") == 0)
        return WF_WEBHOOK_PR_CLOSED;
    if (strcmp(action, "merge") == 0)
        return WF_WEBHOOK_PR_MERGED;
    return WF_WEBHOOK_PR_OTHER;
}

int wf_webhook_parse_gitlab_mr(wf_webhook_pr *out, const char *body, size_t len, char *err,
                               size_t err_size)
{
    assert(out != NULL && (body != NULL || len == 0));
    parse_ctx ctx = {err, err_size, 0};
    wf_webhook_pr pr;
    memset(&pr, 0, sizeof(pr));
    memset(out, 0, sizeof(*out));
    int r = WF_EINVAL;
    char *state = NULL;
    cJSON *root = parse_json(&ctx, body, len, &r);
    if (root == NULL)
        goto out;
    const cJSON *kind = at(root, "object_kind");
    if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "merge_request") != 0) {
        set_error(&ctx, "not a merge request event ('object_kind' is not \"merge_request\")");
        goto out;
    }
    pr.action = need_string(&ctx, root, "object_attributes.action");
    pr.number = need_number(&ctx, root, "object_attributes.iid");
    pr.head_sha = need_sha(&ctx, root, "object_attributes.last_commit.id");
    pr.head_ref = need_string(&ctx, root, "object_attributes.source_branch");
    pr.head_clone_url = need_string(&ctx, root, "object_attributes.source.git_http_url");
    pr.base_ref = need_string(&ctx, root, "object_attributes.target_branch");
    state = need_string(&ctx, root, "object_attributes.state");
    if (ctx.failed)
        goto out;
    pr.merged = strcmp(state, "merged") == 0;
    pr.event = gitlab_event(pr.action, at(root, "object_attributes.oldrev") != NULL);
    *out = pr;
    memset(&pr, 0, sizeof(pr));
    r = 0;
out:
    free(state);
    wf_webhook_pr_release(&pr);
    cJSON_Delete(root);
    return r;
}
