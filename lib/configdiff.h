/* configdiff.h - what a configuration reload changes: worker copies, worker diffs and the
 * settings that only take effect after a restart.
 *
 * Pure functions of two loaded configurations (lib/config.h); no I/O. The daemon (SIGHUP) uses
 * them to apply the worker changes at once and to report the rest.
 */
#ifndef WF_CONFIGDIFF_H
#define WF_CONFIGDIFF_H

#include <stddef.h>

#include "config.h"

/* A deep copy of w on the heap, owned by the caller (free with wf_worker_config_free()). The
 * daemon's worker table keeps such copies, so no run or probe ever points into a wf_config that
 * a reload frees. */
wf_worker_config *wf_worker_config_dup(const wf_worker_config *w);
/* Releases and frees a copy made by wf_worker_config_dup(). NULL ok. */
void wf_worker_config_free(wf_worker_config *w);

/* 1 when a and b reach the same engine or builder the same way and build the same platforms:
 * driver, endpoint, context, builder, platforms and emulated are equal. slots and labels may
 * differ (they change in place, without draining the worker). */
int wf_worker_config_same_target(const wf_worker_config *a, const wf_worker_config *b);
/* 1 when a and b are equal in every field. */
int wf_worker_config_equal(const wf_worker_config *a, const wf_worker_config *b);

typedef enum {
    WF_WORKER_KEPT = 0, /* in both, equal */
    WF_WORKER_UPDATED,  /* in both, only slots or labels differ: applied in place */
    WF_WORKER_CHANGED,  /* in both, a different target: drained, then replaced */
    WF_WORKER_ADDED,    /* only in the new configuration */
    WF_WORKER_REMOVED,  /* only in the old configuration: drained, then removed */
} wf_worker_change_kind;

/* "kept", "updated", "changed", "added" or "removed". Static. */
const char *wf_worker_change_name(wf_worker_change_kind k);

/* One worker's fate in a reload. `before`/`after` are borrowed from the two configurations (NULL
 * where the worker is absent); name is borrowed from whichever is present. */
typedef struct wf_worker_change {
    wf_worker_change_kind kind;
    const char *name;
    const wf_worker_config *before, *after;
} wf_worker_change;

/* Every worker of both configurations, matched by name: first the new configuration's workers in
 * its order (kept, updated, changed or added), then the removed ones in the old order. *out is
 * freed with free() (NULL when *n_out is 0). Never fails. */
void wf_config_diff_workers(const wf_config *before, const wf_config *after, wf_worker_change **out,
                            size_t *n_out);

/* The settings that differ between before and after but cannot change while the daemon runs
 * (state_dir, listen.socket, listen.http, recipes (a path or the git mapping),
 * watch_debounce_ms, upstream_index, api_token_file, docker, lease_seconds, idle_timeout,
 * infra_retries, retry_backoff, images, schedule.bump, bump.max_builds, webhooks (secret files
 * and their contents, max_body), forge), comma-separated in that order, as a heap string (caller
 * frees); NULL when none.
 * workers, log_level and shutdown_grace change at runtime and are never listed. */
char *wf_config_restart_keys(const wf_config *before, const wf_config *after);

/* Checks that every worker of `workers` builds only for platforms `images` has an image for (a
 * reload may change workers but not images). 0, or WF_EINVAL with *errmsg saying which worker
 * and platform (caller frees). */
int wf_config_check_worker_images(const wf_config *images, const wf_config *workers, char **errmsg);

#endif
