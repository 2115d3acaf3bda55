/* api_sources.c - POST /api/v1/sources: seeds the source cache from files on the daemon's host. */
#include "daemon/api_sources.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon/api_json.h"
#include "lib/log.h"

static cJSON *item_error(const char *path, const char *error, const char *hint)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", path);
    cJSON_AddStringToObject(o, "error", error);
    cJSON_AddStringToObject(o, "hint", hint);
    return o;
}

/* Why a path cannot be read, as the hint of its error. */
static const char *errno_hint(int err)
{
    switch (err) {
    case UV_ENOENT: return "check the path: the daemon resolves it on its own host";
    case UV_EACCES: return "the daemon's user cannot read it: fix the file's permissions";
    default: return "check the file and the daemon's cache directory (disk space, permissions)";
    }
}

/* Copies one file into the cache; returns its answer object (never NULL). */
static cJSON *add_one(wf_daemon *d, const char *path)
{
    struct stat st;
    char hex[65];
    if (path[0] != '/' || strlen(path) >= PATH_MAX)
        return item_error(path, "not an absolute path",
                          "name files by absolute path (the CLI does this for you)");
    if (stat(path, &st) != 0) {
        int err = -errno;
        char *msg = wf_asprintf("cannot read '%s': %s", path, wf_strerror(err));
        cJSON *o = item_error(path, msg, errno_hint(err));
        free(msg);
        return o;
    }
    if (!S_ISREG(st.st_mode))
        return item_error(path, "not a regular file", "name source archives, not directories");
    if ((unsigned long long)st.st_size > WF_FETCH_MAX_FILE)
        return item_error(path, "file too large for the source cache",
                          "source archives are limited to 2 GiB");
    int rc = wf_fetcher_add_file(d->fetcher, path, hex);
    if (rc != 0) {
        char *msg = wf_asprintf("cannot store '%s' in the source cache: %s", path, wf_strerror(rc));
        cJSON *o = item_error(path, msg, errno_hint(rc));
        wf_log_error("sources: %s", msg);
        free(msg);
        return o;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", path);
    cJSON_AddStringToObject(o, "sha256", hex);
    cJSON_AddNumberToObject(o, "size", (double)st.st_size);
    wf_log_info("sources: stored '%s' as sha256 %s (%lld bytes)", path, hex, (long long)st.st_size);
    return o;
}

void wf__api_sources_add(wf_daemon *d, const wf_http_request *req, wf_http_response *res)
{
    if (!req->via_socket) {
        wf_api_reply_error(
            res, 403, "adding sources by path is refused over TCP",
            "the daemon reads no file a remote caller names: run `wheelfarm sources add` "
            "on the daemon's host, over its Unix socket (--socket or WHEELFARM_SOCKET)");
        return;
    }
    cJSON *body = req->body != NULL ? cJSON_ParseWithLength(req->body, req->body_len) : NULL;
    const cJSON *paths = cJSON_GetObjectItemCaseSensitive(body, "paths");
    const cJSON *p;
    int n = cJSON_GetArraySize(paths);
    if (!cJSON_IsArray(paths) || n == 0) {
        wf_api_reply_error(res, 400, "the body must be {\"paths\": [\"/absolute/file\", ...]}",
                           "name at least one file");
        goto out;
    }
    if (n > WF_API_SOURCES_MAX_PATHS) {
        wf_api_reply_error(res, 413, "too many paths in one request",
                           "send at most 64 per request");
        goto out;
    }
    cJSON_ArrayForEach(p, paths)
    {
        if (!cJSON_IsString(p) || p->valuestring[0] == '\0') {
            wf_api_reply_error(res, 400, "every entry of \"paths\" must be a non-empty string",
                               "name files by absolute path");
            goto out;
        }
    }
    cJSON *answer = cJSON_CreateObject();
    cJSON *items = cJSON_AddArrayToObject(answer, "sources");
    cJSON_ArrayForEach(p, paths)
    {
        cJSON_AddItemToArray(items, add_one(d, p->valuestring));
    }
    wf_api_reply(res, 200, answer);
out:
    cJSON_Delete(body);
}
