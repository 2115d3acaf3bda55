/* wheelname.h - PEP 427 wheel file names with PEP 425 compressed tag sets.
 *
 * {distribution}-{version}(-{build})?-{python}-{abi}-{platform}.whl, where each tag field may be
 * a '.'-separated set ("py2.py3", "manylinux_2_17_x86_64.manylinux2014_x86_64"). Parsing is a
 * pure function of (ptr, len); the other functions only read. Thread-safe.
 */
#ifndef WF_WHEELNAME_H
#define WF_WHEELNAME_H

#include <stddef.h>

/* Longest accepted file name: what a Linux file system can hold in one name (NAME_MAX). */
#define WF_WHEELNAME_MAX_LEN 255

/* A parsed wheel file name. Every string and array is a separate heap allocation owned by the
 * struct; free them all with wf_wheelname_release(), never one by one. */
typedef struct wf_wheel_name {
    char *name;    /* distribution as in the file (escaped form, e.g. "typing_extensions") */
    char *version; /* as in the file; a valid PEP 440 version */
    char *build;   /* NULL when absent; starts with a digit */
    char **python; /* compressed sets split on '.' */
    size_t n_python;
    char **abi;
    size_t n_abi;
    char **platform;
    size_t n_platform;
} wf_wheel_name;

/* Parses the file name [s, s+len) (no directory part). Returns 0, or WF_EINVAL when it is not a
 * wheel file name: wrong number of '-' fields, no ".whl" suffix, an empty field or tag, a
 * name that is not a valid PEP 503 name without '-', an invalid PEP 440 version, a build tag
 * not starting with a digit, characters outside [A-Za-z0-9_] in tags, or longer than
 * WF_WHEELNAME_MAX_LEN. *out is written only on success; then the caller calls
 * wf_wheelname_release(out). */
int wf_wheelname_parse(wf_wheel_name *out, const char *s, size_t len);

/* Frees everything the struct owns and zeroes it. Accepts NULL and a zeroed struct. */
void wf_wheelname_release(wf_wheel_name *w);

/* 1 if the expanded tag set (python x abi x platform) contains (python, abi, platform) exactly
 * (case-sensitive, as tags are lowercase by convention); 0 otherwise. */
int wf_wheelname_has_tag(const wf_wheel_name *w, const char *python, const char *abi,
                         const char *platform);

/* 1 if any python tag equals `python` (e.g. "cp311", "py3"). */
int wf_wheelname_has_python(const wf_wheel_name *w, const char *python);

/* The machine a Linux platform tag names: "x86_64" for manylinux_2_17_x86_64, manylinux2014_x86_64,
 * manylinux1_x86_64, linux_x86_64 or musllinux_1_1_x86_64; "aarch64", "i686", "armv7l",
 * "ppc64le", "s390x" and so on likewise. Returns a pointer into platform_tag (borrowed, lives as
 * long as the tag) and stores its length in *len_out (may be NULL; the machine runs to the end
 * of the tag). Returns NULL, and leaves *len_out alone, for "any", non-Linux tags (macosx_*,
 * win_*) and anything malformed. */
const char *wf_wheelname_platform_arch(const char *platform_tag, size_t *len_out);

/* The machine name for a Docker platform: "linux/amd64" -> "x86_64", "linux/arm64" (or
 * "linux/arm64/v8") -> "aarch64", "linux/386" -> "i686", "linux/arm/v7" -> "armv7l",
 * "linux/ppc64le" -> "ppc64le", "linux/s390x" -> "s390x". Static string, or NULL if unknown. */
const char *wf_platform_to_arch(const char *docker_platform);

#endif
