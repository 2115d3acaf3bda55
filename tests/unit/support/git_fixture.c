/* git_fixture.c - git repositories for unit tests, made with the git CLI (see git_fixture.h). */
#include "git_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/fsutil.h"
#include "lib/wf.h"

void git_fixture_isolate(const char *home)
{
    setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
    setenv("HOME", home, 1);
}

/* Copies what the child writes to fd into out (at most n - 1 bytes, trailing newlines
 * removed), reading to the end either way so the child never blocks on a full pipe. */
static void read_output(int fd, char *out, size_t n)
{
    size_t len = 0;
    char buf[4096];
    ssize_t r;
    while ((r = read(fd, buf, sizeof(buf))) > 0) {
        if (out != NULL && len + 1 < n) {
            size_t take = (size_t)r < n - 1 - len ? (size_t)r : n - 1 - len;
            memcpy(out + len, buf, take);
            len += take;
        }
    }
    if (out != NULL) {
        out[len] = '\0';
        while (len > 0 && out[len - 1] == '\n')
            out[--len] = '\0';
    }
}

int git_fixture_run(const char *dir, char *out, size_t n, const char *const *args)
{
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const char *argv[32] = {"git",
                                "-C",
                                dir,
                                "-c",
                                "user.name=wf",
                                "-c",
                                "user.email=wf@t",
                                "-c",
                                "init.defaultBranch=main"};
        size_t k = 9;
        for (size_t i = 0; args[i] != NULL && k < 31; i++)
            argv[k++] = args[i];
        argv[k] = NULL;
        dup2(pfd[1], 1);
        close(pfd[0]);
        execvp("git", (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    read_output(pfd[0], out, n);
    close(pfd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void git_fixture_put(const char *dir, const char *rel, const char *text)
{
    char *path = wf_asprintf("%s/%s", dir, rel);
    char *parent = wf_strdup(path);
    *strrchr(parent, '/') = '\0';
    assert_int_equal(wf_fs_mkdirs(parent, 0755), 0);
    assert_int_equal(wf_fs_write_atomic(path, text, strlen(text), 0644), 0);
    free(parent);
    free(path);
}

void git_fixture_rev_parse(const char *dir, const char *rev, char out[41])
{
    char buf[64];
    assert_int_equal(
        git_fixture_run(dir, buf, sizeof(buf), (const char *[]){"rev-parse", rev, NULL}), 0);
    assert_int_equal(strlen(buf), 40);
    memcpy(out, buf, 41);
}

void git_fixture_commit(const char *dir, const char *message, char out[41])
{
    GIT(dir, "add", "-A");
    GIT(dir, "commit", "-q", "--allow-empty", "-m", message);
    git_fixture_rev_parse(dir, "HEAD", out);
}

int git_fixture_sh(const char *script)
{
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-ec", script, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int git_fixture_silent_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 8), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}
