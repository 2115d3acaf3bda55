/* probe.c - docker client detection through short synchronous child processes. */
#include "workers/probe.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/wf.h"
#include "workers/docker.h"

extern char **environ;

#define DETECT_TIMEOUT_MS 10000u

static int is_executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

char *wf_probe_which(const char *name)
{
    if (!name || !*name)
        return NULL;
    if (strchr(name, '/'))
        return is_executable(name) ? wf_strdup(name) : NULL;
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path;;) {
        const char *end = strchr(p, ':');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char *cand = wf_asprintf("%.*s/%s", (int)n, n ? p : ".", name);
        if (is_executable(cand))
            return cand;
        free(cand);
        if (!end)
            return NULL;
        p = end + 1;
    }
}

/* environ with `extra` added, inherited entries of the same names left out. Shallow: free only
 * the array. */
static char **merge_env(const char *const *extra)
{
    size_t n = 0, m = 0;
    while (environ && environ[n])
        n++;
    while (extra && extra[m])
        m++;
    char **env = wf_calloc(n + m + 1, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int replaced = 0;
        for (size_t j = 0; j < m && !replaced; j++) {
            size_t klen = strcspn(extra[j], "=");
            replaced = strncmp(environ[i], extra[j], klen + 1) == 0;
        }
        if (!replaced)
            env[k++] = environ[i];
    }
    for (size_t j = 0; j < m; j++)
        env[k++] = (char *)extra[j];
    return env;
}

/* Reads fd into out (up to the limit) until EOF or the deadline. 0, or WF_ETIMEOUT. */
static int read_until_eof(int fd, wf_buf *out, uint64_t deadline)
{
    char chunk[4096];
    for (;;) {
        uint64_t now = wf_now_ms();
        if (now >= deadline)
            return WF_ETIMEOUT;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)(deadline - now));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0)
            return WF_ETIMEOUT;
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        if (out->len + (size_t)r <= WF_PROBE_OUTPUT_MAX)
            wf_buf_add(out, chunk, (size_t)r);
    }
}

static int spawn_piped(pid_t *pid, int *read_fd, const char *const *argv, char **env)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -errno;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    /* Its own process group, so a timeout kill reaches whatever it started. */
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    int rc = posix_spawnp(pid, argv[0], &fa, &attr, (char *const *)argv, env);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return -rc;
    }
    *read_fd = fds[0];
    return 0;
}

int wf_probe_run(const char *const *argv, const char *const *extra_env, unsigned timeout_ms,
                 int *exit_status, char **output)
{
    char **env = merge_env(extra_env);
    wf_buf out = WF_BUF_INIT;
    pid_t pid = 0;
    int fd = -1;
    int rc = spawn_piped(&pid, &fd, argv, env);
    if (rc != 0)
        goto out;
    rc = read_until_eof(fd, &out, wf_now_ms() + timeout_ms);
    if (rc == WF_ETIMEOUT)
        kill(-pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (rc != 0)
        goto out;
    *exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (output) {
        wf_buf_adds(&out, "");
        *output = wf_buf_detach(&out);
    }
out:
    if (fd >= 0)
        close(fd);
    wf_buf_release(&out);
    free(env);
    return rc;
}

int wf_probe_docker(const char *client, const char *endpoint, const wf_docker_tls *tls,
                    const char *const *args, unsigned timeout_ms, int *exit_status, char **output)
{
    static const char *const blank[] = WF_DOCKER_CONNECTION_ENV;
    const char *env[WF_ARRAY_SIZE(blank) + 1] = {NULL};
    char *tls_args[4], *host = NULL;
    size_t n_args = 0, n_tls;

    if (tls != NULL && endpoint == NULL)
        return WF_EINVAL;
    while (args != NULL && args[n_args] != NULL)
        n_args++;
    n_tls = wf_docker_tls_args(tls_args, tls);
    const char **argv = wf_calloc(1 + n_tls + n_args + 1, sizeof(char *));
    argv[0] = client;
    for (size_t i = 0; i < n_tls; i++)
        argv[1 + i] = tls_args[i];
    for (size_t i = 0; i < n_args; i++)
        argv[1 + n_tls + i] = args[i];
    if (endpoint != NULL) {
        /* DOCKER_HOST first, then the others set to "" (the client treats empty as unset). */
        host = wf_asprintf("DOCKER_HOST=%s", endpoint);
        env[0] = host;
        for (size_t i = 1; i < WF_ARRAY_SIZE(blank); i++)
            env[i] = wf_asprintf("%s=", blank[i]);
    }
    int rc = wf_probe_run(argv, env, timeout_ms, exit_status, output);
    for (size_t i = 1; endpoint != NULL && i < WF_ARRAY_SIZE(blank); i++)
        free((char *)env[i]);
    free(host);
    for (size_t i = 0; i < n_tls; i++)
        free(tls_args[i]);
    free(argv);
    return rc;
}

static int has_buildx(const char *client)
{
    const char *argv[] = {client, "buildx", "version", NULL};
    int status = -1;
    return wf_probe_run(argv, NULL, DETECT_TIMEOUT_MS, &status, NULL) == 0 && status == 0;
}

static int has_buildkit_output(const char *client)
{
    const char *argv[] = {client, "build", "--help", NULL};
    const char *env[] = {"DOCKER_BUILDKIT=1", NULL};
    int status = -1;
    char *text = NULL;
    int ok = wf_probe_run(argv, env, DETECT_TIMEOUT_MS, &status, &text) == 0 && status == 0 &&
             strstr(text, "--output") != NULL;
    free(text);
    return ok;
}

/* Tries one client with buildx then BuildKit; says in `why` what it lacked. */
static int try_client(wf_docker_client *out, const char *name, wf_buf *why)
{
    char *path = wf_probe_which(name);
    if (!path) {
        wf_buf_addf(why, "; '%s' not found", name);
        return WF_ENOTFOUND;
    }
    wf_docker_mode mode = 0;
    if (has_buildx(path))
        mode = WF_DOCKER_BUILDX;
    else if (has_buildkit_output(path))
        mode = WF_DOCKER_BUILDKIT;
    if (mode == 0) {
        wf_buf_addf(why,
                    "; '%s' has no buildx plugin and its `DOCKER_BUILDKIT=1 docker build` "
                    "has no --output",
                    path);
        free(path);
        return WF_ENOTFOUND;
    }
    out->path = path;
    out->mode = mode;
    return 0;
}

int wf_docker_detect(wf_docker_client *out, const char *configured, char **errmsg)
{
    wf_buf why = WF_BUF_INIT;
    int rc = WF_ENOTFOUND;
    if (configured && *configured) {
        rc = try_client(out, configured, &why);
    } else {
        rc = try_client(out, "docker", &why);
        if (rc != 0)
            rc = try_client(out, "/usr/bin/docker", &why);
    }
    if (rc != 0 && errmsg) {
        *errmsg = wf_asprintf("no usable docker client%s; install the docker buildx plugin or a "
                              "client with built-in BuildKit (Debian's docker.io), or name one in "
                              "the configuration",
                              why.ptr ? why.ptr : "");
    }
    wf_buf_release(&why);
    return rc;
}

void wf_docker_client_release(wf_docker_client *c)
{
    if (!c)
        return;
    free(c->path);
    c->path = NULL;
    c->mode = 0;
}
