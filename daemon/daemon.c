/* daemon.c - wheelfarmd's lifecycle: load, start listening, recover, drain on SIGTERM, close. */
#include "daemon/daemon.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/internal.h"
#include "daemon/token.h"
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

static char *join_diags(const wf_diag_list *diags)
{
    wf_buf b = WF_BUF_INIT;
    for (size_t i = 0; i < diags->n; i++) {
        char *line = wf_diag_format(&diags->items[i]);
        if (i)
            wf_buf_adds(&b, "\n");
        wf_buf_adds(&b, line);
        free(line);
    }
    return wf_buf_detach(&b);
}

static int load_recipes(wf_daemon *d, char **errmsg)
{
    wf_diag_list diags = {NULL, 0};
    wf_recipe_list *list = NULL;
    int rc = wf_recipe_load_path(&list, d->cfg->recipes, &diags);
    if (rc != 0) {
        char *all = join_diags(&diags);
        *errmsg = wf_asprintf("the recipe list %s is invalid:\n%s", d->cfg->recipes, all);
        free(all);
        wf_diag_list_release(&diags);
        return WF_ECONFIG;
    }
    wf_diag_list_release(&diags);
    d->recipes = list;
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
    d->n_workers = cfg->n_workers;
    d->workers = wf_calloc(cfg->n_workers ? cfg->n_workers : 1, sizeof(*d->workers));
    for (size_t i = 0; i < cfg->n_workers; i++)
        d->workers[i].cfg = &cfg->workers[i];
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

static void on_fetcher_closed(void *ctx)
{
    wf_daemon *d = ctx;
    d->fetcher = NULL;
    d->fetcher_open = 0;
}

/* Closes every handle the daemon owns; the loop ends once their callbacks ran. */
static void close_all(wf_daemon *d)
{
    if (d->state == WF_DAEMON_CLOSING)
        return;
    d->state = WF_DAEMON_CLOSING;
    wf_log_info("daemon: closing");
    uv_handle_t *hs[] = {(uv_handle_t *)&d->sigterm, (uv_handle_t *)&d->sigint,
                         (uv_handle_t *)&d->kick, (uv_handle_t *)&d->drain};
    for (size_t i = 0; d->open_handles > 0 && i < WF_ARRAY_SIZE(hs); i++) {
        if (!uv_is_closing(hs[i])) {
            hs[i]->data = d;
            uv_close(hs[i], on_handle_closed);
        }
    }
    if (d->httpd != NULL)
        wf_httpd_close(d->httpd, on_httpd_closed, d);
    if (d->fetcher != NULL)
        wf_fetcher_close(d->fetcher, on_fetcher_closed, d);
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
    wf_log_info("daemon: received %s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    wf_daemon_shutdown(d);
}

static int init_handles(wf_daemon *d)
{
    uv_signal_init(d->loop, &d->sigterm);
    uv_signal_init(d->loop, &d->sigint);
    uv_timer_init(d->loop, &d->kick);
    uv_timer_init(d->loop, &d->drain);
    d->open_handles = 4;
    d->sigterm.data = d->sigint.data = d;
    int rc = uv_signal_start(&d->sigterm, on_signal, SIGTERM);
    if (rc == 0)
        rc = uv_signal_start(&d->sigint, on_signal, SIGINT);
    return rc;
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
    wf__publish_all(d);
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
    if (d->open_handles > 0 || d->httpd_open || d->fetcher_open) {
        close_all(d);
        uv_run(d->loop, UV_RUN_DEFAULT);
    }
    wf_store_close(d->store);
    wf_recipe_list_free(d->recipes);
    free(d->recipe_errors);
    wf_docker_client_release(&d->docker);
    wf_config_free(d->cfg);
    free(d->workers);
    free(d->index_root);
    free(d->logs_dir);
    free(d->work_dir);
    free(d->template_path);
    wf_token_free(d->token);
    free(d);
}
