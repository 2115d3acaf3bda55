/* httpd.h - the daemon's HTTP server (h2o 2.2, libuv): the JSON API and the PEP 503 index.
 *
 * This is the only module that includes <h2o.h>. It listens on a Unix socket and/or TCP and
 * routes requests:
 *   /api/...            -> authentication, then the API callback (synchronous, loop thread);
 *                          over TCP it needs "Authorization: Bearer <token>", over the socket not.
 *   /simple/, /simple/<normalized>/
 *                       -> <index_root>/simple/.../index.html through h2o's file handler
 *                          (ETag, Last-Modified, Range); other spellings answer 301 to the
 *                          normalized URL, a missing trailing slash 301 to the slash form.
 *   /files/<project>/<filename>
 *                       -> <index_root>/files/... through the file handler (no listing).
 *   /pr/<N>/simple/..., /pr/<N>/files/...
 *                       -> a pull request's channel, the same layout under <index_root>/pr/<N>/.
 *   /hooks/...          -> the webhooks callback, without the API token (a webhook carries its
 *                          own signature, which the callback checks); 404 without one.
 *   anything else       -> 404 JSON.
 * Index paths accept GET and HEAD only (405 otherwise). Errors are JSON
 * {"error": ..., "hint": ...}. Connections and request bodies are bounded.
 * Everything here runs on the loop thread; nothing is thread-safe.
 */
#ifndef WF_HTTPD_H
#define WF_HTTPD_H

#include <stddef.h>
#include <uv.h>

#include "lib/wf.h"

typedef struct wf_httpd wf_httpd;

/* One request as the API callback sees it. Every pointer is borrowed until the callback
 * returns; none is NUL-terminated unless said otherwise. */
typedef struct wf_http_request {
    const char *method;
    size_t method_len;
    const char *path; /* normalized, without the query string */
    size_t path_len;
    const char *query; /* after '?', may be empty */
    size_t query_len;
    const char *body; /* the whole body (bounded by max_body); NULL when there is none */
    size_t body_len;
    int via_socket; /* 1 = came over the Unix socket */
} wf_http_request;

/* A request header by name (case-insensitive). Returns a NUL-terminated copy of the first
 * value, borrowed until the callback returns, and its length in *len_out (len_out may be NULL);
 * NULL if the header is absent. */
const char *wf_http_request_header(const wf_http_request *r, const char *name, size_t *len_out);

/* Query parameter lookup (?a=1&b=x), name and value percent-decoded ('+' is a space). A
 * parameter without '=' has the value "". NULL if absent; the caller frees the result. */
char *wf_http_request_query(const wf_http_request *r, const char *name);

/* The response the API callback fills in. The httpd initializes it (status 200, content type
 * "application/json", empty body, no headers) before calling the callback. */
typedef struct wf_http_response {
    int status;               /* default 200 */
    const char *content_type; /* static string; default "application/json" */
    wf_buf body;              /* the httpd sends and releases it */
    char *headers[8][2];      /* extra headers (heap strings, freed by the httpd), name/value;
                                 the list ends at the first NULL name */
} wf_http_response;

/* Adds an extra response header; copies both strings. At most 8 (more is a programming error
 * and asserts). */
void wf_http_response_header(wf_http_response *res, const char *name, const char *value);

/* Called on the loop thread for every request under /api/ that passed authentication (and,
 * as the hooks callback, for every request under /hooks/). Synchronous: the response is sent
 * when the callback returns. */
typedef void (*wf_http_api_cb)(const wf_http_request *req, wf_http_response *res, void *ctx);

typedef struct wf_httpd_options {
    const char *socket_path;  /* Unix socket (created, mode 0660; a stale file is replaced only
                                 if nobody listens on it); NULL or "" = none */
    const char *tcp_addr;     /* "host:port" (IPv4 literal, [IPv6] literal or "localhost"; port
                                 may be 0); NULL or "" = none */
    const char *token;        /* bearer token required for /api/ over TCP; never logged;
                                 required when tcp_addr is set */
    const char *index_root;   /* directory holding simple/ and files/ */
    size_t max_body;          /* default 1 MiB; bigger bodies get 413 */
    unsigned max_connections; /* default 256; further connections are closed at once */
    wf_http_api_cb hooks_cb;  /* requests under /hooks/ (same ctx); NULL: 404 */
    size_t hooks_max_body;    /* default 1 MiB; bigger webhook bodies get 413 (h2o refuses a
                                 declared length over the larger limit before reading it) */
} wf_httpd_options;

/* Starts listening on the loop. At least one of socket_path and tcp_addr must be set. On
 * success *out is the server (free it with wf_httpd_close); the options are copied. Returns 0,
 * WF_EINVAL (bad options), WF_EEXIST (socket_path exists and is not a socket),
 * UV_EADDRINUSE (somebody listens on socket_path or the TCP address) or another UV_E* code.
 * On failure the handles already set up close asynchronously: run the loop before
 * uv_loop_close(). */
int wf_httpd_start(wf_httpd **out, uv_loop_t *loop, const wf_httpd_options *o, wf_http_api_cb cb,
                   void *ctx);

/* The bound TCP port (useful with port 0), or 0 without a TCP listener. */
int wf_httpd_tcp_port(const wf_httpd *h);

/* Stops listening (removing the socket file), ends every open connection (idle ones at once,
 * busy ones once their response is written, at most 5 s later), disposes h2o's context and
 * closes all its handles. on_closed (may be NULL) fires once, on the loop, after every handle
 * is closed and the httpd is freed. Call once; h must not be used after. May be called from
 * inside the API callback: that request is still answered. */
void wf_httpd_close(wf_httpd *h, void (*on_closed)(void *ctx), void *ctx);

#endif
