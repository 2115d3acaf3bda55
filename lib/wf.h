/* wf.h - project-wide basics: error codes, checked allocation, small string helpers.
 *
 * Error convention (libuv style): a function that can fail returns int, 0 on success and a
 * negative code on failure. libuv's UV_E* codes are used as they are; project codes WF_E* live
 * at -10000 and below. wf_strerror() names either kind.
 */
#ifndef WF_WF_H
#define WF_WF_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#define WF_VERSION "0.1.0"

enum {
    WF_EINVAL = -10000,    /* invalid input (bad recipe, bad spec, bad argument) */
    WF_ENOTFOUND = -10001, /* the named thing does not exist */
    WF_EEXIST = -10002,    /* already exists */
    WF_ECONFIG = -10003,   /* configuration error */
    WF_EHASH = -10004,     /* content hash mismatch */
    WF_ESTORE = -10005,    /* state database failure */
    WF_EHTTP = -10006,     /* HTTP transfer failure */
    WF_EARCHIVE = -10007,  /* malformed archive (wheel, sdist) */
    WF_EBUILD = -10008,    /* the build itself failed (compiler, test command) */
    WF_EINFRA = -10009,    /* infrastructure failure (engine unreachable, killed) */
    WF_ETIMEOUT = -10010,  /* a deadline passed */
    WF_ECANCELED = -10011, /* cancelled by a person or by shutdown */
    WF_ELIMIT = -10012,    /* a size or count limit was hit */
    WF_EIO = -10013,       /* filesystem failure not covered by a UV_E* code */
};

/* Returns a static description of a WF_E* or UV_E* code (never NULL). */
const char *wf_strerror(int err);

/* Allocation that never returns NULL: on exhaustion it logs and aborts (tmux, redis, h2o). */
void *wf_malloc(size_t n);
void *wf_calloc(size_t nmemb, size_t size);
void *wf_realloc(void *p, size_t n);
char *wf_strdup(const char *s);
char *wf_strndup(const char *s, size_t n);
/* printf into a new heap string; the caller frees it with free(). */
char *wf_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *wf_vasprintf(const char *fmt, va_list ap);

/* Growable byte buffer (git's strbuf). Always NUL-terminated once anything was added.
 * wf_buf_release frees the memory; the struct itself belongs to the caller. */
typedef struct wf_buf {
    char *ptr;
    size_t len;
    size_t cap;
} wf_buf;
#define WF_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }
void wf_buf_add(wf_buf *b, const void *p, size_t n);
void wf_buf_adds(wf_buf *b, const char *s);
void wf_buf_addf(wf_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void wf_buf_reset(wf_buf *b);
/* Hands the string to the caller (free() it); the buffer is left empty. Never NULL. */
char *wf_buf_detach(wf_buf *b);
void wf_buf_release(wf_buf *b);

/* Checked number parsing: the whole of [s, s+len) must be a decimal integer in range. */
int wf_parse_i64(const char *s, size_t len, int64_t *out);

/* Monotonic time in milliseconds, and wall-clock seconds since the epoch. */
uint64_t wf_now_ms(void);
int64_t wf_time_s(void);

#define WF_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define wf_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

#endif
