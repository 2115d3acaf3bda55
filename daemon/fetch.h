/* fetch.h - HTTP downloads on the daemon's loop (libcurl multi_socket) and the sha256-addressed
 * source cache; small POSTs (forge commit statuses).
 *
 * The cache is a directory: "<cache_dir>/sha256/<hex>" holds objects, "<cache_dir>/tmp/" holds
 * downloads in progress (renamed into place atomically once verified). A fetcher and all its
 * callbacks belong to the loop thread it was made on. This is the only module of the daemon that
 * includes <curl/curl.h>.
 */
#ifndef WF_FETCH_H
#define WF_FETCH_H

#include <stddef.h>
#include <uv.h>

typedef struct wf_fetcher wf_fetcher;

/* Largest download (source archive) and largest document (index page) accepted. */
#define WF_FETCH_MAX_FILE (2ull * 1024 * 1024 * 1024)
#define WF_FETCH_MAX_DOC (16u * 1024 * 1024)

/* Makes a fetcher on `loop` caching into cache_dir (created with its sha256/ and tmp/
 * subdirectories if missing). Call wf_hash_init() first. On success *out must be closed with
 * wf_fetcher_close(). Errors: a UV_E* code if the directories cannot be made, WF_EINFRA if
 * libcurl cannot start. */
int wf_fetcher_new(wf_fetcher **out, uv_loop_t *loop, const char *cache_dir);

/* Cancels every transfer (their callbacks fire with UV_ECANCELED, from inside this call),
 * closes the handles and frees the fetcher; on_closed(ctx) fires from the loop once all handles
 * are closed (may be NULL). No other wf_fetch* call on f after this. Accepts NULL (on_closed is
 * then not called). Callable from inside a fetch callback. */
void wf_fetcher_close(wf_fetcher *f, void (*on_closed)(void *ctx), void *ctx);

/* Path of the cached object "<cache_dir>/sha256/<hex>" if present (caller frees), else NULL.
 * sha256 is 64 hex digits (either case); anything else gives NULL. */
char *wf_fetcher_cached(wf_fetcher *f, const char *sha256);

/* Adds a local file to the cache: copies it into tmp/ while hashing, then renames it into
 * place. out_hex gets its sha256 (lowercase). Synchronous, blocking I/O. Returns 0, or a UV_E*
 * code naming the file-system failure. */
int wf_fetcher_add_file(wf_fetcher *f, const char *path, char out_hex[65]);

/* Called once per wf_fetch_start: err 0 or negative; on success `path` is the cached object and
 * `sha256` its lowercase hex digest. `message` says what failed (URL included), or is "ok".
 * All three strings are borrowed for the duration of the call. */
typedef void (*wf_fetch_cb)(int err, const char *path, const char *sha256, const char *message,
                            void *ctx);

/* Downloads url (http or https only; redirects followed, at most 5; connect timeout 30 s; at most
 * WF_FETCH_MAX_FILE bytes, else WF_ELIMIT; a transfer that moves nothing for 5 minutes fails).
 * When sha256 is non-NULL and that object is cached, completes on the next loop iteration
 * without a transfer. Otherwise streams into a temporary file while hashing; a sha256 that
 * does not match gives WF_EHASH with the message "sha256 mismatch for URL: expected X, got Y"
 * and the file is dropped. sha256 NULL: the object is stored under its computed hash.
 * HTTP status >= 400 gives WF_EHTTP ("GET URL: HTTP 404"); transport failures give WF_EHTTP
 * with curl's reason. Returns 0 (cb will fire exactly once, never from inside this call) or
 * WF_EINVAL (bad URL scheme or malformed sha256; cb never fires). */
int wf_fetch_start(wf_fetcher *f, const char *url, const char *sha256, wf_fetch_cb cb, void *ctx);

/* Called once per wf_fetch_doc. err 0 means an HTTP response arrived, whatever its status
 * (`status` is the final one after redirects; the caller judges 404 and friends); then `body`
 * is NUL-terminated, `len` bytes long, and content_type may be NULL. err < 0: no response
 * (WF_EHTTP, WF_ELIMIT for bodies over WF_FETCH_MAX_DOC, UV_ECANCELED), message says why.
 * All strings are borrowed for the duration of the call. */
typedef void (*wf_fetch_doc_cb)(int err, long status, const char *content_type, const char *body,
                                size_t len, const char *message, void *ctx);

/* GETs a small document (an index page) into memory with the given Accept header (NULL: none);
 * gzip and deflate are accepted. Same URL rules as wf_fetch_start. Returns 0 (cb fires later,
 * exactly once) or WF_EINVAL. */
int wf_fetch_doc(wf_fetcher *f, const char *url, const char *accept, wf_fetch_doc_cb cb, void *ctx);

/* POSTs body (len bytes, copied) to url with the given extra header lines ("Name: value",
 * copied; a line break in one is refused) and reads the answer like wf_fetch_doc: cb gets the
 * status whatever it is. Redirects are not followed (headers may carry credentials, which are
 * never put into messages); the whole exchange is bounded by 30 s. Used for the forge's commit
 * status calls. Returns 0 (cb fires later, exactly once) or WF_EINVAL (scheme, header). */
int wf_fetch_post(wf_fetcher *f, const char *url, const char *const *headers, size_t n_headers,
                  const char *body, size_t len, wf_fetch_doc_cb cb, void *ctx);

#endif
