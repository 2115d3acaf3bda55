/* specifier.c - PEP 440 version specifier sets: parsing, matching and picking the newest match. */
#include "specifier.h"
#include "pep440.h"
#include "wf.h"

#include <assert.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    OP_COMPATIBLE, /* ~= */
    OP_EQ,         /* == */
    OP_NE,         /* != */
    OP_LE,         /* <= */
    OP_GE,         /* >= */
    OP_LT,         /* < */
    OP_GT,         /* > */
    OP_ARBITRARY,  /* === */
} op_kind;

/* Longer spellings first so "===" is not read as "==" followed by "=". */
static const struct {
    const char *text;
    op_kind kind;
} operators[] = {
    {"===", OP_ARBITRARY}, {"~=", OP_COMPATIBLE}, {"==", OP_EQ}, {"!=", OP_NE},
    {"<=", OP_LE},         {">=", OP_GE},         {"<", OP_LT},  {">", OP_GT},
};

typedef struct clause {
    op_kind op;
    int wildcard; /* "==V.*" / "!=V.*" */
    wf_pep440 v;  /* the version without ".*"; unused (zeroed) for === */
    char *text;   /* operator and version as written, trimmed: ">=1.0", "==1.1.*" */
    size_t op_len;
} clause;

struct wf_specifier {
    clause *clauses;
    size_t n;
    int prereleases; /* some clause names a pre-release */
};

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static char to_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static int fail(wf_specifier_error *err, size_t column, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Fills *err (when given) with "column N: <message>" and returns code. */
static int fail(wf_specifier_error *err, size_t column, int code, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    err->column = column;
    int n = snprintf(err->msg, sizeof(err->msg), "column %zu: ", column);
    if (n < 0 || (size_t)n >= sizeof(err->msg))
        return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg + n, sizeof(err->msg) - (size_t)n, fmt, ap);
    va_end(ap);
    return code;
}

/* Reads the operator at the start of [s, s+len); returns its length or 0. */
static size_t read_operator(const char *s, size_t len, op_kind *kind)
{
    for (size_t i = 0; i < WF_ARRAY_SIZE(operators); i++) {
        size_t n = strlen(operators[i].text);
        if (len >= n && memcmp(s, operators[i].text, n) == 0) {
            *kind = operators[i].kind;
            return n;
        }
    }
    return 0;
}

static int bad_operator(const char *s, size_t len, size_t col, wf_specifier_error *err)
{
    int show = len > 40 ? 40 : (int)len;
    if (len >= 2 && (memcmp(s, "=>", 2) == 0 || memcmp(s, "=<", 2) == 0))
        return fail(err, col, WF_EINVAL, "unknown operator '%.2s' (did you mean '%c='?)", s, s[1]);
    if (len >= 1 && s[0] >= '0' && s[0] <= '9')
        return fail(err, col, WF_EINVAL,
                    "'%.*s' has no operator; write '==%.*s' for exactly this version or "
                    "'>=%.*s' for it and newer",
                    show, s, show, s, show, s);
    return fail(err, col, WF_EINVAL,
                "expected an operator (~= == != <= >= < > ===) at the start of '%.*s'", show, s);
}

/* Checks the text of an "===" clause: anything but whitespace, ';' and ')' (packaging's rule). */
static int check_arbitrary(const char *v, size_t vlen, size_t col, wf_specifier_error *err)
{
    for (size_t i = 0; i < vlen; i++) {
        if (is_space(v[i]) || v[i] == ';' || v[i] == ')')
            return fail(err, col + i, WF_EINVAL, "'===' takes one word; '%c' is not allowed in it",
                        is_space(v[i]) ? ' ' : v[i]);
    }
    return 0;
}

/* Validates a parsed version against what its operator allows. vcol is the column of the
 * version text [v, v+vlen) (without any ".*"). */
static int check_version(const clause *c, const char *v, size_t vlen, size_t vcol,
                         wf_specifier_error *err)
{
    const char *plus = memchr(v, '+', vlen);
    size_t plus_col = plus != NULL ? vcol + (size_t)(plus - v) : vcol;
    if (c->wildcard && c->v.local != NULL)
        return fail(err, plus_col, WF_EINVAL,
                    "a local version label ('+%s') cannot be combined with '.*'", c->v.local);
    if (c->wildcard && (c->v.pre != WF_PEP440_PRE_NONE || c->v.has_post || c->v.has_dev))
        return fail(err, vcol, WF_EINVAL,
                    "'.*' must follow a plain release number such as '1.0.*', not a pre-, "
                    "post- or dev-release");
    if (c->v.local != NULL && c->op != OP_EQ && c->op != OP_NE)
        return fail(err, plus_col, WF_EINVAL,
                    "a local version label ('+%s') is only allowed with '==' and '!='", c->v.local);
    if (c->op == OP_COMPATIBLE && c->v.n_release < 2)
        return fail(err, vcol, WF_EINVAL,
                    "'~=' needs at least two release numbers (write '~=%.*s.0', or '==%.*s.*')",
                    (int)vlen, v, (int)vlen, v);
    return 0;
}

/* Parses one trimmed, non-empty clause [s, s+len) that starts at column col into *c. */
static int parse_clause(clause *c, const char *s, size_t len, size_t col, wf_specifier_error *err)
{
    c->op_len = read_operator(s, len, &c->op);
    if (c->op_len == 0)
        return bad_operator(s, len, col, err);
    size_t vpos = c->op_len;
    while (vpos < len && is_space(s[vpos]))
        vpos++;
    const char *v = s + vpos;
    size_t vlen = len - vpos, vcol = col + vpos;
    if (vlen == 0)
        return fail(err, vcol, WF_EINVAL, "missing version after '%.*s'", (int)c->op_len, s);
    if (c->op == OP_ARBITRARY)
        return check_arbitrary(v, vlen, vcol, err);
    for (size_t i = 0; i < vlen; i++) {
        if (is_space(v[i]))
            return fail(err, vcol + i, WF_EINVAL, "unexpected space inside the version '%.*s'",
                        (int)(vlen > 60 ? 60 : vlen), v);
    }
    const char *star = memmem(v, vlen, ".*", 2);
    if (star != NULL && star + 2 != v + vlen)
        return fail(err, vcol + (size_t)(star - v), WF_EINVAL,
                    "'.*' must be the last thing in the version (a prefix match ignores local "
                    "labels; write '==1.0.*')");
    if (star != NULL) {
        if (c->op != OP_EQ && c->op != OP_NE)
            return fail(err, vcol + vlen - 2, WF_EINVAL,
                        "'.*' (prefix matching) is only allowed with '==' and '!=', not with "
                        "'%.*s'",
                        (int)c->op_len, s);
        c->wildcard = 1;
        vlen -= 2;
    }
    if (wf_pep440_parse(&c->v, v, vlen) != 0)
        return fail(err, vcol, WF_EINVAL, "'%.*s' is not a valid PEP 440 version",
                    (int)(vlen > 60 ? 60 : vlen), v);
    return check_version(c, v, vlen, vcol, err);
}

/* Whether a clause makes the set admit pre-releases by default: it names one, and it is not
 * an exclusion or a prefix match. An "===" clause counts when its text is a pre-release. */
static int clause_prereleases(const clause *c)
{
    if (c->op == OP_NE || c->wildcard)
        return 0;
    if (c->op != OP_ARBITRARY)
        return wf_pep440_is_prerelease(&c->v);
    wf_pep440 v;
    const char *t = c->text + c->op_len;
    if (wf_pep440_parse(&v, t, strlen(t)) != 0)
        return 0;
    int pre = wf_pep440_is_prerelease(&v);
    wf_pep440_release(&v);
    return pre;
}

int wf_specifier_parse(wf_specifier **out, const char *s, size_t len, wf_specifier_error *err)
{
    assert(out != NULL && (s != NULL || len == 0));
    if (len > WF_SPECIFIER_MAX_LEN)
        return fail(err, 1, WF_ELIMIT, "the specifier is %zu bytes long; the limit is %d", len,
                    WF_SPECIFIER_MAX_LEN);
    wf_specifier *set = wf_calloc(1, sizeof(*set));
    int r = 0;
    size_t start = 0;
    while (start <= len) {
        const char *comma = memchr(s + start, ',', len - start);
        size_t end = comma != NULL ? (size_t)(comma - s) : len;
        size_t a = start, b = end;
        while (a < b && is_space(s[a]))
            a++;
        while (b > a && is_space(s[b - 1]))
            b--;
        start = end + 1;
        if (a == b)
            continue;
        if (set->n == WF_SPECIFIER_MAX_CLAUSES) {
            r = fail(err, a + 1, WF_ELIMIT, "more than %d clauses", WF_SPECIFIER_MAX_CLAUSES);
            goto out;
        }
        set->clauses = wf_realloc(set->clauses, (set->n + 1) * sizeof(*set->clauses));
        clause *c = &set->clauses[set->n++];
        memset(c, 0, sizeof(*c));
        c->text = wf_strndup(s + a, b - a);
        if ((r = parse_clause(c, s + a, b - a, a + 1, err)) != 0)
            goto out;
        set->prereleases = set->prereleases || clause_prereleases(c);
    }
    *out = set;
    set = NULL;
out:
    wf_specifier_free(set);
    return r;
}

void wf_specifier_free(wf_specifier *set)
{
    if (set == NULL)
        return;
    for (size_t i = 0; i < set->n; i++) {
        wf_pep440_release(&set->clauses[i].v);
        free(set->clauses[i].text);
    }
    free(set->clauses);
    free(set);
}

int wf_specifier_prereleases(const wf_specifier *set)
{
    return set->prereleases;
}

/* Compares public versions: local labels ignored. */
static int cmp_public(const wf_pep440 *a, const wf_pep440 *b)
{
    wf_pep440 x = *a, y = *b;
    x.local = NULL;
    y.local = NULL;
    return wf_pep440_cmp(&x, &y);
}

/* Same epoch, and the first k release numbers of v (zero padded) equal spec's. */
static int release_prefix(const wf_pep440 *v, const wf_pep440 *spec, size_t k)
{
    if (v->epoch != spec->epoch)
        return 0;
    for (size_t i = 0; i < k; i++) {
        uint64_t x = i < v->n_release ? v->release[i] : 0;
        if (x != spec->release[i])
            return 0;
    }
    return 1;
}

/* ">V": above V, but not one of V's local versions nor, unless V is a post or dev release,
 * one of V's post releases (which share V's epoch, release and pre-release). */
static int greater_than(const wf_pep440 *v, const wf_pep440 *spec)
{
    if (wf_pep440_cmp(v, spec) <= 0)
        return 0;
    if (spec->has_post || spec->has_dev)
        return cmp_public(v, spec) != 0;
    int same_base = release_prefix(v, spec, spec->n_release) &&
                    release_prefix(spec, v, v->n_release) && v->pre == spec->pre &&
                    (v->pre == WF_PEP440_PRE_NONE || v->pre_n == spec->pre_n);
    return !same_base;
}

/* "<V": below V, and when V is not a pre-release also below V.dev0, so V's own pre-releases
 * are left out. */
static int less_than(const wf_pep440 *v, const wf_pep440 *spec)
{
    if (wf_pep440_is_prerelease(spec))
        return wf_pep440_cmp(v, spec) < 0;
    wf_pep440 bound = *spec;
    bound.has_dev = 1;
    bound.dev_n = 0;
    return wf_pep440_cmp(v, &bound) < 0;
}

static int text_equal_nocase(const char *a, size_t an, const char *b, size_t bn)
{
    if (an != bn)
        return 0;
    for (size_t i = 0; i < an; i++) {
        if (to_lower(a[i]) != to_lower(b[i]))
            return 0;
    }
    return 1;
}

/* One clause against a candidate: its trimmed text, and its parse when valid (else NULL). */
static int clause_matches(const clause *c, const char *text, size_t len, const wf_pep440 *v)
{
    if (c->op == OP_ARBITRARY) {
        const char *t = c->text + c->op_len;
        while (is_space(*t))
            t++;
        return text_equal_nocase(text, len, t, strlen(t));
    }
    if (v == NULL)
        return 0;
    switch (c->op) {
    case OP_COMPATIBLE:
        return wf_pep440_cmp(v, &c->v) >= 0 && release_prefix(v, &c->v, c->v.n_release - 1);
    case OP_EQ:
    case OP_NE: {
        int eq;
        if (c->wildcard)
            eq = release_prefix(v, &c->v, c->v.n_release);
        else
            eq = c->v.local != NULL ? wf_pep440_cmp(v, &c->v) == 0 : cmp_public(v, &c->v) == 0;
        return c->op == OP_EQ ? eq : !eq;
    }
    case OP_LE: return cmp_public(v, &c->v) <= 0;
    case OP_GE: return cmp_public(v, &c->v) >= 0;
    case OP_LT: return less_than(v, &c->v);
    case OP_GT: return greater_than(v, &c->v);
    case OP_ARBITRARY: break;
    }
    return 0;
}

/* The matching core on an already trimmed text and its parse (NULL when not a version). */
static int contains(const wf_specifier *set, const char *text, size_t len, const wf_pep440 *v,
                    int prereleases)
{
    int allow = prereleases < 0 ? set->prereleases : prereleases != 0;
    if (!allow && v != NULL && wf_pep440_is_prerelease(v))
        return 0;
    for (size_t i = 0; i < set->n; i++) {
        if (!clause_matches(&set->clauses[i], text, len, v))
            return 0;
    }
    return 1;
}

static void trim(const char **s, size_t *len)
{
    while (*len > 0 && is_space((*s)[*len - 1]))
        (*len)--;
    while (*len > 0 && is_space(**s)) {
        (*s)++;
        (*len)--;
    }
}

int wf_specifier_contains(const wf_specifier *set, const char *version, size_t len, int prereleases)
{
    assert(set != NULL && (version != NULL || len == 0));
    trim(&version, &len);
    wf_pep440 v;
    int valid = wf_pep440_parse(&v, version, len) == 0;
    int r = contains(set, version, len, valid ? &v : NULL, prereleases);
    if (valid)
        wf_pep440_release(&v);
    return r;
}

/* Keeps *best pointing at the newest of the versions offered so far (the first on ties). */
static void offer(const char *const *versions, int i, int *best)
{
    if (*best < 0 || wf_pep440_cmp_str(versions[i], versions[*best]) > 0)
        *best = i;
}

int wf_specifier_best(const wf_specifier *set, const char *const *versions, size_t n,
                      int prereleases)
{
    assert(set != NULL && (versions != NULL || n == 0) && n <= INT_MAX);
    /* With the default policy and no pre-release named, pre-releases count only when no final
     * release matches: track the best final (or non-version "===" match) and the best of all. */
    int fallback = prereleases < 0 && !set->prereleases;
    int best_final = -1, best_any = -1, found_final = 0;
    for (size_t i = 0; i < n; i++) {
        const char *text = versions[i];
        size_t len = strlen(text);
        trim(&text, &len);
        wf_pep440 v;
        int valid = wf_pep440_parse(&v, text, len) == 0;
        int pre = valid && wf_pep440_is_prerelease(&v);
        int ok = contains(set, text, len, valid ? &v : NULL, fallback ? 1 : prereleases);
        if (valid)
            wf_pep440_release(&v);
        if (!ok)
            continue;
        offer(versions, (int)i, &best_any);
        if (!pre)
            offer(versions, (int)i, &best_final);
        found_final = found_final || (valid && !pre);
    }
    if (fallback && found_final)
        return best_final;
    return best_any;
}

char *wf_specifier_str(const wf_specifier *set)
{
    wf_buf b = WF_BUF_INIT;
    wf_buf_adds(&b, "");
    for (size_t i = 0; i < set->n; i++)
        wf_buf_addf(&b, "%s%s", i ? ", " : "", set->clauses[i].text);
    return wf_buf_detach(&b);
}
