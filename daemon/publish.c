/* publish.c - regenerates the built-in index's pages from the artifact table. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/index.h"
#include "daemon/internal.h"
#include "lib/indexpage.h"
#include "lib/log.h"

static int publish_root(wf_daemon *d)
{
    char **names = NULL;
    size_t n = 0;
    int rc = wf_store_projects(d->store, &names, &n);
    if (rc != 0)
        return rc;
    rc = wf_index_write_root(d->index_root, (const char *const *)names, n);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

int wf__publish_project(wf_daemon *d, const char *project)
{
    wf_artifact_row *rows = NULL;
    size_t n = 0;
    int rc = wf_store_artifacts_for_project(d->store, project, &rows, &n);
    if (rc != 0)
        return rc;
    wf_index_file *files = wf_calloc(n ? n : 1, sizeof(*files));
    for (size_t i = 0; i < n; i++) {
        /* url NULL: index.c links ../../files/<project>/<filename>. */
        files[i].filename = rows[i].filename;
        files[i].sha256 = rows[i].sha256;
        files[i].requires_python = rows[i].requires_python;
        files[i].metadata_sha256 = rows[i].metadata_sha256;
    }
    rc = wf_index_write_project(d->index_root, project, files, n);
    if (rc == 0)
        rc = publish_root(d);
    if (rc != 0)
        wf_log_error("index: cannot write the pages of '%s': %s", project, wf_strerror(rc));
    free(files);
    wf_artifact_rows_free(rows, n);
    return rc;
}

/* 1 if `name` is a stored wheel of the project or its PEP 658 metadata file. */
static int owned(const wf_artifact_row *rows, size_t n, const char *name)
{
    size_t len = strlen(name);
    static const char meta[] = ".metadata";
    if (len > sizeof(meta) - 1 && strcmp(name + len - (sizeof(meta) - 1), meta) == 0)
        len -= sizeof(meta) - 1;
    for (size_t i = 0; i < n; i++)
        if (strlen(rows[i].filename) == len && memcmp(rows[i].filename, name, len) == 0)
            return 1;
    return 0;
}

/* Removes files no artifact row owns from one project directory: a wheel placed by a collect
 * whose row was never committed (a crash between the two) must not be served, and must not
 * block the rebuild that comes next. */
static void sweep_project(wf_daemon *d, const char *dir, const char *project)
{
    wf_artifact_row *rows = NULL;
    size_t n = 0;
    if (wf_store_artifacts_for_project(d->store, project, &rows, &n) != 0)
        return;
    DIR *dh = opendir(dir);
    struct dirent *de;
    while (dh != NULL && (de = readdir(dh)) != NULL) {
        if (de->d_name[0] == '.' || owned(rows, n, de->d_name))
            continue;
        char *path = wf_asprintf("%s/%s", dir, de->d_name);
        if (unlink(path) == 0)
            wf_log_warn("index: removed '%s', which no artifact record owns", path);
        free(path);
    }
    if (dh != NULL)
        closedir(dh);
    wf_artifact_rows_free(rows, n);
}

/* Runs at start, before anything is scheduled: the index then matches the database. */
static void sweep_orphans(wf_daemon *d)
{
    char *files = wf_asprintf("%s/files", d->index_root);
    DIR *dh = opendir(files);
    struct dirent *de;
    while (dh != NULL && (de = readdir(dh)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *dir = wf_asprintf("%s/%s", files, de->d_name);
        sweep_project(d, dir, de->d_name);
        free(dir);
    }
    if (dh != NULL)
        closedir(dh);
    free(files);
}

int wf__publish_all(wf_daemon *d)
{
    sweep_orphans(d);
    char **names = NULL;
    size_t n = 0;
    int rc = wf_store_projects(d->store, &names, &n);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = wf__publish_project(d, names[i]);
    if (rc == 0 && n == 0)
        rc = publish_root(d);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}
