/* docker.c - the build executor: spawns the docker client, streams its log, classifies the end. */
#include "workers/docker.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/wf.h"

extern char **environ;

#define LINE_MAX_BYTES (64u * 1024)
#define READ_BUF_BYTES (64u * 1024)
#define DEFAULT_KILL_GRACE_MS 10000u
/* After the client exits, how long stray holders of its pipes may keep them open. */
#define DRAIN_MS 2000u

typedef enum {
    BUILD_RUNNING = 0, /* child alive */
    BUILD_STOPPING,    /* SIGTERM sent (cancel or timeout), waiting for the exit */
    BUILD_EXITED,      /* child reaped, draining pipes */
    BUILD_CLOSING,     /* handles closing; cb fires at the last close */
} build_state;

/* One output stream of the child: its pipe and the partial line not yet passed on. */
typedef struct build_stream {
    uv_pipe_t pipe;
    wf_build *owner;
    char *line; /* LINE_MAX_BYTES */
    size_t line_len;
    int eof;
} build_stream;

struct wf_build {
    uv_loop_t *loop;
    build_state state;
    uv_process_t process;
    build_stream out, err;
    uv_timer_t deadline;   /* the hard timeout */
    uv_timer_t kill_timer; /* SIGKILL after SIGTERM, or the drain window after the exit */
    uv_timer_t idle;       /* the log-idle timeout */
    int open_handles;
    int silent; /* spawn failed: close everything without calling cb */
    int pid;
    int canceled, timed_out, idled_out;
    int start_error; /* reading the child's output could not start */
    int64_t exit_status;
    int term_signal;
    unsigned timeout_s, idle_timeout_s, kill_grace_ms;
    uint64_t last_output_ms; /* loop time of the last bytes read from the client */

    int log_fd;
    uint64_t log_bytes;
    int log_truncated;

    char *infra_line; /* last client line saying the engine is unreachable */
    char *build_line; /* last client line saying a build step failed */
    char *verdict;    /* the job template's test verdict, "test_command failed (exit N)" */
    char *last_line;  /* last non-empty client line */

    char *readbuf; /* READ_BUF_BYTES */
    wf_build_cb cb;
    wf_build_line_cb on_line;
    void *ctx;
};

static void build_close_all(wf_build *b);

static char *setpriv_path(void)
{
    static const char *const candidates[] = {"/usr/bin/setpriv", "/bin/setpriv"};
    static int warned;
    for (size_t i = 0; i < WF_ARRAY_SIZE(candidates); i++) {
        if (access(candidates[i], X_OK) == 0)
            return wf_strdup(candidates[i]);
    }
    if (!warned) {
        warned = 1;
        wf_log_warn("setpriv (util-linux) not found: builds will not die with the daemon; "
                    "install util-linux to fix");
    }
    return NULL;
}

/* mkdir -p with mode 0755. */
static int mkdir_p(const char *path)
{
    char *p = wf_strdup(path);
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char saved = *s;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            rc = -errno;
            goto out;
        }
        *s = saved;
        if (saved == '\0')
            break;
    }
out:
    free(p);
    return rc;
}

static void log_write(wf_build *b, const char *p, size_t n)
{
    if (b->log_fd < 0 || b->log_truncated)
        return;
    if (b->log_bytes + n > WF_BUILD_LOG_MAX) {
        static const char marker[] = "\n==> wheelfarm: log truncated: size limit reached\n";
        b->log_truncated = 1;
        p = marker;
        n = sizeof(marker) - 1;
    }
    /* Appends of at most one pipe read (64 KiB) to a local file: cheap enough on the loop,
     * and it keeps the log in the order the lines arrived. */
    while (n > 0) {
        ssize_t w = write(b->log_fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            b->log_truncated = 1;
            return;
        }
        p += w;
        n -= (size_t)w;
        b->log_bytes += (uint64_t)w;
    }
}

static void log_note(wf_build *b, const char *what)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    char *s = wf_asprintf("==> %s wheelfarm: %s\n", stamp, what);
    log_write(b, s, strlen(s));
    free(s);
}

/* Step output in plain progress looks like "#7 0.123 text": the build's own programs wrote it,
 * so it must not steer the classification. Returns the length of that "#7 0.123 " prefix, or 0
 * when the line is the client's own. */
static size_t step_output_prefix(const char *s, size_t n)
{
    size_t i = 0;
    if (n < 2 || s[0] != '#')
        return 0;
    for (i = 1; i < n && s[i] >= '0' && s[i] <= '9'; i++)
        ;
    if (i == 1 || i >= n || s[i] != ' ')
        return 0;
    size_t j = ++i;
    for (; i < n && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.'); i++)
        ;
    return i > j && i < n && s[i] == ' ' ? i + 1 : 0;
}

/* The job template (dockerfiles/job.Dockerfile.in) ends a failing test stage with the step line
 * "wheelfarm: test_command failed (exit N)". When the build fails, that short line says more
 * than the client's "process ... did not complete successfully" with the whole RUN command, so
 * it becomes the summary. It only words the summary: the class still comes from the client. */
static void note_verdict(wf_build *b, const char *s, size_t n)
{
    static const char head[] = "wheelfarm: test_command failed (exit ";
    size_t h = sizeof(head) - 1, i;
    if (n < h + 2 || memcmp(s, head, h) != 0)
        return;
    for (i = h; i < n && s[i] >= '0' && s[i] <= '9'; i++)
        ;
    if (i == h || i + 1 != n || s[i] != ')')
        return;
    free(b->verdict);
    b->verdict = wf_strndup(s + strlen("wheelfarm: "), n - strlen("wheelfarm: "));
}

static int contains(const char *s, size_t n, const char *needle)
{
    return memmem(s, n, needle, strlen(needle)) != NULL;
}

static void classify_line(wf_build *b, const char *s, size_t n)
{
    static const char *const infra[] = {
        "Cannot connect to the Docker daemon",
        "error during connect",
        "Is the docker daemon running",
        "rpc error: code = Unavailable",
    };
    static const char *const build[] = {
        "did not complete successfully",   "executor failed running",
        "failed to compute cache key",     "dockerfile parse error",
        "failed to create LLB definition", "failed to process \"",
    };
    size_t step = step_output_prefix(s, n);
    if (step > 0)
        note_verdict(b, s + step, n - step);
    if (n == 0 || step > 0)
        return;
    free(b->last_line);
    b->last_line = wf_strndup(s, n);
    for (size_t i = 0; i < WF_ARRAY_SIZE(infra); i++) {
        if (contains(s, n, infra[i])) {
            free(b->infra_line);
            b->infra_line = wf_strndup(s, n);
        }
    }
    for (size_t i = 0; i < WF_ARRAY_SIZE(build); i++) {
        if (contains(s, n, build[i])) {
            free(b->build_line);
            b->build_line = wf_strndup(s, n);
        }
    }
}

static void emit_line(wf_build *b, const char *s, size_t n)
{
    if (n > 0 && s[n - 1] == '\r')
        n--;
    classify_line(b, s, n);
    if (b->on_line)
        b->on_line(b, s, n, b->ctx);
}

static void stream_feed(build_stream *st, const char *p, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        size_t room = LINE_MAX_BYTES - st->line_len;
        if (take > room)
            take = room;
        memcpy(st->line + st->line_len, p, take);
        st->line_len += take;
        p += take;
        n -= take;
        if (nl && p == nl) {
            p++;
            n--;
        } else if (st->line_len < LINE_MAX_BYTES) {
            break; /* a partial line: wait for more */
        }
        emit_line(st->owner, st->line, st->line_len);
        st->line_len = 0;
    }
}

static void maybe_finish(wf_build *b)
{
    if (b->state == BUILD_EXITED && b->out.eof && b->err.eof)
        build_close_all(b);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    wf_build *b = h->data;
    (void)suggested;
    /* Each read is consumed before the next alloc, so one buffer serves both pipes. */
    *buf = uv_buf_init(b->readbuf, READ_BUF_BYTES);
}

static void stream_eof(build_stream *st)
{
    if (st->eof)
        return;
    st->eof = 1;
    if (st->line_len > 0)
        emit_line(st->owner, st->line, st->line_len);
    st->line_len = 0;
    uv_read_stop((uv_stream_t *)&st->pipe);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    wf_build *b = s->data;
    build_stream *st = s == (uv_stream_t *)&b->out.pipe ? &b->out : &b->err;
    if (nread > 0) {
        b->last_output_ms = uv_now(b->loop);
        log_write(b, buf->base, (size_t)nread);
        stream_feed(st, buf->base, (size_t)nread);
        return;
    }
    if (nread == 0)
        return;
    stream_eof(st); /* UV_EOF or a read error: either way this stream is done */
    maybe_finish(b);
}

static void send_group(wf_build *b, int sig)
{
    if (b->pid > 0 && kill(-b->pid, sig) != 0 && errno == ESRCH)
        kill(b->pid, sig);
}

static void on_kill_timer(uv_timer_t *t)
{
    wf_build *b = t->data;
    if (b->state == BUILD_STOPPING) {
        send_group(b, SIGKILL);
        return;
    }
    if (b->state == BUILD_EXITED) {
        /* Something outside the client kept the pipes open past the drain window. */
        stream_eof(&b->out);
        stream_eof(&b->err);
        maybe_finish(b);
    }
}

static void stop_child(wf_build *b)
{
    if (b->state != BUILD_RUNNING)
        return;
    b->state = BUILD_STOPPING;
    send_group(b, SIGTERM);
    int rc = uv_timer_start(&b->kill_timer, on_kill_timer, b->kill_grace_ms, 0);
    if (rc != 0) /* cannot wait for a grace period: do not leave the build running */
        send_group(b, SIGKILL);
}

static void on_deadline(uv_timer_t *t)
{
    wf_build *b = t->data;
    if (b->state != BUILD_RUNNING)
        return;
    b->timed_out = 1;
    stop_child(b);
}

/* Fires when the build may have been silent for idle_timeout_s: it either was (the build is
 * stopped) or output came in between, and the check moves to when the silence would end. */
static void on_idle(uv_timer_t *t)
{
    wf_build *b = t->data;
    if (b->state != BUILD_RUNNING)
        return;
    uint64_t limit = (uint64_t)b->idle_timeout_s * 1000u;
    uint64_t silent = uv_now(b->loop) - b->last_output_ms;
    if (silent < limit && uv_timer_start(&b->idle, on_idle, limit - silent, 0) == 0)
        return;
    b->idled_out = 1;
    stop_child(b);
}

static void on_child_exit(uv_process_t *p, int64_t exit_status, int term_signal)
{
    wf_build *b = p->data;
    b->exit_status = exit_status;
    b->term_signal = term_signal;
    b->pid = 0;
    b->state = BUILD_EXITED;
    uv_timer_stop(&b->deadline);
    uv_timer_stop(&b->idle);
    uv_timer_stop(&b->kill_timer);
    if (!(b->out.eof && b->err.eof) &&
        uv_timer_start(&b->kill_timer, on_kill_timer, DRAIN_MS, 0) != 0) {
        stream_eof(&b->out);
        stream_eof(&b->err);
    }
    maybe_finish(b);
}

/* Decides the status and one-line summary; *summary is heap-owned. */
static int classify(wf_build *b, char **summary)
{
    if (b->canceled) {
        *summary = wf_strdup("build canceled");
        return WF_ECANCELED;
    }
    if (b->timed_out) {
        *summary = wf_asprintf("build timed out after %u s (timeout)", b->timeout_s);
        return WF_ETIMEOUT;
    }
    if (b->idled_out) {
        *summary = wf_asprintf("no output for %u s (idle_timeout)", b->idle_timeout_s);
        return WF_ETIMEOUT;
    }
    if (b->start_error != 0) {
        *summary =
            wf_asprintf("cannot read the docker client's output: %s", uv_strerror(b->start_error));
        return WF_EINFRA;
    }
    if (b->term_signal != 0) {
        *summary = wf_asprintf("docker client killed by signal %d", b->term_signal);
        return WF_EINFRA;
    }
    if (b->exit_status == 0) {
        *summary = wf_strdup("build succeeded");
        return 0;
    }
    if (b->build_line) {
        *summary = wf_strdup(b->verdict ? b->verdict : b->build_line);
        return WF_EBUILD;
    }
    if (b->infra_line)
        *summary = wf_strdup(b->infra_line);
    else if (b->last_line)
        *summary = wf_asprintf("%s (docker exit status %d)", b->last_line, (int)b->exit_status);
    else
        *summary = wf_asprintf("docker exited with status %d and no output", (int)b->exit_status);
    return WF_EINFRA;
}

static void build_free(wf_build *b)
{
    if (b->log_fd >= 0)
        close(b->log_fd);
    free(b->out.line);
    free(b->err.line);
    free(b->readbuf);
    free(b->infra_line);
    free(b->build_line);
    free(b->verdict);
    free(b->last_line);
    free(b);
}

static void on_close(uv_handle_t *h)
{
    wf_build *b = h->data;
    if (--b->open_handles > 0)
        return;
    if (!b->silent) {
        char *summary = NULL;
        int status = classify(b, &summary);
        char *note =
            wf_asprintf("finished: %s: %s", status == 0 ? "ok" : wf_strerror(status), summary);
        b->log_truncated = 0; /* the closing line goes in even past the limit */
        log_note(b, note);
        free(note);
        b->cb(b, status, summary, b->ctx);
        free(summary);
    }
    build_free(b);
}

static void close_if_open(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, on_close);
}

static void build_close_all(wf_build *b)
{
    if (b->state == BUILD_CLOSING)
        return;
    b->state = BUILD_CLOSING;
    close_if_open((uv_handle_t *)&b->process);
    close_if_open((uv_handle_t *)&b->out.pipe);
    close_if_open((uv_handle_t *)&b->err.pipe);
    close_if_open((uv_handle_t *)&b->deadline);
    close_if_open((uv_handle_t *)&b->kill_timer);
    close_if_open((uv_handle_t *)&b->idle);
}

/* Appends arg to the header line, single-quoted when it holds anything a shell would mind. */
static void quote_arg(wf_buf *line, const char *arg)
{
    if (line->len > 0)
        wf_buf_adds(line, " ");
    if (*arg != '\0' && strspn(arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "0123456789-_./=:,+@%") == strlen(arg)) {
        wf_buf_adds(line, arg);
        return;
    }
    wf_buf_adds(line, "'");
    for (const char *p = arg; *p; p++) {
        if (*p == '\'')
            wf_buf_adds(line, "'\\''");
        else
            wf_buf_add(line, p, 1);
    }
    wf_buf_adds(line, "'");
}

typedef struct argv_list {
    char **v;
    size_t n, cap;
} argv_list;

static void argv_push(argv_list *a, char *s)
{
    if (a->n + 2 > a->cap) {
        a->cap = a->cap ? a->cap * 2 : 32;
        a->v = wf_realloc(a->v, a->cap * sizeof(char *));
    }
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

static void argv_free(argv_list *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
}

size_t wf_docker_tls_args(char *out[4], const wf_docker_tls *tls)
{
    if (tls == NULL)
        return 0;
    out[0] = wf_strdup("--tlsverify");
    out[1] = wf_asprintf("--tlscacert=%s", tls->ca);
    out[2] = wf_asprintf("--tlscert=%s", tls->cert);
    out[3] = wf_asprintf("--tlskey=%s", tls->key);
    return 4;
}

static void build_argv(argv_list *a, const wf_build_options *o)
{
    char *tls[4];
    size_t n_tls = wf_docker_tls_args(tls, o->tls);

    char *wrapper = setpriv_path();
    if (wrapper) {
        argv_push(a, wrapper);
        argv_push(a, wf_strdup("--pdeathsig"));
        argv_push(a, wf_strdup("KILL"));
        argv_push(a, wf_strdup("--"));
    }
    argv_push(a, wf_strdup(o->client->path));
    for (size_t i = 0; i < n_tls; i++)
        argv_push(a, tls[i]);
    if (o->context && *o->context) {
        argv_push(a, wf_strdup("--context"));
        argv_push(a, wf_strdup(o->context));
    }
    if (o->client->mode == WF_DOCKER_BUILDX) {
        argv_push(a, wf_strdup("buildx"));
        argv_push(a, wf_strdup("build"));
        if (o->builder && *o->builder)
            argv_push(a, wf_asprintf("--builder=%s", o->builder));
    } else {
        argv_push(a, wf_strdup("build"));
    }
    argv_push(a, wf_strdup("--progress=plain"));
    argv_push(a, wf_asprintf("--platform=%s", o->platform));
    argv_push(a, wf_asprintf("--output=type=local,dest=%s", o->output_dir));
    if (o->network_host)
        argv_push(a, wf_strdup("--network=host"));
    for (const char *const *ba = o->build_args; ba && *ba; ba++) {
        argv_push(a, wf_strdup("--build-arg"));
        argv_push(a, wf_strdup(*ba));
    }
    argv_push(a, wf_strdup("-f"));
    argv_push(a, wf_asprintf("%s/Dockerfile", o->context_dir));
    argv_push(a, wf_strdup(o->context_dir));
}

/* 1 when the environment entry `kv` sets one of the variables that choose the engine. */
static int is_connection_var(const char *kv)
{
    static const char *const names[] = WF_DOCKER_CONNECTION_ENV;
    for (size_t i = 0; i < WF_ARRAY_SIZE(names); i++) {
        size_t n = strlen(names[i]);
        if (strncmp(kv, names[i], n) == 0 && kv[n] == '=')
            return 1;
    }
    return 0;
}

/* The parent's environment with DOCKER_BUILDKIT=1 (BuildKit mode) and DOCKER_HOST set, or
 * without DOCKER_HOST and DOCKER_CONTEXT for a context worker (the flag must win). */
static void build_env(argv_list *e, const wf_build_options *o)
{
    for (char **p = environ; p && *p; p++) {
        if (strncmp(*p, "DOCKER_BUILDKIT=", 16) == 0)
            continue;
        if ((o->endpoint || o->context) && is_connection_var(*p))
            continue;
        if (o->context && strncmp(*p, "DOCKER_CONTEXT=", 15) == 0)
            continue;
        argv_push(e, wf_strdup(*p));
    }
    if (o->client->mode == WF_DOCKER_BUILDKIT)
        argv_push(e, wf_strdup("DOCKER_BUILDKIT=1"));
    if (o->endpoint)
        argv_push(e, wf_asprintf("DOCKER_HOST=%s", o->endpoint));
}

static int check_options(const wf_build_options *o)
{
    if (!o || !o->client || !o->client->path || !o->context_dir || !o->platform || !o->output_dir ||
        !o->log_path)
        return WF_EINVAL;
    if (o->tls && (!o->tls->ca || !o->tls->cert || !o->tls->key || !o->endpoint))
        return WF_EINVAL;
    if (o->client->mode != WF_DOCKER_BUILDX && o->client->mode != WF_DOCKER_BUILDKIT)
        return WF_EINVAL;
    if (o->build_args) {
        for (const char *const *ba = o->build_args; *ba; ba++)
            if (!strchr(*ba, '='))
                return WF_EINVAL;
    }
    return 0;
}

static int init_handles(wf_build *b)
{
    int rc = uv_timer_init(b->loop, &b->deadline);
    if (rc != 0)
        return rc;
    b->deadline.data = b;
    b->open_handles++;
    rc = uv_timer_init(b->loop, &b->kill_timer);
    if (rc != 0)
        return rc;
    b->kill_timer.data = b;
    b->open_handles++;
    rc = uv_timer_init(b->loop, &b->idle);
    if (rc != 0)
        return rc;
    b->idle.data = b;
    b->open_handles++;
    rc = uv_pipe_init(b->loop, &b->out.pipe, 0);
    if (rc != 0)
        return rc;
    b->out.pipe.data = b;
    b->open_handles++;
    rc = uv_pipe_init(b->loop, &b->err.pipe, 0);
    if (rc != 0)
        return rc;
    b->err.pipe.data = b;
    b->open_handles++;
    return 0;
}

static int spawn_child(wf_build *b, const wf_build_options *o)
{
    argv_list args = {0}, env = {0};
    build_argv(&args, o);
    build_env(&env, o);

    wf_buf header = WF_BUF_INIT;
    wf_buf_adds(&header, "starting:");
    if (o->endpoint)
        wf_buf_addf(&header, " DOCKER_HOST=%s", o->endpoint);
    if (o->client->mode == WF_DOCKER_BUILDKIT)
        wf_buf_adds(&header, " DOCKER_BUILDKIT=1");
    for (size_t i = 0; i < args.n; i++)
        quote_arg(&header, args.v[i]);
    log_note(b, header.ptr);
    wf_buf_release(&header);

    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&b->out.pipe;
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&b->err.pipe;
    uv_process_options_t po;
    memset(&po, 0, sizeof(po));
    po.exit_cb = on_child_exit;
    po.file = args.v[0];
    po.args = args.v;
    po.env = env.v;
    po.flags = UV_PROCESS_DETACHED; /* setsid: its own session and process group */
    po.stdio_count = 3;
    po.stdio = stdio;
    b->process.data = b;
    int rc = uv_spawn(b->loop, &b->process, &po);
    /* The handle is initialized even when the spawn fails, so it is closed either way. */
    b->open_handles++;
    if (rc == 0)
        b->pid = b->process.pid;
    else
        log_note(b, uv_strerror(rc));
    argv_free(&args);
    argv_free(&env);
    return rc;
}

static int start_io(wf_build *b)
{
    int rc = uv_read_start((uv_stream_t *)&b->out.pipe, on_alloc, on_read);
    if (rc != 0)
        return rc;
    rc = uv_read_start((uv_stream_t *)&b->err.pipe, on_alloc, on_read);
    if (rc != 0)
        return rc;
    if (b->timeout_s > 0)
        rc = uv_timer_start(&b->deadline, on_deadline, (uint64_t)b->timeout_s * 1000u, 0);
    b->last_output_ms = uv_now(b->loop);
    if (rc == 0 && b->idle_timeout_s > 0)
        rc = uv_timer_start(&b->idle, on_idle, (uint64_t)b->idle_timeout_s * 1000u, 0);
    return rc;
}

int wf_build_start(wf_build **out, uv_loop_t *loop, const wf_build_options *o, wf_build_cb cb,
                   wf_build_line_cb on_line, void *ctx)
{
    int rc = check_options(o);
    if (rc != 0)
        return rc;
    assert(cb != NULL);
    rc = mkdir_p(o->output_dir);
    if (rc != 0)
        return rc;
    int fd = open(o->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;

    wf_build *b = wf_calloc(1, sizeof(*b));
    b->loop = loop;
    b->log_fd = fd;
    b->cb = cb;
    b->on_line = on_line;
    b->ctx = ctx;
    b->timeout_s = o->timeout_s;
    b->idle_timeout_s = o->idle_timeout_s;
    b->kill_grace_ms = o->kill_grace_ms ? o->kill_grace_ms : DEFAULT_KILL_GRACE_MS;
    b->out.owner = b->err.owner = b;
    b->out.line = wf_malloc(LINE_MAX_BYTES);
    b->err.line = wf_malloc(LINE_MAX_BYTES);
    b->readbuf = wf_malloc(READ_BUF_BYTES);

    rc = init_handles(b);
    if (rc == 0)
        rc = spawn_child(b, o);
    if (rc != 0)
        goto fail;
    rc = start_io(b);
    if (rc != 0) {
        /* The child runs: end it and let the exit path report, so it is still reaped. */
        b->start_error = rc;
        b->state = BUILD_STOPPING;
        send_group(b, SIGKILL);
        stream_eof(&b->out);
        stream_eof(&b->err);
    }
    *out = b;
    return 0;

fail:
    /* Whatever was initialized (in init_handles() order, then the process handle, which a
     * failed uv_spawn() still initializes) closes; the last close frees b without calling cb. */
    b->silent = 1;
    b->state = BUILD_CLOSING;
    uv_handle_t *inited[] = {(uv_handle_t *)&b->deadline, (uv_handle_t *)&b->kill_timer,
                             (uv_handle_t *)&b->idle,     (uv_handle_t *)&b->out.pipe,
                             (uv_handle_t *)&b->err.pipe, (uv_handle_t *)&b->process};
    int n = b->open_handles;
    for (int i = 0; i < n; i++)
        uv_close(inited[i], on_close);
    if (n == 0)
        build_free(b);
    return rc;
}

void wf_build_cancel(wf_build *b)
{
    if (!b || b->canceled)
        return;
    b->canceled = 1;
    stop_child(b);
}

int wf_build_pid(const wf_build *b)
{
    return b ? b->pid : 0;
}
