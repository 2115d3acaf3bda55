/* gitrepo.h - a bare local mirror of one remote git repository: fetch, resolve, export a
 * subtree, diff, list remote refs. The only module that includes <git2.h>.
 *
 * Threads: every function below except wf_gitrepo_cancel() and wf_gitrepo_mirror_dir() BLOCKS
 * (network, disk) and belongs on the uv thread pool, never on the loop. One wf_gitrepo is used
 * by one thread at a time (the caller serialises); different objects may run in parallel, also
 * on the same mirror directory (libgit2 locks refs; a ref update that loses a race fails and is
 * retried by the caller's next poll).
 *
 * Network: URLs are anything libgit2 fetches from (https://, http://, git://, file://, a local
 * path). Plain and TLS sockets go through this module's own stream, which bounds every connect,
 * read and write by the object's timeout (WF_GITREPO_TIMEOUT_MS by default) and stops at once
 * when wf_gitrepo_cancel() is called, so a stalled server never holds a pool thread forever.
 *
 * Errors: 0 or a negative WF_E* / UV_E* code; on failure *err (when err is not NULL) is set to a
 * heap message naming the operation, the URL (credentials removed) and libgit2's own text; the
 * caller frees it. WF_ENOTFOUND: the ref, commit or path does not exist; WF_ECANCELED:
 * wf_gitrepo_cancel() was called; WF_ETIMEOUT: the server stopped answering; WF_ELIMIT: an
 * export is too large; WF_EINFRA: other network and repository failures.
 */
#ifndef WF_GITREPO_H
#define WF_GITREPO_H

#include <stddef.h>

#define WF_GITREPO_TIMEOUT_MS 60000 /* per connect, read or write without progress */
#define WF_GITREPO_MAX_EXPORT_BYTES (256u * 1024u * 1024u)
#define WF_GITREPO_MAX_EXPORT_FILES 100000u

typedef struct wf_gitrepo wf_gitrepo;

/* Opens (creating it when missing) the bare mirror of `url` in `dir`. Initialises libgit2 once
 * per process. Free with wf_gitrepo_close(). */
int wf_gitrepo_open(wf_gitrepo **out, const char *url, const char *dir, char **err);
/* Frees the object (not the mirror on disk). Accepts NULL. */
void wf_gitrepo_close(wf_gitrepo *g);

/* The mirror directory for `url` under state_dir: "<state_dir>/git/<name>", where name is the
 * URL's host and path reduced to [A-Za-z0-9._-] plus a hash of the whole URL, so different
 * URLs never share a mirror. Pure; caller frees. */
char *wf_gitrepo_mirror_dir(const char *state_dir, const char *url);

/* The URL without credentials ("https://user:token@host/p" -> "https://host/p"), for messages
 * and logs. Pure; caller frees. */
char *wf_gitrepo_redact_url(const char *url);

/* Makes the network operations of g in flight, and all later ones, fail with WF_ECANCELED.
 * Any thread; used to stop a fetch when the daemon closes. */
void wf_gitrepo_cancel(wf_gitrepo *g);
/* Sets the timeout of each connect, read or write (milliseconds, > 0). */
void wf_gitrepo_set_timeout(wf_gitrepo *g, unsigned ms);

/* Fetches the given refspecs into the mirror (e.g. "+refs/heads/main:refs/heads/main", or
 * "+refs/pull/N/head:refs/pull/N/head" with N written as '*' for every pull request head); tags
 * are not fetched, and refs under a refspec's destination that the remote no longer has are
 * pruned.
 * An entry that is a 40-hex commit id means "ensure this commit is present": commits already in
 * the mirror need no network; missing ones are fetched by id when the server allows it, else
 * the refspecs in the list are fetched as the fallback (WF_ENOTFOUND when the commit is still
 * missing). */
int wf_gitrepo_fetch(wf_gitrepo *g, const char *const *refspecs, size_t n, char **err);
/* wf_gitrepo_fetch() of {sha, fallback...}: ensures commit `sha` (40 hex) is present. */
int wf_gitrepo_fetch_commit(wf_gitrepo *g, const char *sha, const char *const *fallback, size_t n,
                            char **err);

/* Resolves a ref name ("main", "refs/heads/main", "refs/pull/3/head") or a full or abbreviated
 * sha in the mirror to a 40-hex commit id plus NUL. WF_ENOTFOUND if absent. */
int wf_gitrepo_resolve(wf_gitrepo *g, const char *ref, char out[41], char **err);

/* Writes the tree at `subpath` (a relative path inside the repository; "", "." or NULL: the
 * root; a file: just that file) of commit `sha` into dest_dir: regular and executable files
 * (0644 / 0755), directories, and symbolic links whose target stays inside the exported tree
 * (others fail the export, naming the path); submodules are skipped. dest_dir is replaced
 * atomically: the tree is written and fsynced in a temporary sibling, then renamed into place
 * (exchanged with an existing dest_dir, which is then removed). Parent directories are
 * created. WF_ENOTFOUND when the commit or subpath does not exist; WF_ELIMIT beyond
 * WF_GITREPO_MAX_EXPORT_FILES files or WF_GITREPO_MAX_EXPORT_BYTES bytes. */
int wf_gitrepo_export(wf_gitrepo *g, const char *sha, const char *subpath, const char *dest_dir,
                      char **err);

/* Paths of files (relative to the repository root) under `subpath` that were added, removed or
 * changed between two commits, sorted and unique. base_sha may be NULL: every file at head.
 * *paths_out is a heap array of heap strings; free with wf_gitrepo_paths_free(). */
int wf_gitrepo_diff_paths(wf_gitrepo *g, const char *base_sha, const char *head_sha,
                          const char *subpath, char ***paths_out, size_t *n_out, char **err);
void wf_gitrepo_paths_free(char **paths, size_t n);

/* The remote's refs whose names match the glob (fnmatch with FNM_PATHNAME: '*' stays within
 * one path component; "refs/pull/N/head" with N written as '*' lists the pull request heads),
 * with the commit each points to, in the remote's order; nothing is fetched. Free with
 * wf_git_refs_free(). */
typedef struct wf_git_ref {
    char *name;
    char sha[41];
} wf_git_ref;
int wf_gitrepo_ls_remote(wf_gitrepo *g, const char *glob, wf_git_ref **out, size_t *n_out,
                         char **err);
void wf_git_refs_free(wf_git_ref *refs, size_t n);

#endif
