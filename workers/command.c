/* command.c - short child processes on the loop: spawn, capture both streams, time out. */
#include "workers/command.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/wf.h"

/* After the child exits, how long something it left behind may keep its pipes open. */
#define DRAIN_MS 1000u

typedef struct cmd_stream {
    uv_pipe_t pipe;
    wf_buf text;
    int eof;
} cmd_stream;

struct wf_command {
    uv_process_t process;
    cmd_stream out, err;
    uv_timer_t timer; /* the deadline, then the drain window after the exit */
    int open_handles;
    int pid;
    int exited, closing, silent;
    int timed_out, cancelled;
    int read_error;
    int exit_status;
    wf_command_cb cb;
    void *ctx;
    char chunk[4096]; /* each read is consumed before the next alloc */
};

static const char *setpriv_path(void)
{
    static const char *const candidates[] = {"/usr/bin/setpriv", "/bin/setpriv"};
    for (size_t i = 0; i < WF_ARRAY_SIZE(candidates); i++)
        if (access(candidates[i], X_OK) == 0)
            return candidates[i];
    return NULL;
}

static void cmd_free(wf_command *c)
{
    wf_buf_release(&c->out.text);
    wf_buf_release(&c->err.text);
    free(c);
}

static void on_close(uv_handle_t *h)
{
    wf_command *c = h->data;
    if (--c->open_handles > 0)
        return;
    if (!c->silent) {
        wf_command_result r = {0};
        r.status = c->cancelled ? WF_ECANCELED : c->timed_out ? WF_ETIMEOUT : c->read_error;
        r.exit_status = c->exit_status;
        wf_buf_add(&c->out.text, "", 0);
        wf_buf_add(&c->err.text, "", 0);
        r.out = c->out.text.ptr;
        r.out_len = c->out.text.len;
        r.err = c->err.text.ptr;
        r.err_len = c->err.text.len;
        c->cb(&r, c->ctx);
    }
    cmd_free(c);
}

static void close_all(wf_command *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    uv_handle_t *hs[] = {(uv_handle_t *)&c->process, (uv_handle_t *)&c->out.pipe,
                         (uv_handle_t *)&c->err.pipe, (uv_handle_t *)&c->timer};
    for (size_t i = 0; i < WF_ARRAY_SIZE(hs); i++)
        if (!uv_is_closing(hs[i]))
            uv_close(hs[i], on_close);
}

static void maybe_finish(wf_command *c)
{
    if (c->exited && c->out.eof && c->err.eof)
        close_all(c);
}

static void kill_group(wf_command *c)
{
    if (c->pid > 0 && kill(-c->pid, SIGKILL) != 0 && errno == ESRCH)
        kill(c->pid, SIGKILL);
}

static void stream_eof(cmd_stream *s)
{
    if (s->eof)
        return;
    s->eof = 1;
    uv_read_stop((uv_stream_t *)&s->pipe);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    wf_command *c = h->data;
    (void)suggested;
    *buf = uv_buf_init(c->chunk, sizeof(c->chunk));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    wf_command *c = st->data;
    cmd_stream *s = st == (uv_stream_t *)&c->out.pipe ? &c->out : &c->err;
    if (nread > 0) {
        size_t room = WF_COMMAND_OUTPUT_MAX - s->text.len;
        wf_buf_add(&s->text, buf->base, (size_t)nread < room ? (size_t)nread : room);
        return;
    }
    if (nread == 0)
        return;
    if (nread != UV_EOF && c->read_error == 0)
        c->read_error = (int)nread;
    stream_eof(s);
    maybe_finish(c);
}

static void on_timer(uv_timer_t *t)
{
    wf_command *c = t->data;
    if (!c->exited) {
        c->timed_out = 1;
        kill_group(c);
        return;
    }
    /* The drain window ended: something the child started still holds its pipes. */
    stream_eof(&c->out);
    stream_eof(&c->err);
    maybe_finish(c);
}

static void on_child_exit(uv_process_t *p, int64_t exit_status, int term_signal)
{
    wf_command *c = p->data;
    c->exited = 1;
    c->pid = 0;
    c->exit_status = term_signal != 0 ? 128 + term_signal : (int)exit_status;
    uv_timer_stop(&c->timer);
    if (!(c->out.eof && c->err.eof) && uv_timer_start(&c->timer, on_timer, DRAIN_MS, 0) != 0) {
        stream_eof(&c->out);
        stream_eof(&c->err);
    }
    maybe_finish(c);
}

/* argv behind `setpriv --pdeathsig KILL --` when setpriv exists. Shallow: free only the array. */
static const char **wrap_argv(const char *const *argv)
{
    size_t n = 0;
    while (argv[n] != NULL)
        n++;
    const char **v = wf_calloc(n + 5, sizeof(char *));
    size_t k = 0;
    const char *sp = setpriv_path();
    if (sp != NULL) {
        v[k++] = sp;
        v[k++] = "--pdeathsig";
        v[k++] = "KILL";
        v[k++] = "--";
    }
    for (size_t i = 0; i < n; i++)
        v[k++] = argv[i];
    return v;
}

static int init_handles(wf_command *c, uv_loop_t *loop)
{
    uv_handle_t *hs[] = {(uv_handle_t *)&c->out.pipe, (uv_handle_t *)&c->err.pipe,
                         (uv_handle_t *)&c->timer};
    int rc = uv_pipe_init(loop, &c->out.pipe, 0);
    if (rc == 0) {
        c->open_handles++;
        rc = uv_pipe_init(loop, &c->err.pipe, 0);
    }
    if (rc == 0) {
        c->open_handles++;
        rc = uv_timer_init(loop, &c->timer);
    }
    if (rc == 0)
        c->open_handles++;
    for (size_t i = 0; i < WF_ARRAY_SIZE(hs); i++)
        hs[i]->data = c;
    return rc;
}

static int spawn(wf_command *c, uv_loop_t *loop, const char *const *argv, const char *const *env)
{
    const char **args = wrap_argv(argv);
    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&c->out.pipe;
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&c->err.pipe;
    uv_process_options_t po;
    memset(&po, 0, sizeof(po));
    po.exit_cb = on_child_exit;
    po.file = args[0];
    po.args = (char **)args;
    po.env = (char **)env;
    po.flags = UV_PROCESS_DETACHED; /* its own process group */
    po.stdio_count = 3;
    po.stdio = stdio;
    c->process.data = c;
    int rc = uv_spawn(loop, &c->process, &po);
    c->open_handles++; /* initialized even when the spawn fails */
    if (rc == 0)
        c->pid = c->process.pid;
    free(args);
    return rc;
}

int wf_command_start(wf_command **out, uv_loop_t *loop, const char *const *argv,
                     const char *const *env, unsigned timeout_ms, wf_command_cb cb, void *ctx)
{
    wf_command *c = wf_calloc(1, sizeof(*c));
    c->cb = cb;
    c->ctx = ctx;
    int rc = init_handles(c, loop);
    if (rc == 0)
        rc = spawn(c, loop, argv, env);
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&c->out.pipe, on_alloc, on_read);
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&c->err.pipe, on_alloc, on_read);
    if (rc == 0 && timeout_ms > 0)
        rc = uv_timer_start(&c->timer, on_timer, timeout_ms, 0);
    if (rc != 0 && c->pid > 0) {
        /* The child runs but cannot be watched: end it; the exit path reports the error. */
        c->read_error = rc;
        kill_group(c);
        stream_eof(&c->out);
        stream_eof(&c->err);
        *out = c;
        return 0;
    }
    if (rc != 0) {
        /* Whatever was initialized closes; the last close frees c without calling cb. */
        c->silent = 1;
        c->closing = 1;
        uv_handle_t *hs[] = {(uv_handle_t *)&c->out.pipe, (uv_handle_t *)&c->err.pipe,
                             (uv_handle_t *)&c->timer, (uv_handle_t *)&c->process};
        int n = c->open_handles;
        for (int i = 0; i < n; i++)
            uv_close(hs[i], on_close);
        if (n == 0)
            cmd_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void wf_command_cancel(wf_command *c)
{
    if (c == NULL || c->cancelled)
        return;
    c->cancelled = 1;
    if (!c->exited)
        kill_group(c);
}
