/* wheelname.c - parse PEP 427 wheel file names and answer tag and machine questions about them. */
#include "wheelname.h"
#include "pep440.h"
#include "pep503.h"
#include "wf.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define WHEEL_SUFFIX ".whl"
#define WHEEL_MAX_FIELDS 6

static int is_alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* 1 if every byte of [s, s+n) is alphanumeric or appears in `extra`. */
static int all_in(const char *s, size_t n, const char *extra)
{
    for (size_t i = 0; i < n; i++) {
        if (!is_alnum(s[i]) && (s[i] == '\0' || strchr(extra, s[i]) == NULL))
            return 0;
    }
    return 1;
}

/* Splits a compressed tag set on '.' into a new array of new strings. */
static int split_tags(const char *s, size_t n, char ***out, size_t *n_out)
{
    if (n == 0 || !all_in(s, n, "_."))
        return WF_EINVAL;
    size_t count = 1;
    for (size_t i = 0; i < n; i++)
        count += s[i] == '.';
    char **tags = wf_calloc(count, sizeof(*tags));
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.')
            continue;
        if (i == start) {
            /* An empty tag ("py2..py3", ".py3"): hand back what we have so it gets freed. */
            *out = tags;
            *n_out = k;
            return WF_EINVAL;
        }
        tags[k++] = wf_strndup(s + start, i - start);
        start = i + 1;
    }
    *out = tags;
    *n_out = count;
    return 0;
}

static int valid_version(const char *s, size_t n)
{
    wf_pep440 v;
    /* Reject what PEP 440 parsing would forgive (spaces) but a file name cannot carry. */
    if (!all_in(s, n, "._!+") || wf_pep440_parse(&v, s, n) != 0)
        return 0;
    wf_pep440_release(&v);
    return 1;
}

int wf_wheelname_parse(wf_wheel_name *out, const char *s, size_t len)
{
    assert(out != NULL && (s != NULL || len == 0));
    wf_wheel_name w;
    memset(&w, 0, sizeof(w));
    const char *field[WHEEL_MAX_FIELDS];
    size_t flen[WHEEL_MAX_FIELDS];
    size_t nf = 0, suffix = strlen(WHEEL_SUFFIX);
    int err = WF_EINVAL;

    if (len > WF_WHEELNAME_MAX_LEN || len <= suffix ||
        memcmp(s + len - suffix, WHEEL_SUFFIX, suffix) != 0)
        goto out;
    size_t stem = len - suffix, start = 0;
    for (size_t i = 0; i <= stem; i++) {
        if (i < stem && s[i] != '-')
            continue;
        if (nf == WHEEL_MAX_FIELDS || i == start)
            goto out;
        field[nf] = s + start;
        flen[nf++] = i - start;
        start = i + 1;
    }
    if (nf < WHEEL_MAX_FIELDS - 1)
        goto out;
    if (!all_in(field[0], flen[0], "_.") || !wf_pep503_valid(field[0], flen[0]))
        goto out;
    if (!valid_version(field[1], flen[1]))
        goto out;
    if (nf == WHEEL_MAX_FIELDS) {
        if (field[2][0] < '0' || field[2][0] > '9' || !all_in(field[2], flen[2], "_."))
            goto out;
        w.build = wf_strndup(field[2], flen[2]);
    }
    size_t t = nf - 3;
    if (split_tags(field[t], flen[t], &w.python, &w.n_python) != 0 ||
        split_tags(field[t + 1], flen[t + 1], &w.abi, &w.n_abi) != 0 ||
        split_tags(field[t + 2], flen[t + 2], &w.platform, &w.n_platform) != 0)
        goto out;
    w.name = wf_strndup(field[0], flen[0]);
    w.version = wf_strndup(field[1], flen[1]);
    *out = w;
    memset(&w, 0, sizeof(w));
    err = 0;
out:
    wf_wheelname_release(&w);
    return err;
}

static void free_list(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

void wf_wheelname_release(wf_wheel_name *w)
{
    if (w == NULL)
        return;
    free(w->name);
    free(w->version);
    free(w->build);
    free_list(w->python, w->n_python);
    free_list(w->abi, w->n_abi);
    free_list(w->platform, w->n_platform);
    memset(w, 0, sizeof(*w));
}

static int in_list(char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i], s) == 0)
            return 1;
    }
    return 0;
}

int wf_wheelname_has_tag(const wf_wheel_name *w, const char *python, const char *abi,
                         const char *platform)
{
    /* The expanded set is the cross product, so membership is membership in each factor. */
    return in_list(w->python, w->n_python, python) && in_list(w->abi, w->n_abi, abi) &&
           in_list(w->platform, w->n_platform, platform);
}

int wf_wheelname_has_python(const wf_wheel_name *w, const char *python)
{
    return in_list(w->python, w->n_python, python);
}

/* Consumes `<digits>_` at *p; returns 1 if it was there. */
static int skip_number(const char **p)
{
    const char *q = *p;
    while (*q >= '0' && *q <= '9')
        q++;
    if (q == *p || *q != '_')
        return 0;
    *p = q + 1;
    return 1;
}

const char *wf_wheelname_platform_arch(const char *platform_tag, size_t *len_out)
{
    static const char *const fixed[] = {"linux_", "manylinux1_", "manylinux2010_",
                                        "manylinux2014_"};
    static const char *const versioned[] = {"manylinux_", "musllinux_"};
    const char *p = NULL;
    for (size_t i = 0; p == NULL && i < WF_ARRAY_SIZE(fixed); i++) {
        size_t n = strlen(fixed[i]);
        if (strncmp(platform_tag, fixed[i], n) == 0)
            p = platform_tag + n;
    }
    for (size_t i = 0; p == NULL && i < WF_ARRAY_SIZE(versioned); i++) {
        size_t n = strlen(versioned[i]);
        const char *q = platform_tag + n;
        /* <prefix><major>_<minor>_<arch>, e.g. manylinux_2_17_x86_64. */
        if (strncmp(platform_tag, versioned[i], n) == 0 && skip_number(&q) && skip_number(&q))
            p = q;
    }
    if (p == NULL || *p == '\0' || !all_in(p, strlen(p), "_"))
        return NULL;
    if (len_out != NULL)
        *len_out = strlen(p);
    return p;
}

const char *wf_platform_to_arch(const char *docker_platform)
{
    static const struct {
        const char *docker;
        const char *arch;
    } map[] = {
        {"linux/amd64", "x86_64"}, {"linux/arm64", "aarch64"}, {"linux/arm64/v8", "aarch64"},
        {"linux/386", "i686"},     {"linux/arm/v7", "armv7l"}, {"linux/ppc64le", "ppc64le"},
        {"linux/s390x", "s390x"},
    };
    if (docker_platform == NULL)
        return NULL;
    for (size_t i = 0; i < WF_ARRAY_SIZE(map); i++) {
        if (strcmp(docker_platform, map[i].docker) == 0)
            return map[i].arch;
    }
    return NULL;
}
