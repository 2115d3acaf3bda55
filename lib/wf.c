/* wf.c - error names, checked allocation, the growable buffer and small parsers. */
#include "wf.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

static const char *wf_own_error(int err)
{
    switch (err) {
    case WF_EINVAL: return "invalid input";
    case WF_ENOTFOUND: return "not found";
    case WF_EEXIST: return "already exists";
    case WF_ECONFIG: return "configuration error";
    case WF_EHASH: return "content hash mismatch";
    case WF_ESTORE: return "state database error";
    case WF_EHTTP: return "http transfer failed";
    case WF_EARCHIVE: return "malformed archive";
    case WF_EBUILD: return "build failed";
    case WF_EINFRA: return "infrastructure failure";
    case WF_ETIMEOUT: return "timed out";
    case WF_ECANCELED: return "cancelled";
    case WF_ELIMIT: return "limit exceeded";
    case WF_EIO: return "i/o error";
    default: return NULL;
    }
}

const char *wf_strerror(int err)
{
    const char *s = wf_own_error(err);
    if (s != NULL)
        return s;
    if (err < 0 && err > -4096)
        return uv_strerror(err);
    return "unknown error";
}

static void *wf_oom(size_t n)
{
    wf_log_error("out of memory allocating %zu bytes", n);
    abort();
}

void *wf_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    return p ? p : wf_oom(n);
}

void *wf_calloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    return p ? p : wf_oom(nmemb * size);
}

void *wf_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    return q ? q : wf_oom(n);
}

char *wf_strdup(const char *s)
{
    return wf_strndup(s, strlen(s));
}

char *wf_strndup(const char *s, size_t n)
{
    char *p = wf_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *wf_vasprintf(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        n = 0;
    char *p = wf_malloc((size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *wf_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = wf_vasprintf(fmt, ap);
    va_end(ap);
    return p;
}

static void wf_buf_grow(wf_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    b->ptr = wf_realloc(b->ptr, cap);
    b->cap = cap;
}

void wf_buf_add(wf_buf *b, const void *p, size_t n)
{
    wf_buf_grow(b, n);
    if (n)
        memcpy(b->ptr + b->len, p, n);
    b->len += n;
    b->ptr[b->len] = '\0';
}

void wf_buf_adds(wf_buf *b, const char *s)
{
    wf_buf_add(b, s, strlen(s));
}

void wf_buf_addf(wf_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n > 0) {
        wf_buf_grow(b, (size_t)n);
        vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
        b->len += (size_t)n;
    }
    va_end(ap);
}

void wf_buf_reset(wf_buf *b)
{
    b->len = 0;
    if (b->ptr)
        b->ptr[0] = '\0';
}

char *wf_buf_detach(wf_buf *b)
{
    char *p = b->ptr ? b->ptr : wf_strdup("");
    b->ptr = NULL;
    b->len = b->cap = 0;
    return p;
}

void wf_buf_release(wf_buf *b)
{
    free(b->ptr);
    b->ptr = NULL;
    b->len = b->cap = 0;
}

int wf_parse_i64(const char *s, size_t len, int64_t *out)
{
    if (len == 0 || len > 20)
        return WF_EINVAL;
    char tmp[24];
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    if (!(tmp[0] == '-' || (tmp[0] >= '0' && tmp[0] <= '9')))
        return WF_EINVAL;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (errno != 0 || end != tmp + len)
        return WF_EINVAL;
    *out = (int64_t)v;
    return 0;
}

uint64_t wf_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int64_t wf_time_s(void)
{
    return (int64_t)time(NULL);
}
