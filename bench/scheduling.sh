#!/usr/bin/env bash
# scheduling.sh - what the daemon itself costs: the time from `wheelfarm build` to the build's
# docker client starting, and the daemon's memory and API latency with 10,000 queued jobs.
#
# usage: bench/scheduling.sh [BUILD_DIR] [RUNS]   (default: build, 20; run as root, engine up)
#
# (a) Scheduling overhead. A tiny recipe (the test fixture, its BuildKit cache warmed by one
#     build first) is rebuilt RUNS times with `wheelfarm build --force --wait`, one at a time.
#     t0 is taken by this shell right before it runs the CLI ($EPOCHREALTIME); the daemon's log
#     (millisecond timestamps) gives when the request was committed ("request N: ... queued"),
#     when the attempt was committed ("job N: attempt 1 started") and when the docker client was
#     spawned ("job N: docker client started"). Reported: median and p95 of each step.
# (b) 10,000 queued jobs: 90 recipes of 100 versions and one of 1,000, for linux/arm64, which no
#     worker serves, so every job stays queued (its wait_reason says why). Reported: the time to
#     enqueue them (ten requests of 1,000 jobs through the CLI), the daemon's VmRSS and VmHWM before and
#     after (/proc/PID/status), the latency of `wheelfarm jobs`, `wheelfarm show`,
#     `wheelfarm workers`, GET /api/v1/status and GET /api/v1/jobs?state=queued&limit=10000, the
#     scheduling overhead of (a) again with the 10,000 jobs queued, and the time a restarted
#     daemon needs to listen again with them in its database.
# Writes bench/results/<UTC date>-scheduling.txt and prints the same lines.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
. "$root/scripts/lib.sh"
build=$(cd "${1:-$root/build}" && pwd)
runs=${2:-20}
WFD=$build/daemon/wheelfarmd WF=$build/cli/wheelfarm
[ -x "$WFD" ] && [ -x "$WF" ] || wf_die "no wheelfarmd/wheelfarm in $build (run scripts/build $build)"
wf_docker_pick || wf_die "no docker client with BuildKit: run scripts/install-deps"
builder=wheelfarm/builder:bookworm-amd64 runtime=wheelfarm/runtime:bookworm-amd64
for img in $builder $runtime; do
    "$WF_DOCKER" image inspect "$img" >/dev/null 2>&1 || wf_die "$img is missing: run scripts/bootstrap-images"
done
# 10,000 queued jobs: 90 recipes of 100 versions, enqueued ten recipes (1,000 jobs) per request,
# and one recipe of 1,000 versions in a request of its own (planning cost grows with a recipe's
# version list; see bench/README.md).
BULK_RECIPES=90 BULK_VERSIONS=100 BIG_VERSIONS=1000 PER_REQUEST=10
TOTAL=$((BULK_RECIPES * BULK_VERSIONS + BIG_VERSIONS))

T=$(mktemp -d /tmp/wf-bench.XXXXXX)
pids=()
WFD_PID=""
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$T"
}
trap cleanup EXIT

# The fixture's tarballs on loopback.
mkdir -p "$T/dist" "$T/recipes"
"$root/scripts/make-fixtures" --check "$T/dist" >/dev/null 2>&1
wf_serve_dir "$T/dist" "$T/http.log" || wf_die "static server did not start: $(cat "$T/http.log")"
pids+=("$WF_SERVE_PID")
port=$WF_SERVE_PORT
sed -e "s#http://127.0.0.1:9#http://127.0.0.1:$port#g" -e 's#^platforms: .*#platforms: [linux/amd64]#' \
    "$root/tests/fixtures/recipes/fixture-ext.yaml" >"$T/recipes/fixture-ext.yaml"
# The bulk recipes: never built (no linux/arm64 worker), so their source is never fetched.
python3 - "$T/recipes/bulk.yaml" "$BULK_RECIPES" "$BULK_VERSIONS" "$BIG_VERSIONS" <<'PY'
import sys
path, n, m, big = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def recipe(f, name, count):
    versions = ", ".join(f'"{v // 100}.{v % 100}.0"' for v in range(count))
    f.write(f"- name: {name}\n  versions: [{versions}]\n"
            f"  source: {{url: \"http://127.0.0.1:9/{name}-{{version}}.tar.gz\", "
            f"sha256: \"{'0' * 64}\"}}\n"
            "  python: [cp311]\n  platforms: [linux/arm64]\n")
with open(path, "w") as f:
    for r in range(n):
        recipe(f, f"bulk-{r}", m)
    recipe(f, "bulk-big", big)
PY
cat >"$T/wf.yaml" <<EOC
state_dir: $T/var
listen: {socket: $T/var/wf.sock, http: ""}
recipes: $T/recipes
upstream_index: ""
log_level: info
images:
  linux/amd64: {image: $builder, runtime: $runtime, python: [cp311]}
  linux/arm64: {image: wheelfarm/builder:bookworm-arm64, python: [cp311]}
workers:
  - {name: local, driver: docker, platforms: [linux/amd64], slots: 1}
EOC
export WHEELFARM_SOCKET=$T/var/wf.sock
LOG=$T/wheelfarmd.log
: >"$LOG"

# start_daemon: starts wheelfarmd and waits until it answers; sets WFD_PID and START_S (the
# seconds that took). Not for $(...): the pid must reach this shell.
start_daemon() {
    local t0=$EPOCHREALTIME
    "$WFD" --config "$T/wf.yaml" >>"$LOG" 2>&1 &
    WFD_PID=$!
    pids+=($WFD_PID)
    for _ in $(seq 1 600); do
        curl -fsS --unix-socket "$WHEELFARM_SOCKET" http://wf/api/v1/status >/dev/null 2>&1 && break
        kill -0 "$WFD_PID" 2>/dev/null || { tail -n 20 "$LOG" >&2; wf_die "wheelfarmd exited"; }
        sleep 0.05
    done
    START_S=$(python3 -c "print(f'{$EPOCHREALTIME - $t0:.2f}')")
}
stop_daemon() {
    kill -TERM "$WFD_PID"
    wait "$WFD_PID" || wf_die "wheelfarmd exited with $? after SIGTERM"
}
# memory: "VmRSS_kB VmHWM_kB" of the daemon.
memory() {
    awk '/^VmRSS:/ {r=$2} /^VmHWM:/ {h=$2} END {print r, h}' "/proc/$WFD_PID/status"
}
# stats: reads numbers (ms), prints "median X ms, p95 Y ms (n=N, min A, max B)".
stats() {
    python3 -c '
import math, statistics, sys
v = sorted(float(x) for x in sys.stdin.read().split())
p95 = v[max(0, math.ceil(0.95 * len(v)) - 1)]
print(f"median {statistics.median(v):.1f} ms, p95 {p95:.1f} ms (n={len(v)}, min {v[0]:.1f}, max {v[-1]:.1f})")'
}
# timed N CMD...: runs CMD N times (output discarded); prints the stats of its wall time.
timed() {
    local n=$1 t0 i
    shift
    for i in $(seq 1 "$n"); do
        t0=$EPOCHREALTIME
        "$@" >/dev/null
        python3 -c "print(($EPOCHREALTIME - $t0) * 1000)"
    done | stats
}

# overhead LABEL: RUNS forced builds of the fixture, one at a time; prints a stats line per step.
overhead() {
    local i t0 out job req
    : >"$T/samples-$1"
    for i in $(seq 1 "$runs"); do
        t0=$EPOCHREALTIME
        out=$("$WF" build fixture-ext --force --wait --json) || {
            "$WF" jobs --state failed
            wf_die "a forced build of the fixture failed: $out"
        }
        read -r job req <<<"$(echo "$out" | python3 -c 'import json,sys; v=json.load(sys.stdin); print(v["jobs"][0]["id"], v.get("request", v.get("id")))')"
        echo "$t0 $job $req" >>"$T/samples-$1"
    done
    python3 - "$T/samples-$1" "$LOG" "$1" <<'PY'
import datetime, math, re, statistics, sys
samples, log, label = sys.argv[1], sys.argv[2], sys.argv[3]
def ms(stamp):
    t = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return t.timestamp() * 1000
queued, attempt, spawned = {}, {}, {}
for line in open(log, errors="replace"):
    m = re.match(r"(\S+) info request (\d+)(?: \(.*?\))?: \d+ job\(s\) queued", line)
    if m: queued[int(m.group(2))] = ms(m.group(1))
    m = re.match(r"(\S+) info job (\d+): attempt 1 started", line)
    if m: attempt[int(m.group(2))] = ms(m.group(1))
    m = re.match(r"(\S+) info job (\d+): docker client started", line)
    if m: spawned[int(m.group(2))] = ms(m.group(1))
steps = {"cli_to_spawn": [], "cli_to_queued": [], "queued_to_attempt": [], "attempt_to_spawn": []}
for line in open(samples):
    t0, job, req = line.split()
    t0, job, req = float(t0) * 1000, int(job), int(req)
    steps["cli_to_spawn"].append(spawned[job] - t0)
    steps["cli_to_queued"].append(queued[req] - t0)
    steps["queued_to_attempt"].append(attempt[job] - queued[req])
    steps["attempt_to_spawn"].append(spawned[job] - attempt[job])
for name, v in steps.items():
    v.sort()
    p95 = v[max(0, math.ceil(0.95 * len(v)) - 1)]
    print(f"{label}.{name}: median {statistics.median(v):.1f} ms, p95 {p95:.1f} ms "
          f"(n={len(v)}, min {v[0]:.1f}, max {v[-1]:.1f})")
PY
}

res_lines=()
note() { res_lines+=("$*"); wf_say "$*"; }

start_daemon
note "daemon start, empty database: ${START_S} s to answer"
read -r rss0 hwm0 <<<"$(memory)"
note "memory.idle: VmRSS ${rss0} kB, VmHWM ${hwm0} kB"

wf_say "warming the BuildKit cache with one build of the fixture"
"$WF" build fixture-ext --wait >/dev/null || wf_die "the first build of the fixture failed"
wf_say "(a) $runs forced builds, empty queue"
overhead empty_queue >"$T/overhead-empty" || exit 1
while read -r line; do note "$line"; done <"$T/overhead-empty"

# enqueue SPEC...: one `wheelfarm build` request; prints its wall time in ms and checks the count.
enqueue() {
    local t0=$EPOCHREALTIME n
    n=$("$WF" build "$@" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["jobs"]))')
    python3 -c "print(($EPOCHREALTIME - $t0) * 1000)"
    echo "$n" >>"$T/enqueued"
}
wf_say "(b) enqueueing $TOTAL jobs for linux/arm64 (no worker serves it)"
t_all=$EPOCHREALTIME
: >"$T/enqueued"
for g in $(seq 0 $((BULK_RECIPES / PER_REQUEST - 1))); do
    enqueue $(for r in $(seq $((g * PER_REQUEST)) $((g * PER_REQUEST + PER_REQUEST - 1))); do echo "bulk-$r"; done)
done >"$T/enqueue.ms"
big_ms=$(enqueue bulk-big)
enq_total=$(python3 -c "print(f'{$EPOCHREALTIME - $t_all:.2f}')")
[ "$(awk '{s += $1} END {print s}' "$T/enqueued")" = $TOTAL ] || wf_die "enqueued $(awk '{s += $1} END {print s}' "$T/enqueued") jobs, not $TOTAL"
note "enqueue: $TOTAL jobs in ${enq_total} s; requests of $((PER_REQUEST * BULK_VERSIONS)) jobs from $PER_REQUEST recipes of $BULK_VERSIONS versions: $(stats <"$T/enqueue.ms")"
note "enqueue.one_recipe_of_${BIG_VERSIONS}_versions: one request of $BIG_VERSIONS jobs: ${big_ms%.*} ms"
status=$(curl -fsS --unix-socket "$WHEELFARM_SOCKET" http://wf/api/v1/status)
queued=$(echo "$status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"]["queued"])')
[ "$queued" = $TOTAL ] || wf_die "status says $queued queued: $status"
one=$("$WF" jobs --state queued --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["id"])')
reason=$("$WF" show "$one" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["wait_reason"])')
note "queued: $queued; job $one waits: $reason"
read -r rss1 hwm1 <<<"$(memory)"
note "memory.queued_10k: VmRSS ${rss1} kB, VmHWM ${hwm1} kB (idle + $((rss1 - rss0)) kB RSS)"

note "latency.jobs (wheelfarm jobs, newest 100): $(timed 20 "$WF" jobs)"
note "latency.jobs_queued (wheelfarm jobs --state queued --json): $(timed 20 "$WF" jobs --state queued --json)"
note "latency.show (wheelfarm show $one): $(timed 20 "$WF" show "$one")"
note "latency.workers (wheelfarm workers): $(timed 20 "$WF" workers)"
note "latency.status (GET /api/v1/status): $(timed 20 curl -fsS --unix-socket "$WHEELFARM_SOCKET" http://wf/api/v1/status)"
note "latency.queued_all (GET /api/v1/jobs?state=queued&limit=10000): $(timed 5 curl -fsS --unix-socket "$WHEELFARM_SOCKET" "http://wf/api/v1/jobs?state=queued&limit=10000")"
read -r rss2 hwm2 <<<"$(memory)"
note "memory.after_listing_10k: VmRSS ${rss2} kB, VmHWM ${hwm2} kB"

wf_say "(a) again, $runs forced builds with the 10,000 jobs queued"
overhead queued_10k >"$T/overhead-queued" || exit 1
while read -r line; do note "$line"; done <"$T/overhead-queued"
read -r rss3 hwm3 <<<"$(memory)"
note "memory.after_builds: VmRSS ${rss3} kB, VmHWM ${hwm3} kB"

stop_daemon
start_daemon
read -r rss4 hwm4 <<<"$(memory)"
note "restart with 10,000 queued: ${START_S} s to answer; VmRSS ${rss4} kB, VmHWM ${hwm4} kB"
stop_daemon

mkdir -p "$here/results"
res=$here/results/$(date -u +%Y-%m-%d)-scheduling.txt
{
    echo "# bench/scheduling.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $("$WF_DOCKER" version -f '{{.Server.Version}}' 2>/dev/null || echo docker), $WF_DOCKER_MODE"
    echo "# (a) fixture-ext forced rebuilds, one at a time, BuildKit cache warm, one local worker; times from the CLI's start"
    echo "# (b) $TOTAL jobs for linux/arm64 (no worker): $BULK_RECIPES recipes x $BULK_VERSIONS versions + 1 x $BIG_VERSIONS; SQLite WAL synchronous=FULL"
    printf '%s\n' "${res_lines[@]}"
} >"$res"
cat "$res"
wf_say "results in $res"
