/* watch.c - the recipe watcher: inotify (uv_fs_event) on a local recipes path, debounced, then a
 * reload with a "watch" trigger (recipes.c builds what changed).
 *
 * Editors save in many ways: writing in place (modify events), writing a temporary file and
 * renaming it over the recipe (a rename event in the directory; for a watched file, its inode is
 * replaced and the old one's watch goes dead), or moving the old file away first. So the watcher
 * (1) reloads the whole set on any event that may concern a recipe file, rather than trusting
 * what the event says happened, and (2) before each reload compares the path's inode with the
 * one it watches and re-arms on the new one; a path that is gone is retried every second and
 * reloaded when it is back. The recipe loader reads one directory level (lib/recipe.c), so one
 * watch on the directory sees every file it reads.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon/internal.h"
#include "lib/log.h"

/* While the path is missing or cannot be watched, how often the watcher tries again. */
#define WATCH_RETRY_MS 1000
/* A steady stream of events delays a reload at most this many debounce periods. */
#define WATCH_MAX_DEBOUNCES 10

static void on_event(uv_fs_event_t *h, const char *filename, int events, int status);
static void on_timer(uv_timer_t *t);

/* The one place that decides whether the recipes are a local path to watch. Today `recipes` is
 * always a path; a recipe repository (`recipes: {git: ...}`) is fetched and reloaded by its
 * poller instead, and must make this return 0. */
static int watch_wanted(const wf_config *cfg)
{
    /* A recipe repository is polled (recipe_repo.c); its export is not a file to watch. */
    return cfg->recipes_git == NULL && cfg->recipes != NULL && cfg->recipes[0] != '\0';
}

void wf__watch_init(wf_daemon *d)
{
    uv_fs_event_init(d->loop, &d->watch.event);
    uv_timer_init(d->loop, &d->watch.timer);
    d->watch.event.data = d;
    d->watch.timer.data = d;
}

static void forget_names(wf_recipe_watch *w)
{
    for (size_t i = 0; i < w->n_names; i++)
        free(w->names[i]);
    w->n_names = 0;
    w->more = 0;
    w->first_event_at = 0;
}

void wf__watch_release(wf_daemon *d)
{
    forget_names(&d->watch);
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

static void note_name(wf_recipe_watch *w, const char *name)
{
    for (size_t i = 0; i < w->n_names; i++)
        if (strcmp(w->names[i], name) == 0)
            return;
    if (w->n_names < WF_WATCH_MAX_NAMES)
        w->names[w->n_names++] = wf_strdup(name);
    else
        w->more = 1;
}

static void disarm(wf_recipe_watch *w)
{
    if (uv_is_active((uv_handle_t *)&w->event))
        uv_fs_event_stop(&w->event);
    w->armed = 0;
}

/* Watches the path's current inode; 0, or an error after which the caller retries later. */
static int arm(wf_daemon *d)
{
    wf_recipe_watch *w = &d->watch;
    const char *path = d->cfg->recipes;
    struct stat st;
    if (stat(path, &st) != 0) {
        int err = uv_translate_sys_error(errno);
        disarm(w);
        return err;
    }
    if (w->armed && (uint64_t)st.st_dev == w->dev && (uint64_t)st.st_ino == w->ino)
        return 0;
    disarm(w);
    int rc = uv_fs_event_start(&w->event, on_event, path, 0);
    if (rc != 0)
        return rc;
    w->armed = 1;
    w->is_dir = S_ISDIR(st.st_mode);
    w->dev = (uint64_t)st.st_dev;
    w->ino = (uint64_t)st.st_ino;
    return 0;
}

void wf__watch_start(wf_daemon *d)
{
    if (!watch_wanted(d->cfg))
        return;
    d->watch.enabled = 1;
    int rc = arm(d);
    if (rc != 0) {
        wf_log_warn("recipes: cannot watch '%s': %s; trying again every %d ms", d->cfg->recipes,
                    wf_strerror(rc), WATCH_RETRY_MS);
        uv_timer_start(&d->watch.timer, on_timer, WATCH_RETRY_MS, 0);
        return;
    }
    wf_log_info("recipes: watching '%s' (reload %u ms after the last change)", d->cfg->recipes,
                d->cfg->watch_debounce_ms);
}

/* In a directory, only names the loader reads can change the set (editors' swap and temporary
 * files cannot), plus the directory's own name, which inotify reports when the directory itself
 * is moved or deleted. A watched file reports only its own events. */
static int concerns_recipes(const wf_daemon *d, const char *filename)
{
    if (!d->watch.is_dir || filename == NULL)
        return 1;
    return wf_recipe_file_name_valid(filename) || strcmp(filename, base_name(d->cfg->recipes)) == 0;
}

static void schedule(wf_daemon *d)
{
    wf_recipe_watch *w = &d->watch;
    uint64_t now = uv_now(d->loop);
    uint64_t delay = d->cfg->watch_debounce_ms;
    if (w->first_event_at == 0)
        w->first_event_at = now;
    uint64_t deadline = w->first_event_at + delay * WATCH_MAX_DEBOUNCES;
    if (now + delay > deadline)
        delay = deadline > now ? deadline - now : 0;
    uv_timer_start(&w->timer, on_timer, delay, 0);
}

static void on_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    wf_daemon *d = h->data;
    (void)events;
    if (d->state == WF_DAEMON_CLOSING)
        return;
    if (status < 0) {
        /* The watch is unreliable from here on: look at the path again and re-arm. */
        wf_log_warn("recipes: watching '%s' failed: %s; watching it again", d->cfg->recipes,
                    uv_strerror(status));
        disarm(&d->watch);
        note_name(&d->watch, base_name(d->cfg->recipes));
        schedule(d);
        return;
    }
    if (!concerns_recipes(d, filename))
        return;
    note_name(&d->watch, filename != NULL ? filename : base_name(d->cfg->recipes));
    schedule(d);
}

/* "recipes changed: a.yaml, b.yaml" (" and more" past WF_WATCH_MAX_NAMES names) */
static char *describe(const wf_recipe_watch *w)
{
    wf_buf b = WF_BUF_INIT;
    wf_buf_adds(&b, "recipes changed: ");
    for (size_t i = 0; i < w->n_names; i++)
        wf_buf_addf(&b, "%s%s", i ? ", " : "", w->names[i]);
    if (w->more)
        wf_buf_adds(&b, " and more");
    return wf_buf_detach(&b);
}

static void on_timer(uv_timer_t *t)
{
    wf_daemon *d = t->data;
    wf_recipe_watch *w = &d->watch;
    if (d->state == WF_DAEMON_CLOSING)
        return;
    int was_armed = w->armed;
    int rc = arm(d);
    if (rc != 0) {
        if (was_armed || w->n_names > 0)
            wf_log_warn("recipes: cannot watch '%s': %s; trying again every %d ms", d->cfg->recipes,
                        wf_strerror(rc), WATCH_RETRY_MS);
    } else if (!was_armed) {
        /* Back after being gone (or first armed late): whatever it holds now is news. */
        wf_log_info("recipes: watching '%s' again", d->cfg->recipes);
        note_name(w, base_name(d->cfg->recipes));
    }
    if (w->n_names > 0) {
        /* A missing path is reloaded too: the error is reported and the set stays. */
        char *detail = describe(w);
        forget_names(w);
        wf_trigger trig = {0};
        trig.kind = "watch";
        trig.detail = detail;
        wf__recipes_reload(d, d->cfg->recipes, &trig, NULL);
        free(detail);
    }
    if (rc != 0)
        uv_timer_start(&w->timer, on_timer, WATCH_RETRY_MS, 0);
}
