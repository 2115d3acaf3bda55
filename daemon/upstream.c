/* upstream.c - reads PEP 503/691 index pages: a release's sdist URL and sha256, every release. */
#include "daemon/upstream.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/pep440.h"
#include "lib/pep503.h"
#include "lib/wf.h"
#include "lib/wheelname.h"

#define JSON_TYPE "application/vnd.pypi.simple.v1+json"

/* ---- URLs ---- */

typedef struct url_parts {
    const char *scheme, *auth, *path, *query, *frag;
    size_t scheme_len, auth_len, path_len, query_len, frag_len;
    int has_auth, has_query, has_frag;
} url_parts;

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static void url_split(const char *s, url_parts *u)
{
    memset(u, 0, sizeof(*u));
    size_t i = 0;
    if (is_alpha(s[0])) {
        i = 1;
        while (is_alpha(s[i]) || (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '-' ||
               s[i] == '.')
            i++;
        if (s[i] == ':') {
            u->scheme = s;
            u->scheme_len = i;
            s += i + 1;
        }
    }
    if (s[0] == '/' && s[1] == '/') {
        s += 2;
        u->has_auth = 1;
        u->auth = s;
        u->auth_len = strcspn(s, "/?#");
        s += u->auth_len;
    }
    u->path = s;
    u->path_len = strcspn(s, "?#");
    s += u->path_len;
    if (*s == '?') {
        u->has_query = 1;
        u->query = ++s;
        u->query_len = strcspn(s, "#");
        s += u->query_len;
    }
    if (*s == '#') {
        u->has_frag = 1;
        u->frag = s + 1;
        u->frag_len = strlen(s + 1);
    }
}

/* RFC 3986 5.2.4; appends the result to out. */
static void remove_dot_segments(wf_buf *out, const char *in, size_t n)
{
    size_t base = out->len;
    while (n > 0) {
        if (n >= 3 && memcmp(in, "../", 3) == 0) {
            in += 3, n -= 3;
        } else if (n >= 2 && memcmp(in, "./", 2) == 0) {
            in += 2, n -= 2;
        } else if (n >= 3 && memcmp(in, "/./", 3) == 0) {
            in += 2, n -= 2;
        } else if (n == 2 && memcmp(in, "/.", 2) == 0) {
            in = "/", n = 1;
        } else if ((n >= 4 && memcmp(in, "/../", 4) == 0) ||
                   (n == 3 && memcmp(in, "/..", 3) == 0)) {
            if (n == 3)
                in = "/", n = 1;
            else
                in += 3, n -= 3;
            /* drop the last segment of the output and its '/' */
            while (out->len > base && out->ptr[out->len - 1] != '/')
                out->len--;
            if (out->len > base)
                out->len--;
        } else if ((n == 1 && in[0] == '.') || (n == 2 && memcmp(in, "..", 2) == 0)) {
            n = 0;
        } else {
            size_t seg = in[0] == '/' ? 1 : 0;
            while (seg < n && in[seg] != '/')
                seg++;
            wf_buf_add(out, in, seg);
            in += seg, n -= seg;
        }
    }
    wf_buf_add(out, "", 0);
}

static void add_scheme_auth(wf_buf *out, const url_parts *u)
{
    if (u->scheme)
        wf_buf_addf(out, "%.*s:", (int)u->scheme_len, u->scheme);
    if (u->has_auth)
        wf_buf_addf(out, "//%.*s", (int)u->auth_len, u->auth);
}

char *wf_upstream_resolve_url(const char *base, const char *ref)
{
    url_parts b, r;
    url_split(base, &b);
    url_split(ref, &r);
    wf_buf out = WF_BUF_INIT;
    const url_parts *q = &r; /* whose query ends up in the result */
    if (r.scheme) {
        add_scheme_auth(&out, &r);
        remove_dot_segments(&out, r.path, r.path_len);
    } else if (r.has_auth) {
        r.scheme = b.scheme, r.scheme_len = b.scheme_len;
        add_scheme_auth(&out, &r);
        remove_dot_segments(&out, r.path, r.path_len);
    } else {
        add_scheme_auth(&out, &b);
        if (r.path_len == 0) {
            wf_buf_add(&out, b.path, b.path_len);
            if (!r.has_query)
                q = &b;
        } else if (r.path[0] == '/') {
            remove_dot_segments(&out, r.path, r.path_len);
        } else {
            wf_buf merged = WF_BUF_INIT;
            if (b.has_auth && b.path_len == 0) {
                wf_buf_adds(&merged, "/");
            } else {
                size_t keep = b.path_len;
                while (keep > 0 && b.path[keep - 1] != '/')
                    keep--;
                wf_buf_add(&merged, b.path, keep);
            }
            wf_buf_add(&merged, r.path, r.path_len);
            remove_dot_segments(&out, merged.ptr, merged.len);
            wf_buf_release(&merged);
        }
    }
    if (q->has_query)
        wf_buf_addf(&out, "?%.*s", (int)q->query_len, q->query);
    if (r.has_frag)
        wf_buf_addf(&out, "#%.*s", (int)r.frag_len, r.frag);
    return wf_buf_detach(&out);
}

/* ---- file names ---- */

/* 2 for a matching .tar.gz, 1 for a matching .zip, 0 otherwise. */
static int sdist_rank(const char *name, size_t n, const char *project_norm,
                      const char *version_norm)
{
    int rank = 0;
    size_t stem = 0;
    if (n > 7 && strncasecmp(name + n - 7, ".tar.gz", 7) == 0)
        rank = 2, stem = n - 7;
    else if (n > 4 && strncasecmp(name + n - 4, ".zip", 4) == 0)
        rank = 1, stem = n - 4;
    if (rank == 0)
        return 0;
    /* Names may hold '-' themselves, versions rarely: try every separator. */
    for (size_t i = 1; i + 1 < stem; i++) {
        if (name[i] != '-' && name[i] != '_')
            continue;
        if (!wf_pep503_equal(name, i, project_norm, strlen(project_norm)))
            continue;
        char *v = wf_pep440_normalize(name + i + 1, stem - i - 1);
        int same = v && strcmp(v, version_norm) == 0;
        free(v);
        if (same)
            return rank;
    }
    return 0;
}

/* One candidate link from either page format. */
typedef struct candidate {
    char *url; /* as written on the page */
    char *sha256;
    int rank;
} candidate;

static void candidate_release(candidate *c)
{
    free(c->url);
    free(c->sha256);
    memset(c, 0, sizeof(*c));
}

/* Keeps the better of *best and a new match (first one wins a tie). */
static void offer(candidate *best, int rank, const char *url, size_t url_len, const char *sha,
                  size_t sha_len)
{
    if (rank <= best->rank)
        return;
    candidate_release(best);
    best->rank = rank;
    best->url = wf_strndup(url, url_len);
    best->sha256 = sha ? wf_strndup(sha, sha_len) : NULL;
}

/* ---- both page formats, one file at a time ---- */

/* One file link on a project page. Strings are borrowed for the visit. */
typedef struct page_file {
    const char *filename; /* the link text or the URL's last segment */
    const char *url;      /* as written on the page */
    const char *sha256;   /* the sha256 hash as given (not checked), or NULL */
    size_t sha256_len;
    int yanked;                /* PEP 592 */
    const char *yanked_reason; /* or NULL */
    const char *upload_time;   /* PEP 700 "upload-time" (JSON only), or NULL */
} page_file;

/* What the two page parsers call back. version() may be NULL (it gets the JSON "versions"). */
typedef struct page_visitor {
    void (*file)(const page_file *f, void *ctx);
    void (*version)(const char *version, void *ctx);
    void *ctx;
} page_visitor;

/* ---- PEP 691 JSON ---- */

static int parse_json(const char *body, size_t len, const page_visitor *v)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root)
        return WF_EINVAL;
    int rc = 0;
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(root, "files");
    if (!cJSON_IsArray(files)) {
        rc = WF_EINVAL;
        goto out;
    }
    const cJSON *file;
    cJSON_ArrayForEach(file, files)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(file, "filename");
        const cJSON *url = cJSON_GetObjectItemCaseSensitive(file, "url");
        const cJSON *yanked = cJSON_GetObjectItemCaseSensitive(file, "yanked");
        const cJSON *hashes = cJSON_GetObjectItemCaseSensitive(file, "hashes");
        const cJSON *sha = cJSON_GetObjectItemCaseSensitive(hashes, "sha256");
        const cJSON *uploaded = cJSON_GetObjectItemCaseSensitive(file, "upload-time");
        if (!cJSON_IsString(name) || !cJSON_IsString(url))
            continue;
        page_file f = {0};
        f.filename = name->valuestring;
        f.url = url->valuestring;
        f.sha256 = cJSON_IsString(sha) ? sha->valuestring : NULL;
        f.sha256_len = f.sha256 ? strlen(f.sha256) : 0;
        f.yanked = cJSON_IsTrue(yanked) || cJSON_IsString(yanked);
        f.yanked_reason = cJSON_IsString(yanked) ? yanked->valuestring : NULL;
        f.upload_time = cJSON_IsString(uploaded) ? uploaded->valuestring : NULL;
        v->file(&f, v->ctx);
    }
    /* PEP 700 (API 1.1): every version of the project, also those without files. */
    const cJSON *versions = cJSON_GetObjectItemCaseSensitive(root, "versions");
    const cJSON *ver;
    if (v->version != NULL && cJSON_IsArray(versions)) {
        cJSON_ArrayForEach(ver, versions)
        {
            if (cJSON_IsString(ver))
                v->version(ver->valuestring, v->ctx);
        }
    }
out:
    cJSON_Delete(root);
    return rc;
}

/* ---- PEP 503 HTML ---- */

typedef struct tag {
    char *href;
    int has_href;
    int yanked;
    char *yanked_reason; /* data-yanked="reason" decoded; NULL when empty or absent */
} tag;

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* Decodes the HTML character references a simple index uses. */
static char *html_unescape(const char *s, size_t n)
{
    static const struct {
        const char *name;
        char c;
    } named[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
    wf_buf out = WF_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '&') {
            wf_buf_add(&out, s + i, 1);
            continue;
        }
        size_t rest = n - i - 1;
        const char *p = s + i + 1;
        int done = 0;
        for (size_t k = 0; k < WF_ARRAY_SIZE(named) && !done; k++) {
            size_t l = strlen(named[k].name);
            if (rest >= l && memcmp(p, named[k].name, l) == 0) {
                wf_buf_add(&out, &named[k].c, 1);
                i += l;
                done = 1;
            }
        }
        if (!done && rest >= 3 && p[0] == '#') {
            int hex = p[1] == 'x' || p[1] == 'X';
            char *end = NULL;
            unsigned long v = strtoul(p + 1 + hex, &end, hex ? 16 : 10);
            if (end > p + 1 + hex && end < s + n && *end == ';' && v > 0 && v < 128) {
                char c = (char)v;
                wf_buf_add(&out, &c, 1);
                i += (size_t)(end - p) + 1;
                done = 1;
            }
        }
        if (!done)
            wf_buf_add(&out, "&", 1);
    }
    wf_buf_add(&out, "", 0);
    return wf_buf_detach(&out);
}

/* Parses the attributes of a tag from p (just past its name) to its '>'; returns the position
 * after the '>' (or end). */
static const char *parse_attrs(const char *p, const char *end, tag *t)
{
    while (p < end && *p != '>') {
        if (is_space(*p) || *p == '/') {
            p++;
            continue;
        }
        const char *name = p;
        while (p < end && !is_space(*p) && *p != '=' && *p != '>' && *p != '/')
            p++;
        size_t name_len = (size_t)(p - name);
        while (p < end && is_space(*p))
            p++;
        const char *val = NULL;
        size_t val_len = 0;
        if (p < end && *p == '=') {
            p++;
            while (p < end && is_space(*p))
                p++;
            if (p < end && (*p == '"' || *p == '\'')) {
                char q = *p++;
                val = p;
                while (p < end && *p != q)
                    p++;
                val_len = (size_t)(p - val);
                if (p < end)
                    p++;
            } else {
                val = p;
                while (p < end && !is_space(*p) && *p != '>')
                    p++;
                val_len = (size_t)(p - val);
            }
        }
        if (name_len == 4 && strncasecmp(name, "href", 4) == 0 && val && !t->has_href) {
            t->href = html_unescape(val, val_len);
            t->has_href = 1;
        } else if (name_len == 11 && strncasecmp(name, "data-yanked", 11) == 0) {
            t->yanked = 1;
            if (val != NULL && val_len > 0 && t->yanked_reason == NULL)
                t->yanked_reason = html_unescape(val, val_len);
        }
    }
    return p < end ? p + 1 : end;
}

static const char *find_ci(const char *p, const char *end, const char *needle)
{
    size_t n = strlen(needle);
    for (; p + n <= end; p++) {
        if (strncasecmp(p, needle, n) == 0)
            return p;
    }
    return NULL;
}

/* Checks for "<name" followed by a space, '/' or '>' at p (just past '<'). */
static int tag_is(const char *p, const char *end, const char *name)
{
    size_t n = strlen(name);
    return (size_t)(end - p) > n && strncasecmp(p, name, n) == 0 &&
           (is_space(p[n]) || p[n] == '>' || p[n] == '/');
}

/* The file name a link stands for: its text, or else the last segment of its URL's path. */
static char *link_filename(const char *text, size_t text_len, const char *href)
{
    while (text_len > 0 && is_space(*text))
        text++, text_len--;
    while (text_len > 0 && is_space(text[text_len - 1]))
        text_len--;
    if (text_len > 0)
        return html_unescape(text, text_len);
    size_t path_end = strcspn(href, "?#");
    size_t start = path_end;
    while (start > 0 && href[start - 1] != '/')
        start--;
    return wf_strndup(href + start, path_end - start);
}

static void visit_link(const page_visitor *v, const tag *t, const char *text, size_t text_len)
{
    if (!t->has_href)
        return;
    char *file = link_filename(text, text_len, t->href);
    const char *frag = strchr(t->href, '#');
    page_file f = {0};
    f.filename = file;
    f.url = t->href;
    if (frag && strncmp(frag + 1, "sha256=", 7) == 0) {
        f.sha256 = frag + 8;
        f.sha256_len = strcspn(f.sha256, "&");
    }
    f.yanked = t->yanked;
    f.yanked_reason = t->yanked_reason;
    v->file(&f, v->ctx);
    free(file);
}

static void parse_html(const char *body, size_t len, const page_visitor *v, char **base_out)
{
    const char *p = body, *end = body + len;
    while (p < end && (p = memchr(p, '<', (size_t)(end - p))) != NULL) {
        p++;
        if ((size_t)(end - p) >= 3 && memcmp(p, "!--", 3) == 0) {
            const char *close = find_ci(p + 3, end, "-->");
            p = close ? close + 3 : end;
            continue;
        }
        int is_a = tag_is(p, end, "a"), is_base = tag_is(p, end, "base");
        if (!is_a && !is_base)
            continue;
        tag t = {0};
        p = parse_attrs(p + (is_a ? 1 : 4), end, &t);
        if (is_base) {
            if (t.has_href && !*base_out) {
                *base_out = t.href;
                t.href = NULL;
            }
        } else {
            const char *close = find_ci(p, end, "</a");
            const char *text_end = close ? close : end;
            visit_link(v, &t, p, (size_t)(text_end - p));
            p = text_end;
        }
        free(t.href);
        free(t.yanked_reason);
    }
}

static int is_json_type(const char *ct)
{
    size_t n = strlen(JSON_TYPE);
    if (!ct)
        return 0;
    while (is_space(*ct))
        ct++;
    return strncasecmp(ct, JSON_TYPE, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || is_space(ct[n]));
}

/* Lowercases and checks a sha256 hex digest; NULL if it is not one. */
static char *clean_sha256(const char *s)
{
    if (!s || strlen(s) != 64)
        return NULL;
    char *out = wf_strdup(s);
    for (char *c = out; *c; c++) {
        if (*c >= 'A' && *c <= 'F')
            *c = (char)(*c - 'A' + 'a');
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f'))) {
            free(out);
            return NULL;
        }
    }
    return out;
}

/* find_sdist's visitor: keeps the best non-yanked sdist of one version. */
typedef struct find_ctx {
    const char *project_norm, *version_norm;
    candidate best;
} find_ctx;

static void find_on_file(const page_file *f, void *ctx)
{
    find_ctx *fc = ctx;
    if (f->yanked)
        return;
    int rank = sdist_rank(f->filename, strlen(f->filename), fc->project_norm, fc->version_norm);
    offer(&fc->best, rank, f->url, strlen(f->url), f->sha256, f->sha256_len);
}

int wf_upstream_find_sdist(const char *page_url, const char *content_type, const char *body,
                           size_t len, const char *project, const char *version, char **url_out,
                           char **sha256_out)
{
    char *version_norm = wf_pep440_normalize(version, strlen(version));
    char *project_norm = wf_pep503_normalize(project, strlen(project));
    char *base = NULL, *sha = NULL;
    find_ctx fc = {project_norm, version_norm, {0}};
    const page_visitor visitor = {find_on_file, NULL, &fc};
    int rc = version_norm ? 0 : WF_EINVAL;
    if (rc != 0)
        goto out;
    if (is_json_type(content_type))
        rc = parse_json(body, len, &visitor);
    else
        parse_html(body, len, &visitor, &base);
    if (rc == 0 && fc.best.rank == 0)
        rc = WF_ENOTFOUND;
    if (rc != 0)
        goto out;
    if (fc.best.sha256 && !(sha = clean_sha256(fc.best.sha256))) {
        rc = WF_EINVAL; /* the index says a hash, but not a usable one: do not fetch unchecked */
        goto out;
    }
    char *abs_base = base ? wf_upstream_resolve_url(page_url, base) : wf_strdup(page_url);
    char *url = wf_upstream_resolve_url(abs_base, fc.best.url);
    free(abs_base);
    url[strcspn(url, "#")] = '\0';
    *url_out = url;
    *sha256_out = sha;
    sha = NULL;
out:
    free(sha);
    free(base);
    free(version_norm);
    free(project_norm);
    candidate_release(&fc.best);
    return rc;
}

/* ---- every release of a project ---- */

/* The normalized version of an sdist file name of project_norm ("<name><sep><version><ext>",
 * as in sdist_rank), or NULL when the file is not one. Caller frees. */
static char *sdist_version(const char *name, size_t n, const char *project_norm)
{
    size_t stem = 0;
    if (n > 7 && strncasecmp(name + n - 7, ".tar.gz", 7) == 0)
        stem = n - 7;
    else if (n > 4 && strncasecmp(name + n - 4, ".zip", 4) == 0)
        stem = n - 4;
    for (size_t i = 1; i + 1 < stem; i++) {
        if (name[i] != '-' && name[i] != '_')
            continue;
        if (!wf_pep503_equal(name, i, project_norm, strlen(project_norm)))
            continue;
        char *v = wf_pep440_normalize(name + i + 1, stem - i - 1);
        if (v != NULL)
            return v;
    }
    return NULL;
}

/* The normalized version of a wheel file name of project_norm, or NULL. Caller frees. */
static char *wheel_version(const char *name, size_t n, const char *project_norm)
{
    wf_wheel_name w;
    char *v = NULL;
    if (wf_wheelname_parse(&w, name, n) != 0)
        return NULL;
    if (wf_pep503_equal(w.name, strlen(w.name), project_norm, strlen(project_norm)))
        v = wf_pep440_normalize(w.version, strlen(w.version));
    wf_wheelname_release(&w);
    return v;
}

static int parse_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int wf_upstream_parse_time(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, sec;
    size_t n = strlen(s);
    if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':' || parse_digits(s, 4, &y) || parse_digits(s + 5, 2, &mo) ||
        parse_digits(s + 8, 2, &d) || parse_digits(s + 11, 2, &h) || parse_digits(s + 14, 2, &mi) ||
        parse_digits(s + 17, 2, &sec))
        return WF_EINVAL;
    const char *p = s + 19;
    if (*p == '.') { /* fractions of a second: any number of digits, dropped */
        const char *f = ++p;
        while (*p >= '0' && *p <= '9')
            p++;
        if (p == f)
            return WF_EINVAL;
    }
    /* PEP 700 says UTC with "Z"; an explicit zero offset means the same. */
    if (!(strcmp(p, "Z") == 0 || strcmp(p, "z") == 0 || strcmp(p, "+00:00") == 0))
        return WF_EINVAL;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
        (mo == 2 && d == 29 && !leap) || h > 23 || mi > 59 || sec > 60)
        return WF_EINVAL;
    /* Days since the epoch from the civil date (Howard Hinnant's days_from_civil), so no TZ
     * database or timegm() is involved. */
    int64_t yy = mo <= 2 ? y - 1 : y;
    int64_t era = yy / 400;
    int64_t yoe = yy - era * 400;
    int64_t doy = (153 * (mo > 2 ? mo - 3 : mo + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = era * 146097 + doe - 719468;
    *out = days * 86400 + h * 3600 + mi * 60 + sec;
    return 0;
}

/* list's visitor state: the releases found so far. */
typedef struct list_ctx {
    const char *project_norm;
    wf_upstream_release *items;
    size_t n, cap;
    size_t last;                 /* index of the last release touched (files come grouped) */
    unsigned char *time_missing; /* per release: a live sdist without an upload time */
    unsigned char *live;         /* per release: number of non-yanked sdists > 0 */
} list_ctx;

/* The release for a normalized version, added when new. Takes ownership of version. */
static wf_upstream_release *release_for(list_ctx *lc, char *version)
{
    if (lc->last < lc->n && strcmp(lc->items[lc->last].version, version) == 0) {
        free(version);
        return &lc->items[lc->last];
    }
    for (size_t i = 0; i < lc->n; i++) {
        if (strcmp(lc->items[i].version, version) == 0) {
            free(version);
            lc->last = i;
            return &lc->items[i];
        }
    }
    if (lc->n == lc->cap) {
        lc->cap = lc->cap ? lc->cap * 2 : 16;
        lc->items = wf_realloc(lc->items, lc->cap * sizeof(*lc->items));
        lc->time_missing = wf_realloc(lc->time_missing, lc->cap);
        lc->live = wf_realloc(lc->live, lc->cap);
    }
    wf_upstream_release *r = &lc->items[lc->n];
    memset(r, 0, sizeof(*r));
    r->version = version;
    lc->time_missing[lc->n] = 0;
    lc->live[lc->n] = 0;
    lc->last = lc->n++;
    return r;
}

static void list_on_file(const page_file *f, void *ctx)
{
    list_ctx *lc = ctx;
    size_t n = strlen(f->filename);
    char *v = sdist_version(f->filename, n, lc->project_norm);
    if (v == NULL) {
        /* A wheel still says the version exists (shown as "no sdist"). */
        if ((v = wheel_version(f->filename, n, lc->project_norm)) != NULL)
            release_for(lc, v);
        return;
    }
    wf_upstream_release *r = release_for(lc, v);
    size_t i = lc->last;
    r->has_sdist = 1;
    if (f->yanked) {
        if (r->yanked_reason == NULL && f->yanked_reason != NULL && f->yanked_reason[0] != '\0')
            r->yanked_reason = wf_strdup(f->yanked_reason);
        return;
    }
    lc->live[i] = 1;
    int64_t t = 0;
    if (f->upload_time != NULL && wf_upstream_parse_time(f->upload_time, &t) == 0) {
        if (t > r->upload_time)
            r->upload_time = t;
    } else {
        lc->time_missing[i] = 1;
    }
}

static void list_on_version(const char *version, void *ctx)
{
    list_ctx *lc = ctx;
    char *v = wf_pep440_normalize(version, strlen(version));
    if (v != NULL)
        release_for(lc, v);
}

int wf_upstream_list(wf_upstream_listing *out, const char *content_type, const char *body,
                     size_t len, const char *project)
{
    char *project_norm = wf_pep503_normalize(project, strlen(project));
    list_ctx lc = {project_norm, NULL, 0, 0, 0, NULL, NULL};
    const page_visitor visitor = {list_on_file, list_on_version, &lc};
    char *base = NULL;
    int json = is_json_type(content_type);
    int rc = 0;
    if (json)
        rc = parse_json(body, len, &visitor);
    else
        parse_html(body, len, &visitor, &base);
    free(base);
    for (size_t i = 0; i < lc.n; i++) {
        wf_upstream_release *r = &lc.items[i];
        r->yanked = r->has_sdist && !lc.live[i];
        /* One live sdist without a time makes the release's age unknown: min_age must hold
         * for the file that is built, whichever it is. */
        if (!lc.live[i] || lc.time_missing[i])
            r->upload_time = 0;
        if (!r->yanked) {
            free(r->yanked_reason);
            r->yanked_reason = NULL;
        }
    }
    free(lc.time_missing);
    free(lc.live);
    free(project_norm);
    wf_upstream_listing l = {lc.items, lc.n, json};
    if (rc != 0) {
        wf_upstream_listing_release(&l);
        return rc;
    }
    *out = l;
    return 0;
}

void wf_upstream_listing_release(wf_upstream_listing *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].version);
        free(l->items[i].yanked_reason);
    }
    free(l->items);
    memset(l, 0, sizeof(*l));
}
