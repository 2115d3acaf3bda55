/* config.c - the daemon's YAML config file: defaults, validation, path resolution. */
#include "config.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "yamldoc.h"

const char wf_config_defaults[] =
    "# wheelfarmd's built-in configuration, used when it runs without --config.\n"
    "state_dir: ./var\n"
    "# listen.socket defaults to <state_dir>/wheelfarm.sock, i.e. ./var/wheelfarm.sock here\n"
    "listen: {http: \"127.0.0.1:8780\"}\n"
    "recipes: ./recipes\n"
    "upstream_index: \"\"\n"
    "api_token_file: \"\"\n"
    "docker: \"\"\n"
    "log_level: info\n"
    "shutdown_grace: 30\n"
    "# builder images, the runtime images tests run in, and the interpreters both have\n"
    "# (scripts/bootstrap-images builds them; see dockerfiles/README.md)\n"
    "images:\n"
    "  linux/amd64: {image: \"wheelfarm/builder:bookworm-amd64\",\n"
    "                runtime: \"wheelfarm/runtime:bookworm-amd64\", python: [cp311, cp313]}\n"
    "  linux/arm64: {image: \"wheelfarm/builder:bookworm-arm64\",\n"
    "                runtime: \"wheelfarm/runtime:bookworm-arm64\", python: [cp311]}\n"
    "workers:\n"
    "  - {name: local, driver: docker, endpoint: \"unix:///var/run/docker.sock\",\n"
    "     platforms: [linux/amd64], slots: 2, emulated: false}\n";

#define DEFAULTS_NAME "<defaults>"

static const char *const config_keys[] = {
    "state_dir",      "listen",  "recipes",   "upstream_index",
    "api_token_file", "docker",  "log_level", "shutdown_grace",
    "images",         "workers", NULL,
};
static const char *const listen_keys[] = {"socket", "http", NULL};
static const char *const image_keys[] = {"image", "runtime", "python", NULL};
static const char *const worker_keys[] = {
    "name", "driver", "endpoint", "builder", "platforms", "slots", "emulated", NULL,
};
static const char *const platform_keys[] = {"linux/amd64", "linux/arm64", NULL};

/* The user's document and the parsed defaults: a key absent from the first is read from the
 * second, so the defaults are written once, in YAML. */
typedef struct loader {
    wf_yamldoc_ctx ctx;
    const wf_yamldoc_node *user;     /* root mapping of the user's file, or NULL */
    const wf_yamldoc_node *defaults; /* root mapping of wf_config_defaults */
    wf_config *c;
} loader;

static void worker_release(wf_worker_config *w)
{
    free(w->name);
    free(w->driver);
    free(w->endpoint);
    free(w->builder);
    wf_yamldoc_strings_free(w->platforms, w->n_platforms);
}

void wf_config_free(wf_config *c)
{
    if (c == NULL)
        return;
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
        worker_release(&c->workers[i]);
    free(c->workers);
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
    read_optional(l, &w->endpoint, m, "endpoint");
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

static void read_strings_top(loader *l)
{
    wf_config *c = l->c;
    const wf_yamldoc_node *v;

    read_path(l, &c->state_dir, pick(l, "state_dir"), "state_dir");
    read_listen(l, pick(l, "listen"));
    read_path(l, &c->recipes, pick(l, "recipes"), "recipes");
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
    fill_derived(l->c);
    read_images(l, pick(l, "images"));
    read_workers(l, pick(l, "workers"));
    check_worker_images(l);
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
