/* daemon_fixture.c - an in-process daemon on a private loop for unit tests (see
 * daemon_fixture.h). */
#include "daemon_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/fsutil.h"
#include "lib/wf.h"
#include "workers/docker.h"

int daemon_dirs_init(daemon_dirs *dirs, const char *name)
{
    memset(dirs, 0, sizeof(*dirs));
    snprintf(dirs->root, sizeof(dirs->root), "/tmp/wf-test-%s-XXXXXX", name);
    if (mkdtemp(dirs->root) == NULL)
        return -1;
    dirs->state_dir = wf_asprintf("%s/state", dirs->root);
    dirs->recipes_dir = wf_asprintf("%s/recipes", dirs->root);
    dirs->sock = wf_asprintf("%s/api.sock", dirs->root);
    dirs->config_file = wf_asprintf("%s/wheelfarmd.yaml", dirs->root);
    return wf_fs_mkdirs(dirs->recipes_dir, 0755) == 0 ? 0 : -1;
}

int daemon_dirs_release(daemon_dirs *dirs)
{
    int rc = dirs->root[0] != '\0' ? wf_fs_remove_tree(dirs->root) : 0;
    free(dirs->state_dir);
    free(dirs->recipes_dir);
    free(dirs->sock);
    free(dirs->config_file);
    memset(dirs, 0, sizeof(*dirs));
    return rc;
}

int daemon_fixture_have_docker(const char *who)
{
    wf_docker_client dc = {0};
    char *why = NULL;
    if (wf_docker_detect(&dc, "", &why) != 0) {
        printf("SKIP: %s needs a docker client binary: %s\n", who, why ? why : "not found");
        free(why);
        return 0;
    }
    wf_docker_client_release(&dc);
    return 1;
}

/* stdout, not stderr: some tests send stderr (the daemon's log) to a file they read. */
static void print_diags(wf_diag_list *diags)
{
    for (size_t i = 0; i < diags->n; i++) {
        char *line = wf_diag_format(&diags->items[i]);
        printf("%s\n", line);
        free(line);
    }
    wf_diag_list_release(diags);
}

wf_config *daemon_fixture_parse_config(const char *file, const char *yaml)
{
    wf_config *c = NULL;
    wf_diag_list diags = {NULL, 0};
    int rc = wf_config_parse(&c, file, yaml, strlen(yaml), &diags);
    print_diags(&diags);
    assert_int_equal(rc, 0);
    return c;
}

wf_config *daemon_fixture_load_config(const char *file)
{
    wf_config *c = NULL;
    wf_diag_list diags = {NULL, 0};
    int rc = wf_config_load(&c, file, &diags);
    print_diags(&diags);
    assert_int_equal(rc, 0);
    return c;
}

wf_daemon *daemon_fixture_new(uv_loop_t *loop, wf_config *cfg)
{
    assert_int_equal(uv_loop_init(loop), 0);
    wf_daemon *d = NULL;
    char *err = NULL;
    int rc = wf_daemon_new(&d, loop, cfg, &err);
    if (rc != 0)
        fail_msg("wf_daemon_new: %s", err ? err : wf_strerror(rc));
    return d;
}

void daemon_fixture_start(wf_daemon *d)
{
    char *err = NULL;
    int rc = wf_daemon_start(d, &err);
    if (rc != 0)
        fail_msg("wf_daemon_start: %s", err ? err : wf_strerror(rc));
}

wf_daemon *daemon_fixture_up(uv_loop_t *loop, wf_config *cfg)
{
    wf_daemon *d = daemon_fixture_new(loop, cfg);
    daemon_fixture_start(d);
    return d;
}

/* One client run: the thread, and the async handle by which it says it is done. */
typedef struct client_run {
    uv_async_t done;
    wf_daemon *d;
    void (*client)(void *ctx);
    void *ctx;
    int shutdowns; /* on_client_done calls: exactly one */
} client_run;

static void on_client_done(uv_async_t *a)
{
    client_run *run = a->data;
    uv_close((uv_handle_t *)a, NULL);
    run->shutdowns++;
    wf_daemon_shutdown(run->d);
}

static void *client_main(void *arg)
{
    client_run *run = arg;
    run->client(run->ctx);
    uv_async_send(&run->done);
    return NULL;
}

void daemon_fixture_run_client(uv_loop_t *loop, wf_daemon *d, void (*client)(void *ctx), void *ctx)
{
    /* On the stack: the loop only ends once the handle's close has completed. */
    client_run run = {.d = d, .client = client, .ctx = ctx};
    assert_int_equal(uv_async_init(loop, &run.done, on_client_done), 0);
    run.done.data = &run;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, client_main, &run), 0);
    uv_run(loop, UV_RUN_DEFAULT);
    pthread_join(th, NULL);
    assert_int_equal(run.shutdowns, 1);
}

void daemon_fixture_stop(uv_loop_t *loop, wf_daemon **d)
{
    wf_daemon_shutdown(*d);
    uv_run(loop, UV_RUN_DEFAULT);
    daemon_fixture_close(loop, d);
}

static void on_left_open(uv_handle_t *handle, void *arg)
{
    (void)arg;
    fprintf(stderr, "left open: handle type %s (closing %d)\n", uv_handle_type_name(handle->type),
            uv_is_closing(handle));
}

void daemon_fixture_close(uv_loop_t *loop, wf_daemon **d)
{
    wf_daemon_free(*d);
    *d = NULL;
    int rc = uv_loop_close(loop);
    if (rc != 0)
        uv_walk(loop, on_left_open, NULL);
    assert_int_equal(rc, 0);
}
