/* publish.c - regenerates the built-in index's pages from the artifact table. */
#include <stdlib.h>
#include <string.h>

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
    char **urls = wf_calloc(n ? n : 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        urls[i] = wf_asprintf("../../files/%s/%s", project, rows[i].filename);
        files[i].filename = rows[i].filename;
        files[i].url = urls[i];
        files[i].sha256 = rows[i].sha256;
        files[i].requires_python = rows[i].requires_python;
        files[i].metadata_sha256 = rows[i].metadata_sha256;
    }
    rc = wf_index_write_project(d->index_root, project, files, n);
    if (rc == 0)
        rc = publish_root(d);
    if (rc != 0)
        wf_log_error("index: cannot write the pages of '%s': %s", project, wf_strerror(rc));
    for (size_t i = 0; i < n; i++)
        free(urls[i]);
    free(urls);
    free(files);
    wf_artifact_rows_free(rows, n);
    return rc;
}

int wf__publish_all(wf_daemon *d)
{
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
