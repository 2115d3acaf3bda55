/* collector.c - checks a built wheel against its job and moves it into the artifact store. */
#include "daemon/collector.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "lib/fsutil.h"
#include "lib/hash.h"
#include "lib/pep440.h"
#include "lib/pep503.h"
#include "lib/wf.h"
#include "lib/wheelfile.h"
#include "lib/wheelname.h"

#define LIST_MAX 10 /* names shown when out_dir does not hold exactly one wheel */

/* The state of one collect, so that every step can fail into the same cleanup. */
typedef struct collect {
    const wf_collect_expect *e;
    const char *out_dir, *dest_dir;
    char *filename;
    wf_wheel_name wn;
    wf_wheel_info info;
    char *want_version; /* e->version, normalized */
    char *tmp_whl, *tmp_meta;
    char *final, *final_meta;
    char sha256[WF_SHA256_HEX_LEN + 1];
    char meta_sha256[WF_SHA256_HEX_LEN + 1];
    int64_t size;
    int placed_meta, placed_whl;
    char *err;
} collect;

static int fail(collect *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Keeps the first message (later ones are consequences) and returns code. */
static int fail(collect *c, int code, const char *fmt, ...)
{
    if (c->err == NULL) {
        va_list ap;
        va_start(ap, fmt);
        c->err = wf_vasprintf(fmt, ap);
        va_end(ap);
    }
    return code;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* Finds the one "*.whl" in out_dir; the error lists what is there instead. */
static int find_wheel(collect *c)
{
    wf_buf seen = WF_BUF_INIT;
    size_t n_seen = 0, n_whl = 0;
    int rc = 0;
    DIR *d = opendir(c->out_dir);
    if (d == NULL) {
        rc = uv_translate_sys_error(errno);
        fail(c, rc, "cannot open build output directory '%s': %s", c->out_dir, uv_strerror(rc));
        goto done;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n_seen++ < LIST_MAX)
            wf_buf_addf(&seen, "%s'%s'", seen.len ? ", " : "", de->d_name);
        if (!has_suffix(de->d_name, ".whl"))
            continue;
        if (n_whl++ == 0)
            c->filename = wf_strdup(de->d_name);
    }
    if (n_seen > LIST_MAX)
        wf_buf_addf(&seen, " and %zu more", n_seen - LIST_MAX);
    if (n_whl == 0)
        rc = fail(c, WF_ENOTFOUND,
                  "the build left no wheel in '%s' (found: %s); expected one "
                  "%s wheel",
                  c->out_dir, n_seen ? seen.ptr : "nothing", c->e->project);
    else if (n_whl > 1)
        rc = fail(c, WF_EINVAL,
                  "the build left %zu wheels in '%s' (found: %s); expected "
                  "exactly one",
                  n_whl, c->out_dir, seen.ptr);
done:
    if (d != NULL)
        closedir(d);
    wf_buf_release(&seen);
    return rc;
}

/* Splits "cp311" (with prefix "cp") into 3 and 11; "py3" gives minor -1. 0 if it is not one. */
static int parse_pytag(const char *tag, const char *prefix, int *major, int *minor)
{
    size_t pl = strlen(prefix);
    if (strncmp(tag, prefix, pl) != 0 || tag[pl] < '1' || tag[pl] > '9')
        return 0;
    int64_t v = -1;
    const char *rest = tag + pl + 1;
    if (*rest != '\0' && wf_parse_i64(rest, strlen(rest), &v) != 0)
        return 0;
    *major = tag[pl] - '0';
    *minor = (int)v;
    return 1;
}

static int has_abi(const wf_wheel_name *w, const char *abi)
{
    for (size_t i = 0; i < w->n_abi; i++)
        if (strcmp(w->abi[i], abi) == 0)
            return 1;
    return 0;
}

/* 1 if the wheel runs on the job's interpreter: its exact tag; an abi3 wheel for an older or
 * equal CPython 3; or, for a pure wheel, "py3" or "py3X" of the same minor. */
static int python_matches(const wf_wheel_name *w, const char *python, int pure)
{
    int major, minor, tmaj, tmin;
    if (wf_wheelname_has_python(w, python))
        return 1;
    if (!parse_pytag(python, "cp", &major, &minor))
        return 0;
    int abi3 = has_abi(w, "abi3");
    for (size_t i = 0; i < w->n_python; i++) {
        const char *t = w->python[i];
        if (abi3 && parse_pytag(t, "cp", &tmaj, &tmin) && tmaj == major && tmin <= minor)
            return 1;
        if (pure && parse_pytag(t, "py", &tmaj, &tmin) && tmaj == major &&
            (tmin == -1 || tmin == minor))
            return 1;
    }
    return 0;
}

/* Checks the platform tags; sets *pure for a "-any" wheel. */
static int check_platform(collect *c, int *pure)
{
    const wf_wheel_name *w = &c->wn;
    const char *want = wf_platform_to_arch(c->e->platform);
    *pure = w->n_platform == 1 && strcmp(w->platform[0], "any") == 0;
    if (*pure)
        return 0;
    if (want == NULL)
        return fail(c, WF_EINVAL,
                    "wheel '%s': the job's platform '%s' is not one wheelfarm "
                    "knows",
                    c->filename, c->e->platform);
    for (size_t i = 0; i < w->n_platform; i++) {
        size_t len = 0;
        const char *arch = wf_wheelname_platform_arch(w->platform[i], &len);
        if (arch == NULL || len != strlen(want) || memcmp(arch, want, len) != 0)
            return fail(c, WF_EINVAL,
                        "wheel '%s' has platform tag '%s', not one for %s; the "
                        "job builds for %s (a manylinux, musllinux or linux tag for %s, or 'any')",
                        c->filename, w->platform[i], want, c->e->platform, want);
    }
    return 0;
}

/* Checks what the file name says against the job. */
static int check_filename(collect *c)
{
    const wf_collect_expect *e = c->e;
    if (wf_wheelname_parse(&c->wn, c->filename, strlen(c->filename)) != 0)
        return fail(c, WF_EINVAL,
                    "'%s' is not a valid wheel file name (PEP 427: "
                    "name-version(-build)?-python-abi-platform.whl)",
                    c->filename);
    char *name = wf_pep503_normalize(c->wn.name, strlen(c->wn.name));
    int same = strcmp(name, e->project) == 0;
    free(name);
    if (!same)
        return fail(c, WF_EINVAL, "wheel '%s' is for project '%s', expected '%s'", c->filename,
                    c->wn.name, e->project);
    c->want_version = wf_pep440_normalize(e->version, strlen(e->version));
    if (c->want_version == NULL)
        return fail(c, WF_EINVAL, "the job's version '%s' is not a PEP 440 version", e->version);
    char *version = wf_pep440_normalize(c->wn.version, strlen(c->wn.version));
    same = version != NULL && strcmp(version, c->want_version) == 0;
    free(version);
    if (!same)
        return fail(c, WF_EINVAL, "wheel '%s' has version '%s', expected '%s'", c->filename,
                    c->wn.version, e->version);
    int pure, rc = check_platform(c, &pure);
    if (rc != 0)
        return rc;
    if (!python_matches(&c->wn, e->python, pure))
        return fail(c, WF_EINVAL,
                    "wheel '%s' is not for python '%s' (expected that tag, an "
                    "abi3 wheel for an older %s, or a pure py3 wheel)",
                    c->filename, e->python, e->python);
    return 0;
}

/* Checks METADATA of the inspected copy against the file name and the job. */
static int check_metadata(collect *c)
{
    char *name = wf_pep503_normalize(c->info.meta_name, strlen(c->info.meta_name));
    int same = strcmp(name, c->e->project) == 0;
    free(name);
    if (!same)
        return fail(c, WF_EINVAL,
                    "wheel '%s': METADATA says Name '%s', but the file name and "
                    "the job say '%s'",
                    c->filename, c->info.meta_name, c->e->project);
    char *v = wf_pep440_normalize(c->info.meta_version, strlen(c->info.meta_version));
    same = v != NULL && strcmp(v, c->want_version) == 0;
    free(v);
    if (!same)
        return fail(c, WF_EINVAL,
                    "wheel '%s': METADATA says Version '%s', but the file name "
                    "and the job say '%s'",
                    c->filename, c->info.meta_version, c->e->version);
    return 0;
}

/* Creates a temp file next to `final` ("<dir>/.<name>.tmp-XXXXXX"), mode 0644. */
static int open_temp(collect *c, const char *name, char **tmp_out, int *fd_out)
{
    char *tmp = wf_asprintf("%s/.%s.tmp-XXXXXX", c->dest_dir, name);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0 || fchmod(fd, 0644) != 0) {
        int rc = uv_translate_sys_error(errno);
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        free(tmp);
        return fail(c, rc, "cannot create a temporary file in '%s': %s", c->dest_dir,
                    uv_strerror(rc));
    }
    *tmp_out = tmp;
    *fd_out = fd;
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return uv_translate_sys_error(errno);
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Copies the wheel from out_dir into a temp file in dest_dir, hashing it on the way, and
 * fsyncs the copy. The copy is what gets checked and stored, so nothing can change between
 * the check and the store. */
static int copy_in(collect *c)
{
    enum { CHUNK = 256 * 1024 };
    char *src = wf_asprintf("%s/%s", c->out_dir, c->filename);
    char *buf = wf_malloc(CHUNK);
    int in = -1, out = -1, rc;
    wf_sha256 h;
    wf_sha256_init(&h);
    in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (in < 0) {
        rc = uv_translate_sys_error(errno);
        fail(c, rc, "cannot open '%s': %s", src, uv_strerror(rc));
        goto done;
    }
    if ((rc = open_temp(c, c->filename, &c->tmp_whl, &out)) != 0)
        goto done;
    ssize_t n;
    while ((n = read(in, buf, CHUNK)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        rc = n < 0 ? uv_translate_sys_error(errno) : write_all(out, buf, (size_t)n);
        if (rc != 0) {
            fail(c, rc, "cannot copy '%s' to '%s': %s", src, c->tmp_whl, uv_strerror(rc));
            goto done;
        }
        wf_sha256_update(&h, buf, (size_t)n);
        c->size += n;
    }
    if (fsync(out) != 0) {
        rc = uv_translate_sys_error(errno);
        fail(c, rc, "cannot fsync '%s': %s", c->tmp_whl, uv_strerror(rc));
        goto done;
    }
    wf_sha256_final_hex(&h, c->sha256);
done:
    if (in >= 0)
        close(in);
    if (out >= 0 && close(out) != 0 && rc == 0)
        rc = fail(c, uv_translate_sys_error(errno), "cannot write '%s'", c->tmp_whl);
    free(buf);
    free(src);
    return rc;
}

/* Writes METADATA into a temp file next to where "<wheel>.metadata" goes, fsync'ed. */
static int write_meta_temp(collect *c)
{
    char *name = wf_asprintf("%s.metadata", c->filename);
    int fd = -1;
    int rc = open_temp(c, name, &c->tmp_meta, &fd);
    if (rc == 0)
        rc = write_all(fd, c->info.metadata, c->info.metadata_len);
    if (rc == 0 && fsync(fd) != 0)
        rc = uv_translate_sys_error(errno);
    if (rc != 0 && fd >= 0)
        fail(c, rc, "cannot write '%s': %s", c->tmp_meta, uv_strerror(rc));
    if (fd >= 0)
        close(fd);
    free(name);
    return rc;
}

/* Moves tmp to final without ever replacing an existing final: renameat2(RENAME_NOREPLACE),
 * or link()+unlink() on file systems without it. Returns 0 or a UV_E* code (UV_EEXIST). */
static int place_noreplace(const char *tmp, const char *final)
{
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
        return uv_translate_sys_error(errno);
    if (link(tmp, final) != 0)
        return uv_translate_sys_error(errno);
    unlink(tmp);
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;
    if (fd < 0 || fsync(fd) != 0)
        rc = uv_translate_sys_error(errno);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Compares an existing file's sha256 with `want`: 1 same, 0 different or absent (*exists
 * says which), or a negative UV_E* code. `have` (may be NULL) receives the existing hash. */
static int same_file(const char *path, const char *want, int *exists,
                     char have[WF_SHA256_HEX_LEN + 1])
{
    char hex[WF_SHA256_HEX_LEN + 1] = "";
    int rc = wf_sha256_file(path, hex, NULL);
    if (have != NULL)
        memcpy(have, hex, sizeof(hex));
    *exists = rc != UV_ENOENT;
    if (rc == UV_ENOENT)
        return 0;
    return rc < 0 ? rc : strcmp(hex, want) == 0;
}

/* Puts "<wheel>.metadata" and then the wheel in place. A wheel already there with the same
 * bytes is success; with other bytes it is WF_EEXIST and nothing is touched. */
static int place(collect *c)
{
    int whl_exists, meta_exists;
    char have[WF_SHA256_HEX_LEN + 1];
    int same_whl = same_file(c->final, c->sha256, &whl_exists, have);
    if (same_whl < 0)
        return fail(c, same_whl, "cannot read '%s': %s", c->final, uv_strerror(same_whl));
    if (whl_exists && !same_whl)
        return fail(c, WF_EEXIST,
                    "the build is not reproducible: '%s' is already published with sha256 %s, "
                    "the new build has sha256 %s; a published file is never replaced (pip "
                    "caches and lock files pin its hash): bump the version or add a build tag",
                    c->final, have, c->sha256);
    int same_meta = same_file(c->final_meta, c->meta_sha256, &meta_exists, NULL);
    if (same_meta < 0)
        return fail(c, same_meta, "cannot read '%s': %s", c->final_meta, uv_strerror(same_meta));
    int rc = 0;
    if (meta_exists && !same_meta && whl_exists)
        return fail(c, WF_EEXIST,
                    "'%s' differs from the METADATA of the identical '%s' in the "
                    "store; remove it by hand to have it rewritten",
                    c->final_meta, c->final);
    if (meta_exists && !same_meta) {
        /* No wheel refers to it: an orphan of a collect interrupted between the two renames,
         * so replacing it overwrites nothing anybody was served with. */
        if (rename(c->tmp_meta, c->final_meta) != 0)
            rc = uv_translate_sys_error(errno);
        c->placed_meta = rc == 0;
    } else if (!meta_exists) {
        rc = place_noreplace(c->tmp_meta, c->final_meta);
        c->placed_meta = rc == 0;
    }
    if (rc != 0)
        return fail(c, rc, "cannot create '%s': %s", c->final_meta, uv_strerror(rc));
    if (!whl_exists && (rc = place_noreplace(c->tmp_whl, c->final)) != 0)
        return fail(c, rc == UV_EEXIST ? WF_EEXIST : rc, "cannot create '%s': %s", c->final,
                    uv_strerror(rc));
    c->placed_whl = !whl_exists;
    if ((rc = fsync_dir(c->dest_dir)) != 0)
        return fail(c, rc, "cannot fsync directory '%s': %s", c->dest_dir, uv_strerror(rc));
    return 0;
}

static char *join_platform_tags(const wf_wheel_name *w)
{
    wf_buf b = WF_BUF_INIT;
    for (size_t i = 0; i < w->n_platform; i++)
        wf_buf_addf(&b, "%s%s", i ? "." : "", w->platform[i]);
    return wf_buf_detach(&b);
}

/* Every step after the file name checks, in order. */
static int collect_steps(collect *c)
{
    int rc = wf_fs_mkdirs(c->dest_dir, 0755);
    if (rc != 0)
        return fail(c, rc, "cannot create store directory '%s': %s", c->dest_dir, uv_strerror(rc));
    if ((rc = copy_in(c)) != 0)
        return rc;
    char *msg = NULL;
    if ((rc = wf_wheel_inspect(c->tmp_whl, &c->info, &msg)) != 0) {
        /* The message names the temp copy; name the wheel as the build left it instead. */
        const char *colon = msg ? strstr(msg, ": ") : NULL;
        fail(c, rc, "wheel '%s' is broken: %s", c->filename, colon ? colon + 2 : wf_strerror(rc));
        free(msg);
        return rc;
    }
    if ((rc = check_metadata(c)) != 0)
        return rc;
    wf_sha256_hex(c->info.metadata, c->info.metadata_len, c->meta_sha256);
    if ((rc = write_meta_temp(c)) != 0)
        return rc;
    c->final = wf_asprintf("%s/%s", c->dest_dir, c->filename);
    c->final_meta = wf_asprintf("%s.metadata", c->final);
    return place(c);
}

static void collect_release(collect *c, int failed)
{
    if (failed && c->placed_whl)
        unlink(c->final);
    if (failed && c->placed_meta)
        unlink(c->final_meta);
    if (c->tmp_whl != NULL)
        unlink(c->tmp_whl);
    if (c->tmp_meta != NULL)
        unlink(c->tmp_meta);
    free(c->tmp_whl);
    free(c->tmp_meta);
    free(c->final);
    free(c->final_meta);
    free(c->filename);
    free(c->want_version);
    wf_wheelname_release(&c->wn);
    wf_wheel_info_release(&c->info);
    free(c->err);
}

int wf_collect_wheel(const char *out_dir, const wf_collect_expect *e, const char *dest_dir,
                     wf_collected *out, char **errmsg)
{
    collect c = {.e = e, .out_dir = out_dir, .dest_dir = dest_dir};
    int rc = find_wheel(&c);
    if (rc == 0)
        rc = check_filename(&c);
    if (rc == 0)
        rc = collect_steps(&c);
    if (rc != 0)
        goto done;
    wf_collected r = {
        .filename = c.filename,
        .path = c.final,
        .sha256 = wf_strdup(c.sha256),
        .requires_python = c.info.requires_python,
        .metadata_sha256 = wf_strdup(c.meta_sha256),
        .platform_tag = join_platform_tags(&c.wn),
        .size = c.size,
        .placed = c.placed_whl,
    };
    c.filename = c.final = c.info.requires_python = NULL;
    *out = r;
done:
    if (rc != 0 && errmsg != NULL) {
        *errmsg = c.err ? c.err : wf_strdup(wf_strerror(rc));
        c.err = NULL;
    }
    collect_release(&c, rc != 0);
    return rc;
}

void wf_collected_release(wf_collected *c)
{
    if (c == NULL)
        return;
    free(c->filename);
    free(c->path);
    free(c->sha256);
    free(c->requires_python);
    free(c->metadata_sha256);
    free(c->platform_tag);
    memset(c, 0, sizeof(*c));
}
