/* test-hash.c - unit tests for lib/hash.c: SHA-256 vectors, incremental use, files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "lib/hash.h"
#include "lib/wf.h"

#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/* FIPS 180-2 two-block vector. */
#define MSG_448 "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
#define SHA_448 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
/* One million 'a's. */
#define SHA_MILLION_A "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"

static int setup(void **state)
{
    (void)state;
    return wf_hash_init();
}

static void test_vectors(void **state)
{
    (void)state;
    char hex[WF_SHA256_HEX_LEN + 1];
    wf_sha256_hex("", 0, hex);
    assert_string_equal(hex, SHA_EMPTY);
    wf_sha256_hex(NULL, 0, hex);
    assert_string_equal(hex, SHA_EMPTY);
    wf_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, SHA_ABC);
    wf_sha256_hex(MSG_448, strlen(MSG_448), hex);
    assert_string_equal(hex, SHA_448);
}

static void test_incremental(void **state)
{
    (void)state;
    char hex[WF_SHA256_HEX_LEN + 1];
    wf_sha256 h;
    wf_sha256_init(&h);
    wf_sha256_update(&h, "a", 1);
    wf_sha256_update(&h, NULL, 0);
    wf_sha256_update(&h, "bc", 2);
    wf_sha256_final_hex(&h, hex);
    assert_string_equal(hex, SHA_ABC);

    /* Uneven chunks across block boundaries. */
    char block[1000];
    memset(block, 'a', sizeof(block));
    wf_sha256_init(&h);
    for (size_t done = 0, step = 1; done < 1000000; done += step, step = step % 997 + 1) {
        if (step > 1000000 - done)
            step = 1000000 - done;
        wf_sha256_update(&h, block, step);
    }
    wf_sha256_final_hex(&h, hex);
    assert_string_equal(hex, SHA_MILLION_A);

    /* The struct can be reused after init. */
    wf_sha256_init(&h);
    wf_sha256_final_hex(&h, hex);
    assert_string_equal(hex, SHA_EMPTY);
}

static void test_file(void **state)
{
    (void)state;
    char path[] = "/tmp/wf-test-hash-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    /* Bigger than the read chunk, so the loop runs more than once. */
    size_t n = 200000;
    char *data = malloc(n);
    assert_non_null(data);
    memset(data, 'a', n);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);

    char want[WF_SHA256_HEX_LEN + 1], hex[WF_SHA256_HEX_LEN + 1];
    wf_sha256_hex(data, n, want);
    uint64_t size = 0;
    assert_int_equal(wf_sha256_file(path, hex, &size), 0);
    assert_string_equal(hex, want);
    assert_int_equal(size, n);
    assert_int_equal(wf_sha256_file(path, hex, NULL), 0);
    assert_string_equal(hex, want);

    /* Empty file. */
    assert_int_equal(truncate(path, 0), 0);
    assert_int_equal(wf_sha256_file(path, hex, &size), 0);
    assert_string_equal(hex, SHA_EMPTY);
    assert_int_equal(size, 0);
    unlink(path);
    free(data);

    /* Errors are negative errno-style codes and leave the outputs alone. */
    memset(hex, 'x', sizeof(hex));
    size = 7;
    assert_int_equal(wf_sha256_file(path, hex, &size), UV_ENOENT);
    assert_int_equal(size, 7);
    assert_int_equal(hex[0], 'x');
    assert_int_equal(wf_sha256_file("/tmp", hex, &size), UV_EISDIR);
    assert_int_equal(size, 7);
}

static void test_valid_hex(void **state)
{
    (void)state;
    assert_true(wf_sha256_valid_hex(SHA_ABC, 64));
    assert_false(wf_sha256_valid_hex(SHA_ABC, 63));
    assert_false(wf_sha256_valid_hex(SHA_ABC "0", 65));
    assert_false(wf_sha256_valid_hex("", 0));
    char upper[] = SHA_ABC;
    upper[0] = 'B';
    assert_false(wf_sha256_valid_hex(upper, 64));
    char bad[] = SHA_ABC;
    bad[63] = 'g';
    assert_false(wf_sha256_valid_hex(bad, 64));
    bad[63] = '\0';
    assert_false(wf_sha256_valid_hex(bad, 64));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_incremental),
        cmocka_unit_test(test_file),
        cmocka_unit_test(test_valid_hex),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
