/* pep440.h - PEP 440 versions: parse, normalize, compare.
 *
 * Accepts exactly what the reference implementation (the `packaging` library's Version) accepts:
 * epochs, pre/post/dev releases with implicit numbers and alternate spellings (alpha, beta, c,
 * pre, preview, rev, r, "-N" post releases), separators [-_.] around suffixes, local versions,
 * a leading 'v', case-insensitive letters and surrounding whitespace. Pure functions of
 * (ptr, len): no I/O, thread-safe.
 *
 * Limits: numbers must fit in 64 bits and the release segment may have at most
 * WF_PEP440_MAX_RELEASE components; inputs past either limit are rejected as invalid.
 */
#ifndef WF_PEP440_H
#define WF_PEP440_H

#include <stddef.h>
#include <stdint.h>

#define WF_PEP440_MAX_RELEASE 16

/* Pre-release kinds, in PEP 440 order. */
enum wf_pep440_pre {
    WF_PEP440_PRE_NONE = 0,
    WF_PEP440_PRE_A = 1,  /* a, alpha */
    WF_PEP440_PRE_B = 2,  /* b, beta */
    WF_PEP440_PRE_RC = 3, /* rc, c, pre, preview */
};

/* A parsed version. Transparent so it can live on the stack; fill it with wf_pep440_parse()
 * and give it back with wf_pep440_release(). */
typedef struct wf_pep440 {
    uint64_t epoch;                          /* 0 when absent */
    uint64_t release[WF_PEP440_MAX_RELEASE]; /* as written, trailing zeros kept */
    size_t n_release;                        /* >= 1 */
    enum wf_pep440_pre pre;
    uint64_t pre_n; /* meaningful when pre != NONE */
    int has_post;
    uint64_t post_n;
    int has_dev;
    uint64_t dev_n;
    char *local; /* normalized local label ("ubuntu.1"), NULL when absent; owned, heap */
} wf_pep440;

/* Parses [s, s+len) into *out. Returns 0, or WF_EINVAL if the text is not a valid PEP 440
 * version (out is then untouched). On success the caller must call wf_pep440_release(out). */
int wf_pep440_parse(wf_pep440 *out, const char *s, size_t len);

/* Frees what wf_pep440_parse() allocated and zeroes *v. Accepts NULL and a zeroed struct. */
void wf_pep440_release(wf_pep440 *v);

/* The canonical text of a parsed version ("1!2.0rc1.post2.dev3+ubuntu.1"); release components
 * are printed as written (1.0 stays 1.0). Never NULL; the caller frees it with free(). */
char *wf_pep440_str(const wf_pep440 *v);

/* The normalized form of [s, s+len), or NULL if it is not a valid version. Caller frees. */
char *wf_pep440_normalize(const char *s, size_t len);

/* Orders two versions per PEP 440, local versions included: <0, 0 or >0. Trailing zeros in the
 * release do not count (1.0.0 == 1.0). */
int wf_pep440_cmp(const wf_pep440 *a, const wf_pep440 *b);

/* 1 if v is a pre-release in the PEP 440 sense: it has a pre-release or a dev-release part. */
int wf_pep440_is_prerelease(const wf_pep440 *v);

/* Compares two NUL-terminated version strings. Invalid strings sort before every valid one and
 * among themselves by strcmp(), so this is a total order usable with qsort(). */
int wf_pep440_cmp_str(const char *a, const char *b);

#endif
