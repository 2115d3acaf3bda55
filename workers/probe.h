/* probe.h - short synchronous child processes used to detect and check docker clients.
 *
 * These block the calling thread (bounded by a timeout), so they belong at startup or on a
 * worker thread, never on a busy loop. wf_docker_detect() (declared in workers/docker.h) is
 * built on them and lives in probe.c.
 */
#ifndef WF_PROBE_H
#define WF_PROBE_H

#include <stddef.h>

#include "workers/docker.h"

/* Output kept from a probe: anything beyond is read and dropped. */
#define WF_PROBE_OUTPUT_MAX (1024u * 1024)

/* Runs argv[0] (an absolute path, or a name looked up on PATH) with argv, the parent's
 * environment plus `extra_env` ("K=V" strings, NULL-terminated, may be NULL; they replace
 * inherited values of the same name), stdin from /dev/null and stdout+stderr captured together.
 * Waits at most timeout_ms, then kills the child (SIGKILL) and returns WF_ETIMEOUT.
 * On return 0 the child ran: *exit_status is its exit code (128+N if signal N killed it) and,
 * when `output` is non-NULL, *output is the captured text, NUL-terminated (caller frees).
 * Spawn failures return a negative UV-style errno code (-ENOENT for a missing program). */
int wf_probe_run(const char *const *argv, const char *const *extra_env, unsigned timeout_ms,
                 int *exit_status, char **output);

/* Runs the docker client against one worker's engine the way its builds reach it:
 * `client [--tlsverify --tlscacert=... --tlscert=... --tlskey=...] ARGS...` with
 * DOCKER_HOST=endpoint when endpoint is non-NULL (the inherited DOCKER_TLS_VERIFY, DOCKER_CERT_PATH
 * and DOCKER_TLS are blanked then, so the worker's own settings alone decide). tls may be NULL;
 * when set, endpoint must be too. `args` is NULL-terminated. Same contract as wf_probe_run();
 * for example ARGS = {"version", "--format", "{{.Server.Os}}/{{.Server.Arch}}", NULL}. */
int wf_probe_docker(const char *client, const char *endpoint, const wf_docker_tls *tls,
                    const char *const *args, unsigned timeout_ms, int *exit_status, char **output);

/* Finds `name` the way execvp would: a name with a '/' is checked as it is, else each PATH
 * entry is tried. Returns a heap path to an executable file (caller frees) or NULL. */
char *wf_probe_which(const char *name);

#endif
