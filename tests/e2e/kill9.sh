#!/usr/bin/env bash
# kill9.sh - crash safety: a batch of six small builds while wheelfarmd is killed with SIGKILL at
# random moments (every third one just after a build finished, while its wheel is being
# published) and restarted, ten times in a row, then left to finish. Every job ends exactly
# once (succeeded), no wheel is published twice, the API, the /simple/ pages and the files on
# disk agree, and no build process outlives the daemon that started it (the docker client dies
# with the daemon, and BuildKit stops the build step when its client goes away).
. "$(dirname "$0")/lib.sh"
require_docker
require_image wheelfarm/builder:bookworm-amd64
require_image wheelfarm/runtime:bookworm-amd64

# The build step sleeps for a time no other build on this engine uses, so `pgrep` finds
# exactly this test's build steps (container processes are visible from the host).
mark="2.$$$RANDOM"
projects="kill-a kill-b kill-c"
for p in $projects; do
    tiny_ext "$p" "cp311, cp313"
    echo "before_build: \"sleep $mark\"" >>"$T/recipes/$p.yaml"
done
write_config "$T/wf.yaml" '  - {name: local, driver: docker, platforms: [linux/amd64], slots: 2}'
start_daemon "$T/wf.yaml"
# shellcheck disable=SC2086
ids=$("$WF" build $projects --json | python3 -c 'import json,sys; print(" ".join(str(j["id"]) for j in json.load(sys.stdin)["jobs"]))')
[ "$(echo "$ids" | wc -w)" = 6 ] || fail "expected 6 jobs, got: $ids"
ok "6 jobs queued: $ids"

# Our build processes: docker clients writing into this test's state, and this test's steps.
orphans() {
    pgrep -af "output=type=local,dest=$T/" || true
    pgrep -af "sleep $mark" || true
}

# How many builds have reached collection (the wheel is checked, copied, recorded, published).
collected() {
    cat "$T"/var/logs/job-*.log 2>/dev/null | grep -c 'build finished, checking the wheel' || true
}

interrupted=0
for round in $(seq 1 10); do
    if [ $((round % 3)) = 0 ]; then
        # Every third kill aims at publication: a few hundred ms after a build has finished,
        # somewhere between copying its wheel, committing its row and rewriting the pages.
        seen=$(collected)
        for _ in $(seq 1 1500); do
            [ "$(collected)" -gt "$seen" ] && break
            sleep 0.2
        done
        sleep "0.$((RANDOM % 4))$((RANDOM % 10))"
    else
        sleep "$((RANDOM % 6 + 1)).$((RANDOM % 10))"
    fi
    kill -9 "$WFD_PID"
    wait "$WFD_PID" 2>/dev/null || true
    left=""
    for _ in $(seq 1 50); do
        left=$(orphans)
        [ -z "$left" ] && break
        sleep 0.2
    done
    [ -z "$left" ] || fail "round $round: build processes outlived the killed daemon: $left"
    start_daemon "$T/wf.yaml"
    n=$(tail -n 40 "$T/wheelfarmd.log" | sed -n 's/.*requeued \([0-9]*\) job(s) interrupted.*/\1/p' | tail -n1)
    [ -n "$n" ] && interrupted=$((interrupted + 1))
    say "round $round: killed, no build left behind, restarted (${n:-0} job(s) requeued)"
done
[ $interrupted -ge 1 ] || fail "no kill interrupted a running build; the test proved nothing"
swept=$(grep -c "which no artifact record owns" "$T/wheelfarmd.log" || true)
ok "10 x kill -9 and restart ($interrupted interrupted running builds, $swept unrecorded wheel(s) taken back); no orphan build processes"

for id in $ids; do
    st=$(wait_done "$id" 300)
    [ "$st" = succeeded ] || fail "job $id ended $st: $(job_field "$id" '["error"]')"
done
ok "every job succeeded"

# One verdict over everything: the API, the attempts, the pages, the files, the log.
python3 - "$WHEELFARM_SOCKET" "$INDEX" "$T/var/index/files" "$T/wheelfarmd.log" $ids <<'PY' || fail "the index does not match the database"
import hashlib, http.client, json, os, re, socket, sys, urllib.request
sock, index, files, log, ids = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
class C(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX); self.sock.connect(sock)
def api(path):
    c = C("wf"); c.request("GET", path); return json.load(c.getresponse())
jobs = api("/api/v1/jobs?limit=1000")["jobs"]
assert sorted(str(j["id"]) for j in jobs) == sorted(ids), ("jobs", [j["id"] for j in jobs])
want = {}
for i in ids:
    j = api("/api/v1/jobs/" + i)
    states = [a["state"] for a in j["attempts"]]
    # Exactly one attempt got to the end; the others were lost to a kill.
    assert j["state"] == "succeeded" and states[-1] == "succeeded", (i, states)
    assert states.count("succeeded") == 1 and set(states[:-1]) <= {"lost"}, (i, states)
    assert j["lease"] is None, (i, j["lease"])
    a = j["artifact"]
    assert a["filename"] not in want, ("two jobs own", a["filename"])
    want[a["filename"]] = (j["recipe"], a["sha256"])
assert len(want) == 6, want
on_disk = {}
for root, _, names in os.walk(files):
    for n in names:
        assert n.endswith(".whl") or n.endswith(".whl.metadata"), ("stray file", root, n)
        if n.endswith(".whl"):
            assert n not in on_disk, ("file twice", n)
            on_disk[n] = hashlib.sha256(open(os.path.join(root, n), "rb").read()).hexdigest()
assert set(on_disk) == set(want), ("disk", sorted(on_disk), "api", sorted(want))
root_page = urllib.request.urlopen(index).read().decode()
projects = sorted(set(re.findall(r'href="([^"/]+)/"', root_page)))
assert projects == sorted({p for p, _ in want.values()}), ("root page", projects)
listed = []
for p in projects:
    page = urllib.request.urlopen(index + p + "/").read().decode()
    for name, digest in re.findall(r'href="[^"]*/([^"/#]+\.whl)#sha256=([0-9a-f]{64})"', page):
        listed.append(name)
        assert want[name] == (p, digest) and on_disk[name] == digest, (name, digest)
assert sorted(listed) == sorted(want), ("pages", sorted(listed))
published = re.findall(r"published '([^']+)'", open(log).read())
assert all(published.count(n) <= 1 for n in want), ("published twice", published)
print("# %d wheels: API, pages and files agree; attempts per job: %s" % (
    len(want), " ".join(str(len(api("/api/v1/jobs/" + i)["attempts"])) for i in ids)))
PY
ok "each wheel is in the API, on its project page (sha256 matching) and in files/ exactly once"

[ -z "$(orphans)" ] || fail "build processes left: $(orphans)"
[ -z "$(ls -A "$T/var/work")" ] || fail "scratch directories left in var/work: $(ls "$T/var/work")"
stop_daemon
ok "no build process or scratch directory is left; the daemon stops cleanly"
echo "1..5"
