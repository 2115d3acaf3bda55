/* health.h - a worker's health: which probe commands it needs, what their output means, the
 * state machine and the backoff between probes.
 *
 * Pure functions (no I/O, no clock): the daemon (daemon/workers.c) runs the commands with
 * workers/command.c and feeds the results here, so every rule is unit-tested without an engine.
 *
 * The probes, cheapest first:
 *   docker driver  `docker [--context C] version --format {{.Server.Os}}/{{.Server.Arch}}` (with
 *                  DOCKER_HOST=endpoint): the engine answers and says its native platform. Each
 *                  declared platform must be that one, unless the worker is `emulated`; then
 *                  each other platform is checked once per healthy period (and every
 *                  WF_HEALTH_EMULATION_RECHECK_MS) by running `uname -m` in the platform's
 *                  runtime image (`docker run --rm --pull never --network none --platform P`),
 *                  which only works when the engine's host has a binfmt_misc handler for it.
 *   buildx driver  `docker buildx inspect --bootstrap BUILDER`: the builder answers and lists
 *                  every declared platform (BuildKit lists the emulated ones it can run).
 */
#ifndef WF_HEALTH_H
#define WF_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "lib/config.h"

typedef enum {
    WF_HEALTH_PROBING = 0, /* not probed yet (new, or its target just changed) */
    WF_HEALTH_HEALTHY,
    WF_HEALTH_UNHEALTHY,
} wf_health_state;

/* "probing", "healthy" or "unhealthy". Static. */
const char *wf_health_state_name(wf_health_state s);

/* Probe cadence: a healthy worker every interval; an unhealthy one after 2 s, doubling with each
 * further failure, at most 5 min apart. */
#define WF_HEALTH_INTERVAL_MS 30000u
#define WF_HEALTH_BACKOFF_MIN_MS 2000u
#define WF_HEALTH_BACKOFF_MAX_MS 300000u
/* How long one probe command may take (ssh endpoints can be slow to connect). */
#define WF_HEALTH_PROBE_TIMEOUT_MS 20000u
/* A healthy emulated worker's emulation is checked again this often. */
#define WF_HEALTH_EMULATION_RECHECK_MS (30u * 60 * 1000)

/* One worker's health. `reason` is heap-owned (NULL unless unhealthy); release frees it. */
typedef struct wf_health {
    wf_health_state state;
    unsigned failures; /* consecutive failures since it was last healthy */
    int64_t since;     /* when `state` last changed, seconds since the epoch */
    char *reason;      /* why it is unhealthy */
} wf_health;

/* A fresh record: probing since `now`. */
void wf_health_init(wf_health *h, int64_t now);
void wf_health_release(wf_health *h);

/* Records a probe verdict or a failure seen elsewhere: ok=1 makes it healthy (failures reset),
 * ok=0 unhealthy with `reason` (copied; failures counts up, `since` moves only on a change of
 * state). Returns 1 when the state changed. */
int wf_health_record(wf_health *h, int ok, const char *reason, int64_t now);

/* Milliseconds until the next probe: 0 while probing, WF_HEALTH_INTERVAL_MS when healthy, the
 * backoff for the current failure count when unhealthy. */
uint64_t wf_health_next_probe_ms(const wf_health *h);

/* ---- probe commands (heap argv/env, NULL-terminated; free with wf_health_strings_free) ---- */

char **wf_health_version_argv(const wf_worker_config *w, const char *client);
char **wf_health_emulation_argv(const wf_worker_config *w, const char *client, const char *platform,
                                const char *image);
char **wf_health_buildx_argv(const wf_worker_config *w, const char *client);
/* `environ` with DOCKER_HOST set to the worker's endpoint, or without DOCKER_HOST and
 * DOCKER_CONTEXT when it names a context (the flag must win over the daemon's environment). */
char **wf_health_env(const wf_worker_config *w, char *const *environ_);
void wf_health_strings_free(char **v);

/* ---- verdicts: 0 healthy, or WF_EINFRA with *reason (heap, one line, caller frees) ---- */

/* The version probe's result. On success *engine is the engine's platform ("linux/amd64",
 * heap) and *emulate (heap array, free with wf_health_strings_free; NULL-terminated, maybe
 * empty) the declared platforms that are not the engine's and so need the emulation check. */
int wf_health_check_version(const wf_worker_config *w, int exit_status, const char *out,
                            const char *err, char **engine, char ***emulate, char **reason);
/* The emulation probe's result for `platform`, run in `image`. */
int wf_health_check_emulation(const char *platform, const char *image, int exit_status,
                              const char *out, const char *err, char **reason);
/* The buildx probe's result: every declared platform must be listed by the builder. */
int wf_health_check_buildx(const wf_worker_config *w, int exit_status, const char *out,
                           const char *err, char **reason);

/* `uname -m` of a platform: "x86_64" for linux/amd64, "aarch64" for linux/arm64; NULL else. */
const char *wf_health_machine(const char *platform);

/* The last non-empty line of text (or of `fallback` when text has none), with control
 * characters removed, cut to 300 bytes; heap. NULL when both are empty. */
char *wf_health_last_line(const char *text, const char *fallback);

#endif
