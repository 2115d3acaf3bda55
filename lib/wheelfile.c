/* wheelfile.c - opens a wheel with libarchive and checks its zip, dist-info and RECORD. */
#include "lib/wheelfile.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <uv.h>

#include "lib/hash.h"
#include "lib/wf.h"

#define B64_DIGEST_LEN 43 /* 32 bytes in base64 without padding */
#define SCAN_CHUNK (64 * 1024)

/* One file of the zip: its name, the urlsafe base64 of its sha256 and its size. */
typedef struct zfile {
    char *name;
    char b64[B64_DIGEST_LEN + 1];
    int64_t size;
    int in_record;
} zfile;

/* Everything read from the zip while walking it once. */
typedef struct wheel_scan {
    const char *wheel; /* base name of the wheel, for messages */
    zfile *files;
    size_t n_files, cap_files;
    char *dist_info;
    int has_metadata, has_wheel, has_record;
    wf_buf metadata, wheelmeta, record;
    long long total;
    char *chunk; /* read buffer, SCAN_CHUNK bytes */
    char *err;
} wheel_scan;

static int scan_fail(wheel_scan *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the first error message (later ones are consequences) and returns code. */
static int scan_fail(wheel_scan *s, int code, const char *fmt, ...)
{
    if (s->err == NULL) {
        va_list ap;
        va_start(ap, fmt);
        char *msg = wf_vasprintf(fmt, ap);
        va_end(ap);
        s->err = wf_asprintf("%s: %s", s->wheel, msg);
        free(msg);
    }
    return code;
}

/* Encodes a 64-digit hex sha256 as urlsafe base64 without padding, as RECORD writes it. */
static void hex_to_b64url(const char *hex, char out[B64_DIGEST_LEN + 1])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[33] = {0};
    for (size_t i = 0; i < 32; i++) {
        unsigned hi = (unsigned)(hex[2 * i] <= '9' ? hex[2 * i] - '0' : hex[2 * i] - 'a' + 10);
        unsigned lo =
            (unsigned)(hex[2 * i + 1] <= '9' ? hex[2 * i + 1] - '0' : hex[2 * i + 1] - 'a' + 10);
        raw[i] = (unsigned char)(hi << 4 | lo);
    }
    size_t o = 0;
    for (size_t i = 0; i < 32; i += 3) {
        uint32_t v =
            (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | (i + 2 < 32 ? raw[i + 2] : 0);
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63];
        if (i + 2 < 32)
            out[o++] = alphabet[v & 63];
    }
    out[o] = '\0';
}

/* 1 if a member name stays inside the archive: relative, '/'-separated, no empty, "." or ".."
 * component (a trailing '/' of a directory aside) and no backslash. */
static int name_is_safe(const char *name, size_t len)
{
    if (len == 0 || name[0] == '/' || memchr(name, '\\', len) != NULL)
        return 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && name[i] != '/')
            continue;
        size_t clen = i - start;
        if (clen == 0 && i != len)
            return 0;
        if ((clen == 1 && name[start] == '.') ||
            (clen == 2 && name[start] == '.' && name[start + 1] == '.'))
            return 0;
        start = i + 1;
    }
    return 1;
}

/* The top-level directory of a member if it is "*.dist-info", checking there is only one. */
static int note_dist_info(wheel_scan *s, const char *name)
{
    const char *slash = strchr(name, '/');
    static const char suffix[] = ".dist-info";
    size_t n = slash ? (size_t)(slash - name) : 0;
    if (n < sizeof(suffix) || memcmp(name + n - (sizeof(suffix) - 1), suffix, sizeof(suffix) - 1))
        return 0;
    if (s->dist_info == NULL) {
        s->dist_info = wf_strndup(name, n);
        return 0;
    }
    if (strlen(s->dist_info) != n || memcmp(s->dist_info, name, n) != 0)
        return scan_fail(s, WF_EARCHIVE,
                         "two .dist-info directories, '%s/' and '%.*s/'; "
                         "a wheel has exactly one",
                         s->dist_info, (int)n, name);
    return 0;
}

/* Which dist-info buffer, if any, keeps the content of member `name`. */
static wf_buf *kept_buffer(wheel_scan *s, const char *name, size_t *max)
{
    const char *slash = strchr(name, '/');
    if (slash == NULL || s->dist_info == NULL || (size_t)(slash - name) != strlen(s->dist_info) ||
        memcmp(name, s->dist_info, strlen(s->dist_info)) != 0)
        return NULL;
    *max = WF_WHEEL_MAX_META;
    if (strcmp(slash + 1, "METADATA") == 0 && ++s->has_metadata)
        return &s->metadata;
    if (strcmp(slash + 1, "WHEEL") == 0 && ++s->has_wheel)
        return &s->wheelmeta;
    *max = WF_WHEEL_MAX_RECORD;
    if (strcmp(slash + 1, "RECORD") == 0 && ++s->has_record)
        return &s->record;
    return NULL;
}

/* Reads the data of the current member: hashes it, counts it against the total limit and
 * keeps it in `keep` (bounded by max) when asked. */
static int read_member(wheel_scan *s, struct archive *a, zfile *f, wf_buf *keep, size_t max)
{
    wf_sha256 h;
    char hex[WF_SHA256_HEX_LEN + 1];
    la_ssize_t n;
    wf_sha256_init(&h);
    while ((n = archive_read_data(a, s->chunk, SCAN_CHUNK)) > 0) {
        s->total += n;
        f->size += n;
        if (s->total > WF_WHEEL_MAX_TOTAL)
            return scan_fail(s, WF_ELIMIT, "more than %lld bytes uncompressed (at '%s')",
                             (long long)WF_WHEEL_MAX_TOTAL, f->name);
        if (keep != NULL && keep->len + (size_t)n > max)
            return scan_fail(s, WF_ELIMIT, "'%s' is larger than %zu bytes", f->name, max);
        if (keep != NULL)
            wf_buf_add(keep, s->chunk, (size_t)n);
        wf_sha256_update(&h, s->chunk, (size_t)n);
    }
    if (n < 0)
        return scan_fail(s, WF_EARCHIVE, "cannot read '%s': %s", f->name, archive_error_string(a));
    if (keep != NULL && keep->ptr == NULL)
        wf_buf_add(keep, "", 0);
    wf_sha256_final_hex(&h, hex);
    hex_to_b64url(hex, f->b64);
    return 0;
}

/* Handles one zip member: checks its name and type, then reads it if it is a file. */
static int scan_member(wheel_scan *s, struct archive *a, struct archive_entry *e)
{
    const char *name = archive_entry_pathname_utf8(e);
    if (name == NULL)
        name = archive_entry_pathname(e);
    if (name == NULL)
        return scan_fail(s, WF_EARCHIVE, "member %zu has a name that is not valid UTF-8",
                         s->n_files + 1);
    size_t len = strlen(name);
    mode_t type = archive_entry_filetype(e);
    int is_dir = type == AE_IFDIR;
    if (!name_is_safe(name, (is_dir && len > 1 && name[len - 1] == '/') ? len - 1 : len))
        return scan_fail(s, WF_EARCHIVE,
                         "member '%s' points outside the archive (absolute "
                         "path, '..', '.', '\\' or an empty component)",
                         name);
    if (type != AE_IFREG && !is_dir)
        return scan_fail(s, WF_EARCHIVE, "member '%s' is not a regular file or directory", name);
    int rc = note_dist_info(s, name);
    if (rc != 0 || is_dir)
        return rc;
    if (s->n_files == s->cap_files) {
        s->cap_files = s->cap_files ? 2 * s->cap_files : 64;
        s->files = wf_realloc(s->files, s->cap_files * sizeof(*s->files));
    }
    zfile *f = &s->files[s->n_files++];
    memset(f, 0, sizeof(*f));
    f->name = wf_strdup(name);
    size_t max = 0;
    wf_buf *keep = kept_buffer(s, name, &max);
    return read_member(s, a, f, keep, max);
}

static int cmp_zfile(const void *a, const void *b)
{
    return strcmp(((const zfile *)a)->name, ((const zfile *)b)->name);
}

/* Walks the zip's central directory once, filling *s. */
static int scan_zip(wheel_scan *s, const char *path)
{
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    int rc = 0, r;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = uv_translate_sys_error(errno);
        scan_fail(s, rc, "cannot open: %s", uv_strerror(rc));
        goto done;
    }
    if (a == NULL || archive_read_support_format_zip(a) != ARCHIVE_OK ||
        archive_read_open_fd(a, fd, 64 * 1024) != ARCHIVE_OK) {
        rc = scan_fail(s, WF_EARCHIVE, "not a readable zip file: %s",
                       a ? archive_error_string(a) : "out of memory");
        goto done;
    }
    size_t n_entries = 0;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
        if (++n_entries > WF_WHEEL_MAX_ENTRIES) {
            rc = scan_fail(s, WF_ELIMIT, "more than %d members", WF_WHEEL_MAX_ENTRIES);
            goto done;
        }
        if ((rc = scan_member(s, a, e)) != 0)
            goto done;
    }
    if (r != ARCHIVE_EOF) {
        rc = scan_fail(s, WF_EARCHIVE, "not a readable zip file: %s", archive_error_string(a));
        goto done;
    }
    qsort(s->files, s->n_files, sizeof(*s->files), cmp_zfile);
    for (size_t i = 1; i < s->n_files; i++) {
        if (strcmp(s->files[i - 1].name, s->files[i].name) == 0) {
            rc = scan_fail(s, WF_EARCHIVE, "member '%s' appears twice", s->files[i].name);
            goto done;
        }
    }
done:
    if (a != NULL)
        archive_read_free(a);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* One "Key: value" header of an email-style file (METADATA, WHEEL), continuation lines
 * skipped. Returns 1 with the key and trimmed value, 0 at the end of the header section. */
static int next_header(const char **pp, const char *end, const char **key, size_t *klen,
                       const char **val, size_t *vlen)
{
    const char *p = *pp;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;
        const char *next = eol ? eol + 1 : end;
        if (line_end > p && line_end[-1] == '\r')
            line_end--;
        if (line_end == p) /* the blank line that ends the headers */
            break;
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (*p == ' ' || *p == '\t' || colon == NULL) {
            p = next;
            continue;
        }
        const char *v = colon + 1;
        while (v < line_end && (*v == ' ' || *v == '\t'))
            v++;
        const char *ve = line_end;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        *key = p;
        *klen = (size_t)(colon - p);
        *val = v;
        *vlen = (size_t)(ve - v);
        *pp = next;
        return 1;
    }
    *pp = end;
    return 0;
}

static int key_is(const char *key, size_t klen, const char *want)
{
    return strlen(want) == klen && strncasecmp(key, want, klen) == 0;
}

/* The first value of header `want`, as a new string, or NULL. */
static char *header_value(const wf_buf *b, const char *want)
{
    const char *p = b->ptr, *end = b->ptr + b->len, *k, *v;
    size_t kl, vl;
    while (next_header(&p, end, &k, &kl, &v, &vl))
        if (key_is(k, kl, want))
            return wf_strndup(v, vl);
    return NULL;
}

/* Fills the METADATA and WHEEL parts of *out, checking the required fields. */
static int parse_dist_info(wheel_scan *s, wf_wheel_info *out)
{
    const char *di = s->dist_info;
    out->meta_name = header_value(&s->metadata, "Name");
    out->meta_version = header_value(&s->metadata, "Version");
    out->requires_python = header_value(&s->metadata, "Requires-Python");
    if (out->meta_name == NULL || out->meta_name[0] == '\0')
        return scan_fail(s, WF_EARCHIVE, "'%s/METADATA' has no 'Name:' field", di);
    if (out->meta_version == NULL || out->meta_version[0] == '\0')
        return scan_fail(s, WF_EARCHIVE, "'%s/METADATA' has no 'Version:' field", di);
    char *wv = header_value(&s->wheelmeta, "Wheel-Version");
    int ok = wv != NULL && (strcmp(wv, "1") == 0 || strncmp(wv, "1.", 2) == 0);
    int rc = ok ? 0
                : scan_fail(s, WF_EARCHIVE, "'%s/WHEEL' has Wheel-Version '%s'; expected 1.x", di,
                            wv ? wv : "(none)");
    free(wv);
    if (rc != 0)
        return rc;
    out->root_is_purelib = header_value(&s->wheelmeta, "Root-Is-Purelib");
    wf_buf tags = WF_BUF_INIT;
    const char *p = s->wheelmeta.ptr, *end = p + s->wheelmeta.len, *k, *v;
    size_t kl, vl;
    while (next_header(&p, end, &k, &kl, &v, &vl)) {
        if (!key_is(k, kl, "Tag"))
            continue;
        if (tags.len > 0)
            wf_buf_add(&tags, ",", 1);
        wf_buf_add(&tags, v, vl);
    }
    wf_buf_add(&tags, "", 0);
    out->wheel_tags = wf_buf_detach(&tags);
    return 0;
}

/* Parses one CSV field starting at *pp (RFC 4180 quoting, as Python's csv module writes).
 * Appends it to f; sets *eor when the field ended its row. Returns -1 on a broken quote. */
static int csv_field(const char **pp, const char *end, wf_buf *f, int *eor)
{
    const char *p = *pp;
    wf_buf_reset(f);
    wf_buf_add(f, "", 0);
    if (p < end && *p == '"') {
        for (p++;; p++) {
            if (p >= end)
                return -1;
            if (*p == '"' && p + 1 < end && p[1] == '"')
                wf_buf_add(f, p++, 1);
            else if (*p == '"')
                break;
            else
                wf_buf_add(f, p, 1);
        }
        p++;
    } else {
        const char *start = p;
        while (p < end && *p != ',' && *p != '\n' && *p != '\r')
            p++;
        wf_buf_add(f, start, (size_t)(p - start));
    }
    if (p < end && *p == ',') {
        *eor = 0;
        *pp = p + 1;
        return 0;
    }
    if (p < end && *p == '\r')
        p++;
    if (p < end && *p != '\n')
        return -1;
    *eor = 1;
    *pp = p < end ? p + 1 : end;
    return 0;
}

static zfile *find_file(wheel_scan *s, const char *name)
{
    zfile key = {.name = (char *)name};
    return bsearch(&key, s->files, s->n_files, sizeof(*s->files), cmp_zfile);
}

/* 1 if `name` is RECORD or one of its signatures, which RECORD need not hash. */
static int is_record_or_signature(wheel_scan *s, const char *name)
{
    size_t dl = strlen(s->dist_info);
    if (strncmp(name, s->dist_info, dl) != 0 || name[dl] != '/')
        return 0;
    const char *base = name + dl + 1;
    return strcmp(base, "RECORD") == 0 || strcmp(base, "RECORD.jws") == 0 ||
           strcmp(base, "RECORD.p7s") == 0;
}

/* Checks one RECORD row (path, hash, size) against the zip. */
static int check_record_row(wheel_scan *s, size_t line, wf_buf *field)
{
    const char *path = field[0].ptr, *hash = field[1].ptr, *size = field[2].ptr;
    if (!name_is_safe(path, field[0].len))
        return scan_fail(s, WF_EARCHIVE, "RECORD line %zu: '%s' points outside the archive", line,
                         path);
    zfile *f = find_file(s, path);
    if (f == NULL)
        return scan_fail(s, WF_EARCHIVE, "RECORD line %zu lists '%s', which is not in the wheel",
                         line, path);
    if (f->in_record++)
        return scan_fail(s, WF_EARCHIVE, "RECORD line %zu lists '%s' a second time", line, path);
    if (hash[0] == '\0' && is_record_or_signature(s, path))
        return 0;
    if (strncmp(hash, "sha256=", 7) != 0)
        return scan_fail(s, WF_EHASH,
                         "RECORD line %zu: '%s' has hash '%s'; expected "
                         "'sha256=<urlsafe base64>'",
                         line, path, hash);
    size_t hl = field[1].len;
    while (hl > 7 && hash[hl - 1] == '=') /* tolerate padding some tools leave in */
        hl--;
    if (hl - 7 != B64_DIGEST_LEN || memcmp(hash + 7, f->b64, B64_DIGEST_LEN) != 0)
        return scan_fail(s, WF_EHASH,
                         "'%s' does not match RECORD: RECORD says %s, the content "
                         "has sha256=%s",
                         path, hash, f->b64);
    int64_t want;
    if (size[0] != '\0' && wf_parse_i64(size, field[2].len, &want) != 0)
        return scan_fail(s, WF_EARCHIVE, "RECORD line %zu: '%s' has size '%s', not a number", line,
                         path, size);
    if (size[0] != '\0' && want != f->size)
        return scan_fail(s, WF_EHASH,
                         "'%s' does not match RECORD: RECORD says %lld bytes, the "
                         "content has %lld",
                         path, (long long)want, (long long)f->size);
    return 0;
}

/* Checks RECORD against the files of the zip, both ways. */
static int check_record(wheel_scan *s)
{
    const char *p = s->record.ptr, *end = p + s->record.len;
    wf_buf field[4] = {WF_BUF_INIT, WF_BUF_INIT, WF_BUF_INIT, WF_BUF_INIT};
    size_t line = 0;
    int rc = 0;
    while (p < end && rc == 0) {
        line++;
        if (*p == '\n' || *p == '\r') { /* blank line */
            p += (*p == '\r' && p + 1 < end && p[1] == '\n') ? 2 : 1;
            continue;
        }
        size_t n = 0;
        int eor = 0;
        while (!eor && rc == 0) {
            if (csv_field(&p, end, &field[n < 3 ? n : 3], &eor) != 0)
                rc = scan_fail(s, WF_EARCHIVE, "RECORD line %zu: broken CSV quoting", line);
            n++;
        }
        if (rc == 0 && n != 3)
            rc = scan_fail(s, WF_EARCHIVE,
                           "RECORD line %zu has %zu fields; expected 3 "
                           "(path,hash,size)",
                           line, n);
        if (rc == 0)
            rc = check_record_row(s, line, field);
    }
    for (size_t i = 0; i < s->n_files && rc == 0; i++) {
        zfile *f = &s->files[i];
        if (!f->in_record && !is_record_or_signature(s, f->name))
            rc =
                scan_fail(s, WF_EARCHIVE, "'%s' is in the wheel but not listed in RECORD", f->name);
    }
    for (size_t i = 0; i < WF_ARRAY_SIZE(field); i++)
        wf_buf_release(&field[i]);
    return rc;
}

static void scan_release(wheel_scan *s)
{
    for (size_t i = 0; i < s->n_files; i++)
        free(s->files[i].name);
    free(s->files);
    free(s->dist_info);
    wf_buf_release(&s->metadata);
    wf_buf_release(&s->wheelmeta);
    wf_buf_release(&s->record);
    free(s->chunk);
    free(s->err);
}

/* The dist-info checks: one directory, each required file exactly once. */
static int check_dist_info(wheel_scan *s)
{
    if (s->dist_info == NULL)
        return scan_fail(s, WF_EARCHIVE, "no '*.dist-info/' directory");
    if (s->has_metadata != 1)
        return scan_fail(s, WF_EARCHIVE, "no '%s/METADATA'", s->dist_info);
    if (s->has_wheel != 1)
        return scan_fail(s, WF_EARCHIVE, "no '%s/WHEEL'", s->dist_info);
    if (s->has_record != 1)
        return scan_fail(s, WF_EARCHIVE, "no '%s/RECORD'", s->dist_info);
    return 0;
}

int wf_wheel_inspect(const char *path, wf_wheel_info *out, char **errmsg)
{
    const char *slash = strrchr(path, '/');
    wheel_scan s = {.wheel = slash ? slash + 1 : path, .chunk = wf_malloc(SCAN_CHUNK)};
    wf_wheel_info info = {0};
    int rc = scan_zip(&s, path);
    if (rc == 0)
        rc = check_dist_info(&s);
    if (rc == 0)
        rc = check_record(&s);
    if (rc == 0)
        rc = parse_dist_info(&s, &info);
    if (rc != 0)
        goto done;
    info.dist_info = s.dist_info;
    s.dist_info = NULL;
    info.metadata_len = s.metadata.len;
    info.metadata = wf_buf_detach(&s.metadata);
    *out = info;
    memset(&info, 0, sizeof(info));
done:
    if (rc != 0 && errmsg != NULL) {
        *errmsg = s.err ? s.err : wf_asprintf("%s: %s", s.wheel, wf_strerror(rc));
        s.err = NULL;
    }
    wf_wheel_info_release(&info);
    scan_release(&s);
    return rc;
}

void wf_wheel_info_release(wf_wheel_info *w)
{
    if (w == NULL)
        return;
    free(w->dist_info);
    free(w->metadata);
    free(w->requires_python);
    free(w->meta_name);
    free(w->meta_version);
    free(w->wheel_tags);
    free(w->root_is_purelib);
    memset(w, 0, sizeof(*w));
}
