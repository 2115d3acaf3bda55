#!/usr/bin/env bash
# build-failure.sh - the failure policy end to end. A compile error fails its job once: it is not
# retried, and `wheelfarm logs` shows the compiler's message; `wheelfarm retry` builds it again
# as a new job, for failed and cancelled jobs only. A silent build meets the log-idle timeout.
# An unreachable engine is found by the health probes: it is unhealthy, jobs go to the other
# worker of their platform, and a platform whose only worker is unhealthy waits with the reason.
. "$(dirname "$0")/lib.sh"
require_docker
require_image wheelfarm/builder:bookworm-amd64
require_image wheelfarm/runtime:bookworm-amd64

# Each run gets its own sources, so BuildKit's cache cannot answer for the steps under test.
tiny_ext broken-ext cp311 broken
echo "# $T" >>"$T/src/broken-ext/broken_ext.c"
tiny_ext good-ext cp311
echo "# $T" >>"$T/src/good-ext/setup.py"
sed -i 's#platforms: \[linux/amd64\]#platforms: [linux/amd64, linux/arm64]#' "$T/recipes/good-ext.yaml"
tiny_ext idle-ext cp311
echo "before_build: \"echo going quiet; sleep 45 # $T\"" >>"$T/recipes/idle-ext.yaml"
echo "idle_timeout: 10" >>"$T/recipes/idle-ext.yaml"

write_config "$T/wf.yaml" '  - {name: local, driver: docker, platforms: [linux/amd64], slots: 2}'
cat >>"$T/wf.yaml" <<EOC
infra_retries: 2
retry_backoff: 3
EOC
start_daemon "$T/wf.yaml"

# --- a compile error: one attempt, final, its log readable ---
rc=0
"$WF" build broken-ext --wait >/dev/null 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "a build with a compile error exited $rc, not 1"
job=$("$WF" jobs --json | python3 -c 'import json,sys; print([j["id"] for j in json.load(sys.stdin)["jobs"] if j["recipe"]=="broken-ext"][0])')
[ "$(job_field "$job" '["state"]')" = failed ] || fail "job $job is $(job_field "$job" '["state"]')"
sleep 4 # longer than the retry backoff: an automatic retry would have started by now
[ "$(job_field "$job" '["state"]')" = failed ] || fail "the failed job $job was picked up again"
[ "$(job_field "$job" '["attempt_count"]')" = 1 ] || fail "job $job ran $(job_field "$job" '["attempt_count"]') attempts"
[ "$(job_field "$job" '["infra_failures"]')" = 0 ] || fail "a compile error counted as an infrastructure failure"
[ "$("$WF" jobs --json | python3 -c 'import json,sys; print(sum(j["recipe"]=="broken-ext" for j in json.load(sys.stdin)["jobs"]))')" = 1 ] ||
    fail "a second job appeared for the failed key"
case $(job_field "$job" '["error"]') in "build failed: "*) ;; *) fail "error: $(job_field "$job" '["error"]')" ;; esac
"$WF" logs "$job" >"$T/broken.log" || fail "wheelfarm logs $job failed"
grep -q "broken_ext.c:.*error: expected expression" "$T/broken.log" ||
    fail "the log lacks the compiler's error: $(tail -n 20 "$T/broken.log")"
ok "a compile error fails the job once (1 attempt, not retried) and 'wheelfarm logs' shows: $(grep -m1 'error: expected expression' "$T/broken.log" | sed 's/^#[0-9]* [0-9.]* //')"

# --- wheelfarm retry: a person builds it again, as a new job; the old one stays ---
out=$("$WF" retry "$job") || fail "wheelfarm retry $job failed: $out"
new=$(echo "$out" | sed -n 's/.*retried as job \([0-9]*\).*/\1/p')
[ -n "$new" ] || fail "unexpected retry output: $out"
rc=0
err=$("$WF" retry "$job" 2>&1) || rc=$?
[ $rc -eq 2 ] || fail "a second retry while job $new is active exited $rc"
echo "$err" | has "already queued or running as job $new" || fail "second retry said: $err"
[ "$(job_field "$new" '["retry_of"]')" = "$job" ] || fail "job $new does not say it retries $job"
req=$(job_field "$new" '["request"]')
python3 - "$WHEELFARM_SOCKET" "$req" <<'PY' || fail "the retry's request does not record who asked"
import http.client, json, os, socket, sys
class C(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX); self.sock.connect(sys.argv[1])
c = C("wf"); c.request("GET", "/api/v1/requests/" + sys.argv[2]); r = json.load(c.getresponse())
t = r["trigger"]
assert t["kind"] == "retry" and t["user"] == os.environ.get("USER", t["user"]), r
PY
[ "$(wait_done "$new")" = failed ] || fail "the retried job did not fail again"
[ "$(job_field "$new" '["attempt_count"]')" = 1 ] || fail "the retried job was retried automatically"
"$WF" logs "$job" | cmp -s - "$T/broken.log" || fail "the old job's log changed"
ok "wheelfarm retry builds a failed job again as job $new (it fails again, once); a retry while it runs is refused; the old log stays"

# --- the log-idle timeout ends a silent build, for good ---
rc=0
"$WF" build idle-ext --wait >/dev/null 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "the silent build exited $rc, not 1"
ijob=$("$WF" jobs --json | python3 -c 'import json,sys; print([j["id"] for j in json.load(sys.stdin)["jobs"] if j["recipe"]=="idle-ext"][0])')
ierr=$(job_field "$ijob" '["error"]')
case $ierr in "no output for 10 s (idle_timeout)"*) ;; *) fail "idle job error: $ierr" ;; esac
[ "$(job_field "$ijob" '["attempt_count"]')" = 1 ] || fail "the idle job was retried"
for _ in $(seq 1 50); do pgrep -f "sleep 45 # $T" >/dev/null || break; sleep 0.2; done
! pgrep -f "sleep 45 # $T" >/dev/null || fail "the silent build step still runs after the idle timeout"
ok "a build silent for idle_timeout fails with: $ierr (and its step is stopped)"

out=$("$WF" retry "$ijob" --json) || fail "retry of job $ijob failed"
ijob2=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
"$WF" cancel "$ijob2" >/dev/null
[ "$(wait_done "$ijob2" 60)" = cancelled ] || fail "job $ijob2 was not cancelled"
out=$("$WF" retry "$ijob2") || fail "a cancelled job could not be retried: $out"
"$WF" cancel "$(echo "$out" | sed -n 's/.*retried as job \([0-9]*\).*/\1/p')" >/dev/null
ok "a cancelled job can be retried too"

# --- an unreachable engine: requeued after a backoff, onto the other worker ---
stop_daemon
write_config "$T/wf.yaml" "  - {name: broken, driver: docker, endpoint: \"unix://$T/no-engine.sock\", platforms: [linux/amd64], slots: 1}
  - {name: local, driver: docker, platforms: [linux/amd64], slots: 1}
  - {name: broken-arm, driver: docker, endpoint: \"unix://$T/no-engine.sock\", platforms: [linux/arm64], slots: 1}"
cat >>"$T/wf.yaml" <<EOC
infra_retries: 2
retry_backoff: 3
EOC
start_daemon "$T/wf.yaml"
# The health probes find the unreachable engine before any job reaches it: jobs go to the
# healthy worker only, and a platform whose only worker is unhealthy waits with the reason.
# (Requeueing with a backoff after a failure that happens during a build is covered by the
# store and scheduler unit tests: a probe-healthy engine cannot be made to fail on demand here.)
for _ in $(seq 1 100); do
    st=$("$WF" workers --json | python3 -c 'import json,sys; print({w["name"]: w["state"] for w in json.load(sys.stdin)["workers"]}.get("broken"))')
    [ "$st" = unhealthy ] && break
    sleep 0.1
done
[ "$st" = unhealthy ] || fail "worker broken is '$st', not unhealthy"
reason=$("$WF" workers --json | python3 -c 'import json,sys; print([w["reason"] for w in json.load(sys.stdin)["workers"] if w["name"]=="broken"][0])')
case $reason in *"Cannot connect"* | *unreachable*) ;; *) fail "worker broken's reason: $reason" ;; esac
gjob=$("$WF" build good-ext --platform linux/amd64 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["id"])')
[ "$(wait_done "$gjob")" = succeeded ] || fail "job $gjob did not succeed: $(job_field "$gjob" '["error"]')"
att=$("$WF" show "$gjob" --json | python3 -c 'import json,sys; a=json.load(sys.stdin)["attempts"]; print(" ".join(x["worker"]+":"+x["state"] for x in a))')
[ "$att" = "local:succeeded" ] || fail "attempts: $att"
"$WF" retry "$gjob" >/dev/null 2>&1 && fail "a succeeded job was retried"
err=$("$WF" retry "$gjob" 2>&1 || true)
echo "$err" | has "succeeded; there is nothing to retry" || fail "retry of a succeeded job said: $err"
ok "an unreachable worker is unhealthy ($reason); the job ran on worker local only; retry of a succeeded job is refused"

ajob=$("$WF" build good-ext --platform linux/arm64 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["id"])')
sleep 2
[ "$(job_field "$ajob" '["state"]')" = queued ] || fail "job $ajob is $(job_field "$ajob" '["state"]'), not queued"
why=$(job_field "$ajob" '["wait_reason"]')
case $why in "no healthy worker for linux/arm64"*) ;; *) fail "arm64 job's wait reason: $why" ;; esac
[ "$(job_field "$ajob" '["attempt_count"]')" = 0 ] || fail "job $ajob was started on the unhealthy worker"
ok "a job whose only worker is unhealthy waits: $why"

stop_daemon
echo "1..6"
