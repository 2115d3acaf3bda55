/* daemon_fixture.h - an in-process daemon on a private loop for unit tests: its config from
 * YAML, start-up that fails the test with the daemon's own message, a client thread that talks
 * to it while the loop runs, and a shutdown that checks the loop closes with nothing left open.
 *
 * The test owns the loop (a uv_loop_t it embeds) and the wf_daemon pointer; these functions
 * only drive them. All run on the test's main thread unless said otherwise. They fail the test
 * (cmocka) on any error instead of returning it.
 */
#ifndef WF_TEST_DAEMON_FIXTURE_H
#define WF_TEST_DAEMON_FIXTURE_H

#include <uv.h>

#include "daemon/daemon.h"
#include "lib/config.h"

/* Where a test's daemon keeps its things, under a fresh temporary directory. */
typedef struct daemon_dirs {
    char root[64];     /* "/tmp/wf-test-<name>-XXXXXX", made */
    char *state_dir;   /* root/state, made by the daemon */
    char *recipes_dir; /* root/recipes, made (empty) */
    char *sock;        /* root/api.sock, the API socket */
    char *config_file; /* root/wheelfarmd.yaml, for a config on disk or in messages */
} daemon_dirs;

/* Makes the directories for a test called `name`; 0, or -1 when they cannot be made. For a
 * cmocka setup function, which reports failure by its return value. */
int daemon_dirs_init(daemon_dirs *dirs, const char *name);

/* Removes the temporary directory with all in it and frees the paths; returns what
 * wf_fs_remove_tree returned, for a teardown function to return. */
int daemon_dirs_release(daemon_dirs *dirs);

/* 1 when a Docker client binary is found (the daemon needs one to start); else prints
 * "SKIP: <who> needs a docker client binary: <why>" and returns 0. Call it from main(). */
int daemon_fixture_have_docker(const char *who);

/* The config that `yaml` describes, as if read from `file` (only named in messages). Its
 * diagnostics are printed to stdout; one that does not load fails the test. The caller owns
 * the result. */
wf_config *daemon_fixture_parse_config(const char *file, const char *yaml);

/* The same for a config file on disk, as the daemon itself reads it. */
wf_config *daemon_fixture_load_config(const char *file);

/* Initialises *loop and creates a daemon on it from cfg (which it takes). Not started: the
 * recipes it loads at creation can be checked first. */
wf_daemon *daemon_fixture_new(uv_loop_t *loop, wf_config *cfg);

/* Starts d: its listeners, workers and timers. */
void daemon_fixture_start(wf_daemon *d);

/* daemon_fixture_new, then daemon_fixture_start. */
wf_daemon *daemon_fixture_up(uv_loop_t *loop, wf_config *cfg);

/* Runs client(ctx) on a thread of its own while the loop runs. When the client returns, the
 * daemon is shut down from the loop, as SIGTERM would; returns when the loop has ended and the
 * thread is joined. The client must not touch the daemon or the loop: it talks to the daemon
 * over its sockets (http_client.h). Finish with daemon_fixture_close. */
void daemon_fixture_run_client(uv_loop_t *loop, wf_daemon *d, void (*client)(void *ctx), void *ctx);

/* Shuts *d down as SIGTERM would, runs the loop until it ends, then daemon_fixture_close. */
void daemon_fixture_stop(uv_loop_t *loop, wf_daemon **d);

/* For a loop that has ended: frees *d (sets it to NULL) and closes the loop, which must have
 * nothing left open (what is left is listed on stderr). */
void daemon_fixture_close(uv_loop_t *loop, wf_daemon **d);

#endif
