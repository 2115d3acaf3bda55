/* token.c - loads or creates the API bearer token (libsodium for randomness and wiping). */
#include "daemon/token.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/fsutil.h"
#include "lib/wf.h"

int wf_token_load(const char *path, char **out, char **errmsg)
{
    char *data = NULL;
    size_t len = 0;
    int rc = wf_fs_read_file(path, 4096, &data, &len);
    if (rc == 0) {
        size_t read_len = len;
        while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' '))
            data[--len] = '\0';
        if (len < 16) {
            *errmsg = wf_asprintf("API token file %s holds %zu characters; it needs at least 16 "
                                  "(delete it to have a new one generated)",
                                  path, len);
            sodium_memzero(data, read_len);
            free(data);
            return WF_ECONFIG;
        }
        *out = data;
        return 0;
    }
    if (rc != -ENOENT) {
        *errmsg = wf_asprintf("cannot read API token file %s: %s", path, wf_strerror(rc));
        return rc;
    }
    unsigned char raw[32];
    char hex[65];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
    sodium_memzero(raw, sizeof(raw));
    char line[66];
    memcpy(line, hex, 64);
    line[64] = '\n';
    line[65] = '\0';
    rc = wf_fs_write_atomic(path, line, 65, 0600);
    sodium_memzero(line, sizeof(line));
    if (rc != 0) {
        sodium_memzero(hex, sizeof(hex));
        *errmsg = wf_asprintf("cannot create API token file %s: %s", path, wf_strerror(rc));
        return rc;
    }
    *out = wf_strdup(hex);
    sodium_memzero(hex, sizeof(hex));
    return 0;
}

void wf_token_free(char *token)
{
    if (token == NULL)
        return;
    sodium_memzero(token, strlen(token));
    free(token);
}
