/* gitrepo.c - bare git mirrors through libgit2 (the only libgit2 user): fetch, resolve, export,
 * diff, ls-remote, with a socket stream of our own so stalled servers time out and cancel works.
 */
#include "daemon/gitrepo.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <git2.h>
#include <git2/sys/stream.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "lib/fsutil.h"
#include "lib/hash.h"
#include "lib/wf.h"

#define MAX_REMOTE_REFS 200000 /* ls-remote answers beyond this are refused (WF_ELIMIT) */
#define MAX_TREE_DEPTH 64
#define POLL_SLICE_MS 100 /* how often a blocked socket looks at the cancel flag */

struct wf_gitrepo {
    git_repository *repo;
    char *url;   /* as configured (may hold credentials) */
    char *shown; /* url without credentials, for messages */
    char *dir;
    atomic_int cancelled;
    unsigned timeout_ms;
    int net_fail; /* WF_ETIMEOUT or WF_ECANCELED when the stream failed the operation */
};

/* The object whose network operation runs on this thread: libgit2 creates streams from a host
 * and a port only, so the stream finds its timeout and cancel flag here. */
static _Thread_local wf_gitrepo *tl_active;

/* ---- errors ---- */

char *wf_gitrepo_redact_url(const char *url)
{
    const char *scheme = strstr(url, "://");
    if (scheme == NULL)
        return wf_strdup(url);
    const char *host = scheme + 3;
    const char *slash = strchr(host, '/');
    const char *at = memchr(host, '@', slash ? (size_t)(slash - host) : strlen(host));
    if (at == NULL)
        return wf_strdup(url);
    return wf_asprintf("%.*s%s", (int)(host - url), url, at + 1);
}

/* libgit2's text for the last failure on this thread. */
static const char *git_text(void)
{
    const git_error *e = git_error_last();
    return e != NULL && e->message != NULL ? e->message : "unknown libgit2 error";
}

/* Translates a libgit2 return code and fills *err with "<what> <url>: <libgit2's text>". */
static int fail_git(wf_gitrepo *g, int git_rc, char **err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_git(wf_gitrepo *g, int git_rc, char **err, const char *fmt, ...)
{
    int rc = WF_EINFRA;
    if (g != NULL && g->net_fail != 0)
        rc = g->net_fail;
    else if (git_rc == GIT_ENOTFOUND)
        rc = WF_ENOTFOUND;
    else if (git_rc == GIT_EUSER || (g != NULL && atomic_load(&g->cancelled)))
        rc = WF_ECANCELED;
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        char *what = wf_vasprintf(fmt, ap);
        va_end(ap);
        *err = wf_asprintf("%s: %s", what,
                           rc == WF_ECANCELED && git_rc == GIT_EUSER ? "cancelled" : git_text());
        free(what);
    }
    return rc;
}

static int fail(char **err, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char **err, int rc, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        *err = wf_vasprintf(fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* ---- the socket stream ---- */

typedef struct wf_git_stream {
    git_stream parent;
    char *host, *port;
    int fd;
    wf_gitrepo *g; /* whose timeout and cancel flag apply; NULL: defaults, no cancel */
} wf_git_stream;

/* Waits until fd is ready for `events`, in slices so a cancel is seen within POLL_SLICE_MS.
 * Returns 0, or -1 with libgit2's error set (timeout, cancel, poll failure). */
static int stream_wait(wf_git_stream *s, short events, const char *what)
{
    unsigned timeout = s->g != NULL ? s->g->timeout_ms : WF_GITREPO_TIMEOUT_MS;
    uint64_t deadline = wf_now_ms() + timeout;
    for (;;) {
        if (s->g != NULL && atomic_load(&s->g->cancelled)) {
            s->g->net_fail = WF_ECANCELED;
            git_error_set(GIT_ERROR_NET, "%s %s:%s cancelled", what, s->host, s->port);
            return -1;
        }
        uint64_t now = wf_now_ms();
        if (now >= deadline) {
            if (s->g != NULL)
                s->g->net_fail = WF_ETIMEOUT;
            git_error_set(GIT_ERROR_NET, "%s %s:%s timed out after %u ms", what, s->host, s->port,
                          timeout);
            return -1;
        }
        uint64_t left = deadline - now;
        struct pollfd p = {s->fd, events, 0};
        int rc = poll(&p, 1, left < POLL_SLICE_MS ? (int)left : POLL_SLICE_MS);
        if (rc > 0)
            return 0;
        if (rc < 0 && errno != EINTR) {
            git_error_set(GIT_ERROR_OS, "poll on %s:%s: %s", s->host, s->port, strerror(errno));
            return -1;
        }
    }
}

/* Non-blocking connect with the timeout; -1 with errno-style *sys_err on a refused address. */
static int connect_one(wf_git_stream *s, const struct addrinfo *ai, int *sys_err)
{
    s->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (s->fd < 0) {
        *sys_err = errno;
        return -1;
    }
    if (connect(s->fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return 0;
    if (errno != EINPROGRESS) {
        *sys_err = errno;
        goto refused;
    }
    if (stream_wait(s, POLLOUT, "connecting to") != 0)
        return -2;
    int so = 0;
    socklen_t len = sizeof(so);
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &so, &len) == 0 && so == 0)
        return 0;
    *sys_err = so != 0 ? so : errno;
refused:
    close(s->fd);
    s->fd = -1;
    return -1;
}

static int stream_connect(git_stream *gs)
{
    wf_git_stream *s = (wf_git_stream *)gs;
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(s->host, s->port, &hints, &res);
    if (rc != 0) {
        git_error_set(GIT_ERROR_NET, "cannot resolve %s:%s: %s", s->host, s->port,
                      gai_strerror(rc));
        return -1;
    }
    int sys_err = ECONNREFUSED;
    rc = -1;
    for (const struct addrinfo *ai = res; ai != NULL && rc == -1; ai = ai->ai_next)
        rc = connect_one(s, ai, &sys_err);
    freeaddrinfo(res);
    if (rc == -1)
        git_error_set(GIT_ERROR_NET, "failed to connect to %s:%s: %s", s->host, s->port,
                      strerror(sys_err));
    return rc == 0 ? 0 : -1;
}

static ssize_t stream_read(git_stream *gs, void *buf, size_t len)
{
    wf_git_stream *s = (wf_git_stream *)gs;
    for (;;) {
        ssize_t n = recv(s->fd, buf, len, 0);
        if (n >= 0)
            return n;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (stream_wait(s, POLLIN, "reading from") != 0)
                return -1;
        } else if (errno != EINTR) {
            git_error_set(GIT_ERROR_NET, "reading from %s:%s: %s", s->host, s->port,
                          strerror(errno));
            return -1;
        }
    }
}

static ssize_t stream_write(git_stream *gs, const char *data, size_t len, int flags)
{
    wf_git_stream *s = (wf_git_stream *)gs;
    (void)flags;
    for (;;) {
        ssize_t n = send(s->fd, data, len, MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (stream_wait(s, POLLOUT, "writing to") != 0)
                return -1;
        } else if (errno != EINTR) {
            git_error_set(GIT_ERROR_NET, "writing to %s:%s: %s", s->host, s->port, strerror(errno));
            return -1;
        }
    }
}

static int stream_close(git_stream *gs)
{
    wf_git_stream *s = (wf_git_stream *)gs;
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    return 0;
}

static void stream_free(git_stream *gs)
{
    wf_git_stream *s = (wf_git_stream *)gs;
    stream_close(gs);
    free(s->host);
    free(s->port);
    free(s);
}

static int stream_new(git_stream **out, const char *host, const char *port)
{
    wf_git_stream *s = wf_calloc(1, sizeof(*s));
    s->parent.version = GIT_STREAM_VERSION;
    s->parent.connect = stream_connect;
    s->parent.read = stream_read;
    s->parent.write = stream_write;
    s->parent.close = stream_close;
    s->parent.free = stream_free;
    s->host = wf_strdup(host);
    s->port = wf_strdup(port);
    s->fd = -1;
    s->g = tl_active;
    *out = &s->parent;
    return 0;
}

/* ---- lifecycle ---- */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc;
static char *init_err;

/* Once per process; git_libgit2_shutdown() is never called (threads may still use libgit2). */
static void global_init(void)
{
    static git_stream_registration reg = {GIT_STREAM_VERSION, stream_new, NULL};
    if (git_libgit2_init() < 0) {
        init_rc = WF_EINFRA;
        init_err = wf_asprintf("cannot initialise libgit2: %s", git_text());
        return;
    }
    /* Refs and packs in the mirror survive a power cut like the rest of the state directory. */
    if (git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1) < 0 ||
        git_stream_register(GIT_STREAM_STANDARD, &reg) < 0) {
        init_rc = WF_EINFRA;
        init_err = wf_asprintf("cannot configure libgit2: %s", git_text());
    }
}

int wf_gitrepo_open(wf_gitrepo **out, const char *url, const char *dir, char **err)
{
    pthread_once(&init_once, global_init);
    if (init_rc != 0)
        return fail(err, init_rc, "%s", init_err);
    wf_gitrepo *g = wf_calloc(1, sizeof(*g));
    g->url = wf_strdup(url);
    g->shown = wf_gitrepo_redact_url(url);
    g->dir = wf_strdup(dir);
    g->timeout_ms = WF_GITREPO_TIMEOUT_MS;
    atomic_init(&g->cancelled, 0);
    int rc = git_repository_open_bare(&g->repo, dir);
    if (rc == GIT_ENOTFOUND) {
        int mk = wf_fs_mkdirs(dir, 0755);
        if (mk != 0) {
            rc = fail(err, mk, "cannot create the git mirror directory %s for %s: %s", dir,
                      g->shown, wf_strerror(mk));
            goto fail;
        }
        rc = git_repository_init(&g->repo, dir, 1);
    }
    if (rc < 0) {
        rc = fail_git(g, rc, err, "cannot open the git mirror %s of %s", dir, g->shown);
        goto fail;
    }
    *out = g;
    return 0;
fail:
    wf_gitrepo_close(g);
    return rc;
}

void wf_gitrepo_close(wf_gitrepo *g)
{
    if (g == NULL)
        return;
    git_repository_free(g->repo);
    free(g->url);
    free(g->shown);
    free(g->dir);
    free(g);
}

void wf_gitrepo_cancel(wf_gitrepo *g)
{
    atomic_store(&g->cancelled, 1);
}

void wf_gitrepo_set_timeout(wf_gitrepo *g, unsigned ms)
{
    g->timeout_ms = ms > 0 ? ms : 1;
}

char *wf_gitrepo_mirror_dir(const char *state_dir, const char *url)
{
    char *plain = wf_gitrepo_redact_url(url);
    const char *p = strstr(plain, "://");
    p = p != NULL ? p + 3 : plain;
    wf_buf name = WF_BUF_INIT;
    for (; *p != '\0' && name.len < 64; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '-';
        if (!ok && name.len > 0 && name.ptr[name.len - 1] == '_')
            continue;
        wf_buf_add(&name, ok ? &c : "_", 1);
    }
    char hex[WF_SHA256_HEX_LEN + 1];
    wf_sha256_hex(plain, strlen(plain), hex);
    char *dir = wf_asprintf("%s/git/%s-%.12s", state_dir, name.len ? name.ptr : "repo", hex);
    wf_buf_release(&name);
    free(plain);
    return dir;
}

/* ---- fetch and ls-remote ---- */

static int on_transfer_progress(const git_indexer_progress *stats, void *payload)
{
    (void)stats;
    wf_gitrepo *g = payload;
    return atomic_load(&g->cancelled) ? GIT_EUSER : 0;
}

static int on_sideband(const char *str, int len, void *payload)
{
    (void)str;
    (void)len;
    wf_gitrepo *g = payload;
    return atomic_load(&g->cancelled) ? GIT_EUSER : 0;
}

/* Starts a network operation: fails at once when cancelled, else routes the streams to g. */
static int net_begin(wf_gitrepo *g, char **err, const char *what)
{
    g->net_fail = 0;
    if (atomic_load(&g->cancelled))
        return fail(err, WF_ECANCELED, "%s %s: cancelled", what, g->shown);
    tl_active = g;
    return 0;
}

static void net_end(void)
{
    tl_active = NULL;
}

/* An in-memory remote for g's URL. url.*.insteadOf rewriting is skipped: the configured URL is
 * the one fetched (and libgit2 1.5.1 leaks pcre2 match data on that path). */
static int new_remote(wf_gitrepo *g, git_remote **out)
{
    git_remote_create_options o;
    git_remote_create_options_init(&o, GIT_REMOTE_CREATE_OPTIONS_VERSION);
    o.repository = g->repo;
    o.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
    return git_remote_create_with_opts(out, g->url, &o);
}

static int is_hex40(const char *s)
{
    size_t i = 0;
    for (; s[i] != '\0'; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    }
    return i == 40;
}

static int has_commit(wf_gitrepo *g, const char *sha)
{
    git_oid id;
    git_commit *c = NULL;
    if (git_oid_fromstr(&id, sha) < 0 || git_commit_lookup(&c, g->repo, &id) < 0)
        return 0;
    git_commit_free(c);
    return 1;
}

/* One git_remote_fetch of `specs` (refspecs or commit ids) from the URL. */
static int fetch_specs(wf_gitrepo *g, char **specs, size_t n, int prune, char **err)
{
    git_remote *remote = NULL;
    git_fetch_options opts;
    git_strarray arr = {specs, n};
    int rc = net_begin(g, err, "cannot fetch from");
    if (rc != 0)
        return rc;
    git_fetch_options_init(&opts, GIT_FETCH_OPTIONS_VERSION);
    opts.callbacks.transfer_progress = on_transfer_progress;
    opts.callbacks.sideband_progress = on_sideband;
    opts.callbacks.payload = g;
    opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
    opts.update_fetchhead = 0;
    opts.prune = prune ? GIT_FETCH_PRUNE : GIT_FETCH_NO_PRUNE;
    rc = new_remote(g, &remote);
    if (rc == 0)
        rc = git_remote_fetch(remote, &arr, &opts, "wheelfarm: fetch");
    if (rc < 0) {
        /* "+refs/heads/main:refs/heads/main" is shown as what is fetched: "refs/heads/main". */
        const char *what = specs[0] + (specs[0][0] == '+');
        size_t len = strcspn(what, ":");
        rc = fail_git(g, rc, err, "cannot fetch %.*s%s from %s", (int)len, what,
                      n > 1 ? " ..." : "", g->shown);
    }
    git_remote_free(remote);
    net_end();
    return rc;
}

int wf_gitrepo_fetch(wf_gitrepo *g, const char *const *refspecs, size_t n, char **err)
{
    char **ids = wf_calloc(n ? n : 1, sizeof(char *));
    char **specs = wf_calloc(n ? n : 1, sizeof(char *));
    size_t n_ids = 0, n_specs = 0, n_wanted = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_hex40(refspecs[i])) {
            specs[n_specs++] = (char *)refspecs[i];
            continue;
        }
        n_wanted++;
        if (!has_commit(g, refspecs[i]))
            ids[n_ids++] = (char *)refspecs[i];
    }
    if (n_wanted == 0) {
        if (n_specs > 0)
            rc = fetch_specs(g, specs, n_specs, 1, err);
        goto done;
    }
    if (n_ids == 0)
        goto done;
    /* Fetching by id needs the server's consent (uploadpack.allowAnySHA1InWant or protocol
     * v2); when it says no, the refspecs must bring the commits. */
    char *by_id_err = NULL;
    rc = fetch_specs(g, ids, n_ids, 0, &by_id_err);
    if (rc != 0 && rc != WF_ECANCELED && rc != WF_ETIMEOUT && n_specs > 0) {
        free(by_id_err);
        by_id_err = NULL;
        rc = fetch_specs(g, specs, n_specs, 1, err);
    } else if (rc != 0 && err != NULL) {
        *err = by_id_err;
        by_id_err = NULL;
    }
    free(by_id_err);
    for (size_t i = 0; rc == 0 && i < n_ids; i++) {
        if (!has_commit(g, ids[i]))
            rc = fail(err, WF_ENOTFOUND,
                      "commit %s is not in %s (not fetchable by id, and not reachable from the "
                      "refs fetched)",
                      ids[i], g->shown);
    }
done:
    free(ids);
    free(specs);
    return rc;
}

int wf_gitrepo_fetch_commit(wf_gitrepo *g, const char *sha, const char *const *fallback, size_t n,
                            char **err)
{
    if (!is_hex40(sha))
        return fail(err, WF_EINVAL, "'%s' is not a 40-hex commit id", sha);
    const char **all = wf_calloc(n + 1, sizeof(char *));
    all[0] = sha;
    for (size_t i = 0; i < n; i++)
        all[i + 1] = fallback[i];
    int rc = wf_gitrepo_fetch(g, all, n + 1, err);
    free(all);
    return rc;
}

void wf_git_refs_free(wf_git_ref *refs, size_t n)
{
    for (size_t i = 0; refs != NULL && i < n; i++)
        free(refs[i].name);
    free(refs);
}

static int collect_refs(wf_gitrepo *g, git_remote *remote, const char *glob, wf_git_ref **out,
                        size_t *n_out, char **err)
{
    const git_remote_head **heads = NULL;
    size_t n = 0, k = 0;
    int rc = git_remote_ls(&heads, &n, remote);
    if (rc < 0)
        return fail_git(g, rc, err, "cannot list the refs of %s", g->shown);
    if (n > MAX_REMOTE_REFS)
        return fail(err, WF_ELIMIT, "%s advertises %zu refs, more than the %d this daemon reads",
                    g->shown, n, MAX_REMOTE_REFS);
    wf_git_ref *refs = wf_calloc(n ? n : 1, sizeof(*refs));
    for (size_t i = 0; i < n; i++) {
        const char *name = heads[i]->name;
        size_t len = strlen(name);
        if ((len > 3 && strcmp(name + len - 3, "^{}") == 0) || fnmatch(glob, name, FNM_PATHNAME))
            continue;
        refs[k].name = wf_strdup(name);
        git_oid_tostr(refs[k].sha, sizeof(refs[k].sha), &heads[i]->oid);
        k++;
    }
    *out = refs;
    *n_out = k;
    return 0;
}

int wf_gitrepo_ls_remote(wf_gitrepo *g, const char *glob, wf_git_ref **out, size_t *n_out,
                         char **err)
{
    git_remote *remote = NULL;
    git_remote_callbacks cb;
    int rc = net_begin(g, err, "cannot list the refs of");
    if (rc != 0)
        return rc;
    git_remote_init_callbacks(&cb, GIT_REMOTE_CALLBACKS_VERSION);
    cb.payload = g;
    cb.sideband_progress = on_sideband;
    rc = new_remote(g, &remote);
    if (rc == 0)
        rc = git_remote_connect(remote, GIT_DIRECTION_FETCH, &cb, NULL, NULL);
    if (rc < 0)
        rc = fail_git(g, rc, err, "cannot list the refs of %s", g->shown);
    else
        rc = collect_refs(g, remote, glob, out, n_out, err);
    if (remote != NULL)
        git_remote_disconnect(remote);
    git_remote_free(remote);
    net_end();
    return rc;
}

/* ---- resolve ---- */

static int lookup_commit(wf_gitrepo *g, const char *ref, git_commit **out, char **err)
{
    git_object *obj = NULL;
    int rc = git_revparse_single(&obj, g->repo, ref);
    if (rc == GIT_ENOTFOUND || rc == GIT_EAMBIGUOUS || rc == GIT_EINVALIDSPEC)
        return fail(err, rc == GIT_EINVALIDSPEC ? WF_EINVAL : WF_ENOTFOUND,
                    "'%s' is not a ref or commit in the mirror of %s: %s", ref, g->shown,
                    git_text());
    if (rc < 0)
        return fail_git(g, rc, err, "cannot resolve '%s' in the mirror of %s", ref, g->shown);
    rc = git_object_peel((git_object **)out, obj, GIT_OBJECT_COMMIT);
    git_object_free(obj);
    if (rc < 0)
        return fail(err, WF_ENOTFOUND, "'%s' in the mirror of %s does not name a commit", ref,
                    g->shown);
    return 0;
}

int wf_gitrepo_resolve(wf_gitrepo *g, const char *ref, char out[41], char **err)
{
    git_commit *c = NULL;
    int rc = lookup_commit(g, ref, &c, err);
    if (rc != 0)
        return rc;
    git_oid_tostr(out, 41, git_commit_id(c));
    git_commit_free(c);
    return 0;
}

/* ---- export ---- */

typedef struct export_ctx {
    wf_gitrepo *g;
    const char *sha;
    size_t files;
    uint64_t bytes;
    char **err;
} export_ctx;

static int entry_name_valid(const char *name)
{
    return name[0] != '\0' && strchr(name, '/') == NULL && strcmp(name, ".") != 0 &&
           strcmp(name, "..") != 0 && strcmp(name, ".git") != 0;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return uv_translate_sys_error(errno);
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int export_blob(export_ctx *x, const git_tree_entry *e, const char *path, const char *rel)
{
    git_blob *blob = NULL;
    int rc = git_blob_lookup(&blob, x->g->repo, git_tree_entry_id(e));
    if (rc < 0)
        return fail_git(x->g, rc, x->err, "cannot read %s at %s in the mirror of %s", rel, x->sha,
                        x->g->shown);
    git_object_size_t size = git_blob_rawsize(blob);
    x->files++;
    x->bytes += (uint64_t)size;
    if (x->files > WF_GITREPO_MAX_EXPORT_FILES || x->bytes > WF_GITREPO_MAX_EXPORT_BYTES) {
        git_blob_free(blob);
        return fail(x->err, WF_ELIMIT,
                    "the recipes at %s of %s exceed %u files or %u bytes (at %s); point the "
                    "recipes path at a smaller directory",
                    x->sha, x->g->shown, WF_GITREPO_MAX_EXPORT_FILES, WF_GITREPO_MAX_EXPORT_BYTES,
                    rel);
    }
    int mode = git_tree_entry_filemode(e) == GIT_FILEMODE_BLOB_EXECUTABLE ? 0755 : 0644;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    rc = fd < 0 ? uv_translate_sys_error(errno) : write_all(fd, git_blob_rawcontent(blob), size);
    if (rc == 0 && fsync(fd) != 0)
        rc = uv_translate_sys_error(errno);
    if (fd >= 0 && close(fd) != 0 && rc == 0)
        rc = uv_translate_sys_error(errno);
    git_blob_free(blob);
    if (rc != 0)
        return fail(x->err, rc, "cannot write %s: %s", path, wf_strerror(rc));
    return 0;
}

/* A symbolic link is exported only when its target stays inside the exported tree: the
 * recipe loader must never read outside it. `rel` is the link's path from the export root. */
static int link_target_inside(const char *rel, const char *target)
{
    if (target[0] == '/' || target[0] == '\0')
        return 0;
    int depth = 0;
    for (const char *s = rel; *s != '\0'; s++)
        depth += *s == '/';
    for (const char *p = target; *p != '\0';) {
        size_t len = strcspn(p, "/");
        if (len == 2 && p[0] == '.' && p[1] == '.')
            depth--;
        else if (len > 0 && !(len == 1 && p[0] == '.'))
            depth++;
        if (depth < 0)
            return 0;
        p += len;
        while (*p == '/')
            p++;
    }
    return 1;
}

static int export_link(export_ctx *x, const git_tree_entry *e, const char *path, const char *rel)
{
    git_blob *blob = NULL;
    int rc = git_blob_lookup(&blob, x->g->repo, git_tree_entry_id(e));
    if (rc < 0)
        return fail_git(x->g, rc, x->err, "cannot read the link %s at %s in the mirror of %s", rel,
                        x->sha, x->g->shown);
    char *target = wf_strndup(git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob));
    rc = 0;
    if (strlen(target) != (size_t)git_blob_rawsize(blob) || !link_target_inside(rel, target))
        rc = fail(x->err, WF_EINVAL,
                  "%s at %s of %s is a symbolic link pointing outside the exported recipes ('%s'); "
                  "replace it with the file itself",
                  rel, x->sha, x->g->shown, target);
    else if (symlink(target, path) != 0)
        rc = fail(x->err, uv_translate_sys_error(errno), "cannot create the link %s: %s", path,
                  strerror(errno));
    free(target);
    git_blob_free(blob);
    return rc;
}

static int export_tree(export_ctx *x, const git_tree *tree, const char *dir, const char *rel,
                       int depth);

static int export_entry(export_ctx *x, const git_tree_entry *e, const char *dir, const char *rel,
                        int depth)
{
    const char *name = git_tree_entry_name(e);
    if (!entry_name_valid(name))
        return fail(x->err, WF_EINVAL, "commit %s of %s has an invalid file name '%s' in '%s'",
                    x->sha, x->g->shown, name, rel[0] ? rel : ".");
    char *path = wf_asprintf("%s/%s", dir, name);
    char *sub = rel[0] ? wf_asprintf("%s/%s", rel, name) : wf_strdup(name);
    int rc = 0;
    switch (git_tree_entry_filemode(e)) {
    case GIT_FILEMODE_TREE: {
        git_tree *t = NULL;
        if ((rc = git_tree_lookup(&t, x->g->repo, git_tree_entry_id(e))) < 0) {
            rc = fail_git(x->g, rc, x->err, "cannot read %s at %s in the mirror of %s", sub, x->sha,
                          x->g->shown);
        } else if (mkdir(path, 0755) != 0) {
            rc = fail(x->err, uv_translate_sys_error(errno), "cannot create %s: %s", path,
                      strerror(errno));
        } else {
            rc = export_tree(x, t, path, sub, depth + 1);
        }
        git_tree_free(t);
        break;
    }
    case GIT_FILEMODE_BLOB:
    case GIT_FILEMODE_BLOB_EXECUTABLE: rc = export_blob(x, e, path, sub); break;
    case GIT_FILEMODE_LINK: rc = export_link(x, e, path, sub); break;
    default: break; /* a submodule: its commit is in another repository */
    }
    free(path);
    free(sub);
    return rc;
}

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return uv_translate_sys_error(errno);
    int rc = fsync(fd) == 0 ? 0 : uv_translate_sys_error(errno);
    close(fd);
    return rc;
}

static int export_tree(export_ctx *x, const git_tree *tree, const char *dir, const char *rel,
                       int depth)
{
    if (depth > MAX_TREE_DEPTH)
        return fail(x->err, WF_ELIMIT, "commit %s of %s nests directories deeper than %d at %s",
                    x->sha, x->g->shown, MAX_TREE_DEPTH, rel);
    size_t n = git_tree_entrycount(tree);
    for (size_t i = 0; i < n; i++) {
        int rc = export_entry(x, git_tree_entry_byindex(tree, i), dir, rel, depth);
        if (rc != 0)
            return rc;
    }
    int rc = fsync_path(dir);
    if (rc != 0)
        return fail(x->err, rc, "cannot sync %s: %s", dir, wf_strerror(rc));
    return 0;
}

static char *parent_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return wf_strdup(".");
    if (slash == path)
        return wf_strdup("/");
    return wf_strndup(path, (size_t)(slash - path));
}

/* Moves the finished tmp directory to dest: a plain rename when dest is absent, else an atomic
 * exchange (the old tree then sits at tmp and is removed). Filesystems without
 * RENAME_EXCHANGE get two renames, with dest briefly absent. */
static int swap_into_place(const char *tmp, const char *dest, char **err)
{
    if (rename(tmp, dest) == 0)
        return 0;
    if (errno != ENOTEMPTY && errno != EEXIST && errno != ENOTDIR && errno != EISDIR)
        return fail(err, uv_translate_sys_error(errno), "cannot rename %s to %s: %s", tmp, dest,
                    strerror(errno));
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dest, RENAME_EXCHANGE) == 0)
        return wf_fs_remove_tree(tmp);
    if (errno != EINVAL && errno != ENOSYS)
        return fail(err, uv_translate_sys_error(errno), "cannot exchange %s and %s: %s", tmp, dest,
                    strerror(errno));
    char *old = wf_asprintf("%s.old", tmp);
    int rc = 0;
    if (rename(dest, old) != 0 || rename(tmp, dest) != 0)
        rc = fail(err, uv_translate_sys_error(errno), "cannot replace %s: %s", dest,
                  strerror(errno));
    wf_fs_remove_tree(old);
    free(old);
    return rc;
}

/* The tree (or single file) at subpath of commit c, exported into the directory tmp. */
static int export_at(export_ctx *x, git_commit *c, const char *sub, const char *tmp)
{
    git_tree *root = NULL, *t = NULL;
    git_tree_entry *e = NULL;
    int rc = git_commit_tree(&root, c);
    if (rc < 0)
        return fail_git(x->g, rc, x->err, "cannot read commit %s in the mirror of %s", x->sha,
                        x->g->shown);
    if (sub[0] == '\0') {
        rc = export_tree(x, root, tmp, "", 0);
        goto done;
    }
    rc = git_tree_entry_bypath(&e, root, sub);
    if (rc == GIT_ENOTFOUND) {
        rc = fail(x->err, WF_ENOTFOUND, "'%s' does not exist in commit %s of %s", sub, x->sha,
                  x->g->shown);
    } else if (rc < 0) {
        rc = fail_git(x->g, rc, x->err, "cannot find '%s' in commit %s of %s", sub, x->sha,
                      x->g->shown);
    } else if (git_tree_entry_type(e) == GIT_OBJECT_TREE) {
        if ((rc = git_tree_lookup(&t, x->g->repo, git_tree_entry_id(e))) < 0)
            rc = fail_git(x->g, rc, x->err, "cannot read '%s' at %s in the mirror of %s", sub,
                          x->sha, x->g->shown);
        else
            rc = export_tree(x, t, tmp, sub, 0);
    } else {
        /* A single file: exported under its own name, so the loader sees a one-file directory. */
        const char *base = strrchr(sub, '/');
        base = base != NULL ? base + 1 : sub;
        char *path = wf_asprintf("%s/%s", tmp, base);
        rc = git_tree_entry_filemode(e) == GIT_FILEMODE_LINK
                 ? fail(x->err, WF_EINVAL, "'%s' in commit %s of %s is a symbolic link", sub,
                        x->sha, x->g->shown)
                 : export_blob(x, e, path, sub);
        free(path);
        if (rc == 0)
            rc = fsync_path(tmp);
    }
done:
    git_tree_entry_free(e);
    git_tree_free(t);
    git_tree_free(root);
    return rc;
}

int wf_gitrepo_export(wf_gitrepo *g, const char *sha, const char *subpath, const char *dest_dir,
                      char **err)
{
    char *sub = wf_fs_subpath_normalize(subpath);
    char *parent = parent_of(dest_dir), *tmp = NULL;
    git_commit *c = NULL;
    int rc = 0;
    if (sub == NULL) {
        rc = fail(err, WF_EINVAL, "'%s' is not a relative path inside the repository %s", subpath,
                  g->shown);
        goto done;
    }
    if ((rc = lookup_commit(g, sha, &c, err)) != 0)
        goto done;
    if ((rc = wf_fs_mkdirs(parent, 0755)) != 0) {
        rc = fail(err, rc, "cannot create %s: %s", parent, wf_strerror(rc));
        goto done;
    }
    tmp = wf_asprintf("%s.tmp-XXXXXX", dest_dir);
    if (mkdtemp(tmp) == NULL) {
        rc = fail(err, uv_translate_sys_error(errno), "cannot create a directory next to %s: %s",
                  dest_dir, strerror(errno));
        free(tmp);
        tmp = NULL;
        goto done;
    }
    chmod(tmp, 0755);
    export_ctx x = {g, sha, 0, 0, err};
    if ((rc = export_at(&x, c, sub, tmp)) == 0 && (rc = swap_into_place(tmp, dest_dir, err)) == 0)
        rc = fsync_path(parent);
done:
    if (tmp != NULL)
        wf_fs_remove_tree(tmp);
    git_commit_free(c);
    free(tmp);
    free(parent);
    free(sub);
    return rc;
}

/* ---- diff ---- */

void wf_gitrepo_paths_free(char **paths, size_t n)
{
    for (size_t i = 0; paths != NULL && i < n; i++)
        free(paths[i]);
    free(paths);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct path_set {
    const char *sub; /* normalized; "" for everything */
    char **v;
    size_t n, cap;
} path_set;

static void path_add(path_set *s, const char *path)
{
    size_t l = strlen(s->sub);
    if (l > 0 && !(strncmp(path, s->sub, l) == 0 && (path[l] == '\0' || path[l] == '/')))
        return;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = wf_realloc(s->v, s->cap * sizeof(char *));
    }
    s->v[s->n++] = wf_strdup(path);
}

static int on_delta(const git_diff_delta *d, float progress, void *payload)
{
    (void)progress;
    path_set *s = payload;
    path_add(s, d->old_file.path);
    if (strcmp(d->old_file.path, d->new_file.path) != 0)
        path_add(s, d->new_file.path);
    return 0;
}

static int commit_tree(wf_gitrepo *g, const char *sha, git_tree **out, char **err)
{
    git_commit *c = NULL;
    int rc = lookup_commit(g, sha, &c, err);
    if (rc != 0)
        return rc;
    rc = git_commit_tree(out, c);
    git_commit_free(c);
    if (rc < 0)
        return fail_git(g, rc, err, "cannot read the tree of %s in the mirror of %s", sha,
                        g->shown);
    return 0;
}

int wf_gitrepo_diff_paths(wf_gitrepo *g, const char *base_sha, const char *head_sha,
                          const char *subpath, char ***paths_out, size_t *n_out, char **err)
{
    git_tree *base = NULL, *head = NULL;
    git_diff *diff = NULL;
    git_diff_options opts;
    char *sub = wf_fs_subpath_normalize(subpath);
    path_set set = {sub, NULL, 0, 0};
    int rc = 0;
    git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION);
    if (sub == NULL) {
        rc = fail(err, WF_EINVAL, "'%s' is not a relative path inside the repository %s", subpath,
                  g->shown);
        goto done;
    }
    if ((base_sha != NULL && (rc = commit_tree(g, base_sha, &base, err)) != 0) ||
        (rc = commit_tree(g, head_sha, &head, err)) != 0)
        goto done;
    /* A literal pathspec (no globbing) limits the walk to the subtree; path_add checks again. */
    char *spec[1] = {sub};
    if (sub[0] != '\0') {
        opts.pathspec.strings = spec;
        opts.pathspec.count = 1;
        opts.flags |= GIT_DIFF_DISABLE_PATHSPEC_MATCH;
    }
    rc = git_diff_tree_to_tree(&diff, g->repo, base, head, &opts);
    if (rc == 0)
        rc = git_diff_foreach(diff, on_delta, NULL, NULL, NULL, &set);
    if (rc < 0) {
        rc = fail_git(g, rc, err, "cannot diff %s..%s in the mirror of %s",
                      base_sha ? base_sha : "(empty)", head_sha, g->shown);
        goto done;
    }
    if (set.n > 0) /* qsort's base must not be NULL, even for zero items */
        qsort(set.v, set.n, sizeof(char *), cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < set.n; i++) {
        if (k > 0 && strcmp(set.v[k - 1], set.v[i]) == 0)
            free(set.v[i]);
        else
            set.v[k++] = set.v[i];
    }
    *paths_out = set.v;
    *n_out = k;
    set.v = NULL;
done:
    wf_gitrepo_paths_free(set.v, set.n);
    git_diff_free(diff);
    git_tree_free(base);
    git_tree_free(head);
    free(sub);
    return rc;
}
