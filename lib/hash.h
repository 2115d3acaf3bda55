/* hash.h - SHA-256 through libsodium, the one module that includes <sodium.h> for hashing.
 *
 * Digests are lowercase hexadecimal, as in PEP 503 "#sha256=" fragments. Call wf_hash_init()
 * once at start-up before any other function here. A wf_sha256 belongs to one thread at a time;
 * the one-shot functions are thread-safe.
 */
#ifndef WF_HASH_H
#define WF_HASH_H

#include <stddef.h>
#include <stdint.h>

#define WF_SHA256_HEX_LEN 64

/* An incremental SHA-256. Room for libsodium's crypto_hash_sha256_state (hash.c checks the
 * size and alignment at compile time); treat the bytes as opaque. Embed or put on the stack. */
typedef struct wf_sha256 {
    _Alignas(16) unsigned char state[128];
} wf_sha256;

/* Starts a new digest in *h (any previous contents are discarded). */
void wf_sha256_init(wf_sha256 *h);
/* Feeds n bytes at p (p may be NULL when n is 0). */
void wf_sha256_update(wf_sha256 *h, const void *p, size_t n);
/* Writes the digest as 64 lowercase hex digits plus NUL into out and wipes *h; call
 * wf_sha256_init() again before reusing it. */
void wf_sha256_final_hex(wf_sha256 *h, char out[WF_SHA256_HEX_LEN + 1]);

/* One-shot digest of n bytes at p, as lowercase hex plus NUL. */
void wf_sha256_hex(const void *p, size_t n, char out[WF_SHA256_HEX_LEN + 1]);

/* Digests the file at `path` (blocking I/O: run it on a worker thread for big files). On
 * success returns 0, writes the hex digest to out and, if size_out is not NULL, the number of
 * bytes read to *size_out. On failure returns a negative errno-style code (UV_ENOENT,
 * UV_EACCES, UV_EISDIR, ...) and writes nothing. */
int wf_sha256_file(const char *path, char out[WF_SHA256_HEX_LEN + 1], uint64_t *size_out);

/* 1 if [s, s+len) is exactly 64 lowercase hex digits; 0 otherwise. */
int wf_sha256_valid_hex(const char *s, size_t len);

/* Initializes libsodium (sodium_init). Call once at start-up; calling again is harmless.
 * Returns 0, or WF_EINFRA if libsodium cannot start (e.g. no system randomness). */
int wf_hash_init(void);

#endif
