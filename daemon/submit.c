/* submit.c - turns a plan into a recorded request and its queued jobs, for every trigger: the
 * API (a person), the recipe watcher, a recipe repository commit, a pull request, a bump.
 *
 * One transaction creates the request, its trigger record and the jobs, so a request is either
 * wholly queued or absent. A planned build whose key already has a wheel (unless forced) or an
 * active job is skipped and reported, never queued twice.
 *
 * A pull request's trigger (kind "pr", pr N) queues into the channel "pr/N": keys are looked up
 * in that channel, and a key main has already built is linked into the channel (the same file,
 * listed on the channel's pages) instead of being built again.
 */
#include "daemon/internal.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "lib/channel.h"
#include "lib/log.h"

static void add_skipped(cJSON *skipped, const wf_plan_job *pj, const char *reason,
                        const char *filename, int64_t active)
{
    if (skipped == NULL)
        return;
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "recipe", pj->recipe->normalized);
    cJSON_AddStringToObject(s, "version", pj->version);
    cJSON_AddStringToObject(s, "python", pj->python);
    cJSON_AddStringToObject(s, "platform", pj->platform);
    cJSON_AddStringToObject(s, "reason", reason);
    if (filename != NULL)
        cJSON_AddStringToObject(s, "filename", filename);
    if (active != 0)
        cJSON_AddNumberToObject(s, "job", (double)active);
    cJSON_AddItemToArray(skipped, s);
}

int wf__submit(wf_daemon *d, const wf_plan *plan, const wf_trigger *t, int force,
               wf_submit_result *out, cJSON *skipped)
{
    wf_submit_result r = {0, 0, 0};
    if (t == NULL || t->kind == NULL)
        return WF_EINVAL;
    char *channel = strcmp(t->kind, "pr") == 0 && t->pr > 0 ? wf_channel_pr(t->pr) : wf_strdup("");
    int rc = wf_store_begin(d->store);
    if (rc != 0)
        goto out;
    if ((rc = wf_store_request_create(d->store, t->kind, t->user, &r.request_id)) != 0)
        goto fail;
    const wf_request_origin origin = {(char *)t->commit,   (char *)t->ref,
                                      (char *)t->head_sha, (char *)t->upstream_version,
                                      (char *)t->detail,   t->pr};
    if ((rc = wf_store_request_set_origin(d->store, r.request_id, &origin)) != 0)
        goto fail;
    for (size_t i = 0; i < plan->n; i++) {
        const wf_plan_job *pj = &plan->jobs[i];
        wf_artifact_row a = {0};
        int64_t active = 0;
        if (!force && wf_store_artifact_by_key_in(d->store, channel, pj->build_key, &a) == 0) {
            add_skipped(skipped, pj, "already built", a.filename, 0);
            wf_artifact_row_release(&a);
            r.n_skipped++;
            continue;
        }
        if (!force && channel[0] != '\0' &&
            wf_store_artifact_by_key(d->store, pj->build_key, &a) == 0) {
            rc = wf_store_artifact_link(d->store, channel, &a);
            if (rc == 0)
                add_skipped(skipped, pj, "built for the main index; linked into the channel",
                            a.filename, 0);
            wf_artifact_row_release(&a);
            /* Another key of the channel may hold that file name: then it is built instead. */
            if (rc == 0) {
                r.n_skipped++;
                continue;
            }
            if (rc != WF_EEXIST)
                goto fail;
        }
        if ((rc = wf_store_job_active_for_key_in(d->store, channel, pj->build_key, &active)) != 0)
            goto fail;
        if (active != 0) {
            add_skipped(skipped, pj, "already queued or running", NULL, active);
            r.n_skipped++;
            continue;
        }
        int64_t id = 0;
        rc = wf_store_job_create_in(d->store, r.request_id, channel, pj->recipe->normalized,
                                    pj->version, pj->python, pj->platform, pj->build_key, force,
                                    &id);
        if (rc != 0)
            goto fail;
        r.n_queued++;
    }
    if ((rc = wf_store_commit(d->store)) != 0)
        goto out;
    wf_log_info("request %lld (%s%s%s): %zu job(s) queued, %zu skipped", (long long)r.request_id,
                t->kind, t->detail != NULL ? ": " : "", t->detail != NULL ? t->detail : "",
                r.n_queued, r.n_skipped);
    if (r.n_queued > 0)
        wf__sched_kick(d);
    if (out != NULL)
        *out = r;
    goto out;
fail:
    wf_store_rollback(d->store);
out:
    free(channel);
    return rc;
}
