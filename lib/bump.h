/* bump.h - which upstream version a tracking recipe builds next, and why not the others.
 *
 * A tracking recipe (`track: SPECIFIER`) builds the newest upstream version that
 *   1. has an sdist (wheelfarm builds from sdists),
 *   2. is not yanked (a version counts as yanked when every one of its sdists is),
 *   3. is contained in the specifier with full PEP 440 semantics (lib/specifier.h),
 *   4. is not a pre-release, unless `prereleases: true` or the specifier names a pre-release
 *      (no "only pre-releases match" fallback: a nightly job never drifts onto them),
 *   5. was uploaded at least min_age ago (or, when the index gives no upload time, was first
 *      seen by wheelfarm at least min_age ago).
 * If that newest eligible version is already built (every build key has a wheel) or queued or
 * running, nothing is built: older eligible versions are never back-filled.
 *
 * Pure functions of their arguments (the current time is passed in); thread-safe.
 */
#ifndef WF_BUMP_H
#define WF_BUMP_H

#include <stddef.h>
#include <stdint.h>

#include "specifier.h"

/* What wheelfarm already has of one version: computed by the caller from the build keys. */
typedef enum {
    WF_BUMP_NOT_BUILT = 0, /* some build key of the version has no wheel and no active job */
    WF_BUMP_IS_BUILT,      /* every build key has a wheel */
    WF_BUMP_IS_ACTIVE,     /* not all built, and the rest are queued or running */
} wf_bump_have;

/* One upstream version. Strings are borrowed. */
typedef struct wf_bump_release {
    const char *version;       /* as the index names it */
    int has_sdist;             /* the index offers an sdist of it */
    int yanked;                /* it has sdists and every one is yanked */
    const char *yanked_reason; /* the index's reason, or NULL */
    int64_t since;             /* upload time (since_upload) or first seen, epoch s; 0 unknown */
    int since_upload;          /* 1: `since` is the index's upload time; 0: first seen */
    wf_bump_have have;
} wf_bump_release;

/* The recipe's rules and the clock. */
typedef struct wf_bump_policy {
    const wf_specifier *spec; /* the parsed `track` */
    const char *spec_text;    /* as written, for messages */
    int prereleases;          /* 1 admit, 0 reject, -1 as the specifier decides */
    int64_t min_age_s;        /* 0: no waiting */
    int64_t now;              /* epoch seconds */
} wf_bump_policy;

/* The verdict on one version, from the first rule it fails (in the order listed above). */
typedef enum {
    WF_BUMP_BUILD = 0,  /* the newest eligible version, to be built */
    WF_BUMP_BUILT,      /* the newest eligible version, already built */
    WF_BUMP_ACTIVE,     /* the newest eligible version, already queued or running */
    WF_BUMP_OLDER,      /* eligible, but older than the newest eligible one */
    WF_BUMP_INVALID,    /* not a PEP 440 version */
    WF_BUMP_NO_SDIST,   /* wheels only */
    WF_BUMP_YANKED,     /* every sdist yanked */
    WF_BUMP_EXCLUDED,   /* the specifier excludes it */
    WF_BUMP_PRERELEASE, /* a pre-release, and none were asked for */
    WF_BUMP_TOO_YOUNG,  /* uploaded (or first seen) less than min_age ago */
} wf_bump_verdict;

/* Judges releases[0..n) (any order, duplicates allowed): verdicts[i] is release i's verdict.
 * Returns the index of the newest eligible release (verdict BUILD, BUILT or ACTIVE), or -1
 * when none is eligible. Among PEP 440-equal eligible versions the first one wins. */
int wf_bump_select(const wf_bump_release *releases, size_t n, const wf_bump_policy *p,
                   wf_bump_verdict *verdicts);

/* A short static name: "build", "built", "active", "older", "invalid", "no-sdist", "yanked",
 * "excluded", "pre-release", "too-young". */
const char *wf_bump_verdict_name(wf_bump_verdict v);

/* One sentence saying why release r got verdict v, e.g. "yanked (broken build)", "uploaded 3h
 * ago; min_age is 2d", "pre-release, and 'track: >=1.0,<2' excludes it". Caller frees. */
char *wf_bump_reason(const wf_bump_release *r, wf_bump_verdict v, const wf_bump_policy *p);

/* The one-line summary a bump's trigger record carries: "track >=1.0,<2: newest 1.1 (1.2
 * yanked, 2.0rc1 excluded)" naming the newer versions that were passed over (at most 5, then
 * "and N more"), or "track >=1.0,<2: nothing eligible (...)" when chosen is -1. Caller frees. */
char *wf_bump_summary(const wf_bump_release *releases, size_t n, const wf_bump_verdict *verdicts,
                      int chosen, const wf_bump_policy *p);

/* Versions in newest-first PEP 440 order (invalid texts last): fills order[0..n) with the
 * indexes of releases. Used for listings. */
void wf_bump_order(const wf_bump_release *releases, size_t n, size_t *order);

#endif
