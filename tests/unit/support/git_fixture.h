/* git_fixture.h - git repositories for unit tests, made with the git CLI in a temporary
 * directory: commands with a fixed identity and default branch, files written into a work
 * tree, commits, and a loopback port for git:// URLs that fail.
 *
 * Helpers that cannot go on fail the test (cmocka). Main thread only: git_fixture_isolate
 * changes the environment.
 */
#ifndef WF_TEST_GIT_FIXTURE_H
#define WF_TEST_GIT_FIXTURE_H

#include <stddef.h>

/* Keeps the machine's and the user's git configuration out of the test: no system config, and
 * HOME (where the global one lives) set to `home`, a directory of the test's. */
void git_fixture_isolate(const char *home);

/* Runs `git -C dir ARGS...` as user wf <wf@t> with main as the default branch; args ends with
 * NULL. Its standard output goes into out when not NULL (at most n - 1 bytes, trailing newlines
 * removed). Returns git's exit status, -1 when it did not exit normally. */
int git_fixture_run(const char *dir, char *out, size_t n, const char *const *args);

/* git in dir with these arguments, which must succeed: GIT(src, "commit", "-q", "-m", "one"). */
#define GIT(dir, ...)                                                                              \
    assert_int_equal(git_fixture_run((dir), NULL, 0, (const char *[]){__VA_ARGS__, NULL}), 0)

/* Writes text to dir/rel, creating the directories on the way. */
void git_fixture_put(const char *dir, const char *rel, const char *text);

/* The commit id that rev names in the repository at dir, into out. */
void git_fixture_rev_parse(const char *dir, const char *rev, char out[41]);

/* Commits everything in the work tree at dir (even nothing) with the given message; the new
 * head into out. */
void git_fixture_commit(const char *dir, const char *message, char out[41]);

/* Runs a shell script (sh -ec) for fixtures that read best as one; returns its exit status,
 * -1 when it did not exit normally. */
int git_fixture_sh(const char *script);

/* A socket listening on 127.0.0.1 that nobody accepts on: connections complete in the kernel
 * and reads never return (a server that hangs). Its port into *port; the caller closes the fd,
 * after which connections to the port are refused. */
int git_fixture_silent_listener(int *port);

#endif
