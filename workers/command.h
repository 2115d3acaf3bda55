/* command.h - short child processes on the loop (health probes): spawn with uv_spawn, capture
 * stdout and stderr, enforce a deadline, never block.
 *
 * The child runs in its own process group (so a timeout or cancel kills whatever it started) and
 * dies with the daemon (util-linux `setpriv --pdeathsig KILL` wraps it when present). Everything
 * here runs on the loop thread that started the command.
 */
#ifndef WF_COMMAND_H
#define WF_COMMAND_H

#include <stddef.h>
#include <uv.h>

/* Output kept per stream; the rest is read and dropped. */
#define WF_COMMAND_OUTPUT_MAX (64u * 1024)

typedef struct wf_command wf_command;

/* How a command ended. status: 0 when the child ran to its exit (see exit_status), WF_ETIMEOUT
 * when the deadline killed it, WF_ECANCELED after wf_command_cancel(), or a negative UV code
 * when it could not be read. exit_status is the exit code, 128+N when signal N ended it. out and
 * err are the captured streams, NUL-terminated, borrowed for the duration of the callback. */
typedef struct wf_command_result {
    int status;
    int exit_status;
    const char *out;
    size_t out_len;
    const char *err;
    size_t err_len;
} wf_command_result;

/* Called exactly once, after every handle of the command is closed; the wf_command is freed
 * right after the callback returns. */
typedef void (*wf_command_cb)(const wf_command_result *r, void *ctx);

/* Starts argv (argv[0]: an absolute path or a name on PATH, NULL-terminated) with environment
 * `env` ("K=V", NULL-terminated; NULL inherits the daemon's), stdin from /dev/null, killed after
 * timeout_ms (0: no deadline). On success *out is the running command and cb fires later, from
 * the loop. On failure (the spawn failed: a missing program, no memory) returns a negative UV
 * code, cb never fires and *out is untouched; behind setpriv a missing program is a child that
 * exits 127 instead. argv and env may go away after the call. */
int wf_command_start(wf_command **out, uv_loop_t *loop, const char *const *argv,
                     const char *const *env, unsigned timeout_ms, wf_command_cb cb, void *ctx);

/* Kills the command's process group (SIGKILL); cb fires with WF_ECANCELED. A no-op when already
 * cancelled. Must not be called after cb fired. */
void wf_command_cancel(wf_command *c);

#endif
