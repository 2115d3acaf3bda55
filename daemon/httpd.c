/* httpd.c - the daemon's HTTP server on h2o 2.2 (libuv): API routing and auth, the PEP 503 index.
 */
#include "daemon/httpd.h"

#include <assert.h>
#include <errno.h>
#include <h2o.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/pep503.h"

/* dispose_context() below mirrors h2o_context_dispose() of this exact library version. */
#if H2O_LIBRARY_VERSION_MAJOR != 0 || H2O_LIBRARY_VERSION_MINOR != 13
#error "httpd.c tears down h2o 2.2's (libh2o 0.13) context by hand; review dispose_context()"
#endif

#define DEFAULT_MAX_BODY (1024 * 1024)
#define DEFAULT_MAX_CONNECTIONS 256
#define LISTEN_BACKLOG 128
#define DRAIN_TIMEOUT_MS 5000

typedef enum { HTTPD_RUNNING, HTTPD_CLOSING } httpd_state;

/* One accepted connection: the libuv handle h2o's socket wraps, linked into the server's list
 * so that close can shut every connection down. Freed in the handle's close callback. */
typedef struct conn {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } u;
    wf_httpd *owner;
    struct conn *prev, *next;
} conn;

struct wf_httpd {
    uv_loop_t *loop;
    httpd_state state;
    h2o_globalconf_t config;
    h2o_context_t ctx;
    int ctx_inited;
    /* Two host lists, one per listener, so each handler instance knows where requests came
     * from: a connection only ever sees the hosts of the accept context it came through. */
    h2o_hostconf_t *hosts_tcp[2];
    h2o_hostconf_t *hosts_unix[2];
    h2o_accept_ctx_t accept_tcp;
    h2o_accept_ctx_t accept_unix;
    uv_tcp_t tcp;
    int has_tcp;
    uv_pipe_t pipe;
    int has_pipe;
    uv_timer_t drain_timer; /* bounds how long close waits for responses in flight */
    int has_timer;
    int socket_bound; /* we created the socket file and remove it on close */
    char *socket_path;
    char *index_root;
    unsigned char token_hash[crypto_generichash_BYTES];
    size_t max_body;
    unsigned max_connections;
    wf_http_api_cb cb;
    void *cb_ctx;
    wf_http_api_cb hooks_cb; /* NULL: /hooks/ is 404 */
    size_t hooks_max_body;
    conn *conns;
    unsigned n_conns;
    int closing_listeners;
    int closing_timers;
    int disposed;
    void (*on_closed)(void *ctx);
    void *on_closed_ctx;
};

/* Handler instances; h2o allocates and frees them with the path configuration. */
typedef struct route_handler {
    h2o_handler_t super;
    wf_httpd *h;
    int via_socket;
} route_handler;

typedef struct request_impl {
    wf_http_request pub;
    h2o_req_t *req;
} request_impl;

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return status < 400 ? "OK" : status < 500 ? "Client Error" : "Server Error";
    }
}

/* ---- responses ---- */

static void add_header(h2o_req_t *req, const char *name, const char *value)
{
    h2o_iovec_t n = h2o_strdup(&req->pool, name, strlen(name));
    h2o_strtolower(n.base, n.len);
    h2o_iovec_t v = h2o_strdup(&req->pool, value, strlen(value));
    h2o_add_header_by_str(&req->pool, &req->res.headers, n.base, n.len, 1, NULL, v.base, v.len);
}

static void send_body(h2o_req_t *req, int status, const char *content_type, const char *body,
                      size_t len)
{
    req->res.status = status;
    req->res.reason = reason_phrase(status);
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                   strlen(content_type));
    h2o_send_inline(req, body != NULL ? body : "", len);
}

static void add_json_string(wf_buf *b, const char *s)
{
    wf_buf_adds(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            wf_buf_addf(b, "\\%c", *p);
        else if (*p < 0x20)
            wf_buf_addf(b, "\\u%04x", *p);
        else
            wf_buf_add(b, p, 1);
    }
    wf_buf_adds(b, "\"");
}

/* Sends {"error": ..., "hint": ...}; returns 0 so handlers can `return send_error(...)`. */
static int send_error(h2o_req_t *req, int status, const char *error, const char *hint)
{
    wf_buf b = WF_BUF_INIT;
    wf_buf_adds(&b, "{\"error\": ");
    add_json_string(&b, error);
    if (hint != NULL) {
        wf_buf_adds(&b, ", \"hint\": ");
        add_json_string(&b, hint);
    }
    wf_buf_adds(&b, "}\n");
    send_body(req, status, "application/json", b.ptr, b.len);
    wf_buf_release(&b);
    return 0;
}

static int send_redirect(h2o_req_t *req, const char *location)
{
    /* h2o keeps a pointer to the Location value: it must live in the request's pool. */
    h2o_iovec_t loc = h2o_strdup(&req->pool, location, strlen(location));
    h2o_send_redirect(req, 301, "Moved Permanently", loc.base, loc.len);
    return 0;
}

static int send_not_found(h2o_req_t *req)
{
    return send_error(req, 404, "not found",
                      "the API lives under /api/, the package index under /simple/ and /files/");
}

/* ---- the API ---- */

const char *wf_http_request_header(const wf_http_request *r, const char *name, size_t *len_out)
{
    const request_impl *ri = wf_container_of(r, const request_impl, pub);
    char lower[128];
    size_t n = strlen(name);
    if (n == 0 || n >= sizeof(lower))
        return NULL;
    memcpy(lower, name, n);
    h2o_strtolower(lower, n);
    ssize_t i = h2o_find_header_by_str(&ri->req->headers, lower, n, -1);
    if (i == -1)
        return NULL;
    h2o_iovec_t v = ri->req->headers.entries[i].value;
    h2o_iovec_t copy = h2o_strdup(&ri->req->pool, v.base, v.len);
    if (len_out != NULL)
        *len_out = copy.len;
    return copy.base;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static char *query_decode(const char *s, size_t len)
{
    char *out = wf_malloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < len && hex_value(s[i + 1]) >= 0 &&
                   hex_value(s[i + 2]) >= 0) {
            out[o++] = (char)(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

char *wf_http_request_query(const wf_http_request *r, const char *name)
{
    const char *p = r->query, *end = r->query + r->query_len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *item_end = amp != NULL ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(item_end - p));
        const char *name_end = eq != NULL ? eq : item_end;
        char *key = query_decode(p, (size_t)(name_end - p));
        int match = strcmp(key, name) == 0;
        free(key);
        if (match)
            return eq != NULL ? query_decode(eq + 1, (size_t)(item_end - eq - 1)) : wf_strdup("");
        p = item_end + 1;
    }
    return NULL;
}

void wf_http_response_header(wf_http_response *res, const char *name, const char *value)
{
    size_t i = 0;
    while (i < WF_ARRAY_SIZE(res->headers) && res->headers[i][0] != NULL)
        i++;
    assert(i < WF_ARRAY_SIZE(res->headers) && "at most 8 extra response headers");
    if (i == WF_ARRAY_SIZE(res->headers)) {
        wf_log_error("httpd: response header '%s' dropped: at most 8 extra headers", name);
        return;
    }
    res->headers[i][0] = wf_strdup(name);
    res->headers[i][1] = wf_strdup(value);
}

static int token_ok(const wf_httpd *h, h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i == -1)
        return 0;
    h2o_iovec_t v = req->headers.entries[i].value;
    if (v.len < 7 || !h2o_lcstris(v.base, 6, H2O_STRLIT("bearer")) || v.base[6] != ' ')
        return 0;
    size_t off = 7;
    while (off < v.len && v.base[off] == ' ')
        off++;
    /* Hashing both sides first makes the comparison constant-time in the length too. */
    unsigned char digest[crypto_generichash_BYTES];
    crypto_generichash(digest, sizeof(digest), (const unsigned char *)v.base + off, v.len - off,
                       NULL, 0);
    return sodium_memcmp(digest, h->token_hash, sizeof(digest)) == 0;
}

static int header_safe(const char *s)
{
    return strpbrk(s, "\r\n") == NULL;
}

static void send_api_response(h2o_req_t *req, wf_http_response *res)
{
    int status = res->status >= 100 && res->status <= 599 ? res->status : 500;
    for (size_t i = 0; i < WF_ARRAY_SIZE(res->headers) && res->headers[i][0] != NULL; i++) {
        const char *name = res->headers[i][0], *value = res->headers[i][1];
        if (name[0] != '\0' && header_safe(name) && value != NULL && header_safe(value))
            add_header(req, name, value);
        else
            wf_log_warn("httpd: unsafe response header '%s' dropped", name);
    }
    send_body(req, status, res->content_type != NULL ? res->content_type : "application/json",
              res->body.ptr, res->body.len);
}

static void release_response(wf_http_response *res)
{
    wf_buf_release(&res->body);
    for (size_t i = 0; i < WF_ARRAY_SIZE(res->headers) && res->headers[i][0] != NULL; i++) {
        free(res->headers[i][0]);
        free(res->headers[i][1]);
    }
}

/* Hands a request to a callback (the API's or the webhooks') and sends what it answers. */
static void dispatch(route_handler *rh, h2o_req_t *req, wf_http_api_cb cb)
{
    wf_httpd *h = rh->h;
    request_impl ri = {.req = req};
    ri.pub.method = req->method.base;
    ri.pub.method_len = req->method.len;
    ri.pub.path = req->path_normalized.base;
    ri.pub.path_len = req->path_normalized.len;
    ri.pub.query = "";
    if (req->query_at != SIZE_MAX) {
        ri.pub.query = req->path.base + req->query_at + 1;
        ri.pub.query_len = req->path.len - req->query_at - 1;
    }
    ri.pub.body = req->entity.base;
    ri.pub.body_len = req->entity.base != NULL ? req->entity.len : 0;
    ri.pub.via_socket = rh->via_socket;

    wf_http_response res = {.status = 200, .content_type = "application/json"};
    cb(&ri.pub, &res, h->cb_ctx);
    wf_log_debug("httpd: %.*s %.*s -> %d", (int)req->method.len, req->method.base,
                 (int)req->path_normalized.len, req->path_normalized.base, res.status);
    send_api_response(req, &res);
    release_response(&res);
}

/* h2o refuses bodies over the larger of the two limits before reading them; the smaller one is
 * enforced here. */
static int body_too_large(h2o_req_t *req, size_t limit)
{
    return req->entity.base != NULL && req->entity.len > limit;
}

static int handle_api(route_handler *rh, h2o_req_t *req)
{
    wf_httpd *h = rh->h;
    if (!rh->via_socket && !token_ok(h, req)) {
        add_header(req, "WWW-Authenticate", "Bearer");
        return send_error(req, 401, "missing or invalid API token",
                          "send 'Authorization: Bearer <token>' with the daemon's API token "
                          "(api_token_file, or <state_dir>/api-token), or use the Unix socket");
    }
    if (body_too_large(req, h->max_body))
        return send_error(req, 413, "request body too large", "API bodies are at most 1 MiB");
    dispatch(rh, req, h->cb);
    return 0;
}

/* /hooks/<forge>: no API token; the webhook's own signature is the authentication, checked by
 * the callback. */
static int handle_hooks(route_handler *rh, h2o_req_t *req)
{
    wf_httpd *h = rh->h;
    if (h->hooks_cb == NULL)
        return send_error(req, 404, "no webhook endpoints are configured",
                          "add webhooks: {github: {secret_file: PATH}} to the daemon's config");
    if (body_too_large(req, h->hooks_max_body))
        return send_error(req, 413, "webhook body too large",
                          "raise webhooks.max_body in the daemon's config");
    dispatch(rh, req, h->hooks_cb);
    return 0;
}

static int is_prefix(h2o_iovec_t path, const char *prefix)
{
    size_t n = strlen(prefix);
    return path.len >= n && memcmp(path.base, prefix, n) == 0 &&
           (path.len == n || path.base[n] == '/');
}

static int on_route_req(h2o_handler_t *self, h2o_req_t *req)
{
    route_handler *rh = (route_handler *)self;
    if (is_prefix(req->path_normalized, "/api"))
        return handle_api(rh, req);
    if (is_prefix(req->path_normalized, "/hooks"))
        return handle_hooks(rh, req);
    return send_not_found(req);
}

/* ---- the index ---- */

static int method_ok(h2o_req_t *req)
{
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) ||
        h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD")))
        return 1;
    add_header(req, "Allow", "GET, HEAD");
    send_error(req, 405, "method not allowed", "the package index is read-only: use GET or HEAD");
    return 0;
}

static int is_regular_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Passes (-1) when the page exists so h2o's file handler, next in the list, serves it. */
static int pass_if_exists(wf_httpd *h, h2o_req_t *req, const char *rel, const char *what)
{
    char *path = wf_asprintf("%s/%s", h->index_root, rel);
    int found = is_regular_file(path);
    free(path);
    if (found)
        return -1;
    char *msg = wf_asprintf("%s not found", what);
    send_error(req, 404, msg, "the index lists only projects and files wheelfarm has built");
    free(msg);
    return 0;
}

/* <base>/simple, <base>/simple/, <base>/simple/<name>, <base>/simple/<name>/ where base is ""
 * (the main index) or "/pr/<N>" (a pull request channel); p is the path after base, rel_base
 * the channel's directory under the index root ("" or "pr/<N>/"). */
static int simple_req(wf_httpd *h, h2o_req_t *req, const char *base, const char *rel_base,
                      h2o_iovec_t p)
{
    if (!is_prefix(p, "/simple"))
        return send_not_found(req);
    if (!method_ok(req))
        return 0;
    if (p.len <= 8) {
        char *location = wf_asprintf("%s/simple/", base);
        char *rel = wf_asprintf("%ssimple/index.html", rel_base);
        int rc = p.len == 8 ? pass_if_exists(h, req, rel, "the index root page")
                            : send_redirect(req, location);
        free(rel);
        free(location);
        return rc;
    }
    const char *name = p.base + 8;
    const char *slash = memchr(name, '/', p.len - 8);
    size_t name_len = slash != NULL ? (size_t)(slash - name) : p.len - 8;
    if (slash != NULL && slash + 1 != p.base + p.len)
        return send_not_found(req);
    if (!wf_pep503_valid(name, name_len))
        return send_error(req, 404, "not a valid project name",
                          "project names are letters, digits, '.', '-' and '_' (PEP 508)");
    if (slash == NULL || !wf_pep503_is_normalized(name, name_len)) {
        char *norm = wf_pep503_normalize(name, name_len);
        char *location = wf_asprintf("%s/simple/%s/", base, norm);
        send_redirect(req, location);
        free(location);
        free(norm);
        return 0;
    }
    char *rel = wf_asprintf("%ssimple/%.*s/index.html", rel_base, (int)name_len, name);
    char *what = wf_asprintf("project '%.*s'", (int)name_len, name);
    int rc = pass_if_exists(h, req, rel, what);
    free(what);
    free(rel);
    return rc;
}

/* <base>/files/<project>/<filename> only: no listings, no dot files (temporary files start so). */
static int files_req(wf_httpd *h, h2o_req_t *req, const char *rel_base, h2o_iovec_t p)
{
    if (!is_prefix(p, "/files") || p.len <= 7)
        return send_not_found(req);
    if (!method_ok(req))
        return 0;
    const char *project = p.base + 7;
    const char *slash = memchr(project, '/', p.len - 7);
    if (slash == NULL)
        return send_not_found(req);
    size_t project_len = (size_t)(slash - project);
    const char *file = slash + 1;
    size_t file_len = (size_t)(p.base + p.len - file);
    if (!wf_pep503_valid(project, project_len) || !wf_pep503_is_normalized(project, project_len) ||
        file_len == 0 || file[0] == '.' || memchr(file, '/', file_len) != NULL)
        return send_not_found(req);
    char *rel = wf_asprintf("%sfiles/%.*s", rel_base, (int)(p.len - 7), project);
    char *what = wf_asprintf("file '%.*s'", (int)file_len, file);
    int rc = pass_if_exists(h, req, rel, what);
    free(what);
    free(rel);
    return rc;
}

static int on_simple_req(h2o_handler_t *self, h2o_req_t *req)
{
    return simple_req(((route_handler *)self)->h, req, "", "", req->path_normalized);
}

static int on_files_req(h2o_handler_t *self, h2o_req_t *req)
{
    return files_req(((route_handler *)self)->h, req, "", req->path_normalized);
}

/* /pr/<N>/simple/... and /pr/<N>/files/...: a pull request's channel, laid out like the main
 * index under <index_root>/pr/<N>/. A channel that does not exist (never built, or removed when
 * its pull request closed) answers 404. */
static int on_pr_req(h2o_handler_t *self, h2o_req_t *req)
{
    wf_httpd *h = ((route_handler *)self)->h;
    h2o_iovec_t p = req->path_normalized;
    if (!is_prefix(p, "/pr") || p.len <= 4)
        return send_not_found(req);
    const char *num = p.base + 4;
    size_t num_len = 0;
    while (4 + num_len < p.len && num[num_len] >= '0' && num[num_len] <= '9')
        num_len++;
    int64_t n = 0;
    if (num_len == 0 || num[0] == '0' || wf_parse_i64(num, num_len, &n) != 0 || n < 1 ||
        4 + num_len == p.len || num[num_len] != '/')
        return send_error(req, 404, "not found",
                          "pull request channels are /pr/<number>/simple/ and /pr/<number>/files/");
    char *base = wf_asprintf("/pr/%lld", (long long)n);
    char *rel_base = wf_asprintf("pr/%lld/", (long long)n);
    h2o_iovec_t rest = h2o_iovec_init(num + num_len, p.len - 4 - num_len);
    int rc = is_prefix(rest, "/simple") ? simple_req(h, req, base, rel_base, rest)
                                        : files_req(h, req, rel_base, rest);
    free(rel_base);
    free(base);
    return rc;
}

/* ---- configuration ---- */

static route_handler *add_handler(h2o_pathconf_t *pc, wf_httpd *h, int via_socket,
                                  int (*on_req)(h2o_handler_t *, h2o_req_t *))
{
    route_handler *rh = (route_handler *)h2o_create_handler(pc, sizeof(*rh));
    rh->super.on_req = on_req;
    rh->h = h;
    rh->via_socket = via_socket;
    return rh;
}

static void setup_host(wf_httpd *h, h2o_hostconf_t *host, int via_socket, h2o_mimemap_t *mimemap)
{
    const char *index_files[] = {"index.html", NULL};
    const char *no_index_files[] = {NULL};

    /* The guards run first and pass (-1) to the file handler only for paths they checked;
     * "/" is registered last so the longer prefixes match first. */
    h2o_pathconf_t *pc = h2o_config_register_path(host, "/simple", 0);
    add_handler(pc, h, via_socket, on_simple_req);
    char *dir = wf_asprintf("%s/simple", h->index_root);
    h2o_file_register(pc, dir, index_files, mimemap, 0);
    free(dir);

    pc = h2o_config_register_path(host, "/files", 0);
    add_handler(pc, h, via_socket, on_files_req);
    dir = wf_asprintf("%s/files", h->index_root);
    h2o_file_register(pc, dir, no_index_files, mimemap, 0);
    free(dir);

    /* One file handler for every channel: on_pr_req lets through only simple/ pages (whose
     * index.html it found) and files under files/<project>/. */
    pc = h2o_config_register_path(host, "/pr", 0);
    add_handler(pc, h, via_socket, on_pr_req);
    dir = wf_asprintf("%s/pr", h->index_root);
    h2o_file_register(pc, dir, index_files, mimemap, 0);
    free(dir);

    pc = h2o_config_register_path(host, "/", 0);
    add_handler(pc, h, via_socket, on_route_req);
}

static void configure(wf_httpd *h)
{
    h2o_config_init(&h->config);
    h->config.server_name = h2o_iovec_init(H2O_STRLIT("wheelfarm/" WF_VERSION));
    h->config.max_request_entity_size =
        h->hooks_cb != NULL && h->hooks_max_body > h->max_body ? h->hooks_max_body : h->max_body;
    /* Plain HTTP/1.1 only: no h2c upgrade, so every connection is one h2o http1 connection. */
    h->config.http1.upgrade_to_http2 = 0;
    /* No open-file cache: index pages are replaced by rename and must be served fresh. */
    h->config.filecache.capacity = 0;

    h2o_mimemap_t *mimemap = h2o_mimemap_create();
    h2o_mimemap_define_mimetype(mimemap, "whl", "application/zip", NULL);
    h2o_mimemap_define_mimetype(mimemap, "metadata", "text/plain", NULL);
    h->hosts_tcp[0] =
        h2o_config_register_host(&h->config, h2o_iovec_init(H2O_STRLIT("tcp")), 65535);
    h->hosts_unix[0] =
        h2o_config_register_host(&h->config, h2o_iovec_init(H2O_STRLIT("unix")), 65535);
    setup_host(h, h->hosts_tcp[0], 0, mimemap);
    setup_host(h, h->hosts_unix[0], 1, mimemap);
    h2o_mem_release_shared(mimemap); /* the file handlers hold their own references */
}

/* ---- connections ---- */

static void on_conn_closed(uv_handle_t *handle);

static void free_handle(uv_handle_t *handle)
{
    free(wf_container_of(handle, conn, u.handle));
}

static void on_accept(uv_stream_t *server, int status)
{
    wf_httpd *h = server->data;
    int is_unix = server == (uv_stream_t *)&h->pipe;
    if (status < 0) {
        wf_log_warn("httpd: accept on %s failed: %s", is_unix ? h->socket_path : "tcp",
                    uv_strerror(status));
        return;
    }
    if (h->state != HTTPD_RUNNING)
        return;
    conn *c = wf_calloc(1, sizeof(*c));
    c->owner = h;
    int rc = is_unix ? uv_pipe_init(h->loop, &c->u.pipe, 0) : uv_tcp_init(h->loop, &c->u.tcp);
    if (rc != 0) {
        free(c);
        wf_log_warn("httpd: cannot set up a connection: %s", uv_strerror(rc));
        return;
    }
    rc = uv_accept(server, &c->u.stream);
    if (rc == 0 && h->n_conns >= h->max_connections) {
        wf_log_warn("httpd: %u connections open, the limit: closing a new one", h->n_conns);
        rc = WF_ELIMIT;
    }
    if (rc != 0) {
        uv_close(&c->u.handle, free_handle);
        return;
    }
    c->next = h->conns;
    if (h->conns != NULL)
        h->conns->prev = c;
    h->conns = c;
    h->n_conns++;
    h2o_socket_t *sock = h2o_uv_socket_create(&c->u.stream, on_conn_closed);
    h2o_accept(is_unix ? &h->accept_unix : &h->accept_tcp, sock);
}

/* ---- listeners ---- */

static int parse_tcp_addr(const char *s, struct sockaddr_storage *out)
{
    const char *colon = strrchr(s, ':');
    int64_t port = 0;
    if (colon == NULL || wf_parse_i64(colon + 1, strlen(colon + 1), &port) != 0 || port < 0 ||
        port > 65535)
        return WF_EINVAL;
    char *host = wf_strndup(s, (size_t)(colon - s));
    size_t hl = strlen(host);
    int rc;
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        rc = uv_ip6_addr(host + 1, (int)port, (struct sockaddr_in6 *)out);
    } else {
        const char *ip = host;
        if (hl == 0 || strcmp(host, "*") == 0)
            ip = "0.0.0.0";
        else if (strcmp(host, "localhost") == 0)
            ip = "127.0.0.1";
        rc = uv_ip4_addr(ip, (int)port, (struct sockaddr_in *)out);
    }
    free(host);
    return rc != 0 ? WF_EINVAL : 0;
}

static int listen_tcp(wf_httpd *h, const char *addr)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    int rc = parse_tcp_addr(addr, &ss);
    if (rc != 0) {
        wf_log_error("httpd: bad listen address '%s': want host:port, e.g. 127.0.0.1:8080 or "
                     "[::1]:8080",
                     addr);
        return rc;
    }
    if ((rc = uv_tcp_init(h->loop, &h->tcp)) != 0)
        return rc;
    h->has_tcp = 1;
    h->tcp.data = h;
    if ((rc = uv_tcp_bind(&h->tcp, (const struct sockaddr *)&ss, 0)) != 0)
        return rc;
    return uv_listen((uv_stream_t *)&h->tcp, LISTEN_BACKLOG, on_accept);
}

/* A leftover socket file is removed only when connecting to it is refused (nobody listens). */
static int clear_stale_socket(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : uv_translate_sys_error(errno);
    if (!S_ISSOCK(st.st_mode))
        return WF_EEXIST;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return UV_ENAMETOOLONG;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return uv_translate_sys_error(errno);
    int r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    int err = errno;
    close(fd);
    if (r == 0)
        return UV_EADDRINUSE;
    if (err != ECONNREFUSED)
        return uv_translate_sys_error(err);
    if (unlink(path) != 0 && errno != ENOENT)
        return uv_translate_sys_error(errno);
    return 0;
}

static int listen_unix(wf_httpd *h, const char *path)
{
    int rc = clear_stale_socket(path);
    if (rc != 0) {
        wf_log_error("httpd: cannot use socket path '%s': %s", path,
                     rc == WF_EEXIST       ? "a file that is not a socket is in the way"
                     : rc == UV_EADDRINUSE ? "another process listens on it"
                                           : uv_strerror(rc));
        return rc;
    }
    if ((rc = uv_pipe_init(h->loop, &h->pipe, 0)) != 0)
        return rc;
    h->has_pipe = 1;
    h->pipe.data = h;
    if ((rc = uv_pipe_bind(&h->pipe, path)) != 0)
        return rc;
    h->socket_bound = 1;
    /* Access control is the file's mode: set it before anyone can connect. */
    if (chmod(path, 0660) != 0)
        return uv_translate_sys_error(errno);
    return uv_listen((uv_stream_t *)&h->pipe, LISTEN_BACKLOG, on_accept);
}

static int check_options(const wf_httpd_options *o, wf_http_api_cb cb)
{
    int has_unix = o->socket_path != NULL && o->socket_path[0] != '\0';
    int has_tcp = o->tcp_addr != NULL && o->tcp_addr[0] != '\0';
    if (cb == NULL || o->index_root == NULL || (!has_unix && !has_tcp)) {
        wf_log_error("httpd: nothing to listen on: set listen.socket and/or listen.http");
        return WF_EINVAL;
    }
    if (has_tcp && (o->token == NULL || o->token[0] == '\0')) {
        wf_log_error("httpd: a TCP listener (%s) needs an API token", o->tcp_addr);
        return WF_EINVAL;
    }
    return 0;
}

int wf_httpd_start(wf_httpd **out, uv_loop_t *loop, const wf_httpd_options *o, wf_http_api_cb cb,
                   void *ctx)
{
    int rc = check_options(o, cb);
    if (rc != 0)
        return rc;
    if (sodium_init() < 0)
        return WF_EINFRA;
    wf_httpd *h = wf_calloc(1, sizeof(*h));
    h->loop = loop;
    h->state = HTTPD_RUNNING;
    h->cb = cb;
    h->cb_ctx = ctx;
    h->index_root = wf_strdup(o->index_root);
    h->max_body = o->max_body != 0 ? o->max_body : DEFAULT_MAX_BODY;
    h->max_connections = o->max_connections != 0 ? o->max_connections : DEFAULT_MAX_CONNECTIONS;
    h->hooks_cb = o->hooks_cb;
    h->hooks_max_body = o->hooks_max_body != 0 ? o->hooks_max_body : DEFAULT_MAX_BODY;
    if (o->token != NULL)
        crypto_generichash(h->token_hash, sizeof(h->token_hash), (const unsigned char *)o->token,
                           strlen(o->token), NULL, 0);
    configure(h);
    h2o_context_init(&h->ctx, loop, &h->config);
    h->ctx_inited = 1;
    h->accept_tcp.ctx = &h->ctx;
    h->accept_tcp.hosts = h->hosts_tcp;
    h->accept_unix.ctx = &h->ctx;
    h->accept_unix.hosts = h->hosts_unix;
    if ((rc = uv_timer_init(loop, &h->drain_timer)) != 0)
        goto fail;
    h->has_timer = 1;
    h->drain_timer.data = h;

    if (o->tcp_addr != NULL && o->tcp_addr[0] != '\0' && (rc = listen_tcp(h, o->tcp_addr)) != 0)
        goto fail;
    if (o->socket_path != NULL && o->socket_path[0] != '\0') {
        h->socket_path = wf_strdup(o->socket_path);
        if ((rc = listen_unix(h, o->socket_path)) != 0)
            goto fail;
    }
    *out = h;
    return 0;
fail:
    /* Handles already set up close asynchronously; the loop must run before uv_loop_close. */
    wf_httpd_close(h, NULL, NULL);
    return rc;
}

int wf_httpd_tcp_port(const wf_httpd *h)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (!h->has_tcp || uv_tcp_getsockname(&h->tcp, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* ---- shutdown ---- */

static void finish(wf_httpd *h)
{
    void (*on_closed)(void *) = h->on_closed;
    void *on_closed_ctx = h->on_closed_ctx;
    h2o_config_dispose(&h->config);
    sodium_memzero(h->token_hash, sizeof(h->token_hash));
    free(h->socket_path);
    free(h->index_root);
    free(h);
    if (on_closed != NULL)
        on_closed(on_closed_ctx);
}

static void on_timer_closed(uv_handle_t *handle)
{
    wf_httpd *h = handle->data;
    if (--h->closing_timers == 0)
        finish(h);
}

/* h2o_context_dispose() of h2o 2.2 ends with uv_run(loop, UV_RUN_NOWAIT) so that the timers it
 * closed are gone before the caller frees the context. Running the loop from inside a callback
 * is not allowed (it would also reset a pending uv_stop()), so this is the same teardown with
 * the timers closed through our own callback: the context (inside *h) is freed after the last
 * one. Everything else it releases is freed at once or frees itself (the multithread queue). */
static void dispose_context(wf_httpd *h)
{
    h2o_context_t *ctx = &h->ctx;
    h2o_globalconf_t *config = ctx->globalconf;
    for (size_t i = 0; config->hosts[i] != NULL; ++i) {
        h2o_hostconf_t *hostconf = config->hosts[i];
        for (size_t j = 0; j != hostconf->paths.size; ++j)
            h2o_context_dispose_pathconf_context(ctx, hostconf->paths.entries + j);
        h2o_context_dispose_pathconf_context(ctx, &hostconf->fallback_path);
    }
    free(ctx->_pathconfs_inited.entries);
    free(ctx->_module_configs);

    h2o_timeout_t *timeouts[] = {
        &ctx->zero_timeout,
        &ctx->one_sec_timeout,
        &ctx->hundred_ms_timeout,
        &ctx->handshake_timeout,
        &ctx->http1.req_timeout,
        &ctx->http2.idle_timeout,
        &ctx->http2.graceful_shutdown_timeout,
        &ctx->proxy.io_timeout,
    };
    for (size_t i = 0; i < WF_ARRAY_SIZE(timeouts); i++) {
        assert(h2o_linklist_is_empty(&timeouts[i]->_entries));
        timeouts[i]->_backend.timer.data = h;
        uv_close((uv_handle_t *)&timeouts[i]->_backend.timer, on_timer_closed);
        h->closing_timers++;
    }

    h2o_filecache_destroy(ctx->filecache);
    ctx->filecache = NULL;
    for (size_t i = 0; i != ctx->storage.size; ++i) {
        h2o_context_storage_item_t *item = ctx->storage.entries + i;
        if (item->dispose != NULL)
            item->dispose(item->data);
    }
    free(ctx->storage.entries);
    h2o_multithread_unregister_receiver(ctx->queue, &ctx->receivers.hostinfo_getaddr);
    h2o_multithread_destroy_queue(ctx->queue);
    if (ctx->_timestamp_cache.value != NULL)
        h2o_mem_release_shared(ctx->_timestamp_cache.value);
}

static void on_listener_closed(uv_handle_t *handle);

/* Runs after each close; the last one (listeners and connections all gone) disposes h2o. */
static void maybe_dispose(wf_httpd *h)
{
    if (h->state != HTTPD_CLOSING || h->disposed || h->closing_listeners > 0 || h->n_conns > 0)
        return;
    if (h->has_timer) {
        h->has_timer = 0;
        h->closing_listeners++;
        uv_close((uv_handle_t *)&h->drain_timer, on_listener_closed);
        return;
    }
    h->disposed = 1;
    if (!h->ctx_inited) {
        finish(h);
        return;
    }
    dispose_context(h);
}

static void on_conn_closed(uv_handle_t *handle)
{
    conn *c = wf_container_of(handle, conn, u.handle);
    wf_httpd *h = c->owner;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    h->n_conns--;
    free(c);
    maybe_dispose(h);
}

static void on_listener_closed(uv_handle_t *handle)
{
    wf_httpd *h = handle->data;
    h->closing_listeners--;
    maybe_dispose(h);
}

/* Shutting a socket down for reading makes h2o see end-of-file and close the connection
 * through its own code path once the response in flight (if any) is written; h2o 2.2 has no
 * public call that closes an HTTP/1 connection from outside. After DRAIN_TIMEOUT_MS the write
 * side goes too, so a peer that does not read cannot hold the shutdown up. */
static void shutdown_conns(wf_httpd *h, int how)
{
    for (conn *c = h->conns; c != NULL; c = c->next) {
        uv_os_fd_t fd;
        if (uv_fileno(&c->u.handle, &fd) == 0)
            shutdown(fd, how);
    }
}

static void on_drain_timeout(uv_timer_t *timer)
{
    wf_httpd *h = timer->data;
    wf_log_warn("httpd: %u connection(s) still busy after %d ms, cutting them off", h->n_conns,
                DRAIN_TIMEOUT_MS);
    shutdown_conns(h, SHUT_RDWR);
}

void wf_httpd_close(wf_httpd *h, void (*on_closed)(void *ctx), void *ctx)
{
    assert(h->state == HTTPD_RUNNING);
    h->state = HTTPD_CLOSING;
    h->on_closed = on_closed;
    h->on_closed_ctx = ctx;
    if (h->has_tcp) {
        h->closing_listeners++;
        uv_close((uv_handle_t *)&h->tcp, on_listener_closed);
    }
    if (h->has_pipe) {
        h->closing_listeners++;
        uv_close((uv_handle_t *)&h->pipe, on_listener_closed);
    }
    if (h->socket_bound && unlink(h->socket_path) != 0 && errno != ENOENT)
        wf_log_warn("httpd: cannot remove socket '%s': %s", h->socket_path, strerror(errno));
    if (h->ctx_inited)
        h->ctx.shutdown_requested = 1;
    shutdown_conns(h, SHUT_RD);
    if (h->n_conns > 0 && h->has_timer)
        uv_timer_start(&h->drain_timer, on_drain_timeout, DRAIN_TIMEOUT_MS, 0);
    maybe_dispose(h);
}
