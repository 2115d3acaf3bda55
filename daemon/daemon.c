/* daemon.c - wheelfarmd's lifecycle: load, start listening, recover, reload on SIGHUP, drain on
 * SIGTERM, close. */
#include "daemon/daemon.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/bump.h"
#include "daemon/internal.h"
#include "daemon/recipe_repo.h"
#include "daemon/token.h"
#include "lib/configdiff.h"
#include "lib/fsutil.h"
#include "lib/log.h"

char *wf__daemon_log_path(wf_daemon *d, int64_t job_id)
{
    return wf_asprintf("%s/job-%lld.log", d->logs_dir, (long long)job_id);
}

/* The job template lives in the source tree (development) or next to the installed data. */
static char *find_template(void)
{
    const char *env = getenv("WHEELFARM_DATA_DIR");
    char *p;
    if (env != NULL && env[0] != '\0') {
        p = wf_asprintf("%s/dockerfiles/job.Dockerfile.in", env);
        if (access(p, R_OK) == 0)
            return p;
        free(p);
    }
    p = wf_strdup(WF_SOURCE_ROOT "/dockerfiles/job.Dockerfile.in");
    if (access(p, R_OK) == 0)
        return p;
    free(p);
    return NULL;
}

/* The first load: a broken recipe list at start-up stops the daemon (there is no last good set
 * to keep), with every problem in the message. */
static int load_recipes(wf_daemon *d, char **errmsg)
{
    /* A recipe repository starts with the set of the commit in force at the last stop, or an
     * empty one until its first poll. */
    if (d->cfg->recipes_git != NULL) {
        d->recipes = wf_calloc(1, sizeof(*d->recipes));
        return wf__recipe_repo_new(&d->recipe_repo, d, errmsg);
    }
    if (wf__recipes_reload(d, d->cfg->recipes, NULL, NULL) != 0) {
        *errmsg = wf_asprintf("the recipe list %s is invalid:\n%s", d->cfg->recipes,
                              d->recipe_errors ? d->recipe_errors : "(no details)");
        return WF_ECONFIG;
    }
    return 0;
}

int wf_daemon_new(wf_daemon **out, uv_loop_t *loop, wf_config *cfg, char **errmsg)
{
    wf_daemon *d = wf_calloc(1, sizeof(*d));
    d->loop = loop;
    d->cfg = cfg;
    int rc = 0;
    char *db = NULL;
    const char *st = cfg->state_dir;
    d->index_root = wf_asprintf("%s/index", st);
    d->logs_dir = wf_asprintf("%s/logs", st);
    d->work_dir = wf_asprintf("%s/work", st);
    char *cache = wf_asprintf("%s/cache", st);
    const char *dirs[] = {st, d->index_root, d->logs_dir, d->work_dir, cache};
    for (size_t i = 0; i < WF_ARRAY_SIZE(dirs); i++) {
        if ((rc = wf_fs_mkdirs(dirs[i], 0755)) != 0) {
            *errmsg = wf_asprintf("cannot create state directory %s: %s (check state_dir in %s)",
                                  dirs[i], wf_strerror(rc), cfg->file);
            goto fail;
        }
    }
    d->template_path = find_template();
    if (d->template_path == NULL) {
        *errmsg = wf_strdup("cannot find dockerfiles/job.Dockerfile.in; set WHEELFARM_DATA_DIR "
                            "to the directory that holds dockerfiles/");
        rc = WF_ECONFIG;
        goto fail;
    }
    if ((rc = load_recipes(d, errmsg)) != 0)
        goto fail;
    if ((rc = wf_docker_detect(&d->docker, cfg->docker, errmsg)) != 0)
        goto fail;
    if ((rc = wf_token_load(cfg->api_token_file, &d->token, errmsg)) != 0)
        goto fail;
    db = wf_asprintf("%s/wheelfarm.db", st);
    if ((rc = wf_store_open(&d->store, db)) != 0) {
        *errmsg = wf_asprintf("cannot open the state database %s: %s", db, wf_strerror(rc));
        goto fail;
    }
    wf__prs_new(d);
    if ((rc = wf_fetcher_new(&d->fetcher, loop, cache)) != 0) {
        *errmsg = wf_asprintf("cannot start the source fetcher: %s", wf_strerror(rc));
        goto fail;
    }
    d->fetcher_open = 1;
    free(cache);
    free(db);
    *out = d;
    return 0;
fail:
    free(cache);
    free(db);
    wf_daemon_free(d);
    return rc;
}

static void close_all(wf_daemon *d);

static void on_handle_closed(uv_handle_t *h)
{
    wf_daemon *d = h->data;
    d->open_handles--;
}

static void on_httpd_closed(void *ctx)
{
    wf_daemon *d = ctx;
    d->httpd = NULL;
    d->httpd_open = 0;
}

static void on_bump_closed(wf_daemon *d)
{
    d->bump = NULL;
    d->bump_open = 0;
}

static void on_fetcher_closed(void *ctx)
{
    wf_daemon *d = ctx;
    d->fetcher = NULL;
    d->fetcher_open = 0;
}

static void on_recipe_repo_closed(void *ctx)
{
    wf_daemon *d = ctx;
    d->recipe_repo = NULL;
}

/* Closes every handle the daemon owns; the loop ends once their callbacks ran. */
static void close_all(wf_daemon *d)
{
    if (d->state == WF_DAEMON_CLOSING)
        return;
    d->state = WF_DAEMON_CLOSING;
    wf_log_info("daemon: closing");
    uv_handle_t *hs[] = {(uv_handle_t *)&d->sigterm,     (uv_handle_t *)&d->sigint,
                         (uv_handle_t *)&d->sighup,      (uv_handle_t *)&d->kick,
                         (uv_handle_t *)&d->drain,       (uv_handle_t *)&d->watch.event,
                         (uv_handle_t *)&d->watch.timer, (uv_handle_t *)&d->leases};
    for (size_t i = 0; d->open_handles > 0 && i < WF_ARRAY_SIZE(hs); i++) {
        if (!uv_is_closing(hs[i])) {
            hs[i]->data = d;
            uv_close(hs[i], on_handle_closed);
        }
    }
    wf__workers_close(d);
    if (d->httpd != NULL)
        wf_httpd_close(d->httpd, on_httpd_closed, d);
    /* Before the fetcher: its cancelled page fetches must find the bump run closing. */
    if (d->bump != NULL)
        wf__bump_close(d->bump, on_bump_closed);
    if (d->fetcher != NULL)
        wf_fetcher_close(d->fetcher, on_fetcher_closed, d);
    if (d->recipe_repo != NULL)
        wf__recipe_repo_close(d->recipe_repo, on_recipe_repo_closed, d);
}

void wf__daemon_run_ended(wf_daemon *d)
{
    if (d->state == WF_DAEMON_DRAINING && d->n_runs == 0)
        close_all(d);
    else
        wf__sched_kick(d);
}

static void on_drain_deadline(uv_timer_t *t)
{
    wf_daemon *d = t->data;
    wf_log_warn("daemon: %u build(s) still running at the shutdown deadline; cancelling and "
                "requeueing them",
                d->n_runs);
    wf__run_cancel_all(d, 1);
}

void wf_daemon_shutdown(wf_daemon *d)
{
    if (d->state != WF_DAEMON_RUNNING) {
        if (d->state == WF_DAEMON_DRAINING) {
            /* A second signal: stop waiting. */
            wf_log_warn("daemon: second shutdown request; cancelling running builds now");
            wf__run_cancel_all(d, 1);
        }
        return;
    }
    d->state = WF_DAEMON_DRAINING;
    uv_timer_stop(&d->kick);
    if (d->n_runs == 0) {
        close_all(d);
        return;
    }
    wf_log_info("daemon: draining, %u build(s) running; they get %u s before they are cancelled",
                d->n_runs, d->cfg->shutdown_grace_s);
    d->drain.data = d;
    uv_timer_start(&d->drain, on_drain_deadline, (uint64_t)d->cfg->shutdown_grace_s * 1000u, 0);
}

static void on_signal(uv_signal_t *s, int signum)
{
    wf_daemon *d = s->data;
    if (signum == SIGHUP) {
        wf_log_info("daemon: received SIGHUP; reloading %s", d->cfg->file);
        wf__daemon_reload(d);
        return;
    }
    wf_log_info("daemon: received %s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    wf_daemon_shutdown(d);
}

static int init_handles(wf_daemon *d)
{
    uv_signal_init(d->loop, &d->sigterm);
    uv_signal_init(d->loop, &d->sigint);
    uv_signal_init(d->loop, &d->sighup);
    uv_timer_init(d->loop, &d->kick);
    uv_timer_init(d->loop, &d->drain);
    wf__watch_init(d);
    uv_timer_init(d->loop, &d->leases);
    d->open_handles = 8;
    d->sigterm.data = d->sigint.data = d->sighup.data = d;
    int rc = uv_signal_start(&d->sigterm, on_signal, SIGTERM);
    if (rc == 0)
        rc = uv_signal_start(&d->sigint, on_signal, SIGINT);
    if (rc == 0)
        rc = uv_signal_start(&d->sighup, on_signal, SIGHUP);
    return rc;
}

/* Logs every problem of a configuration that failed to load, one file:line:column line each. */
static void log_diags(const wf_diag_list *diags)
{
    for (size_t i = 0; i < diags->n; i++) {
        char *line = wf_diag_format(&diags->items[i]);
        wf_log_error("reload: %s", line);
        free(line);
    }
}

/* The settings that may change at runtime, taken over from `next`. */
static void apply_live_settings(wf_daemon *d, wf_config *next, wf_buf *log)
{
    wf_log_level lvl;
    if (strcmp(d->cfg->log_level, next->log_level) != 0 &&
        wf_log_parse_level(next->log_level, &lvl) == 0) {
        wf_log_set_level(lvl);
        char *tmp = d->cfg->log_level;
        d->cfg->log_level = next->log_level;
        next->log_level = tmp;
        wf_buf_addf(log, "; log_level %s", d->cfg->log_level);
    }
    if (d->cfg->shutdown_grace_s != next->shutdown_grace_s) {
        d->cfg->shutdown_grace_s = next->shutdown_grace_s;
        wf_buf_addf(log, "; shutdown_grace %u s", d->cfg->shutdown_grace_s);
    }
    /* The worker table copied what it needs; d->cfg->workers now says what is configured. */
    wf_worker_config *tw = d->cfg->workers;
    size_t tn = d->cfg->n_workers;
    d->cfg->workers = next->workers;
    d->cfg->n_workers = next->n_workers;
    next->workers = tw;
    next->n_workers = tn;
}

void wf__daemon_reload(wf_daemon *d)
{
    wf_diag_list diags = {NULL, 0};
    wf_config *next = NULL;
    char *err = NULL, *restart = NULL;
    wf_buf log = WF_BUF_INIT;
    if (d->state != WF_DAEMON_RUNNING) {
        wf_log_warn("reload: ignored, the daemon is shutting down");
        return;
    }
    if (strcmp(d->cfg->file, "<defaults>") == 0) {
        wf_log_warn("reload: the daemon runs on its embedded defaults; start it with --config "
                    "FILE to change workers at runtime");
        return;
    }
    if (wf_config_load(&next, d->cfg->file, &diags) != 0) {
        log_diags(&diags);
        wf_log_error("reload: %s is invalid; the configuration in force is unchanged",
                     d->cfg->file);
        goto done;
    }
    wf_config_apply_environment(next);
    if (wf_config_check_worker_images(d->cfg, next, &err) != 0) {
        wf_log_error("reload: %s: %s; the configuration in force is unchanged", d->cfg->file, err);
        goto done;
    }
    restart = wf_config_restart_keys(d->cfg, next);
    if (restart != NULL)
        wf_log_warn("reload: %s changed in %s but needs a restart; the values in force stay "
                    "until then",
                    restart, d->cfg->file);
    wf__workers_reload(d, next, &log);
    apply_live_settings(d, next, &log);
    wf_log_info("reload: %s applied%s", d->cfg->file, log.len > 0 ? log.ptr : "; no changes");
done:
    wf_buf_release(&log);
    wf_diag_list_release(&diags);
    wf_config_free(next);
    free(err);
    free(restart);
}

int wf_daemon_start(wf_daemon *d, char **errmsg)
{
    int rc = init_handles(d);
    if (rc != 0) {
        *errmsg = wf_asprintf("cannot install signal handlers: %s", uv_strerror(rc));
        return rc;
    }
    wf_httpd_options o = {0};
    o.socket_path = d->cfg->socket_path[0] ? d->cfg->socket_path : NULL;
    o.tcp_addr = d->cfg->http_addr;
    o.token = d->token;
    o.index_root = d->index_root;
    o.max_body = 1 << 20;
    if (d->cfg->webhooks != NULL) {
        o.hooks_cb = wf__hooks_handle;
        o.hooks_max_body = d->cfg->webhooks->max_body;
    }
    rc = wf_httpd_start(&d->httpd, d->loop, &o, wf__api_handle, d);
    if (rc != 0) {
        *errmsg = wf_asprintf("cannot listen on %s%s%s: %s (is another wheelfarmd running? "
                              "change listen in %s)",
                              o.socket_path ? o.socket_path : "",
                              o.socket_path && o.tcp_addr && o.tcp_addr[0] ? " and " : "",
                              o.tcp_addr ? o.tcp_addr : "", wf_strerror(rc), d->cfg->file);
        return rc;
    }
    d->httpd_open = 1;
    int requeued = 0;
    if ((rc = wf_store_recover(d->store, &requeued)) != 0) {
        *errmsg = wf_asprintf("cannot recover interrupted jobs: %s", wf_strerror(rc));
        return rc;
    }
    if (requeued > 0)
        wf_log_info("daemon: requeued %d job(s) interrupted by the last stop", requeued);
    /* Scratch directories of attempts that ended with the last daemon are of no use now. */
    if (wf_fs_remove_tree(d->work_dir) != 0 || wf_fs_mkdirs(d->work_dir, 0755) != 0)
        wf_log_warn("daemon: cannot clean the work directory %s", d->work_dir);
    if ((rc = wf__run_leases_start(d)) != 0) {
        *errmsg = wf_asprintf("cannot start the lease timer: %s", uv_strerror(rc));
        return rc;
    }
    wf__publish_all(d);
    wf__workers_start(d);
    wf__watch_start(d);
    if (d->recipe_repo != NULL && (rc = wf__recipe_repo_start(d->recipe_repo)) != 0) {
        *errmsg = wf_asprintf("cannot start polling the recipe repository: %s", uv_strerror(rc));
        return rc;
    }
    if ((rc = wf__bump_init(d)) != 0) {
        *errmsg = wf_asprintf("cannot set up version bumps: %s", wf_strerror(rc));
        return rc;
    }
    wf__prs_start(d);
    for (size_t i = 0; i < d->cfg->n_substitutes; i++) {
        const wf_substitute_config *s = &d->cfg->substitutes[i];
        wf_log_info("daemon: substitute (%s): sha256:%s may stand in for sha256:%s when that is "
                    "not in the source cache: %s",
                    s->where, s->use, s->pinned, s->reason);
    }
    wf_log_info("daemon: listening on %s%s%s (port %d); %zu recipe(s), %zu worker(s), docker "
                "client %s (%s)",
                o.socket_path ? o.socket_path : "-", o.tcp_addr && o.tcp_addr[0] ? " and " : "",
                o.tcp_addr ? o.tcp_addr : "", wf_httpd_tcp_port(d->httpd), d->recipes->n,
                d->n_workers, d->docker.path,
                d->docker.mode == WF_DOCKER_BUILDX ? "buildx" : "BuildKit");
    wf__sched_kick(d);
    return 0;
}

void wf_daemon_free(wf_daemon *d)
{
    if (d == NULL)
        return;
    /* Handles must be closed by now (the loop ran to its end); a failed start closes them. */
    if (d->open_handles > 0 || d->httpd_open || d->fetcher_open || d->recipe_repo != NULL ||
        d->bump_open || d->workers_live > 0) {
        close_all(d);
        uv_run(d->loop, UV_RUN_DEFAULT);
    }
    wf__prs_free(d);
    wf_store_close(d->store);
    wf__recipes_release(d);
    wf__watch_release(d);
    wf_docker_client_release(&d->docker);
    wf_config_free(d->cfg);
    wf__workers_free(d);
    free(d->index_root);
    free(d->logs_dir);
    free(d->work_dir);
    free(d->template_path);
    wf_token_free(d->token);
    free(d);
}
