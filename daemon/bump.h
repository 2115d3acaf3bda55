/* bump.h - version bumps: tracking recipes get their newest eligible upstream version built,
 * on the `schedule.bump` cron schedule (UTC) and on request (`wheelfarm bump`).
 *
 * A run lists each tracking recipe's project page on the upstream index (PEP 691 JSON, PEP 503
 * HTML as fallback; parsed on the thread pool), judges every version (lib/bump.h), queues at
 * most `bump.max_builds` versions through wf__submit() with trigger kind "bump", and records a
 * JSON report in the state database (docs/API.md). One run at a time: a scheduled firing during
 * another run starts as soon as it ends.
 *
 * Schedule: a uv timer armed for the next firing, sleeping at most an hour at a time so a
 * wall-clock jump is noticed within the hour. A firing missed while the daemon was down (the
 * last finished run, or the first arming on a fresh state, is older than the newest firing
 * before now) runs once at start-up as a "catch-up" run.
 *
 * Loop thread only.
 */
#ifndef WF_DAEMON_BUMP_H
#define WF_DAEMON_BUMP_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/internal.h"

typedef struct wf_bump wf_bump;

/* Marks runs a stop interrupted, arms the schedule (when one is configured) and starts a
 * catch-up run when a firing was missed. Call from wf_daemon_start() once the store, fetcher
 * and recipes are ready. Sets d->bump. Returns 0 or a store error (logged). */
int wf__bump_init(wf_daemon *d);

/* Closes the timer; a run in flight ends without queueing anything (its row is marked
 * interrupted at the next start). on_closed(d) fires once everything is freed. NULL-safe
 * (then on_closed does not fire). */
void wf__bump_close(wf_bump *b, void (*on_closed)(wf_daemon *d));

typedef struct wf_bump_options {
    int dry_run;                /* judge and report, queue nothing */
    const char *const *recipes; /* names to run; n_recipes == 0: every tracking recipe */
    size_t n_recipes;
} wf_bump_options;

/* Starts a run on request (kind "manual"). Returns 0 and *run_id; WF_EEXIST when a run is in
 * flight (*run_id is that run); WF_EINVAL with *errmsg (caller frees) for a name that is no
 * recipe or a recipe without `track`; WF_ECANCELED while the daemon drains; store errors. */
int wf__bump_start(wf_daemon *d, const wf_bump_options *o, int64_t *run_id, char **errmsg);

/* The run in flight, or 0. */
int64_t wf__bump_running(const wf_daemon *d);
/* The next scheduled firing (epoch seconds), or 0 when no schedule is configured. */
int64_t wf__bump_next(const wf_daemon *d);

#endif
