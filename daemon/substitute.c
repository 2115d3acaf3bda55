/* substitute.c - declared substitutes: which recipe pins they cover, their key text, and which
 * cached file a pin resolves to. */
#include "daemon/substitute.h"

#include <stdlib.h>

#include "lib/wf.h"

size_t wf_substitutes_for_recipe(const wf_config *c, const wf_recipe *r, wf_recipe_substitute **out)
{
    wf_recipe_substitute *v = NULL;
    size_t n = 0;

    *out = NULL;
    if (c->n_substitutes == 0)
        return 0;
    for (size_t i = 0; i <= r->n_native; i++) {
        const char *pin = i < r->n_native ? r->native[i].sha256 : r->source.sha256;
        const wf_substitute_config *s = wf_config_substitute(c, pin);
        if (s == NULL)
            continue;
        v = wf_realloc(v, (n + 1) * sizeof(*v));
        v[n].source = i < r->n_native ? r->native[i].name : "source";
        v[n].sub = s;
        n++;
    }
    *out = v;
    return n;
}

char *wf_substitutes_key_text(const wf_config *c, const wf_recipe *r)
{
    wf_recipe_substitute *v;
    size_t n = wf_substitutes_for_recipe(c, r, &v);
    wf_buf b = WF_BUF_INIT;

    for (size_t i = 0; i < n; i++)
        wf_buf_addf(&b, "substitute %s %s %s\n", v[i].source, v[i].sub->pinned, v[i].sub->use);
    free(v);
    return wf_buf_detach(&b);
}

wf_pin_origin wf_substitute_resolve(wf_fetcher *f, const wf_config *c, const char *pinned,
                                    char **path, const wf_substitute_config **sub)
{
    *sub = wf_config_substitute(c, pinned);
    if ((*path = wf_fetcher_cached(f, pinned)) != NULL)
        return WF_PIN_CACHED;
    if (*sub != NULL && (*path = wf_fetcher_cached(f, (*sub)->use)) != NULL)
        return WF_PIN_SUBSTITUTED;
    return WF_PIN_DOWNLOAD;
}
