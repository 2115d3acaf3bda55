/* bump.c - picks the upstream version a tracking recipe builds next and explains the others. */
#include "bump.h"

#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "pep440.h"
#include "wf.h"

/* At most this many passed-over versions are named in a summary line. */
#define SUMMARY_MAX_NAMED 5

static const char *const verdict_names[] = {
    [WF_BUMP_BUILD] = "build",
    [WF_BUMP_BUILT] = "built",
    [WF_BUMP_ACTIVE] = "active",
    [WF_BUMP_OLDER] = "older",
    [WF_BUMP_INVALID] = "invalid",
    [WF_BUMP_NO_SDIST] = "no-sdist",
    [WF_BUMP_YANKED] = "yanked",
    [WF_BUMP_EXCLUDED] = "excluded",
    [WF_BUMP_PRERELEASE] = "pre-release",
    [WF_BUMP_TOO_YOUNG] = "too-young",
};

const char *wf_bump_verdict_name(wf_bump_verdict v)
{
    if ((unsigned)v >= WF_ARRAY_SIZE(verdict_names))
        return "unknown";
    return verdict_names[v];
}

/* 1 when the release is old enough; a release whose time is unknown never is (unless no age
 * is asked for): min_age is a promise that cannot be kept without a time. */
static int old_enough(const wf_bump_release *r, const wf_bump_policy *p)
{
    if (p->min_age_s <= 0)
        return 1;
    return r->since > 0 && p->now - r->since >= p->min_age_s;
}

/* The verdict of the rules alone (before newest-first selection): OLDER stands for eligible. */
static wf_bump_verdict judge(const wf_bump_release *r, const wf_bump_policy *p)
{
    size_t len = strlen(r->version);
    wf_pep440 v;
    if (wf_pep440_parse(&v, r->version, len) != 0)
        return WF_BUMP_INVALID;
    wf_pep440_release(&v);
    if (!r->has_sdist)
        return WF_BUMP_NO_SDIST;
    if (r->yanked)
        return WF_BUMP_YANKED;
    if (!wf_specifier_contains(p->spec, r->version, len, 1))
        return WF_BUMP_EXCLUDED;
    if (!wf_specifier_contains(p->spec, r->version, len, p->prereleases))
        return WF_BUMP_PRERELEASE;
    if (!old_enough(r, p))
        return WF_BUMP_TOO_YOUNG;
    return WF_BUMP_OLDER;
}

int wf_bump_select(const wf_bump_release *releases, size_t n, const wf_bump_policy *p,
                   wf_bump_verdict *verdicts)
{
    int best = -1;
    for (size_t i = 0; i < n; i++) {
        verdicts[i] = judge(&releases[i], p);
        if (verdicts[i] != WF_BUMP_OLDER)
            continue;
        if (best < 0 || wf_pep440_cmp_str(releases[i].version, releases[best].version) > 0)
            best = (int)i;
    }
    if (best >= 0) {
        static const wf_bump_verdict by_have[] = {
            [WF_BUMP_NOT_BUILT] = WF_BUMP_BUILD,
            [WF_BUMP_IS_BUILT] = WF_BUMP_BUILT,
            [WF_BUMP_IS_ACTIVE] = WF_BUMP_ACTIVE,
        };
        wf_bump_have h = releases[best].have;
        verdicts[best] = (unsigned)h < WF_ARRAY_SIZE(by_have) ? by_have[h] : WF_BUMP_BUILD;
    }
    return best;
}

static int is_prerelease(const char *version)
{
    wf_pep440 v;
    if (wf_pep440_parse(&v, version, strlen(version)) != 0)
        return 0;
    int pre = wf_pep440_is_prerelease(&v);
    wf_pep440_release(&v);
    return pre;
}

/* An age in its two largest units, rounded down: "10d" for 10d6s, "1h30m" for 1h30m15s. */
static const char *age_text(char *buf, size_t n, int64_t secs)
{
    if (secs >= 86400)
        secs -= secs % 3600;
    else if (secs >= 3600)
        secs -= secs % 60;
    return wf_duration_format(buf, n, secs < 0 ? 0 : secs);
}

static char *too_young_reason(const wf_bump_release *r, const wf_bump_policy *p)
{
    char age[32], min[32];
    wf_duration_format(min, sizeof(min), p->min_age_s);
    if (r->since <= 0)
        return wf_asprintf("upload time unknown; min_age is %s", min);
    age_text(age, sizeof(age), p->now - r->since);
    if (r->since_upload)
        return wf_asprintf("uploaded %s ago; min_age is %s", age, min);
    return wf_asprintf("first seen %s ago (the index gives no upload time); min_age is %s", age,
                       min);
}

char *wf_bump_reason(const wf_bump_release *r, wf_bump_verdict v, const wf_bump_policy *p)
{
    switch (v) {
    case WF_BUMP_BUILD: return wf_strdup("newest eligible version, not built yet");
    case WF_BUMP_BUILT: return wf_strdup("newest eligible version, already built");
    case WF_BUMP_ACTIVE: return wf_strdup("newest eligible version, already queued or running");
    case WF_BUMP_OLDER: return wf_strdup("eligible, but not the newest eligible version");
    case WF_BUMP_INVALID: return wf_strdup("not a PEP 440 version");
    case WF_BUMP_NO_SDIST: return wf_strdup("no sdist on the index (wheels only)");
    case WF_BUMP_YANKED:
        if (r->yanked_reason != NULL && r->yanked_reason[0] != '\0')
            return wf_asprintf("yanked (%s)", r->yanked_reason);
        return wf_strdup("yanked");
    case WF_BUMP_EXCLUDED:
        return wf_asprintf("%s'track: %s' excludes it",
                           is_prerelease(r->version) ? "pre-release, and " : "", p->spec_text);
    case WF_BUMP_PRERELEASE:
        return wf_strdup("pre-release (set 'prereleases: true' to build them)");
    case WF_BUMP_TOO_YOUNG: return too_young_reason(r, p);
    }
    return wf_strdup("unknown");
}

/* The word a summary uses for a passed-over version. */
static const char *summary_word(wf_bump_verdict v)
{
    switch (v) {
    case WF_BUMP_NO_SDIST: return "no sdist";
    case WF_BUMP_TOO_YOUNG: return "too young";
    default: return wf_bump_verdict_name(v);
    }
}

/* One release for ordering: its version parsed once (valid == 0 when it is not PEP 440). */
typedef struct order_slot {
    wf_pep440 parsed;
    int valid;
    const char *text;
    size_t index;
} order_slot;

/* Newest first; invalid texts after every valid one, among themselves as wf_pep440_cmp_str
 * orders them (reversed, like the valid ones); equal versions keep their input order. */
static int newest_first(const void *a, const void *b)
{
    const order_slot *x = a, *y = b;
    int c;
    if (x->valid && y->valid)
        c = wf_pep440_cmp(&y->parsed, &x->parsed);
    else if (x->valid != y->valid)
        c = x->valid ? -1 : 1;
    else
        c = strcmp(y->text, x->text);
    if (c != 0)
        return c;
    return (x->index > y->index) - (x->index < y->index);
}

void wf_bump_order(const wf_bump_release *releases, size_t n, size_t *order)
{
    /* Each version is parsed once and sorted with qsort: a project page can list thousands of
     * releases, and comparing strings (a parse per comparison) in an insertion sort was
     * quadratic in them. The index tie-break keeps the order stable. */
    order_slot *slots = wf_calloc(n ? n : 1, sizeof(*slots));
    for (size_t i = 0; i < n; i++) {
        const char *v = releases[i].version;
        slots[i].text = v;
        slots[i].index = i;
        slots[i].valid = wf_pep440_parse(&slots[i].parsed, v, strlen(v)) == 0;
    }
    if (n > 1)
        qsort(slots, n, sizeof(*slots), newest_first);
    for (size_t i = 0; i < n; i++) {
        order[i] = slots[i].index;
        if (slots[i].valid)
            wf_pep440_release(&slots[i].parsed);
    }
    free(slots);
}

char *wf_bump_summary(const wf_bump_release *releases, size_t n, const wf_bump_verdict *verdicts,
                      int chosen, const wf_bump_policy *p)
{
    wf_buf b = WF_BUF_INIT;
    size_t *order = wf_calloc(n ? n : 1, sizeof(*order));
    size_t named = 0, more = 0;
    wf_bump_order(releases, n, order);
    wf_buf_addf(&b, "track %s: ", p->spec_text[0] ? p->spec_text : "(any version)");
    if (chosen >= 0)
        wf_buf_addf(&b, "newest %s", releases[chosen].version);
    else
        wf_buf_adds(&b, "nothing eligible");
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k];
        if ((int)i == chosen)
            break; /* only versions newer than the chosen one were passed over */
        if (verdicts[i] == WF_BUMP_INVALID || verdicts[i] == WF_BUMP_OLDER)
            continue;
        if (named == SUMMARY_MAX_NAMED) {
            more++;
            continue;
        }
        wf_buf_addf(&b, "%s%s %s", named == 0 ? " (" : ", ", releases[i].version,
                    summary_word(verdicts[i]));
        named++;
    }
    if (more > 0)
        wf_buf_addf(&b, ", and %zu more", more);
    if (named > 0)
        wf_buf_adds(&b, ")");
    free(order);
    return wf_buf_detach(&b);
}
