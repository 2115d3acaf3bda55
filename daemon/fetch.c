/* fetch.c - libcurl multi_socket on libuv (as curl's multi-uv.c) and the sha256 source cache. */
#include "daemon/fetch.h"

#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/hash.h"
#include "lib/wf.h"

#define CONNECT_TIMEOUT_S 30L
#define MAX_REDIRS 5L
/* A transfer slower than 1 byte/s for this long is dead. */
#define STALL_TIME_S 300L
/* A POST (a commit status) that has not completed in this time is abandoned. */
#define POST_TIMEOUT_S 30L

typedef enum { OP_FILE = 1, OP_DOC } op_kind;

typedef struct fetch_op fetch_op;
struct fetch_op {
    wf_fetcher *f;
    fetch_op *prev, *next; /* the fetcher's list of transfers, or its deferred queue */
    op_kind kind;
    CURL *easy;
    struct curl_slist *headers;
    char *url;
    char want[WF_SHA256_HEX_LEN + 1]; /* expected digest, "" if none */
    /* OP_FILE: the temporary file and the running digest */
    int fd;
    char *tmp_path;
    wf_sha256 hash;
    uint64_t bytes;
    int write_errno;
    /* OP_DOC: the body; a POST sends post_body first */
    wf_buf body;
    const char *method; /* "GET" or "POST", for messages */
    char *post_body;
    size_t post_len;
    int limit_hit;
    char *cached_path; /* a cache hit completing on the next iteration */
    char errbuf[CURL_ERROR_SIZE];
    wf_fetch_cb cb;
    wf_fetch_doc_cb doc_cb;
    void *ctx;
};

/* One socket curl asked us to watch. */
typedef struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    wf_fetcher *f;
    struct sock_ctx *prev, *next;
} sock_ctx;

struct wf_fetcher {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer; /* curl's timeout */
    uv_timer_t defer; /* runs queued completions (cache hits) on the next iteration */
    char *obj_dir, *tmp_dir;
    fetch_op *active;   /* transfers added to the multi handle */
    fetch_op *deferred; /* completions waiting for the defer timer */
    sock_ctx *socks;
    int open_handles;
    int closing;
    void (*on_closed)(void *ctx);
    void *closed_ctx;
};

static void list_add(fetch_op **head, fetch_op *op)
{
    op->prev = NULL;
    op->next = *head;
    if (*head)
        (*head)->prev = op;
    *head = op;
}

static void list_del(fetch_op **head, fetch_op *op)
{
    if (op->prev)
        op->prev->next = op->next;
    else
        *head = op->next;
    if (op->next)
        op->next->prev = op->prev;
    op->prev = op->next = NULL;
}

static void op_free(fetch_op *op)
{
    if (op->easy)
        curl_easy_cleanup(op->easy);
    curl_slist_free_all(op->headers);
    if (op->fd >= 0)
        close(op->fd);
    if (op->tmp_path) {
        unlink(op->tmp_path);
        free(op->tmp_path);
    }
    wf_buf_release(&op->body);
    free(op->post_body);
    free(op->cached_path);
    free(op->url);
    free(op);
}

/* Calls the op's callback with a failure and frees it. */
static void op_fail(fetch_op *op, int err, const char *message)
{
    if (op->kind == OP_FILE)
        op->cb(err, NULL, NULL, message, op->ctx);
    else
        op->doc_cb(err, 0, NULL, NULL, 0, message, op->ctx);
    op_free(op);
}

/* ---- the cache ---- */

/* Lowercases a 64-digit hex string into out; 0, or WF_EINVAL. */
static int normalize_hex(const char *s, char out[WF_SHA256_HEX_LEN + 1])
{
    size_t n = s ? strlen(s) : 0;
    if (n != WF_SHA256_HEX_LEN)
        return WF_EINVAL;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return WF_EINVAL;
        out[i] = c;
    }
    out[n] = '\0';
    return 0;
}

char *wf_fetcher_cached(wf_fetcher *f, const char *sha256)
{
    char hex[WF_SHA256_HEX_LEN + 1];
    if (normalize_hex(sha256, hex) != 0)
        return NULL;
    char *path = wf_asprintf("%s/%s", f->obj_dir, hex);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
        return path;
    free(path);
    return NULL;
}

static int make_tmp(wf_fetcher *f, char **path_out)
{
    char *path = wf_asprintf("%s/dl-XXXXXX", f->tmp_dir);
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0) {
        int err = -errno;
        free(path);
        return err;
    }
    *path_out = path;
    return fd;
}

/* Makes the finished temporary file durable and readable, then moves it to its name. */
static int publish(wf_fetcher *f, int fd, const char *tmp_path, const char *hex, char **path_out)
{
    if (fdatasync(fd) != 0 || fchmod(fd, 0644) != 0)
        return -errno;
    char *path = wf_asprintf("%s/%s", f->obj_dir, hex);
    if (rename(tmp_path, path) != 0) {
        int err = -errno;
        free(path);
        return err;
    }
    *path_out = path;
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int copy_hashing(int in, int out, wf_sha256 *h)
{
    char buf[64 * 1024];
    for (;;) {
        ssize_t r = read(in, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return 0;
        wf_sha256_update(h, buf, (size_t)r);
        int rc = write_all(out, buf, (size_t)r);
        if (rc != 0)
            return rc;
    }
}

int wf_fetcher_add_file(wf_fetcher *f, const char *path, char out_hex[65])
{
    char *tmp_path = NULL, *final_path = NULL;
    int out = -1;
    int in = open(path, O_RDONLY | O_CLOEXEC);
    int rc = in < 0 ? -errno : 0;
    if (rc != 0)
        goto done;
    rc = out = make_tmp(f, &tmp_path);
    if (rc < 0)
        goto done;
    wf_sha256 h;
    wf_sha256_init(&h);
    rc = copy_hashing(in, out, &h);
    if (rc != 0)
        goto done;
    char hex[WF_SHA256_HEX_LEN + 1];
    wf_sha256_final_hex(&h, hex);
    rc = publish(f, out, tmp_path, hex, &final_path);
    if (rc == 0)
        memcpy(out_hex, hex, sizeof(hex));
done:
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    if (rc != 0 && tmp_path)
        unlink(tmp_path);
    free(tmp_path);
    free(final_path);
    return rc;
}

/* ---- completions ---- */

static void finish_file(fetch_op *op, CURLcode res)
{
    char *message = NULL, *path = NULL;
    char hex[WF_SHA256_HEX_LEN + 1];
    int err = 0;
    if (res != CURLE_OK) {
        long code = 0;
        if (curl_easy_getinfo(op->easy, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
            code = 0;
        if (op->limit_hit || res == CURLE_FILESIZE_EXCEEDED) {
            err = WF_ELIMIT;
            message = wf_asprintf("GET %s: larger than the %llu byte limit", op->url,
                                  (unsigned long long)WF_FETCH_MAX_FILE);
        } else if (op->write_errno) {
            err = -op->write_errno;
            message = wf_asprintf("GET %s: writing '%s': %s", op->url, op->tmp_path,
                                  strerror(op->write_errno));
        } else if (res == CURLE_HTTP_RETURNED_ERROR) {
            err = WF_EHTTP;
            message = wf_asprintf("GET %s: HTTP %ld", op->url, code);
        } else {
            err = WF_EHTTP;
            message = wf_asprintf("GET %s: %s", op->url,
                                  op->errbuf[0] ? op->errbuf : curl_easy_strerror(res));
        }
        goto done;
    }
    wf_sha256_final_hex(&op->hash, hex);
    if (op->want[0] && strcmp(op->want, hex) != 0) {
        err = WF_EHASH;
        message =
            wf_asprintf("sha256 mismatch for %s: expected %s, got %s", op->url, op->want, hex);
        goto done;
    }
    err = publish(op->f, op->fd, op->tmp_path, hex, &path);
    if (err != 0) {
        message = wf_asprintf("GET %s: storing into the cache '%s': %s", op->url, op->f->obj_dir,
                              uv_strerror(err));
        goto done;
    }
    free(op->tmp_path);
    op->tmp_path = NULL; /* renamed: nothing to unlink */
done:
    if (err == 0)
        op->cb(0, path, hex, "ok", op->ctx);
    else
        op->cb(err, NULL, NULL, message, op->ctx);
    free(message);
    free(path);
    op_free(op);
}

static void finish_doc(fetch_op *op, CURLcode res)
{
    long code = 0;
    char *ctype = NULL;
    if (res == CURLE_OK && curl_easy_getinfo(op->easy, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK &&
        curl_easy_getinfo(op->easy, CURLINFO_CONTENT_TYPE, &ctype) == CURLE_OK) {
        wf_buf_add(&op->body, "", 0);
        op->doc_cb(0, code, ctype, op->body.ptr ? op->body.ptr : "", op->body.len, "ok", op->ctx);
        op_free(op);
        return;
    }
    char *message;
    int err = WF_EHTTP;
    if (op->limit_hit || res == CURLE_FILESIZE_EXCEEDED) {
        err = WF_ELIMIT;
        message = wf_asprintf("%s %s: document larger than the %u byte limit", op->method, op->url,
                              WF_FETCH_MAX_DOC);
    } else {
        message = wf_asprintf("%s %s: %s", op->method, op->url,
                              op->errbuf[0] ? op->errbuf : curl_easy_strerror(res));
    }
    op_fail(op, err, message);
    free(message);
}

static void check_multi_info(wf_fetcher *f)
{
    CURLMsg *msg;
    int pending;
    /* A callback may close the fetcher: the multi handle is gone then, so stop at once. */
    while (!f->closing && (msg = curl_multi_info_read(f->multi, &pending)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode res = msg->data.result;
        char *priv = NULL;
        if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv) != CURLE_OK || !priv)
            continue; /* not ours: cannot happen, every easy handle carries its op */
        fetch_op *op = (fetch_op *)(void *)priv;
        list_del(&f->active, op);
        if (curl_multi_remove_handle(f->multi, easy) != CURLM_OK)
            res = res != CURLE_OK ? res : CURLE_FAILED_INIT;
        if (op->kind == OP_FILE)
            finish_file(op, res);
        else
            finish_doc(op, res);
    }
}

/* The multi handle itself failed: every transfer fails with its reason. */
static void fail_all(wf_fetcher *f, CURLMcode mc)
{
    while (f->active && !f->closing) {
        fetch_op *op = f->active;
        list_del(&f->active, op);
        curl_multi_remove_handle(f->multi, op->easy); /* already failing: result not needed */
        char *message = wf_asprintf("%s %s: %s", op->method, op->url, curl_multi_strerror(mc));
        op_fail(op, WF_EHTTP, message);
        free(message);
    }
}

static void socket_action(wf_fetcher *f, curl_socket_t s, int flags)
{
    int running = 0;
    CURLMcode mc = curl_multi_socket_action(f->multi, s, flags, &running);
    if (mc != CURLM_OK) {
        fail_all(f, mc);
        return;
    }
    check_multi_info(f);
}

/* ---- libuv glue (multi-uv.c) ---- */

static void on_handle_closed(uv_handle_t *h);

static void on_poll(uv_poll_t *p, int status, int events)
{
    sock_ctx *sc = p->data;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (status == 0 && (events & UV_READABLE))
        flags |= CURL_CSELECT_IN;
    if (status == 0 && (events & UV_WRITABLE))
        flags |= CURL_CSELECT_OUT;
    socket_action(sc->f, sc->fd, flags);
}

static void on_curl_timeout(uv_timer_t *t)
{
    wf_fetcher *f = t->data;
    socket_action(f, CURL_SOCKET_TIMEOUT, 0);
}

static void sock_close(wf_fetcher *f, sock_ctx *sc)
{
    if (sc->prev)
        sc->prev->next = sc->next;
    else
        f->socks = sc->next;
    if (sc->next)
        sc->next->prev = sc->prev;
    uv_close((uv_handle_t *)&sc->poll, on_handle_closed);
}

static int on_curl_socket(CURL *easy, curl_socket_t s, int action, void *userp, void *socketp)
{
    wf_fetcher *f = userp;
    sock_ctx *sc = socketp;
    (void)easy;
    if (action == CURL_POLL_REMOVE) {
        if (sc) {
            uv_poll_stop(&sc->poll);
            sock_close(f, sc);
            /* During curl_multi_cleanup() the multi handle no longer takes calls. */
            if (!f->closing && curl_multi_assign(f->multi, s, NULL) != CURLM_OK)
                return -1;
        }
        return 0;
    }
    if (!sc) {
        sc = wf_calloc(1, sizeof(*sc));
        if (uv_poll_init_socket(f->loop, &sc->poll, s) != 0) {
            free(sc);
            return -1;
        }
        sc->fd = s;
        sc->f = f;
        sc->poll.data = sc;
        f->open_handles++;
        sc->next = f->socks;
        if (f->socks)
            f->socks->prev = sc;
        f->socks = sc;
        if (curl_multi_assign(f->multi, s, sc) != CURLM_OK) {
            sock_close(f, sc);
            return -1;
        }
    }
    int events = 0;
    if (action != CURL_POLL_OUT)
        events |= UV_READABLE;
    if (action != CURL_POLL_IN)
        events |= UV_WRITABLE;
    return uv_poll_start(&sc->poll, events, on_poll) == 0 ? 0 : -1;
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    wf_fetcher *f = userp;
    (void)multi;
    if (timeout_ms < 0)
        return uv_timer_stop(&f->timer) == 0 ? 0 : -1;
    /* 0 means "now": run it from the loop rather than from inside curl's call stack. */
    uint64_t ms = timeout_ms == 0 ? 1 : (uint64_t)timeout_ms;
    return uv_timer_start(&f->timer, on_curl_timeout, ms, 0) == 0 ? 0 : -1;
}

/* ---- transfers ---- */

static size_t on_file_data(char *p, size_t size, size_t nmemb, void *userp)
{
    fetch_op *op = userp;
    size_t n = size * nmemb;
    if (op->bytes + n > WF_FETCH_MAX_FILE) {
        op->limit_hit = 1;
        return 0; /* aborts the transfer */
    }
    int rc = write_all(op->fd, p, n);
    if (rc != 0) {
        op->write_errno = -rc;
        return 0;
    }
    wf_sha256_update(&op->hash, p, n);
    op->bytes += n;
    return n;
}

static size_t on_doc_data(char *p, size_t size, size_t nmemb, void *userp)
{
    fetch_op *op = userp;
    size_t n = size * nmemb;
    if (op->body.len + n > WF_FETCH_MAX_DOC) {
        op->limit_hit = 1;
        return 0;
    }
    wf_buf_add(&op->body, p, n);
    return n;
}

static int is_file_url(const char *url)
{
    return url && strncasecmp(url, "file://", 7) == 0;
}

static int url_allowed(const char *url)
{
    return url && (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0);
}

#define SETOPT(opt, val)                                                                           \
    do {                                                                                           \
        if (rc == CURLE_OK)                                                                        \
            rc = curl_easy_setopt(e, opt, val);                                                    \
    } while (0)

static CURLcode setup_easy(fetch_op *op, const char *accept)
{
    CURL *e = op->easy;
    CURLcode rc = CURLE_OK;
    SETOPT(CURLOPT_URL, op->url);
    SETOPT(CURLOPT_PRIVATE, (void *)op);
    SETOPT(CURLOPT_ERRORBUFFER, op->errbuf);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    /* A POST carries credentials in its headers: it is never sent on to another address. */
    SETOPT(CURLOPT_FOLLOWLOCATION, op->post_body != NULL ? 0L : 1L);
    SETOPT(CURLOPT_MAXREDIRS, MAX_REDIRS);
    SETOPT(CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    SETOPT(CURLOPT_LOW_SPEED_LIMIT, 1L);
    SETOPT(CURLOPT_LOW_SPEED_TIME, STALL_TIME_S);
    SETOPT(CURLOPT_USERAGENT, "wheelfarm/" WF_VERSION);
    /* file:// only for downloads pinned by sha256 (wf_fetch_start checks); never via redirect. */
    int local = op->kind == OP_FILE && is_file_url(op->url);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
    SETOPT(CURLOPT_PROTOCOLS_STR, local ? "file" : "http,https");
    SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    SETOPT(CURLOPT_PROTOCOLS,
           local ? (long)CURLPROTO_FILE : (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    SETOPT(CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SETOPT(CURLOPT_WRITEDATA, (void *)op);
    if (op->kind == OP_FILE) {
        SETOPT(CURLOPT_WRITEFUNCTION, on_file_data);
        SETOPT(CURLOPT_FAILONERROR, 1L);
        SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)WF_FETCH_MAX_FILE);
    } else {
        SETOPT(CURLOPT_WRITEFUNCTION, on_doc_data);
        SETOPT(CURLOPT_ACCEPT_ENCODING, "gzip, deflate");
        SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)WF_FETCH_MAX_DOC);
    }
    if (op->post_body != NULL) {
        SETOPT(CURLOPT_POST, 1L);
        SETOPT(CURLOPT_POSTFIELDS, op->post_body);
        SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)op->post_len);
        /* Status calls are small and wanted soon; a forge that hangs must not hold one. */
        SETOPT(CURLOPT_TIMEOUT, POST_TIMEOUT_S);
    }
    if (rc == CURLE_OK && accept) {
        char *h = wf_asprintf("Accept: %s", accept);
        struct curl_slist *l = curl_slist_append(op->headers, h);
        free(h);
        if (!l)
            return CURLE_OUT_OF_MEMORY;
        op->headers = l;
    }
    if (op->headers != NULL)
        SETOPT(CURLOPT_HTTPHEADER, op->headers);
    return rc;
}

static fetch_op *op_new(wf_fetcher *f, op_kind kind, const char *url, void *ctx)
{
    fetch_op *op = wf_calloc(1, sizeof(*op));
    op->f = f;
    op->kind = kind;
    op->url = wf_strdup(url);
    op->fd = -1;
    op->ctx = ctx;
    op->method = "GET";
    return op;
}

/* Gives the op a configured easy handle and adds it to the multi handle. */
static int op_add(fetch_op *op, const char *accept)
{
    op->easy = curl_easy_init();
    if (!op->easy)
        return WF_EINFRA;
    if (setup_easy(op, accept) != CURLE_OK)
        return WF_EINVAL;
    if (curl_multi_add_handle(op->f->multi, op->easy) != CURLM_OK)
        return WF_EINFRA;
    list_add(&op->f->active, op);
    return 0;
}

static void on_defer(uv_timer_t *t)
{
    wf_fetcher *f = t->data;
    while (f->deferred && !f->closing) {
        fetch_op *op = f->deferred;
        list_del(&f->deferred, op);
        op->cb(0, op->cached_path, op->want, "ok (cached)", op->ctx);
        op_free(op);
    }
}

int wf_fetch_start(wf_fetcher *f, const char *url, const char *sha256, wf_fetch_cb cb, void *ctx)
{
    assert(f && !f->closing && cb);
    char want[WF_SHA256_HEX_LEN + 1] = "";
    /* A local file is accepted only when its content is pinned by a hash: a recipe cannot
     * read arbitrary files of the daemon's host through it. */
    int local_ok = is_file_url(url) && sha256 != NULL;
    if ((!url_allowed(url) && !local_ok) || (sha256 && normalize_hex(sha256, want) != 0))
        return WF_EINVAL;
    fetch_op *op = op_new(f, OP_FILE, url, ctx);
    op->cb = cb;
    memcpy(op->want, want, sizeof(want));
    int rc = 0;
    if (want[0] && (op->cached_path = wf_fetcher_cached(f, want)) != NULL) {
        rc = uv_timer_start(&f->defer, on_defer, 0, 0);
        if (rc != 0)
            goto fail;
        list_add(&f->deferred, op);
        return 0;
    }
    rc = op->fd = make_tmp(f, &op->tmp_path);
    if (rc < 0)
        goto fail;
    wf_sha256_init(&op->hash);
    rc = op_add(op, NULL);
    if (rc != 0)
        goto fail;
    return 0;
fail:
    op_free(op);
    return rc;
}

int wf_fetch_doc(wf_fetcher *f, const char *url, const char *accept, wf_fetch_doc_cb cb, void *ctx)
{
    assert(f && !f->closing && cb);
    if (!url_allowed(url))
        return WF_EINVAL;
    fetch_op *op = op_new(f, OP_DOC, url, ctx);
    op->doc_cb = cb;
    int rc = op_add(op, accept);
    if (rc != 0)
        op_free(op);
    return rc;
}

int wf_fetch_post(wf_fetcher *f, const char *url, const char *const *headers, size_t n_headers,
                  const char *body, size_t len, wf_fetch_doc_cb cb, void *ctx)
{
    assert(f && !f->closing && cb && (body != NULL || len == 0));
    if (!url_allowed(url))
        return WF_EINVAL;
    for (size_t i = 0; i < n_headers; i++)
        if (headers[i] == NULL || strpbrk(headers[i], "\r\n") != NULL ||
            strchr(headers[i], ':') == NULL)
            return WF_EINVAL;
    fetch_op *op = op_new(f, OP_DOC, url, ctx);
    op->doc_cb = cb;
    op->method = "POST";
    op->post_body = wf_malloc(len + 1);
    if (len > 0)
        memcpy(op->post_body, body, len);
    op->post_body[len] = '\0';
    op->post_len = len;
    int rc = 0;
    for (size_t i = 0; i < n_headers && rc == 0; i++) {
        struct curl_slist *l = curl_slist_append(op->headers, headers[i]);
        if (l == NULL)
            rc = WF_EINFRA;
        else
            op->headers = l;
    }
    if (rc == 0)
        rc = op_add(op, NULL);
    if (rc != 0)
        op_free(op);
    return rc;
}

/* ---- lifecycle ---- */

static int mkdir_exist_ok(const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static void fetcher_free(wf_fetcher *f)
{
    free(f->obj_dir);
    free(f->tmp_dir);
    free(f);
    curl_global_cleanup();
}

static void on_handle_closed(uv_handle_t *h)
{
    wf_fetcher *f;
    if (h->type == UV_POLL) {
        sock_ctx *sc = h->data;
        f = sc->f;
        free(sc);
    } else {
        f = h->data;
    }
    if (--f->open_handles > 0 || !f->closing)
        return;
    void (*on_closed)(void *) = f->on_closed;
    void *ctx = f->closed_ctx;
    fetcher_free(f);
    if (on_closed)
        on_closed(ctx);
}

int wf_fetcher_new(wf_fetcher **out, uv_loop_t *loop, const char *cache_dir)
{
    char *obj_dir = wf_asprintf("%s/sha256", cache_dir);
    char *tmp_dir = wf_asprintf("%s/tmp", cache_dir);
    int rc = mkdir_exist_ok(cache_dir);
    if (rc == 0)
        rc = mkdir_exist_ok(obj_dir);
    if (rc == 0)
        rc = mkdir_exist_ok(tmp_dir);
    if (rc != 0)
        goto fail;
    rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : WF_EINFRA;
    if (rc != 0)
        goto fail;
    wf_fetcher *f = wf_calloc(1, sizeof(*f));
    f->loop = loop;
    f->obj_dir = obj_dir;
    f->tmp_dir = tmp_dir;
    f->multi = curl_multi_init();
    if (!f->multi ||
        curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket) != CURLM_OK ||
        curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, (void *)f) != CURLM_OK ||
        curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer) != CURLM_OK ||
        curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, (void *)f) != CURLM_OK) {
        if (f->multi)
            curl_multi_cleanup(f->multi);
        fetcher_free(f);
        return WF_EINFRA;
    }
    /* Timer inits on a live loop do not fail (libuv's uv_timer_init always returns 0). */
    uv_timer_init(loop, &f->timer);
    uv_timer_init(loop, &f->defer);
    f->timer.data = f;
    f->defer.data = f;
    f->open_handles = 2;
    *out = f;
    return 0;
fail:
    free(obj_dir);
    free(tmp_dir);
    return rc;
}

void wf_fetcher_close(wf_fetcher *f, void (*on_closed)(void *ctx), void *ctx)
{
    if (!f || f->closing)
        return;
    f->closing = 1;
    f->on_closed = on_closed;
    f->closed_ctx = ctx;
    while (f->active) {
        fetch_op *op = f->active;
        list_del(&f->active, op);
        curl_multi_remove_handle(f->multi, op->easy); /* canceled: its result is moot */
        char *message = wf_asprintf("%s %s: canceled", op->method, op->url);
        op_fail(op, UV_ECANCELED, message);
        free(message);
    }
    while (f->deferred) {
        fetch_op *op = f->deferred;
        list_del(&f->deferred, op);
        op_fail(op, UV_ECANCELED, "canceled");
    }
    /* Cleanup tells the socket callback to drop the sockets of cached connections. */
    curl_multi_cleanup(f->multi);
    f->multi = NULL;
    while (f->socks) {
        sock_ctx *sc = f->socks;
        uv_poll_stop(&sc->poll);
        sock_close(f, sc);
    }
    uv_close((uv_handle_t *)&f->timer, on_handle_closed);
    uv_close((uv_handle_t *)&f->defer, on_handle_closed);
}
