/* upstream.c - finds a release's sdist URL and sha256 on a PEP 503/691 index page. */
#include "daemon/upstream.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/pep440.h"
#include "lib/pep503.h"
#include "lib/wf.h"

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

/* ---- PEP 691 JSON ---- */

static int parse_json(const char *body, size_t len, const char *project, const char *version,
                      candidate *best)
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
        if (!cJSON_IsString(name) || !cJSON_IsString(url))
            continue;
        if (cJSON_IsTrue(yanked) || cJSON_IsString(yanked))
            continue;
        int rank = sdist_rank(name->valuestring, strlen(name->valuestring), project, version);
        const char *s = cJSON_IsString(sha) ? sha->valuestring : NULL;
        offer(best, rank, url->valuestring, strlen(url->valuestring), s, s ? strlen(s) : 0);
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

static void offer_link(candidate *best, const tag *t, const char *text, size_t text_len,
                       const char *project, const char *version)
{
    if (!t->has_href || t->yanked)
        return;
    char *file = link_filename(text, text_len, t->href);
    int rank = sdist_rank(file, strlen(file), project, version);
    free(file);
    if (rank == 0)
        return;
    const char *frag = strchr(t->href, '#');
    const char *sha = NULL;
    if (frag && strncmp(frag + 1, "sha256=", 7) == 0)
        sha = frag + 8;
    offer(best, rank, t->href, strlen(t->href), sha, sha ? strcspn(sha, "&") : 0);
}

static void parse_html(const char *body, size_t len, const char *project, const char *version,
                       candidate *best, char **base_out)
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
            offer_link(best, &t, p, (size_t)(text_end - p), project, version);
            p = text_end;
        }
        free(t.href);
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

int wf_upstream_find_sdist(const char *page_url, const char *content_type, const char *body,
                           size_t len, const char *project, const char *version, char **url_out,
                           char **sha256_out)
{
    char *version_norm = wf_pep440_normalize(version, strlen(version));
    char *project_norm = wf_pep503_normalize(project, strlen(project));
    char *base = NULL, *sha = NULL;
    candidate best = {0};
    int rc = version_norm ? 0 : WF_EINVAL;
    if (rc != 0)
        goto out;
    if (is_json_type(content_type))
        rc = parse_json(body, len, project_norm, version_norm, &best);
    else
        parse_html(body, len, project_norm, version_norm, &best, &base);
    if (rc == 0 && best.rank == 0)
        rc = WF_ENOTFOUND;
    if (rc != 0)
        goto out;
    if (best.sha256 && !(sha = clean_sha256(best.sha256))) {
        rc = WF_EINVAL; /* the index says a hash, but not a usable one: do not fetch unchecked */
        goto out;
    }
    char *abs_base = base ? wf_upstream_resolve_url(page_url, base) : wf_strdup(page_url);
    char *url = wf_upstream_resolve_url(abs_base, best.url);
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
    candidate_release(&best);
    return rc;
}
