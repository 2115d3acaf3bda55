/* pep503.c - PEP 503 project-name validity and normalization, without allocation where possible. */
#include "pep503.h"
#include "wf.h"

static int is_alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_sep(char c)
{
    return c == '-' || c == '_' || c == '.';
}

static char to_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

int wf_pep503_valid(const char *s, size_t len)
{
    if (len == 0 || !is_alnum(s[0]) || !is_alnum(s[len - 1]))
        return 0;
    for (size_t i = 1; i + 1 < len; i++) {
        if (!is_alnum(s[i]) && !is_sep(s[i]))
            return 0;
    }
    return 1;
}

/* Yields the normalized form one byte at a time, so normalize and compare share one rule.
 * Returns 0 at the end of the input. */
static int next_normalized(const char *s, size_t len, size_t *pos, char *out)
{
    size_t i = *pos;
    if (i >= len)
        return 0;
    if (is_sep(s[i])) {
        while (i < len && is_sep(s[i]))
            i++;
        *out = '-';
    } else {
        *out = to_lower(s[i]);
        i++;
    }
    *pos = i;
    return 1;
}

char *wf_pep503_normalize(const char *s, size_t len)
{
    char *out = wf_malloc(len + 1);
    size_t pos = 0, n = 0;
    char c;
    while (next_normalized(s, len, &pos, &c))
        out[n++] = c;
    out[n] = '\0';
    return out;
}

int wf_pep503_is_normalized(const char *s, size_t len)
{
    size_t pos = 0, n = 0;
    char c;
    while (next_normalized(s, len, &pos, &c)) {
        /* The normalized form is never longer than the input, so n < len here. */
        if (s[n++] != c)
            return 0;
    }
    return n == len;
}

int wf_pep503_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t pa = 0, pb = 0;
    char ca, cb;
    for (;;) {
        int ha = next_normalized(a, alen, &pa, &ca);
        int hb = next_normalized(b, blen, &pb, &cb);
        if (!ha || !hb)
            return ha == hb;
        if (ca != cb)
            return 0;
    }
}
