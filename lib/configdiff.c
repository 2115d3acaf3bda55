/* configdiff.c - what a configuration reload changes: worker copies, diffs, restart-only keys. */
#include "configdiff.h"

#include <stdlib.h>
#include <string.h>

static char *dup_or_null(const char *s)
{
    return s != NULL ? wf_strdup(s) : NULL;
}

static char **dup_strings(char *const *v, size_t n)
{
    char **out = wf_calloc(n ? n : 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        out[i] = wf_strdup(v[i]);
    return out;
}

wf_worker_config *wf_worker_config_dup(const wf_worker_config *w)
{
    wf_worker_config *c = wf_calloc(1, sizeof(*c));
    c->name = dup_or_null(w->name);
    c->driver = dup_or_null(w->driver);
    c->endpoint = dup_or_null(w->endpoint);
    c->context = dup_or_null(w->context);
    c->builder = dup_or_null(w->builder);
    c->platforms = dup_strings(w->platforms, w->n_platforms);
    c->n_platforms = w->n_platforms;
    c->slots = w->slots;
    c->emulated = w->emulated;
    c->labels = dup_strings(w->labels, w->n_labels);
    c->n_labels = w->n_labels;
    c->tls.ca = dup_or_null(w->tls.ca);
    c->tls.cert = dup_or_null(w->tls.cert);
    c->tls.key = dup_or_null(w->tls.key);
    c->tls.off = w->tls.off;
    return c;
}

void wf_worker_config_free(wf_worker_config *w)
{
    if (w == NULL)
        return;
    wf_worker_config_release(w);
    free(w);
}

static int str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static int strings_eq(char *const *a, size_t na, char *const *b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return 0;
    return 1;
}

int wf_worker_config_same_target(const wf_worker_config *a, const wf_worker_config *b)
{
    return str_eq(a->name, b->name) && str_eq(a->driver, b->driver) &&
           str_eq(a->endpoint, b->endpoint) && str_eq(a->context, b->context) &&
           str_eq(a->builder, b->builder) &&
           strings_eq(a->platforms, a->n_platforms, b->platforms, b->n_platforms) &&
           a->emulated == b->emulated && str_eq(a->tls.ca, b->tls.ca) &&
           str_eq(a->tls.cert, b->tls.cert) && str_eq(a->tls.key, b->tls.key) &&
           a->tls.off == b->tls.off;
}

int wf_worker_config_equal(const wf_worker_config *a, const wf_worker_config *b)
{
    return wf_worker_config_same_target(a, b) && a->slots == b->slots &&
           strings_eq(a->labels, a->n_labels, b->labels, b->n_labels);
}

const char *wf_worker_change_name(wf_worker_change_kind k)
{
    static const char *const names[] = {"kept", "updated", "changed", "added", "removed"};
    return (unsigned)k < WF_ARRAY_SIZE(names) ? names[k] : "unknown";
}

void wf_config_diff_workers(const wf_config *before, const wf_config *after, wf_worker_change **out,
                            size_t *n_out)
{
    size_t cap = before->n_workers + after->n_workers, n = 0;
    wf_worker_change *v = cap ? wf_calloc(cap, sizeof(*v)) : NULL;
    for (size_t i = 0; i < after->n_workers; i++) {
        const wf_worker_config *a = &after->workers[i];
        const wf_worker_config *b = wf_config_worker(before, a->name);
        wf_worker_change *c = &v[n++];
        c->name = a->name;
        c->before = b;
        c->after = a;
        if (b == NULL)
            c->kind = WF_WORKER_ADDED;
        else if (!wf_worker_config_same_target(b, a))
            c->kind = WF_WORKER_CHANGED;
        else if (!wf_worker_config_equal(b, a))
            c->kind = WF_WORKER_UPDATED;
        else
            c->kind = WF_WORKER_KEPT;
    }
    for (size_t i = 0; i < before->n_workers; i++) {
        const wf_worker_config *b = &before->workers[i];
        if (wf_config_worker(after, b->name) != NULL)
            continue;
        wf_worker_change *c = &v[n++];
        c->kind = WF_WORKER_REMOVED;
        c->name = b->name;
        c->before = b;
    }
    if (n == 0) {
        free(v);
        v = NULL;
    }
    *out = v;
    *n_out = n;
}

static int images_eq(const wf_config *a, const wf_config *b)
{
    if (a->n_images != b->n_images)
        return 0;
    for (size_t i = 0; i < a->n_images; i++) {
        const wf_image_config *x = &a->images[i];
        const wf_image_config *y = wf_config_image(b, x->platform);
        if (y == NULL || !str_eq(x->image, y->image) || !str_eq(x->runtime, y->runtime) ||
            !strings_eq(x->python, x->n_python, y->python, y->n_python))
            return 0;
    }
    return 1;
}

static int recipes_git_eq(const wf_recipes_git *a, const wf_recipes_git *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return str_eq(a->url, b->url) && str_eq(a->branch, b->branch) && str_eq(a->path, b->path) &&
           a->poll_s == b->poll_s && a->pull_requests == b->pull_requests;
}

static int webhook_eq(const wf_webhook_config *a, const wf_webhook_config *b)
{
    return str_eq(a->secret_file, b->secret_file) && a->secret_len == b->secret_len &&
           (a->secret_len == 0 || memcmp(a->secret, b->secret, a->secret_len) == 0);
}

static int webhooks_eq(const wf_webhooks_config *a, const wf_webhooks_config *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return webhook_eq(&a->github, &b->github) && webhook_eq(&a->gitea, &b->gitea) &&
           webhook_eq(&a->gitlab, &b->gitlab) && a->max_body == b->max_body;
}

static int forge_eq(const wf_forge_config *a, const wf_forge_config *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return str_eq(a->kind, b->kind) && str_eq(a->api, b->api) && str_eq(a->repo, b->repo) &&
           str_eq(a->token_file, b->token_file) && str_eq(a->token, b->token) &&
           str_eq(a->public_url, b->public_url);
}

char *wf_config_restart_keys(const wf_config *before, const wf_config *after)
{
    const struct {
        const char *key;
        int same;
    } keys[] = {
        {"state_dir", str_eq(before->state_dir, after->state_dir)},
        {"listen.socket", str_eq(before->socket_path, after->socket_path)},
        {"listen.http", str_eq(before->http_addr, after->http_addr)},
        {"recipes", str_eq(before->recipes, after->recipes) &&
                        recipes_git_eq(before->recipes_git, after->recipes_git)},
        {"watch_debounce_ms", before->watch_debounce_ms == after->watch_debounce_ms},
        {"upstream_index", str_eq(before->upstream_index, after->upstream_index)},
        {"api_token_file", str_eq(before->api_token_file, after->api_token_file)},
        {"docker", str_eq(before->docker, after->docker)},
        {"lease_seconds", before->lease_s == after->lease_s},
        {"idle_timeout", before->idle_timeout_s == after->idle_timeout_s},
        {"infra_retries", before->infra_retries == after->infra_retries},
        {"retry_backoff", before->retry_backoff_s == after->retry_backoff_s},
        {"images", images_eq(before, after)},
        {"schedule.bump", str_eq(before->bump_schedule, after->bump_schedule)},
        {"bump.max_builds", before->bump_max_builds == after->bump_max_builds},
        {"webhooks", webhooks_eq(before->webhooks, after->webhooks)},
        {"forge", forge_eq(before->forge, after->forge)},
    };
    wf_buf b = WF_BUF_INIT;
    for (size_t i = 0; i < WF_ARRAY_SIZE(keys); i++) {
        if (keys[i].same)
            continue;
        if (b.len > 0)
            wf_buf_adds(&b, ", ");
        wf_buf_adds(&b, keys[i].key);
    }
    if (b.len == 0) {
        wf_buf_release(&b);
        return NULL;
    }
    return wf_buf_detach(&b);
}

int wf_config_check_worker_images(const wf_config *images, const wf_config *workers, char **errmsg)
{
    for (size_t i = 0; i < workers->n_workers; i++) {
        const wf_worker_config *w = &workers->workers[i];
        for (size_t p = 0; p < w->n_platforms; p++) {
            if (wf_config_image(images, w->platforms[p]) != NULL)
                continue;
            *errmsg = wf_asprintf("worker '%s' builds for %s, but the images in force have no "
                                  "entry for it (changing images needs a restart)",
                                  w->name, w->platforms[p]);
            return WF_EINVAL;
        }
    }
    return 0;
}
