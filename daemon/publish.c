/* publish.c - regenerates the built-in index's pages, per channel, from the artifact table.
 *
 * The main channel's pages list main's artifacts. A pull request channel (pr/<N>) is the main
 * index overlaid with the pull request: its projects are main's plus the ones the pull request
 * changes; a changed project's page lists only the channel's own wheels (built from the pull
 * request's recipe, or main's wheels of an identical build key, linked), every other project's
 * page lists main's wheels. So `pip install --index-url .../pr/N/simple/ X Y` tests the pull
 * request's X together with main's Y. Links are relative and point at the file where it lives:
 * a channel's own wheels under pr/<N>/files/, main's under files/.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/index.h"
#include "daemon/internal.h"
#include "lib/channel.h"
#include "lib/fsutil.h"
#include "lib/indexpage.h"
#include "lib/log.h"

/* A NULL-terminated list of the projects a pull request channel overrides: those its head
 * changes (the pull request's record) and those it has wheels of. Main: none. */
static char **overridden_projects(wf_daemon *d, const char *channel)
{
    int64_t number = 0;
    wf_buf b = WF_BUF_INIT;
    wf_pr_row pr = {0};
    char **names = NULL;
    size_t n = 0;
    if (wf_channel_pr_number(channel, &number) != 0)
        return wf_calloc(1, sizeof(char *));
    if (wf_store_pr_get(d->store, number, &pr) == 0)
        wf_buf_adds(&b, pr.projects);
    if (wf_store_projects_in(d->store, channel, &names, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            wf_buf_addf(&b, " %s", names[i]);
            free(names[i]);
        }
        free(names);
    }
    wf_pr_row_release(&pr);
    /* Split on spaces; duplicates are harmless to the lookups below. */
    size_t cap = 8, count = 0;
    char **out = wf_calloc(cap, sizeof(char *));
    for (char *p = b.ptr; p != NULL && *p != '\0';) {
        size_t len = strcspn(p, " ");
        if (len > 0) {
            if (count + 1 == cap)
                out = wf_realloc(out, (cap *= 2) * sizeof(char *));
            out[count++] = wf_strndup(p, len);
            out[count] = NULL;
        }
        p += len + (p[len] == ' ');
    }
    wf_buf_release(&b);
    return out;
}

static int list_has(char *const *list, const char *s)
{
    for (; list != NULL && *list != NULL; list++)
        if (strcmp(*list, s) == 0)
            return 1;
    return 0;
}

static void list_free(char **list)
{
    for (char **p = list; p != NULL && *p != NULL; p++)
        free(*p);
    free(list);
}

/* The channel directory under the index root that holds a stored file: "pr/<N>" when the path
 * ends in /pr/<N>/files/<project>/<filename>, else the main channel "". Judged from the path's
 * tail, so it stays right when the state directory is moved. Caller frees. */
static char *file_home(const wf_artifact_row *a)
{
    char *tail = wf_asprintf("/files/%s/%s", a->project, a->filename);
    size_t pl = strlen(a->path), tl = strlen(tail);
    char *home = NULL;
    if (pl > tl && strcmp(a->path + pl - tl, tail) == 0) {
        /* Walk back over "/pr/<N>" before "/files/...". */
        const char *end = a->path + pl - tl;
        const char *p = end;
        while (p > a->path && p[-1] >= '0' && p[-1] <= '9')
            p--;
        if (p < end && p - a->path >= 4 && memcmp(p - 4, "/pr/", 4) == 0)
            home = wf_strndup(p - 3, (size_t)(end - (p - 3)));
    }
    free(tail);
    return home != NULL ? home : wf_strdup("");
}

/* The relative link from a project page of `channel` to the stored file of a: within the
 * channel ../../files/..., else up to the index root and into the file's channel. */
static char *file_link(const char *channel, const wf_artifact_row *a)
{
    wf_buf b = WF_BUF_INIT;
    char *home = file_home(a);
    int same = strcmp(home, channel != NULL ? channel : "") == 0;
    for (int i = same ? 2 : wf_channel_page_depth(channel); i > 0; i--)
        wf_buf_adds(&b, "../");
    if (!same && home[0] != '\0')
        wf_buf_addf(&b, "%s/", home);
    wf_buf_addf(&b, "files/%s/%s", a->project, a->filename);
    free(home);
    return wf_buf_detach(&b);
}

/* The rows a channel's page of `project` lists (see the file comment). */
static int page_rows(wf_daemon *d, const char *channel, char *const *overridden,
                     const char *project, wf_artifact_row **rows, size_t *n)
{
    if (!wf_channel_is_main(channel) && list_has(overridden, project))
        return wf_store_artifacts_for_project_in(d->store, channel, project, rows, n);
    return wf_store_artifacts_for_project(d->store, project, rows, n);
}

static int write_project(wf_daemon *d, const char *channel, char *const *overridden,
                         const char *project)
{
    wf_artifact_row *rows = NULL;
    size_t n = 0;
    int rc = page_rows(d, channel, overridden, project, &rows, &n);
    if (rc != 0)
        return rc;
    wf_index_file *files = wf_calloc(n ? n : 1, sizeof(*files));
    char **urls = wf_calloc(n ? n : 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        urls[i] = file_link(channel, &rows[i]);
        files[i].filename = rows[i].filename;
        files[i].url = urls[i];
        files[i].sha256 = rows[i].sha256;
        files[i].requires_python = rows[i].requires_python;
        files[i].metadata_sha256 = rows[i].metadata_sha256;
    }
    char *root = wf_channel_root(d->index_root, channel);
    rc = wf_index_write_project(root, project, files, n);
    free(root);
    for (size_t i = 0; i < n; i++)
        free(urls[i]);
    free(urls);
    free(files);
    wf_artifact_rows_free(rows, n);
    return rc;
}

/* The channel's projects: main's, plus the overridden ones for a pull request. A NULL-terminated
 * list; free with list_free. */
static int channel_projects(wf_daemon *d, const char *channel, char *const *overridden, char ***out)
{
    char **names = NULL;
    size_t n = 0;
    int rc = wf_store_projects(d->store, &names, &n);
    if (rc != 0)
        return rc;
    size_t extra = 0;
    for (char *const *p = overridden; p != NULL && *p != NULL; p++)
        extra++;
    char **all = wf_calloc(n + extra + 1, sizeof(char *));
    if (n > 0)
        memcpy(all, names, n * sizeof(char *));
    free(names);
    for (size_t i = 0; !wf_channel_is_main(channel) && i < extra; i++)
        if (!list_has(all, overridden[i]))
            all[n++] = wf_strdup(overridden[i]);
    *out = all;
    return 0;
}

static int write_root(wf_daemon *d, const char *channel, char *const *overridden)
{
    char **names = NULL;
    int rc = channel_projects(d, channel, overridden, &names);
    if (rc != 0)
        return rc;
    size_t n = 0;
    while (names[n] != NULL)
        n++;
    char *root = wf_channel_root(d->index_root, channel);
    rc = wf_index_write_root(root, (const char *const *)names, n);
    free(root);
    list_free(names);
    return rc;
}

static int publish_in(wf_daemon *d, const char *channel, const char *project)
{
    char **overridden = overridden_projects(d, channel);
    int rc = write_project(d, channel, overridden, project);
    if (rc == 0)
        rc = write_root(d, channel, overridden);
    if (rc != 0)
        wf_log_error("index: cannot write the pages of '%s' in channel '%s': %s", project,
                     wf_channel_is_main(channel) ? "main" : channel, wf_strerror(rc));
    list_free(overridden);
    return rc;
}

int wf__publish_project_in(wf_daemon *d, const char *channel, const char *project)
{
    if (!wf_channel_is_main(channel))
        return publish_in(d, channel, project);
    int rc = publish_in(d, "", project);
    /* Open pull request channels show main's wheels of the projects they do not change. */
    wf_pr_row *prs = NULL;
    size_t n = 0;
    if (rc != 0 || wf_store_prs_list(d->store, "open", &prs, &n) != 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        char *ch = wf_channel_pr(prs[i].number);
        char **overridden = overridden_projects(d, ch);
        if (!list_has(overridden, project))
            publish_in(d, ch, project);
        list_free(overridden);
        free(ch);
    }
    wf_pr_rows_free(prs, n);
    return rc;
}

int wf__publish_project(wf_daemon *d, const char *project)
{
    return wf__publish_project_in(d, "", project);
}

int wf__publish_channel(wf_daemon *d, const char *channel)
{
    char **overridden = overridden_projects(d, channel);
    char **names = NULL;
    int rc = channel_projects(d, channel, overridden, &names);
    for (size_t i = 0; rc == 0 && names[i] != NULL; i++)
        rc = write_project(d, channel, overridden, names[i]);
    if (rc == 0)
        rc = write_root(d, channel, overridden);
    if (rc != 0)
        wf_log_error("index: cannot write the pages of channel '%s': %s",
                     wf_channel_is_main(channel) ? "main" : channel, wf_strerror(rc));
    list_free(names);
    list_free(overridden);
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

/* Removes files no artifact row of the channel owns from one project directory: a wheel placed
 * by a collect whose row was never committed (a crash between the two) must not be served, and
 * must not block the rebuild that comes next. */
static void sweep_project(wf_daemon *d, const char *channel, const char *dir, const char *project)
{
    wf_artifact_row *rows = NULL;
    size_t n = 0;
    if (wf_store_artifacts_for_project_in(d->store, channel, project, &rows, &n) != 0)
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

static void sweep_channel(wf_daemon *d, const char *channel)
{
    char *root = wf_channel_root(d->index_root, channel);
    char *files = wf_asprintf("%s/files", root);
    DIR *dh = opendir(files);
    struct dirent *de;
    while (dh != NULL && (de = readdir(dh)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *dir = wf_asprintf("%s/%s", files, de->d_name);
        sweep_project(d, channel, dir, de->d_name);
        free(dir);
    }
    if (dh != NULL)
        closedir(dh);
    free(files);
    free(root);
}

/* A channel directory under pr/ whose pull request is not open is what a crash left between
 * closing the pull request and removing its pages: removed now. */
static void sweep_pr_dirs(wf_daemon *d)
{
    char *prs = wf_asprintf("%s/pr", d->index_root);
    DIR *dh = opendir(prs);
    struct dirent *de;
    while (dh != NULL && (de = readdir(dh)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *channel = wf_asprintf("pr/%s", de->d_name);
        int64_t number = 0;
        wf_pr_row pr = {0};
        int open = wf_channel_pr_number(channel, &number) == 0 &&
                   wf_store_pr_get(d->store, number, &pr) == 0 && strcmp(pr.state, "open") == 0;
        if (open) {
            sweep_channel(d, channel);
        } else {
            char *dir = wf_asprintf("%s/%s", prs, de->d_name);
            if (wf_fs_remove_tree(dir) == 0)
                wf_log_warn("index: removed '%s', the channel of a pull request that is not open",
                            dir);
            free(dir);
        }
        wf_pr_row_release(&pr);
        free(channel);
    }
    if (dh != NULL)
        closedir(dh);
    free(prs);
}

int wf__publish_all(wf_daemon *d)
{
    sweep_channel(d, "");
    sweep_pr_dirs(d);
    int rc = wf__publish_channel(d, "");
    wf_pr_row *prs = NULL;
    size_t n = 0;
    if (rc == 0 && (rc = wf_store_prs_list(d->store, "open", &prs, &n)) == 0) {
        for (size_t i = 0; i < n && rc == 0; i++) {
            char *ch = wf_channel_pr(prs[i].number);
            rc = wf__publish_channel(d, ch);
            free(ch);
        }
        wf_pr_rows_free(prs, n);
    }
    return rc;
}

int wf__channel_remove(wf_daemon *d, const char *channel)
{
    if (wf_channel_is_main(channel))
        return WF_EINVAL;
    char *root = wf_channel_root(d->index_root, channel);
    int rc = wf_fs_remove_tree(root);
    if (rc != 0)
        wf_log_error("index: cannot remove channel directory '%s': %s", root, wf_strerror(rc));
    free(root);
    return rc;
}
