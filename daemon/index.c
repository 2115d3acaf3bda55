/* index.c - writes the built-in index's pages to disk atomically and places its files. */
#include "daemon/index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/fsutil.h"
#include "lib/pep503.h"
#include "lib/wf.h"

static int project_ok(const char *project)
{
    size_t len = strlen(project);
    return wf_pep503_valid(project, len) && wf_pep503_is_normalized(project, len);
}

static int write_page(const char *dir, const char *html)
{
    int rc = wf_fs_mkdirs(dir, 0755);
    if (rc != 0)
        return rc;
    char *path = wf_asprintf("%s/index.html", dir);
    rc = wf_fs_write_atomic(path, html, strlen(html), 0644);
    free(path);
    return rc;
}

int wf_index_write_project(const char *index_root, const char *project, const wf_index_file *files,
                           size_t n)
{
    if (!project_ok(project))
        return WF_EINVAL;
    wf_index_file *linked = wf_calloc(n ? n : 1, sizeof(*linked));
    char **urls = wf_calloc(n ? n : 1, sizeof(*urls));
    for (size_t i = 0; i < n; i++) {
        linked[i] = files[i];
        if (linked[i].url == NULL) {
            urls[i] = wf_asprintf("../../files/%s/%s", project, files[i].filename);
            linked[i].url = urls[i];
        }
    }
    char *html = wf_indexpage_project(project, linked, n);
    char *dir = wf_asprintf("%s/simple/%s", index_root, project);
    int rc = write_page(dir, html);
    free(dir);
    free(html);
    for (size_t i = 0; i < n; i++)
        free(urls[i]);
    free(urls);
    free(linked);
    return rc;
}

int wf_index_write_root(const char *index_root, const char *const *projects, size_t n)
{
    char *html = wf_indexpage_root(projects, n);
    char *dir = wf_asprintf("%s/simple", index_root);
    int rc = write_page(dir, html);
    free(dir);
    free(html);
    return rc;
}

char *wf_index_file_path(const char *index_root, const char *project, const char *filename)
{
    if (!project_ok(project) || filename[0] == '\0' || filename[0] == '.' ||
        strchr(filename, '/') != NULL) {
        errno = EINVAL;
        return NULL;
    }
    char *dir = wf_asprintf("%s/files/%s", index_root, project);
    int rc = wf_fs_mkdirs(dir, 0755);
    char *path = rc == 0 ? wf_asprintf("%s/%s", dir, filename) : NULL;
    if (rc != 0)
        errno = -rc;
    free(dir);
    return path;
}
