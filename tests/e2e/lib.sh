# lib.sh - helpers for the end-to-end scenarios (sourced). Each scenario runs the real binaries
# in a temporary directory, with a real Docker engine, real pip and servers on loopback only.
set -euo pipefail

: "${WF_BUILD_DIR:?run through meson test (WF_BUILD_DIR unset)}"
: "${WF_SOURCE_ROOT:?run through meson test (WF_SOURCE_ROOT unset)}"
WFD=$WF_BUILD_DIR/daemon/wheelfarmd
WF=$WF_BUILD_DIR/cli/wheelfarm
# pip must see only our index: no machine-wide find-links or index settings leak in.
unset PIP_FIND_LINKS PIP_INDEX_URL PIP_EXTRA_INDEX_URL
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1

# has [GREP_OPTIONS] PATTERN: `grep -q` that reads its whole input first. Under pipefail a
# plain `cmd | grep -q` fails whenever grep stops at an early match while cmd still writes (a
# long build log): cmd dies of SIGPIPE and the pipeline reports that, not the match.
has() {
    local in
    in=$(cat)
    grep -q "$@" <<<"$in"
}

T=$(mktemp -d /tmp/wf-e2e.XXXXXX)
pids=()
cleanup_hooks=() # commands cleanup runs after the processes are gone (remote-engine.sh's teardown)
cleanup() {
    local rc=$?
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ $rc -ne 0 ] && [ -f "$T/wheelfarmd.log" ]; then
        echo "--- wheelfarmd.log (last 60 lines)"; tail -n 60 "$T/wheelfarmd.log"
    fi
    for h in "${cleanup_hooks[@]}"; do "$h" || true; done
    rm -rf "$T"
    exit $rc
}
trap cleanup EXIT

say() { printf '# %s\n' "$*"; }
ok() { printf 'ok - %s\n' "$*"; }
fail() { printf 'not ok - %s\n' "$*"; exit 1; }
skip() { printf '1..0 # SKIP %s\n' "$*"; exit 77; }

require_docker() {
    /usr/bin/docker info >/dev/null 2>&1 || skip "no Docker engine answers (scripts/test starts one)"
}
require_image() {
    /usr/bin/docker image inspect "$1" >/dev/null 2>&1 ||
        skip "builder image $1 is missing (scripts/bootstrap-images builds it)"
}

# serve_dir DIR: starts a static HTTP server on 127.0.0.1 with a kernel-chosen port; sets SERVE_URL.
serve_dir() {
    local log=$T/http-$RANDOM.log
    : >"$log" # exists before the background job opens it, so the poll below can read it
    python3 -u -m http.server --bind 127.0.0.1 --directory "$1" 0 >"$log" 2>&1 &
    pids+=($!)
    local port=""
    for _ in $(seq 1 100); do
        port=$(sed -n 's/.* port \([0-9]*\) .*/\1/p' "$log" | head -n1)
        [ -n "$port" ] && break
        sleep 0.1
    done
    [ -n "$port" ] || fail "static server did not start: $(cat "$log")"
    SERVE_URL=http://127.0.0.1:$port
}

# write_config FILE WORKERS_YAML: a config in $T with a kernel-chosen TCP port. The images and
# their python lists are those scripts/bootstrap-images builds by default (test-stage.sh checks);
# arm64's list is read from its image (cp311 cp313; cp311 only from an older bootstrap). After
# seed_sources, the config declares the substitutes scripts/seed-sources wrote for its repacks.
write_config() {
    cat >"$1" <<EOC
state_dir: $T/var
listen: {socket: $T/var/wf.sock, http: "127.0.0.1:0"}
recipes: $T/recipes
upstream_index: "${UPSTREAM:-}"
shutdown_grace: 20
images:
  linux/amd64: {image: wheelfarm/builder:bookworm-amd64, runtime: wheelfarm/runtime:bookworm-amd64, python: [cp311, cp313]}
  linux/arm64: {image: wheelfarm/builder:bookworm-arm64, runtime: wheelfarm/runtime:bookworm-arm64, python: [$(image_python_list wheelfarm/builder:bookworm-arm64)]}
workers:
$2
EOC
    [ -z "${SUBSTITUTES:-}" ] || cat "$SUBSTITUTES" >>"$1"
}

# start_daemon CONFIG: runs wheelfarmd in the background; sets WFD_PID, WF_PORT, WHEELFARM_SOCKET.
start_daemon() {
    touch "$T/wheelfarmd.log"
    local skip_lines
    skip_lines=$(wc -l <"$T/wheelfarmd.log")
    "$WFD" --config "$1" >>"$T/wheelfarmd.log" 2>&1 &
    WFD_PID=$!
    pids+=($WFD_PID)
    WF_PORT=""
    for _ in $(seq 1 200); do
        WF_PORT=$(tail -n +$((skip_lines + 1)) "$T/wheelfarmd.log" |
            sed -n 's/.*listening on .*(port \([0-9]*\)).*/\1/p' | tail -n1)
        [ -n "$WF_PORT" ] && break
        kill -0 "$WFD_PID" 2>/dev/null || fail "wheelfarmd exited: $(tail -n 20 "$T/wheelfarmd.log")"
        sleep 0.1
    done
    [ -n "$WF_PORT" ] || fail "wheelfarmd did not report its port"
    export WHEELFARM_SOCKET=$T/var/wf.sock
    INDEX=http://127.0.0.1:$WF_PORT/simple/
}

# stop_daemon: SIGTERM, then the daemon must exit 0 after closing its loop cleanly.
stop_daemon() {
    local before rc=0
    before=$(grep -c 'stopped cleanly' "$T/wheelfarmd.log" || true)
    kill -TERM "$WFD_PID"
    wait "$WFD_PID" || rc=$?
    [ $rc -eq 0 ] || fail "wheelfarmd exited with $rc after SIGTERM"
    [ "$(grep -c 'stopped cleanly' "$T/wheelfarmd.log")" -gt "$before" ] ||
        fail "wheelfarmd did not close its loop cleanly"
}

# fixture_sources: packs the fixture tarballs and serves them; sets FIX_URL.
fixture_sources() {
    mkdir -p "$T/dist"
    "$WF_SOURCE_ROOT/scripts/make-fixtures" --check "$T/dist" >/dev/null
    serve_dir "$T/dist"
    FIX_URL=$SERVE_URL
}

# fixture_recipe PLATFORMS [SHA_OVERRIDE]: the fixture recipe, pointed at the loopback server.
fixture_recipe() {
    mkdir -p "$T/recipes"
    sed -e "s#http://127.0.0.1:9#$FIX_URL#g" -e "s#platforms: .*#platforms: [$1]#" \
        "$WF_SOURCE_ROOT/tests/fixtures/recipes/fixture-ext.yaml" >"$T/recipes/fixture-ext.yaml"
}

# job_field JOB FIELD: one field of `wheelfarm show --json`.
job_field() {
    "$WF" show "$1" --json | python3 -c "import json,sys; v=json.load(sys.stdin); print(v$2)"
}

# elf_machine WHEEL: the ELF machine of the extension module(s) in a wheel (x86_64, aarch64).
elf_machine() {
    python3 - "$1" <<'PY'
import sys, zipfile, struct
names = {62: "x86_64", 183: "aarch64"}
z = zipfile.ZipFile(sys.argv[1])
seen = set()
for n in z.namelist():
    if n.endswith(".so") or ".so." in n:
        head = z.read(n)[:20]
        if head[:4] == b"\x7fELF":
            seen.add(names.get(struct.unpack("<H", head[18:20])[0], "other"))
print(",".join(sorted(seen)))
PY
}

# seed_sources: downloads (cached in $WF_SEED_CACHE, default /var/cache/wheelfarm/seed) the
# Debian orig tarballs, sdists and build requirements with scripts/seed-sources, writes the local
# upstream index into $T/upstream and serves it on loopback; sets UPSTREAM (its simple/ URL),
# SEED_DIR and SUBSTITUTES (the config's substitutes for Debian's repacks, which write_config
# appends). Skips when nothing can be downloaded and nothing is cached.
seed_sources() {
    SEED_DIR=${WF_SEED_CACHE:-/var/cache/wheelfarm/seed}
    SUBSTITUTES=$T/substitutes.yaml
    "$WF_SOURCE_ROOT/scripts/seed-sources" --dir "$SEED_DIR" --index "$T/upstream" \
        --substitutes "$SUBSTITUTES" >"$T/seed.log" 2>&1 ||
        skip "scripts/seed-sources failed (no Debian source mirror or package index?): $(tail -n 3 "$T/seed.log")"
    serve_dir "$T/upstream"
    UPSTREAM=$SERVE_URL/simple/
}

# wheel_has_lib WHEEL PATTERN: true when the wheel carries a file matching PATTERN (a Python
# regular expression) inside its <project>.libs/ directory, where auditwheel puts grafted libraries.
wheel_has_lib() {
    python3 - "$1" "$2" <<'PY'
import re, sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
sys.exit(0 if any(re.match(r"[^/]+\.libs/" + sys.argv[2], n) for n in names) else 1)
PY
}

# image_python_list IMAGE: the interpreters IMAGE says it has (its org.wheelfarm.python label,
# set by scripts/bootstrap-images) as a YAML flow list body, e.g. "cp311, cp313"; "cp311" for an
# image without the label or a missing image.
image_python_list() {
    local have
    have=$(/usr/bin/docker image inspect -f '{{index .Config.Labels "org.wheelfarm.python"}}' "$1" 2>/dev/null || true)
    [ -n "$have" ] || have=cp311
    echo "${have// /, }"
}

# tiny_ext NAME PYTHONS [broken]: a one-function C extension NAME (module NAME with '-' as '_')
# in $T/src/NAME and its recipe $T/recipes/NAME.yaml (a path source, linux/amd64, PYTHONS like
# "cp311, cp313"); "broken" adds a function that does not compile. Append recipe keys with
# `echo "key: value" >>"$T/recipes/NAME.yaml"`.
tiny_ext() {
    local name=$1 mod=${1//-/_} src=$T/src/$1
    mkdir -p "$src" "$T/recipes"
    cat >"$src/pyproject.toml" <<EOT
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "$name"
version = "1.0"
requires-python = ">=3.8"
EOT
    echo "from setuptools import Extension, setup
setup(ext_modules=[Extension('$mod', ['$mod.c'])])" >"$src/setup.py"
    cat >"$src/$mod.c" <<EOT
#include <Python.h>
static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(42); }
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "$mod", NULL, -1, methods};
PyMODINIT_FUNC PyInit_$mod(void) { return PyModule_Create(&mod); }
EOT
    if [ "${3:-}" = broken ]; then
        echo 'int wf_broken(void) { return 1 +; }' >>"$src/$mod.c"
    fi
    cat >"$T/recipes/$name.yaml" <<EOT
name: $name
versions: ["1.0"]
source: {path: ../src/$name}
python: [$2]
platforms: [linux/amd64]
test_command: python -c "import $mod; assert $mod.answer() == 42"
EOT
}

# wait_done JOB [SECONDS]: waits (default 300 s) until JOB is no longer queued or running;
# prints its final state.
wait_done() {
    local st
    for _ in $(seq 1 $((${2:-300} * 5))); do
        st=$(job_field "$1" '["state"]')
        case $st in queued | running) sleep 0.2 ;; *) echo "$st"; return 0 ;; esac
    done
    echo "$st"
}
