/* fsutil.c - mkdir -p, rm -rf, atomic writes and whole-file reads, and subpath checks. */
#include "lib/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "lib/wf.h"

/* mkdir that accepts an existing directory, and only a directory. */
static int mkdir_one(const char *p, int mode)
{
    if (mkdir(p, (mode_t)mode) == 0)
        return 0;
    if (errno != EEXIST)
        return uv_translate_sys_error(errno);
    struct stat st;
    if (stat(p, &st) != 0)
        return uv_translate_sys_error(errno);
    return S_ISDIR(st.st_mode) ? 0 : UV_ENOTDIR;
}

int wf_fs_mkdirs(const char *path, int mode)
{
    if (path[0] == '\0')
        return UV_EINVAL;
    char *p = wf_strdup(path);
    int rc = 0;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if ((rc = mkdir_one(p, mode)) != 0)
            goto done;
        *s = '/';
    }
    rc = mkdir_one(p, mode);
done:
    free(p);
    return rc;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int r = (flag == FTW_DP) ? rmdir(path) : unlink(path);
    return (r != 0 && errno != ENOENT) ? -1 : 0;
}

int wf_fs_remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : uv_translate_sys_error(errno);
    if (nftw(path, remove_entry, 32, FTW_DEPTH | FTW_PHYS) != 0)
        return uv_translate_sys_error(errno);
    return 0;
}

static int fsync_dir_of(const char *path)
{
    char *dir = wf_strdup(path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash != NULL)
        *slash = '\0';
    else {
        free(dir);
        dir = wf_strdup(".");
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;
    if (fd < 0 || fsync(fd) != 0)
        rc = uv_translate_sys_error(errno);
    if (fd >= 0)
        close(fd);
    free(dir);
    return rc;
}

int wf_fs_write_atomic(const char *path, const void *data, size_t len, int mode)
{
    char *tmp = wf_asprintf("%s.tmp.XXXXXX", path);
    int rc = 0;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        rc = uv_translate_sys_error(errno);
        goto done;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = uv_translate_sys_error(errno);
            goto done;
        }
        p += n;
        left -= (size_t)n;
    }
    if (fchmod(fd, (mode_t)mode) != 0 || fsync(fd) != 0) {
        rc = uv_translate_sys_error(errno);
        goto done;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = uv_translate_sys_error(errno);
        goto done;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        rc = uv_translate_sys_error(errno);
        goto done;
    }
    rc = fsync_dir_of(path);
done:
    if (fd >= 0)
        close(fd);
    if (rc != 0)
        unlink(tmp);
    free(tmp);
    return rc;
}

int wf_fs_read_file(const char *path, size_t max, char **out, size_t *len_out)
{
    int rc = 0;
    wf_buf b = WF_BUF_INIT;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return uv_translate_sys_error(errno);
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = uv_translate_sys_error(errno);
            goto done;
        }
        if (n == 0)
            break;
        if (b.len + (size_t)n > max) {
            rc = WF_ELIMIT;
            goto done;
        }
        wf_buf_add(&b, chunk, (size_t)n);
    }
    if (b.ptr == NULL)
        wf_buf_adds(&b, "");
    *len_out = b.len;
    *out = wf_buf_detach(&b);
done:
    close(fd);
    wf_buf_release(&b);
    return rc;
}

char *wf_fs_subpath_normalize(const char *p)
{
    wf_buf b = WF_BUF_INIT;
    if (p == NULL)
        return wf_strdup("");
    if (p[0] == '/')
        return NULL;
    while (*p != '\0') {
        size_t len = strcspn(p, "/");
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            wf_buf_release(&b);
            return NULL;
        }
        if (len > 0 && !(len == 1 && p[0] == '.')) {
            if (b.len > 0)
                wf_buf_adds(&b, "/");
            wf_buf_add(&b, p, len);
        }
        p += len;
        while (*p == '/')
            p++;
    }
    return wf_buf_detach(&b);
}
