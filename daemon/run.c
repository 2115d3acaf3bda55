/* run.c - one attempt of one job: fetch and verify sources, render the build context, run the
 * build on a worker, collect the wheel on the thread pool, record it and publish the index page.
 *
 * Every step's outcome is committed to the store before the next action it allows: the attempt
 * row exists before docker starts, and the artifact row is written only once the wheel sits in
 * the artifact store. Phases that run elsewhere (downloads, the thread pool, docker) hold no
 * pointer the run cannot take back: a cancelled run detaches its downloads and ends at once.
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
#include "daemon/upstream.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/pep503.h"
#include "workers/context.h"

/* Attempts before an infrastructure failure becomes final (a build failure is final at once). */
#define RUN_MAX_ATTEMPTS 3

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
    wf_worker *worker;
    int64_t job_id;
    int attempt;
    int forced;
    char *project; /* normalized recipe name */
    char *version, *python, *platform, *build_key;
    const wf_recipe *recipe; /* borrowed from d->recipes, which outlives every run */
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
    int infra;     /* the failure was the infrastructure's, not the build's */
    int published; /* the attempt succeeded (artifact recorded or shared) */
    char *error;   /* first failure, ends the run */
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
static void run_fail(wf_run *r, int infra, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void run_fail(wf_run *r, int infra, const char *fmt, ...)
{
    if (r->error != NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    r->error = wf_vasprintf(fmt, ap);
    va_end(ap);
    r->infra = infra;
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

static void on_fetched(int err, const char *path, const char *sha256, const char *message,
                       void *ctx)
{
    fetch_ctx *fc = ctx;
    wf_run *r = fc->run;
    if (r == NULL) { /* the run ended while this download went on */
        fetch_ctx_free(NULL, fc);
        return;
    }
    if (err != 0) {
        run_fail(r, err == UV_ECANCELED || err == WF_EHTTP, "%s",
                 message ? message : wf_strerror(err));
    } else {
        run_log(r, "source %s verified, sha256 %s", fc->url, sha256);
        char *sub = fc->native_index < 0 ? wf_strdup("package")
                                         : wf_strdup(r->recipe->native[fc->native_index].name);
        char *named = name_cached(r, path, fc->url, sub);
        free(sub);
        if (named == NULL)
            run_fail(r, 1, "cannot link cached source %s into %s: %s", path, r->dir,
                     strerror(errno));
        else if (fc->native_index < 0)
            r->source_path = named;
        else
            r->native_paths[fc->native_index] = named;
    }
    fetch_ctx_free(r, fc);
    fetch_phase_done(r);
}

static void fetch_one(wf_run *r, const char *url, const char *sha256, int native_index)
{
    fetch_ctx *fc = fetch_ctx_new(r, url, native_index);
    r->pending++;
    run_log(r, "fetching %s", url);
    int rc = wf_fetch_start(r->d->fetcher, url, sha256, on_fetched, fc);
    if (rc != 0) {
        run_fail(r, 0, "cannot fetch %s: %s", url, wf_strerror(rc));
        fetch_ctx_free(r, fc);
        fetch_phase_done(r);
    }
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
        run_fail(r, 1, "upstream index page %s: %s (check upstream_index in the config)", fc->url,
                 message ? message : wf_strerror(err));
    } else if (status != 200) {
        run_fail(r, status >= 500, "upstream index page %s answered HTTP %ld%s", fc->url, status,
                 status == 404 ? ": the index has no such project" : "");
    } else if (wf_upstream_find_sdist(fc->url, content_type, body, len, r->project, r->version,
                                      &url, &sha) != 0) {
        run_fail(r, 0, "upstream index %s has no sdist of %s %s", fc->url, r->project, r->version);
    } else if (sha == NULL) {
        /* Sources are verified before use: an unhashed upstream file cannot be. */
        run_fail(r, 0,
                 "upstream index %s gives no sha256 for %s; pin the source with "
                 "{url: ..., sha256: ...} in the recipe",
                 fc->url, url);
    } else if (!r->cancelled && r->error == NULL) {
        fetch_one(r, url, sha, -1);
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
        run_fail(r, 0,
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
        run_fail(r, 0, "cannot query upstream index %s: %s", fc->url, wf_strerror(err));
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
        fetch_one(r, rc->native[i].url, rc->native[i].sha256, (int)i);
    switch (rc->source.kind) {
    case WF_SOURCE_URL: {
        char *url = expand_version(rc->source.url, r->version);
        fetch_one(r, url, rc->source.sha256, -1);
        free(url);
        break;
    }
    case WF_SOURCE_SDIST: fetch_upstream(r); break;
    case WF_SOURCE_PATH: r->source_path = wf_strdup(rc->source.path); break;
    }
    if (r->source_path == NULL && r->pending == 1 && r->error == NULL)
        run_fail(r, 0, "recipe '%s' has no usable source", rc->name);
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
    char *dest = wf_asprintf("%s/files/%s", r->d->index_root, r->project);
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
    if (wf_store_artifact_by_filename(d->store, r->collected.filename, &a) != 0)
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
        run_fail(r, 0,
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
        run_fail(r, rc != WF_EEXIST, "cannot record artifact %s: %s", r->collected.filename,
                 wf_strerror(rc));
        return;
    }
    if (r->published)
        return;
    r->published = 1;
    run_log(r, "published %s (sha256 %s, %lld bytes, %s)", r->collected.filename,
            r->collected.sha256, (long long)r->collected.size, r->collected.platform_tag);
    wf_log_info("job %lld: published '%s'", (long long)r->job_id, r->collected.filename);
    if (wf__publish_project(d, r->project) != 0)
        wf_log_error("job %lld: index page of '%s' not regenerated", (long long)r->job_id,
                     r->project);
}

static void collect_after(uv_work_t *req, int status)
{
    wf_run *r = req->data;
    wf_daemon *d = r->d;
    d->collecting = 0;
    if (status == UV_ECANCELED)
        run_fail(r, 1, "wheel collection was cancelled");
    else if (r->collect_rc != 0)
        run_fail(r, 0, "the built wheel was rejected: %s",
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
        run_fail(r, 1, "cannot queue wheel collection: %s", uv_strerror(rc));
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
    if (status == WF_ECANCELED || r->cancelled) {
        r->cancelled = 1;
    } else if (status == WF_ETIMEOUT) {
        run_fail(r, 0, "build timed out after %u s (raise 'timeout' in the recipe)",
                 r->recipe->timeout_s);
    } else {
        run_fail(r, status == WF_EINFRA, "%s%s; see 'wheelfarm logs %lld'",
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
    bo.builder = r->worker->cfg->builder;
    bo.context_dir = ctx_dir;
    bo.platform = r->platform;
    bo.output_dir = out_dir;
    bo.log_path = r->log_path;
    bo.timeout_s = r->recipe->timeout_s;
    bo.network_host = upstream_on_loopback(d->cfg->upstream_index);
    r->phase = RUN_BUILDING;
    run_log(r, "building on worker '%s'%s", r->worker->cfg->name,
            r->worker->cfg->emulated ? " (emulated)" : "");
    int rc = wf_build_start(&r->build, d->loop, &bo, on_build_done, on_build_line, r);
    free(ctx_dir);
    free(out_dir);
    if (rc != 0) {
        r->build = NULL;
        run_fail(r, 1, "cannot start docker on worker '%s': %s", r->worker->cfg->name,
                 wf_strerror(rc));
        run_finish(r);
    }
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
        run_fail(r, 1, "rendering the build context was cancelled");
    else if (r->render_rc != 0)
        run_fail(r, 1, "cannot render the build context: %s",
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
        run_fail(r, 0, "no builder image configured for %s", r->platform);
        run_finish(r);
        return;
    }
    run_log(r, "rendering the build context for image %s", img->image);
    r->phase = RUN_RENDERING;
    r->work_req.data = r;
    int rc = uv_queue_work(r->d->loop, &r->work_req, render_work, render_after);
    if (rc != 0) {
        run_fail(r, 1, "cannot queue context rendering: %s", uv_strerror(rc));
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
    free(r->project);
    free(r->version);
    free(r->python);
    free(r->platform);
    free(r->build_key);
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

/* The state an unsuccessful attempt leaves its job in, and why. */
static wf_job_state end_state(const wf_run *r, const char **why)
{
    *why = r->error;
    if (r->cancelled && r->requeue) {
        *why = "interrupted by daemon shutdown; requeued";
        return WF_JOB_QUEUED;
    }
    if (r->cancelled) {
        *why = "cancelled on request";
        return WF_JOB_CANCELLED;
    }
    /* The infrastructure failed, not the build: another attempt may well succeed. */
    if (r->infra && r->attempt < RUN_MAX_ATTEMPTS)
        return WF_JOB_QUEUED;
    return WF_JOB_FAILED;
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
        wf_job_state st = end_state(r, &why);
        run_log(r, "attempt %d ended: %s", r->attempt, why ? why : wf_job_state_name(st));
        int rc = wf_store_attempt_finish(d->store, r->job_id, r->attempt, st, why);
        wf_job_row job = {0};
        if (rc == 0 && wf_store_job_get(d->store, r->job_id, &job) == 0) {
            /* The store may refine the state (a requested cancel beats a requeue). */
            wf_log_info("job %lld: %s%s%s", (long long)r->job_id, wf_job_state_name(job.state),
                        why ? ": " : "", why ? why : "");
            wf_job_row_release(&job);
        } else if (rc != 0) {
            wf_log_error("job %lld: cannot record the end of attempt %d: %s", (long long)r->job_id,
                         r->attempt, wf_strerror(rc));
        }
    }
    r->worker->busy--;
    if (r->prev)
        r->prev->next = r->next;
    else
        d->runs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    d->n_runs--;
    wf_fs_remove_tree(r->dir);
    run_free(r);
    wf__daemon_run_ended(d);
}

/* The key is recomputed from what will really be built: if the recipe or the image changed
 * since the job was queued, recording the wheel under the old key would mislabel it. */
static int key_still_valid(wf_daemon *d, const wf_recipe *recipe, const wf_job_row *job)
{
    const wf_image_config *img = wf_config_image(d->cfg, job->platform);
    if (img == NULL)
        return 0;
    char key[65];
    wf_plan_build_key(recipe, job->version, job->python, job->platform, img->image, key);
    return strcmp(key, job->build_key) == 0;
}

int wf__run_start(wf_daemon *d, const wf_job_row *job, wf_worker *w)
{
    const wf_recipe *recipe = wf_recipe_list_find(d->recipes, job->recipe);
    int attempt = 0;
    int rc = wf_store_attempt_start(d->store, job->id, w->cfg->name, w->cfg->emulated, &attempt);
    if (rc != 0)
        return rc;
    wf_run *r = wf_calloc(1, sizeof(*r));
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
    r->recipe = recipe;
    r->dir = wf_asprintf("%s/job-%lld-%d", d->work_dir, (long long)job->id, attempt);
    r->log_path = wf__daemon_log_path(d, job->id);
    w->busy++;
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
    if (recipe == NULL) {
        run_fail(r, 0, "recipe '%s' is no longer in the recipe list", job->recipe);
        run_finish(r);
        return 0;
    }
    if (!key_still_valid(d, recipe, job)) {
        run_fail(r, 0,
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

int wf__run_cancel(wf_daemon *d, int64_t job_id, int requeue)
{
    wf_run *r = find_run(d, job_id);
    if (r == NULL)
        return 0;
    /* A person's cancel stands even when shutdown follows. */
    if (!r->cancelled)
        r->requeue = requeue;
    r->cancelled = 1;
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
        /* Rendering ends on its own and sees the flag; a finished build is still collected. */
        break;
    }
    return 1;
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
