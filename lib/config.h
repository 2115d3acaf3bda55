/* config.h - the daemon's configuration file (YAML), validated into a plain struct.
 *
 * Keys: state_dir, listen {socket, http}, recipes, upstream_index, api_token_file, docker,
 * log_level, shutdown_grace, images {platform: image | {image, runtime, python}}, workers [...].
 * Relative paths resolve against the config file's directory (the current directory for the
 * embedded defaults) and are stored absolute. Loading collects every problem as a
 * "file:line:column: message" diag (unknown keys get a "did you mean"), like the recipe loader.
 *
 * Defaults for absent keys: state_dir ./var, listen.socket <state_dir>/wheelfarm.sock,
 * listen.http 127.0.0.1:8780, recipes ./recipes, upstream_index "", api_token_file
 * <state_dir>/api-token, docker "", log_level info, shutdown_grace 30, images for linux/amd64 and
 * linux/arm64 (wheelfarm/builder:bookworm-<arch>, runtime wheelfarm/runtime:bookworm-<arch>;
 * [cp311, cp313] on amd64, [cp311] on arm64), one worker 'local' (docker,
 * unix:///var/run/docker.sock, [linux/amd64], 2 slots).
 *
 * Ownership: wf_config_free() frees the struct and every string and array in it. Read-only after
 * loading; pointers into it live as long as it.
 */
#ifndef WF_CONFIG_H
#define WF_CONFIG_H

#include <stddef.h>

#include "recipe.h"
#include "wf.h"

typedef struct wf_worker_config {
    char *name;     /* [a-z0-9-]+, unique */
    char *driver;   /* "docker" or "buildx" */
    char *endpoint; /* DOCKER_HOST value, or NULL for the client's default */
    char *builder;  /* buildx builder name (required for driver buildx), or NULL */
    char *
        *platforms; /* each one of WF_RECIPE_PLATFORM_LIST and has an image; default linux/amd64 */
    size_t n_platforms;
    unsigned slots; /* concurrent builds, 1..64; default 1 */
    int emulated;   /* 1 if it runs some platform under emulation (results are labelled) */
} wf_worker_config;

typedef struct wf_image_config {
    char *platform; /* "linux/amd64" or "linux/arm64" */
    char *image;    /* builder image reference */
    char *runtime;  /* image the recipe's test runs in (no compiler); NULL: the builder image */
    char **python;  /* interpreter tags the image provides; default {"cp311"} */
    size_t n_python;
} wf_image_config;

typedef struct wf_config {
    char *file;                /* path of the config file, or "<defaults>" */
    char *state_dir;           /* absolute */
    char *socket_path;         /* absolute */
    char *http_addr;           /* "host:port" (port may be 0), or "" when TCP is disabled */
    char *recipes;             /* absolute; a file or a directory */
    char *upstream_index;      /* http(s) URL of a PEP 503/691 index, or "" for none */
    char *api_token_file;      /* absolute */
    char *docker;              /* docker client binary, or "" to auto-detect */
    char *log_level;           /* "error", "warn", "info" or "debug" */
    unsigned shutdown_grace_s; /* 0..3600 */
    wf_image_config *images;
    size_t n_images;
    wf_worker_config *workers;
    size_t n_workers;
} wf_config;

/* The embedded default configuration (YAML), used when wheelfarmd runs without --config. */
extern const char wf_config_defaults[];

/* Reads and validates the config file at `path`; with path NULL, parses wf_config_defaults as
 * "<defaults>". On success returns 0 and sets *out (free with wf_config_free()). On any problem
 * returns WF_EINVAL, leaves *out untouched and appends every problem to diags (the caller
 * releases them with wf_diag_list_release()); an unreadable file is reported as a diag too. */
int wf_config_load(wf_config **out, const char *path, wf_diag_list *diags);

/* Same as wf_config_load() on a document held in memory; `file` names it in messages and is the
 * base of relative paths (the current directory when it has the form "<name>"). */
int wf_config_parse(wf_config **out, const char *file, const char *data, size_t len,
                    wf_diag_list *diags);

/* Frees the config. Accepts NULL. */
void wf_config_free(wf_config *c);

/* The image configured for `platform`, or NULL. Borrowed from c. */
const wf_image_config *wf_config_image(const wf_config *c, const char *platform);

/* The worker named `name`, or NULL. Borrowed from c. */
const wf_worker_config *wf_config_worker(const wf_config *c, const char *name);

#endif
