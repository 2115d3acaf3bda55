/* planner.h - expands a build request into jobs: one per (recipe, version, python, platform).
 *
 * Pure: no I/O, no store. The caller (the API) decides which planned jobs to skip because their
 * build key already has a published wheel or an active job.
 */
#ifndef WF_PLANNER_H
#define WF_PLANNER_H

#include <stddef.h>

#include "lib/config.h"
#include "lib/recipe.h"

/* Bump when the build procedure changes so that old keys no longer match. */
#define WF_BUILD_SCHEMA 1

typedef struct wf_plan_job {
    const wf_recipe *recipe; /* borrowed from the recipe list */
    char *version;           /* as written in the recipe (or as requested, when it matched) */
    char *python;
    char *platform;
    char *image;
    char build_key[65];
} wf_plan_job;

typedef struct wf_plan {
    wf_plan_job *jobs;
    size_t n;
} wf_plan;

typedef struct wf_plan_request {
    const char *const *specs; /* "name" or "name==version" */
    size_t n_specs;
    const char *const *platforms; /* filter; n_platforms == 0 means the recipe's own */
    size_t n_platforms;
    const char *const *python; /* filter; n_python == 0 means the recipe's own */
    size_t n_python;
} wf_plan_request;

/* Expands the request. "NAME" stands for every version the recipe lists (none for a tracking
 * recipe without `versions`: no jobs, not an error). "NAME==VERSION" takes a listed version
 * (PEP 440-equal, spelled as the recipe writes it) or, for a tracking recipe, any version its
 * `track` specifier contains, pre-releases included, in normalized form. On a problem a person
 * can fix (unknown recipe, version not in the recipe, platform or python the recipe or image
 * does not offer) returns WF_EINVAL and sets *errmsg to one sentence with a hint (caller
 * frees); *out is untouched then. */
int wf_plan_build(wf_plan *out, const wf_recipe_list *recipes, const wf_config *cfg,
                  const wf_plan_request *req, char **errmsg);
void wf_plan_release(wf_plan *p);

/* sha256 over the schema version, the recipe's canonical form, version, python, platform, image
 * and the substitutes cfg declares for the recipe's pins (daemon/substitute.h; nothing when there
 * are none, so such keys stay as they were). Hex into out. */
void wf_plan_build_key(const wf_recipe *r, const wf_config *cfg, const char *version,
                       const char *python, const char *platform, const char *image, char out[65]);

#endif
