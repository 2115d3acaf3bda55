#!/usr/bin/env bash
# remote-worker.sh - two linux/amd64 workers: the machine's engine and a second engine in a
# network namespace, reached over tcp:// with mutual TLS (tests/e2e/remote-engine.sh). Builds on
# the remote engine really cross the network: the build context goes over TCP+TLS, the wheel comes
# back through --output type=local.
#
# Part 1 (this branch's features): the engine refuses clients without a certificate; a tcp://
# worker without `tls` is refused by --check-config; six jobs use both workers (the attempt rows
# name both), no worker ever runs more than its slots (sampled through the API while building,
# and from the attempts' timestamps); the six wheels install with pip from the index and import.
# Part 2 (failover; needs the fleet's health states and the leases' requeue to another worker):
# the remote engine is stopped in the middle of a build on it, the job completes on the local
# worker, the remote worker shows "unhealthy" in `wheelfarm workers --json`, then "healthy" again
# after the engine is back.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/remote-engine.sh"
remote_engine_require
require_docker
require_image wheelfarm/builder:bookworm-amd64
require_image wheelfarm/runtime:bookworm-amd64

LOCAL_SLOTS=1
REMOTE_SLOTS=2

started=$SECONDS
remote_engine_start wheelfarm/builder:bookworm-amd64 wheelfarm/runtime:bookworm-amd64
say "remote engine up with the builder and runtime images in $((SECONDS - started)) s"
[ "$(remote_docker version --format '{{.Server.Os}}/{{.Server.Arch}}')" = linux/amd64 ] ||
    fail "the remote engine does not answer over TLS"
if /usr/bin/docker --host "$REMOTE_ENDPOINT" version >/dev/null 2>&1; then
    fail "the remote engine answers a client without TLS"
fi
if /usr/bin/docker --host "$REMOTE_ENDPOINT" --tlsverify --tlscacert "$REMOTE_CA" version >/dev/null 2>&1; then
    fail "the remote engine answers a client without a certificate"
fi
ok "remote engine in namespace $REMOTE_NS at $REMOTE_ENDPOINT: TLS with a client certificate only"

# ---- the recipes: six C extensions (fixture-ext renamed), path sources, one native dependency
fixture_sources
wfnum_sha=$(sha256sum "$T/dist/wfnum-1.0.tar.gz" | cut -c1-64)
mkdir -p "$T/recipes" "$T/src"
# recipe NAME SLEEP: a copy of the fixture named NAME whose before_build sleeps SLEEP seconds and
# prints a marker first (the comment with $T makes the step new to BuildKit's cache each run).
recipe() {
    local name=$1 mod=${1//-/_} src=$T/src/$1
    mkdir -p "$src"
    sed "s/fixture_ext/$mod/g" "$WF_SOURCE_ROOT/tests/fixtures/fixture-ext/fixture_ext.c" >"$src/$mod.c"
    sed "s/fixture_ext/$mod/g" "$WF_SOURCE_ROOT/tests/fixtures/fixture-ext/setup.py" >"$src/setup.py"
    sed "s/^name = .*/name = \"$name\"/" "$WF_SOURCE_ROOT/tests/fixtures/fixture-ext/pyproject.toml" >"$src/pyproject.toml"
    cat >"$T/recipes/$name.yaml" <<EOY
name: $name
versions: ["1.0.0"]
source: {path: ../src/$name}
python: [cp311]
platforms: [linux/amd64]
native:
  - {name: wfnum, url: "$FIX_URL/wfnum-1.0.tar.gz", sha256: $wfnum_sha,
     build: "make && make install PREFIX=/usr/local"}
before_build: "echo wf-before-build $name; sleep $2 # $T"
test_command: python -c "import $mod; assert $mod.add(2, 3) == 5"
EOY
}
six=(wfr-a wfr-b wfr-c wfr-d wfr-e wfr-f)
for n in "${six[@]}"; do recipe "$n" 5; done
recipe wfr-slow-local 40
recipe wfr-slow-remote 40

# ---- the configuration: TLS paths relative to the config file
workers="  - {name: local, driver: docker, endpoint: \"unix:///var/run/docker.sock\", platforms: [linux/amd64], slots: $LOCAL_SLOTS}
  - {name: remote, driver: docker, endpoint: \"$REMOTE_ENDPOINT\", platforms: [linux/amd64], slots: $REMOTE_SLOTS"
write_config "$T/bad.yaml" "$workers}"
rc=0
out=$("$WFD" --config "$T/bad.yaml" --check-config 2>&1) || rc=$?
[ $rc = 2 ] && echo "$out" | has "endpoint '$REMOTE_ENDPOINT' has no TLS" ||
    fail "a tcp:// worker without tls was not refused (exit $rc): $out"
ok "--check-config refuses a tcp:// worker that says nothing about TLS"
write_config "$T/wf.yaml" "$workers,
     tls: {ca: remote/tls/ca.pem, cert: remote/tls/cert.pem, key: remote/tls/key.pem}}"
start_daemon "$T/wf.yaml"
ok "daemon up on port $WF_PORT with workers local ($LOCAL_SLOTS slot) and remote ($REMOTE_SLOTS slots, TLS)"

# log_has JOB REGEX: the job's build log matches (read whole: a pipe into grep -q would SIGPIPE).
log_has() {
    "$WF" logs "$1" >"$T/log-$1.txt" 2>/dev/null || return 1
    grep -q -- "$2" "$T/log-$1.txt"
}

# ---- part 1: six jobs over both workers, slots respected
jobs_json=$("$WF" build "${six[@]}" --json) || fail "wheelfarm build failed: $jobs_json"
ids=$(echo "$jobs_json" | python3 -c 'import json,sys; print(" ".join(str(j["id"]) for j in json.load(sys.stdin)["jobs"]))')
[ "$(echo "$ids" | wc -w)" = 6 ] || fail "expected 6 jobs, got: $jobs_json"
ok "six jobs queued: $ids"

# Sample what runs where until all six have ended: per worker, the jobs the API lists as running
# there and the worker's own busy count must stay within its slots.
samples=0
declare -A max_running=([local]=0 [remote]=0) max_busy=([local]=0 [remote]=0)
deadline=$((SECONDS + 900))
while :; do
    sample=$("$WF" jobs --state running --json | python3 -c '
import collections, json, sys
c = collections.Counter(j["worker"] for j in json.load(sys.stdin)["jobs"])
print(c["local"], c["remote"])')
    read -r run_local run_remote <<<"$sample"
    busy=$("$WF" workers --json | python3 -c '
import json, sys
w = {x["name"]: x["busy"] for x in json.load(sys.stdin)["workers"]}
print(w["local"], w["remote"])')
    read -r busy_local busy_remote <<<"$busy"
    samples=$((samples + 1))
    [ "$run_local" -gt "${max_running[local]}" ] && max_running[local]=$run_local
    [ "$run_remote" -gt "${max_running[remote]}" ] && max_running[remote]=$run_remote
    [ "$busy_local" -gt "${max_busy[local]}" ] && max_busy[local]=$busy_local
    [ "$busy_remote" -gt "${max_busy[remote]}" ] && max_busy[remote]=$busy_remote
    [ "$run_local" -le $LOCAL_SLOTS ] && [ "$busy_local" -le $LOCAL_SLOTS ] ||
        fail "worker local runs $run_local job(s) (busy $busy_local) with $LOCAL_SLOTS slot(s)"
    [ "$run_remote" -le $REMOTE_SLOTS ] && [ "$busy_remote" -le $REMOTE_SLOTS ] ||
        fail "worker remote runs $run_remote job(s) (busy $busy_remote) with $REMOTE_SLOTS slot(s)"
    left=0
    for id in $ids; do
        case $(job_field "$id" '["state"]') in queued | running) left=$((left + 1)) ;; esac
    done
    [ $left = 0 ] && break
    [ $SECONDS -lt $deadline ] || fail "the six jobs did not finish within 900 s"
    sleep 0.3
done
for id in $ids; do
    [ "$(job_field "$id" '["state"]')" = succeeded ] ||
        fail "job $id ended $(job_field "$id" '["state"]'): $(job_field "$id" '["error"]'); log: $("$WF" logs "$id" | tail -n 20)"
done
ok "all six succeeded in $((SECONDS - deadline + 900)) s; $samples samples: at most ${max_running[local]} running on local (slots $LOCAL_SLOTS), ${max_running[remote]} on remote (slots $REMOTE_SLOTS)"
[ "${max_running[remote]}" = "$REMOTE_SLOTS" ] ||
    say "note: the remote worker never ran $REMOTE_SLOTS builds at once in the samples"

# The attempt rows: which workers ran them, and the most that overlapped on each (from their
# start and end times, in seconds: [start, end) intervals).
for id in $ids; do "$WF" show "$id" --json; done | python3 -c '
import json, sys
dec = json.JSONDecoder(); text = sys.stdin.read(); pos = 0; atts = []
while pos < len(text):
    while pos < len(text) and text[pos].isspace(): pos += 1
    if pos >= len(text): break
    job, pos = dec.raw_decode(text, pos)
    atts += [a for a in job["attempts"]]
by = {}
for a in atts: by.setdefault(a["worker"], []).append((a["started_at"], a["finished_at"]))
for w, iv in sorted(by.items()):
    most = max(sum(1 for s2, f2 in iv if s2 <= s < f2) for s, f in iv)
    print(w, len(iv), most)' >"$T/attempts.txt"
workers_used=$(cut -d' ' -f1 "$T/attempts.txt" | tr '\n' ' ')
[ "$workers_used" = "local remote " ] || fail "the attempts name workers '$workers_used', not both local and remote"
while read -r w n most; do
    slots=$LOCAL_SLOTS
    [ "$w" = remote ] && slots=$REMOTE_SLOTS
    [ "$most" -le "$slots" ] || fail "attempt times show $most builds at once on $w (slots $slots)"
    say "worker $w: $n attempt(s), at most $most at once by their timestamps"
done <"$T/attempts.txt"
ok "both workers were used and the attempts' times agree with the slots"

# The remote builds really ran on the remote engine: their logs say so and its BuildKit cache
# holds their layers.
rjob=""
for id in $ids; do
    [ "$(job_field "$id" '["worker"]')" = remote ] && { rjob=$id; break; }
done
log_has "$rjob" "starting: DOCKER_HOST=$REMOTE_ENDPOINT .*--tlsverify --tlscacert=$REMOTE_CA" ||
    fail "job $rjob's log does not show a TLS client for $REMOTE_ENDPOINT"
cache=$(remote_docker system df --format '{{.Type}} {{.TotalCount}}' | sed -n 's/^Build Cache //p')
[ "${cache:-0}" -gt 0 ] || fail "the remote engine's build cache is empty: nothing was built there"
ok "job $rjob ran through the TLS client; the remote engine's build cache has $cache entries"

python3 -m venv "$T/venv"
"$T/venv/bin/pip" install -q --index-url "$INDEX" "${six[@]}" || fail "pip install from the index failed"
for n in "${six[@]}"; do
    (cd "$T" && "$T/venv/bin/python" -c "import ${n//-/_} as m; assert m.add(2, 3) == 5") ||
        fail "$n does not import"
done
ok "pip installs the six wheels from the built-in index and they import"

# ---- part 2: failover. Two slow builds: the first fills the local worker's one slot, the
# second goes to the remote engine, which is stopped while that build sleeps.
worker_state() {
    "$WF" workers --json | python3 -c '
import json, sys
w = [x for x in json.load(sys.stdin)["workers"] if x["name"] == sys.argv[1]][0]
print(w.get("state"), "|", w.get("reason") or "")' "$1"
}
slow_local=$("$WF" build wfr-slow-local --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["id"])')
for _ in $(seq 1 100); do [ "$(job_field "$slow_local" '["worker"]')" = local ] && break; sleep 0.2; done
[ "$(job_field "$slow_local" '["worker"]')" = local ] || fail "job $slow_local did not start on local"
slow_remote=$("$WF" build wfr-slow-remote --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["id"])')
for _ in $(seq 1 600); do
    log_has "$slow_remote" "wf-before-build wfr-slow-remote" && break
    sleep 0.2
done
[ "$(job_field "$slow_remote" '["worker"]')" = remote ] || fail "job $slow_remote is not on the remote worker"
log_has "$slow_remote" "wf-before-build wfr-slow-remote" || fail "job $slow_remote never reached its before_build"
remote_engine_stop TERM
stopped_at=$SECONDS
ok "remote engine stopped while job $slow_remote built on it"

state=""
deadline=$((SECONDS + 150))
while state=$(worker_state remote) && [ "${state%% |*}" != unhealthy ] && [ $SECONDS -lt $deadline ]; do
    sleep 0.5
done
[ "${state%% |*}" = unhealthy ] || fail "the remote worker shows '$state' 150 s after its engine stopped, not unhealthy (health probes: the fleet's part of issue 4)"
ok "the remote worker shows unhealthy $((SECONDS - stopped_at)) s after its engine stopped (reason: ${state#*| })"

deadline=$((SECONDS + 600))
while [ $SECONDS -lt $deadline ]; do
    case $(job_field "$slow_remote" '["state"]') in succeeded | failed | cancelled) break ;; esac
    sleep 0.5
done
[ "$(job_field "$slow_remote" '["state"]')" = succeeded ] ||
    fail "job $slow_remote ended $(job_field "$slow_remote" '["state"]'), not succeeded (requeue of an infrastructure failure to another worker: the leases' part of issue 4): $(job_field "$slow_remote" '["error"]')"
"$WF" show "$slow_remote" --json | python3 -c '
import json, sys
a = json.load(sys.stdin)["attempts"]
assert a[0]["worker"] == "remote" and a[0]["state"] != "succeeded", a
assert a[-1]["worker"] == "local" and a[-1]["state"] == "succeeded", a
assert all(x["worker"] != "remote" for x in a[1:]), ("retried on the stopped engine", a)' ||
    fail "job $slow_remote's attempts are not: remote (lost), then local only (a failed worker is marked unhealthy and skipped): $("$WF" show "$slow_remote" --json)"
[ "$(job_field "$slow_local" '["state"]')" = succeeded ] || fail "job $slow_local on the local worker did not succeed"
ok "job $slow_remote completed on the local worker after the remote engine stopped"

remote_engine_launch
restarted_at=$SECONDS
deadline=$((SECONDS + 360))
while state=$(worker_state remote) && [ "${state%% |*}" != healthy ] && [ $SECONDS -lt $deadline ]; do
    sleep 0.5
done
[ "${state%% |*}" = healthy ] || fail "the remote worker shows '$state' 360 s after its engine came back (probes back off to at most 5 min)"
ok "the remote worker is healthy again $((SECONDS - restarted_at)) s after its engine came back"

"$T/venv/bin/pip" install -q --index-url "$INDEX" wfr-slow-remote || fail "pip cannot install wfr-slow-remote"
(cd "$T" && "$T/venv/bin/python" -c "import wfr_slow_remote as m; assert m.add(2, 3) == 5") ||
    fail "wfr_slow_remote does not import"
ok "the failed-over job's wheel installs from the index"

stop_daemon
ok "SIGTERM: the daemon closed its loop cleanly"
echo "1..15"
