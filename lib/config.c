/* config.c - the daemon's YAML config file: defaults, validation, path resolution. */
#include "config.h"

#include <assert.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "log.h"
#include "webhook.h"
#include "yamldoc.h"

const char wf_config_defaults[] =
    "# wheelfarmd's built-in configuration, used when it runs without --config.\n"
    "state_dir: ./var\n"
    "# listen.socket defaults to <state_dir>/wheelfarm.sock, i.e. ./var/wheelfarm.sock here\n"
    "listen: {http: \"127.0.0.1:8780\"}\n"
    "recipes: ./recipes\n"
    "# a change under the recipes path is loaded this long after its last file event\n"
    "watch_debounce_ms: 300\n"
    "upstream_index: \"\"\n"
    "api_token_file: \"\"\n"
    "docker: \"\"\n"
    "log_level: info\n"
    "shutdown_grace: 30\n"
    "# a running attempt's lease (renewed while its build runs), the log-idle timeout of recipes\n"
    "# that set none, and how infrastructure failures are retried (10 s, 30 s, 90 s, ...)\n"
    "lease_seconds: 60\n"
    "idle_timeout: 1200\n"
    "infra_retries: 3\n"
    "retry_backoff: 10\n"
    "# builder images, the runtime images tests run in, and the interpreters both have\n"
    "# (scripts/bootstrap-images builds them; see dockerfiles/README.md)\n"
    "images:\n"
    "  linux/amd64: {image: \"wheelfarm/builder:bookworm-amd64\",\n"
    "                runtime: \"wheelfarm/runtime:bookworm-amd64\", python: [cp311, cp313]}\n"
    "  linux/arm64: {image: \"wheelfarm/builder:bookworm-arm64\",\n"
    "                runtime: \"wheelfarm/runtime:bookworm-arm64\", python: [cp311, cp313]}\n"
    "workers:\n"
    "  - {name: local, driver: docker, endpoint: \"unix:///var/run/docker.sock\",\n"
    "     platforms: [linux/amd64], slots: 2, emulated: false}\n"
    "# version bumps of recipes with 'track:': when (cron, UTC; \"\" = only on request) and\n"
    "# how many new versions one run may queue\n"
    "schedule: {bump: \"0 3 * * *\"}\n"
    "bump: {max_builds: 10}\n"
    "# replacements for pinned source files missing from the source cache, each\n"
    "# {for: <sha256 a recipe pins>, use: <sha256 of a cached file>, reason: \"why\"}\n"
    "substitutes: []\n";

#define DEFAULTS_NAME "<defaults>"

static const char *const config_keys[] = {
    "state_dir",
    "listen",
    "recipes",
    "watch_debounce_ms",
    "upstream_index",
    "api_token_file",
    "docker",
    "log_level",
    "shutdown_grace",
    "lease_seconds",
    "idle_timeout",
    "infra_retries",
    "retry_backoff",
    "images",
    "workers",
    "schedule",
    "bump",
    "webhooks",
    "forge",
    "substitutes",
    NULL,
};
static const char *const listen_keys[] = {"socket", "http", NULL};
static const char *const image_keys[] = {"image", "runtime", "python", NULL};
static const char *const worker_keys[] = {
    "name",  "driver",   "endpoint", "context", "builder", "platforms",
    "slots", "emulated", "labels",   "tls",     NULL,
};

/* Bounds on a worker's labels: they are shown in tables, not a data store. */
#define LABELS_MAX 32
#define LABEL_KEY_MAX 63
#define LABEL_VALUE_MAX 128
static const char *const platform_keys[] = {"linux/amd64", "linux/arm64", NULL};
static const char *const recipes_git_keys[] = {"git",  "branch",        "path",
                                               "poll", "pull_requests", NULL};
static const char *const webhooks_keys[] = {"github", "gitea", "gitlab", "max_body", NULL};
static const char *const forge_keys[] = {"kind", "api", "repo", "token_file", "public_url", NULL};

/* Secret and token files are small; anything bigger is not a secret. */
#define SECRET_FILE_MAX 4096
static const char *const substitute_keys[] = {"for", "use", "reason", NULL};

/* The user's document and the parsed defaults: a key absent from the first is read from the
 * second, so the defaults are written once, in YAML. */
typedef struct loader {
    wf_yamldoc_ctx ctx;
    const wf_yamldoc_node *user;     /* root mapping of the user's file, or NULL */
    const wf_yamldoc_node *defaults; /* root mapping of wf_config_defaults */
    wf_config *c;
} loader;

void wf_worker_config_release(wf_worker_config *w)
{
    if (w == NULL)
        return;
    free(w->name);
    free(w->driver);
    free(w->endpoint);
    free(w->context);
    free(w->builder);
    wf_yamldoc_strings_free(w->platforms, w->n_platforms);
    free(w->tls.ca);
    free(w->tls.cert);
    free(w->tls.key);
    wf_yamldoc_strings_free(w->labels, w->n_labels);
    memset(w, 0, sizeof(*w));
}

void wf_config_apply_environment(wf_config *c)
{
    const char *up = getenv("WHEELFARM_UPSTREAM_INDEX");
    if (c->upstream_index != NULL && c->upstream_index[0] == '\0' && up != NULL && up[0] != '\0') {
        free(c->upstream_index);
        c->upstream_index = wf_strdup(up);
    }
}

static void webhook_release(wf_webhook_config *w)
{
    free(w->secret_file);
    if (w->secret != NULL)
        sodium_memzero(w->secret, w->secret_len);
    free(w->secret);
}

static void forge_free(wf_forge_config *f)
{
    if (f == NULL)
        return;
    free(f->kind);
    free(f->api);
    free(f->repo);
    free(f->token_file);
    if (f->token != NULL)
        sodium_memzero(f->token, strlen(f->token));
    free(f->token);
    free(f->public_url);
    free(f);
}

static void recipes_git_free(wf_recipes_git *g)
{
    if (g == NULL)
        return;
    free(g->url);
    free(g->branch);
    free(g->path);
    free(g);
}

void wf_config_free(wf_config *c)
{
    if (c == NULL)
        return;
    recipes_git_free(c->recipes_git);
    if (c->webhooks != NULL) {
        webhook_release(&c->webhooks->github);
        webhook_release(&c->webhooks->gitea);
        webhook_release(&c->webhooks->gitlab);
        free(c->webhooks);
    }
    forge_free(c->forge);
    free(c->file);
    free(c->state_dir);
    free(c->socket_path);
    free(c->http_addr);
    free(c->recipes);
    free(c->upstream_index);
    free(c->api_token_file);
    free(c->docker);
    free(c->log_level);
    for (size_t i = 0; i < c->n_images; i++) {
        free(c->images[i].platform);
        free(c->images[i].image);
        free(c->images[i].runtime);
        wf_yamldoc_strings_free(c->images[i].python, c->images[i].n_python);
    }
    free(c->images);
    for (size_t i = 0; i < c->n_workers; i++)
        wf_worker_config_release(&c->workers[i]);
    free(c->workers);
    free(c->bump_schedule);
    for (size_t i = 0; i < c->n_substitutes; i++) {
        free(c->substitutes[i].pinned);
        free(c->substitutes[i].use);
        free(c->substitutes[i].reason);
        free(c->substitutes[i].where);
    }
    free(c->substitutes);
    free(c);
}

const wf_image_config *wf_config_image(const wf_config *c, const char *platform)
{
    for (size_t i = 0; i < c->n_images; i++) {
        if (strcmp(c->images[i].platform, platform) == 0)
            return &c->images[i];
    }
    return NULL;
}

const wf_worker_config *wf_config_worker(const wf_config *c, const char *name)
{
    for (size_t i = 0; i < c->n_workers; i++) {
        if (strcmp(c->workers[i].name, name) == 0)
            return &c->workers[i];
    }
    return NULL;
}

const wf_substitute_config *wf_config_substitute(const wf_config *c, const char *pinned)
{
    for (size_t i = 0; pinned != NULL && i < c->n_substitutes; i++) {
        if (strcmp(c->substitutes[i].pinned, pinned) == 0)
            return &c->substitutes[i];
    }
    return NULL;
}

/* The user's value for a top-level key, else the default's. */
static const wf_yamldoc_node *pick(const loader *l, const char *key)
{
    const wf_yamldoc_node *v = wf_yamldoc_get(l->user, key);
    return v != NULL ? v : wf_yamldoc_get(l->defaults, key);
}

static void read_path(loader *l, char **dst, const wf_yamldoc_node *n, const char *what)
{
    char *s;

    if (wf_yamldoc_read_string(&l->ctx, &s, n, what) != 0)
        return;
    if (s[0] == '\0')
        wf_yamldoc_error(&l->ctx, n, "'%s' must not be empty", what);
    else
        *dst = wf_yamldoc_path(l->ctx.file, s);
    free(s);
}

/* "host:port" with a decimal port 0..65535; IPv6 hosts in brackets. */
static int http_addr_valid(const char *s)
{
    const char *colon = strrchr(s, ':');
    int64_t port;
    size_t host_len;

    if (colon == NULL || colon == s)
        return 0;
    host_len = (size_t)(colon - s);
    if (wf_parse_i64(colon + 1, strlen(colon + 1), &port) != 0 || port < 0 || port > 65535 ||
        colon[1] == '+' || colon[1] == '-')
        return 0;
    if (s[0] == '[')
        return host_len > 2 && s[host_len - 1] == ']';
    return memchr(s, ':', host_len) == NULL && memchr(s, ' ', host_len) == NULL;
}

static void read_listen(loader *l, const wf_yamldoc_node *n)
{
    const wf_yamldoc_node *v;
    wf_config *c = l->c;

    if (n->kind != WF_YAMLDOC_MAPPING) {
        wf_yamldoc_error(&l->ctx, n, "'listen': expected a mapping {socket, http}, got %s",
                         wf_yamldoc_describe(n));
        return;
    }
    wf_yamldoc_check_keys(&l->ctx, n, listen_keys);
    if ((v = wf_yamldoc_get(n, "socket")) != NULL)
        read_path(l, &c->socket_path, v, "socket");
    v = wf_yamldoc_get(n, "http");
    if (v != NULL && wf_yamldoc_read_string(&l->ctx, &c->http_addr, v, "http") == 0 &&
        c->http_addr[0] != '\0' && !http_addr_valid(c->http_addr))
        wf_yamldoc_error(&l->ctx, v,
                         "'http': expected \"host:port\" such as \"127.0.0.1:8780\" (port 0 picks "
                         "a free one; \"\" disables TCP), got '%s'",
                         c->http_addr);
}

static void read_upstream(loader *l, const wf_yamldoc_node *n)
{
    char *s;

    if (wf_yamldoc_read_string(&l->ctx, &s, n, "upstream_index") != 0)
        return;
    if (s[0] != '\0' && strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0)
        wf_yamldoc_error(&l->ctx, n,
                         "'upstream_index': expected an http:// or https:// URL or \"\", got "
                         "'%s'",
                         s);
    l->c->upstream_index = s;
}

static void read_log_level(loader *l, const wf_yamldoc_node *n)
{
    wf_log_level level;

    if (wf_yamldoc_read_string(&l->ctx, &l->c->log_level, n, "log_level") != 0)
        return;
    if (wf_log_parse_level(l->c->log_level, &level) != 0)
        wf_yamldoc_error(&l->ctx, n, "invalid log_level '%s' (allowed: error, warn, info, debug)",
                         l->c->log_level);
}

static void read_image_mapping(loader *l, wf_image_config *img, const wf_yamldoc_node *m)
{
    const wf_yamldoc_node *v;

    wf_yamldoc_check_keys(&l->ctx, m, image_keys);
    if ((v = wf_yamldoc_require(&l->ctx, m, "image")) != NULL)
        wf_yamldoc_read_string(&l->ctx, &img->image, v, "image");
    if ((v = wf_yamldoc_get(m, "runtime")) != NULL &&
        wf_yamldoc_read_string(&l->ctx, &img->runtime, v, "runtime") == 0 &&
        img->runtime[0] == '\0')
        wf_yamldoc_error(&l->ctx, v,
                         "'%s': the runtime image name must not be empty (leave the "
                         "key out to test in the builder image)",
                         img->platform);
    if ((v = wf_yamldoc_get(m, "python")) != NULL)
        wf_yamldoc_read_set(&l->ctx, &img->python, &img->n_python, v, "python", "python tag",
                            wf_recipe_python_valid, WF_RECIPE_PYTHON_HINT);
}

/* One "platform: image" or "platform: {image, python}" entry; the platform key is checked by
 * wf_yamldoc_check_keys() on the images mapping. */
static void read_image(loader *l, wf_image_config *img, const wf_yamldoc_pair *p)
{
    const wf_yamldoc_node *v = p->value;

    img->platform = wf_strdup(p->key->value);
    if (v->kind == WF_YAMLDOC_MAPPING)
        read_image_mapping(l, img, v);
    else if (v->kind == WF_YAMLDOC_SCALAR && !wf_yamldoc_is_null(v))
        img->image = wf_strdup(v->value);
    else
        wf_yamldoc_error(
            &l->ctx, v,
            "'%s': expected an image name or a mapping {image, runtime, python}, got %s",
            img->platform, wf_yamldoc_describe(v));
    if (img->image != NULL && img->image[0] == '\0')
        wf_yamldoc_error(&l->ctx, v, "'%s': the image name must not be empty", img->platform);
    if (img->python == NULL) {
        img->python = wf_calloc(1, sizeof(char *));
        img->python[0] = wf_strdup("cp311");
        img->n_python = 1;
    }
}

static void read_images(loader *l, const wf_yamldoc_node *n)
{
    wf_config *c = l->c;

    if (n->kind != WF_YAMLDOC_MAPPING) {
        wf_yamldoc_error(&l->ctx, n, "'images': expected a mapping of platform to image, got %s",
                         wf_yamldoc_describe(n));
        return;
    }
    /* Bad and repeated platforms are reported here and skipped below. */
    wf_yamldoc_check_keys(&l->ctx, n, platform_keys);
    c->images = wf_calloc(n->n, sizeof(*c->images));
    for (size_t i = 0; i < n->n; i++) {
        const wf_yamldoc_node *k = n->pairs[i].key;
        if (k->kind != WF_YAMLDOC_SCALAR || !wf_recipe_platform_valid(k->value) ||
            wf_config_image(c, k->value) != NULL)
            continue;
        read_image(l, &c->images[c->n_images++], &n->pairs[i]);
    }
}

static int worker_name_valid(const char *s)
{
    if (s[0] == '\0')
        return 0;
    for (; *s != '\0'; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
            return 0;
    }
    return 1;
}

/* An optional string where "" means "not set". */
static void read_optional(loader *l, char **dst, const wf_yamldoc_node *m, const char *key)
{
    const wf_yamldoc_node *v = wf_yamldoc_get(m, key);

    if (v == NULL || wf_yamldoc_read_string(&l->ctx, dst, v, key) != 0)
        return;
    if ((*dst)[0] == '\0') {
        free(*dst);
        *dst = NULL;
    }
}

static void read_driver(loader *l, wf_worker_config *w, const wf_yamldoc_node *m)
{
    const wf_yamldoc_node *v = wf_yamldoc_get(m, "driver"), *b = wf_yamldoc_get(m, "builder");

    if (v != NULL && wf_yamldoc_read_string(&l->ctx, &w->driver, v, "driver") == 0 &&
        strcmp(w->driver, "docker") != 0 && strcmp(w->driver, "buildx") != 0)
        wf_yamldoc_error(&l->ctx, v, "invalid driver '%s' (allowed: docker, buildx)", w->driver);
    if (w->driver == NULL)
        w->driver = wf_strdup("docker");
    read_optional(l, &w->builder, m, "builder");
    if (strcmp(w->driver, "buildx") == 0 && w->builder == NULL)
        wf_yamldoc_error(&l->ctx, m,
                         "driver buildx needs 'builder' (the name of a `docker buildx` builder)");
    if (strcmp(w->driver, "docker") == 0 && w->builder != NULL)
        wf_yamldoc_error(&l->ctx, b, "'builder' only applies to driver buildx");
}

/* DOCKER_HOST values the docker client understands for a remote or local engine. */
static int endpoint_valid(const char *s)
{
    static const char *const schemes[] = {"unix://", "tcp://", "ssh://"};
    for (size_t i = 0; i < WF_ARRAY_SIZE(schemes); i++) {
        size_t n = strlen(schemes[i]);
        if (strncmp(s, schemes[i], n) == 0 && s[n] != '\0')
            return strpbrk(s, " \t\r\n") == NULL;
    }
    return 0;
}

/* Docker's own rule for context names: [a-zA-Z0-9][a-zA-Z0-9_.+-]*. */
static int context_name_valid(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
        return 0;
    for (; *s != '\0'; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("_.+-", *s) != NULL))
            return 0;
    }
    return 1;
}

/* How a worker reaches its engine: an endpoint (DOCKER_HOST) or a docker context, not both. */
static void read_target(loader *l, wf_worker_config *w, const wf_yamldoc_node *m)
{
    const wf_yamldoc_node *e = wf_yamldoc_get(m, "endpoint"), *x = wf_yamldoc_get(m, "context");

    read_optional(l, &w->endpoint, m, "endpoint");
    if (w->endpoint != NULL && !endpoint_valid(w->endpoint))
        wf_yamldoc_error(&l->ctx, e,
                         "invalid endpoint '%s' (use unix:///path/docker.sock, tcp://HOST:PORT or "
                         "ssh://[USER@]HOST, or 'context: NAME' for a docker context)",
                         w->endpoint);
    read_optional(l, &w->context, m, "context");
    if (w->context == NULL)
        return;
    if (!context_name_valid(w->context))
        wf_yamldoc_error(&l->ctx, x,
                         "invalid docker context name '%s' (`docker context ls` lists them)",
                         w->context);
    else if (w->endpoint != NULL)
        wf_yamldoc_error(&l->ctx, x,
                         "give either 'endpoint' or 'context', not both (a docker context "
                         "already names its endpoint)");
    else if (strcmp(w->driver, "buildx") == 0)
        wf_yamldoc_error(&l->ctx, x,
                         "'context' only applies to driver docker (a buildx builder is named "
                         "with 'builder')");
}

static int label_key_valid(const char *s, size_t n)
{
    if (n == 0 || n > LABEL_KEY_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        int alnum =
            (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (!alnum && (i == 0 || strchr("._/-", ch) == NULL))
            return 0;
    }
    return 1;
}

static int label_value_valid(const char *s)
{
    if (strlen(s) > LABEL_VALUE_MAX)
        return 0;
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    }
    return 1;
}

/* Checks one "key" or "key=value" label at node `at`; 0 when it is good. */
static int check_label(loader *l, const char *label, const wf_yamldoc_node *at)
{
    const char *eq = strchr(label, '=');
    size_t klen = eq != NULL ? (size_t)(eq - label) : strlen(label);
    if (!label_key_valid(label, klen)) {
        wf_yamldoc_error(&l->ctx, at,
                         "invalid label '%s' (a key of letters, digits and ._/- up to %d "
                         "characters, optionally =VALUE)",
                         label, LABEL_KEY_MAX);
        return -1;
    }
    if (eq != NULL && !label_value_valid(eq + 1)) {
        wf_yamldoc_error(&l->ctx, at,
                         "invalid value of label '%.*s' (at most %d characters, no control "
                         "characters)",
                         (int)klen, label, LABEL_VALUE_MAX);
        return -1;
    }
    return 0;
}

/* labels: {key: value, ...} or [key, key=value, ...], stored as "key=value" / "key". */
static void read_labels(loader *l, wf_worker_config *w, const wf_yamldoc_node *n)
{
    if (n->kind != WF_YAMLDOC_MAPPING && n->kind != WF_YAMLDOC_SEQUENCE) {
        wf_yamldoc_error(&l->ctx, n,
                         "'labels': expected a mapping {key: value} or a list of key or "
                         "key=value strings, got %s",
                         wf_yamldoc_describe(n));
        return;
    }
    if (n->n > LABELS_MAX) {
        wf_yamldoc_error(&l->ctx, n, "'labels': at most %d labels per worker", LABELS_MAX);
        return;
    }
    w->labels = wf_calloc(n->n ? n->n : 1, sizeof(char *));
    for (size_t i = 0; i < n->n; i++) {
        const wf_yamldoc_node *k = n->kind == WF_YAMLDOC_MAPPING ? n->pairs[i].key : n->items[i];
        const wf_yamldoc_node *v = n->kind == WF_YAMLDOC_MAPPING ? n->pairs[i].value : NULL;
        const wf_yamldoc_node *bad = k->kind != WF_YAMLDOC_SCALAR                ? k
                                     : v != NULL && v->kind != WF_YAMLDOC_SCALAR ? v
                                                                                 : NULL;
        if (bad != NULL) {
            wf_yamldoc_error(&l->ctx, bad, "'labels': each label is a string, got %s",
                             wf_yamldoc_describe(bad));
            continue;
        }
        if (v != NULL && strchr(k->value, '=') != NULL) {
            wf_yamldoc_error(&l->ctx, k, "invalid label key '%s' ('=' separates the value)",
                             k->value);
            continue;
        }
        char *label = v != NULL ? wf_asprintf("%s=%s", k->value, v->value) : wf_strdup(k->value);
        if (check_label(l, label, k) != 0) {
            free(label);
            continue;
        }
        for (size_t j = 0; j < w->n_labels; j++) {
            size_t a = strcspn(w->labels[j], "="), b = strcspn(label, "=");
            if (a == b && strncmp(w->labels[j], label, a) == 0) {
                wf_yamldoc_error(&l->ctx, k, "duplicate label '%.*s'", (int)b, label);
                free(label);
                label = NULL;
                break;
            }
        }
        if (label != NULL)
            w->labels[w->n_labels++] = label;
    }
}

/* ---- worker TLS: how a tcp:// engine is secured (the `tls` key) ----
 * Kept apart from the other worker keys: it is the only part of the config that reads files. */

static const char *const tls_keys[] = {"ca", "cert", "key", NULL};

/* PEM files are small; a CA bundle of every public root is a few hundred KiB. */
#define TLS_FILE_MAX (1024u * 1024)

static int is_tcp(const char *endpoint)
{
    return endpoint != NULL && strncmp(endpoint, "tcp://", 6) == 0;
}

int wf_config_worker_unauthenticated(const wf_worker_config *w)
{
    return w->tls.off && is_tcp(w->endpoint);
}

char *wf_config_worker_warning(const wf_worker_config *w)
{
    if (!wf_config_worker_unauthenticated(w))
        return NULL;
    return wf_asprintf("worker '%s': %s is used without TLS (tls: false): anyone who can reach it "
                       "controls that engine and its host",
                       w->name, w->endpoint);
}

/* 1 when data holds a PEM block whose label ends in `kind` ("CERTIFICATE", "PRIVATE KEY"). */
static int has_pem(const char *data, size_t len, const char *kind)
{
    const char *end = data + len;
    char *tail = wf_asprintf("%s-----", kind);
    int found = 0;
    for (const char *p = data; !found && p < end;) {
        const char *b = memmem(p, (size_t)(end - p), "-----BEGIN ", 11);
        if (b == NULL)
            break;
        const char *eol = memchr(b, '\n', (size_t)(end - b));
        const char *stop = eol != NULL ? eol : end;
        while (stop > b && stop[-1] == '\r')
            stop--;
        found = (size_t)(stop - b) >= strlen(tail) &&
                memcmp(stop - strlen(tail), tail, strlen(tail)) == 0;
        p = b + 11;
    }
    free(tail);
    return found;
}

/* One path of the tls mapping: resolved against the config file, readable, and holding a PEM
 * block of the expected kind, so a wrong or unreadable file is reported at load rather than as
 * a TLS handshake error at the first build. */
static void read_tls_file(loader *l, char **dst, const wf_yamldoc_node *m, const char *key,
                          const char *kind)
{
    const wf_yamldoc_node *v = wf_yamldoc_require(&l->ctx, m, key);
    char *data = NULL;
    size_t len = 0;
    int rc;

    if (v == NULL)
        return;
    read_path(l, dst, v, key);
    if (*dst == NULL)
        return;
    rc = wf_fs_read_file(*dst, TLS_FILE_MAX, &data, &len);
    if (rc != 0)
        wf_yamldoc_error(&l->ctx, v, "'%s': cannot read %s: %s", key, *dst, wf_strerror(rc));
    else if (!has_pem(data, len, kind))
        wf_yamldoc_error(&l->ctx, v, "'%s': %s holds no PEM %s (a \"-----BEGIN ...%s-----\" block)",
                         key, *dst, kind, kind);
    free(data);
}

static int is_false(const char *s)
{
    return strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0;
}

/* Reads `tls` after the endpoint and driver: {ca, cert, key} for a tcp:// engine, or false.
 * A tcp:// endpoint without the key is an error: dockerd itself refuses to listen on TCP without
 * TLS unless told to, and a careful user expects the client side to be as strict. */
static void read_worker_tls(loader *l, wf_worker_config *w, const wf_yamldoc_node *m)
{
    const wf_yamldoc_node *v = wf_yamldoc_get(m, "tls");

    if (v == NULL) {
        if (is_tcp(w->endpoint))
            wf_yamldoc_error(&l->ctx, wf_yamldoc_get(m, "endpoint"),
                             "worker '%s': endpoint '%s' has no TLS, so anyone who can reach it "
                             "controls the engine and its host; add tls: {ca: CA.pem, cert: "
                             "CERT.pem, key: KEY.pem} (paths relative to this file), or write "
                             "tls: false to use the engine unauthenticated",
                             w->name != NULL ? w->name : "?", w->endpoint);
        return;
    }
    if (v->kind == WF_YAMLDOC_SCALAR && is_false(v->value)) {
        w->tls.off = 1;
        return;
    }
    if (v->kind != WF_YAMLDOC_MAPPING) {
        if (v->kind == WF_YAMLDOC_SCALAR && !wf_yamldoc_is_null(v))
            wf_yamldoc_error(&l->ctx, v,
                             "'tls': expected a mapping {ca, cert, key} or false, got '%s'",
                             v->value);
        else
            wf_yamldoc_error(&l->ctx, v,
                             "'tls': expected a mapping {ca, cert, key} or false, "
                             "got %s",
                             wf_yamldoc_describe(v));
        return;
    }
    wf_yamldoc_check_keys(&l->ctx, v, tls_keys);
    if (w->driver != NULL && strcmp(w->driver, "buildx") == 0) {
        wf_yamldoc_error(&l->ctx, v,
                         "'tls': a buildx builder keeps its own TLS settings (docker buildx "
                         "create --driver remote --driver-opt cacert=...,cert=...,key=...); "
                         "remove 'tls' here");
        return;
    }
    if (w->endpoint == NULL) {
        wf_yamldoc_error(&l->ctx, v,
                         "'tls' applies to tcp:// endpoints only, and this worker names no "
                         "endpoint (a docker context or the daemon's own DOCKER_HOST carries its "
                         "own TLS settings)");
        return;
    }
    if (!is_tcp(w->endpoint)) {
        wf_yamldoc_error(&l->ctx, v,
                         "'tls' applies to tcp:// endpoints only, and this worker's endpoint is "
                         "'%s' (unix sockets are guarded by their file mode, ssh:// by ssh)",
                         w->endpoint);
        return;
    }
    read_tls_file(l, &w->tls.ca, v, "ca", "CERTIFICATE");
    read_tls_file(l, &w->tls.cert, v, "cert", "CERTIFICATE");
    read_tls_file(l, &w->tls.key, v, "key", "PRIVATE KEY");
}

/* ---- the other worker keys ---- */

static void read_worker(loader *l, wf_worker_config *w, const wf_yamldoc_node *m)
{
    const wf_yamldoc_node *v;

    w->slots = 1;
    if (m->kind != WF_YAMLDOC_MAPPING) {
        wf_yamldoc_error(&l->ctx, m, "'workers': expected a list of mappings, but this item is %s",
                         wf_yamldoc_describe(m));
        return;
    }
    wf_yamldoc_check_keys(&l->ctx, m, worker_keys);
    if ((v = wf_yamldoc_require(&l->ctx, m, "name")) != NULL &&
        wf_yamldoc_read_string(&l->ctx, &w->name, v, "name") == 0 && !worker_name_valid(w->name))
        wf_yamldoc_error(&l->ctx, v, "invalid worker name '%s' (use [a-z0-9-]+)", w->name);
    read_driver(l, w, m);
    read_target(l, w, m);
    if ((v = wf_yamldoc_get(m, "platforms")) != NULL)
        wf_yamldoc_read_set(&l->ctx, &w->platforms, &w->n_platforms, v, "platforms", "platform",
                            wf_recipe_platform_valid, WF_RECIPE_PLATFORM_LIST);
    else {
        w->platforms = wf_calloc(1, sizeof(char *));
        w->platforms[0] = wf_strdup("linux/amd64");
        w->n_platforms = 1;
    }
    if ((v = wf_yamldoc_get(m, "slots")) != NULL)
        wf_yamldoc_read_uint(&l->ctx, &w->slots, v, 1, 64, "slots");
    if ((v = wf_yamldoc_get(m, "emulated")) != NULL)
        wf_yamldoc_read_bool(&l->ctx, &w->emulated, v, "emulated");
    if ((v = wf_yamldoc_get(m, "labels")) != NULL && !wf_yamldoc_is_null(v))
        read_labels(l, w, v);
    read_worker_tls(l, w, m);
}

static void read_workers(loader *l, const wf_yamldoc_node *n)
{
    wf_config *c = l->c;

    if (n->kind != WF_YAMLDOC_SEQUENCE) {
        wf_yamldoc_error(&l->ctx, n, "'workers': expected a list of mappings, got %s",
                         wf_yamldoc_describe(n));
        return;
    }
    c->workers = wf_calloc(n->n, sizeof(*c->workers));
    c->n_workers = n->n;
    for (size_t i = 0; i < n->n; i++) {
        wf_worker_config *w = &c->workers[i];
        read_worker(l, w, n->items[i]);
        for (size_t j = 0; w->name != NULL && j < i; j++) {
            if (c->workers[j].name != NULL && strcmp(c->workers[j].name, w->name) == 0) {
                wf_yamldoc_error(&l->ctx, wf_yamldoc_get(n->items[i], "name"),
                                 "duplicate worker name '%s' (first at line %d)", w->name,
                                 n->items[j]->line);
                break;
            }
        }
    }
}

/* One substitute's sha256 field (`for` or `use`): 64 lowercase hex digits. */
static char *read_sha256(loader *l, const wf_yamldoc_node *m, const char *key)
{
    const wf_yamldoc_node *v = wf_yamldoc_require(&l->ctx, m, key);
    char *s = NULL;

    if (v == NULL || wf_yamldoc_read_string(&l->ctx, &s, v, key) != 0)
        return NULL;
    if (!wf_recipe_sha256_valid(s)) {
        wf_yamldoc_error(&l->ctx, v,
                         "'%s': invalid sha256 '%s': must be 64 lowercase hex characters "
                         "(sha256sum FILE prints it)",
                         key, s);
        free(s);
        return NULL;
    }
    return s;
}

/* One {for, use, reason} entry; incomplete entries are reported and left out. */
static void read_substitute(loader *l, const wf_yamldoc_node *m)
{
    wf_config *c = l->c;
    const wf_yamldoc_node *v;
    char *pinned, *use, *reason = NULL;

    if (m->kind != WF_YAMLDOC_MAPPING) {
        wf_yamldoc_error(&l->ctx, m,
                         "'substitutes': expected a list of mappings {for, use, reason}, but "
                         "this item is %s",
                         wf_yamldoc_describe(m));
        return;
    }
    wf_yamldoc_check_keys(&l->ctx, m, substitute_keys);
    pinned = read_sha256(l, m, "for");
    use = read_sha256(l, m, "use");
    if ((v = wf_yamldoc_require(&l->ctx, m, "reason")) != NULL &&
        wf_yamldoc_read_string(&l->ctx, &reason, v, "reason") == 0 && reason[0] == '\0') {
        wf_yamldoc_error(&l->ctx, v,
                         "'reason' must say why the replacement is acceptable (it is logged "
                         "with every build that uses it)");
        free(reason);
        reason = NULL;
    }
    if (pinned != NULL && use != NULL && strcmp(pinned, use) == 0) {
        wf_yamldoc_error(&l->ctx, wf_yamldoc_get(m, "use"),
                         "'use' is the same sha256 as 'for': a file cannot substitute itself");
    } else if (pinned != NULL && wf_config_substitute(c, pinned) != NULL) {
        wf_yamldoc_error(&l->ctx, wf_yamldoc_get(m, "for"),
                         "a substitute for sha256 %s is already declared at %s", pinned,
                         wf_config_substitute(c, pinned)->where);
    } else if (pinned != NULL && use != NULL && reason != NULL) {
        wf_substitute_config *s = &c->substitutes[c->n_substitutes++];
        s->pinned = pinned;
        s->use = use;
        s->reason = reason;
        s->where = wf_asprintf("%s:%d", l->ctx.file, m->line);
        return;
    }
    free(pinned);
    free(use);
    free(reason);
}

static void read_substitutes(loader *l, const wf_yamldoc_node *n)
{
    if (wf_yamldoc_is_null(n))
        return;
    if (n->kind != WF_YAMLDOC_SEQUENCE) {
        wf_yamldoc_error(&l->ctx, n,
                         "'substitutes': expected a list of mappings {for, use, reason}, got %s",
                         wf_yamldoc_describe(n));
        return;
    }
    l->c->substitutes = wf_calloc(n->n ? n->n : 1, sizeof(*l->c->substitutes));
    for (size_t i = 0; i < n->n; i++)
        read_substitute(l, n->items[i]);
}

/* Every platform a worker builds for needs a builder image. Reported at the worker's platforms
 * (or at the images mapping when the workers are the defaults). */
static void check_worker_images(loader *l)
{
    const wf_yamldoc_node *workers = wf_yamldoc_get(l->user, "workers");
    const wf_yamldoc_node *images = wf_yamldoc_get(l->user, "images");
    const wf_config *c = l->c;

    for (size_t i = 0; i < c->n_workers; i++) {
        const wf_worker_config *w = &c->workers[i];
        const wf_yamldoc_node *at = workers != NULL ? workers->items[i] : images;
        const wf_yamldoc_node *pl = wf_yamldoc_get(at, "platforms");
        for (size_t j = 0; w->name != NULL && j < w->n_platforms; j++) {
            if (wf_config_image(c, w->platforms[j]) != NULL)
                continue;
            wf_yamldoc_error(&l->ctx, pl != NULL ? pl->items[j] : at,
                             "worker '%s' builds for '%s' but images has no entry for it "
                             "(add images: {%s: IMAGE})",
                             w->name, w->platforms[j], w->platforms[j]);
        }
    }
}

/* ---- recipes: a local path, or {git: URL, branch, path, poll, pull_requests} ---- */

/* A git URL libgit2 can fetch without credentials of ours: https, http, git, file, or a path. */
static int git_url_scheme_ok(const char *s)
{
    static const char *const schemes[] = {"https://", "http://", "git://", "file://"};
    for (size_t i = 0; i < WF_ARRAY_SIZE(schemes); i++) {
        if (strncmp(s, schemes[i], strlen(schemes[i])) == 0)
            return s[strlen(schemes[i])] != '\0';
    }
    return 0;
}

/* A branch name as `git check-ref-format --branch` accepts it, for the common rules. */
static int branch_valid(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 200 || s[0] == '-' || s[0] == '/' || s[len - 1] == '/' ||
        s[len - 1] == '.' || strncmp(s, "refs/", 5) == 0 || strstr(s, "..") != NULL ||
        strstr(s, "//") != NULL || strstr(s, "@{") != NULL || strstr(s, "/.") != NULL ||
        s[0] == '.' || (len >= 5 && strcmp(s + len - 5, ".lock") == 0))
        return 0;
    for (const char *p = s; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x21 || *p == 0x7f || strchr("~^:?*[\\", *p) != NULL)
            return 0;
    }
    return 1;
}

static void read_git_url(loader *l, wf_recipes_git *g, const wf_yamldoc_node *v)
{
    char *s = NULL;
    if (wf_yamldoc_read_string(&l->ctx, &s, v, "git") != 0)
        return;
    if (s[0] == '\0')
        wf_yamldoc_error(&l->ctx, v, "'git' must not be empty (the URL of the recipe repository)");
    else if (strstr(s, "://") != NULL && !git_url_scheme_ok(s))
        wf_yamldoc_error(&l->ctx, v,
                         "'git': unsupported URL '%s' (use an https://, http://, git:// or "
                         "file:// URL, or a local path; ssh needs credentials wheelfarm does not "
                         "hold)",
                         s);
    else if (strstr(s, "://") == NULL && strchr(s, ':') != NULL && s[0] != '/' && s[0] != '.')
        wf_yamldoc_error(&l->ctx, v,
                         "'git': '%s' looks like an ssh address, which needs credentials "
                         "wheelfarm does not hold (use an https:// or git:// URL)",
                         s);
    else if (strstr(s, "://") == NULL) {
        g->url = wf_yamldoc_path(l->ctx.file, s);
        free(s);
        return;
    }
    g->url = s;
}

static void read_recipes_git(loader *l, const wf_yamldoc_node *m)
{
    wf_recipes_git *g = wf_calloc(1, sizeof(*g));
    const wf_yamldoc_node *v;
    char *s = NULL;

    l->c->recipes_git = g;
    g->poll_s = 60;
    wf_yamldoc_check_keys(&l->ctx, m, recipes_git_keys);
    if ((v = wf_yamldoc_require(&l->ctx, m, "git")) != NULL)
        read_git_url(l, g, v);
    if ((v = wf_yamldoc_get(m, "branch")) != NULL &&
        wf_yamldoc_read_string(&l->ctx, &g->branch, v, "branch") == 0 && !branch_valid(g->branch))
        wf_yamldoc_error(&l->ctx, v,
                         "'branch': '%s' is not a valid branch name (write the name alone, such "
                         "as main, not refs/heads/main)",
                         g->branch);
    if (g->branch == NULL)
        g->branch = wf_strdup("main");
    if ((v = wf_yamldoc_get(m, "path")) != NULL &&
        wf_yamldoc_read_string(&l->ctx, &s, v, "path") == 0) {
        g->path = wf_fs_subpath_normalize(s);
        if (g->path == NULL)
            wf_yamldoc_error(&l->ctx, v,
                             "'path': '%s' must be a relative path inside the repository, "
                             "without '..' (\".\" for its root)",
                             s);
        free(s);
    }
    if (g->path == NULL)
        g->path = wf_strdup("");
    if ((v = wf_yamldoc_get(m, "poll")) != NULL)
        wf_yamldoc_read_uint(&l->ctx, &g->poll_s, v, 5, 86400, "poll");
    if ((v = wf_yamldoc_get(m, "pull_requests")) != NULL)
        wf_yamldoc_read_bool(&l->ctx, &g->pull_requests, v, "pull_requests");
}

static void read_recipes(loader *l, const wf_yamldoc_node *n)
{
    if (n->kind == WF_YAMLDOC_MAPPING)
        read_recipes_git(l, n);
    else if (n->kind == WF_YAMLDOC_SCALAR)
        read_path(l, &l->c->recipes, n, "recipes");
    else
        wf_yamldoc_error(&l->ctx, n,
                         "'recipes': expected a path or a mapping {git: URL, branch, path, poll, "
                         "pull_requests}, got %s",
                         wf_yamldoc_describe(n));
}

/* Reads a secret file named at node n: the content without trailing whitespace, which must not
 * be empty. Problems are reported at n. */
static int read_secret(loader *l, const wf_yamldoc_node *n, const char *what, char **path_out,
                       char **secret_out, size_t *len_out)
{
    char *path = NULL, *data = NULL;
    size_t len = 0;

    read_path(l, &path, n, what);
    if (path == NULL)
        return WF_EINVAL;
    int rc = wf_fs_read_file(path, SECRET_FILE_MAX, &data, &len);
    if (rc != 0) {
        wf_yamldoc_error(&l->ctx, n, "'%s': cannot read '%s': %s", what, path,
                         rc == WF_ELIMIT ? "larger than 4096 bytes, not a secret"
                                         : wf_strerror(rc));
        free(path);
        return rc;
    }
    while (len > 0 && strchr(" \t\r\n", data[len - 1]) != NULL)
        data[--len] = '\0';
    if (len == 0) {
        wf_yamldoc_error(&l->ctx, n, "'%s': '%s' is empty (write the secret into it)", what, path);
        free(data);
        free(path);
        return WF_EINVAL;
    }
    *path_out = path;
    *secret_out = data;
    *len_out = len;
    return 0;
}

/* webhooks.<forge>: {secret_file: PATH} (GitLab: {token_file: PATH}). */
static void read_webhook(loader *l, wf_webhook_config *w, const wf_yamldoc_node *n,
                         const char *forge, const char *key)
{
    const char *const keys[] = {key, NULL};
    const wf_yamldoc_node *v;
    char *secret = NULL;

    if (n->kind != WF_YAMLDOC_MAPPING) {
        wf_yamldoc_error(&l->ctx, n, "'%s': expected a mapping {%s: PATH}, got %s", forge, key,
                         wf_yamldoc_describe(n));
        return;
    }
    wf_yamldoc_check_keys(&l->ctx, n, keys);
    if ((v = wf_yamldoc_require(&l->ctx, n, key)) != NULL &&
        read_secret(l, v, key, &w->secret_file, &secret, &w->secret_len) == 0)
        w->secret = (unsigned char *)secret;
}

static void read_webhooks(loader *l, const wf_yamldoc_node *n)
{
    const wf_yamldoc_node *v;
    wf_webhooks_config *w;
    unsigned max_body = 1024 * 1024;

    if (wf_yamldoc_is_null(n))
        return;
    if (n->kind != WF_YAMLDOC_MAPPING) {
        wf_yamldoc_error(&l->ctx, n,
                         "'webhooks': expected a mapping {github, gitea, gitlab, max_body}, got %s",
                         wf_yamldoc_describe(n));
        return;
    }
    w = l->c->webhooks = wf_calloc(1, sizeof(*w));
    wf_yamldoc_check_keys(&l->ctx, n, webhooks_keys);
    if ((v = wf_yamldoc_get(n, "github")) != NULL)
        read_webhook(l, &w->github, v, "github", "secret_file");
    if ((v = wf_yamldoc_get(n, "gitea")) != NULL)
        read_webhook(l, &w->gitea, v, "gitea", "secret_file");
    if ((v = wf_yamldoc_get(n, "gitlab")) != NULL)
        read_webhook(l, &w->gitlab, v, "gitlab", "token_file");
    if ((v = wf_yamldoc_get(n, "max_body")) != NULL)
        wf_yamldoc_read_uint(&l->ctx, &max_body, v, 1024, WF_WEBHOOK_MAX_BODY, "max_body");
    w->max_body = max_body;
    const wf_recipes_git *g = l->c->recipes_git;
    if (g == NULL || !g->pull_requests)
        wf_yamldoc_error(&l->ctx, n,
                         "webhooks build pull requests of a recipe repository: set recipes: "
                         "{git: URL, pull_requests: true}");
}

static int url_valid(const char *s)
{
    return (strncmp(s, "https://", 8) == 0 && s[8] != '\0') ||
           (strncmp(s, "http://", 7) == 0 && s[7] != '\0');
}

/* A required or optional http(s) URL, stored without a trailing slash. */
static void read_url(loader *l, char **dst, const wf_yamldoc_node *n, const char *what)
{
    if (wf_yamldoc_read_string(&l->ctx, dst, n, what) != 0)
        return;
    if (!url_valid(*dst))
        wf_yamldoc_error(&l->ctx, n, "'%s': expected an http:// or https:// URL, got '%s'", what,
                         *dst);
    size_t len = strlen(*dst);
    while (len > 0 && (*dst)[len - 1] == '/')
        (*dst)[--len] = '\0';
}

static void read_forge(loader *l, const wf_yamldoc_node *n)
{
    const wf_yamldoc_node *v;
    wf_forge_config *f;
    size_t len = 0;

    if (wf_yamldoc_is_null(n))
        return;
    if (n->kind != WF_YAMLDOC_MAPPING) {
        wf_yamldoc_error(&l->ctx, n,
                         "'forge': expected a mapping {kind, api, repo, token_file, public_url}, "
                         "got %s",
                         wf_yamldoc_describe(n));
        return;
    }
    f = l->c->forge = wf_calloc(1, sizeof(*f));
    wf_yamldoc_check_keys(&l->ctx, n, forge_keys);
    if ((v = wf_yamldoc_require(&l->ctx, n, "kind")) != NULL &&
        wf_yamldoc_read_string(&l->ctx, &f->kind, v, "kind") == 0 &&
        strcmp(f->kind, "github") != 0 && strcmp(f->kind, "gitea") != 0 &&
        strcmp(f->kind, "gitlab") != 0)
        wf_yamldoc_error(&l->ctx, v, "invalid forge kind '%s' (allowed: github, gitea, gitlab)",
                         f->kind);
    if ((v = wf_yamldoc_require(&l->ctx, n, "api")) != NULL)
        read_url(l, &f->api, v, "api");
    if ((v = wf_yamldoc_require(&l->ctx, n, "repo")) != NULL &&
        wf_yamldoc_read_string(&l->ctx, &f->repo, v, "repo") == 0 &&
        (f->repo[0] == '\0' || strchr(f->repo, ' ') != NULL || strchr(f->repo, '?') != NULL))
        wf_yamldoc_error(&l->ctx, v, "'repo': expected \"owner/name\", got '%s'", f->repo);
    /* The token goes into one header line: a line break in it would add another header. */
    if ((v = wf_yamldoc_require(&l->ctx, n, "token_file")) != NULL &&
        read_secret(l, v, "token_file", &f->token_file, &f->token, &len) == 0 &&
        strpbrk(f->token, "\r\n") != NULL)
        wf_yamldoc_error(&l->ctx, v, "'token_file': the token must be one line");
    if ((v = wf_yamldoc_get(n, "public_url")) != NULL && !wf_yamldoc_is_null(v))
        read_url(l, &f->public_url, v, "public_url");
}

static void read_strings_top(loader *l)
{
    wf_config *c = l->c;
    const wf_yamldoc_node *v;

    read_path(l, &c->state_dir, pick(l, "state_dir"), "state_dir");
    read_listen(l, pick(l, "listen"));
    read_recipes(l, pick(l, "recipes"));
    wf_yamldoc_read_uint(&l->ctx, &c->watch_debounce_ms, pick(l, "watch_debounce_ms"), 10, 60000,
                         "watch_debounce_ms");
    read_upstream(l, pick(l, "upstream_index"));
    v = pick(l, "api_token_file");
    if (!wf_yamldoc_is_null(v) && !(v->kind == WF_YAMLDOC_SCALAR && v->value[0] == '\0'))
        read_path(l, &c->api_token_file, v, "api_token_file");
    /* A bare command name is looked up in PATH; only something path-like is resolved. */
    v = pick(l, "docker");
    if (wf_yamldoc_read_string(&l->ctx, &c->docker, v, "docker") == 0 &&
        strchr(c->docker, '/') != NULL) {
        char *abs = wf_yamldoc_path(l->ctx.file, c->docker);
        free(c->docker);
        c->docker = abs;
    }
    read_log_level(l, pick(l, "log_level"));
    wf_yamldoc_read_uint(&l->ctx, &c->shutdown_grace_s, pick(l, "shutdown_grace"), 0, 3600,
                         "shutdown_grace");
    wf_yamldoc_read_uint(&l->ctx, &c->lease_s, pick(l, "lease_seconds"), 5, 3600, "lease_seconds");
    wf_yamldoc_read_uint(&l->ctx, &c->idle_timeout_s, pick(l, "idle_timeout"),
                         WF_RECIPE_IDLE_TIMEOUT_MIN, WF_RECIPE_IDLE_TIMEOUT_MAX, "idle_timeout");
    wf_yamldoc_read_uint(&l->ctx, &c->infra_retries, pick(l, "infra_retries"), 0, 20,
                         "infra_retries");
    wf_yamldoc_read_uint(&l->ctx, &c->retry_backoff_s, pick(l, "retry_backoff"), 1, 3600,
                         "retry_backoff");
}

/* ---- version bumps: schedule {bump}, bump {max_builds} ---- */

static const char *const schedule_keys[] = {"bump", NULL};
static const char *const bump_keys[] = {"max_builds", NULL};

/* The mapping under a top-level key, or NULL (with a diag when it is something else). */
static const wf_yamldoc_node *mapping_at(loader *l, const char *key, const char *shape)
{
    const wf_yamldoc_node *n = wf_yamldoc_get(l->user, key);
    if (n == NULL || wf_yamldoc_is_null(n))
        return NULL;
    if (n->kind != WF_YAMLDOC_MAPPING) {
        wf_yamldoc_error(&l->ctx, n, "'%s': expected a mapping %s, got %s", key, shape,
                         wf_yamldoc_describe(n));
        return NULL;
    }
    return n;
}

/* A key of a section mapping: the user's value, else the embedded default's. */
static const wf_yamldoc_node *pick_in(const loader *l, const wf_yamldoc_node *user,
                                      const char *section, const char *key)
{
    const wf_yamldoc_node *v = user != NULL ? wf_yamldoc_get(user, key) : NULL;
    return v != NULL ? v : wf_yamldoc_get(wf_yamldoc_get(l->defaults, section), key);
}

static void read_bump_schedule(loader *l, const wf_yamldoc_node *n)
{
    wf_config *c = l->c;
    wf_cron_error err;
    if (wf_yamldoc_read_string(&l->ctx, &c->bump_schedule, n, "bump") != 0)
        return;
    if (c->bump_schedule[0] == '\0' ||
        wf_cron_parse(&c->bump_cron, c->bump_schedule, strlen(c->bump_schedule), &err) == 0)
        return;
    /* err.msg starts with "column N (field):"; the position goes into the diag's prefix. */
    wf_yamldoc_node at = *n;
    at.column = n->column + (n->plain ? 0 : 1) + (err.column > 0 ? (int)err.column - 1 : 0);
    const char *why = strchr(err.msg, ':');
    wf_yamldoc_error(&l->ctx, &at,
                     "'schedule.bump': invalid cron schedule '%s'%s%s%s:%s (five fields: minute "
                     "hour day-of-month month day-of-week, read in UTC, e.g. \"0 3 * * *\"; "
                     "\"\" turns scheduled bumps off)",
                     c->bump_schedule, err.field ? ", " : "", err.field ? err.field : "",
                     err.field ? " field" : "", why != NULL ? why + 1 : err.msg);
}

static void read_bump(loader *l)
{
    const wf_yamldoc_node *sched = mapping_at(l, "schedule", "{bump: CRON}");
    const wf_yamldoc_node *bump = mapping_at(l, "bump", "{max_builds: N}");
    if (sched != NULL)
        wf_yamldoc_check_keys(&l->ctx, sched, schedule_keys);
    if (bump != NULL)
        wf_yamldoc_check_keys(&l->ctx, bump, bump_keys);
    read_bump_schedule(l, pick_in(l, sched, "schedule", "bump"));
    wf_yamldoc_read_uint(&l->ctx, &l->c->bump_max_builds, pick_in(l, bump, "bump", "max_builds"), 1,
                         1000, "max_builds");
}

/* Fills what depends on other keys, or leaves empty strings where a read failed, so the
 * struct is complete even when it is about to be discarded. */
static void fill_derived(wf_config *c)
{
    if (c->state_dir == NULL)
        c->state_dir = wf_strdup("");
    if (c->socket_path == NULL)
        c->socket_path = wf_asprintf("%s/wheelfarm.sock", c->state_dir);
    if (c->api_token_file == NULL)
        c->api_token_file = wf_asprintf("%s/api-token", c->state_dir);
    if (c->http_addr == NULL)
        c->http_addr = wf_strdup("127.0.0.1:8780");
    if (c->recipes_git != NULL && c->recipes == NULL)
        c->recipes = wf_asprintf("%s/recipes-git/current", c->state_dir);
    if (c->bump_schedule == NULL)
        c->bump_schedule = wf_strdup("");
}

static void load(loader *l, const wf_yamldoc_node *root)
{
    if (root != NULL && root->kind != WF_YAMLDOC_MAPPING) {
        wf_yamldoc_error(&l->ctx, root, "expected a mapping of settings, got %s",
                         wf_yamldoc_describe(root));
        return;
    }
    l->user = root;
    if (root != NULL)
        wf_yamldoc_check_keys(&l->ctx, root, config_keys);
    read_strings_top(l);
    read_bump(l);
    fill_derived(l->c);
    read_images(l, pick(l, "images"));
    read_workers(l, pick(l, "workers"));
    check_worker_images(l);
    if (root != NULL && wf_yamldoc_get(root, "webhooks") != NULL)
        read_webhooks(l, wf_yamldoc_get(root, "webhooks"));
    if (root != NULL && wf_yamldoc_get(root, "forge") != NULL)
        read_forge(l, wf_yamldoc_get(root, "forge"));
    read_substitutes(l, pick(l, "substitutes"));
}

/* Runs the loader over an already parsed (or failed) user document. */
static int finish(wf_config **out, const char *file, wf_yamldoc_node *root, int parse_err,
                  wf_diag_list *diags)
{
    wf_config *c = wf_calloc(1, sizeof(*c));
    wf_yamldoc_node *defaults = NULL;
    loader l = {{file, diags, 0}, NULL, NULL, c};
    int err;

    c->file = wf_strdup(file);
    /* The defaults are compiled in and covered by a test; a failure here adds its diag. */
    err = wf_yamldoc_parse(&defaults, DEFAULTS_NAME, wf_config_defaults,
                           sizeof(wf_config_defaults) - 1, diags);
    l.defaults = defaults;
    if (parse_err != 0 || err != 0)
        l.ctx.errors++;
    else
        load(&l, root);
    wf_yamldoc_free(defaults);
    if (l.ctx.errors > 0) {
        wf_config_free(c);
        return WF_EINVAL;
    }
    *out = c;
    return 0;
}

int wf_config_parse(wf_config **out, const char *file, const char *data, size_t len,
                    wf_diag_list *diags)
{
    wf_yamldoc_node *root = NULL;
    int err;

    assert(file != NULL);
    err = wf_yamldoc_parse(&root, file, data, len, diags);

    err = finish(out, file, root, err, diags);
    wf_yamldoc_free(root);
    return err;
}

int wf_config_load(wf_config **out, const char *path, wf_diag_list *diags)
{
    wf_yamldoc_node *root = NULL;
    int err;

    if (path == NULL)
        return wf_config_parse(out, DEFAULTS_NAME, wf_config_defaults,
                               sizeof(wf_config_defaults) - 1, diags);
    err = wf_yamldoc_load_file(&root, path, diags);
    err = finish(out, path, root, err, diags);
    wf_yamldoc_free(root);
    return err;
}
