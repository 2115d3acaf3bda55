#!/usr/bin/env bash
# warm-rebuild.sh - measures what the native-stage cache buys: a cold build against a warm rebuild
# with a new Python tag and the same native dependencies, on the same worker, through the real
# daemon and CLI.
#
# usage: bench/warm-rebuild.sh [BUILD_DIR]   (default: build; run as root, Docker engine up)
#
# The recipe is the test fixture (tests/fixtures) with two slow, real native dependencies built in
# its native stage: zstd and librdkafka (with zstd enabled), from Debian bookworm's source packages
# (their upstream tarballs, fetched once through a private apt configuration, verified, served on
# loopback and pinned by sha256 in the recipe).
#   cold: `docker builder prune -af` (empty BuildKit cache), then the cp311 wheel
#   warm: the cp313 wheel right after, same worker: the native stage must be CACHED
# Writes bench/results/<UTC date>.txt and prints the same lines. Target: warm <= 0.3 x cold.
# Needs the builder and runtime images with cp311 and cp313 (scripts/bootstrap-images).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
. "$root/scripts/lib.sh"
build=$(cd "${1:-$root/build}" && pwd)
WFD=$build/daemon/wheelfarmd WF=$build/cli/wheelfarm
[ -x "$WFD" ] && [ -x "$WF" ] || wf_die "no wheelfarmd/wheelfarm in $build (run scripts/build $build)"
wf_docker_pick || wf_die "no docker client with BuildKit: run scripts/install-deps"
builder=wheelfarm/builder:bookworm-amd64 runtime=wheelfarm/runtime:bookworm-amd64
for img in $builder $runtime; do
    have=" $("$WF_DOCKER" image inspect -f '{{index .Config.Labels "org.wheelfarm.python"}}' "$img" 2>/dev/null || true) "
    for t in cp311 cp313; do
        case $have in *" $t "*) ;; *) wf_die "$img lacks $t: run scripts/bootstrap-images --platform linux/amd64" ;; esac
    done
done
unset PIP_FIND_LINKS PIP_INDEX_URL PIP_EXTRA_INDEX_URL

T=$(mktemp -d /tmp/wf-bench.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$T"
}
trap cleanup EXIT

# Sources: the fixture tarballs, and Debian's zstd and librdkafka source packages.
cache=${WF_CACHE_DIR:-/var/cache/wheelfarm}/src
mkdir -p "$T/dist"
"$root/scripts/make-fixtures" --check "$T/dist" >/dev/null
src_of() {
    local f
    f=$(ls "$cache/$1-bookworm/$1"_*.orig.tar.?z 2>/dev/null | head -n1 || true)
    [ -n "$f" ] || f=$(wf_apt_source "$1" bookworm "$cache/$1-bookworm") || wf_die "cannot fetch $1"
    cp "$f" "$T/dist/"
    echo "${f##*/} $(sha256sum "$f" | cut -c1-64)"
}
read -r zstd_file zstd_sha <<<"$(src_of libzstd)"
read -r rdk_file rdk_sha <<<"$(src_of librdkafka)"
[ -n "$zstd_sha" ] && [ -n "$rdk_sha" ] || wf_die "cannot fetch the zstd and librdkafka sources"
wf_serve_dir "$T/dist" "$T/http.log" || wf_die "static server did not start: $(cat "$T/http.log")"
pids+=("$WF_SERVE_PID")
port=$WF_SERVE_PORT
url=http://127.0.0.1:$port

mkdir -p "$T/recipes"
sed -e "s#http://127.0.0.1:9#$url#g" -e 's#^platforms: .*#platforms: [linux/amd64]#' \
    -e 's#^python: .*#python: [cp311, cp313]#' -e '/^repair:/,$d' \
    "$root/tests/fixtures/recipes/fixture-ext.yaml" >"$T/recipes/fixture-ext.yaml"
cat >>"$T/recipes/fixture-ext.yaml" <<EOR
  - name: zstd
    url: "$url/$zstd_file"
    sha256: $zstd_sha
    build: |
      make -j"\$(nproc)" -C lib lib-release
      make -C lib install PREFIX=/usr/local
  - name: librdkafka
    url: "$url/$rdk_file"
    sha256: $rdk_sha
    build: |
      ./configure --prefix=/usr/local --enable-zstd --disable-curl --disable-gssapi --disable-lz4-ext
      make -j"\$(nproc)" -C src
      make -C src install
      grep -q 'WITH_ZSTD 1' config.h
repair: auditwheel repair -w {dest_dir} {wheel}
test_command: python -c "import fixture_ext; assert fixture_ext.add(2, 3) == 5"
EOR
cat >"$T/wf.yaml" <<EOC
state_dir: $T/var
listen: {socket: $T/var/wf.sock, http: "127.0.0.1:0"}
recipes: $T/recipes
upstream_index: ""
images:
  linux/amd64: {image: $builder, runtime: $runtime, python: [cp311, cp313]}
workers:
  - {name: local, driver: docker, platforms: [linux/amd64], slots: 1}
EOC
"$WFD" --config "$T/wf.yaml" >"$T/wheelfarmd.log" 2>&1 &
pids+=($!)
export WHEELFARM_SOCKET=$T/var/wf.sock
for _ in $(seq 1 100); do [ -S "$WHEELFARM_SOCKET" ] && break; sleep 0.1; done
[ -S "$WHEELFARM_SOCKET" ] || { cat "$T/wheelfarmd.log" >&2; wf_die "wheelfarmd did not start"; }

# timed_build PY: builds the fixture for PY through the CLI; prints "SECONDS JOB".
timed_build() {
    local t0 t1 out job
    t0=$(date +%s.%N)
    out=$("$WF" build fixture-ext==1.0.0 --platform linux/amd64 --python "$1" --wait --json) || {
        job=$("$WF" jobs --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["id"])')
        "$WF" logs "$job" | tail -n 40 >&2
        wf_die "the $1 build failed: $out"
    }
    t1=$(date +%s.%N)
    job=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["id"])')
    echo "$(python3 -c "print(f'{$t1 - $t0:.1f}')") $job"
}

wf_say "cold: docker builder prune -af, then the cp311 wheel (zstd + librdkafka in the native stage)"
"$WF_DOCKER" builder prune -af >/dev/null
read -r cold cold_job <<<"$(timed_build cp311)"
wf_say "cold: ${cold}s (job $cold_job); warm: the cp313 wheel, same native dependencies"
read -r warm warm_job <<<"$(timed_build cp313)"
ratio=$(python3 -c "print(f'{$warm / $cold:.3f}')")
verdict=$(python3 -c "print('met' if $warm <= 0.3 * $cold else 'MISSED')")

"$WF" logs "$cold_job" >"$T/cold.log"
"$WF" logs "$warm_job" >"$T/warm.log"
# BuildKit's plain progress: "#N [native 3/7] RUN ..." then "#N CACHED" for a cache hit.
native_steps() {
    python3 - "$1" <<'PY'
import re, sys
steps, cached = {}, set()
for line in open(sys.argv[1], errors="replace"):
    m = re.search(r"#(\d+) \[native[^\]]*\] (.*)", line)
    if m:
        steps.setdefault(m.group(1), m.group(2)[:90])
    m = re.search(r"#(\d+) CACHED", line)
    if m:
        cached.add(m.group(1))
for n, s in steps.items():
    print(("CACHED " if n in cached else "built  ") + s)
PY
}
cold_native=$(native_steps "$T/cold.log")
warm_native=$(native_steps "$T/warm.log")
echo "$warm_native" | grep -q 'RUN' || wf_die "the warm log shows no native stage step"
if echo "$warm_native" | grep -q '^built .*RUN'; then
    echo "$warm_native" >&2
    wf_die "the warm rebuild rebuilt a native step: the native stage is not cached"
fi

mkdir -p "$here/results"
res=$here/results/$(date -u +%Y-%m-%d).txt
{
    echo "# bench/warm-rebuild.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores, $("$WF_DOCKER" version -f '{{.Server.Version}}' 2>/dev/null || echo docker)"
    echo "recipe: fixture-ext 1.0.0, native: wfnum, zstd ($zstd_file), librdkafka ($rdk_file, zstd on); linux/amd64, worker local"
    echo "cold_cp311_seconds: $cold (job $cold_job, after docker builder prune -af)"
    echo "warm_cp313_seconds: $warm (job $warm_job, same worker, same native deps)"
    echo "ratio_warm_over_cold: $ratio (target <= 0.3: $verdict)"
    echo "native stage, cold build (job $cold_job):"
    echo "$cold_native" | sed 's/^/  /'
    echo "native stage, warm rebuild (job $warm_job):"
    echo "$warm_native" | sed 's/^/  /'
} | tee "$res"
wf_say "results in $res"
[ "$verdict" = met ]
