/* health.c - worker health: probe commands, their verdicts, the state machine and its backoff. */
#include "workers/health.h"

#include <stdlib.h>
#include <string.h>

#include "lib/wf.h"
#include "workers/docker.h"

#define REASON_MAX 300

const char *wf_health_state_name(wf_health_state s)
{
    static const char *const names[] = {"probing", "healthy", "unhealthy"};
    return (unsigned)s < WF_ARRAY_SIZE(names) ? names[s] : "unknown";
}

void wf_health_init(wf_health *h, int64_t now)
{
    memset(h, 0, sizeof(*h));
    h->state = WF_HEALTH_PROBING;
    h->since = now;
}

void wf_health_release(wf_health *h)
{
    if (h == NULL)
        return;
    free(h->reason);
    h->reason = NULL;
}

int wf_health_record(wf_health *h, int ok, const char *reason, int64_t now)
{
    wf_health_state next = ok ? WF_HEALTH_HEALTHY : WF_HEALTH_UNHEALTHY;
    int changed = next != h->state;
    if (changed)
        h->since = now;
    h->state = next;
    free(h->reason);
    h->reason = NULL;
    if (ok) {
        h->failures = 0;
    } else {
        if (h->failures < 64)
            h->failures++;
        h->reason = wf_strdup(reason != NULL && reason[0] != '\0' ? reason : "unknown failure");
    }
    return changed;
}

uint64_t wf_health_next_probe_ms(const wf_health *h)
{
    switch (h->state) {
    case WF_HEALTH_PROBING: return 0;
    case WF_HEALTH_HEALTHY: return WF_HEALTH_INTERVAL_MS;
    case WF_HEALTH_UNHEALTHY: break;
    }
    uint64_t d = WF_HEALTH_BACKOFF_MIN_MS;
    for (unsigned i = 1; i < h->failures && d < WF_HEALTH_BACKOFF_MAX_MS; i++)
        d *= 2;
    return d < WF_HEALTH_BACKOFF_MAX_MS ? d : WF_HEALTH_BACKOFF_MAX_MS;
}

/* ---- commands ---- */

typedef struct strv {
    char **v;
    size_t n;
} strv;

static void push(strv *s, char *str)
{
    s->v = wf_realloc(s->v, (s->n + 2) * sizeof(char *));
    s->v[s->n++] = str;
    s->v[s->n] = NULL;
}

/* The client and, for a context worker, the global --context flag; for a tcp:// worker with
 * `tls`, the same TLS options its builds get. */
static strv client_argv(const wf_worker_config *w, const char *client)
{
    strv s = {NULL, 0};
    push(&s, wf_strdup(client));
    if (w->tls.ca != NULL) {
        wf_docker_tls tls = {w->tls.ca, w->tls.cert, w->tls.key};
        char *opts[4];
        size_t n = wf_docker_tls_args(opts, &tls);
        for (size_t i = 0; i < n; i++)
            push(&s, opts[i]);
    }
    if (w->context != NULL) {
        push(&s, wf_strdup("--context"));
        push(&s, wf_strdup(w->context));
    }
    return s;
}

char **wf_health_version_argv(const wf_worker_config *w, const char *client)
{
    strv s = client_argv(w, client);
    push(&s, wf_strdup("version"));
    push(&s, wf_strdup("--format"));
    push(&s, wf_strdup("{{.Server.Os}}/{{.Server.Arch}}"));
    return s.v;
}

char **wf_health_emulation_argv(const wf_worker_config *w, const char *client, const char *platform,
                                const char *image)
{
    static const char *const mid[] = {
        "run",  "--rm",         "--pull", "never",   "--network",
        "none", "--entrypoint", "uname",  "--label", "org.wheelfarm.probe=1"};
    strv s = client_argv(w, client);
    for (size_t i = 0; i < WF_ARRAY_SIZE(mid); i++)
        push(&s, wf_strdup(mid[i]));
    push(&s, wf_asprintf("--platform=%s", platform));
    push(&s, wf_strdup(image));
    push(&s, wf_strdup("-m"));
    return s.v;
}

char **wf_health_buildx_argv(const wf_worker_config *w, const char *client)
{
    strv s = client_argv(w, client);
    push(&s, wf_strdup("buildx"));
    push(&s, wf_strdup("inspect"));
    push(&s, wf_strdup("--bootstrap"));
    push(&s, wf_strdup(w->builder != NULL ? w->builder : ""));
    return s.v;
}

char **wf_health_env(const wf_worker_config *w, char *const *environ_)
{
    strv s = {NULL, 0};
    for (char *const *p = environ_; p != NULL && *p != NULL; p++) {
        int host = strncmp(*p, "DOCKER_HOST=", 12) == 0;
        int ctx = strncmp(*p, "DOCKER_CONTEXT=", 15) == 0;
        /* A worker that names its endpoint decides TLS itself (its `tls` key). */
        int tls = strncmp(*p, "DOCKER_TLS_VERIFY=", 18) == 0 ||
                  strncmp(*p, "DOCKER_CERT_PATH=", 17) == 0 || strncmp(*p, "DOCKER_TLS=", 11) == 0;
        if ((host && (w->endpoint != NULL || w->context != NULL)) || (ctx && w->context != NULL) ||
            (tls && w->endpoint != NULL))
            continue;
        push(&s, wf_strdup(*p));
    }
    if (w->endpoint != NULL)
        push(&s, wf_asprintf("DOCKER_HOST=%s", w->endpoint));
    if (s.v == NULL)
        s.v = wf_calloc(1, sizeof(char *));
    return s.v;
}

void wf_health_strings_free(char **v)
{
    for (char **p = v; p != NULL && *p != NULL; p++)
        free(*p);
    free(v);
}

/* ---- verdicts ---- */

char *wf_health_last_line(const char *text, const char *fallback)
{
    const char *srcs[] = {text, fallback};
    for (size_t k = 0; k < WF_ARRAY_SIZE(srcs); k++) {
        const char *s = srcs[k];
        if (s == NULL)
            continue;
        const char *best = NULL;
        size_t best_len = 0;
        for (const char *p = s; *p != '\0';) {
            size_t n = strcspn(p, "\n");
            size_t m = n;
            while (m > 0 && (p[m - 1] == '\r' || p[m - 1] == ' ' || p[m - 1] == '\t'))
                m--;
            if (m > 0) {
                best = p;
                best_len = m;
            }
            p += n;
            if (*p == '\n')
                p++;
        }
        if (best == NULL)
            continue;
        wf_buf b = WF_BUF_INIT;
        for (size_t i = 0; i < best_len && b.len < REASON_MAX; i++) {
            unsigned char ch = (unsigned char)best[i];
            if (ch >= 0x20 && ch != 0x7f)
                wf_buf_add(&b, &best[i], 1);
        }
        wf_buf_add(&b, "", 0);
        return wf_buf_detach(&b);
    }
    return NULL;
}

/* "what: <last line>" or "what (exit status N)" when the command said nothing. */
static char *failure(const char *what, int exit_status, const char *out, const char *err)
{
    char *line = wf_health_last_line(err, out);
    char *r = line != NULL ? wf_asprintf("%s: %s", what, line)
                           : wf_asprintf("%s (exit status %d, no output)", what, exit_status);
    free(line);
    return r;
}

/* The text without surrounding whitespace, as a heap string. */
static char *trimmed(const char *s)
{
    if (s == NULL)
        return wf_strdup("");
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    return wf_strndup(s, n);
}

int wf_health_check_version(const wf_worker_config *w, int exit_status, const char *out,
                            const char *err, char **engine, char ***emulate, char **reason)
{
    if (exit_status != 0) {
        *reason = failure("engine unreachable", exit_status, out, err);
        return WF_EINFRA;
    }
    char *plat = trimmed(out);
    if (strchr(plat, '/') == NULL || plat[0] == '/' || plat[strlen(plat) - 1] == '/') {
        *reason =
            wf_asprintf("the engine did not say its platform (docker version printed '%s')", plat);
        free(plat);
        return WF_EINFRA;
    }
    strv emu = {NULL, 0};
    for (size_t i = 0; i < w->n_platforms; i++) {
        if (strcmp(w->platforms[i], plat) == 0)
            continue;
        if (!w->emulated) {
            *reason = wf_asprintf("the engine is %s, but the worker declares %s natively (set "
                                  "'emulated: true' if the engine's host runs it under "
                                  "emulation, or point the worker at a %s engine)",
                                  plat, w->platforms[i], w->platforms[i]);
            free(plat);
            wf_health_strings_free(emu.v);
            return WF_EINFRA;
        }
        push(&emu, wf_strdup(w->platforms[i]));
    }
    if (emu.v == NULL)
        emu.v = wf_calloc(1, sizeof(char *));
    *engine = plat;
    *emulate = emu.v;
    return 0;
}

const char *wf_health_machine(const char *platform)
{
    if (strcmp(platform, "linux/amd64") == 0)
        return "x86_64";
    if (strcmp(platform, "linux/arm64") == 0)
        return "aarch64";
    return NULL;
}

int wf_health_check_emulation(const char *platform, const char *image, int exit_status,
                              const char *out, const char *err, char **reason)
{
    const char *want = wf_health_machine(platform);
    char *got = trimmed(out);
    int ok = exit_status == 0 && want != NULL && strcmp(got, want) == 0;
    if (ok) {
        /* nothing to say */
    } else if (err != NULL && strstr(err, "exec format error") != NULL) {
        *reason = wf_asprintf("the engine cannot run %s programs (no binfmt_misc handler for %s "
                              "on its host; install qemu-user-static or binfmt there)",
                              platform, want != NULL ? want : platform);
    } else if (exit_status == 0) {
        *reason = wf_asprintf("`uname -m` in %s printed '%s', not '%s' (is the image built for "
                              "%s?)",
                              image, got, want != NULL ? want : "?", platform);
    } else if (err != NULL && strstr(err, "No such image") != NULL) {
        *reason = wf_asprintf("image %s (%s) is not on the engine; load it there "
                              "(scripts/bootstrap-images)",
                              image, platform);
    } else {
        *reason = failure("emulation check failed", exit_status, out, err);
    }
    free(got);
    return ok ? 0 : WF_EINFRA;
}

/* Appends the platforms of one "Platforms: a, b*, c" line to list (as ", "-joined text). */
static void add_platforms(wf_buf *list, const char *p, size_t n)
{
    while (n > 0) {
        size_t k = 0;
        while (k < n && p[k] != ',')
            k++;
        size_t a = 0, b = k;
        while (a < b && (p[a] == ' ' || p[a] == '\t'))
            a++;
        while (b > a &&
               (p[b - 1] == ' ' || p[b - 1] == '\t' || p[b - 1] == '*' || p[b - 1] == '\r'))
            b--;
        if (b > a) {
            if (list->len > 0)
                wf_buf_adds(list, ", ");
            wf_buf_add(list, p + a, b - a);
        }
        p += k < n ? k + 1 : k;
        n -= k < n ? k + 1 : k;
    }
}

/* 1 when `platform` is an entry of the ", "-joined list. */
static int listed(const char *list, const char *platform)
{
    size_t pl = strlen(platform);
    for (const char *p = list; p != NULL && *p != '\0';) {
        size_t n = strcspn(p, ",");
        if (n == pl && strncmp(p, platform, pl) == 0)
            return 1;
        p += n;
        while (*p == ',' || *p == ' ')
            p++;
    }
    return 0;
}

int wf_health_check_buildx(const wf_worker_config *w, int exit_status, const char *out,
                           const char *err, char **reason)
{
    if (exit_status != 0) {
        *reason = failure("builder unreachable", exit_status, out, err);
        return WF_EINFRA;
    }
    wf_buf list = WF_BUF_INIT;
    for (const char *p = out; p != NULL && *p != '\0';) {
        size_t n = strcspn(p, "\n");
        if (n > 10 && strncmp(p, "Platforms:", 10) == 0)
            add_platforms(&list, p + 10, n - 10);
        p += n;
        if (*p == '\n')
            p++;
    }
    wf_buf_add(&list, "", 0);
    int rc = 0;
    for (size_t i = 0; i < w->n_platforms && rc == 0; i++) {
        if (listed(list.ptr, w->platforms[i]))
            continue;
        *reason = wf_asprintf("builder '%s' does not offer %s (it lists: %s)", w->builder,
                              w->platforms[i], list.len > 1 ? list.ptr : "nothing");
        rc = WF_EINFRA;
    }
    wf_buf_release(&list);
    return rc;
}
