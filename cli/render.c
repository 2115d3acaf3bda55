/* render.c - formats durations, tables, job lines and error messages for the terminal; pure. */
#include "render.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/args.h"
#include "lib/wf.h"

#define CELL_MAX_COLS 60

const char *wf_cli_render_duration(char *buf, size_t n, int64_t secs)
{
    if (secs < 0)
        secs = 0;
    if (secs < 60)
        snprintf(buf, n, "%" PRId64 "s", secs);
    else if (secs < 3600)
        snprintf(buf, n, "%" PRId64 "m%02" PRId64 "s", secs / 60, secs % 60);
    else if (secs < 86400)
        snprintf(buf, n, "%" PRId64 "h%02" PRId64 "m", secs / 3600, secs % 3600 / 60);
    else
        snprintf(buf, n, "%" PRId64 "d%02" PRId64 "h", secs / 86400, secs % 86400 / 3600);
    return buf;
}

const char *wf_cli_render_age(char *buf, size_t n, int64_t secs)
{
    if (secs < 0)
        secs = 0;
    if (secs < 60)
        snprintf(buf, n, "%" PRId64 "s", secs);
    else if (secs < 3600)
        snprintf(buf, n, "%" PRId64 "m", secs / 60);
    else if (secs < 86400)
        snprintf(buf, n, "%" PRId64 "h", secs / 3600);
    else
        snprintf(buf, n, "%" PRId64 "d", secs / 86400);
    return buf;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is not valid. */
static size_t utf8_len(const unsigned char *s)
{
    size_t n;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4;
    else
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

/* Skips the escape sequence starting at s[0] == ESC; returns the bytes it spans. */
static size_t skip_escape(const char *s)
{
    size_t i = 1;
    if (s[i] == '[') { /* CSI: parameters, then one final byte in 0x40..0x7e */
        for (i++; s[i] != '\0' && !(s[i] >= 0x40 && s[i] <= 0x7e); i++)
            ;
        return s[i] != '\0' ? i + 1 : i;
    }
    if (s[i] == ']') { /* OSC: up to BEL or ESC \ */
        for (i++; s[i] != '\0' && s[i] != '\a' && !(s[i] == 0x1b && s[i + 1] == '\\'); i++)
            ;
        if (s[i] == '\a')
            return i + 1;
        return s[i] != '\0' ? i + 2 : i;
    }
    return s[i] != '\0' ? 2 : 1;
}

size_t wf_cli_render_width(const char *s)
{
    size_t cols = 0;
    for (; *s != '\0'; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            cols++;
    return cols;
}

/* Cuts clean UTF-8 text to max_cols columns, the last one being "…". */
static void cut(wf_buf *b, size_t max_cols)
{
    size_t cols = 0, i = 0;
    while (i < b->len && cols < max_cols - 1) {
        i++;
        while (i < b->len && ((unsigned char)b->ptr[i] & 0xc0) == 0x80)
            i++;
        cols++;
    }
    b->len = i;
    b->ptr[i] = '\0';
    wf_buf_adds(b, "\xe2\x80\xa6");
}

char *wf_cli_render_clean(const char *s, size_t max_cols)
{
    wf_buf b = WF_BUF_INIT;
    wf_buf_add(&b, "", 0);
    if (s == NULL)
        s = "";
    for (size_t i = 0; s[i] != '\0';) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0x1b) {
            i += skip_escape(s + i);
        } else if (c == '\r') {
            if (s[i + 1] != '\0' && s[i + 1] != '\n')
                wf_buf_reset(&b);
            i++;
        } else if (c == '\n') {
            /* A multi-line message stays on its line; a final newline is dropped. */
            if (s[i + 1] != '\0')
                wf_buf_add(&b, " ", 1);
            i++;
        } else if (c == '\t') {
            wf_buf_add(&b, " ", 1);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            i++;
        } else {
            size_t n = utf8_len((const unsigned char *)s + i);
            wf_buf_add(&b, n > 0 ? s + i : "?", n > 0 ? n : 1);
            i += n > 0 ? n : 1;
        }
    }
    if (max_cols > 0 && wf_cli_render_width(b.ptr) > max_cols)
        cut(&b, max_cols);
    return wf_buf_detach(&b);
}

struct wf_cli_table {
    size_t ncols;
    size_t nrows; /* including the header */
    char **cells; /* nrows * ncols */
};

wf_cli_table *wf_cli_table_new(size_t ncols, const char *const *headers)
{
    wf_cli_table *t = wf_calloc(1, sizeof(*t));
    t->ncols = ncols;
    wf_cli_table_add(t, headers);
    return t;
}

void wf_cli_table_add(wf_cli_table *t, const char *const *cells)
{
    t->cells = wf_realloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(char *));
    for (size_t i = 0; i < t->ncols; i++)
        t->cells[t->nrows * t->ncols + i] =
            wf_cli_render_clean(cells[i] != NULL ? cells[i] : "-", CELL_MAX_COLS);
    t->nrows++;
}

char *wf_cli_table_render(const wf_cli_table *t)
{
    size_t *w = wf_calloc(t->ncols, sizeof(*w));
    wf_buf b = WF_BUF_INIT;
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t cw = wf_cli_render_width(t->cells[r * t->ncols + c]);
            w[c] = cw > w[c] ? cw : w[c];
        }
    wf_buf_add(&b, "", 0);
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *cell = t->cells[r * t->ncols + c];
            wf_buf_adds(&b, cell);
            if (c + 1 < t->ncols)
                wf_buf_addf(&b, "%*s", (int)(w[c] - wf_cli_render_width(cell) + 2), "");
        }
        while (b.len > 0 && b.ptr[b.len - 1] == ' ')
            b.ptr[--b.len] = '\0';
        wf_buf_adds(&b, "\n");
    }
    free(w);
    return wf_buf_detach(&b);
}

void wf_cli_table_free(wf_cli_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int64_t jint(const cJSON *o, const char *key, int64_t def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : def;
}

static const char *jstr_or(const cJSON *o, const char *key, const char *def)
{
    const char *s = jstr(o, key);
    return s != NULL ? s : def;
}

/* The value when it is an array, else NULL (which iterates as empty). */
static const cJSON *as_array(const cJSON *v)
{
    return cJSON_IsArray(v) ? v : NULL;
}

/* "a,b,c" from an array of strings. */
static char *join(const cJSON *arr)
{
    wf_buf b = WF_BUF_INIT;
    const cJSON *v;
    wf_buf_add(&b, "", 0);
    cJSON_ArrayForEach(v, arr)
    {
        if (cJSON_IsString(v))
            wf_buf_addf(&b, "%s%s", b.len > 0 ? "," : "", v->valuestring);
    }
    return wf_buf_detach(&b);
}

char *wf_cli_render_job_head(const cJSON *job)
{
    return wf_asprintf("#%" PRId64 " %s==%s %s %s", jint(job, "id", 0), jstr_or(job, "recipe", "?"),
                       jstr_or(job, "version", "?"), jstr_or(job, "python", "?"),
                       jstr_or(job, "platform", "?"));
}

/* Seconds the job has been in its current phase (queued: waiting, else: building). */
static int64_t job_elapsed(const cJSON *job, int64_t now)
{
    const char *state = jstr_or(job, "state", "");
    int64_t created = jint(job, "created_at", now);
    int64_t started = jint(job, "started_at", -1);
    int64_t finished = jint(job, "finished_at", -1);
    if (strcmp(state, "queued") == 0 || started < 0)
        return (finished >= 0 ? finished : now) - created;
    return (finished >= 0 ? finished : now) - started;
}

static bool job_finished(const char *state)
{
    return strcmp(state, "succeeded") == 0 || strcmp(state, "failed") == 0 ||
           strcmp(state, "cancelled") == 0;
}

static const char *job_detail(const cJSON *job)
{
    const char *state = jstr_or(job, "state", "");
    const cJSON *artifact = cJSON_GetObjectItemCaseSensitive(job, "artifact");
    if (strcmp(state, "queued") == 0)
        return jstr(job, "wait_reason");
    if (strcmp(state, "running") == 0)
        return jstr(job, "last_log_line");
    if (strcmp(state, "succeeded") == 0)
        return jstr(artifact, "filename");
    return jstr(job, "error");
}

char *wf_cli_render_live_line(const cJSON *job, int64_t now, size_t head_pad, size_t width)
{
    char dur[32];
    char *head = wf_cli_render_job_head(job);
    size_t hw = wf_cli_render_width(head);
    const char *detail = job_detail(job);
    char *raw = wf_asprintf("%s%*s  %-9s %6s%s%s", head, (int)(head_pad > hw ? head_pad - hw : 0),
                            "", jstr_or(job, "state", "?"),
                            wf_cli_render_duration(dur, sizeof(dur), job_elapsed(job, now)),
                            detail != NULL ? "  " : "", detail != NULL ? detail : "");
    char *line = wf_cli_render_clean(raw, width);
    free(raw);
    free(head);
    return line;
}

char *wf_cli_render_state_line(const cJSON *job, int64_t now)
{
    char dur[32];
    char *head = wf_cli_render_job_head(job);
    const char *state = jstr_or(job, "state", "?");
    const char *detail = job_detail(job);
    const char *worker = jstr(job, "worker");
    char *raw;
    wf_cli_render_duration(dur, sizeof(dur), job_elapsed(job, now));
    if (strcmp(state, "queued") == 0)
        raw = wf_asprintf("%s: queued%s%s%s", head, detail ? " (" : "", detail ? detail : "",
                          detail ? ")" : "");
    else if (strcmp(state, "running") == 0)
        raw = wf_asprintf("%s: running on %s", head, worker != NULL ? worker : "?");
    else if (job_finished(state))
        raw = wf_asprintf("%s: %s after %s%s%s", head, state, dur, detail ? ": " : "",
                          detail ? detail : "");
    else
        raw = wf_asprintf("%s: %s", head, state);
    char *line = wf_cli_render_clean(raw, 0);
    free(raw);
    free(head);
    return line;
}

static char *render_table_and_free(wf_cli_table *t)
{
    char *s = wf_cli_table_render(t);
    wf_cli_table_free(t);
    return s;
}

char *wf_cli_render_jobs(const cJSON *jobs, int64_t now)
{
    static const char *const h[] = {"ID",     "STATE",    "RECIPE", "VERSION",
                                    "PYTHON", "PLATFORM", "WORKER", "AGE"};
    wf_cli_table *t = wf_cli_table_new(WF_ARRAY_SIZE(h), h);
    const cJSON *j;
    cJSON_ArrayForEach(j, as_array(jobs))
    {
        char id[32], age[32];
        snprintf(id, sizeof(id), "%" PRId64, jint(j, "id", 0));
        wf_cli_render_age(age, sizeof(age), now - jint(j, "created_at", now));
        const char *row[] = {id,
                             jstr(j, "state"),
                             jstr(j, "recipe"),
                             jstr(j, "version"),
                             jstr(j, "python"),
                             jstr(j, "platform"),
                             jstr(j, "worker"),
                             age};
        wf_cli_table_add(t, row);
    }
    return render_table_and_free(t);
}

char *wf_cli_render_created(const cJSON *jobs)
{
    static const char *const h[] = {"ID", "RECIPE", "PYTHON", "PLATFORM", "STATE"};
    wf_cli_table *t = wf_cli_table_new(WF_ARRAY_SIZE(h), h);
    const cJSON *j;
    cJSON_ArrayForEach(j, as_array(jobs))
    {
        char id[32];
        snprintf(id, sizeof(id), "%" PRId64, jint(j, "id", 0));
        char *rv = wf_asprintf("%s==%s", jstr_or(j, "recipe", "?"), jstr_or(j, "version", "?"));
        const char *row[] = {id, rv, jstr(j, "python"), jstr(j, "platform"), jstr(j, "state")};
        wf_cli_table_add(t, row);
        free(rv);
    }
    return render_table_and_free(t);
}

char *wf_cli_render_skipped(const cJSON *skipped)
{
    wf_buf b = WF_BUF_INIT;
    const cJSON *s;
    wf_buf_add(&b, "", 0);
    cJSON_ArrayForEach(s, as_array(skipped))
    {
        char *reason = wf_cli_render_clean(jstr_or(s, "reason", "no reason given"), 0);
        wf_buf_addf(&b, "skipped %s==%s %s %s: %s\n", jstr_or(s, "recipe", "?"),
                    jstr_or(s, "version", "?"), jstr_or(s, "python", "?"),
                    jstr_or(s, "platform", "?"), reason);
        free(reason);
    }
    return wf_buf_detach(&b);
}

/* How a worker is reached: its endpoint, "context NAME" or "builder NAME"; NULL when it uses
 * the client's default engine. Heap. */
static char *worker_target(const cJSON *w)
{
    if (jstr(w, "context") != NULL)
        return wf_asprintf("context %s", jstr(w, "context"));
    if (jstr(w, "builder") != NULL)
        return wf_asprintf("builder %s%s%s", jstr(w, "builder"), jstr(w, "endpoint") ? " at " : "",
                           jstr_or(w, "endpoint", ""));
    return jstr(w, "endpoint") != NULL ? wf_strdup(jstr(w, "endpoint")) : NULL;
}

char *wf_cli_render_workers(const cJSON *workers, int64_t now)
{
    static const char *const h[] = {"NAME",  "DRIVER", "PLATFORMS", "SLOTS",
                                    "STATE", "SINCE",  "TARGET",    "LABELS"};
    wf_cli_table *t = wf_cli_table_new(WF_ARRAY_SIZE(h), h);
    wf_buf why = WF_BUF_INIT;
    const cJSON *w;
    cJSON_ArrayForEach(w, as_array(workers))
    {
        char slots[64], age[32];
        snprintf(slots, sizeof(slots), "%" PRId64 "/%" PRId64, jint(w, "busy", 0),
                 jint(w, "slots", 0));
        int64_t since = jint(w, "since", 0);
        char *plat = join(cJSON_GetObjectItemCaseSensitive(w, "platforms"));
        bool emu = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(w, "emulated"));
        char *plat_label = wf_asprintf("%s%s", plat, emu ? " (emulated)" : "");
        char *labels = join(cJSON_GetObjectItemCaseSensitive(w, "labels"));
        char *target = worker_target(w);
        const char *row[] = {
            jstr(w, "name"),  jstr(w, "driver"),
            plat_label,       slots,
            jstr(w, "state"), since > 0 ? wf_cli_render_age(age, sizeof(age), now - since) : NULL,
            target,           labels[0] != '\0' ? labels : NULL};
        wf_cli_table_add(t, row);
        /* Reasons are long (a client's error line): whole, under the table. */
        if (jstr(w, "reason") != NULL) {
            char *name = wf_cli_render_clean(jstr_or(w, "name", "?"), 0);
            char *reason = wf_cli_render_clean(jstr(w, "reason"), 0);
            wf_buf_addf(&why, "%s: %s\n", name, reason);
            free(name);
            free(reason);
        }
        free(target);
        free(labels);
        free(plat_label);
        free(plat);
    }
    char *table = render_table_and_free(t);
    if (why.len == 0)
        return table;
    char *out = wf_asprintf("%s\n%s", table, why.ptr);
    free(table);
    wf_buf_release(&why);
    return out;
}

char *wf_cli_render_drained(const cJSON *worker)
{
    const char *name = jstr_or(worker, "name", "?");
    const char *state = jstr_or(worker, "state", "?");
    int64_t busy = jint(worker, "busy", 0);
    bool drained = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(worker, "drained"));
    char *clean = wf_cli_render_clean(name, 0);
    char *out;
    if (drained && busy > 0)
        out = wf_asprintf("worker '%s' is draining: its %" PRId64
                          " running build(s) finish, it takes no new jobs\n",
                          clean, busy);
    else if (drained)
        out = wf_asprintf("worker '%s' is drained: it takes no new jobs\n", clean);
    else if (strcmp(state, "healthy") == 0)
        out = wf_asprintf("worker '%s' takes jobs again\n", clean);
    else {
        char *why = wf_cli_render_clean(jstr_or(worker, "reason", state), 0);
        out = wf_asprintf("worker '%s' is undrained; it takes jobs once it is healthy (now %s: "
                          "%s)\n",
                          clean, state, why);
        free(why);
    }
    free(clean);
    return out;
}

char *wf_cli_render_repository(const cJSON *repo, int64_t now)
{
    if (!cJSON_IsObject(repo))
        return NULL;
    char age[32] = "never";
    int64_t at = jint(repo, "polled_at", -1);
    if (at >= 0)
        wf_cli_render_age(age, sizeof(age), now - at);
    char *line = wf_asprintf("recipes from branch %s of %s (path %s): commit %.12s, polled %s%s\n",
                             jstr_or(repo, "branch", "?"), jstr_or(repo, "git", "?"),
                             jstr_or(repo, "path", "."), jstr_or(repo, "commit", "none yet"), age,
                             at >= 0 ? " ago" : "");
    char *clean = wf_cli_render_clean(line, 0);
    free(line);
    wf_buf b = WF_BUF_INIT;
    wf_buf_adds(&b, clean);
    wf_buf_adds(&b, "\n");
    free(clean);
    return wf_buf_detach(&b);
}

char *wf_cli_render_recipes(const cJSON *recipes)
{
    static const char *const h[] = {"NAME", "VERSIONS", "PYTHON", "PLATFORMS", "SOURCE", "FILE"};
    wf_cli_table *t = wf_cli_table_new(WF_ARRAY_SIZE(h), h);
    const cJSON *r;
    cJSON_ArrayForEach(r, as_array(recipes))
    {
        char *versions = join(cJSON_GetObjectItemCaseSensitive(r, "versions"));
        const char *track = jstr(cJSON_GetObjectItemCaseSensitive(r, "track"), "specifier");
        if (track != NULL) {
            char *with = wf_asprintf("%s%strack %s", versions, versions[0] ? " + " : "",
                                     track[0] ? track : "(any)");
            free(versions);
            versions = with;
        }
        char *python = join(cJSON_GetObjectItemCaseSensitive(r, "python"));
        char *plat = join(cJSON_GetObjectItemCaseSensitive(r, "platforms"));
        char *file = jstr(r, "file") != NULL
                         ? wf_asprintf("%s:%" PRId64, jstr(r, "file"), jint(r, "line", 0))
                         : NULL;
        const char *row[] = {jstr(r, "name"), versions, python, plat, jstr(r, "source"), file};
        wf_cli_table_add(t, row);
        free(versions);
        free(python);
        free(plat);
        free(file);
    }
    return render_table_and_free(t);
}

/* One "file:line:column: message" line per problem of an errors or warnings array. */
static void add_problems(wf_buf *b, const cJSON *list)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, as_array(list))
    {
        const char *text = cJSON_IsString(e) ? e->valuestring : jstr(e, "text");
        char *line = wf_cli_render_clean(text != NULL ? text : "?", 0);
        wf_buf_addf(b, "  %s\n", line);
        free(line);
    }
}

char *wf_cli_render_recipe_problems(const cJSON *root, int64_t now)
{
    wf_buf b = WF_BUF_INIT;
    const cJSON *errors = cJSON_GetObjectItemCaseSensitive(root, "errors");
    const cJSON *warnings = cJSON_GetObjectItemCaseSensitive(root, "warnings");
    if (cJSON_GetArraySize(errors) > 0) {
        int64_t at = jint(root, "loaded_at", 0);
        char age[32];
        char *src = wf_cli_render_clean(jstr(root, "source") ? jstr(root, "source") : "-", 0);
        wf_buf_addf(&b,
                    "errors in the daemon's recipe files; the set loaded from %s %s ago stays "
                    "in force until they are fixed:\n",
                    src, wf_cli_render_age(age, sizeof(age), at > 0 ? now - at : 0));
        free(src);
        add_problems(&b, errors);
    }
    if (cJSON_GetArraySize(warnings) > 0) {
        wf_buf_adds(&b, "recipes that cannot be built with this daemon's images:\n");
        add_problems(&b, warnings);
    }
    return wf_buf_detach(&b);
}

/* "2023-11-14 22:13:20 UTC (5m ago)", or "-" when the time is absent. */
static void add_time(wf_buf *b, const char *label, const cJSON *o, const char *key, int64_t now)
{
    int64_t ts = jint(o, key, -1);
    char when[64] = "-", age[32];
    struct tm tm;
    time_t t = (time_t)ts;
    if (ts >= 0 && gmtime_r(&t, &tm) != NULL &&
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm) > 0)
        wf_buf_addf(b, "%-13s%s (%s ago)\n", label, when,
                    wf_cli_render_age(age, sizeof(age), now - ts));
    else
        wf_buf_addf(b, "%-13s-\n", label);
}

static void add_field(wf_buf *b, const char *label, const char *value)
{
    char *v = wf_cli_render_clean(value != NULL ? value : "-", 0);
    wf_buf_addf(b, "%-13s%s\n", label, v);
    free(v);
}

static void add_attempts(wf_buf *b, const cJSON *attempts, int64_t now)
{
    const cJSON *a;
    if (cJSON_GetArraySize(attempts) == 0) {
        wf_buf_addf(b, "%-13s-\n", "attempts:");
        return;
    }
    wf_buf_adds(b, "attempts:\n");
    cJSON_ArrayForEach(a, attempts)
    {
        char dur[32];
        int64_t start = jint(a, "started_at", -1), end = jint(a, "finished_at", -1);
        char *err = wf_cli_render_clean(jstr_or(a, "error", ""), 0);
        wf_buf_addf(b, "  #%" PRId64 " %s %s %s%s%s\n", jint(a, "n", 0), jstr_or(a, "worker", "?"),
                    jstr_or(a, "state", "?"),
                    start >= 0
                        ? wf_cli_render_duration(dur, sizeof(dur), (end >= 0 ? end : now) - start)
                        : "-",
                    err[0] ? ": " : "", err);
        free(err);
    }
}

/* One line for the request's trigger record: "cli by alice", "pr #12 at 1a2b3c4d5e6f (refs/...)",
 * "bump to 1.1", "commit 1a2b3c4d5e6f on main", then ": detail" when there is one. */
static char *trigger_line(const cJSON *t)
{
    if (!cJSON_IsObject(t))
        return NULL;
    wf_buf b = WF_BUF_INIT;
    const char *kind = jstr_or(t, "kind", "?");
    const char *user = jstr(t, "user"), *commit = jstr(t, "commit"), *ref = jstr(t, "ref");
    const char *head = jstr(t, "head_sha"), *upv = jstr(t, "upstream_version");
    const char *detail = jstr(t, "detail");
    int64_t pr = jint(t, "pr", 0);
    wf_buf_adds(&b, kind);
    if (user != NULL)
        wf_buf_addf(&b, " by %s", user);
    if (pr > 0)
        wf_buf_addf(&b, " #%" PRId64, pr);
    if (head != NULL)
        wf_buf_addf(&b, " head %.12s", head);
    else if (commit != NULL)
        wf_buf_addf(&b, " commit %.12s", commit);
    if (ref != NULL)
        wf_buf_addf(&b, " on %s", ref);
    if (upv != NULL)
        wf_buf_addf(&b, " to %s", upv);
    if (detail != NULL)
        wf_buf_addf(&b, ": %s", detail);
    char *line = wf_buf_detach(&b);
    char *clean = wf_cli_render_clean(line, 0);
    free(line);
    return clean;
}

char *wf_cli_render_job(const cJSON *job, int64_t now)
{
    wf_buf b = WF_BUF_INIT;
    char num[64], dur[32];
    const cJSON *art = cJSON_GetObjectItemCaseSensitive(job, "artifact");
    bool emu = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(job, "emulated"));
    char *worker = wf_asprintf("%s%s", jstr_or(job, "worker", "-"), emu ? " (emulated)" : "");

    wf_buf_addf(&b, "job %" PRId64 "\n", jint(job, "id", 0));
    add_field(&b, "state:", jstr(job, "state"));
    add_field(&b, "recipe:", jstr(job, "recipe"));
    add_field(&b, "version:", jstr(job, "version"));
    add_field(&b, "python:", jstr(job, "python"));
    add_field(&b, "platform:", jstr(job, "platform"));
    add_field(&b, "worker:", worker);
    snprintf(num, sizeof(num), "%" PRId64, jint(job, "request", 0));
    add_field(&b, "request:", num);
    char *trig = trigger_line(cJSON_GetObjectItemCaseSensitive(job, "trigger"));
    add_field(&b, "trigger:", trig);
    free(trig);
    add_field(&b, "forced:",
              cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(job, "forced")) ? "yes" : "no");
    add_field(&b, "build key:", jstr(job, "build_key"));
    add_time(&b, "created:", job, "created_at", now);
    add_time(&b, "started:", job, "started_at", now);
    add_time(&b, "finished:", job, "finished_at", now);
    if (jint(job, "started_at", -1) >= 0)
        add_field(&b, "duration:", wf_cli_render_duration(dur, sizeof(dur), job_elapsed(job, now)));
    add_field(&b, "wait reason:", jstr(job, "wait_reason"));
    add_field(&b, "error:", jstr(job, "error"));
    if (jint(job, "retry_of", 0) > 0) {
        snprintf(num, sizeof(num), "job %" PRId64, jint(job, "retry_of", 0));
        add_field(&b, "retry of:", num);
    }
    if (jint(job, "infra_failures", 0) > 0) {
        snprintf(num, sizeof(num), "%" PRId64 " (retried with a backoff)",
                 jint(job, "infra_failures", 0));
        add_field(&b, "infra fails:", num);
    }
    const cJSON *lease = cJSON_GetObjectItemCaseSensitive(job, "lease");
    if (cJSON_IsObject(lease)) {
        char *text = wf_asprintf(
            "attempt %" PRId64 " on %s, expires in %s", jint(lease, "attempt", 0),
            jstr_or(lease, "worker", "?"),
            wf_cli_render_duration(dur, sizeof(dur), jint(lease, "expires_at", now) - now));
        add_field(&b, "lease:", text);
        free(text);
    }
    add_field(&b, "last log:", jstr(job, "last_log_line"));
    add_field(&b, "artifact:", jstr(art, "filename"));
    if (cJSON_IsObject(art)) {
        snprintf(num, sizeof(num), "%" PRId64 " bytes", jint(art, "size", 0));
        /* The platform tag auditwheel settled on (manylinux_2_X_<arch>), as recorded. */
        add_field(&b, "  platform:", jstr(art, "platform_tag"));
        add_field(&b, "  sha256:", jstr(art, "sha256"));
        add_field(&b, "  size:", num);
        add_field(&b, "  url:", jstr(art, "url"));
    }
    /* Declared substitutes in the build key (the log says whether each was used). */
    const cJSON *sub;
    cJSON_ArrayForEach(sub, cJSON_GetObjectItemCaseSensitive(job, "substitutes"))
    {
        char *t = wf_asprintf("%s: sha256:%s for sha256:%s (%s: %s)", jstr_or(sub, "source", "?"),
                              jstr_or(sub, "use", "?"), jstr_or(sub, "for", "?"),
                              jstr_or(sub, "declared_at", "?"), jstr_or(sub, "reason", ""));
        add_field(&b, "substitute:", t);
        free(t);
    }
    add_attempts(&b, cJSON_GetObjectItemCaseSensitive(job, "attempts"), now);
    free(worker);
    return wf_buf_detach(&b);
}

static const char *status_text(long status)
{
    switch (status) {
    case 400: return "bad request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not found";
    case 409: return "conflict";
    case 413: return "request too large";
    case 500: return "internal error";
    case 503: return "unavailable";
    default: return status >= 500 ? "server error" : "request refused";
    }
}

char *wf_cli_render_http_error(long status, const char *body, size_t len, bool tcp, int *exit_code)
{
    cJSON *root = cJSON_ParseWithLength(body != NULL ? body : "", len);
    const char *error = jstr(root, "error");
    const char *hint = jstr(root, "hint");
    char *err_clean = NULL, *hint_clean = NULL, *msg;

    if (error == NULL && len > 0 && body != NULL && root == NULL) {
        /* Not our JSON (a proxy's page?): show the start of it. */
        char *raw = wf_strndup(body, len < 200 ? len : 200);
        err_clean = wf_cli_render_clean(raw, 120);
        free(raw);
    } else {
        err_clean = wf_cli_render_clean(error != NULL ? error : status_text(status), 0);
    }
    if (status == 401)
        hint_clean = wf_strdup(tcp ? "set WHEELFARM_TOKEN to the daemon's API token (its "
                                     "api_token_file, or <state_dir>/api-token)"
                                   : "the daemon refused a local request; check its "
                                     "listen.socket settings");
    else if (hint != NULL)
        hint_clean = wf_cli_render_clean(hint, 0);
    msg = wf_asprintf("%s (HTTP %ld %s)%s%s", err_clean, status, status_text(status),
                      hint_clean != NULL ? "\nhint: " : "", hint_clean != NULL ? hint_clean : "");
    *exit_code = status >= 400 && status < 500 ? 2 : 1;
    free(err_clean);
    free(hint_clean);
    cJSON_Delete(root);
    return msg;
}

char *wf_cli_render_unreachable(const char *where, const char *origin, bool is_socket,
                                const char *error)
{
    const char *why;
    if (strcmp(origin, "default") != 0)
        why = "";
    else if (is_socket)
        why = " (the default socket)";
    else
        why = " (the default, as there is no socket at " WF_CLI_DEFAULT_SOCKET ")";
    return wf_asprintf("cannot reach the daemon at %s%s%s%s%s: %s\n"
                       "hint: is wheelfarmd running? Point wheelfarm at it with --socket PATH "
                       "or --url URL (or set WHEELFARM_SOCKET or WHEELFARM_URL)",
                       where, why, strcmp(origin, "default") != 0 ? " (from " : "",
                       strcmp(origin, "default") != 0 ? origin : "",
                       strcmp(origin, "default") != 0 ? ")" : "",
                       error != NULL && error[0] != '\0' ? error : "no answer");
}

/* ---- bump runs ---- */

/* What a recipe's outcome means, for people. Heap string. */
static char *bump_outcome(const cJSON *rec, int64_t max_builds)
{
    const char *o = jstr_or(rec, "outcome", "?");
    int64_t jobs = jint(rec, "jobs", 0);
    if (strcmp(o, "queued") == 0)
        return wf_asprintf("queued: request %" PRId64 ", %" PRId64 " job%s",
                           jint(rec, "request", 0), jobs, jobs == 1 ? "" : "s");
    if (strcmp(o, "would-build") == 0)
        return wf_strdup("would build");
    if (strcmp(o, "built") == 0)
        return wf_strdup("up to date");
    if (strcmp(o, "active") == 0)
        return wf_strdup("already queued");
    if (strcmp(o, "deferred") == 0)
        return wf_asprintf("deferred (max_builds %" PRId64 ")", max_builds);
    if (strcmp(o, "nothing") == 0)
        return wf_strdup("nothing eligible");
    return wf_strdup(o);
}

/* "  VERSION  VERDICT  WHY" lines, the first two columns padded; WHY is never cut. */
static void bump_versions(wf_buf *b, const cJSON *rec)
{
    const cJSON *vs = as_array(cJSON_GetObjectItemCaseSensitive(rec, "versions"));
    const cJSON *v;
    size_t wv = strlen("VERSION"), wd = strlen("VERDICT");
    cJSON_ArrayForEach(v, vs)
    {
        size_t a = wf_cli_render_width(jstr_or(v, "version", "?"));
        size_t d = wf_cli_render_width(jstr_or(v, "verdict", "?"));
        wv = a > wv ? a : wv;
        wd = d > wd ? d : wd;
    }
    if (cJSON_GetArraySize(vs) == 0) {
        wf_buf_adds(b, "  (no versions listed)\n");
        return;
    }
    wf_buf_addf(b, "  %-*s  %-*s  WHY\n", (int)wv, "VERSION", (int)wd, "VERDICT");
    cJSON_ArrayForEach(v, vs)
    {
        char *ver = wf_cli_render_clean(jstr_or(v, "version", "?"), 0);
        char *why = wf_cli_render_clean(jstr_or(v, "reason", ""), 0);
        wf_buf_addf(b, "  %-*s  %-*s  %s\n", (int)wv, ver, (int)wd, jstr_or(v, "verdict", "?"),
                    why);
        free(ver);
        free(why);
    }
    int64_t omitted = jint(rec, "versions_omitted", 0);
    if (omitted > 0)
        wf_buf_addf(b, "  (%" PRId64 " older version%s not shown)\n", omitted,
                    omitted == 1 ? "" : "s");
}

char *wf_cli_render_bump(const cJSON *run, int64_t now)
{
    static const char *const h[] = {"RECIPE", "TRACK", "OUTCOME", "VERSION", "WHY"};
    wf_buf b = WF_BUF_INIT;
    int dry = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(run, "dry_run"));
    int64_t max = jint(run, "max_builds", 0);
    int64_t n = jint(run, dry ? "would_queue" : "queued", 0);
    char age[16];
    wf_cli_render_age(age, sizeof(age), now - jint(run, "started_at", now));
    wf_buf_addf(&b,
                "bump run %" PRId64 " (%s%s, %s ago): %" PRId64 " version%s %s, %" PRId64
                " deferred by max_builds %" PRId64 ", %" PRId64 " error%s\n",
                jint(run, "id", 0), jstr_or(run, "kind", "?"), dry ? ", dry run" : "", age, n,
                n == 1 ? "" : "s", dry ? "would be queued" : "queued", jint(run, "deferred", 0),
                max, jint(run, "errors", 0), jint(run, "errors", 0) == 1 ? "" : "s");
    const cJSON *recs = as_array(cJSON_GetObjectItemCaseSensitive(run, "recipes"));
    const cJSON *r;
    if (cJSON_GetArraySize(recs) == 0) {
        wf_buf_adds(&b, "no tracking recipes (give a recipe 'track: SPECIFIER')\n");
        return wf_buf_detach(&b);
    }
    wf_cli_table *t = wf_cli_table_new(WF_ARRAY_SIZE(h), h);
    cJSON_ArrayForEach(r, recs)
    {
        char *outcome = bump_outcome(r, max);
        const char *why = jstr(r, "error") != NULL ? jstr(r, "error") : jstr(r, "summary");
        const char *row[] = {jstr(r, "recipe"), jstr(r, "track"), outcome, jstr(r, "version"), why};
        wf_cli_table_add(t, row);
        free(outcome);
    }
    char *table = render_table_and_free(t);
    wf_buf_adds(&b, table);
    free(table);
    cJSON_ArrayForEach(r, recs)
    {
        const char *err = jstr(r, "error");
        char *name = wf_cli_render_clean(jstr_or(r, "recipe", "?"), 0);
        char *index = wf_cli_render_clean(jstr_or(r, "index", "-"), 0);
        wf_buf_addf(&b, "\n%s: track %s, index %s (%s)\n", name, jstr_or(r, "track", "?"), index,
                    jstr_or(r, "format", "not read"));
        if (err != NULL) {
            char *e = wf_cli_render_clean(err, 0);
            wf_buf_addf(&b, "  error: %s\n", e);
            free(e);
        } else {
            bump_versions(&b, r);
        }
        free(name);
        free(index);
    }
    return wf_buf_detach(&b);
}
