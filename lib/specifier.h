/* specifier.h - PEP 440 version specifier sets (">=1.0,<2", "~=2.2", "==1.1.*", "===foo").
 *
 * Syntax and semantics follow the version-specifiers specification and its reference
 * implementation (the `packaging` library, 22 and later):
 *   - clauses are separated by commas; whitespace around operators, versions and commas is
 *     ignored; empty clauses are skipped, so "" is the empty set, which matches every version;
 *   - ~=V.N    >= V.N and the same epoch and release prefix V (suffixes of V.N ignored);
 *              needs at least two release components;
 *   - ==V, !=V strict equality after zero padding of the release; a candidate's local label is
 *              ignored unless V has one, in which case the labels must be equal too;
 *   - ==V.*, !=V.* prefix match on the release segment (zero padded, epoch equal), ignoring
 *              the candidate's pre, post, dev and local parts; V must be epoch and release only;
 *   - <=V, >=V plain ordering on the candidate's public version;
 *   - <V       excludes pre-releases of V unless V is one (the bound is V.dev0);
 *   - >V       excludes V's local versions, and unless V is a post release (or dev release)
 *              also V's post releases (">1.7" does not match "1.7.0.post1");
 *   - ===S     ASCII case-insensitive equality of the candidate text with S as written; the
 *              only clause that can match a string that is not a valid PEP 440 version.
 * Local versions are allowed only with == and != (not with ".*").
 *
 * Pre-releases (including dev releases) are handled as the specification recommends: a set
 * admits them by default only when one of its ~=, ==, <=, >=, <, > or === clauses names a
 * pre-release (">=2.0rc1"); "!=" and "==V.*" clauses never do.
 *
 * Pure functions of (ptr, len): no I/O; a parsed set is read-only and may be shared between
 * threads. Limits: a specifier text of at most WF_SPECIFIER_MAX_LEN bytes and at most
 * WF_SPECIFIER_MAX_CLAUSES clauses.
 */
#ifndef WF_SPECIFIER_H
#define WF_SPECIFIER_H

#include <stddef.h>

#define WF_SPECIFIER_MAX_LEN 4096
#define WF_SPECIFIER_MAX_CLAUSES 64

typedef struct wf_specifier wf_specifier;

/* Where and why a specifier text was rejected. column is 1-based, counted in bytes from the
 * start of the text given to wf_specifier_parse(); msg is a complete sentence that starts with
 * "column N:" and says what is wrong and how to write it instead. */
typedef struct wf_specifier_error {
    size_t column;
    char msg[192];
} wf_specifier_error;

/* Parses the specifier set [s, s+len) into a new heap object. Returns 0 and sets *out (free it
 * with wf_specifier_free()), or WF_EINVAL (WF_ELIMIT past the limits) and, if err is not NULL,
 * fills *err; *out is then untouched. Examples of invalid input: "~=1" (one release
 * component), "==1.0.*+local", "<=1.0.*", ">1.0+local", "=>1.0" (unknown operator). */
int wf_specifier_parse(wf_specifier **out, const char *s, size_t len, wf_specifier_error *err);

/* Frees a set; accepts NULL. */
void wf_specifier_free(wf_specifier *set);

/* 1 if the set names a pre-release in a clause that admits them (see above), else 0. */
int wf_specifier_prereleases(const wf_specifier *set);

/* 1 if the version text [version, version+len) satisfies every clause of the set, else 0.
 * prereleases: 1 admits pre-releases, 0 rejects them, -1 decides per the specification (only
 * when the set names a pre-release, see wf_specifier_prereleases()). A text that is not a
 * valid PEP 440 version can only match "===" clauses. Surrounding whitespace is ignored. */
int wf_specifier_contains(const wf_specifier *set, const char *version, size_t len,
                          int prereleases);

/* Picks the newest version of versions[0..n) (NUL-terminated strings, borrowed) that the set
 * contains, and returns its index, or -1 if none does. Ordering is PEP 440's (texts that are
 * not versions, matched through "===", sort below all versions); on a tie (1.0 and 1.0.0) the
 * first one wins. prereleases is as for wf_specifier_contains() except that -1 also applies
 * the specification's fallback: when the set names no pre-release, pre-releases are considered
 * only if no final or post release matches at all (like packaging's SpecifierSet.filter()).
 * n must be at most INT_MAX. */
int wf_specifier_best(const wf_specifier *set, const char *const *versions, size_t n,
                      int prereleases);

/* The set as text, clauses in input order joined by ", " with versions as written
 * (">=1.0, <2"); "" for the empty set. Never NULL; the caller frees it with free(). */
char *wf_specifier_str(const wf_specifier *set);

#endif
