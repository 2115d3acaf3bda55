/* config.h - the daemon's configuration file (YAML), validated into a plain struct.
 *
 * Keys: state_dir, listen {socket, http}, recipes (a path, or a mapping {git, branch, path, poll,
 * pull_requests} for a git repository), watch_debounce_ms, upstream_index, api_token_file,
 * docker, log_level, shutdown_grace, lease_seconds, idle_timeout, infra_retries, retry_backoff,
 * images {platform: image | {image, runtime, python}}, workers [{name, driver, endpoint | context,
 * builder, platforms, slots, emulated, labels, tls}], schedule {bump: CRON},
 * bump {max_builds}, webhooks {github: {secret_file}, gitea: {secret_file}, gitlab:
 * {token_file}, max_body}, forge {kind, api, repo, token_file, public_url}. Secret and token
 * files are read while loading (an unreadable or empty file is an error at its key); their
 * bytes, trailing whitespace removed, are kept in the struct and wiped by wf_config_free();
 * substitutes [{for, use, reason}].
 * Relative paths resolve against the config file's directory (the current
 * directory for the embedded defaults) and are stored absolute. Loading collects every problem
 * as a "file:line:column: message" diag (unknown keys get a "did you mean"), like the recipe
 * loader.
 * A worker whose endpoint is tcp:// must say how it is secured: `tls: {ca, cert, key}` (client
 * certificates, checked to be readable PEM files at load) or `tls: false` (unauthenticated,
 * accepted with a warning at start); leaving `tls` out is an error, because an engine reachable
 * over TCP without TLS gives root on its host to anyone who can reach the port.
 *
 * Defaults for absent keys: state_dir ./var, listen.socket <state_dir>/wheelfarm.sock,
 * listen.http 127.0.0.1:8780, recipes ./recipes, watch_debounce_ms 300, upstream_index "",
 * api_token_file <state_dir>/api-token, docker "", log_level info, shutdown_grace 30,
 * lease_seconds 60, idle_timeout 1200, infra_retries 3, retry_backoff 10, images for
 * linux/amd64 and linux/arm64 (wheelfarm/builder:bookworm-<arch>, runtime
 * wheelfarm/runtime:bookworm-<arch>; [cp311, cp313] on both), one worker
 * 'local' (docker, unix:///var/run/docker.sock, [linux/amd64], 2 slots), schedule.bump
 * "0 3 * * *" (UTC), bump.max_builds 10, no substitutes.
 *
 * Ownership: wf_config_free() frees the struct and every string and array in it. Read-only after
 * loading; pointers into it live as long as it.
 */
#ifndef WF_CONFIG_H
#define WF_CONFIG_H

#include <stddef.h>

#include "cron.h"
#include "recipe.h"
#include "wf.h"

/* Client TLS towards a worker's tcp:// engine (the worker's `tls:` key): mutual TLS as dockerd's
 * --tlsverify expects. Paths are absolute (written relative to the config file); either all three
 * are set or none. */
typedef struct wf_worker_tls {
    char *ca;   /* CA certificate (PEM) that signed the engine's server certificate */
    char *cert; /* client certificate (PEM) the engine accepts */
    char *key;  /* the client certificate's private key (PEM); keep it mode 0600 */
    int off;    /* 1: `tls: false` was written (a tcp:// engine used unauthenticated on purpose) */
} wf_worker_tls;

typedef struct wf_worker_config {
    char *name;     /* [a-z0-9-]+, unique */
    char *driver;   /* "docker" or "buildx" */
    char *endpoint; /* DOCKER_HOST value (unix://, tcp:// or ssh://), or NULL for the client's
                       default */
    char *context;  /* docker context name (driver docker, instead of endpoint), or NULL */
    char *builder;  /* buildx builder name (required for driver buildx), or NULL */
    char *
        *platforms; /* each one of WF_RECIPE_PLATFORM_LIST and has an image; default linux/amd64 */
    size_t n_platforms;
    unsigned slots; /* concurrent builds, 1..64; default 1 */
    int emulated;   /* 1 if it runs some platform under emulation (results are labelled) */
    char **labels;  /* "key=value" or "key", in file order (a mapping or a list in the file) */
    size_t n_labels;

    wf_worker_tls tls; /* remote engines: TLS material, or all NULL */
} wf_worker_config;

/* Frees the worker's strings and zeroes it; the struct itself is the caller's. NULL ok. */
void wf_worker_config_release(wf_worker_config *w);

typedef struct wf_image_config {
    char *platform; /* "linux/amd64" or "linux/arm64" */
    char *image;    /* builder image reference */
    char *runtime;  /* image the recipe's test runs in (no compiler); NULL: the builder image */
    char **python;  /* interpreter tags the image provides; default {"cp311"} */
    size_t n_python;
} wf_image_config;

/* `recipes: {git: URL, branch, path, poll, pull_requests}`: the recipes live in a git repository
 * that the daemon mirrors and polls (daemon/recipe_repo.c). */
typedef struct wf_recipes_git {
    char *url;         /* https://, http://, git://, file:// URL, or an absolute local path */
    char *branch;      /* a branch name (not "refs/heads/..."); default "main" */
    char *path;        /* directory or file inside the repository, normalized: no leading "./",
                        * no trailing '/', never ".."; "" for the root (the default, ".") */
    unsigned poll_s;   /* seconds between polls, 5..86400; default 60 */
    int pull_requests; /* also list refs/pull/N/head at each poll to catch up missed pull
                        * request webhooks (GitHub, Gitea/Forgejo); default false */
} wf_recipes_git;

/* One forge's webhook endpoint: POST /hooks/<forge>. The secret (GitHub, Gitea: the HMAC key;
 * GitLab: the X-Gitlab-Token value) is the file's content without trailing whitespace. */
typedef struct wf_webhook_config {
    char *secret_file; /* absolute; NULL: this forge has no endpoint */
    unsigned char *secret;
    size_t secret_len;
} wf_webhook_config;

typedef struct wf_webhooks_config {
    wf_webhook_config github, gitea, gitlab;
    size_t max_body; /* bytes, 1024..WF_WEBHOOK_MAX_BODY; default 1 MiB */
} wf_webhooks_config;

/* Where commit statuses of pull request heads are reported. */
typedef struct wf_forge_config {
    char *kind;       /* "github", "gitea" or "gitlab" */
    char *api;        /* API base URL: https://api.github.com, https://HOST/api/v1 (Gitea),
                         https://HOST/api/v4 (GitLab); no trailing slash */
    char *repo;       /* "owner/name" (GitLab: the project's path or numeric id) */
    char *token_file; /* absolute */
    char *token;      /* the file's content without trailing whitespace */
    char *public_url; /* the daemon's URL as reviewers reach it, for log links; NULL: none */
} wf_forge_config;
/* A declared substitute for a pinned source file: an operator's statement that the file with
 * sha256 `use` (already in the source cache, e.g. a distribution's repack of the same release)
 * may be built from where a recipe pins `pinned` and that file is not in the cache. */
typedef struct wf_substitute_config {
    char *pinned; /* key `for`: the sha256 a recipe pins (64 lowercase hex) */
    char *use;    /* sha256 of the replacement file (64 lowercase hex, != pinned) */
    char *reason; /* why the replacement is acceptable; required, never empty */
    char *where;  /* "file:line" of the entry, for logs and `wheelfarm show` */
} wf_substitute_config;

typedef struct wf_config {
    char *file;                 /* path of the config file, or "<defaults>" */
    char *state_dir;            /* absolute */
    char *socket_path;          /* absolute */
    char *http_addr;            /* "host:port" (port may be 0), or "" when TCP is disabled */
    char *recipes;              /* absolute; a file or a directory */
    unsigned watch_debounce_ms; /* 10..60000: a reload waits this long after the last event */
    char *upstream_index;       /* http(s) URL of a PEP 503/691 index, or "" for none */
    char *api_token_file;       /* absolute */
    char *docker;               /* docker client binary, or "" to auto-detect */
    char *log_level;            /* "error", "warn", "info" or "debug" */
    unsigned shutdown_grace_s;  /* 0..3600 */
    unsigned lease_s;           /* a running attempt's lease, 5..3600 s */
    unsigned idle_timeout_s;    /* log-idle timeout of recipes that set none (recipe limits) */
    unsigned infra_retries;     /* requeues after infrastructure failures, 0..20 */
    unsigned retry_backoff_s;   /* the first requeue's wait, 1..3600 s; each next waits 3x */
    wf_image_config *images;
    size_t n_images;
    wf_worker_config *workers;
    size_t n_workers;

    /* `recipes` given as a git mapping, else NULL. Then `recipes` above is the export of the
     * commit in force, <state_dir>/recipes-git/current, which the daemon maintains. */
    wf_recipes_git *recipes_git;
    /* Version bumps of tracking recipes (daemon/bump.c). */
    char *bump_schedule;          /* five-field cron text read in UTC, or "" when scheduled bumps
                                     are off (`wheelfarm bump` still runs one) */
    wf_cron bump_cron;            /* bump_schedule parsed; meaningless when it is "" */
    unsigned bump_max_builds;     /* versions one bump run queues at most, 1..1000 */
    wf_webhooks_config *webhooks; /* NULL: no webhook endpoints */
    wf_forge_config *forge;       /* NULL: no commit statuses */
    wf_substitute_config *substitutes; /* distinct `pinned` hashes */
    size_t n_substitutes;
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

/* Fills an empty upstream_index from WHEELFARM_UPSTREAM_INDEX: the upstream index is a setting
 * of the site, not of the code, so the environment supplies it when the file leaves it empty
 * (the embedded defaults do). */
void wf_config_apply_environment(wf_config *c);

/* The image configured for `platform`, or NULL. Borrowed from c. */
const wf_image_config *wf_config_image(const wf_config *c, const char *platform);

/* The worker named `name`, or NULL. Borrowed from c. */
const wf_worker_config *wf_config_worker(const wf_config *c, const char *name);

/* The substitute declared for the pinned sha256, or NULL. Borrowed from c. */
const wf_substitute_config *wf_config_substitute(const wf_config *c, const char *pinned);
/* 1 when the worker reaches a tcp:// engine without TLS (the config says `tls: false`): anyone
 * who can reach that port controls the engine. */
int wf_config_worker_unauthenticated(const wf_worker_config *w);
/* The warning a person should read about worker w, as the text of one log line ("worker 'x':
 * ..."), or NULL when there is nothing to say; caller frees. Today that is an unauthenticated
 * engine (above). The daemon logs it at start and when a reload adds or changes such a worker;
 * this is the one place that words it. */
char *wf_config_worker_warning(const wf_worker_config *w);

#endif
