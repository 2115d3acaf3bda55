/* hash.c - SHA-256 digests (incremental, one-shot, of files) on top of libsodium. */
#include "hash.h"
#include "wf.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Static_assert(sizeof(crypto_hash_sha256_state) <= sizeof(((wf_sha256 *)0)->state),
               "wf_sha256 too small for crypto_hash_sha256_state");
_Static_assert(alignof(crypto_hash_sha256_state) <= 16,
               "wf_sha256 not aligned enough for crypto_hash_sha256_state");

#define READ_CHUNK (64 * 1024)

static crypto_hash_sha256_state *state_of(wf_sha256 *h)
{
    return (crypto_hash_sha256_state *)(void *)h->state;
}

void wf_sha256_init(wf_sha256 *h)
{
    crypto_hash_sha256_init(state_of(h));
}

void wf_sha256_update(wf_sha256 *h, const void *p, size_t n)
{
    if (n > 0)
        crypto_hash_sha256_update(state_of(h), p, n);
}

void wf_sha256_final_hex(wf_sha256 *h, char out[WF_SHA256_HEX_LEN + 1])
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(state_of(h), digest);
    sodium_bin2hex(out, WF_SHA256_HEX_LEN + 1, digest, sizeof(digest));
    sodium_memzero(h, sizeof(*h));
}

void wf_sha256_hex(const void *p, size_t n, char out[WF_SHA256_HEX_LEN + 1])
{
    wf_sha256 h;
    wf_sha256_init(&h);
    wf_sha256_update(&h, p, n);
    wf_sha256_final_hex(&h, out);
}

int wf_sha256_file(const char *path, char out[WF_SHA256_HEX_LEN + 1], uint64_t *size_out)
{
    unsigned char *buf = NULL;
    wf_sha256 h;
    uint64_t total = 0;
    int err = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    buf = wf_malloc(READ_CHUNK);
    wf_sha256_init(&h);
    for (;;) {
        ssize_t n = read(fd, buf, READ_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = -errno;
            goto out;
        }
        if (n == 0)
            break;
        wf_sha256_update(&h, buf, (size_t)n);
        total += (uint64_t)n;
    }
    wf_sha256_final_hex(&h, out);
    if (size_out != NULL)
        *size_out = total;
out:
    free(buf);
    close(fd);
    return err;
}

int wf_sha256_valid_hex(const char *s, size_t len)
{
    if (len != WF_SHA256_HEX_LEN)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return 1;
}

int wf_hash_init(void)
{
    return sodium_init() < 0 ? WF_EINFRA : 0;
}
