/* test-httpd.c - unit tests for daemon/httpd.c: a private loop, real sockets, a raw HTTP client. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "daemon/httpd.h"
#include "daemon/index.h"
#include "lib/fsutil.h"
#include "lib/wf.h"
#include "support/http_client.h"

#define TOKEN "s3cret-token"
#define WHEEL "foo_bar-1.0-py3-none-any.whl"
#define WHEEL_DATA "PK\x03\x04 this stands in for a wheel's bytes"
#define MAX_BODY 1024

typedef struct fixture fixture;
typedef void (*client_fn)(fixture *f);

struct fixture {
    uv_loop_t loop;
    uv_async_t done;
    wf_httpd *h;
    char root[64];
    char sock[128];
    int port;
    client_fn client;
    int closed;        /* on_closed calls */
    int closing;       /* wf_httpd_close was called */
    uint64_t close_ms; /* how long wf_httpd_close took to finish */
    int api_calls;
    int hook_calls;
    http_resp r[32]; /* filled by the client thread, checked on the main thread */
    int fds[4];      /* connections the client leaves open across wf_httpd_close */
    int nfds;
};

/* ---- the client, run on its own thread ---- */

static int connect_to(fixture *f, int via_unix)
{
    return http_client_connect(via_unix ? f->sock : NULL, f->port);
}

static void exchange(fixture *f, int via_unix, const char *request, http_resp *out)
{
    http_client_send(out, via_unix ? f->sock : NULL, f->port, request, strlen(request));
}

/* ---- the server side ---- */

static void on_closed(void *ctx)
{
    fixture *f = ctx;
    f->closed++;
    f->close_ms = wf_now_ms() - f->close_ms;
}

static void on_api(const wf_http_request *req, wf_http_response *res, void *ctx)
{
    fixture *f = ctx;
    f->api_calls++;
    if (req->path_len == 13 && memcmp(req->path, "/api/shutdown", 13) == 0) {
        /* Closing from inside the callback still answers this request. */
        f->closing = 1;
        f->close_ms = wf_now_ms();
        wf_httpd_close(f->h, on_closed, f);
        wf_buf_adds(&res->body, "{\"stopping\": true}");
        return;
    }
    if (req->body_len > 0)
        wf_buf_add(&res->body, req->body, req->body_len);
    char *a = wf_http_request_query(req, "a");
    if (a != NULL) {
        wf_http_response_header(res, "X-Echo-Query", a);
        free(a);
    }
    char *b = wf_http_request_query(req, "b");
    if (b != NULL) {
        wf_http_response_header(res, "X-Echo-B", b[0] == '\0' ? "(empty)" : b);
        free(b);
    }
    const char *x = wf_http_request_header(req, "x-TEST", NULL);
    if (x != NULL)
        wf_http_response_header(res, "X-Echo-Header", x);
    char *path = wf_strndup(req->path, req->path_len);
    wf_http_response_header(res, "X-Path", path);
    free(path);
    wf_http_response_header(res, "X-Via", req->via_socket ? "socket" : "tcp");
    if (req->method_len == 4 && memcmp(req->method, "POST", 4) == 0)
        res->status = 201;
    res->content_type = "text/plain";
}

static void on_hooks(const wf_http_request *req, wf_http_response *res, void *ctx)
{
    fixture *f = ctx;
    f->hook_calls++;
    char *path = wf_strndup(req->path, req->path_len);
    wf_http_response_header(res, "X-Path", path);
    free(path);
    char *len = wf_asprintf("%zu", req->body_len);
    wf_http_response_header(res, "X-Body-Length", len);
    free(len);
    res->status = 202;
}

static void on_done(uv_async_t *a)
{
    fixture *f = a->data;
    uv_close((uv_handle_t *)a, NULL);
    if (f->closing)
        return;
    f->closing = 1;
    f->close_ms = wf_now_ms();
    wf_httpd_close(f->h, on_closed, f);
}

static void *client_main(void *arg)
{
    fixture *f = arg;
    f->client(f);
    uv_async_send(&f->done);
    return NULL;
}

static void walk_cb(uv_handle_t *handle, void *arg)
{
    (void)arg;
    fprintf(stderr, "left open: handle type %s (closing %d)\n", uv_handle_type_name(handle->type),
            uv_is_closing(handle));
}

static void make_index(fixture *f)
{
    wf_index_file file = {WHEEL, NULL, "0123abcd", ">=3.8", NULL};
    assert_int_equal(wf_index_write_project(f->root, "foo-bar", &file, 1), 0);
    const char *projects[] = {"foo-bar"};
    assert_int_equal(wf_index_write_root(f->root, projects, 1), 0);
    char *path = wf_index_file_path(f->root, "foo-bar", WHEEL);
    assert_non_null(path);
    assert_int_equal(wf_fs_write_atomic(path, WHEEL_DATA, strlen(WHEEL_DATA), 0644), 0);
    free(path);
}

static int setup(void **state)
{
    fixture *f = wf_calloc(1, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "/tmp/wf-test-httpd-XXXXXX");
    if (mkdtemp(f->root) == NULL)
        return -1;
    snprintf(f->sock, sizeof(f->sock), "%s/api.sock", f->root);
    if (uv_loop_init(&f->loop) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    for (size_t i = 0; i < WF_ARRAY_SIZE(f->r); i++)
        http_resp_release(&f->r[i]);
    wf_fs_remove_tree(f->root);
    free(f);
    return 0;
}

/* Starts the server, runs the client on a thread, closes the server when the client is done and
 * checks that the loop ends with nothing open. */
static void run(fixture *f, wf_httpd_options *o, client_fn client)
{
    make_index(f);
    o->index_root = f->root;
    assert_int_equal(wf_httpd_start(&f->h, &f->loop, o, on_api, f), 0);
    f->port = wf_httpd_tcp_port(f->h);
    if (o->tcp_addr != NULL)
        assert_true(f->port > 0);
    assert_int_equal(uv_async_init(&f->loop, &f->done, on_done), 0);
    f->done.data = f;
    f->client = client;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, client_main, f), 0);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    pthread_join(t, NULL);
    assert_int_equal(f->closed, 1);
    /* Open connections are shut down, not waited for (h2o's idle timeout is 10 s). */
    assert_true(f->close_ms < 3000);
    uv_walk(&f->loop, walk_cb, NULL);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    for (int i = 0; i < f->nfds; i++)
        close(f->fds[i]);
}

/* ---- scenarios ---- */

typedef struct scenario {
    int via_unix;
    const char *request;
    int status;
    const char *header_name; /* optional header to check */
    const char *header_value;
    const char *body_has; /* optional substring of the body */
} scenario;

/* The answer to table[i] is f->r[i]. */
static void check_scenarios(const fixture *f, const scenario *table, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const scenario *s = &table[i];
        const http_resp *r = &f->r[i];
        if (r->status != s->status)
            fail_msg("scenario %zu: status %d, want %d\n%s%s", i, r->status, s->status,
                     r->head ? r->head : "(no response)", r->body ? r->body : "");
        if (s->header_name != NULL)
            http_assert_header(r, s->header_name, s->header_value);
        if (s->body_has != NULL && (r->body == NULL || strstr(r->body, s->body_has) == NULL))
            fail_msg("scenario %zu: body lacks '%s':\n%s", i, s->body_has, r->body);
    }
}

#define AUTH "Authorization: Bearer " TOKEN "\r\n"
#define CLOSE "Connection: close\r\n"

static const scenario scenarios[] = {
    /* 0: API over TCP with the token: body, query, headers reach the callback */
    {0,
     "POST /api/echo?a=x%20y&b HTTP/1.1\r\nHost: t\r\n" AUTH CLOSE
     "X-Test: hello\r\nContent-Length: 5\r\n\r\nhello",
     201, "X-Echo-Query", "x y", "hello"},
    /* 1: no token over TCP */
    {0, "GET /api/jobs HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n", 401, "WWW-Authenticate", "Bearer",
     "\"hint\""},
    /* 2: wrong token */
    {0, "GET /api/jobs HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer s3cret-tokeX\r\n" CLOSE "\r\n",
     401, "Content-Type", "application/json", "\"error\""},
    /* 3: a prefix of the token is not the token */
    {0, "GET /api/jobs HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer s3cret\r\n" CLOSE "\r\n", 401,
     NULL, NULL, NULL},
    /* 4: the socket needs no token */
    {1, "GET /api/jobs HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n", 200, "X-Via", "socket", NULL},
    /* 5: a body over max_body */
    {0, "POST /api/echo HTTP/1.1\r\nHost: t\r\n" AUTH CLOSE "Content-Length: 2000\r\n\r\nxxxx", 413,
     NULL, NULL, NULL},
    /* 6: dot segments are normalized before routing: still the API, still needs the token */
    {0, "GET /simple/../api/jobs HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n", 401, NULL, NULL, NULL},
    /* 7: non-normalized project names redirect */
    {0, "GET /simple/Foo_Bar/ HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n", 301, "Location",
     "/simple/foo-bar/", NULL},
    /* 8: a missing slash redirects */
    {0, "GET /simple/foo-bar HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n", 301, "Location",
     "/simple/foo-bar/", NULL},
    /* 9: the project page */
    {0, "GET /simple/foo-bar/ HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n", 200, "Content-Type",
     "text/html", "href=\"../../files/foo-bar/" WHEEL "#sha256=0123abcd\""},
    /* 10: the root page, over the socket too */
    {1, "GET /simple/ HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n", 200, "Content-Type", "text/html",
     "<a href=\"foo-bar/\">foo-bar</a>"},
    /* 11: unknown project */
    {0, "GET /simple/nope/ HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n", 404, "Content-Type",
     "application/json", "project 'nope' not found"},
    /* 12: a file */
    {0, "GET /files/foo-bar/" WHEEL " HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n", 200, "Content-Type",
     "application/zip", "stands in for a wheel"},
    /* 13: a range of it */
    {0, "GET /files/foo-bar/" WHEEL " HTTP/1.1\r\nHost: t\r\nRange: bytes=5-8\r\n" CLOSE "\r\n",
     206, "Content-Range", "bytes 5-8/39", "this"},
    /* 14: index paths are read-only */
    {0, "POST /simple/foo-bar/ HTTP/1.1\r\nHost: t\r\n" CLOSE "Content-Length: 0\r\n\r\n", 405,
     "Allow", "GET, HEAD", NULL},
    /* 15: unknown paths */
    {0, "GET /nothing HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n", 404, "Content-Type",
     "application/json", "\"error\""},
    {0, "GET /apix HTTP/1.1\r\nHost: t\r\n" AUTH CLOSE "\r\n", 404, NULL, NULL, NULL},
    /* 17: no directory listings, no dot files, no unknown files */
    {0, "GET /files/foo-bar/ HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n", 404, NULL, NULL, NULL},
    {0, "GET /files/foo-bar/.x HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n", 404, NULL, NULL, NULL},
    {0, "GET /files/foo-bar/x.whl HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n", 404, NULL, NULL, NULL},
    {0, "GET /simple/foo-bar/index.html HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n", 404, NULL, NULL,
     NULL},
    /* 21: HEAD */
    {0, "HEAD /simple/foo-bar/ HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n", 200, "Content-Type",
     "text/html", NULL},
    /* 22: an empty query value */
    {1, "GET /api/x?b HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n", 200, "X-Echo-B", "(empty)", NULL},
    /* 23: without a hooks callback there are no webhook endpoints */
    {0, "POST /hooks/github HTTP/1.1\r\nHost: t\r\n" CLOSE "Content-Length: 2\r\n\r\n{}", 404, NULL,
     NULL, "no webhook endpoints"},
};

#define N_SCENARIOS ((int)WF_ARRAY_SIZE(scenarios))
#define R_ETAG_304 (N_SCENARIOS)

static void client_scenarios(fixture *f)
{
    for (int i = 0; i < N_SCENARIOS; i++)
        exchange(f, scenarios[i].via_unix, scenarios[i].request, &f->r[i]);
    /* A conditional request with the ETag of scenario 12 answers 304. */
    char etag[128];
    if (http_resp_header(&f->r[12], "ETag", etag, sizeof(etag)) != NULL) {
        char *req = wf_asprintf("GET /files/foo-bar/" WHEEL " HTTP/1.1\r\nHost: t\r\n"
                                "If-None-Match: %s\r\n" CLOSE "\r\n",
                                etag);
        exchange(f, 0, req, &f->r[R_ETAG_304]);
        free(req);
    }
    /* Leave an idle connection and a kept-alive one open: close must end both. */
    f->fds[f->nfds++] = connect_to(f, 0);
    int fd = connect_to(f, 1);
    const char *keep = "GET /simple/ HTTP/1.1\r\nHost: t\r\n\r\n";
    http_client_send_all(fd, keep, strlen(keep));
    char buf[256];
    (void)!recv(fd, buf, sizeof(buf), 0);
    f->fds[f->nfds++] = fd;
}

static void test_routes(void **state)
{
    fixture *f = *state;
    wf_httpd_options o = {0};
    o.socket_path = f->sock;
    o.tcp_addr = "127.0.0.1:0";
    o.token = TOKEN;
    o.max_body = MAX_BODY;
    run(f, &o, client_scenarios);

    check_scenarios(f, scenarios, WF_ARRAY_SIZE(scenarios));
    /* Details the table cannot say. */
    assert_int_equal(f->r[0].body_len, 5);
    assert_string_equal(f->r[0].body, "hello");
    http_assert_header(&f->r[0], "X-Echo-Header", "hello");
    http_assert_header(&f->r[0], "X-Via", "tcp");
    http_assert_header(&f->r[0], "X-Path", "/api/echo");
    http_assert_header(&f->r[0], "Content-Type", "text/plain");
    http_assert_header(&f->r[12], "Accept-Ranges", "bytes");
    char buf[128];
    assert_non_null(http_resp_header(&f->r[12], "Last-Modified", buf, sizeof(buf)));
    assert_int_equal(f->r[12].body_len, strlen(WHEEL_DATA));
    assert_memory_equal(f->r[12].body, WHEEL_DATA, strlen(WHEEL_DATA));
    assert_int_equal(f->r[13].body_len, 4);
    assert_int_equal(f->r[21].body_len, 0);
    assert_int_equal(f->r[R_ETAG_304].status, 304);
    /* Only authenticated API requests reached the callback: 0, 4, 22. */
    assert_int_equal(f->api_calls, 3);
    /* The socket file is gone after close. */
    struct stat st;
    assert_int_not_equal(stat(f->sock, &st), 0);
}

/* A pull request channel next to the main index: pages and files under <root>/pr/7/. */
static void make_channel(fixture *f)
{
    char *root = wf_asprintf("%s/pr/7", f->root);
    wf_index_file file = {WHEEL, NULL, "4567cdef", NULL, NULL};
    assert_int_equal(wf_index_write_project(root, "foo-bar", &file, 1), 0);
    const char *projects[] = {"foo-bar"};
    assert_int_equal(wf_index_write_root(root, projects, 1), 0);
    char *path = wf_index_file_path(root, "foo-bar", WHEEL);
    assert_non_null(path);
    assert_int_equal(wf_fs_write_atomic(path, "pr wheel", 8, 0644), 0);
    free(path);
    free(root);
}

/* Replaced by 2000 bytes of body before sending. */
#define BODY_2000 "Content-Length: 2000\r\n\r\n@BODY@"

static const scenario channel_scenarios[] = {
    /* 0: a webhook needs no API token; the hooks callback gets it */
    {0, "POST /hooks/github HTTP/1.1\r\nHost: t\r\n" CLOSE "Content-Length: 3\r\n\r\nabc", 202,
     "X-Path", "/hooks/github", NULL},
    /* 1: the webhook limit (4096) is not the API's (1024) */
    {0, "POST /hooks/gitea HTTP/1.1\r\nHost: t\r\n" CLOSE BODY_2000, 202, "X-Body-Length", "2000",
     NULL},
    /* 2: the API keeps its own limit */
    {0, "POST /api/echo HTTP/1.1\r\nHost: t\r\n" AUTH CLOSE BODY_2000, 413, NULL, NULL,
     "request body too large"},
    /* 3: a declared length over the larger limit is refused before the body is read */
    {0, "POST /hooks/github HTTP/1.1\r\nHost: t\r\n" CLOSE "Content-Length: 100000\r\n\r\nab", 413,
     NULL, NULL, NULL},
    /* 4-9: the channel's pages and files */
    {0, "GET /pr/7/simple/ HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n", 200, "Content-Type", "text/html",
     "<a href=\"foo-bar/\">foo-bar</a>"},
    {0, "GET /pr/7/simple/Foo_Bar/ HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n", 301, "Location",
     "/pr/7/simple/foo-bar/", NULL},
    {1, "GET /pr/7/simple HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n", 301, "Location", "/pr/7/simple/",
     NULL},
    {0, "GET /pr/7/simple/foo-bar/ HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n", 200, NULL, NULL,
     "href=\"../../files/foo-bar/" WHEEL "#sha256=4567cdef\""},
    {0, "GET /pr/7/files/foo-bar/" WHEEL " HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n", 200,
     "Content-Type", "application/zip", "pr wheel"},
    {0, "HEAD /pr/7/simple/foo-bar/ HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n", 200, NULL, NULL, NULL},
    /* 10-15: what is not a channel page or file */
    {0, "GET /pr/8/simple/ HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n", 404, NULL, NULL,
     "the index root page not found"},
    {0, "GET /pr/07/simple/ HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n", 404, NULL, NULL, NULL},
    {0, "GET /pr/7/files/foo-bar/ HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n", 404, NULL, NULL, NULL},
    {0, "GET /pr/7/other HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n", 404, NULL, NULL, NULL},
    {0, "GET /pr/x/simple/ HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n", 404, NULL, NULL, NULL},
    {0, "POST /pr/7/simple/ HTTP/1.1\r\nHost: t\r\n" CLOSE "Content-Length: 0\r\n\r\n", 405,
     "Allow", "GET, HEAD", NULL},
    /* 16: the main index is not the channel */
    {0, "GET /simple/foo-bar/ HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n", 200, NULL, NULL,
     "#sha256=0123abcd"},
};

static void client_channels(fixture *f)
{
    for (size_t i = 0; i < WF_ARRAY_SIZE(channel_scenarios); i++) {
        const char *req = channel_scenarios[i].request;
        const char *at = strstr(req, "@BODY@");
        wf_buf b = WF_BUF_INIT;
        wf_buf_add(&b, req, at != NULL ? (size_t)(at - req) : strlen(req));
        for (int k = 0; at != NULL && k < 2000; k++)
            wf_buf_add(&b, "x", 1);
        exchange(f, channel_scenarios[i].via_unix, b.ptr, &f->r[i]);
        wf_buf_release(&b);
    }
}

/* Pull request channels under /pr/<N>/, and webhook endpoints with their own body limit. */
static void test_channels_and_hooks(void **state)
{
    fixture *f = *state;
    wf_httpd_options o = {0};
    o.socket_path = f->sock;
    o.tcp_addr = "127.0.0.1:0";
    o.token = TOKEN;
    o.max_body = MAX_BODY;
    o.hooks_cb = on_hooks;
    o.hooks_max_body = 4096;
    make_index(f);
    make_channel(f);
    run(f, &o, client_channels);
    check_scenarios(f, channel_scenarios, WF_ARRAY_SIZE(channel_scenarios));
    assert_int_equal(f->r[8].body_len, 8);
    /* Scenarios 0 and 1 reached the hooks callback, nothing reached the API's. */
    assert_int_equal(f->hook_calls, 2);
    assert_int_equal(f->api_calls, 0);
}

static void client_limit(fixture *f)
{
    /* Two connections fill the limit; a third is closed at once; the first two still work. */
    int a = connect_to(f, 0);
    int b = connect_to(f, 0);
    int c = connect_to(f, 0);
    char buf[16];
    f->r[0].status = recv(c, buf, sizeof(buf), 0) == 0 ? 1 : -1; /* 1 = closed by the server */
    close(c);
    const char *req = "GET /simple/ HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n";
    http_client_send_all(a, req, strlen(req));
    http_client_read_response(a, &f->r[1]);
    close(a);
    close(b);
}

static void test_connection_limit(void **state)
{
    fixture *f = *state;
    wf_httpd_options o = {0};
    o.tcp_addr = "127.0.0.1:0";
    o.token = TOKEN;
    o.max_connections = 2;
    run(f, &o, client_limit);
    assert_int_equal(f->r[0].status, 1);
    assert_int_equal(f->r[1].status, 200);
}

static void check_socket_mode(fixture *f)
{
    struct stat st;
    f->r[0].status =
        stat(f->sock, &st) == 0 && S_ISSOCK(st.st_mode) ? (int)(st.st_mode & 0777) : -1;
    http_resp r;
    exchange(f, 1, "GET /api/x HTTP/1.1\r\nHost: t\r\n" CLOSE "\r\n", &r);
    f->r[1] = r;
}

/* A stale socket file (nobody listening) is replaced; the socket gets mode 0660. */
static void test_stale_socket_replaced(void **state)
{
    fixture *f = *state;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, f->sock, strlen(f->sock) + 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
    wf_httpd_options o = {0};
    o.socket_path = f->sock;
    run(f, &o, check_socket_mode);
    assert_int_equal(f->r[0].status, 0660);
    assert_int_equal(f->r[1].status, 200);
}

/* Start failures: the error is returned and everything set up is closed again. */
static void test_start_failures(void **state)
{
    fixture *f = *state;
    wf_httpd *h = NULL;
    wf_httpd_options o = {0};
    o.index_root = f->root;

    /* Nothing to listen on; a TCP listener without a token; a bad address. */
    assert_int_equal(wf_httpd_start(&h, &f->loop, &o, on_api, f), WF_EINVAL);
    o.tcp_addr = "127.0.0.1:0";
    assert_int_equal(wf_httpd_start(&h, &f->loop, &o, on_api, f), WF_EINVAL);
    o.token = TOKEN;
    o.tcp_addr = "127.0.0.1:http";
    assert_int_equal(wf_httpd_start(&h, &f->loop, &o, on_api, f), WF_EINVAL);
    o.tcp_addr = "nohost.invalid:80";
    assert_int_equal(wf_httpd_start(&h, &f->loop, &o, on_api, f), WF_EINVAL);

    /* A regular file in the socket's place is not removed. */
    o.tcp_addr = NULL;
    FILE *fp = fopen(f->sock, "w");
    assert_non_null(fp);
    fclose(fp);
    o.socket_path = f->sock;
    assert_int_equal(wf_httpd_start(&h, &f->loop, &o, on_api, f), WF_EEXIST);
    unlink(f->sock);

    /* A socket somebody listens on is not taken over. */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, f->sock, strlen(f->sock) + 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(wf_httpd_start(&h, &f->loop, &o, on_api, f), UV_EADDRINUSE);
    close(fd);
    assert_null(h);

    /* A TCP port in use, with the TCP listener set up first and closed again. */
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sin);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    char *addr = wf_asprintf("127.0.0.1:%d", ntohs(sin.sin_port));
    o.tcp_addr = addr;
    o.socket_path = NULL;
    assert_int_equal(wf_httpd_start(&h, &f->loop, &o, on_api, f), UV_EADDRINUSE);
    free(addr);
    close(fd);

    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    uv_walk(&f->loop, walk_cb, NULL);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

static void client_shutdown(fixture *f)
{
    /* An idle TCP connection stays open while a socket request asks the server to stop. */
    f->fds[f->nfds++] = connect_to(f, 0);
    int fd = connect_to(f, 1);
    const char *req = "POST /api/shutdown HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n";
    http_client_send_all(fd, req, strlen(req));
    http_client_read_response(
        fd, &f->r[0]); /* no Connection: close: the server must end the connection */
    close(fd);
}

static void test_close_from_callback(void **state)
{
    fixture *f = *state;
    wf_httpd_options o = {0};
    o.socket_path = f->sock;
    o.tcp_addr = "127.0.0.1:0";
    o.token = TOKEN;
    run(f, &o, client_shutdown);
    assert_int_equal(f->r[0].status, 200);
    assert_string_equal(f->r[0].body, "{\"stopping\": true}");
}

int main(void)
{
    alarm(120); /* a hang (a connection close never finishing) fails instead of stalling CI */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_routes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channels_and_hooks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_socket_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_failures, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
