/* wheelfile.h - reading and checking a built wheel (a zip file, PEP 427).
 *
 * This is the only module that talks to libarchive. It blocks on file I/O and hashing, so the
 * daemon calls it from the thread pool; it keeps no global state and is thread-safe.
 */
#ifndef WF_WHEELFILE_H
#define WF_WHEELFILE_H

#include <stddef.h>

/* Limits that bound what a wheel may make us read. */
#define WF_WHEEL_MAX_ENTRIES 100000
#define WF_WHEEL_MAX_TOTAL ((long long)2 << 30) /* 2 GiB uncompressed, all entries together */
#define WF_WHEEL_MAX_META (16u << 20)           /* METADATA, WHEEL: 16 MiB each */
#define WF_WHEEL_MAX_RECORD (64u << 20)         /* RECORD: 64 MiB */

/* What wf_wheel_inspect() learned. Every string is owned by the struct (heap, NUL-terminated)
 * and freed by wf_wheel_info_release(). */
typedef struct wf_wheel_info {
    char *dist_info;       /* "name-1.0.dist-info", the directory found in the zip */
    char *metadata;        /* METADATA bytes, exact, with a NUL appended */
    size_t metadata_len;   /* length without that NUL */
    char *requires_python; /* METADATA "Requires-Python:", NULL if absent */
    char *meta_name;       /* METADATA "Name:", as written */
    char *meta_version;    /* METADATA "Version:", as written */
    char *wheel_tags;      /* WHEEL "Tag:" lines joined by ',' ("" if there are none) */
    char *root_is_purelib; /* WHEEL "Root-Is-Purelib:" ("true"/"false"), NULL if absent */
} wf_wheel_info;

/* Opens the wheel at `path` and checks that it is sound:
 *   - a readable zip (its central directory is what counts, as for pip), at most
 *     WF_WHEEL_MAX_ENTRIES entries and WF_WHEEL_MAX_TOTAL bytes uncompressed;
 *   - only regular files and directories, no name twice, no absolute name, no "..", no '\';
 *   - exactly one top-level "*.dist-info/" directory holding METADATA, WHEEL and RECORD;
 *     METADATA has Name and Version, WHEEL has Wheel-Version 1.x;
 *   - RECORD (CSV: path,hash,size) lists every file of the zip except RECORD itself and its
 *     signatures (RECORD.jws, RECORD.p7s); every listed file exists, has a
 *     "sha256=<urlsafe base64, no padding>" hash equal to its content's, and its size matches
 *     when RECORD gives one; RECORD names nothing twice and nothing outside the archive.
 * Returns 0 and fills *out (release it with wf_wheel_info_release()); or WF_EARCHIVE (not a
 * sound wheel), WF_EHASH (a hash or size mismatch), WF_ELIMIT (a limit hit), a UV_E* code (the
 * file cannot be opened). On failure *out is untouched and, when errmsg is not NULL, *errmsg gets
 * a message naming the file inside the wheel and what was expected and found; free() it. */
int wf_wheel_inspect(const char *path, wf_wheel_info *out, char **errmsg);

/* Frees the strings in *w and zeroes it. Accepts NULL and a zeroed struct. */
void wf_wheel_info_release(wf_wheel_info *w);

#endif
