/* fsutil.h - small synchronous filesystem helpers shared by the daemon and the CLI, and a pure
 * check of paths inside a tree. */
#ifndef WF_FSUTIL_H
#define WF_FSUTIL_H

#include <stddef.h>

/* mkdir -p with the given mode for created directories. 0 or a negative errno-style UV_E* code. */
int wf_fs_mkdirs(const char *path, int mode);
/* rm -rf: removes a file or a directory tree; a missing path is success. Never follows symlinks. */
int wf_fs_remove_tree(const char *path);
/* Writes data to path atomically: temp file in the same directory, fsync, rename, fsync dir. */
int wf_fs_write_atomic(const char *path, const void *data, size_t len, int mode);
/* Reads a whole file (at most max bytes, else WF_ELIMIT) into a NUL-terminated heap buffer. */
int wf_fs_read_file(const char *path, size_t max, char **out, size_t *len_out);

/* A path inside a tree (a git repository's, an export's), written plainly: "recipes/",
 * "./recipes", "a/./b//c" and "." give "recipes", "recipes", "a/b/c" and "" (the root); NULL
 * gives "". Returns NULL when the path is absolute or has a ".." component, since it would
 * leave the tree. Pure (no I/O); the caller frees the result. */
char *wf_fs_subpath_normalize(const char *path);

#endif
