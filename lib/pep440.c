/* pep440.c - PEP 440 version parsing, normalization and ordering (packaging's Version rules). */
#include "pep440.h"
#include "wf.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* A read position in [s, s+len). `bad` is set when a number overflows, which fails the parse
 * even though the text is otherwise well-formed. */
typedef struct cursor {
    const char *s;
    size_t len;
    size_t pos;
    int bad;
} cursor;

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static char to_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static int is_alnum(char c)
{
    return is_digit(c) || (to_lower(c) >= 'a' && to_lower(c) <= 'z');
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int is_sep(char c)
{
    return c == '-' || c == '_' || c == '.';
}

/* The byte at pos + off, or '\0' past the end ('\0' never matches anything we accept). */
static char peek(const cursor *c, size_t off)
{
    return c->pos + off < c->len ? c->s[c->pos + off] : '\0';
}

static void eat_sep(cursor *c)
{
    if (is_sep(peek(c, 0)))
        c->pos++;
}

/* Consumes `word` (lowercase) case-insensitively if it comes next. */
static int eat_word(cursor *c, const char *word)
{
    size_t n = strlen(word);
    if (c->len - c->pos < n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (to_lower(c->s[c->pos + i]) != word[i])
            return 0;
    }
    c->pos += n;
    return 1;
}

/* Consumes a run of digits into *out. Returns 1 if there was at least one digit. */
static int eat_number(cursor *c, uint64_t *out)
{
    uint64_t v = 0;
    size_t start = c->pos;
    while (is_digit(peek(c, 0))) {
        unsigned d = (unsigned)(peek(c, 0) - '0');
        if (v > (UINT64_MAX - d) / 10)
            c->bad = 1;
        v = v * 10 + d;
        c->pos++;
    }
    *out = v;
    return c->pos > start;
}

/* epoch? release: `([0-9]+!)?[0-9]+(\.[0-9]+)*` */
static int parse_release(cursor *c, wf_pep440 *v)
{
    uint64_t n;
    if (!eat_number(c, &n))
        return 0;
    if (peek(c, 0) == '!') {
        c->pos++;
        v->epoch = n;
        if (!eat_number(c, &n))
            return 0;
    }
    v->release[v->n_release++] = n;
    while (peek(c, 0) == '.' && is_digit(peek(c, 1))) {
        if (v->n_release == WF_PEP440_MAX_RELEASE)
            return 0;
        c->pos++;
        eat_number(c, &v->release[v->n_release++]);
    }
    return 1;
}

/* `[-_.]?(alpha|a|beta|b|preview|pre|c|rc)[-_.]?[0-9]*`, optional. Longer spellings are tried
 * first; as no suffix can follow a shorter one's leftover letters, this equals the regex. */
static void parse_pre(cursor *c, wf_pep440 *v)
{
    static const struct {
        const char *word;
        enum wf_pep440_pre kind;
    } labels[] = {
        {"alpha", WF_PEP440_PRE_A}, {"a", WF_PEP440_PRE_A},        {"beta", WF_PEP440_PRE_B},
        {"b", WF_PEP440_PRE_B},     {"preview", WF_PEP440_PRE_RC}, {"pre", WF_PEP440_PRE_RC},
        {"c", WF_PEP440_PRE_RC},    {"rc", WF_PEP440_PRE_RC},
    };
    size_t save = c->pos;
    eat_sep(c);
    for (size_t i = 0; i < WF_ARRAY_SIZE(labels); i++) {
        if (eat_word(c, labels[i].word)) {
            v->pre = labels[i].kind;
            eat_sep(c);
            eat_number(c, &v->pre_n);
            return;
        }
    }
    c->pos = save;
}

/* `-[0-9]+` or `[-_.]?(post|rev|r)[-_.]?[0-9]*`, optional. */
static void parse_post(cursor *c, wf_pep440 *v)
{
    if (peek(c, 0) == '-' && is_digit(peek(c, 1))) {
        c->pos++;
        v->has_post = 1;
        eat_number(c, &v->post_n);
        return;
    }
    size_t save = c->pos;
    eat_sep(c);
    if (eat_word(c, "post") || eat_word(c, "rev") || eat_word(c, "r")) {
        v->has_post = 1;
        eat_sep(c);
        eat_number(c, &v->post_n);
        return;
    }
    c->pos = save;
}

/* `[-_.]?dev[-_.]?[0-9]*`, optional. */
static void parse_dev(cursor *c, wf_pep440 *v)
{
    size_t save = c->pos;
    eat_sep(c);
    if (eat_word(c, "dev")) {
        v->has_dev = 1;
        eat_sep(c);
        eat_number(c, &v->dev_n);
        return;
    }
    c->pos = save;
}

/* `\+[a-z0-9]+([-_.][a-z0-9]+)*`, optional. Stores the normalized label: lowercase, '.'
 * between parts, leading zeros dropped from all-digit parts (packaging turns them into ints). */
static int parse_local(cursor *c, wf_pep440 *v)
{
    if (peek(c, 0) != '+')
        return 1;
    c->pos++;
    wf_buf b = WF_BUF_INIT;
    int ok = 0;
    for (;;) {
        size_t start = c->pos;
        while (is_alnum(peek(c, 0)))
            c->pos++;
        size_t n = c->pos - start;
        if (n == 0)
            goto out;
        const char *part = c->s + start;
        int numeric = 1;
        for (size_t i = 0; i < n; i++)
            numeric = numeric && is_digit(part[i]);
        while (numeric && n > 1 && part[0] == '0') {
            part++;
            n--;
        }
        for (size_t i = 0; i < n; i++) {
            char lc = to_lower(part[i]);
            wf_buf_add(&b, &lc, 1);
        }
        if (!is_sep(peek(c, 0)))
            break;
        c->pos++;
        wf_buf_add(&b, ".", 1);
    }
    v->local = wf_buf_detach(&b);
    ok = 1;
out:
    wf_buf_release(&b);
    return ok;
}

int wf_pep440_parse(wf_pep440 *out, const char *s, size_t len)
{
    assert(out != NULL && (s != NULL || len == 0));
    wf_pep440 v;
    memset(&v, 0, sizeof(v));
    while (len > 0 && is_space(s[len - 1]))
        len--;
    cursor c = {s, len, 0, 0};
    while (c.pos < len && is_space(s[c.pos]))
        c.pos++;
    if (peek(&c, 0) == 'v' || peek(&c, 0) == 'V')
        c.pos++;
    if (!parse_release(&c, &v))
        goto fail;
    parse_pre(&c, &v);
    parse_post(&c, &v);
    parse_dev(&c, &v);
    if (!parse_local(&c, &v) || c.pos != len || c.bad)
        goto fail;
    *out = v;
    return 0;
fail:
    wf_pep440_release(&v);
    return WF_EINVAL;
}

void wf_pep440_release(wf_pep440 *v)
{
    if (v == NULL)
        return;
    free(v->local);
    memset(v, 0, sizeof(*v));
}

char *wf_pep440_str(const wf_pep440 *v)
{
    static const char *const pre_names[] = {"", "a", "b", "rc"};
    wf_buf b = WF_BUF_INIT;
    if (v->epoch != 0)
        wf_buf_addf(&b, "%" PRIu64 "!", v->epoch);
    for (size_t i = 0; i < v->n_release; i++)
        wf_buf_addf(&b, "%s%" PRIu64, i ? "." : "", v->release[i]);
    if (v->pre != WF_PEP440_PRE_NONE)
        wf_buf_addf(&b, "%s%" PRIu64, pre_names[v->pre], v->pre_n);
    if (v->has_post)
        wf_buf_addf(&b, ".post%" PRIu64, v->post_n);
    if (v->has_dev)
        wf_buf_addf(&b, ".dev%" PRIu64, v->dev_n);
    if (v->local != NULL)
        wf_buf_addf(&b, "+%s", v->local);
    return wf_buf_detach(&b);
}

char *wf_pep440_normalize(const char *s, size_t len)
{
    wf_pep440 v;
    if (wf_pep440_parse(&v, s, len) != 0)
        return NULL;
    char *str = wf_pep440_str(&v);
    wf_pep440_release(&v);
    return str;
}

static int cmp_u64(uint64_t a, uint64_t b)
{
    return (a > b) - (a < b);
}

/* Where the pre-release part sorts: a dev-only release (1.0.dev0) before every pre-release,
 * a final or post release after them all (packaging's -Infinity / +Infinity). */
static int pre_rank(const wf_pep440 *v)
{
    if (v->pre == WF_PEP440_PRE_NONE && !v->has_post && v->has_dev)
        return -1;
    return v->pre == WF_PEP440_PRE_NONE ? 1 : 0;
}

static int cmp_release(const wf_pep440 *a, const wf_pep440 *b)
{
    size_t n = a->n_release > b->n_release ? a->n_release : b->n_release;
    for (size_t i = 0; i < n; i++) {
        uint64_t x = i < a->n_release ? a->release[i] : 0;
        uint64_t y = i < b->n_release ? b->release[i] : 0;
        if (x != y)
            return cmp_u64(x, y);
    }
    return 0;
}

static int is_numeric(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return 0;
    }
    return 1;
}

/* Compares one local part: numbers (already without leading zeros) numerically and above
 * words, words bytewise. */
static int cmp_local_part(const char *a, size_t an, const char *b, size_t bn)
{
    int na = is_numeric(a, an), nb = is_numeric(b, bn);
    if (na != nb)
        return na - nb;
    if (na && an != bn)
        return an < bn ? -1 : 1;
    int r = memcmp(a, b, an < bn ? an : bn);
    if (r != 0)
        return r < 0 ? -1 : 1;
    return (an > bn) - (an < bn);
}

/* Compares normalized local labels part by part; a label that is a prefix of the other sorts
 * first, and no label sorts before any label. */
static int cmp_local(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return (a != NULL) - (b != NULL);
    for (;;) {
        size_t an = strcspn(a, "."), bn = strcspn(b, ".");
        int r = cmp_local_part(a, an, b, bn);
        if (r != 0)
            return r;
        a += an;
        b += bn;
        if (*a == '\0' || *b == '\0')
            return (*a != '\0') - (*b != '\0');
        a++;
        b++;
    }
}

int wf_pep440_cmp(const wf_pep440 *a, const wf_pep440 *b)
{
    int r;
    if ((r = cmp_u64(a->epoch, b->epoch)) != 0)
        return r;
    if ((r = cmp_release(a, b)) != 0)
        return r;
    if ((r = pre_rank(a) - pre_rank(b)) != 0)
        return r;
    if (pre_rank(a) == 0) {
        if ((r = (int)a->pre - (int)b->pre) != 0)
            return r;
        if ((r = cmp_u64(a->pre_n, b->pre_n)) != 0)
            return r;
    }
    /* No post release sorts before any post release. */
    if ((r = a->has_post - b->has_post) != 0)
        return r;
    if ((r = cmp_u64(a->post_n, b->post_n)) != 0)
        return r;
    /* No dev release sorts after any dev release. */
    if ((r = b->has_dev - a->has_dev) != 0)
        return r;
    if ((r = cmp_u64(a->dev_n, b->dev_n)) != 0)
        return r;
    return cmp_local(a->local, b->local);
}

int wf_pep440_is_prerelease(const wf_pep440 *v)
{
    return v->pre != WF_PEP440_PRE_NONE || v->has_dev;
}

int wf_pep440_cmp_str(const char *a, const char *b)
{
    assert(a != NULL && b != NULL);
    wf_pep440 va, vb;
    int ea = wf_pep440_parse(&va, a, strlen(a));
    int eb = wf_pep440_parse(&vb, b, strlen(b));
    int r;
    if (ea == 0 && eb == 0)
        r = wf_pep440_cmp(&va, &vb);
    else if (ea != 0 && eb != 0)
        r = strcmp(a, b);
    else
        r = ea == 0 ? 1 : -1;
    if (ea == 0)
        wf_pep440_release(&va);
    if (eb == 0)
        wf_pep440_release(&vb);
    return r < 0 ? -1 : r > 0;
}
