/* context.h - renders the Docker build context of one job from the job template and its inputs.
 *
 * The context is a directory:
 *   Dockerfile               the template (dockerfiles/job.Dockerfile.in) with @IMAGE@ (the
 *                            builder image) and @RUNTIME@ (the runtime image) replaced,
 *                            the lines between '#@native-begin' and '#@native-end' repeated once
 *                            per native dependency (@NATIVE@ = its name), '##' lines dropped;
 *                            any other @UPPER_CASE@ word is an error
 *   native/NAME.archive      each native dependency's tarball (copied from the source cache)
 *   native/NAME.sh           its build script, run with `sh -e` in the unpacked top directory
 *   wf/job.sh                job settings, sourced by every build-stage step (python, source
 *                            path, pip index policy)
 *   wf/env.sh                the recipe's environment as `export KEY="value"` lines
 *   wf/before_build.sh, wf/repair.sh, wf/test.sh   the recipe's scripts, run with `sh -e`
 *   src/FILE or src/tree/    the sdist tarball, or a copy of the source tree (without .git)
 *
 * User-provided text (scripts, environment, the index URL) only ever goes into files of the
 * context, never into Dockerfile lines, so no quoting of Dockerfile syntax is involved. Every
 * file is written with a fixed mode (0644; directories 0755) so identical inputs give an
 * identical context and BuildKit's cache keys only depend on content.
 *
 * Pip policy: without an upstream index the build is hermetic (`PIP_NO_INDEX=1`, `pip wheel
 * --no-build-isolation`, the test installs the wheel with `--no-deps`), so build requirements
 * must already be in the builder image. With one, PIP_INDEX_URL points at it, the build uses
 * isolation (pyproject build requirements are installed from that index) and the test installs
 * the wheel with its dependencies.
 */
#ifndef WF_CONTEXT_H
#define WF_CONTEXT_H

#include <stddef.h>

#include "lib/recipe.h"

typedef struct wf_context_native {
    const char *name;         /* [A-Za-z0-9._-]+, not starting with '.'; unique in the job */
    const char *archive_path; /* verified tarball in the source cache (any format tar reads) */
    const char *build;        /* shell script run in the unpacked top directory */
} wf_context_native;

typedef struct wf_context_options {
    const char *dir;           /* empty or non-existent directory to fill (parents are created) */
    const char *template_path; /* dockerfiles/job.Dockerfile.in */
    const char *image;         /* builder image reference */
    const char *runtime_image; /* image the test runs in; NULL or "" = the builder image (the
                                  test then sees the compiler and the native libraries) */
    const char *python;        /* "cp311" (also "cp313t": /opt/python/cp313-cp313t) */
    const char *source_path;   /* sdist tarball (file) or source tree (directory) */
    const char *project;       /* normalized name, for messages */
    const char *version;
    const wf_context_native *native;
    size_t n_native;
    const wf_env_var *environment;
    size_t n_environment;
    const char *before_build, *repair, *test_command; /* "" (or NULL) when none */
    const char *upstream_index;                       /* "" (or NULL) when none */
} wf_context_options;

/* Size limit of the template file. */
#define WF_CONTEXT_TEMPLATE_MAX (256u * 1024)

/* Fills o->dir with the build context described above. Synchronous file I/O only (call it on the
 * thread pool from the loop). Returns 0 on success. On failure returns WF_EINVAL (a bad option
 * or template: unknown placeholder, unbalanced native block, bad name), WF_EEXIST (dir is not
 * empty), WF_ELIMIT (template too large) or a UV_E* code from the file system, sets *errmsg
 * (when errmsg is non-NULL) to a heap string saying what failed, where and how to fix it
 * (caller frees), and leaves whatever it already wrote in o->dir for the caller to remove.
 * All strings in `o` are borrowed for the duration of the call. */
int wf_context_render(const wf_context_options *o, char **errmsg);

/* The template substitution alone, for tests and tooling: renders `tmpl` (len bytes) into a new
 * heap string *out (caller frees). `template_name` names the template in messages; `image`
 * replaces @IMAGE@ and `runtime` @RUNTIME@ (NULL or "": `image`). Same placeholders and errors
 * as wf_context_render(). */
int wf_context_render_dockerfile(char **out, const char *template_name, const char *tmpl,
                                 size_t len, const char *image, const char *runtime,
                                 const wf_context_native *native, size_t n_native, char **errmsg);

#endif
