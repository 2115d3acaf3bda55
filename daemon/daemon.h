/* daemon.h - wheelfarmd's top-level object: owns the loop's handles, the configuration, the
 * recipe set, the state store, the HTTP server, the fetcher and the worker table.
 *
 * Lifecycle: wf_daemon_new() loads everything and opens the store (no handles yet);
 * wf_daemon_start() creates the handles (listeners, signals) and recovers interrupted jobs;
 * uv_run() drives it; SIGTERM/SIGINT drain it; when the loop returns, wf_daemon_free() frees what
 * is left and the caller's uv_loop_close() returns 0.
 */
#ifndef WF_DAEMON_H
#define WF_DAEMON_H

#include <uv.h>

#include "lib/config.h"

typedef struct wf_daemon wf_daemon;

/* Takes ownership of cfg (set your pointer to NULL). On failure *errmsg says what and how to fix
 * (caller frees). */
int wf_daemon_new(wf_daemon **out, uv_loop_t *loop, wf_config *cfg, char **errmsg);
int wf_daemon_start(wf_daemon *d, char **errmsg);
/* Starts the drain that SIGTERM starts (used by tests). */
void wf_daemon_shutdown(wf_daemon *d);
void wf_daemon_free(wf_daemon *d);

#endif
