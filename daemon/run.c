/* run.c - one attempt of one job: fetch and verify sources, render the build context, run the
 * build on a worker, collect the wheel on the thread pool, record it and publish the index page.
 *
 * Every step's outcome is committed to the store before the next action it allows: the attempt
 * row and its lease exist before anything starts, and the artifact row is written only once the
 * wheel sits in the artifact store. Phases that run elsewhere (downloads, the thread pool,
 * docker) hold no pointer the run cannot take back: a cancelled run detaches its downloads and
 * ends at once.
 *
 * Leases: the daemon renews the lease of every run in flight (one timer, one transaction) while
 * the run lives - for a build, while its client runs, however silent: silence is the log-idle
 * timeout's business. A run whose lease was lost (the daemon stalled past lease_seconds) is
 * stopped; whatever it produces later is refused by the store's fence, and the store requeues
 * its job like any infrastructure failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/collector.h"
#include "daemon/internal.h"
#include "daemon/planner.h"
#include "daemon/substitute.h"
#include "daemon/upstream.h"
#include "lib/channel.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/pep503.h"
#include "workers/context.h"

/* Who is to blame for a failed attempt decides what happens next. */
typedef enum {
    RUN_FAULT_BUILD = 0, /* the build's own (compiler, test, bad source): final, never retried */
    RUN_FAULT_WORKER,    /* the worker's (engine unreachable or failing, killed client): the job
                            is retried elsewhere after a backoff, the worker marked unhealthy */
    RUN_FAULT_LOCAL,     /* the daemon's side (downloads, local disk, thread pool): retried after
                            a backoff, on any worker */
} run_fault;

typedef enum {
    RUN_FETCHING = 0,
    RUN_RENDERING,
    RUN_BUILDING,
    RUN_COLLECT_WAIT,
    RUN_COLLECTING
} run_phase;

typedef struct fetch_ctx fetch_ctx;

struct wf_run {
    wf_run *next, *prev;
    wf_daemon *d;
    wf_worker *worker; /* holds a reference (wf__worker_run_started) until run_finish */
    int64_t job_id;
    int attempt;
    int forced;
    char *project; /* normalized recipe name */
    char *version, *python, *platform, *build_key;
    char *channel;  /* "" main, "pr/<N>": where the wheel is published */
    char *head_sha; /* a pull request job's head, else NULL */
    /* The run's own copy: a reload (recipes.c) may replace d->recipes. A pull request job's
     * recipe comes from its head's set, which `hold` also keeps alive until the run is freed
     * (record_artifact asks whether that head is still current). */
    wf_recipe *recipe;
    wf_pr_recipes *hold;
    run_phase phase;

    int pending;         /* fetches in flight */
    fetch_ctx *fetches;  /* their contexts, detached when the run ends first */
    char *source_path;   /* file or directory handed to the context renderer */
    char **native_paths; /* one per recipe->native, named like the upstream tarball */
    char *dir;           /* <work>/job-<id>-<attempt> */
    char *log_path;

    wf_build *build;
    int cancelled; /* a person cancelled, or shutdown (then requeue is set) */
    int requeue;
    run_fault fault;  /* whose failure error is */
    int lease_lost;   /* the store refused to renew the lease: the attempt is no longer ours */
    int lease_stop;   /* ... and the run is being stopped for it */
    int published;    /* the attempt succeeded (artifact recorded or shared) */
    char *error;      /* first failure, ends the run */
    char *cancel_why; /* why it was cancelled, when not a person's request */
    char *last_line;

    uv_work_t work_req; /* rendering, then collecting, on the thread pool */
    wf_run *collect_next;
    int render_rc;
    char *render_err;
    wf_collected collected;
    char *collect_err;
    int collect_rc;
};

struct fetch_ctx {
    fetch_ctx *next;
    wf_run *run;      /* NULL once the run ended without waiting for this download */
    int native_index; /* -1 for the package source */
    char *url;
    const wf_substitute_config *sub; /* declared for this pin but not cached, or NULL */
};

static void run_finish(wf_run *r);
static void run_render(wf_run *r);

static void run_log(wf_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void run_log(wf_run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = wf_vasprintf(fmt, ap);
    va_end(ap);
    FILE *f = fopen(r->log_path, "ae");
    if (f != NULL) {
        fprintf(f, "[wheelfarm] %s\n", msg);
        fclose(f);
    }
    free(r->last_line);
    r->last_line = msg;
}

/* Records the first failure; later ones are consequences. */
static void run_fail(wf_run *r, run_fault fault, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void run_fail(wf_run *r, run_fault fault, const char *fmt, ...)
{
    if (r->error != NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    r->error = wf_vasprintf(fmt, ap);
    va_end(ap);
    r->fault = fault;
    run_log(r, "error: %s", r->error);
}

/* The URL of a source, with {version} replaced. */
static char *expand_version(const char *url, const char *version)
{
    wf_buf b = WF_BUF_INIT;
    const char *p = url;
    const char *hit;
    while ((hit = strstr(p, "{version}")) != NULL) {
        wf_buf_add(&b, p, (size_t)(hit - p));
        wf_buf_adds(&b, version);
        p = hit + strlen("{version}");
    }
    wf_buf_adds(&b, p);
    return wf_buf_detach(&b);
}

/* Last path component of a URL without query or fragment; "source" if there is none. */
static char *url_basename(const char *url)
{
    size_t end = strcspn(url, "?#");
    const char *start = url;
    for (size_t i = 0; i < end; i++)
        if (url[i] == '/')
            start = url + i + 1;
    size_t n = (size_t)(url + end - start);
    if (n == 0 || (n == 1 && start[0] == '.') || (n == 2 && start[0] == '.' && start[1] == '.'))
        return wf_strdup("source");
    return wf_strndup(start, n);
}

/* Gives a cached object its upstream name inside the run's directory, so the build sees
 * "zstd-1.5.6.tar.gz" instead of a bare hash (tools pick the format from the name). Each
 * source gets its own subdirectory: two URLs may well end in the same "v1.0.tar.gz". */
static char *name_cached(wf_run *r, const char *cached, const char *url, const char *sub)
{
    char *base = url_basename(url);
    char *dir = wf_asprintf("%s/sources/%s", r->dir, sub);
    char *link = wf_asprintf("%s/%s", dir, base);
    free(base);
    int rc = wf_fs_mkdirs(dir, 0755);
    free(dir);
    if (rc == 0 && symlink(cached, link) == 0)
        return link;
    free(link);
    return NULL;
}

static void fetch_phase_done(wf_run *r)
{
    if (--r->pending > 0)
        return;
    if (r->error != NULL || r->cancelled)
        run_finish(r);
    else
        run_render(r);
}

static void fetch_ctx_free(wf_run *r, fetch_ctx *fc)
{
    if (r != NULL) {
        for (fetch_ctx **pp = &r->fetches; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == fc) {
                *pp = fc->next;
                break;
            }
        }
    }
    free(fc->url);
    free(fc);
}

static fetch_ctx *fetch_ctx_new(wf_run *r, const char *url, int native_index)
{
    fetch_ctx *fc = wf_calloc(1, sizeof(*fc));
    fc->run = r;
    fc->native_index = native_index;
    fc->url = wf_strdup(url);
    fc->next = r->fetches;
    r->fetches = fc;
    return fc;
}

/* A source's file is in the cache: give it its upstream name in the run's directory. */
static void source_ready(wf_run *r, const char *cached, const char *url, int native_index)
{
    char *sub = wf_strdup(native_index < 0 ? "package" : r->recipe->native[native_index].name);
    char *named = name_cached(r, cached, url, sub);
    free(sub);
    if (named == NULL)
        run_fail(r, 1, "cannot link cached source %s into %s: %s", cached, r->dir, strerror(errno));
    else if (native_index < 0)
        r->source_path = named;
    else
        r->native_paths[native_index] = named;
}

static void on_fetched(int err, const char *path, const char *sha256, const char *message,
                       void *ctx)
{
    fetch_ctx *fc = ctx;
    wf_run *r = fc->run;
    if (r == NULL) { /* the run ended while this download went on */
        fetch_ctx_free(NULL, fc);
        return;
    }
    if (err != 0 && fc->sub != NULL) {
        run_fail(r, err == UV_ECANCELED || err == WF_EHTTP ? RUN_FAULT_LOCAL : RUN_FAULT_BUILD,
                 "%s; the substitute sha256:%s declared at %s is not in the source cache "
                 "either (add its file with 'wheelfarm sources add FILE')",
                 message ? message : wf_strerror(err), fc->sub->use, fc->sub->where);
    } else if (err != 0) {
        run_fail(r, err == UV_ECANCELED || err == WF_EHTTP ? RUN_FAULT_LOCAL : RUN_FAULT_BUILD,
                 "%s", message ? message : wf_strerror(err));
    } else {
        run_log(r, "source %s verified, sha256 %s", fc->url, sha256);
        source_ready(r, path, fc->url, fc->native_index);
    }
    fetch_ctx_free(r, fc);
    fetch_phase_done(r);
}

/* Downloads url (or takes it from the cache when sha256 is there) into the cache. `sub` is the
 * substitute declared for the pin, named when the download fails. */
static void fetch_one(wf_run *r, const char *url, const char *sha256, int native_index,
                      const wf_substitute_config *sub)
{
    fetch_ctx *fc = fetch_ctx_new(r, url, native_index);
    fc->sub = sub;
    r->pending++;
    run_log(r, "fetching %s", url);
    int rc = wf_fetch_start(r->d->fetcher, url, sha256, on_fetched, fc);
    if (rc != 0) {
        run_fail(r, RUN_FAULT_BUILD, "cannot fetch %s: %s", url, wf_strerror(rc));
        fetch_ctx_free(r, fc);
        fetch_phase_done(r);
    }
}

/* A source the recipe pins: the pinned file when it is cached, else a declared substitute that
 * is cached (logged with its reason; it is part of the build key), else a download of the pin
 * (see daemon/substitute.h). */
static void fetch_pinned(wf_run *r, const char *url, const char *sha256, int native_index)
{
    const wf_substitute_config *sub = NULL;
    char *cached = NULL;
    wf_pin_origin o = wf_substitute_resolve(r->d->fetcher, r->d->cfg, sha256, &cached, &sub);
    free(cached);
    if (o != WF_PIN_SUBSTITUTED) {
        fetch_one(r, url, sha256, native_index, o == WF_PIN_DOWNLOAD ? sub : NULL);
        return;
    }
    run_log(r, "%s: using substitute sha256:%s for sha256:%s (%s: %s)",
            native_index < 0 ? "source" : r->recipe->native[native_index].name, sub->use, sha256,
            sub->where, sub->reason);
    /* Taken from the cache like any cached pin: the fetcher verifies nothing new, and the
     * callback comes on a later loop turn, as for every source. */
    fetch_one(r, url, sub->use, native_index, NULL);
}

/* The upstream project page arrived: find the sdist of our version, then fetch it. */
static void on_upstream_page(int err, long status, const char *content_type, const char *body,
                             size_t len, const char *message, void *ctx)
{
    fetch_ctx *fc = ctx;
    wf_run *r = fc->run;
    char *url = NULL, *sha = NULL;
    if (r == NULL) {
        fetch_ctx_free(NULL, fc);
        return;
    }
    if (err != 0) {
        run_fail(r, RUN_FAULT_LOCAL,
                 "upstream index page %s: %s (check upstream_index in the config)", fc->url,
                 message ? message : wf_strerror(err));
    } else if (status != 200) {
        run_fail(r, status >= 500 ? RUN_FAULT_LOCAL : RUN_FAULT_BUILD,
                 "upstream index page %s answered HTTP %ld%s", fc->url, status,
                 status == 404 ? ": the index has no such project" : "");
    } else if (wf_upstream_find_sdist(fc->url, content_type, body, len, r->project, r->version,
                                      &url, &sha) != 0) {
        run_fail(r, RUN_FAULT_BUILD, "upstream index %s has no sdist of %s %s", fc->url, r->project,
                 r->version);
    } else if (sha == NULL) {
        /* Sources are verified before use: an unhashed upstream file cannot be. */
        run_fail(r, RUN_FAULT_BUILD,
                 "upstream index %s gives no sha256 for %s; pin the source with "
                 "{url: ..., sha256: ...} in the recipe",
                 fc->url, url);
    } else if (!r->cancelled && r->error == NULL) {
        fetch_one(r, url, sha, -1, NULL);
    }
    free(url);
    free(sha);
    fetch_ctx_free(r, fc);
    fetch_phase_done(r);
}

static void fetch_upstream(wf_run *r)
{
    wf_daemon *d = r->d;
    if (d->cfg->upstream_index[0] == '\0') {
        run_fail(r, RUN_FAULT_BUILD,
                 "recipe '%s' takes its sdist from the upstream index, but none is "
                 "configured; set upstream_index in %s or WHEELFARM_UPSTREAM_INDEX",
                 r->recipe->name, d->cfg->file);
        return;
    }
    const char *base = d->cfg->upstream_index;
    size_t bl = strlen(base);
    char *page = wf_asprintf("%s%s%s/", base, (bl && base[bl - 1] == '/') ? "" : "/", r->project);
    fetch_ctx *fc = fetch_ctx_new(r, page, -1);
    free(page);
    r->pending++;
    run_log(r, "looking up %s %s on %s", r->project, r->version, fc->url);
    int err = wf_fetch_doc(d->fetcher, fc->url, WF_UPSTREAM_ACCEPT, on_upstream_page, fc);
    if (err != 0) {
        run_fail(r, RUN_FAULT_BUILD, "cannot query upstream index %s: %s", fc->url,
                 wf_strerror(err));
        fetch_ctx_free(r, fc);
        r->pending--;
    }
}

static void fetch_sources(wf_run *r)
{
    const wf_recipe *rc = r->recipe;
    r->pending = 1; /* held until every fetch is started, so none finishes the phase early */
    r->native_paths = wf_calloc(rc->n_native ? rc->n_native : 1, sizeof(char *));
    for (size_t i = 0; i < rc->n_native && r->error == NULL; i++)
        fetch_pinned(r, rc->native[i].url, rc->native[i].sha256, (int)i);
    switch (rc->source.kind) {
    case WF_SOURCE_URL: {
        char *url = expand_version(rc->source.url, r->version);
        fetch_pinned(r, url, rc->source.sha256, -1);
        free(url);
        break;
    }
    case WF_SOURCE_SDIST: fetch_upstream(r); break;
    case WF_SOURCE_PATH: r->source_path = wf_strdup(rc->source.path); break;
    }
    if (r->source_path == NULL && r->pending == 1 && r->error == NULL)
        run_fail(r, RUN_FAULT_BUILD, "recipe '%s' has no usable source", rc->name);
    fetch_phase_done(r);
}

static void on_build_line(wf_build *b, const char *line, size_t len, void *ctx)
{
    (void)b;
    wf_run *r = ctx;
    free(r->last_line);
    r->last_line = wf_strndup(line, len);
}

/* ---- collecting: one at a time, so two builds of one file never race in its directory ---- */

static void collect_start(wf_daemon *d);

static void collect_work(uv_work_t *req)
{
    wf_run *r = req->data;
    wf_collect_expect e = {r->project, r->version, r->python, r->platform};
    char *out_dir = wf_asprintf("%s/out", r->dir);
    char *root = wf_channel_root(r->d->index_root, r->channel);
    char *dest = wf_asprintf("%s/files/%s", root, r->project);
    free(root);
    r->collect_rc = wf_collect_wheel(out_dir, &e, dest, &r->collected, &r->collect_err);
    free(out_dir);
    free(dest);
}

/* Another build key produced the same file (a pure or abi3 wheel), or a forced rebuild of a
 * published key: with identical bytes the attempt succeeds and shares the artifact. */
static int share_existing(wf_run *r)
{
    wf_daemon *d = r->d;
    wf_artifact_row a = {0};
    if (wf_store_artifact_by_filename_in(d->store, r->channel, r->collected.filename, &a) != 0)
        return WF_ENOTFOUND;
    int rc = WF_EEXIST;
    if (strcmp(a.sha256, r->collected.sha256) == 0) {
        rc = wf_store_attempt_finish(d->store, r->job_id, r->attempt, WF_JOB_SUCCEEDED, NULL);
        if (rc == 0) {
            r->published = 1;
            run_log(r, "identical to the published %s (sha256 %s); nothing new to publish",
                    a.filename, a.sha256);
        }
    } else {
        run_fail(r, RUN_FAULT_BUILD,
                 "the build is not reproducible: %s is published with sha256 %s, the "
                 "new build has %s; the published file is kept",
                 a.filename, a.sha256, r->collected.sha256);
    }
    wf_artifact_row_release(&a);
    return rc;
}

/* A wheel this collect placed but no row will own is taken back out of the index. */
static void unplace(wf_run *r)
{
    if (!r->collected.placed || r->collected.path == NULL)
        return;
    char *meta = wf_asprintf("%s.metadata", r->collected.path);
    unlink(r->collected.path);
    unlink(meta);
    free(meta);
}

static void record_artifact(wf_run *r)
{
    wf_daemon *d = r->d;
    wf_artifact_row a = {0};
    /* A pull request head superseded (or closed) while this built: its wheel must not reach
     * the channel, which now belongs to the newer head. */
    wf_pr_recipes *hold = NULL;
    if (!wf_channel_is_main(r->channel) &&
        wf__channel_recipes(d, r->channel, r->head_sha, &hold) == NULL) {
        unplace(r);
        r->cancelled = 1;
        if (r->cancel_why == NULL)
            r->cancel_why = wf_strdup("the pull request's head moved on (or it closed) while "
                                      "this built; nothing was published");
        return;
    }
    wf__pr_recipes_release(hold);
    a.channel = r->channel;
    a.job_id = r->job_id;
    a.build_key = r->build_key;
    a.project = r->project;
    a.version = r->version;
    a.filename = r->collected.filename;
    a.sha256 = r->collected.sha256;
    a.size = r->collected.size;
    a.requires_python = r->collected.requires_python;
    a.metadata_sha256 = r->collected.metadata_sha256;
    a.platform_tag = r->collected.platform_tag;
    a.path = r->collected.path;
    a.created_at = wf_time_s();
    int rc = wf_store_artifact_add(d->store, r->job_id, r->attempt, &a);
    if (rc == WF_EEXIST && !r->collected.placed)
        rc = share_existing(r);
    if (rc != 0) {
        unplace(r);
        run_fail(r, rc != WF_EEXIST ? RUN_FAULT_LOCAL : RUN_FAULT_BUILD,
                 "cannot record artifact %s: %s", r->collected.filename,
                 rc == WF_EINVAL ? "the attempt's lease was lost; the wheel is discarded"
                                 : wf_strerror(rc));
        return;
    }
    if (r->published)
        return;
    r->published = 1;
    run_log(r, "published %s (sha256 %s, %lld bytes, %s)", r->collected.filename,
            r->collected.sha256, (long long)r->collected.size, r->collected.platform_tag);
    wf_log_info("job %lld: published '%s'", (long long)r->job_id, r->collected.filename);
    if (wf__publish_project_in(d, r->channel, r->project) != 0)
        wf_log_error("job %lld: index page of '%s' not regenerated", (long long)r->job_id,
                     r->project);
}

static void collect_after(uv_work_t *req, int status)
{
    wf_run *r = req->data;
    wf_daemon *d = r->d;
    d->collecting = 0;
    if (status == UV_ECANCELED)
        run_fail(r, RUN_FAULT_LOCAL, "wheel collection was cancelled");
    else if (r->collect_rc != 0)
        run_fail(r, RUN_FAULT_BUILD, "the built wheel was rejected: %s",
                 r->collect_err ? r->collect_err : wf_strerror(r->collect_rc));
    else
        record_artifact(r);
    run_finish(r);
    collect_start(d);
}

static void collect_start(wf_daemon *d)
{
    while (!d->collecting && d->collect_head != NULL) {
        wf_run *r = d->collect_head;
        d->collect_head = r->collect_next;
        if (d->collect_head == NULL)
            d->collect_tail = NULL;
        r->collect_next = NULL;
        r->phase = RUN_COLLECTING;
        r->work_req.data = r;
        int rc = uv_queue_work(d->loop, &r->work_req, collect_work, collect_after);
        if (rc == 0) {
            d->collecting = 1;
            return;
        }
        run_fail(r, RUN_FAULT_LOCAL, "cannot queue wheel collection: %s", uv_strerror(rc));
        run_finish(r);
    }
}

static void collect_enqueue(wf_run *r)
{
    wf_daemon *d = r->d;
    r->phase = RUN_COLLECT_WAIT;
    if (d->collect_tail)
        d->collect_tail->collect_next = r;
    else
        d->collect_head = r;
    d->collect_tail = r;
    collect_start(d);
}

/* ---- building ---- */

/* 1 when the upstream index is on the daemon's loopback: a build step's own 127.0.0.1 is its
 * container's, so such an index is reachable only with the host's network (a local worker). */
static int upstream_on_loopback(const char *url)
{
    const char *p = strstr(url, "://");
    if (p == NULL)
        return 0;
    p += 3;
    return strncmp(p, "127.", 4) == 0 || strncmp(p, "localhost", 9) == 0 ||
           strncmp(p, "[::1]", 5) == 0;
}

static void on_build_done(wf_build *b, int status, const char *summary, void *ctx)
{
    (void)b;
    wf_run *r = ctx;
    r->build = NULL;
    if (status == 0 && !r->cancelled) {
        run_log(r, "build finished, checking the wheel");
        collect_enqueue(r);
        return;
    }
    if (r->lease_lost) {
        /* Stopped because the lease was lost; the reason is recorded already. */
    } else if (status == WF_ECANCELED || r->cancelled) {
        r->cancelled = 1;
    } else if (status == WF_ETIMEOUT) {
        /* A stuck build is the build's own problem: running it again would hang again. */
        run_fail(r, RUN_FAULT_BUILD, "%s; raise it in the recipe if the build needs longer",
                 summary ? summary : "build timed out");
    } else {
        run_fail(r, status == WF_EINFRA ? RUN_FAULT_WORKER : RUN_FAULT_BUILD,
                 "%s%s; see 'wheelfarm logs %lld'",
                 status == WF_EINFRA ? "worker failure: " : "build failed: ",
                 summary ? summary : wf_strerror(status), (long long)r->job_id);
    }
    run_finish(r);
}

static void run_build(wf_run *r)
{
    wf_daemon *d = r->d;
    char *ctx_dir = wf_asprintf("%s/ctx", r->dir);
    char *out_dir = wf_asprintf("%s/out", r->dir);
    wf_build_options bo = {0};
    bo.client = &d->docker;
    bo.endpoint = r->worker->cfg->endpoint;
    bo.context = r->worker->cfg->context;
    bo.builder = r->worker->cfg->builder;
    bo.context_dir = ctx_dir;
    bo.platform = r->platform;
    bo.output_dir = out_dir;
    bo.log_path = r->log_path;
    bo.timeout_s = r->recipe->timeout_s;
    bo.idle_timeout_s =
        r->recipe->idle_timeout_s ? r->recipe->idle_timeout_s : d->cfg->idle_timeout_s;
    bo.network_host = upstream_on_loopback(d->cfg->upstream_index);
    const wf_worker_tls *wt = &r->worker->cfg->tls;
    wf_docker_tls tls = {wt->ca, wt->cert, wt->key};
    bo.tls = wt->ca != NULL ? &tls : NULL;
    r->phase = RUN_BUILDING;
    run_log(r, "building on worker '%s'%s", r->worker->cfg->name,
            r->worker->cfg->emulated ? " (emulated)" : "");
    int rc = wf_build_start(&r->build, d->loop, &bo, on_build_done, on_build_line, r);
    free(ctx_dir);
    free(out_dir);
    if (rc != 0) {
        r->build = NULL;
        run_fail(r, RUN_FAULT_WORKER, "cannot start docker on worker '%s': %s",
                 r->worker->cfg->name, wf_strerror(rc));
        run_finish(r);
        return;
    }
    /* The end of the scheduling path: bench/scheduling.sh measures from the CLI to this line. */
    wf_log_info("job %lld: docker client started on worker '%s' (pid %d)", (long long)r->job_id,
                r->worker->cfg->name, wf_build_pid(r->build));
}

/* ---- rendering the build context (file copies: on the thread pool) ---- */

static void render_work(uv_work_t *req)
{
    wf_run *r = req->data;
    wf_daemon *d = r->d;
    const wf_recipe *rc = r->recipe;
    const wf_image_config *img = wf_config_image(d->cfg, r->platform);
    char *ctx_dir = wf_asprintf("%s/ctx", r->dir);
    wf_context_native *nat = wf_calloc(rc->n_native ? rc->n_native : 1, sizeof(*nat));
    for (size_t i = 0; i < rc->n_native; i++) {
        nat[i].name = rc->native[i].name;
        nat[i].archive_path = r->native_paths[i];
        nat[i].build = rc->native[i].build;
    }
    wf_context_options o = {0};
    o.dir = ctx_dir;
    o.template_path = d->template_path;
    o.image = img->image;
    o.runtime_image = img->runtime;
    o.python = r->python;
    o.source_path = r->source_path;
    o.project = r->project;
    o.version = r->version;
    o.native = nat;
    o.n_native = rc->n_native;
    o.environment = rc->environment;
    o.n_environment = rc->n_environment;
    o.before_build = rc->before_build ? rc->before_build : "";
    o.repair = rc->repair ? rc->repair : "";
    o.test_command = rc->test_command ? rc->test_command : "";
    o.upstream_index = d->cfg->upstream_index;
    r->render_rc = wf_context_render(&o, &r->render_err);
    free(nat);
    free(ctx_dir);
}

static void render_after(uv_work_t *req, int status)
{
    wf_run *r = req->data;
    if (status == UV_ECANCELED)
        run_fail(r, RUN_FAULT_LOCAL, "rendering the build context was cancelled");
    else if (r->render_rc != 0)
        run_fail(r, RUN_FAULT_LOCAL, "cannot render the build context: %s",
                 r->render_err ? r->render_err : wf_strerror(r->render_rc));
    if (r->error != NULL || r->cancelled)
        run_finish(r);
    else
        run_build(r);
}

static void run_render(wf_run *r)
{
    const wf_image_config *img = wf_config_image(r->d->cfg, r->platform);
    if (img == NULL) {
        run_fail(r, RUN_FAULT_BUILD, "no builder image configured for %s", r->platform);
        run_finish(r);
        return;
    }
    run_log(r, "rendering the build context for image %s", img->image);
    r->phase = RUN_RENDERING;
    r->work_req.data = r;
    int rc = uv_queue_work(r->d->loop, &r->work_req, render_work, render_after);
    if (rc != 0) {
        run_fail(r, RUN_FAULT_LOCAL, "cannot queue context rendering: %s", uv_strerror(rc));
        run_finish(r);
    }
}

/* ---- the run's life ---- */

static void run_free(wf_run *r)
{
    if (r->native_paths != NULL)
        for (size_t i = 0; r->recipe && i < r->recipe->n_native; i++)
            free(r->native_paths[i]);
    free(r->native_paths);
    wf_recipe_free(r->recipe);
    free(r->project);
    free(r->version);
    free(r->python);
    free(r->platform);
    free(r->build_key);
    free(r->channel);
    free(r->head_sha);
    free(r->cancel_why);
    wf__pr_recipes_release(r->hold);
    free(r->source_path);
    free(r->dir);
    free(r->log_path);
    free(r->error);
    free(r->last_line);
    free(r->render_err);
    free(r->collect_err);
    wf_collected_release(&r->collected);
    free(r);
}

static wf_retry_policy retry_policy(const wf_daemon *d)
{
    wf_retry_policy p = {d->cfg->infra_retries, d->cfg->retry_backoff_s};
    return p;
}

/* Ends an unsuccessful attempt in the store: a person's cancel and the daemon's shutdown as
 * they are, a build failure for good, an infrastructure failure or a lost lease by the retry
 * policy (a backoff, another worker, a bounded number of times). Returns the store's answer;
 * *state and *why say what became of the job. */
static int record_end(wf_run *r, wf_job_state *state, const char **why)
{
    wf_daemon *d = r->d;
    wf_retry_policy p = retry_policy(d);
    const char *avoid = r->fault == RUN_FAULT_WORKER ? r->worker->cfg->name : NULL;
    int rc;
    *why = r->error;
    if (r->lease_lost) {
        rc = wf_store_lease_expire(d->store, r->job_id, r->attempt, *why, &p, state);
    } else if (r->cancelled) {
        *state = r->requeue ? WF_JOB_QUEUED : WF_JOB_CANCELLED;
        *why = r->requeue              ? "interrupted by daemon shutdown; requeued"
               : r->cancel_why != NULL ? r->cancel_why
                                       : "cancelled on request";
        rc = wf_store_attempt_finish(d->store, r->job_id, r->attempt, *state, *why);
    } else if (r->fault != RUN_FAULT_BUILD) {
        rc = wf_store_attempt_retry(d->store, r->job_id, r->attempt, *why, avoid, &p, state);
    } else {
        *state = WF_JOB_FAILED;
        rc = wf_store_attempt_finish(d->store, r->job_id, r->attempt, *state, *why);
    }
    if (rc == WF_EINVAL && !r->lease_lost) {
        /* The fence refused: the lease expired before the loop came back to renew it. */
        r->lease_lost = 1;
        if (r->error == NULL)
            run_fail(r, RUN_FAULT_LOCAL, "the attempt's lease expired before it ended");
        *why = r->error;
        rc = wf_store_lease_expire(d->store, r->job_id, r->attempt, *why, &p, state);
    }
    return rc;
}

/* Ends the attempt in the store, frees the worker slot, removes the scratch directory. */
static void run_finish(wf_run *r)
{
    wf_daemon *d = r->d;
    /* Downloads still running deliver into the cache and then find no run. */
    for (fetch_ctx *fc = r->fetches; fc != NULL; fc = fc->next)
        fc->run = NULL;
    r->fetches = NULL;
    if (!r->published) {
        const char *why = NULL;
        wf_job_state st = WF_JOB_FAILED;
        int rc = record_end(r, &st, &why);
        run_log(r, "attempt %d ended: %s", r->attempt, why ? why : wf_job_state_name(st));
        wf_job_row job = {0};
        if (rc == 0 && wf_store_job_get(d->store, r->job_id, &job) == 0) {
            /* The store refines the state (a requested cancel beats a requeue, retries run
             * out), so the log says what it decided. */
            if (job.state == WF_JOB_QUEUED && job.not_before > wf_time_s())
                run_log(r, "requeued: retry %d of %u after an infrastructure failure, in %lld s",
                        job.infra_failures, d->cfg->infra_retries,
                        (long long)(job.not_before - wf_time_s()));
            wf_log_info("job %lld: %s%s%s", (long long)r->job_id, wf_job_state_name(job.state),
                        why ? ": " : "", why ? why : "");
            wf_job_row_release(&job);
        } else if (rc != 0) {
            wf_log_error("job %lld: cannot record the end of attempt %d: %s", (long long)r->job_id,
                         r->attempt, wf_strerror(rc));
        }
        if (rc == 0 && (r->lease_lost || (r->fault == RUN_FAULT_WORKER && !r->cancelled)))
            wf__worker_failed(d, r->worker, why ? why : "infrastructure failure");
    }
    wf__worker_run_ended(r->worker); /* the worker may be gone after this */
    r->worker = NULL;
    if (r->prev)
        r->prev->next = r->next;
    else
        d->runs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    d->n_runs--;
    wf_fs_remove_tree(r->dir);
    /* A pull request head's commit status follows its jobs. */
    wf__pr_job_changed(d, r->channel);
    run_free(r);
    wf__daemon_run_ended(d);
}

/* The key is recomputed from what will really be built: if the recipe or the image changed
 * since the job was queued, recording the wheel under the old key would mislabel it. */
int wf__run_key_valid(wf_daemon *d, const wf_recipe *recipe, const wf_job_row *job)
{
    const wf_image_config *img = wf_config_image(d->cfg, job->platform);
    if (img == NULL)
        return 0;
    char key[65];
    wf_plan_build_key(recipe, d->cfg, job->version, job->python, job->platform, img->image, key);
    return strcmp(key, job->build_key) == 0;
}

int wf__run_start(wf_daemon *d, const wf_job_row *job, wf_worker *w)
{
    /* A pull request's job builds with the recipes of the head it was planned for. */
    wf_request_origin origin = {0};
    wf_pr_recipes *hold = NULL;
    const char *channel = job->channel != NULL ? job->channel : "";
    if (!wf_channel_is_main(channel))
        wf_store_request_origin(d->store, job->request_id, &origin);
    const wf_recipe_list *list = wf__channel_recipes(d, channel, origin.head_sha, &hold);
    const wf_recipe *recipe = list != NULL ? wf_recipe_list_find(list, job->recipe) : NULL;
    int attempt = 0;
    int rc = wf_store_attempt_start(d->store, job->id, w->cfg->name, w->cfg->emulated,
                                    (int64_t)d->cfg->lease_s * 1000, &attempt);
    if (rc != 0) {
        wf__pr_recipes_release(hold);
        wf_request_origin_release(&origin);
        return rc;
    }
    wf_run *r = wf_calloc(1, sizeof(*r));
    r->channel = wf_strdup(channel);
    r->head_sha = origin.head_sha;
    origin.head_sha = NULL;
    wf_request_origin_release(&origin);
    r->hold = hold;
    r->d = d;
    r->worker = w;
    r->job_id = job->id;
    r->attempt = attempt;
    r->forced = job->forced;
    r->project = wf_strdup(job->recipe);
    r->version = wf_strdup(job->version);
    r->python = wf_strdup(job->python);
    r->platform = wf_strdup(job->platform);
    r->build_key = wf_strdup(job->build_key);
    r->recipe = recipe != NULL ? wf_recipe_copy(recipe) : NULL;
    r->dir = wf_asprintf("%s/job-%lld-%d", d->work_dir, (long long)job->id, attempt);
    r->log_path = wf__daemon_log_path(d, job->id);
    wf__worker_run_started(w);
    r->next = d->runs;
    if (d->runs)
        d->runs->prev = r;
    d->runs = r;
    d->n_runs++;
    wf_fs_remove_tree(r->dir);
    wf_fs_mkdirs(r->dir, 0755);
    run_log(r, "attempt %d of job %lld: %s %s for %s on %s (worker '%s'%s)", attempt,
            (long long)job->id, job->recipe, job->version, job->python, job->platform, w->cfg->name,
            w->cfg->emulated ? ", emulated" : "");
    wf_log_info("job %lld: attempt %d started on worker '%s'", (long long)job->id, attempt,
                w->cfg->name);
    if (list == NULL) {
        /* The pull request moved to a newer head (or closed) before this job could start. */
        r->cancelled = 1;
        r->cancel_why = wf_strdup("superseded: the pull request has a newer head or is closed");
        run_finish(r);
        return 0;
    }
    if (recipe == NULL) {
        run_fail(r, RUN_FAULT_BUILD, "recipe '%s' is no longer in the recipe list", job->recipe);
        run_finish(r);
        return 0;
    }
    if (!wf__run_key_valid(d, recipe, job)) {
        run_fail(r, RUN_FAULT_BUILD,
                 "the recipe or the builder image changed since the job was queued; "
                 "request the build again");
        run_finish(r);
        return 0;
    }
    fetch_sources(r);
    return 0;
}

static wf_run *find_run(wf_daemon *d, int64_t job_id)
{
    for (wf_run *r = d->runs; r != NULL; r = r->next)
        if (r->job_id == job_id)
            return r;
    return NULL;
}

/* Stops what r is doing in its current phase, for a cancel or a lost lease (the caller has set
 * the flag that says which). */
static void run_stop(wf_run *r)
{
    switch (r->phase) {
    case RUN_FETCHING:
        /* Downloads cannot be stopped one by one; the run ends now and they finish into the
         * cache (the fetcher cancels them when it closes). */
        r->pending = 0;
        run_finish(r);
        break;
    case RUN_BUILDING:
        if (r->build != NULL)
            wf_build_cancel(r->build);
        break;
    case RUN_RENDERING:
    case RUN_COLLECT_WAIT:
    case RUN_COLLECTING:
        /* The thread pool's work ends on its own and sees the flag: a cancelled render stops, a
         * finished build is still collected, and a fenced result is refused. */
        break;
    }
}

int wf__run_cancel(wf_daemon *d, int64_t job_id, int requeue)
{
    wf_run *r = find_run(d, job_id);
    if (r == NULL)
        return 0;
    /* A person's cancel stands even when shutdown follows. */
    if (!r->cancelled)
        r->requeue = requeue;
    r->cancelled = 1;
    run_stop(r);
    return 1;
}

int wf__run_cancel_why(wf_daemon *d, int64_t job_id, const char *why)
{
    wf_run *r = find_run(d, job_id);
    if (r == NULL)
        return 0;
    if (r->cancel_why == NULL && why != NULL)
        r->cancel_why = wf_strdup(why);
    return wf__run_cancel(d, job_id, 0);
}

void wf__run_cancel_all(wf_daemon *d, int requeue)
{
    wf_run *next;
    for (wf_run *r = d->runs; r != NULL; r = next) {
        next = r->next; /* the run may end inside the cancel */
        wf__run_cancel(d, r->job_id, requeue);
    }
}

const char *wf__run_last_line(wf_daemon *d, int64_t job_id)
{
    wf_run *r = find_run(d, job_id);
    return r ? r->last_line : NULL;
}

/* ---- leases ---- */

/* The store refused to renew r's lease: stop the attempt. Its job is the store's to requeue
 * (record_end); anything the attempt still produces is fenced off. */
static void run_lose_lease(wf_run *r)
{
    r->lease_stop = 1;
    run_fail(r, RUN_FAULT_WORKER, "lease lost: not renewed within lease_seconds (%u s)",
             r->d->cfg->lease_s);
    wf_log_warn("job %lld: attempt %d lost its lease; stopping it", (long long)r->job_id,
                r->attempt);
    run_stop(r);
}

static void on_lease_tick(uv_timer_t *t)
{
    wf_daemon *d = t->data;
    int64_t lease_ms = (int64_t)d->cfg->lease_s * 1000;
    int lost = 0;
    if (d->runs == NULL)
        return;
    /* One transaction, so one disk sync renews every lease. */
    int tx = wf_store_begin(d->store) == 0;
    for (wf_run *r = d->runs; r != NULL; r = r->next) {
        if (r->lease_lost)
            continue;
        int rc = wf_store_lease_renew(d->store, r->job_id, r->attempt, lease_ms);
        if (rc == WF_EINVAL) {
            r->lease_lost = 1;
            lost++;
        }
        /* Other errors were logged by the store; the next tick tries again. */
    }
    if (tx && wf_store_commit(d->store) != 0)
        wf_log_error("daemon: the leases of %u run(s) were not renewed; retrying in %u s",
                     d->n_runs, d->cfg->lease_s / 3);
    wf_run *next;
    for (wf_run *r = d->runs; lost > 0 && r != NULL; r = next) {
        next = r->next; /* the run may end inside */
        if (r->lease_lost && !r->lease_stop)
            run_lose_lease(r);
    }
}

int wf__run_leases_start(wf_daemon *d)
{
    /* A third of the lease: two renewals may fail (a busy disk) before it is lost. */
    uint64_t period = (uint64_t)d->cfg->lease_s * 1000u / 3u;
    d->leases.data = d;
    return uv_timer_start(&d->leases, on_lease_tick, period, period);
}
