/* substitute.h - the config's declared substitutes (key `substitutes`) applied to the sources a
 * recipe pins by sha256.
 *
 * An operator whose mirror holds other bytes of the same release (a distribution's repack, say)
 * declares {for: PIN, use: OTHER, reason} in the config and stores OTHER in the source cache
 * (`wheelfarm sources add`). For each pinned source of a job:
 *   - the pinned file is used when it is in the source cache;
 *   - otherwise the declared substitute, when it is in the cache (the job log says so, with the
 *     reason and where it was declared);
 *   - otherwise the pinned file is downloaded and verified as usual. A substitute is never
 *     downloaded: its bytes come only from the cache an operator stocked.
 * Every declared substitute whose pin a recipe uses is part of that recipe's build key, so adding,
 * changing or dropping one rebuilds the wheels it may affect (its reason is not: rewording it
 * changes no input).
 */
#ifndef WF_DAEMON_SUBSTITUTE_H
#define WF_DAEMON_SUBSTITUTE_H

#include <stddef.h>

#include "daemon/fetch.h"
#include "lib/config.h"
#include "lib/recipe.h"

/* One pinned source of a recipe that has a declared substitute. */
typedef struct wf_recipe_substitute {
    const char *source;              /* the native dependency's name, or "source" */
    const wf_substitute_config *sub; /* borrowed from the config */
} wf_recipe_substitute;

/* The declared substitutes that apply to r's pins: its native dependencies in recipe order, then
 * its url source. Returns how many; *out is a heap array (NULL when none) of borrowed entries the
 * caller frees with free(). Pure. */
size_t wf_substitutes_for_recipe(const wf_config *c, const wf_recipe *r,
                                 wf_recipe_substitute **out);

/* The build-key text of r's substitutes: one "substitute <source> <for> <use>\n" line per entry
 * of wf_substitutes_for_recipe(), "" when none (so keys without substitutes do not change).
 * Caller frees. Pure. */
char *wf_substitutes_key_text(const wf_config *c, const wf_recipe *r);

/* Where a pinned source comes from (see the top of this file). */
typedef enum {
    WF_PIN_CACHED = 0,  /* the pinned file is in the source cache */
    WF_PIN_SUBSTITUTED, /* it is not; the declared substitute is */
    WF_PIN_DOWNLOAD,    /* neither: download the pinned file */
} wf_pin_origin;

/* Resolves `pinned` against f's cache. *path gets the cached file to build from (caller frees)
 * for WF_PIN_CACHED and WF_PIN_SUBSTITUTED, NULL for WF_PIN_DOWNLOAD; *sub gets the substitute
 * declared for `pinned` whatever the outcome (NULL when none), so a failed download can name it.
 * One stat per hash looked up; no other I/O. */
wf_pin_origin wf_substitute_resolve(wf_fetcher *f, const wf_config *c, const char *pinned,
                                    char **path, const wf_substitute_config **sub);

#endif
