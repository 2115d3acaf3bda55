#!/usr/bin/env bash
# workers.sh - the worker fleet end to end: two linux/amd64 workers on the local engine (one by
# endpoint, one by docker context), one slot each, and a worker whose engine does not exist.
# Six jobs use both workers and never more than a worker's slots (sampled from the API while
# they run, and checked on the attempt rows afterwards); the dead worker is unhealthy with a
# reason and gets nothing. A drained worker takes no new jobs. SIGHUP with a config that removes
# a worker while it builds: the build finishes there, then the worker is gone. A broken config
# on SIGHUP changes nothing. A platform no healthy worker serves waits with the reason shown.
. "$(dirname "$0")/lib.sh"
require_docker
require_image wheelfarm/builder:bookworm-amd64
require_image wheelfarm/runtime:bookworm-amd64

# Nine tiny C extensions with no native dependency, built from local directories. The sleep in
# before_build makes builds overlap long enough to be seen; the comment with $T makes each run's
# steps new to BuildKit's cache.
mkdir -p "$T/recipes" "$T/src"
for n in 1 2 3 4 5 6 7 8 9; do
    d=$T/src/wfjob$n
    mkdir -p "$d"
    cat >"$d/wfjob$n.c" <<EOC
#define PY_SSIZE_T_CLEAN
#include <Python.h>
static PyObject *n(PyObject *self, PyObject *args) { return PyLong_FromLong($n); }
static PyMethodDef methods[] = {{"n", n, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "wfjob$n", NULL, -1, methods};
PyMODINIT_FUNC PyInit_wfjob$n(void) { return PyModule_Create(&mod); }
EOC
    printf 'from setuptools import Extension, setup\nsetup(ext_modules=[Extension("wfjob%s", ["wfjob%s.c"])])\n' "$n" "$n" >"$d/setup.py"
    printf '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = "wfjob%s"\nversion = "1.0"\n' "$n" >"$d/pyproject.toml"
    cat >"$T/recipes/wfjob$n.yaml" <<EOY
name: wfjob$n
versions: ["1.0"]
source: {path: $d}
python: [cp311]
platforms: [linux/amd64, linux/arm64]
before_build: "sleep 6 # $T"
test_command: python -c "import wfjob$n; assert wfjob$n.n() == $n"
EOY
done

W1='  - {name: w1, endpoint: "unix:///var/run/docker.sock", platforms: [linux/amd64], slots: 1, labels: {role: e2e}}'
W2='  - {name: w2, context: default, platforms: [linux/amd64], slots: 1, labels: [second]}'
DEAD="  - {name: dead, endpoint: \"unix://$T/no-engine.sock\", platforms: [linux/amd64], slots: 4}"
FAKE='  - {name: fake-arm, platforms: [linux/arm64], slots: 1}'
write_config "$T/wf.yaml" "$W1
$W2
$DEAD
$FAKE"
start_daemon "$T/wf.yaml"

# workers_py EXPR: evaluates EXPR with `w` = {name: worker object} from `wheelfarm workers --json`.
workers_py() {
    "$WF" workers --json | python3 -c "import json,sys; w={x['name']: x for x in json.load(sys.stdin)['workers']}; print($1)"
}
# wait_for EXPR SECONDS WHAT: polls workers_py EXPR until it prints True.
wait_for() {
    for _ in $(seq 1 $(($2 * 5))); do
        [ "$(workers_py "$1")" = True ] && return 0
        sleep 0.2
    done
    fail "$3: $("$WF" workers)"
}
# job_ids: the ids of the jobs a build created (its JSON on stdin), oldest first.
job_ids() { python3 -c 'import json,sys; print(" ".join(str(i) for i in sorted(j["id"] for j in json.load(sys.stdin)["jobs"])))'; }
# wait_jobs IDS...: waits until none is queued or running (10 min at most), sampling the workers'
# busy counts; a sample with busy > slots, or the dead worker busy, fails the test.
wait_jobs() {
    for _ in $(seq 1 1200); do
        workers_py "all(x['busy'] <= x['slots'] for x in w.values()) and w['dead']['busy'] == 0" |
            grep -qx True || fail "a worker ran more than its slots: $("$WF" workers)"
        workers_py "' '.join('%s=%d' % (k, x['busy']) for k, x in sorted(w.items()))" >>"$T/busy.log"
        local active=0
        for j in "$@"; do
            case $(job_field "$j" '["state"]') in queued | running) active=1 ;; esac
        done
        [ $active = 0 ] && return 0
        sleep 0.5
    done
    fail "jobs $* did not finish"
}
# attempts IDS...: "job worker started finished state" per attempt, sorted by start.
attempts() {
    for j in "$@"; do
        "$WF" show "$j" --json | python3 -c 'import json,sys; v=json.load(sys.stdin)
for a in v["attempts"]: print(v["id"], a["worker"], a["started_at"], a["finished_at"], a["state"])'
    done | sort -k3,3n
}

wait_for "w['w1']['state'] == 'healthy' and w['w2']['state'] == 'healthy'" 30 "w1 and w2 did not become healthy"
wait_for "w['dead']['state'] == 'unhealthy' and w['fake-arm']['state'] == 'unhealthy'" 30 "the broken workers did not become unhealthy"
reason=$(workers_py "w['dead']['reason']")
case $reason in *"engine unreachable"*"no-engine.sock"*) ;; *) fail "dead worker's reason: $reason" ;; esac
[ "$(workers_py "w['w2']['context'] + ' ' + ','.join(w['w1']['labels'])")" = "default role=e2e" ] ||
    fail "context or labels not shown: $("$WF" workers --json)"
"$WF" workers | has "^dead: engine unreachable" || fail "the table does not show why 'dead' is unhealthy"
ok "w1 (endpoint) and w2 (context) are healthy; 'dead' is unhealthy: $reason"

# Six jobs on two one-slot workers.
ids=$("$WF" build wfjob1 wfjob2 wfjob3 wfjob4 wfjob5 wfjob6 --platform linux/amd64 --json | job_ids)
[ "$(echo $ids | wc -w)" = 6 ] || fail "expected 6 jobs, got: $ids"
wait_jobs $ids
for j in $ids; do
    [ "$(job_field "$j" '["state"]')" = succeeded ] || fail "job $j ended $(job_field "$j" '["state"]'): $(job_field "$j" '["error"]')"
done
attempts $ids >"$T/attempts"
used=$(awk '{print $2}' "$T/attempts" | sort -u | tr '\n' ' ')
[ "$used" = "w1 w2 " ] || fail "workers used: '$used' (want both w1 and w2, never dead): $(cat "$T/attempts")"
# On the attempt rows: per worker, each attempt starts after the previous one finished (1 slot).
awk '{ if ($2 in fin && $3 < fin[$2]) { print "overlap on " $2 ": " $0; bad = 1 } fin[$2] = $4 }
     END { exit bad }' "$T/attempts" || fail "a worker ran two jobs at once: $(cat "$T/attempts")"
grep -q 'w1=1' "$T/busy.log" && grep -q 'w2=1' "$T/busy.log" || fail "never saw both workers busy: $(sort -u "$T/busy.log")"
ok "6 jobs succeeded on w1 and w2, one at a time per worker ($(sort -u "$T/busy.log" | wc -l) distinct busy samples), none on 'dead'"

# Drain w1: new jobs go to w2 only, one at a time; the second one says why it waits.
out=$("$WF" drain w1) || fail "wheelfarm drain w1 failed: $out"
case $out in *"worker 'w1' is drained"*) ;; *) fail "drain said: $out" ;; esac
[ "$(workers_py "w['w1']['state'] + ' ' + str(w['w1']['drained'])")" = "draining True" ] ||
    fail "w1 is not draining: $("$WF" workers)"
rc=0
"$WF" drain no-such-worker >"$T/drain.err" 2>&1 || rc=$?
[ $rc = 2 ] && grep -q "no worker named 'no-such-worker'" "$T/drain.err" && grep -q "hint: .*w1, w2" "$T/drain.err" ||
    fail "draining an unknown worker: exit $rc, $(cat "$T/drain.err")"
ids2=$("$WF" build wfjob7 wfjob8 --platform linux/amd64 --json | job_ids)
set -- $ids2
for _ in $(seq 1 150); do
    [ "$(job_field "$1" '["state"]')" = running ] && break
    sleep 0.2
done
why=$(job_field "$2" '["wait_reason"]')
[ "$why" = "all 1 worker(s) for linux/amd64 are busy" ] || fail "second job's wait reason: $why"
wait_jobs $ids2
attempts $ids2 >"$T/attempts2"
[ "$(awk '{print $2}' "$T/attempts2" | sort -u)" = w2 ] || fail "a drained worker got a job: $(cat "$T/attempts2")"
for j in $ids2; do [ "$(job_field "$j" '["state"]')" = succeeded ] || fail "job $j did not succeed"; done
out=$("$WF" undrain w1) || fail "undrain failed: $out"
[ "$(workers_py "w['w1']['state']")" = healthy ] || fail "w1 is not healthy after undrain"
ok "a drained worker takes no new jobs (both went to w2: '$why'); undrain gives it jobs again"

# A broken config on SIGHUP: logged with file:line:column, nothing changes.
cp "$T/wf.yaml" "$T/wf.yaml.good"
printf 'workers:\n  - {name: w1, slots: 0}\n  - [\n' >"$T/wf.yaml"
kill -HUP "$WFD_PID"
for _ in $(seq 1 50); do grep -q "reload: .*invalid" "$T/wheelfarmd.log" && break; sleep 0.1; done
grep -q "reload: $T/wf.yaml:[0-9]*:[0-9]*: " "$T/wheelfarmd.log" || fail "the reload error has no file:line:column"
[ "$(workers_py "len(w)")" = 4 ] || fail "a broken config changed the workers"
ok "a broken config on SIGHUP is reported with file:line:column; the workers in force stay"

# SIGHUP with a config that removes the worker a build runs on: the build finishes there, then
# the worker goes; a changed state_dir is reported as needing a restart.
job=$("$WF" build wfjob9 --platform linux/amd64 --json | job_ids)
for _ in $(seq 1 150); do
    [ "$(job_field "$job" '["state"]')" = running ] && break
    sleep 0.2
done
busy=$(job_field "$job" '["worker"]')
case $busy in w1) keep=$W2 ;; w2) keep=$W1 ;; *) fail "job $job runs on '$busy'" ;; esac
write_config "$T/wf.yaml" "$keep
$DEAD
$FAKE"
sed -i "s#^state_dir: .*#state_dir: $T/elsewhere#" "$T/wf.yaml"
kill -HUP "$WFD_PID"
wait_for "w['$busy']['state'] == 'draining' and 'removed' in w['$busy']['reason']" 10 "the removed worker is not draining"
grep -q "reload: state_dir.* needs a restart" "$T/wheelfarmd.log" || fail "the state_dir change was not reported"
grep -q "worker '$busy' removed: drains, then leaves" "$T/wheelfarmd.log" || fail "the reload did not log the removal"
wait_jobs $job
[ "$(job_field "$job" '["state"]')" = succeeded ] || fail "the build on the removed worker ended $(job_field "$job" '["state"]')"
[ "$(attempts $job | awk '{print $2}')" = "$busy" ] || fail "the job moved: $(attempts $job)"
wait_for "'$busy' not in w and len(w) == 3" 10 "the removed worker is still listed"
ok "SIGHUP removed '$busy' while it built: job $job finished there, then the worker left"

# Strict routing: an arm64 job with no healthy arm64 worker waits, saying why.
aj=$("$WF" build wfjob1 --platform linux/arm64 --json | job_ids)
sleep 1
[ "$(job_field "$aj" '["state"]')" = queued ] || fail "the arm64 job did not wait"
why=$(job_field "$aj" '["wait_reason"]')
case $why in "no healthy worker for linux/arm64: 'fake-arm' (the engine is linux/amd64"*"is unhealthy") ;;
*) fail "arm64 wait reason: $why" ;; esac
"$WF" show "$aj" | has "no healthy worker for linux/arm64" || fail "wheelfarm show does not say why the job waits"
"$WF" cancel "$aj" >/dev/null
ok "a job for a platform without a healthy worker waits: $why"

[ "$(workers_py "w['dead']['busy'] == 0 and w['dead']['state'] == 'unhealthy'")" = True ] || fail "dead worker state"
! grep -q " dead " "$T/attempts" "$T/attempts2" || fail "a job ran on the dead worker"
stop_daemon
ok "SIGTERM: the daemon closed its loop cleanly"
echo "1..7"
