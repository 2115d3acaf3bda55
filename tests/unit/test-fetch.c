/* test-fetch.c - unit tests for daemon/fetch.c against a small HTTP server thread on 127.0.0.1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "daemon/fetch.h"
#include "lib/hash.h"
#include "lib/wf.h"

#define FILE_BODY "pretend this is demo-1.0.tar.gz\n"
#define PAGE_BODY "{\"meta\":{\"api-version\":\"1.0\"},\"files\":[]}"
#define PAGE_TYPE "application/vnd.pypi.simple.v1+json"
#define WRONG_HASH "1111111111111111111111111111111111111111111111111111111111111111"

/* ---- a tiny HTTP/1.1 server: one connection at a time, "Connection: close" ---- */

typedef struct server {
    int fd;
    int port;
    pthread_t thread;
    pthread_mutex_t lock;
    int requests;
    char last_request[4096];
    int held[8]; /* /slow connections left unanswered until the server stops */
    int nheld;
} server;

static server g_srv;

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void respond(int fd, const char *status, const char *extra, const char *body)
{
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %s\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n", status,
                     strlen(body), extra);
    assert_true(n > 0 && (size_t)n < sizeof(head));
    send_all(fd, head, (size_t)n);
    send_all(fd, body, strlen(body));
}

/* Returns 1 if the connection is kept open (not to be closed now). */
static int serve(server *s, int fd)
{
    char req[4096];
    size_t len = 0;
    while (len < sizeof(req) - 1 && !memmem(req, len, "\r\n\r\n", 4)) {
        ssize_t r = recv(fd, req + len, sizeof(req) - 1 - len, 0);
        if (r <= 0)
            return 0;
        len += (size_t)r;
    }
    req[len] = '\0';
    /* A POST: read its body too (Content-Length), so last_request holds all of it. */
    const char *cl = strcasestr(req, "\r\nContent-Length: ");
    char *end = strstr(req, "\r\n\r\n");
    if (strncmp(req, "POST ", 5) == 0 && cl != NULL && end != NULL) {
        size_t want = (size_t)(end + 4 - req) + strtoul(cl + 18, NULL, 10);
        while (len < want && len < sizeof(req) - 1) {
            ssize_t r = recv(fd, req + len, sizeof(req) - 1 - len, 0);
            if (r <= 0)
                break;
            len += (size_t)r;
        }
        req[len] = '\0';
    }
    pthread_mutex_lock(&s->lock);
    s->requests++;
    memcpy(s->last_request, req, len + 1);
    pthread_mutex_unlock(&s->lock);
    char path[256] = "";
    if (strncmp(req, "POST /statuses ", 15) == 0) {
        respond(fd, "201 Created", "Content-Type: application/json\r\n", "{\"id\": 1}");
        return 0;
    }
    if (strncmp(req, "POST /redirect ", 15) == 0) {
        respond(fd, "307 Temporary Redirect", "Location: /statuses\r\n", "");
        return 0;
    }
    if (sscanf(req, "GET %255s ", path) != 1)
        path[0] = '\0';
    if (strcmp(path, "/demo-1.0.tar.gz") == 0) {
        respond(fd, "200 OK", "Content-Type: application/gzip\r\n", FILE_BODY);
    } else if (strcmp(path, "/redirect") == 0) {
        respond(fd, "302 Found", "Location: /demo-1.0.tar.gz\r\n", "");
    } else if (strcmp(path, "/loop") == 0) {
        respond(fd, "302 Found", "Location: /loop\r\n", "");
    } else if (strcmp(path, "/simple/demo/") == 0) {
        respond(fd, "200 OK", "Content-Type: " PAGE_TYPE "\r\n", PAGE_BODY);
    } else if (strcmp(path, "/big") == 0) {
        static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 3221225472\r\n\r\nxxxx";
        send_all(fd, head, sizeof(head) - 1);
    } else if (strcmp(path, "/slow") == 0 && s->nheld < (int)WF_ARRAY_SIZE(s->held)) {
        s->held[s->nheld++] = fd;
        return 1;
    } else {
        respond(fd, "404 Not Found", "", "not here\n");
    }
    return 0;
}

static void *server_main(void *arg)
{
    server *s = arg;
    for (;;) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0 && errno == EINTR)
            continue;
        if (c < 0)
            break; /* shutdown() of the listening socket */
        if (!serve(s, c))
            close(c);
    }
    for (int i = 0; i < s->nheld; i++)
        close(s->held[i]);
    return NULL;
}

static int server_start(void **state)
{
    (void)state;
    server *s = &g_srv;
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof(a);
    if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(s->fd, 16) != 0 ||
        getsockname(s->fd, (struct sockaddr *)&a, &alen) != 0)
        return -1;
    s->port = ntohs(a.sin_port);
    return pthread_create(&s->thread, NULL, server_main, s) == 0 ? 0 : -1;
}

static int server_stop(void **state)
{
    (void)state;
    shutdown(g_srv.fd, SHUT_RDWR);
    pthread_join(g_srv.thread, NULL);
    close(g_srv.fd);
    pthread_mutex_destroy(&g_srv.lock);
    return 0;
}

static int requests(void)
{
    pthread_mutex_lock(&g_srv.lock);
    int n = g_srv.requests;
    pthread_mutex_unlock(&g_srv.lock);
    return n;
}

static char *url_for(const char *path)
{
    return wf_asprintf("http://127.0.0.1:%d%s", g_srv.port, path);
}

/* ---- fixtures ---- */

typedef struct fixture {
    uv_loop_t loop;
    char *cache_dir;
    wf_fetcher *f;
    int closed;
} fixture;

static void on_closed(void *ctx)
{
    ((fixture *)ctx)->closed++;
}

static void fixture_init(fixture *fx)
{
    char tmpl[] = "/tmp/wf-test-fetch-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    fx->cache_dir = wf_asprintf("%s/cache", tmpl);
    fx->closed = 0;
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    assert_int_equal(wf_fetcher_new(&fx->f, &fx->loop, fx->cache_dir), 0);
}

/* Closes the fetcher, checks the loop ends cleanly and removes the directory. */
static void fixture_done(fixture *fx)
{
    if (fx->f)
        wf_fetcher_close(fx->f, on_closed, fx);
    assert_int_equal(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(fx->closed, 1);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    char *tmp = wf_asprintf("%s/tmp", fx->cache_dir);
    DIR *d = opendir(tmp); /* no download leaves a temporary file behind */
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        assert_true(de->d_name[0] == '.');
    closedir(d);
    free(tmp);
    char *top = wf_strndup(fx->cache_dir, strlen(fx->cache_dir) - strlen("/cache"));
    char *cmd[] = {"rm", "-rf", top, NULL};
    pid_t pid = fork();
    if (pid == 0) {
        execvp(cmd[0], cmd);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    free(top);
    free(fx->cache_dir);
}

typedef struct got {
    int fired;
    int err;
    char *path, *sha256, *message;
    long status;
    char *ctype, *body;
    size_t len;
} got;

static void got_release(got *g)
{
    free(g->path);
    free(g->sha256);
    free(g->message);
    free(g->ctype);
    free(g->body);
    memset(g, 0, sizeof(*g));
}

static void on_fetch(int err, const char *path, const char *sha256, const char *message, void *ctx)
{
    got *g = ctx;
    g->fired++;
    g->err = err;
    g->path = path ? wf_strdup(path) : NULL;
    g->sha256 = sha256 ? wf_strdup(sha256) : NULL;
    g->message = wf_strdup(message);
}

static void on_doc(int err, long status, const char *ctype, const char *body, size_t len,
                   const char *message, void *ctx)
{
    got *g = ctx;
    g->fired++;
    g->err = err;
    g->status = status;
    g->ctype = ctype ? wf_strdup(ctype) : NULL;
    g->body = body ? wf_strndup(body, len) : NULL;
    g->len = len;
    g->message = wf_strdup(message);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    return wf_strndup(buf, n);
}

/* Runs one wf_fetch_start to completion on the fixture's loop. */
static void fetch_one(fixture *fx, const char *path, const char *sha256, got *g)
{
    char *url = url_for(path);
    assert_int_equal(wf_fetch_start(fx->f, url, sha256, on_fetch, g), 0);
    assert_int_equal(g->fired, 0); /* never from inside the call */
    while (g->fired == 0)
        assert_int_equal(uv_run(&fx->loop, UV_RUN_ONCE) >= 0, 1);
    assert_int_equal(g->fired, 1);
    free(url);
}

/* ---- tests ---- */

static void test_download_and_cache_hit(void **state)
{
    (void)state;
    fixture fx;
    fixture_init(&fx);
    char want[65];
    wf_sha256_hex(FILE_BODY, strlen(FILE_BODY), want);
    assert_null(wf_fetcher_cached(fx.f, want));

    int before = requests();
    got g = {0};
    fetch_one(&fx, "/demo-1.0.tar.gz", NULL, &g);
    assert_int_equal(g.err, 0);
    assert_string_equal(g.sha256, want);
    char *expect_path = wf_asprintf("%s/sha256/%s", fx.cache_dir, want);
    assert_string_equal(g.path, expect_path);
    char *text = slurp(g.path);
    assert_string_equal(text, FILE_BODY);
    free(text);
    assert_int_equal(requests(), before + 1);
    got_release(&g);

    /* Cached now: the same hash (in capitals, even) completes without a request. */
    char *cached = wf_fetcher_cached(fx.f, want);
    assert_string_equal(cached, expect_path);
    free(cached);
    char upper[65];
    for (int i = 0; i < 65; i++)
        upper[i] = (char)(want[i] >= 'a' && want[i] <= 'f' ? want[i] - 32 : want[i]);
    fetch_one(&fx, "/not-even-there", upper, &g);
    assert_int_equal(g.err, 0);
    assert_string_equal(g.path, expect_path);
    assert_string_equal(g.sha256, want);
    assert_int_equal(requests(), before + 1);
    got_release(&g);

    /* A redirect is followed, and the right hash verifies. */
    char *tmp = wf_asprintf("%s/sha256/%s", fx.cache_dir, want);
    assert_int_equal(unlink(tmp), 0);
    free(tmp);
    fetch_one(&fx, "/redirect", want, &g);
    assert_int_equal(g.err, 0);
    assert_string_equal(g.path, expect_path);
    assert_int_equal(requests(), before + 3);
    got_release(&g);
    free(expect_path);
    fixture_done(&fx);
}

static void test_hash_mismatch(void **state)
{
    (void)state;
    fixture fx;
    fixture_init(&fx);
    char actual[65];
    wf_sha256_hex(FILE_BODY, strlen(FILE_BODY), actual);
    got g = {0};
    fetch_one(&fx, "/demo-1.0.tar.gz", WRONG_HASH, &g);
    assert_int_equal(g.err, WF_EHASH);
    assert_null(g.path);
    char *url = url_for("/demo-1.0.tar.gz");
    char *want =
        wf_asprintf("sha256 mismatch for %s: expected %s, got %s", url, WRONG_HASH, actual);
    assert_string_equal(g.message, want);
    assert_null(wf_fetcher_cached(fx.f, WRONG_HASH));
    assert_null(wf_fetcher_cached(fx.f, actual)); /* nothing stored */
    free(want);
    free(url);
    got_release(&g);
    fixture_done(&fx);
}

static void test_http_errors(void **state)
{
    (void)state;
    fixture fx;
    fixture_init(&fx);
    static const struct {
        const char *path;
        int err;
        const char *message_part;
    } cases[] = {
        {"/missing", WF_EHTTP, ": HTTP 404"},
        {"/loop", WF_EHTTP, "redirect"},
        {"/big", WF_ELIMIT, "limit"},
    };
    for (size_t i = 0; i < WF_ARRAY_SIZE(cases); i++) {
        got g = {0};
        fetch_one(&fx, cases[i].path, NULL, &g);
        if (g.err != cases[i].err || !strstr(g.message, cases[i].message_part))
            fail_msg("%s: err %d message '%s'", cases[i].path, g.err, g.message);
        assert_non_null(strstr(g.message, cases[i].path)); /* the URL is named */
        got_release(&g);
    }
    /* Nothing listens on port 1 of loopback. */
    got g = {0};
    assert_int_equal(wf_fetch_start(fx.f, "http://127.0.0.1:1/x.tar.gz", NULL, on_fetch, &g), 0);
    while (!g.fired)
        uv_run(&fx.loop, UV_RUN_ONCE);
    assert_int_equal(g.err, WF_EHTTP);
    assert_non_null(strstr(g.message, "http://127.0.0.1:1/x.tar.gz"));
    got_release(&g);
    /* Refused at once. */
    assert_int_equal(wf_fetch_start(fx.f, "ftp://127.0.0.1/x", NULL, on_fetch, &g), WF_EINVAL);
    /* file:// only with a pinned hash. */
    assert_int_equal(wf_fetch_start(fx.f, "file:///etc/passwd", NULL, on_fetch, &g), WF_EINVAL);
    assert_int_equal(wf_fetch_start(fx.f, "http://127.0.0.1/x", "abc", on_fetch, &g), WF_EINVAL);
    assert_int_equal(wf_fetch_doc(fx.f, "gopher://x/", NULL, on_doc, &g), WF_EINVAL);
    assert_null(wf_fetcher_cached(fx.f, "../../etc/passwd"));
    uv_run(&fx.loop, UV_RUN_NOWAIT);
    assert_int_equal(g.fired, 0);
    fixture_done(&fx);
}

static void test_doc(void **state)
{
    (void)state;
    fixture fx;
    fixture_init(&fx);
    got g = {0};
    char *url = url_for("/simple/demo/");
    assert_int_equal(wf_fetch_doc(fx.f, url, PAGE_TYPE ", text/html;q=0.1", on_doc, &g), 0);
    while (!g.fired)
        uv_run(&fx.loop, UV_RUN_ONCE);
    assert_int_equal(g.err, 0);
    assert_int_equal(g.status, 200);
    assert_string_equal(g.ctype, PAGE_TYPE);
    assert_string_equal(g.body, PAGE_BODY);
    assert_int_equal(g.len, strlen(PAGE_BODY));
    pthread_mutex_lock(&g_srv.lock);
    assert_non_null(strstr(g_srv.last_request, "\r\nAccept: " PAGE_TYPE ", text/html;q=0.1\r\n"));
    assert_non_null(strstr(g_srv.last_request, "\r\nUser-Agent: wheelfarm/"));
    pthread_mutex_unlock(&g_srv.lock);
    got_release(&g);
    free(url);
    /* A 404 is a response: err 0, the status tells. */
    url = url_for("/simple/nothing/");
    assert_int_equal(wf_fetch_doc(fx.f, url, NULL, on_doc, &g), 0);
    while (!g.fired)
        uv_run(&fx.loop, UV_RUN_ONCE);
    assert_int_equal(g.err, 0);
    assert_int_equal(g.status, 404);
    assert_string_equal(g.body, "not here\n");
    got_release(&g);
    free(url);
    fixture_done(&fx);
}

/* A POST sends its headers and body, gets the answer whatever its status, and never follows a
 * redirect (its headers may carry a token); bad headers are refused before anything is sent. */
static void test_post(void **state)
{
    (void)state;
    fixture fx;
    fixture_init(&fx);
    got g = {0};
    const char *headers[] = {"Authorization: token s3cret", "Content-Type: application/json"};
    const char body[] = "{\"state\":\"pending\"}";
    char *url = url_for("/statuses");
    assert_int_equal(wf_fetch_post(fx.f, url, headers, 2, body, strlen(body), on_doc, &g), 0);
    while (!g.fired)
        uv_run(&fx.loop, UV_RUN_ONCE);
    assert_int_equal(g.err, 0);
    assert_int_equal(g.status, 201);
    assert_string_equal(g.body, "{\"id\": 1}");
    pthread_mutex_lock(&g_srv.lock);
    assert_non_null(strstr(g_srv.last_request, "POST /statuses HTTP/1.1\r\n"));
    assert_non_null(strstr(g_srv.last_request, "\r\nAuthorization: token s3cret\r\n"));
    assert_non_null(strstr(g_srv.last_request, "\r\nContent-Type: application/json\r\n"));
    assert_non_null(strstr(g_srv.last_request, "\r\n\r\n{\"state\":\"pending\"}"));
    pthread_mutex_unlock(&g_srv.lock);
    got_release(&g);
    free(url);

    int before = requests();
    url = url_for("/redirect");
    assert_int_equal(wf_fetch_post(fx.f, url, headers, 2, body, strlen(body), on_doc, &g), 0);
    while (!g.fired)
        uv_run(&fx.loop, UV_RUN_ONCE);
    assert_int_equal(g.err, 0);
    assert_int_equal(g.status, 307);
    assert_int_equal(requests(), before + 1);
    got_release(&g);

    const char *bad[] = {"X-Evil: a\r\nX-Injected: b"};
    assert_int_equal(wf_fetch_post(fx.f, url, bad, 1, body, strlen(body), on_doc, &g), WF_EINVAL);
    const char *no_colon[] = {"just text"};
    assert_int_equal(wf_fetch_post(fx.f, url, no_colon, 1, "", 0, on_doc, &g), WF_EINVAL);
    assert_int_equal(wf_fetch_post(fx.f, "ftp://127.0.0.1/x", NULL, 0, "", 0, on_doc, &g),
                     WF_EINVAL);
    assert_int_equal(g.fired, 0);
    free(url);
    fixture_done(&fx);
}

static void test_add_file(void **state)
{
    (void)state;
    fixture fx;
    fixture_init(&fx);
    char *src = wf_asprintf("%s/../source.zip", fx.cache_dir);
    FILE *f = fopen(src, "w");
    assert_non_null(f);
    for (int i = 0; i < 20000; i++) /* bigger than one copy buffer */
        fprintf(f, "line %d\n", i);
    fclose(f);
    char want[65], hex[65];
    assert_int_equal(wf_sha256_file(src, want, NULL), 0);
    assert_int_equal(wf_fetcher_add_file(fx.f, src, hex), 0);
    assert_string_equal(hex, want);
    char *path = wf_fetcher_cached(fx.f, hex);
    assert_non_null(path);
    char again[65];
    assert_int_equal(wf_sha256_file(path, again, NULL), 0);
    assert_string_equal(again, want);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    free(path);
    memset(hex, 'x', sizeof(hex));
    assert_int_equal(wf_fetcher_add_file(fx.f, "/nonexistent/file.tar.gz", hex), UV_ENOENT);
    assert_int_equal(hex[0], 'x'); /* untouched on failure */
    free(src);
    fixture_done(&fx);
}

/* A recipe may name a local tarball as file://PATH when it pins the content by sha256. */
static void test_file_url(void **state)
{
    (void)state;
    fixture fx;
    fixture_init(&fx);
    char *src = wf_asprintf("%s/../local.tar.gz", fx.cache_dir);
    FILE *f = fopen(src, "w");
    assert_non_null(f);
    fputs("local tarball bytes\n", f);
    fclose(f);
    char want[65];
    assert_int_equal(wf_sha256_file(src, want, NULL), 0);
    char *url = wf_asprintf("file://%s", src);
    got g = {0};
    assert_int_equal(wf_fetch_start(fx.f, url, want, on_fetch, &g), 0);
    while (!g.fired)
        uv_run(&fx.loop, UV_RUN_ONCE);
    assert_int_equal(g.err, 0);
    assert_string_equal(g.sha256, want);
    got_release(&g);
    /* Another file under a pin that is not cached fails with both hashes. */
    static const char pin[] = "00000000000000000000000000000000000000000000000000000000000000ff";
    char *other = wf_asprintf("%s/../other.tar.gz", fx.cache_dir);
    f = fopen(other, "w");
    assert_non_null(f);
    fputs("other bytes\n", f);
    fclose(f);
    char *url2 = wf_asprintf("file://%s", other);
    memset(&g, 0, sizeof(g));
    char got_hex[65];
    assert_int_equal(wf_sha256_file(other, got_hex, NULL), 0);
    assert_int_equal(wf_fetch_start(fx.f, url2, pin, on_fetch, &g), 0);
    while (!g.fired)
        uv_run(&fx.loop, UV_RUN_ONCE);
    assert_int_equal(g.err, WF_EHASH);
    assert_non_null(strstr(g.message, pin));
    assert_non_null(strstr(g.message, got_hex));
    got_release(&g);
    free(url);
    free(url2);
    free(src);
    free(other);
    fixture_done(&fx);
}

static void test_close_cancels(void **state)
{
    (void)state;
    fixture fx;
    fixture_init(&fx);
    got g1 = {0}, g2 = {0}, g3 = {0};
    /* A cache hit still queued is canceled too: put something in the cache for it. */
    char hex[65];
    char *src = wf_asprintf("%s/../x", fx.cache_dir);
    FILE *f = fopen(src, "w");
    assert_non_null(f);
    fputs("x", f);
    fclose(f);
    assert_int_equal(wf_fetcher_add_file(fx.f, src, hex), 0);
    char *slow = url_for("/slow");
    int before = requests();
    assert_int_equal(wf_fetch_start(fx.f, slow, NULL, on_fetch, &g1), 0);
    assert_int_equal(wf_fetch_doc(fx.f, slow, NULL, on_doc, &g2), 0);
    /* Let both requests reach the server, which never answers them. */
    uint64_t t0 = wf_now_ms();
    while (requests() < before + 2 && wf_now_ms() - t0 < 5000)
        uv_run(&fx.loop, UV_RUN_NOWAIT);
    assert_int_equal(requests(), before + 2);
    assert_int_equal(wf_fetch_start(fx.f, slow, hex, on_fetch, &g3), 0);
    assert_int_equal(g1.fired + g2.fired + g3.fired, 0);
    wf_fetcher_close(fx.f, on_closed, &fx);
    fx.f = NULL;
    assert_int_equal(g1.fired, 1);
    assert_int_equal(g1.err, UV_ECANCELED);
    assert_int_equal(g2.fired, 1);
    assert_int_equal(g2.err, UV_ECANCELED);
    assert_int_equal(g3.fired, 1);
    assert_int_equal(g3.err, UV_ECANCELED);
    assert_int_equal(fx.closed, 0); /* on_closed comes from the loop */
    got_release(&g1);
    got_release(&g2);
    got_release(&g3);
    free(src);
    free(slow);
    fixture_done(&fx);
}

/* Closing from inside a completion callback is allowed. */
static void on_fetch_close(int err, const char *path, const char *sha256, const char *message,
                           void *ctx)
{
    fixture *fx = ctx;
    (void)err, (void)path, (void)sha256, (void)message;
    wf_fetcher_close(fx->f, on_closed, fx);
    fx->f = NULL;
}

static void test_close_from_callback(void **state)
{
    (void)state;
    fixture fx;
    fixture_init(&fx);
    char *url = url_for("/demo-1.0.tar.gz");
    got other = {0};
    assert_int_equal(wf_fetch_start(fx.f, url, NULL, on_fetch_close, &fx), 0);
    assert_int_equal(wf_fetch_start(fx.f, url, NULL, on_fetch, &other), 0);
    fixture_done(&fx); /* runs the loop; whichever finishes first closes the fetcher */
    assert_int_equal(other.fired, 1);
    got_release(&other);
    free(url);
}

int main(void)
{
    if (wf_hash_init() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_download_and_cache_hit),
        cmocka_unit_test(test_hash_mismatch),
        cmocka_unit_test(test_http_errors),
        cmocka_unit_test(test_doc),
        cmocka_unit_test(test_post),
        cmocka_unit_test(test_add_file),
        cmocka_unit_test(test_file_url),
        cmocka_unit_test(test_close_cancels),
        cmocka_unit_test(test_close_from_callback),
    };
    return cmocka_run_group_tests(tests, server_start, server_stop);
}
