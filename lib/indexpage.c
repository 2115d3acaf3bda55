/* indexpage.c - formats the PEP 503 root and project pages of the built-in package index. */
#include "lib/indexpage.h"

#include <stdlib.h>
#include <string.h>

#include "lib/pep503.h"
#include "lib/wf.h"

static void add_escaped(wf_buf *b, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        switch (s[i]) {
        case '&': wf_buf_adds(b, "&amp;"); break;
        case '<': wf_buf_adds(b, "&lt;"); break;
        case '>': wf_buf_adds(b, "&gt;"); break;
        case '"': wf_buf_adds(b, "&quot;"); break;
        case '\'': wf_buf_adds(b, "&#39;"); break;
        default: wf_buf_add(b, &s[i], 1); break;
        }
    }
}

char *wf_indexpage_escape(const char *s, size_t len)
{
    wf_buf b = WF_BUF_INIT;
    add_escaped(&b, s, len);
    return wf_buf_detach(&b);
}

/* Percent-encodes a URL path. The result contains no character that needs HTML escaping
 * inside a double-quoted attribute, so it can be written as it is. */
static void add_url_encoded(wf_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-._~/:@", c) != NULL) {
            wf_buf_add(b, p, 1);
        } else {
            char enc[3] = {'%', hex[c >> 4], hex[c & 15]};
            wf_buf_add(b, enc, 3);
        }
    }
}

static int is_hex_digest(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') || (*s >= 'A' && *s <= 'F')))
            return 0;
    return 1;
}

static void add_head(wf_buf *b, const char *title)
{
    wf_buf_adds(b, "<!DOCTYPE html>\n<html>\n  <head>\n"
                   "    <meta name=\"pypi:repository-version\" content=\"1.0\">\n"
                   "    <title>");
    add_escaped(b, title, strlen(title));
    wf_buf_adds(b, "</title>\n  </head>\n  <body>\n");
}

static void add_tail(wf_buf *b)
{
    wf_buf_adds(b, "  </body>\n</html>\n");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *wf_indexpage_root(const char *const *projects, size_t n)
{
    char **names = wf_calloc(n ? n : 1, sizeof(*names));
    for (size_t i = 0; i < n; i++)
        names[i] = wf_pep503_normalize(projects[i], strlen(projects[i]));
    qsort(names, n, sizeof(*names), cmp_str);

    wf_buf b = WF_BUF_INIT;
    add_head(&b, "Simple index");
    for (size_t i = 0; i < n; i++) {
        /* Duplicates (two spellings of one project) would give two identical links. */
        if (i > 0 && strcmp(names[i], names[i - 1]) == 0)
            continue;
        wf_buf_adds(&b, "    <a href=\"");
        add_url_encoded(&b, names[i]);
        wf_buf_adds(&b, "/\">");
        add_escaped(&b, names[i], strlen(names[i]));
        wf_buf_adds(&b, "</a><br>\n");
    }
    add_tail(&b);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return wf_buf_detach(&b);
}

static int cmp_file(const void *a, const void *b)
{
    const wf_index_file *fa = *(const wf_index_file *const *)a;
    const wf_index_file *fb = *(const wf_index_file *const *)b;
    return strcmp(fa->filename, fb->filename);
}

static void add_file(wf_buf *b, const wf_index_file *f)
{
    wf_buf_adds(b, "    <a href=\"");
    add_url_encoded(b, f->url != NULL ? f->url : f->filename);
    if (is_hex_digest(f->sha256))
        wf_buf_addf(b, "#sha256=%s", f->sha256);
    wf_buf_adds(b, "\"");
    if (f->requires_python != NULL && f->requires_python[0] != '\0') {
        wf_buf_adds(b, " data-requires-python=\"");
        add_escaped(b, f->requires_python, strlen(f->requires_python));
        wf_buf_adds(b, "\"");
    }
    /* PEP 658 named the attribute data-dist-info-metadata, PEP 714 renamed it; pip reads both. */
    if (is_hex_digest(f->metadata_sha256))
        wf_buf_addf(b, " data-dist-info-metadata=\"sha256=%s\" data-core-metadata=\"sha256=%s\"",
                    f->metadata_sha256, f->metadata_sha256);
    wf_buf_adds(b, ">");
    add_escaped(b, f->filename, strlen(f->filename));
    wf_buf_adds(b, "</a><br>\n");
}

char *wf_indexpage_project(const char *project, const wf_index_file *files, size_t n)
{
    const wf_index_file **sorted = wf_calloc(n ? n : 1, sizeof(*sorted));
    for (size_t i = 0; i < n; i++)
        sorted[i] = &files[i];
    qsort(sorted, n, sizeof(*sorted), cmp_file);

    char *title = wf_asprintf("Links for %s", project);
    wf_buf b = WF_BUF_INIT;
    add_head(&b, title);
    wf_buf_adds(&b, "    <h1>");
    add_escaped(&b, title, strlen(title));
    wf_buf_adds(&b, "</h1>\n");
    for (size_t i = 0; i < n; i++)
        add_file(&b, sorted[i]);
    add_tail(&b);
    free(title);
    free(sorted);
    return wf_buf_detach(&b);
}
