#!/usr/bin/env bash
# planning.sh - what long version lists cost the daemon, without Docker: loading the recipes
# (its duplicate-version check) and planning requests (build keys for every job).
#
# usage: bench/planning.sh [BUILD_DIR] [RUNS]   (default: build, 5)
#
# Recipes: 10 of 1,000 versions (load.*), one of 5,000 (load.one_recipe_of_5000), and the
# planned ones below, all for linux/arm64, which no worker serves: nothing is built, fetched or
# probed, so no engine is needed. Reported, median of RUNS where it says so:
#   load.*: `wheelfarmd --check-config` on a recipes directory (parses and validates it);
#   start: the daemon with every recipe above, from exec to answering /api/v1/status;
#   plan.*: one `wheelfarm build` request, from the CLI's start to its answer, with new jobs each
#   time: RUNS requests of 1,000 jobs from one recipe of 1,000 versions, RUNS of 1,000 jobs from
#   ten recipes of 100 versions, and one of 4,000 jobs from one recipe of 4,000 versions.
# Writes bench/results/<UTC date>-planning.txt and prints the same lines.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
. "$root/scripts/lib.sh"
build=$(cd "${1:-$root/build}" && pwd)
runs=${2:-5}
WFD=$build/daemon/wheelfarmd WF=$build/cli/wheelfarm
[ -x "$WFD" ] && [ -x "$WF" ] || wf_die "no wheelfarmd/wheelfarm in $build (run scripts/build $build)"

T=$(mktemp -d /tmp/wf-bench-planning.XXXXXX)
WFD_PID=""
cleanup() {
    [ -z "$WFD_PID" ] || { kill -TERM "$WFD_PID" 2>/dev/null || true; wait "$WFD_PID" 2>/dev/null || true; }
    rm -rf "$T"
}
trap cleanup EXIT

# recipes FILE NAME COUNT [NAME COUNT]...: recipes of COUNT distinct versions each.
recipes() {
    python3 - "$@" <<'PY'
import sys
path, args = sys.argv[1], sys.argv[2:]
with open(path, "w") as f:
    for name, count in zip(args[::2], map(int, args[1::2])):
        versions = ", ".join(f'"{v // 100}.{v % 100}.0"' for v in range(count))
        f.write(f"- name: {name}\n  versions: [{versions}]\n"
                f"  source: {{url: \"http://127.0.0.1:9/{name}-{{version}}.tar.gz\", "
                f"sha256: \"{'0' * 64}\"}}\n"
                "  python: [cp311]\n  platforms: [linux/arm64]\n")
PY
}
config() { # config FILE RECIPES_DIR
    cat >"$1" <<EOC
state_dir: $T/var
listen: {socket: $T/var/wf.sock, http: ""}
recipes: $2
upstream_index: ""
log_level: warn
images:
  linux/amd64: {image: wheelfarm/builder:bookworm-amd64, python: [cp311]}
  linux/arm64: {image: wheelfarm/builder:bookworm-arm64, python: [cp311]}
workers: []
EOC
}
# stats: reads numbers (ms), prints "median X ms (n=N, min A, max B)".
stats() {
    python3 -c '
import statistics, sys
v = sorted(float(x) for x in sys.stdin.read().split())
print(f"median {statistics.median(v):.0f} ms (n={len(v)}, min {v[0]:.0f}, max {v[-1]:.0f})")'
}
ms_since() { python3 -c "print(($EPOCHREALTIME - $1) * 1000)"; }

res_lines=()
note() { res_lines+=("$*"); wf_say "$*"; }

# (1) Loading.
mkdir -p "$T/load10" "$T/load1" "$T/all"
recipes "$T/load10/ten.yaml" $(for r in $(seq 0 9); do echo "load-$r 1000"; done)
recipes "$T/load1/one.yaml" load-one 5000
for set in load10 load1; do
    config "$T/$set.yaml" "$T/$set"
    for _ in $(seq 1 "$runs"); do
        t0=$EPOCHREALTIME
        "$WFD" --config "$T/$set.yaml" --check-config >/dev/null
        ms_since "$t0"
    done >"$T/$set.ms"
done
note "load.ten_recipes_of_1000_versions (wheelfarmd --check-config): $(stats <"$T/load10.ms")"
note "load.one_recipe_of_5000_versions (wheelfarmd --check-config): $(stats <"$T/load1.ms")"

# (2) Start and planning: every recipe in one directory.
cp "$T/load10/ten.yaml" "$T/load1/one.yaml" "$T/all/"
recipes "$T/all/big.yaml" $(for r in $(seq 1 "$runs"); do echo "big-$r 1000"; done) huge 4000
recipes "$T/all/small.yaml" $(for r in $(seq 1 $((runs * 10))); do echo "small-$r 100"; done)
config "$T/wf.yaml" "$T/all"
export WHEELFARM_SOCKET=$T/var/wf.sock
t0=$EPOCHREALTIME
"$WFD" --config "$T/wf.yaml" >>"$T/wheelfarmd.log" 2>&1 &
WFD_PID=$!
until curl -fsS --unix-socket "$WHEELFARM_SOCKET" http://wf/api/v1/status >/dev/null 2>&1; do
    kill -0 "$WFD_PID" 2>/dev/null || { tail -n 20 "$T/wheelfarmd.log" >&2; wf_die "wheelfarmd exited"; }
    sleep 0.02
done
note "start with all $(grep -c '^- name' "$T"/all/*.yaml | awk -F: '{s += $2} END {print s}') recipes: $(ms_since "$t0" | stats)"

# enqueue WANT SPEC...: one request; prints its wall time in ms; checks it queued WANT jobs.
enqueue() {
    local want=$1 t0=$EPOCHREALTIME n
    shift
    n=$("$WF" build "$@" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["jobs"]))')
    ms_since "$t0"
    [ "$n" = "$want" ] || wf_die "'wheelfarm build $*' queued $n jobs, not $want"
}
for r in $(seq 1 "$runs"); do enqueue 1000 "big-$r"; done >"$T/big.ms"
note "plan.one_recipe_of_1000_versions (1,000 jobs): $(stats <"$T/big.ms")"
for r in $(seq 0 $((runs - 1))); do
    enqueue 1000 $(for i in $(seq 1 10); do echo "small-$((r * 10 + i))"; done)
done >"$T/small.ms"
note "plan.ten_recipes_of_100_versions (1,000 jobs): $(stats <"$T/small.ms")"
note "plan.one_recipe_of_4000_versions (4,000 jobs): $(enqueue 4000 huge | stats)"

kill -TERM "$WFD_PID"
wait "$WFD_PID" || wf_die "wheelfarmd exited with $? after SIGTERM"
WFD_PID=""

mkdir -p "$here/results"
res=$here/results/$(date -u +%Y-%m-%d)-planning.txt
{
    echo "# bench/planning.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), binaries from $build"
    printf '%s\n' "${res_lines[@]}"
} >"$res"
cat "$res"
wf_say "results in $res"
