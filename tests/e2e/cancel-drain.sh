#!/usr/bin/env bash
# cancel-drain.sh - cancelling and draining: a person's cancel ends a running build and a job
# whose sources are still downloading; SIGTERM lets running builds go until the shutdown
# deadline, then requeues them (nothing is dropped), and the next start builds them.
. "$(dirname "$0")/lib.sh"
require_docker
require_image wheelfarm/builder:bookworm-amd64

fixture_sources
fixture_recipe linux/amd64
# A slow build: before_build sleeps, so there is time to cancel or stop it mid-build. The
# comment makes the step new to BuildKit's cache on every run of this test.
echo "before_build: \"sleep 12 # $T\"" >>"$T/recipes/fixture-ext.yaml"
# A source that never finishes downloading: a loopback server that answers after 60 s.
cat >"$T/slow.py" <<'PY'
import http.server, socketserver, sys, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(60)
        self.send_response(404); self.end_headers()
    def log_message(self, *a): pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer): daemon_threads = True
s = S(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
python3 "$T/slow.py" >"$T/slow.port" &
pids+=($!)
for _ in $(seq 1 50); do [ -s "$T/slow.port" ] && break; sleep 0.1; done
cat >"$T/recipes/stuck.yaml" <<EOY
name: stuck
versions: ["1.0"]
source: {url: "http://127.0.0.1:$(cat "$T/slow.port")/stuck-1.0.tar.gz", sha256: "$(printf '%064d' 7)"}
EOY
write_config "$T/wf.yaml" '  - {name: local, driver: docker, platforms: [linux/amd64], slots: 2}'
sed -i 's/shutdown_grace: 20/shutdown_grace: 2/' "$T/wf.yaml"
start_daemon "$T/wf.yaml"

# Cancel while the source downloads: the job ends at once, not when the download does.
sj=$("$WF" build stuck --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["id"])')
for _ in $(seq 1 50); do [ "$(job_field "$sj" '["state"]')" = running ] && break; sleep 0.1; done
start=$(date +%s)
"$WF" cancel "$sj" >/dev/null
for _ in $(seq 1 50); do [ "$(job_field "$sj" '["state"]')" = cancelled ] && break; sleep 0.1; done
[ "$(job_field "$sj" '["state"]')" = cancelled ] || fail "a job cancelled during its download is $(job_field "$sj" '["state"]')"
[ $(($(date +%s) - start)) -le 3 ] || fail "cancelling during a download took too long"
ok "cancel during a download ends the job at once"

# Cancel a running build.
job=$("$WF" build fixture-ext --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["id"])')
for _ in $(seq 1 100); do
    "$WF" logs "$job" 2>/dev/null | has 'before_build.sh' && break
    sleep 0.2
done
"$WF" cancel "$job" >/dev/null
for _ in $(seq 1 100); do
    case $(job_field "$job" '["state"]') in cancelled | failed | succeeded) break ;; esac
    sleep 0.2
done
[ "$(job_field "$job" '["state"]')" = cancelled ] || fail "cancelled build ended $(job_field "$job" '["state"]')"
rc=0
"$WF" logs "$job" >/dev/null || rc=$?
[ $rc -eq 0 ] || fail "the log of a cancelled job is not readable"
ok "cancel stops a running build; its log stays readable"

# SIGTERM mid-build: the build outlives the 2 s deadline, so it is cancelled and requeued.
out=$("$WF" build fixture-ext --json)
job=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["id"])')
for _ in $(seq 1 100); do
    "$WF" logs "$job" 2>/dev/null | has 'before_build.sh' && break
    sleep 0.2
done
stop_daemon
grep -q "cancelling and requeueing" "$T/wheelfarmd.log" || fail "the drain deadline did not cancel the build"
! pgrep -f "output=type=local,dest=$T" >/dev/null || fail "a docker build outlived the daemon"
ok "SIGTERM: the build was cancelled at the deadline, no docker process outlived the daemon"

start_daemon "$T/wf.yaml"
[ "$(job_field "$job" '["state"]')" != failed ] || fail "the interrupted job failed instead of being requeued"
for _ in $(seq 1 300); do
    case $(job_field "$job" '["state"]') in queued | running) sleep 1 ;; *) break ;; esac
done
[ "$(job_field "$job" '["state"]')" = succeeded ] || fail "the requeued job ended $(job_field "$job" '["state"]')"
n=$("$WF" show "$job" --json | python3 -c 'import json,sys; a=json.load(sys.stdin)["attempts"]; print(len(a), a[0]["state"])')
[ "$n" = "2 lost" ] || fail "expected a lost attempt then a good one, got: $n"
ok "after the restart the requeued job was built (attempts: lost, then succeeded)"
stop_daemon
echo "1..4"
