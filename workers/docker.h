/* docker.h - the build executor: runs one `docker build` / `docker buildx build` on the loop.
 *
 * A build is a child process in its own process group (setsid) that dies with the daemon
 * (util-linux `setpriv --pdeathsig KILL` wraps the client when present). Its stdout and stderr
 * are appended to a log file and split into lines; the exit status and the log decide how the
 * build ended. Everything here runs on the loop thread that started the build.
 */
#ifndef WF_DOCKER_H
#define WF_DOCKER_H

#include <stddef.h>
#include <uv.h>

/* How a client drives BuildKit: `docker buildx build`, or DOCKER_BUILDKIT=1 `docker build`. */
typedef enum { WF_DOCKER_BUILDX = 1, WF_DOCKER_BUILDKIT } wf_docker_mode;

/* A detected client. `path` is heap-owned; wf_docker_client_release() frees it. */
typedef struct wf_docker_client {
    char *path;
    wf_docker_mode mode;
} wf_docker_client;

/* Finds a usable client. `configured` (may be NULL or "") names a client binary, tried with
 * buildx first and BuildKit second; otherwise `docker` on PATH is tried with `docker buildx
 * version`, then /usr/bin/docker with BuildKit (`DOCKER_BUILDKIT=1 docker build --help` must
 * list --output). Synchronous: it runs short child processes (10 s limit each), so call it once
 * at startup. On success fills *out (release it with wf_docker_client_release()). On failure
 * returns WF_ENOTFOUND and, when errmsg is non-NULL, sets *errmsg to a heap string saying what
 * is missing and how to fix it (caller frees). Implemented in workers/probe.c. */
int wf_docker_detect(wf_docker_client *out, const char *configured, char **errmsg);

/* Frees c->path and zeroes *c. Accepts NULL and a zeroed struct. */
void wf_docker_client_release(wf_docker_client *c);

/* Client TLS towards one engine (a worker's tcp:// endpoint): the CA that signed the engine's
 * certificate, and the client certificate and key the engine accepts. Borrowed paths; all three
 * are set. */
typedef struct wf_docker_tls {
    const char *ca;
    const char *cert;
    const char *key;
} wf_docker_tls;

/* The client's global options that make it verify the engine against tls->ca and present the
 * client certificate: "--tlsverify", "--tlscacert=CA", "--tlscert=CERT", "--tlskey=KEY", stored as
 * heap strings in out[0..3] (the caller frees each). They go before the subcommand. Returns the
 * number stored: 4, or 0 when tls is NULL. */
size_t wf_docker_tls_args(char *out[4], const wf_docker_tls *tls);

/* Environment variables that steer which engine the client talks to and how. When a worker names
 * its endpoint, the inherited values are dropped so that the worker's own settings alone decide
 * (a daemon started with DOCKER_TLS_VERIFY=1 must not turn TLS on for a unix:// worker). */
#define WF_DOCKER_CONNECTION_ENV                                                                   \
    {                                                                                              \
        "DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_TLS"                       \
    }

typedef struct wf_build wf_build;

typedef struct wf_build_options {
    const wf_docker_client *client;
    const char *endpoint;    /* DOCKER_HOST for this worker, NULL = default */
    const char *context;     /* docker context (`docker --context NAME`), NULL = none; the
                                environment's DOCKER_HOST and DOCKER_CONTEXT are then dropped */
    const char *builder;     /* buildx builder name or NULL (ignored in BuildKit mode) */
    const char *context_dir; /* rendered build context (has Dockerfile) */
    const char *platform;    /* "linux/amd64" */
    const char *output_dir;  /* --output type=local,dest=... (created if missing) */
    const char *log_path;    /* build log, appended; created 0644 */
    unsigned timeout_s;      /* hard timeout; 0 = none */
    const char *const
        *build_args;          /* NULL-terminated "K=V" list passed as --build-arg, may be NULL */
    unsigned kill_grace_ms;   /* SIGTERM to SIGKILL delay on cancel/timeout; 0 = 10000 */
    int network_host;         /* 1: build steps share the engine host's network (--network=host), so
                                 they reach an index on that host's loopback */
    unsigned idle_timeout_s;  /* log-idle timeout: the build is stopped once the client has written
                                 nothing for this long; 0 = none */
    const wf_docker_tls *tls; /* TLS towards `endpoint` (a tcp:// engine), or NULL; copied */
} wf_build_options;

#define WF_BUILD_OPTIONS_INIT                                                                      \
    {                                                                                              \
        NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, 0, 0, 0, NULL                     \
    }

/* The log file stops growing past this many bytes (a marker line says so); lines are still
 * passed to on_line and classified. */
#define WF_BUILD_LOG_MAX (256u * 1024 * 1024)

/* Called once when the build has ended and every handle is closed. status: 0 success,
 * WF_EBUILD (the build's own commands failed: compiler, tests, a missing COPY source, a
 * Dockerfile error), WF_EINFRA (engine unreachable, engine error, client killed by a signal it
 * did not get from us), WF_ETIMEOUT (the hard timeout: summary "build timed out after N s
 * (timeout)", or the log-idle timeout: "no output for N s (idle_timeout)"), WF_ECANCELED.
 * `summary` is a one-line reason (the error line from the log, or the exit status), borrowed
 * for the duration of the callback. The wf_build is freed by the executor right after the
 * callback returns. */
typedef void (*wf_build_cb)(wf_build *b, int status, const char *summary, void *ctx);

/* Each complete log line as it arrives, without its newline (lines longer than 64 KiB arrive in
 * pieces); borrowed for the duration of the call. */
typedef void (*wf_build_line_cb)(wf_build *b, const char *line, size_t len, void *ctx);

/* Starts a build. On success *out is the running build and `cb` fires exactly once, later, from
 * the loop. On failure (bad options, log file or output dir not creatable, spawn failure)
 * returns a negative code, `cb` never fires and *out is untouched. All strings in `o` are
 * copied; `o` may go away after the call. on_line may be NULL. */
int wf_build_start(wf_build **out, uv_loop_t *loop, const wf_build_options *o, wf_build_cb cb,
                   wf_build_line_cb on_line, void *ctx);

/* Asks a running build to stop: SIGTERM to its process group, SIGKILL after the grace period;
 * `cb` fires with WF_ECANCELED. A no-op once cancel was asked. Must not be called after `cb`
 * has fired (the build is gone by then). */
void wf_build_cancel(wf_build *b);

/* The process id of the build's client (also its process group id), 0 once it has exited. */
int wf_build_pid(const wf_build *b);

#endif
