/* collector.h - checks the wheel a build produced and moves it into the artifact store.
 *
 * Synchronous and blocking (copying, hashing, fsync): the daemon calls it from the thread pool.
 * It keeps no state, so calls for different jobs may run in parallel; two calls must not collect
 * the same file name into the same directory at the same time.
 */
#ifndef WF_COLLECTOR_H
#define WF_COLLECTOR_H

#include <stdint.h>

/* What the job asked for. All strings are borrowed for the duration of the call. */
typedef struct wf_collect_expect {
    const char *project;  /* PEP 503-normalized name */
    const char *version;  /* as in the recipe (compared PEP 440-normalized) */
    const char *python;   /* "cp311" */
    const char *platform; /* Docker platform: "linux/amd64" or "linux/arm64" */
} wf_collect_expect;

/* What was stored. Every string is owned (heap); free them with wf_collected_release(). */
typedef struct wf_collected {
    char *filename;        /* the wheel's file name */
    char *path;            /* its final path in the store: <dest_dir>/<filename> */
    char *sha256;          /* hex sha256 of the wheel */
    char *requires_python; /* METADATA Requires-Python, NULL if absent */
    char *metadata_sha256; /* hex sha256 of METADATA (= of "<path>.metadata", PEP 658) */
    char *platform_tag;    /* platform tags joined by '.' ("manylinux_2_36_x86_64"), or "any" */
    int64_t size;          /* bytes */
    int placed; /* 1 if this call put the wheel in place, 0 if an identical one was there */
} wf_collected;

/* Frees the strings and zeroes *c. Accepts NULL and a zeroed struct. */
void wf_collected_release(wf_collected *c);

/* Collects the one wheel a build left in out_dir:
 *   1. out_dir must hold exactly one "*.whl" (none or several is an error naming what is there);
 *   2. its file name (PEP 427) must say: normalized name == e->project, normalized version ==
 *      normalized e->version; python tags containing e->python, or, for an "abi3" wheel, a
 *      cpXY tag not newer than e->python, or, for a pure wheel, "py3"/"pyXY"; platform tags
 *      all for the machine of e->platform (manylinux, musllinux or linux tags), or exactly "any";
 *   3. the wheel is copied to a temporary file in dest_dir (created if needed; it may be on
 *      another file system than out_dir) and fsync'ed; that copy is checked with
 *      wf_wheel_inspect() and its METADATA Name and Version must match the file name's;
 *   4. "<dest_dir>/<filename>.metadata" (PEP 658, METADATA byte for byte) and then
 *      "<dest_dir>/<filename>" are put in place atomically (temp file, fsync, rename, fsync of
 *      the directory). A file already there with the same content is kept and is success; one
 *      with different content is never replaced: WF_EEXIST.
 * out_dir itself is left as it is (the caller removes it), so a collect can be retried.
 * Returns 0 and fills *out (release it with wf_collected_release()). On failure returns
 * WF_ENOTFOUND (no wheel), WF_EINVAL (wrong file name, several wheels, tags or METADATA not
 * what the job expected), WF_EARCHIVE / WF_EHASH / WF_ELIMIT (from wf_wheel_inspect()),
 * WF_EEXIST, or a UV_E* code for file system errors; nothing is left in dest_dir (no temp file,
 * no half-placed pair), *out is untouched and *errmsg (when errmsg is not NULL) gets a message
 * saying what is wrong and what was expected; free() it. */
int wf_collect_wheel(const char *out_dir, const wf_collect_expect *e, const char *dest_dir,
                     wf_collected *out, char **errmsg);

#endif
