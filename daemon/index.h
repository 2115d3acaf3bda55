/* index.h - the built-in PEP 503 index on disk: writes its pages atomically, places its files.
 *
 * Layout under index_root: simple/index.html (root page), simple/<project>/index.html (project
 * pages), files/<project>/<filename> (the wheels). The HTTP server (daemon/httpd.c) serves this
 * tree as it is. Synchronous and blocking (small writes plus fsync); call from the loop thread
 * only at publish time, or from the thread pool.
 */
#ifndef WF_INDEX_H
#define WF_INDEX_H

#include <stddef.h>

#include "lib/indexpage.h"

/* Rewrites <root>/simple/<project>/index.html atomically (temp file in the same directory,
 * fsync, rename, fsync of the directory). project must be a valid, PEP 503-normalized name
 * (WF_EINVAL otherwise). A file whose url is NULL links as ../../files/<project>/<filename>,
 * which is relative so the index works behind any URL prefix. Files are borrowed for the call.
 * 0 or a negative UV_E* or WF_E* code. */
int wf_index_write_project(const char *index_root, const char *project, const wf_index_file *files,
                           size_t n);

/* Rewrites <root>/simple/index.html atomically, listing the given projects (any spelling; the
 * links use the normalized names). 0 or a negative UV_E* or WF_E* code. */
int wf_index_write_root(const char *index_root, const char *const *projects, size_t n);

/* Path where a wheel of `project` lives: <root>/files/<project>/<filename>; creates the
 * directory (mode 0755). NULL if project is not a valid normalized name, if filename is empty,
 * starts with '.' or contains '/', or if the directory cannot be created (errno says why).
 * The caller frees the result with free(). */
char *wf_index_file_path(const char *index_root, const char *project, const char *filename);

#endif
