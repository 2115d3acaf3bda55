/* context.c - renders a job's Docker build context directory (Dockerfile, scripts, sources). */
#include "workers/context.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "lib/wf.h"

/* A source tree deeper than this is refused rather than recursed into without bound. */
#define CONTEXT_TREE_DEPTH_MAX 64

static int fail(char **errmsg, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Sets *errmsg (first failure wins) and returns err, so callers can `return fail(...)`. */
static int fail(char **errmsg, int err, const char *fmt, ...)
{
    va_list ap;

    if (errmsg != NULL && *errmsg == NULL) {
        va_start(ap, fmt);
        *errmsg = wf_vasprintf(fmt, ap);
        va_end(ap);
    }
    return err;
}

static int sys_err(void)
{
    return uv_translate_sys_error(errno);
}

static bool is_name_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

/* A file or dependency name that is safe as a single path component in the context. */
static bool is_safe_name(const char *s, bool allow_plus)
{
    if (s == NULL || s[0] == '\0' || s[0] == '.')
        return false;
    for (; *s != '\0'; s++) {
        if (!is_name_char(*s) && !(allow_plus && *s == '+'))
            return false;
    }
    return true;
}

static bool is_image_ref(const char *s)
{
    if (s == NULL || s[0] == '\0' || s[0] == '-')
        return false;
    for (; *s != '\0'; s++) {
        if (!is_name_char(*s) && *s != ':' && *s != '/' && *s != '@')
            return false;
    }
    return true;
}

static bool is_env_key(const char *s)
{
    if (s == NULL || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (s++; *s != '\0'; s++) {
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    }
    return true;
}

/* "cp311" -> "cp311-cp311", "cp313t" -> "cp313-cp313t" (the manylinux /opt/python layout). */
static char *python_dir_name(const char *tag)
{
    size_t n = tag != NULL ? strlen(tag) : 0, i;
    bool threaded;

    if (n < 4 || n > 8 || strncmp(tag, "cp3", 3) != 0)
        return NULL;
    threaded = tag[n - 1] == 't';
    for (i = 3; i < n - (threaded ? 1 : 0); i++) {
        if (tag[i] < '0' || tag[i] > '9')
            return NULL;
    }
    if (i == 3)
        return NULL;
    return wf_asprintf("%.*s-%s", (int)(n - (threaded ? 1 : 0)), tag, tag);
}

static const char *or_empty(const char *s)
{
    return s != NULL ? s : "";
}

/* Appends s as one shell word in single quotes. */
static void add_single_quoted(wf_buf *b, const char *s)
{
    wf_buf_adds(b, "'");
    for (; *s != '\0'; s++) {
        if (*s == '\'')
            wf_buf_adds(b, "'\\''");
        else
            wf_buf_add(b, s, 1);
    }
    wf_buf_adds(b, "'");
}

/* Appends s inside double quotes: $VAR and $(cmd) still expand, as in cibuildwheel's
 * environment option; backslashes and double quotes are literal. */
static void add_double_quoted(wf_buf *b, const char *s)
{
    wf_buf_adds(b, "\"");
    for (; *s != '\0'; s++) {
        if (*s == '"' || *s == '\\')
            wf_buf_adds(b, "\\");
        wf_buf_add(b, s, 1);
    }
    wf_buf_adds(b, "\"");
}

static int write_file(const char *path, const char *data, size_t len, int mode, char **errmsg)
{
    int fd, err = 0;
    size_t off = 0;
    ssize_t n;

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return fail(errmsg, sys_err(), "cannot create '%s': %s", path, strerror(errno));
    while (off < len) {
        n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = fail(errmsg, sys_err(), "cannot write '%s': %s", path, strerror(errno));
            goto out;
        }
        off += (size_t)n;
    }
    /* A fixed mode regardless of umask: BuildKit's COPY cache key includes it. */
    if (fchmod(fd, (mode_t)mode) != 0)
        err = fail(errmsg, sys_err(), "cannot chmod '%s': %s", path, strerror(errno));
out:
    if (close(fd) != 0 && err == 0)
        err = fail(errmsg, sys_err(), "cannot write '%s': %s", path, strerror(errno));
    return err;
}

static int write_text(const char *dir, const char *name, const char *text, char **errmsg)
{
    char *path = wf_asprintf("%s/%s", dir, name);
    int err = write_file(path, text, strlen(text), 0644, errmsg);

    free(path);
    return err;
}

static int copy_file(const char *src, const char *dst, int mode, char **errmsg)
{
    char buf[65536];
    int in, out = -1, err = 0;
    ssize_t n, w;

    in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return fail(errmsg, sys_err(), "cannot open '%s': %s", src, strerror(errno));
    out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
        err = fail(errmsg, sys_err(), "cannot create '%s': %s", dst, strerror(errno));
        goto done;
    }
    for (;;) {
        n = read(in, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = fail(errmsg, sys_err(), "cannot read '%s': %s", src, strerror(errno));
            goto done;
        }
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n; off += w) {
            w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR) {
                w = 0;
                continue;
            }
            if (w < 0) {
                err = fail(errmsg, sys_err(), "cannot write '%s': %s", dst, strerror(errno));
                goto done;
            }
        }
    }
    if (fchmod(out, (mode_t)mode) != 0)
        err = fail(errmsg, sys_err(), "cannot chmod '%s': %s", dst, strerror(errno));
done:
    if (out >= 0 && close(out) != 0 && err == 0)
        err = fail(errmsg, sys_err(), "cannot write '%s': %s", dst, strerror(errno));
    close(in);
    return err;
}

static int make_dir(const char *path, char **errmsg)
{
    if (mkdir(path, 0755) != 0)
        return fail(errmsg, sys_err(), "cannot create directory '%s': %s", path, strerror(errno));
    if (chmod(path, 0755) != 0)
        return fail(errmsg, sys_err(), "cannot chmod '%s': %s", path, strerror(errno));
    return 0;
}

static int copy_entry(const char *src, const char *dst, int depth, char **errmsg);

/* Copies a source tree; .git is skipped, symlinks are copied as links, special files dropped. */
static int copy_tree(const char *src, const char *dst, int depth, char **errmsg)
{
    DIR *d;
    struct dirent *e;
    int err;

    if (depth > CONTEXT_TREE_DEPTH_MAX)
        return fail(errmsg, WF_ELIMIT, "source tree '%s' is nested deeper than %d directories", src,
                    CONTEXT_TREE_DEPTH_MAX);
    err = make_dir(dst, errmsg);
    if (err != 0)
        return err;
    d = opendir(src);
    if (d == NULL)
        return fail(errmsg, sys_err(), "cannot read directory '%s': %s", src, strerror(errno));
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            strcmp(e->d_name, ".git") == 0)
            continue;
        char *s = wf_asprintf("%s/%s", src, e->d_name);
        char *t = wf_asprintf("%s/%s", dst, e->d_name);
        err = copy_entry(s, t, depth, errmsg);
        free(s);
        free(t);
        if (err != 0)
            break;
    }
    closedir(d);
    return err;
}

static int copy_entry(const char *src, const char *dst, int depth, char **errmsg)
{
    struct stat st;
    char target[4096];
    ssize_t n;

    if (lstat(src, &st) != 0)
        return fail(errmsg, sys_err(), "cannot stat '%s': %s", src, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return copy_tree(src, dst, depth + 1, errmsg);
    if (S_ISREG(st.st_mode))
        return copy_file(src, dst, (st.st_mode & 0111) ? 0755 : 0644, errmsg);
    if (S_ISLNK(st.st_mode)) {
        n = readlink(src, target, sizeof(target) - 1);
        if (n < 0)
            return fail(errmsg, sys_err(), "cannot read link '%s': %s", src, strerror(errno));
        target[n] = '\0';
        if (symlink(target, dst) != 0)
            return fail(errmsg, sys_err(), "cannot create link '%s': %s", dst, strerror(errno));
    }
    return 0;
}

/* Creates dir (and its parents), or accepts an existing empty directory. */
static int prepare_dir(const char *dir, char **errmsg)
{
    char *p = wf_strdup(dir), *s;
    DIR *d;
    struct dirent *e;
    int err = 0;

    for (s = p + 1; *s != '\0'; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            err = fail(errmsg, sys_err(), "cannot create directory '%s': %s", p, strerror(errno));
            goto out;
        }
        *s = '/';
    }
    if (mkdir(dir, 0755) == 0)
        goto out;
    if (errno != EEXIST) {
        err = fail(errmsg, sys_err(), "cannot create directory '%s': %s", dir, strerror(errno));
        goto out;
    }
    d = opendir(dir);
    if (d == NULL) {
        err = fail(errmsg, sys_err(), "cannot open '%s': %s", dir, strerror(errno));
        goto out;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            err =
                fail(errmsg, WF_EEXIST,
                     "build context directory '%s' is not empty (remove it or pick another)", dir);
            break;
        }
    }
    closedir(d);
out:
    free(p);
    return err;
}

/* The images a template line can name. */
typedef struct images {
    const char *image, *runtime;
} images;

/* Appends one template line with @IMAGE@, @RUNTIME@ and (inside the native block) @NATIVE@
 * replaced. Only @UPPER_CASE@ words are placeholders; any other '@' is copied as it is. */
static int render_line(wf_buf *out, const char *line, size_t len, const images *im,
                       const char *native, const char *tname, int lineno, char **errmsg)
{
    size_t i = 0, j;

    while (i < len) {
        if (line[i] != '@') {
            wf_buf_add(out, line + i, 1);
            i++;
            continue;
        }
        for (j = i + 1; j < len && ((line[j] >= 'A' && line[j] <= 'Z') || line[j] == '_'); j++)
            ;
        if (j == i + 1 || j >= len || line[j] != '@') {
            wf_buf_add(out, "@", 1);
            i++;
            continue;
        }
        size_t n = j - i - 1;
        if (n == 5 && memcmp(line + i + 1, "IMAGE", 5) == 0) {
            wf_buf_adds(out, im->image);
        } else if (n == 7 && memcmp(line + i + 1, "RUNTIME", 7) == 0) {
            wf_buf_adds(out, im->runtime);
        } else if (n == 6 && memcmp(line + i + 1, "NATIVE", 6) == 0 && native != NULL) {
            wf_buf_adds(out, native);
        } else if (n == 6 && memcmp(line + i + 1, "NATIVE", 6) == 0) {
            return fail(errmsg, WF_EINVAL, "%s:%d:%zu: @NATIVE@ outside the '#@native-begin' block",
                        tname, lineno, i + 1);
        } else {
            return fail(
                errmsg, WF_EINVAL,
                "%s:%d:%zu: unknown placeholder '@%.*s@' (known: @IMAGE@, @RUNTIME@, @NATIVE@)",
                tname, lineno, i + 1, (int)n, line + i + 1);
        }
        i = j + 1;
    }
    return 0;
}

/* True when [p, p+len) is `marker` with optional surrounding blanks. */
static bool is_marker(const char *p, size_t len, const char *marker)
{
    size_t m = strlen(marker);

    while (len > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        len--;
    }
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r'))
        len--;
    return len == m && memcmp(p, marker, m) == 0;
}

static bool is_template_comment(const char *p, size_t len)
{
    while (len > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        len--;
    }
    return len >= 2 && p[0] == '#' && p[1] == '#';
}

int wf_context_render_dockerfile(char **out, const char *template_name, const char *tmpl,
                                 size_t len, const char *image, const char *runtime,
                                 const wf_context_native *native, size_t n_native, char **errmsg)
{
    images im = {image, runtime != NULL && runtime[0] != '\0' ? runtime : image};
    wf_buf b = WF_BUF_INIT;
    const char *p = tmpl, *end = tmpl + len, *block = NULL, *nl;
    int lineno = 0, block_line = 0, err = 0;
    size_t k;

    while (p < end) {
        nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        lineno++;
        if (is_template_comment(p, n)) {
            /* "##" lines document the template itself and are not emitted. */
        } else if (is_marker(p, n, "#@native-begin")) {
            if (block != NULL) {
                err = fail(errmsg, WF_EINVAL,
                           "%s:%d:1: '#@native-begin' inside the block opened on line %d",
                           template_name, lineno, block_line);
                goto out;
            }
            block = nl != NULL ? nl + 1 : end;
            block_line = lineno;
        } else if (is_marker(p, n, "#@native-end")) {
            if (block == NULL) {
                err = fail(errmsg, WF_EINVAL, "%s:%d:1: '#@native-end' without '#@native-begin'",
                           template_name, lineno);
                goto out;
            }
            /* Render the block once per dependency; lines are re-split for numbering. */
            for (k = 0; k < n_native; k++) {
                const char *q = block;
                int ln = block_line;
                while (q < p) {
                    const char *qn = memchr(q, '\n', (size_t)(p - q));
                    size_t qlen = qn != NULL ? (size_t)(qn - q) : (size_t)(p - q);
                    ln++;
                    if (is_template_comment(q, qlen)) {
                        q = qn != NULL ? qn + 1 : p;
                        continue;
                    }
                    err = render_line(&b, q, qlen, &im, native[k].name, template_name, ln, errmsg);
                    if (err != 0)
                        goto out;
                    wf_buf_adds(&b, "\n");
                    q = qn != NULL ? qn + 1 : p;
                }
            }
            block = NULL;
        } else if (block == NULL) {
            err = render_line(&b, p, n, &im, NULL, template_name, lineno, errmsg);
            if (err != 0)
                goto out;
            if (nl != NULL)
                wf_buf_adds(&b, "\n");
        }
        p = nl != NULL ? nl + 1 : end;
    }
    if (block != NULL) {
        err = fail(errmsg, WF_EINVAL, "%s:%d:1: '#@native-begin' is never closed by '#@native-end'",
                   template_name, block_line);
        goto out;
    }
    *out = wf_buf_detach(&b);
out:
    wf_buf_release(&b);
    return err;
}

static int check_options(const wf_context_options *o, char **errmsg)
{
    size_t i, j;

    if (o->dir == NULL || o->dir[0] == '\0' || o->template_path == NULL || o->source_path == NULL)
        return fail(errmsg, WF_EINVAL,
                    "build context: dir, template_path and source_path are required");
    if (!is_image_ref(o->image))
        return fail(errmsg, WF_EINVAL,
                    "builder image '%s' is not a valid image reference (letters, digits, ._-:/@)",
                    or_empty(o->image));
    if (o->runtime_image != NULL && o->runtime_image[0] != '\0' && !is_image_ref(o->runtime_image))
        return fail(errmsg, WF_EINVAL,
                    "runtime image '%s' is not a valid image reference (letters, digits, ._-:/@)",
                    o->runtime_image);
    for (i = 0; i < o->n_native; i++) {
        if (!is_safe_name(o->native[i].name, false))
            return fail(errmsg, WF_EINVAL,
                        "native dependency name '%s' must match [A-Za-z0-9._-]+ and not start "
                        "with '.'",
                        or_empty(o->native[i].name));
        if (o->native[i].archive_path == NULL)
            return fail(errmsg, WF_EINVAL, "native dependency '%s' has no archive",
                        o->native[i].name);
        for (j = 0; j < i; j++) {
            if (strcmp(o->native[i].name, o->native[j].name) == 0)
                return fail(errmsg, WF_EINVAL, "native dependency '%s' is listed twice",
                            o->native[i].name);
        }
    }
    for (i = 0; i < o->n_environment; i++) {
        if (!is_env_key(o->environment[i].key) || o->environment[i].value == NULL)
            return fail(
                errmsg, WF_EINVAL,
                "environment key '%s' is not a shell variable name ([A-Za-z_][A-Za-z0-9_]*)",
                or_empty(o->environment[i].key));
    }
    return 0;
}

static int write_dockerfile(const wf_context_options *o, char **errmsg)
{
    char *tmpl = NULL, *df = NULL;
    struct stat st;
    size_t len = 0;
    ssize_t n;
    int fd = -1, err;

    fd = open(o->template_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        err = fail(errmsg, sys_err(), "cannot read job template '%s': %s", o->template_path,
                   strerror(errno));
        goto out;
    }
    if ((size_t)st.st_size > WF_CONTEXT_TEMPLATE_MAX) {
        err = fail(errmsg, WF_ELIMIT, "job template '%s' is larger than %u bytes", o->template_path,
                   WF_CONTEXT_TEMPLATE_MAX);
        goto out;
    }
    tmpl = wf_malloc((size_t)st.st_size + 1);
    while (len < (size_t)st.st_size) {
        n = read(fd, tmpl + len, (size_t)st.st_size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err = fail(errmsg, n < 0 ? sys_err() : WF_EIO, "cannot read job template '%s'",
                       o->template_path);
            goto out;
        }
        len += (size_t)n;
    }
    err = wf_context_render_dockerfile(&df, o->template_path, tmpl, len, o->image, o->runtime_image,
                                       o->native, o->n_native, errmsg);
    if (err != 0)
        goto out;
    err = write_text(o->dir, "Dockerfile", df, errmsg);
out:
    if (fd >= 0)
        close(fd);
    free(tmpl);
    free(df);
    return err;
}

static int write_native(const wf_context_options *o, char **errmsg)
{
    char *dir = wf_asprintf("%s/native", o->dir), *path = NULL;
    int err;
    size_t i;

    err = make_dir(dir, errmsg);
    for (i = 0; err == 0 && i < o->n_native; i++) {
        const wf_context_native *nd = &o->native[i];
        path = wf_asprintf("%s/%s.archive", dir, nd->name);
        err = copy_file(nd->archive_path, path, 0644, errmsg);
        free(path);
        path = NULL;
        if (err != 0)
            break;
        char *name = wf_asprintf("%s.sh", nd->name);
        char *script = wf_asprintf("# build of native dependency '%s' (run with sh -e)\n%s\n",
                                   nd->name, or_empty(nd->build));
        err = write_text(dir, name, script, errmsg);
        free(name);
        free(script);
    }
    free(dir);
    return err;
}

/* Copies the sdist (file) or source tree (directory) under src/ and returns the path the
 * build sees in *in_image (heap). */
static int write_source(const wf_context_options *o, char **in_image, char **errmsg)
{
    char *dir = wf_asprintf("%s/src", o->dir), *dst = NULL;
    const char *base;
    struct stat st;
    int err;

    err = make_dir(dir, errmsg);
    if (err != 0)
        goto out;
    if (stat(o->source_path, &st) != 0) {
        err = fail(errmsg, sys_err(), "source of %s %s: cannot stat '%s': %s", or_empty(o->project),
                   or_empty(o->version), o->source_path, strerror(errno));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        dst = wf_asprintf("%s/tree", dir);
        err = copy_tree(o->source_path, dst, 0, errmsg);
        if (err == 0)
            *in_image = wf_strdup("/wf/src/tree");
        goto out;
    }
    base = strrchr(o->source_path, '/');
    base = base != NULL ? base + 1 : o->source_path;
    if (!S_ISREG(st.st_mode) || !is_safe_name(base, true)) {
        err = fail(errmsg, WF_EINVAL,
                   "source of %s %s: '%s' must be a directory or an sdist file whose name uses "
                   "only [A-Za-z0-9._+-]",
                   or_empty(o->project), or_empty(o->version), o->source_path);
        goto out;
    }
    dst = wf_asprintf("%s/%s", dir, base);
    err = copy_file(o->source_path, dst, 0644, errmsg);
    if (err == 0)
        *in_image = wf_asprintf("/wf/src/%s", base);
out:
    free(dir);
    free(dst);
    return err;
}

static char *job_script(const wf_context_options *o, const char *pydir, const char *source)
{
    wf_buf b = WF_BUF_INIT;
    bool index = o->upstream_index != NULL && o->upstream_index[0] != '\0';

    wf_buf_adds(&b, "# job settings, sourced by every build step (generated by wheelfarm)\n");
    wf_buf_adds(&b, "WF_PROJECT=");
    add_single_quoted(&b, or_empty(o->project));
    wf_buf_adds(&b, "\nWF_VERSION=");
    add_single_quoted(&b, or_empty(o->version));
    wf_buf_addf(&b, "\nWF_PYTHON_TAG=%s\n", o->python);
    wf_buf_addf(&b, "WF_PYTHON=/opt/python/%s/bin/python\n", pydir);
    wf_buf_addf(&b, "WF_SOURCE=%s\n", source);
    wf_buf_addf(&b, "WF_SRCDIR=%s\n", strcmp(source, "/wf/src/tree") == 0 ? source : "/wf/src");
    wf_buf_addf(&b, "PATH=/opt/python/%s/bin:$PATH\nexport PATH\n", pydir);
    if (index) {
        wf_buf_adds(&b, "# upstream index: isolated builds install their requirements from it\n");
        wf_buf_adds(&b, "PIP_INDEX_URL=");
        add_single_quoted(&b, o->upstream_index);
        wf_buf_adds(&b, "\nexport PIP_INDEX_URL\nWF_PIP_BUILD=\nWF_PIP_INSTALL=\n");
    } else {
        wf_buf_adds(&b, "# no upstream index: hermetic, build requirements come with the image\n");
        wf_buf_adds(&b, "PIP_NO_INDEX=1\nexport PIP_NO_INDEX\n");
        wf_buf_adds(&b,
                    "WF_PIP_BUILD=--no-build-isolation\nWF_PIP_INSTALL='--no-index --no-deps'\n");
    }
    wf_buf_adds(&b, ". /wf/env.sh\n");
    return wf_buf_detach(&b);
}

static char *env_script(const wf_context_options *o)
{
    wf_buf b = WF_BUF_INIT;
    size_t i;

    wf_buf_adds(&b, "# the recipe's environment (generated by wheelfarm)\n");
    for (i = 0; i < o->n_environment; i++) {
        wf_buf_addf(&b, "export %s=", o->environment[i].key);
        add_double_quoted(&b, o->environment[i].value);
        wf_buf_adds(&b, "\n");
    }
    return wf_buf_detach(&b);
}

/* The repair command with {wheel} -> "$1" and {dest_dir} -> "$2"; a plain copy when empty. */
static char *repair_script(const char *repair)
{
    wf_buf b = WF_BUF_INIT;
    const char *p = or_empty(repair);

    wf_buf_adds(&b, "# repair step: sh -e repair.sh WHEEL DEST_DIR (generated by wheelfarm)\n");
    if (*p == '\0') {
        wf_buf_adds(&b, "cp \"$1\" \"$2\"/\n");
        return wf_buf_detach(&b);
    }
    while (*p != '\0') {
        if (strncmp(p, "{wheel}", 7) == 0) {
            wf_buf_adds(&b, "\"$1\"");
            p += 7;
        } else if (strncmp(p, "{dest_dir}", 10) == 0) {
            wf_buf_adds(&b, "\"$2\"");
            p += 10;
        } else {
            wf_buf_add(&b, p++, 1);
        }
    }
    wf_buf_adds(&b, "\n");
    return wf_buf_detach(&b);
}

static int write_scripts(const wf_context_options *o, const char *pydir, const char *source,
                         char **errmsg)
{
    char *dir = wf_asprintf("%s/wf", o->dir), *s = NULL;
    int err;

    err = make_dir(dir, errmsg);
    if (err != 0)
        goto out;
    s = job_script(o, pydir, source);
    err = write_text(dir, "job.sh", s, errmsg);
    free(s);
    if (err != 0)
        goto out;
    s = env_script(o);
    err = write_text(dir, "env.sh", s, errmsg);
    free(s);
    if (err != 0)
        goto out;
    s = repair_script(o->repair);
    err = write_text(dir, "repair.sh", s, errmsg);
    free(s);
    if (err != 0)
        goto out;
    s = wf_asprintf("# before_build (generated by wheelfarm)\n%s\n", or_empty(o->before_build));
    err = write_text(dir, "before_build.sh", s, errmsg);
    free(s);
    if (err != 0)
        goto out;
    s = wf_asprintf("# test_command (generated by wheelfarm)\n%s\n", or_empty(o->test_command));
    err = write_text(dir, "test.sh", s, errmsg);
    free(s);
out:
    free(dir);
    return err;
}

int wf_context_render(const wf_context_options *o, char **errmsg)
{
    char *pydir = NULL, *source = NULL;
    int err;

    err = check_options(o, errmsg);
    if (err != 0)
        goto out;
    pydir = python_dir_name(o->python);
    if (pydir == NULL) {
        err = fail(errmsg, WF_EINVAL,
                   "python tag '%s' is not supported (use a CPython tag like cp311 or cp313t)",
                   or_empty(o->python));
        goto out;
    }
    err = prepare_dir(o->dir, errmsg);
    if (err != 0)
        goto out;
    err = write_dockerfile(o, errmsg);
    if (err != 0)
        goto out;
    err = write_native(o, errmsg);
    if (err != 0)
        goto out;
    err = write_source(o, &source, errmsg);
    if (err != 0)
        goto out;
    err = write_scripts(o, pydir, source, errmsg);
out:
    free(pydir);
    free(source);
    return err;
}
