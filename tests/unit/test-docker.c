/* test-docker.c - tests for workers/docker.c and probe.c: real BuildKit builds, a fake client. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "lib/wf.h"
#include "workers/docker.h"
#include "workers/probe.h"

static wf_docker_client g_client; /* the real client, when one is usable */
static const char *g_skip_reason; /* why the real-engine tests are skipped, or NULL */
static int g_skipped;

typedef struct result {
    int fired;
    int status;
    char *summary;
    int lines;
    int cancel_on_line; /* cancel the build from the first line callback */
    int pid_seen;
} result;

static void on_done(wf_build *b, int status, const char *summary, void *ctx)
{
    result *r = ctx;
    (void)b;
    r->fired++;
    r->status = status;
    r->summary = wf_strdup(summary);
}

static void on_line(wf_build *b, const char *line, size_t len, void *ctx)
{
    result *r = ctx;
    (void)line;
    (void)len;
    if (r->lines++ == 0) {
        r->pid_seen = wf_build_pid(b);
        if (r->cancel_on_line)
            wf_build_cancel(b);
    }
}

static char *make_tmpdir(void)
{
    char tmpl[] = "/tmp/wf-test-docker-XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return wf_strdup(d);
}

static void write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
    char *path = wf_asprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
    free(path);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    wf_buf b = WF_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        wf_buf_add(&b, chunk, n);
    fclose(f);
    wf_buf_adds(&b, "");
    return wf_buf_detach(&b);
}

static void rm_rf(const char *dir)
{
    const char *argv[] = {"rm", "-rf", dir, NULL};
    int status = -1;
    assert_int_equal(wf_probe_run(argv, NULL, 30000, &status, NULL), 0);
    assert_int_equal(status, 0);
}

/* Runs one build to completion on a private loop; the loop must close cleanly. */
static void run_build(wf_build_options *o, result *r, const char *dir)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    char *ctx = wf_asprintf("%s/ctx", dir);
    char *out = wf_asprintf("%s/out", dir);
    char *log = wf_asprintf("%s/build.log", dir);
    if (!o->context_dir)
        o->context_dir = ctx;
    o->output_dir = out;
    o->log_path = log;
    if (!o->platform)
        o->platform = "linux/amd64";
    wf_build *b = NULL;
    assert_int_equal(wf_build_start(&b, &loop, o, on_done, on_line, r), 0);
    assert_non_null(b);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(r->fired, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
    struct stat st;
    assert_int_equal(stat(out, &st), 0); /* created by wf_build_start */
    free(ctx);
    free(out);
    free(log);
}

static char *ctx_with_dockerfile(const char *dockerfile)
{
    char *dir = make_tmpdir();
    char *ctx = wf_asprintf("%s/ctx", dir);
    assert_int_equal(mkdir(ctx, 0755), 0);
    write_file(ctx, "Dockerfile", dockerfile, 0644);
    write_file(ctx, "hello.txt", "hello from wheelfarm\n", 0644);
    free(ctx);
    return dir;
}

static int skip_without_engine(void)
{
    if (!g_skip_reason)
        return 0;
    fprintf(stderr, "skipped: %s\n", g_skip_reason);
    g_skipped = 1;
    return 1;
}

static void test_real_build_ok(void **state)
{
    (void)state;
    if (skip_without_engine())
        skip();
    char *dir = ctx_with_dockerfile("FROM scratch\nCOPY hello.txt /\n");
    wf_build_options o = WF_BUILD_OPTIONS_INIT;
    o.client = &g_client;
    o.timeout_s = 120;
    result r = {0};
    run_build(&o, &r, dir);
    assert_int_equal(r.status, 0);
    assert_true(r.lines > 0);
    assert_true(r.pid_seen > 0);
    char *path = wf_asprintf("%s/out/hello.txt", dir);
    char *text = read_file(path);
    assert_non_null(text);
    assert_string_equal(text, "hello from wheelfarm\n");
    free(text);
    free(path);
    path = wf_asprintf("%s/build.log", dir);
    text = read_file(path);
    assert_non_null(text);
    assert_non_null(strstr(text, "wheelfarm: starting:"));
    assert_non_null(strstr(text, "--progress=plain"));
    assert_non_null(strstr(text, "COPY hello.txt"));
    assert_non_null(strstr(text, "wheelfarm: finished: ok"));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    free(text);
    free(path);
    free(r.summary);
    rm_rf(dir);
    free(dir);
}

static void test_real_build_fails(void **state)
{
    (void)state;
    if (skip_without_engine())
        skip();
    static const struct {
        const char *dockerfile;
        const char *summary_part;
    } cases[] = {
        {"FROM scratch\nCOPY missing /\n", "not found"},
        {"FROM scratch\nFROMM nothing\n", "unknown instruction"},
    };
    for (size_t i = 0; i < WF_ARRAY_SIZE(cases); i++) {
        char *dir = ctx_with_dockerfile(cases[i].dockerfile);
        wf_build_options o = WF_BUILD_OPTIONS_INIT;
        o.client = &g_client;
        o.timeout_s = 120;
        result r = {0};
        run_build(&o, &r, dir);
        assert_int_equal(r.status, WF_EBUILD);
        assert_non_null(strstr(r.summary, cases[i].summary_part));
        free(r.summary);
        rm_rf(dir);
        free(dir);
    }
}

static void test_real_engine_unreachable(void **state)
{
    (void)state;
    if (skip_without_engine())
        skip();
    char *dir = ctx_with_dockerfile("FROM scratch\nCOPY hello.txt /\n");
    wf_build_options o = WF_BUILD_OPTIONS_INIT;
    o.client = &g_client;
    o.endpoint = "unix:///nonexistent.sock";
    result r = {0};
    run_build(&o, &r, dir);
    assert_int_equal(r.status, WF_EINFRA);
    assert_non_null(strstr(r.summary, "nonexistent.sock"));
    free(r.summary);
    rm_rf(dir);
    free(dir);
}

/* A fake client: prints its arguments and environment, then does what `tail` says. */
static char *fake_client(const char *dir, const char *tail)
{
    char *script =
        wf_asprintf("#!/bin/sh\n"
                    "echo \"fake-args: $*\"\n"
                    "echo \"fake-env: buildkit=$DOCKER_BUILDKIT host=$DOCKER_HOST\" >&2\n"
                    "%s\n",
                    tail);
    write_file(dir, "fake-docker", script, 0755);
    free(script);
    return wf_asprintf("%s/fake-docker", dir);
}

static void test_fake_arguments(void **state)
{
    (void)state;
    char *dir = ctx_with_dockerfile("FROM scratch\n");
    wf_docker_client c = {fake_client(dir, "exit 0"), WF_DOCKER_BUILDKIT};
    const char *const args[] = {"PYVER=3.12", "A=b c", NULL};
    wf_build_options o = WF_BUILD_OPTIONS_INIT;
    o.client = &c;
    o.platform = "linux/arm64";
    o.endpoint = "tcp://127.0.0.1:1";
    o.build_args = args;
    result r = {0};
    run_build(&o, &r, dir);
    assert_int_equal(r.status, 0);
    char *path = wf_asprintf("%s/build.log", dir);
    char *text = read_file(path);
    char *want =
        wf_asprintf("fake-args: build --progress=plain --platform=linux/arm64 "
                    "--output=type=local,dest=%s/out --build-arg PYVER=3.12 --build-arg A=b c "
                    "-f %s/ctx/Dockerfile %s/ctx\n",
                    dir, dir, dir);
    assert_non_null(strstr(text, want));
    assert_non_null(strstr(text, "fake-env: buildkit=1 host=tcp://127.0.0.1:1\n"));
    assert_non_null(strstr(text, "'A=b c'")); /* the header line quotes it */
    free(want);
    free(text);
    free(path);
    free(r.summary);
    /* buildx mode says `buildx build --builder=...` and sets no DOCKER_BUILDKIT. */
    c.mode = WF_DOCKER_BUILDX;
    o.builder = "farm";
    o.endpoint = NULL;
    o.build_args = NULL;
    o.context_dir = NULL;
    result r2 = {0};
    run_build(&o, &r2, dir);
    assert_int_equal(r2.status, 0);
    path = wf_asprintf("%s/build.log", dir);
    text = read_file(path);
    assert_non_null(strstr(text, "fake-args: buildx build --builder=farm --progress=plain"));
    /* no endpoint: the daemon's own DOCKER_HOST, if any, is passed on */
    const char *inherited = getenv("DOCKER_HOST");
    char *env_line = wf_asprintf("fake-env: buildkit= host=%s\n", inherited ? inherited : "");
    assert_non_null(strstr(text, env_line));
    free(env_line);
    free(text);
    free(path);
    free(r2.summary);
    wf_docker_client_release(&c);
    rm_rf(dir);
    free(dir);
}

/* A worker's TLS settings reach the client as global options before the subcommand, for builds
 * and for probes; a worker that names its endpoint never inherits the daemon's TLS variables. */
static void test_fake_tls(void **state)
{
    (void)state;
    char *dir = ctx_with_dockerfile("FROM scratch\n");
    write_file(dir, "fake-docker",
               "#!/bin/sh\n"
               "echo \"fake-args: $*\"\n"
               "echo \"fake-env: host=$DOCKER_HOST verify=$DOCKER_TLS_VERIFY "
               "certs=$DOCKER_CERT_PATH tls=$DOCKER_TLS\"\n",
               0755);
    wf_docker_client c = {wf_asprintf("%s/fake-docker", dir), WF_DOCKER_BUILDKIT};
    wf_docker_tls tls = {"/etc/wf/ca.pem", "/etc/wf/cert.pem", "/etc/wf/key.pem"};
    setenv("DOCKER_TLS_VERIFY", "1", 1);
    setenv("DOCKER_CERT_PATH", "/inherited", 1);

    wf_build_options o = WF_BUILD_OPTIONS_INIT;
    o.client = &c;
    o.endpoint = "tcp://10.231.0.2:2376";
    o.tls = &tls;
    result r = {0};
    run_build(&o, &r, dir);
    assert_int_equal(r.status, 0);
    free(r.summary);
    char *path = wf_asprintf("%s/build.log", dir);
    char *text = read_file(path);
    assert_non_null(strstr(text, "fake-args: --tlsverify --tlscacert=/etc/wf/ca.pem "
                                 "--tlscert=/etc/wf/cert.pem --tlskey=/etc/wf/key.pem build "
                                 "--progress=plain"));
    assert_non_null(strstr(text, "fake-env: host=tcp://10.231.0.2:2376 verify= certs= tls=\n"));
    free(text);
    unlink(path);

    /* A unix:// worker: no TLS options and no inherited TLS variables. */
    o.endpoint = "unix:///run/other.sock";
    o.tls = NULL;
    o.context_dir = NULL;
    result r2 = {0};
    run_build(&o, &r2, dir);
    free(r2.summary);
    text = read_file(path);
    assert_non_null(strstr(text, "fake-args: build --progress=plain"));
    assert_non_null(strstr(text, "fake-env: host=unix:///run/other.sock verify= certs= tls=\n"));
    free(text);
    free(path);

    /* TLS without an endpoint is a caller's mistake. */
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    wf_build *b = NULL;
    o.endpoint = NULL;
    o.tls = &tls;
    assert_int_equal(wf_build_start(&b, &loop, &o, on_done, NULL, &r2), WF_EINVAL);
    assert_int_equal(uv_loop_close(&loop), 0);

    /* Probes reach the engine the same way. */
    const char *args[] = {"version", "--format", "{{.Server.Arch}}", NULL};
    int status = -1;
    char *out = NULL;
    assert_int_equal(
        wf_probe_docker(c.path, "tcp://10.231.0.2:2376", &tls, args, 5000, &status, &out), 0);
    assert_int_equal(status, 0);
    assert_string_equal(out, "fake-args: --tlsverify --tlscacert=/etc/wf/ca.pem "
                             "--tlscert=/etc/wf/cert.pem --tlskey=/etc/wf/key.pem version "
                             "--format {{.Server.Arch}}\n"
                             "fake-env: host=tcp://10.231.0.2:2376 verify= certs= tls=\n");
    free(out);
    /* Without an endpoint the daemon's own environment decides, as for builds. */
    assert_int_equal(wf_probe_docker(c.path, NULL, NULL, args, 5000, &status, &out), 0);
    assert_non_null(strstr(out, "fake-args: version --format"));
    assert_non_null(strstr(out, "verify=1 certs=/inherited"));
    free(out);
    assert_int_equal(wf_probe_docker(c.path, NULL, &tls, args, 5000, &status, &out), WF_EINVAL);

    unsetenv("DOCKER_TLS_VERIFY");
    unsetenv("DOCKER_CERT_PATH");
    wf_docker_client_release(&c);
    rm_rf(dir);
    free(dir);
}

static void test_fake_classification(void **state)
{
    (void)state;
    static const struct {
        const char *tail;
        int status;
        const char *summary_part;
    } cases[] = {
        {"echo '#9 ERROR: process \"/bin/sh -c make\" did not complete successfully: exit code: 2' "
         ">&2\n"
         "echo 'ERROR: failed to solve: process \"/bin/sh -c make\" did not complete successfully: "
         "exit code: 2' >&2; exit 1",
         WF_EBUILD, "failed to solve: process"},
        {"echo 'executor failed running [/bin/sh -c false]: exit code: 1' >&2; exit 1", WF_EBUILD,
         "executor failed running"},
        {"echo 'Cannot connect to the Docker daemon at unix:///x.sock. Is the docker daemon "
         "running?' >&2; exit 1",
         WF_EINFRA, "Cannot connect"},
        {"echo 'error during connect: Get \"http://x/v1.41/info\": EOF' >&2; exit 1", WF_EINFRA,
         "error during connect"},
        /* A build step's own output must not decide the class. */
        {"echo '#7 0.512 executor failed running [fake]: exit code: 1'; echo 'error reading "
         "from server: EOF' >&2; exit 1",
         WF_EINFRA, "error reading from server: EOF (docker exit status 1)"},
        /* A failing test stage: the template's short verdict is the summary... */
        {"echo '#12 3.210 + python -c raise SystemExit(3)'\n"
         "echo '#12 3.250 wheelfarm: test_command failed (exit 3)'\n"
         "echo 'ERROR: failed to solve: process \"/bin/sh -c . /wf/job.sh && \"$WF_PYTHON\" -m pip "
         "install\" did not complete successfully: exit code: 1' >&2; exit 1",
         WF_EBUILD, "test_command failed (exit 3)"},
        /* ...but it never turns an engine failure into a build failure, nor a lookalike line
         * into a verdict. */
        {"echo '#12 3.250 wheelfarm: test_command failed (exit 3)'; echo 'error reading from "
         "server: EOF' >&2; exit 1",
         WF_EINFRA, "error reading from server: EOF (docker exit status 1)"},
        {"echo '#12 3.250 wheelfarm: test_command failed (exit 3) later'\n"
         "echo 'executor failed running [/bin/sh -c test]: exit code: 1' >&2; exit 1",
         WF_EBUILD, "executor failed running [/bin/sh -c test]: exit code: 1"},
        {"kill -9 $$", WF_EINFRA, "killed by signal 9"},
        {"exit 0", 0, "build succeeded"},
    };
    for (size_t i = 0; i < WF_ARRAY_SIZE(cases); i++) {
        char *dir = ctx_with_dockerfile("FROM scratch\n");
        wf_docker_client c = {fake_client(dir, cases[i].tail), WF_DOCKER_BUILDKIT};
        wf_build_options o = WF_BUILD_OPTIONS_INIT;
        o.client = &c;
        result r = {0};
        run_build(&o, &r, dir);
        if (r.status != cases[i].status || !strstr(r.summary, cases[i].summary_part))
            fail_msg("case %zu: status %d summary '%s'", i, r.status, r.summary);
        free(r.summary);
        wf_docker_client_release(&c);
        rm_rf(dir);
        free(dir);
    }
}

/* 1 if a live (not zombie) process is in process group pgid. Orphaned zombies count as gone:
 * they wait for PID 1 to reap them, which in a container can take a while. */
static int group_alive(int pgid)
{
    DIR *d = opendir("/proc");
    assert_non_null(d);
    int alive = 0;
    struct dirent *de;
    while (!alive && (de = readdir(d)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        char path[300], buf[512];
        snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        const char *rp = strrchr(buf, ')'); /* after "pid (comm)" come state, ppid, pgrp */
        char state = 0;
        int ppid = 0, pgrp = 0;
        if (rp && sscanf(rp + 1, " %c %d %d", &state, &ppid, &pgrp) == 3 && pgrp == pgid &&
            state != 'Z')
            alive = 1;
    }
    closedir(d);
    return alive;
}

static void assert_group_gone(int pid)
{
    assert_true(pid > 0);
    /* The whole process group (the script and its sleep) is gone once cb fired. */
    for (int i = 0; i < 100 && group_alive(pid); i++)
        usleep(10000);
    assert_false(group_alive(pid));
}

static void test_fake_timeout(void **state)
{
    (void)state;
    char *dir = ctx_with_dockerfile("FROM scratch\n");
    wf_docker_client c = {fake_client(dir, "sleep 30"), WF_DOCKER_BUILDKIT};
    wf_build_options o = WF_BUILD_OPTIONS_INIT;
    o.client = &c;
    o.timeout_s = 1;
    result r = {0};
    uint64_t t0 = wf_now_ms();
    run_build(&o, &r, dir);
    uint64_t took = wf_now_ms() - t0;
    assert_int_equal(r.status, WF_ETIMEOUT);
    assert_true(took >= 1000 && took < 8000);
    assert_non_null(strstr(r.summary, "timed out after 1 s"));
    assert_group_gone(r.pid_seen);
    free(r.summary);
    wf_docker_client_release(&c);
    rm_rf(dir);
    free(dir);
}

/* A build silent for idle_timeout_s is stopped with its own summary; hard timeout unaffected. */
static void test_fake_idle_timeout(void **state)
{
    (void)state;
    char *dir = ctx_with_dockerfile("FROM scratch\n");
    /* One line, then silence (the fake client's own lines come first). */
    wf_docker_client c = {fake_client(dir, "echo compiling; sleep 30"), WF_DOCKER_BUILDKIT};
    wf_build_options o = WF_BUILD_OPTIONS_INIT;
    o.client = &c;
    o.timeout_s = 120;
    o.idle_timeout_s = 1;
    o.kill_grace_ms = 300;
    result r = {0};
    uint64_t t0 = wf_now_ms();
    run_build(&o, &r, dir);
    uint64_t took = wf_now_ms() - t0;
    assert_int_equal(r.status, WF_ETIMEOUT);
    assert_true(took >= 1000 && took < 8000);
    assert_string_equal(r.summary, "no output for 1 s (idle_timeout)");
    assert_group_gone(r.pid_seen);
    char *path = wf_asprintf("%s/build.log", dir);
    char *text = read_file(path);
    assert_non_null(strstr(text, "compiling\n"));
    assert_non_null(strstr(text, "no output for 1 s (idle_timeout)"));
    free(text);
    free(path);
    free(r.summary);
    wf_docker_client_release(&c);
    rm_rf(dir);
    free(dir);
}

/* Output resets the idle clock: a build that writes a line every 0.3 s for 2.4 s outlives an
 * idle timeout of 1 s and succeeds. */
static void test_fake_idle_output_keeps_going(void **state)
{
    (void)state;
    char *dir = ctx_with_dockerfile("FROM scratch\n");
    wf_docker_client c = {
        fake_client(dir, "for i in 1 2 3 4 5 6 7 8; do echo step $i; sleep 0.3; done; exit 0"),
        WF_DOCKER_BUILDKIT};
    wf_build_options o = WF_BUILD_OPTIONS_INIT;
    o.client = &c;
    o.idle_timeout_s = 1;
    result r = {0};
    uint64_t t0 = wf_now_ms();
    run_build(&o, &r, dir);
    assert_int_equal(r.status, 0);
    assert_true(wf_now_ms() - t0 >= 2400);
    assert_true(r.lines >= 10);
    free(r.summary);
    wf_docker_client_release(&c);
    rm_rf(dir);
    free(dir);
}

static void test_fake_cancel(void **state)
{
    (void)state;
    /* The second case ignores SIGTERM (inherited by sleep), so only the SIGKILL ends it. */
    static const char *const tails[] = {"sleep 30", "trap '' TERM; sleep 30"};
    for (size_t i = 0; i < WF_ARRAY_SIZE(tails); i++) {
        char *dir = ctx_with_dockerfile("FROM scratch\n");
        wf_docker_client c = {fake_client(dir, tails[i]), WF_DOCKER_BUILDKIT};
        wf_build_options o = WF_BUILD_OPTIONS_INIT;
        o.client = &c;
        o.kill_grace_ms = 300;
        result r = {0};
        r.cancel_on_line = 1;
        uint64_t t0 = wf_now_ms();
        run_build(&o, &r, dir);
        assert_int_equal(r.status, WF_ECANCELED);
        assert_true(wf_now_ms() - t0 < 8000);
        assert_group_gone(r.pid_seen);
        char *path = wf_asprintf("%s/build.log", dir);
        char *text = read_file(path);
        assert_non_null(strstr(text, "wheelfarm: finished: "));
        assert_non_null(strstr(text, ": build canceled\n"));
        free(text);
        free(path);
        free(r.summary);
        wf_docker_client_release(&c);
        rm_rf(dir);
        free(dir);
    }
}

static void test_bad_options(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    wf_docker_client c = {(char *)"/bin/true", WF_DOCKER_BUILDKIT};
    wf_build_options o = WF_BUILD_OPTIONS_INIT;
    o.client = &c;
    o.context_dir = "/tmp";
    o.platform = "linux/amd64";
    o.output_dir = "/tmp/wf-test-docker-unused";
    o.log_path = "/nonexistent-dir/build.log";
    result r = {0};
    wf_build *b = NULL;
    assert_int_equal(wf_build_start(&b, &loop, &o, on_done, NULL, &r), -ENOENT);
    assert_null(b);
    const char *const bad_args[] = {"NOEQUALS", NULL};
    o.log_path = "/tmp/wf-test-docker-unused/log";
    o.build_args = bad_args;
    assert_int_equal(wf_build_start(&b, &loop, &o, on_done, NULL, &r), WF_EINVAL);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(r.fired, 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    rmdir("/tmp/wf-test-docker-unused");
}

static void test_detect(void **state)
{
    (void)state;
    wf_docker_client c = {0};
    char *msg = NULL;
    assert_int_equal(wf_docker_detect(&c, "/nonexistent/docker", &msg), WF_ENOTFOUND);
    assert_non_null(strstr(msg, "'/nonexistent/docker' not found"));
    assert_null(c.path);
    free(msg);
    msg = NULL;
    /* /bin/false fails both checks. */
    assert_int_equal(wf_docker_detect(&c, "/bin/false", &msg), WF_ENOTFOUND);
    assert_non_null(strstr(msg, "has no buildx plugin"));
    free(msg);
    char *dir = make_tmpdir();
    write_file(dir, "kit",
               "#!/bin/sh\n[ \"$1\" = build ] && [ \"$DOCKER_BUILDKIT\" = 1 ] && "
               "echo '  -o, --output stringArray' && exit 0\nexit 1\n",
               0755);
    char *kit = wf_asprintf("%s/kit", dir);
    assert_int_equal(wf_docker_detect(&c, kit, NULL), 0);
    assert_string_equal(c.path, kit);
    assert_int_equal(c.mode, WF_DOCKER_BUILDKIT);
    wf_docker_client_release(&c);
    assert_null(c.path);
    free(kit);
    rm_rf(dir);
    free(dir);
}

static void test_probe_timeout(void **state)
{
    (void)state;
    const char *argv[] = {"sh", "-c", "echo started; sleep 30", NULL};
    int status = -1;
    char *out = NULL;
    uint64_t t0 = wf_now_ms();
    assert_int_equal(wf_probe_run(argv, NULL, 300, &status, &out), WF_ETIMEOUT);
    assert_true(wf_now_ms() - t0 < 5000);
    assert_null(out);
    const char *argv2[] = {"sh", "-c", "echo \"x=$WF_PROBE_X\"; exit 3", NULL};
    const char *env[] = {"WF_PROBE_X=42", NULL};
    assert_int_equal(wf_probe_run(argv2, env, 5000, &status, &out), 0);
    assert_int_equal(status, 3);
    assert_string_equal(out, "x=42\n");
    free(out);
    const char *argv3[] = {"/nonexistent/prog", NULL};
    assert_int_equal(wf_probe_run(argv3, NULL, 5000, &status, NULL), -ENOENT);
}

/* Finds the real client and checks that its engine answers; otherwise says why not. */
static void probe_engine(void)
{
    static char reason[512];
    char *msg = NULL;
    if (wf_docker_detect(&g_client, getenv("WF_TEST_DOCKER"), &msg) != 0) {
        snprintf(reason, sizeof(reason), "%s", msg);
        free(msg);
        g_skip_reason = reason;
        return;
    }
    const char *argv[] = {g_client.path, "version", "--format", "{{.Server.Version}}", NULL};
    int status = -1;
    char *out = NULL;
    int rc = wf_probe_run(argv, NULL, 15000, &status, &out);
    if (rc != 0 || status != 0) {
        size_t n = out ? strlen(out) : 0;
        while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
            out[--n] = '\0';
        snprintf(reason, sizeof(reason), "docker engine unreachable through '%s': %s",
                 g_client.path, out ? out : wf_strerror(rc));
        g_skip_reason = reason;
    }
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_timeout),
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_fake_arguments),
        cmocka_unit_test(test_fake_classification),
        cmocka_unit_test(test_fake_timeout),
        cmocka_unit_test(test_fake_idle_timeout),
        cmocka_unit_test(test_fake_idle_output_keeps_going),
        cmocka_unit_test(test_fake_cancel),
        cmocka_unit_test(test_real_build_ok),
        cmocka_unit_test(test_real_build_fails),
        cmocka_unit_test(test_real_engine_unreachable),
        cmocka_unit_test(test_fake_tls),
    };
    probe_engine();
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    wf_docker_client_release(&g_client);
    if (failed == 0 && g_skipped) {
        fprintf(stderr, "docker tests skipped: %s\n", g_skip_reason);
        return 77;
    }
    return failed;
}
