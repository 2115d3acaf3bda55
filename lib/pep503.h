/* pep503.h - PEP 503 project names: validity and normalization.
 *
 * Pure functions of (ptr, len); the input need not be NUL-terminated. Thread-safe.
 */
#ifndef WF_PEP503_H
#define WF_PEP503_H

#include <stddef.h>

/* 1 if [s, s+len) is a valid project name, that is it matches
 * ^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$ case-insensitively (ASCII only); 0 otherwise,
 * including for the empty string. */
int wf_pep503_valid(const char *s, size_t len);

/* The normalized form of [s, s+len): ASCII lowercase, each run of '-', '_' and '.' replaced by
 * a single '-'. Works on any input (it does not check validity). Never NULL; the caller frees the
 * result with free(). */
char *wf_pep503_normalize(const char *s, size_t len);

/* 1 if normalizing [s, s+len) would give back exactly the same bytes. Says nothing about
 * validity: combine with wf_pep503_valid() when that matters. */
int wf_pep503_is_normalized(const char *s, size_t len);

/* 1 if the two names are the same project, i.e. their normalized forms are equal. */
int wf_pep503_equal(const char *a, size_t alen, const char *b, size_t blen);

#endif
