#!/usr/bin/env bash
# bump.sh - nightly version bumps end to end. A local upstream index on loopback (static files
# served with PEP 691 negotiation by index-server.py) offers real sdists of the fixture C
# extension as 1.0, 1.1, 1.2 (yanked) and 2.0rc1, and a recipe tracks ">=1.0,<2":
#   - `wheelfarm bump --dry-run` says 1.1 would be built and why not 1.2 (yanked) and 2.0rc1
#     (excluded), from PEP 691 JSON and from the PEP 503 HTML fallback; max_builds defers a
#     second tracking recipe; min_age makes young uploads "too young" (upload times from JSON,
#     first-seen times without them);
#   - on a fresh state with schedule "* * * * *" the scheduled run builds 1.1 (trigger bump,
#     upstream version 1.1), pip installs it from /simple/, and the next scheduled run queues
#     nothing ("built");
#   - a firing missed while the daemon was down runs at start-up as a catch-up run.
. "$(dirname "$0")/lib.sh"
require_docker
require_image wheelfarm/builder:bookworm-amd64
require_image wheelfarm/runtime:bookworm-amd64
# Isolated builds install the fixture's build requirements from the upstream index; Debian's
# wheels of them serve as that index's copies (scripts/install-deps installs both packages).
setuptools_whl=$(ls /usr/share/python-wheels/setuptools-*-py3-none-any.whl 2>/dev/null | head -n1 || true)
wheel_whl=$(ls /usr/share/python-wheels/wheel-*-py3-none-any.whl 2>/dev/null | head -n1 || true)
[ -n "$setuptools_whl" ] && [ -n "$wheel_whl" ] ||
    skip "python3-setuptools-whl and python3-wheel-whl are not installed (scripts/install-deps installs them)"

# ---- the upstream index ----
up=$T/upstream
mkdir -p "$up/files"
"$WF_SOURCE_ROOT/scripts/make-fixtures" --version 1.0 --version 1.1 --version 1.2 --version 2.0rc1 \
    "$up/files" >/dev/null
rm "$up/files/fixture_ext-1.0.0.tar.gz"
cp "$setuptools_whl" "$wheel_whl" "$up/files/"
# A second tracking project, only ever judged (max_builds defers it): a real, tiny sdist.
python3 - "$up" <<'PY'
import hashlib, io, json, os, sys, tarfile, time

up = sys.argv[1]
files = os.path.join(up, "files")
pkg = b"Metadata-Version: 2.1\nName: wf-bump-other\nVersion: 3.0\n"
with tarfile.open(os.path.join(files, "wf_bump_other-3.0.tar.gz"), "w:gz") as t:
    info = tarfile.TarInfo("wf_bump_other-3.0/PKG-INFO")
    info.size = len(pkg)
    t.addfile(info, io.BytesIO(pkg))

now = int(time.time())
day = 86400
def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".250000Z"
def sha(name):
    return hashlib.sha256(open(os.path.join(files, name), "rb").read()).hexdigest()
def page(project, entries, json_too):
    """entries: (filename, age in seconds, yanked reason or None)"""
    d = os.path.join(up, "simple", project)
    os.makedirs(d, exist_ok=True)
    links, jfiles = [], []
    for name, age, yanked in entries:
        h = sha(name)
        attr = ' data-yanked="%s"' % yanked if yanked else ""
        links.append('<a href="../../files/%s#sha256=%s"%s>%s</a><br/>' % (name, h, attr, name))
        jfiles.append({"filename": name, "url": "../../files/" + name, "hashes": {"sha256": h},
                       "size": os.path.getsize(os.path.join(files, name)),
                       "upload-time": iso(now - age), "yanked": yanked or False})
    with open(os.path.join(d, "index.html"), "w") as f:
        f.write("<!DOCTYPE html>\n<html><body>\n%s\n</body></html>\n" % "\n".join(links))
    if json_too:
        versions = sorted({n.split("-")[1].rsplit(".tar.gz", 1)[0] for n, _, _ in entries})
        with open(os.path.join(d, "index.json"), "w") as f:
            json.dump({"meta": {"api-version": "1.1"}, "name": project, "files": jfiles,
                       "versions": versions}, f)

page("fixture-ext", [("fixture_ext-1.0.tar.gz", 30 * day, None),
                     ("fixture_ext-1.1.tar.gz", 10 * day, None),
                     ("fixture_ext-1.2.tar.gz", 1 * day, "broken build"),
                     ("fixture_ext-2.0rc1.tar.gz", 3600, None)], True)
page("wf-bump-other", [("wf_bump_other-3.0.tar.gz", 40 * day, None)], True)
for whl in os.listdir(files):
    if whl.endswith(".whl"):
        page(whl.split("-")[0].lower(), [(whl, 400 * day, None)], False)
with open(os.path.join(up, "simple", "index.html"), "w") as f:
    f.write("<!DOCTYPE html>\n<html><body>%s</body></html>\n" % "".join(
        '<a href="%s/">%s</a>' % (p, p) for p in sorted(os.listdir(os.path.join(up, "simple")))
        if p != "index.html"))
PY

log=$T/index-server.log
: >"$log"
python3 -u "$WF_SOURCE_ROOT/tests/e2e/index-server.py" "$up" >"$log" 2>"$T/index-requests.log" &
pids+=($!)
port=""
for _ in $(seq 1 100); do
    port=$(sed -n 's/^serving on port \([0-9]*\)$/\1/p' "$log")
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || fail "index-server.py did not start: $(cat "$T/index-requests.log")"
UPSTREAM=http://127.0.0.1:$port/simple/
page=$(curl -fsS -H 'Accept: application/vnd.pypi.simple.v1+json' "${UPSTREAM}fixture-ext/")
echo "$page" | has '"yanked": "broken build"' || fail "the index does not serve PEP 691 JSON"
ok "upstream index on $UPSTREAM: fixture-ext 1.0, 1.1, 1.2 (yanked), 2.0rc1 as real sdists"

# ---- recipes and config ----
wfnum_sha=$(sed -n 's/.*sha256: \([0-9a-f]\{64\}\).*/\1/p' "$WF_SOURCE_ROOT/tests/fixtures/recipes/fixture-ext.yaml" | tail -n1)
# write_recipe MIN_AGE_LINE: the tracking recipe (a-*.yaml sorts before the second recipe).
write_recipe() {
    mkdir -p "$T/recipes"
    cat >"$T/recipes/a-fixture-ext.yaml" <<EOF
name: fixture-ext
track: ">=1.0,<2"
$1
source: {sdist: upstream}
python: [cp311]
platforms: [linux/amd64]
native:
  - name: wfnum
    url: "http://127.0.0.1:$port/files/wfnum-1.0.tar.gz"
    sha256: $wfnum_sha
    build: make && make install PREFIX=/usr/local
test_command: python -c "import fixture_ext; assert fixture_ext.add(2, 3) == 5"
EOF
}
write_other() {
    cat >"$T/recipes/b-other.yaml" <<'EOF'
name: wf-bump-other
track: ">=3"
source: {sdist: upstream}
EOF
}
# config SCHEDULE MAX_BUILDS
config() {
    write_config "$T/wf.yaml" '  - {name: local, driver: docker, platforms: [linux/amd64], slots: 1}'
    printf 'schedule: {bump: "%s"}\nbump: {max_builds: %s}\n' "$1" "$2" >>"$T/wf.yaml"
}
# api PATH: GET on the daemon's socket.
api() { curl -fsS --unix-socket "$WHEELFARM_SOCKET" "http://wheelfarm$1"; }
# jq_py EXPR: evaluates a Python expression over the JSON on stdin (bound to v).
jq_py() { python3 -c "import json,sys; v=json.load(sys.stdin); print($1)"; }

write_recipe ""
write_other
config "0 0 1 1 *" 1
start_daemon "$T/wf.yaml"
ok "daemon up on port $WF_PORT, schedule 0 0 1 1 * (UTC), max_builds 1"

# ---- phase 1: what a bump would do, and why ----
out=$("$WF" bump --dry-run) || fail "bump --dry-run failed: $out"
echo "$out" | sed 's/^/    /'
echo "$out" | has -E '^fixture-ext +>=1\.0,<2 +would build +1\.1 ' || fail "the table does not say 1.1 would be built"
echo "$out" | has -E '^  1\.2 +yanked +yanked \(broken build\)$' || fail "1.2 is not reported as yanked"
echo "$out" | has -E "^  2\.0rc1 +excluded +pre-release, and 'track: >=1\.0,<2' excludes it$" ||
    fail "2.0rc1 is not reported as a pre-release the specifier excludes"
echo "$out" | has -E '^wf-bump-other +>=3 +deferred \(max_builds 1\) +3\.0 ' || fail "max_builds did not defer the second recipe"
ok "bump --dry-run: 1.1 would be built; 1.2 yanked, 2.0rc1 excluded; max_builds 1 defers wf-bump-other 3.0"

json=$("$WF" bump --dry-run fixture-ext --json) || fail "bump --dry-run --json failed"
echo "$json" | jq_py 'v["would_queue"] == 1 and len(v["recipes"]) == 1 and v["recipes"][0]["format"] == "json" and v["recipes"][0]["version"] == "1.1" and [(x["version"], x["verdict"]) for x in v["recipes"][0]["versions"]] == [("2.0rc1", "excluded"), ("1.2", "yanked"), ("1.1", "build"), ("1.0", "older")]' |
    grep -qx True || fail "unexpected JSON report: $json"
[ "$("$WF" jobs --json | jq_py 'len(v["jobs"])')" = 0 ] || fail "a dry run queued jobs"
ok "bump --dry-run RECIPE --json: PEP 691 JSON read, verdicts newest first, nothing queued"

mv "$up/simple/fixture-ext/index.json" "$up/simple/fixture-ext/index.json.off"
json=$("$WF" bump --dry-run fixture-ext --json) || fail "bump --dry-run (HTML) failed"
echo "$json" | jq_py 'v["recipes"][0]["format"] == "html" and v["recipes"][0]["version"] == "1.1" and v["recipes"][0]["versions"][1]["reason"] == "yanked (broken build)"' |
    grep -qx True || fail "unexpected report from the PEP 503 page: $json"
mv "$up/simple/fixture-ext/index.json.off" "$up/simple/fixture-ext/index.json"
ok "PEP 503 HTML fallback: same choice, data-yanked read with its reason"

stop_daemon
write_recipe "min_age: 15d"
start_daemon "$T/wf.yaml"
json=$("$WF" bump --dry-run fixture-ext --json) || fail "bump --dry-run (min_age) failed"
echo "$json" | jq_py 'v["recipes"][0]["version"] == "1.0" and v["recipes"][0]["versions"][2]["verdict"] == "too-young" and v["recipes"][0]["versions"][2]["reason"] == "uploaded 10d ago; min_age is 15d"' |
    grep -qx True || fail "min_age 15d did not hold 1.1 back: $json"
"$WF" bump --dry-run fixture-ext | has -E '^  1\.1 +too-young +uploaded 10d ago; min_age is 15d$' ||
    fail "the table does not say 1.1 is too young"
ok "min_age 15d: 1.1 (uploaded 10d ago) is too young, 1.0 would be built"
mv "$up/simple/fixture-ext/index.json" "$up/simple/fixture-ext/index.json.off"
json=$("$WF" bump --dry-run fixture-ext --json) || fail "bump --dry-run (min_age, HTML) failed"
echo "$json" | jq_py 'v["recipes"][0]["outcome"] == "nothing" and v["recipes"][0]["versions"][2]["reason"].startswith("first seen ") and "(the index gives no upload time); min_age is 15d" in v["recipes"][0]["versions"][2]["reason"]' |
    grep -qx True || fail "without upload times, min_age did not count from the first sighting: $json"
mv "$up/simple/fixture-ext/index.json.off" "$up/simple/fixture-ext/index.json"
ok "min_age without upload times (PEP 503): counted from when wheelfarm first saw each version"
stop_daemon

# ---- phase 2: the scheduled run builds 1.1, the next one finds it built ----
rm -rf "$T/var" "$T/recipes/b-other.yaml"
write_recipe ""
config "* * * * *" 10
# Start early in a minute, so no firing can slip in before the check below.
[ "$(date +%S | sed 's/^0//')" -lt 45 ] || sleep $((62 - $(date +%S | sed 's/^0//')))
start_daemon "$T/wf.yaml"
[ "$(api /api/v1/bump | jq_py 'len(v["runs"])')" = 0 ] || fail "a fresh state ran a bump at start-up"
ok "fresh state, schedule * * * * *: no run at start-up; waiting for the next minute"
job=""
for _ in $(seq 1 90); do
    job=$("$WF" jobs --json | jq_py '" ".join(str(j["id"]) for j in v["jobs"])')
    [ -n "$job" ] && break
    sleep 1
done
[ -n "$job" ] || fail "no scheduled bump run queued a job within 90 s: $(api /api/v1/bump)"
[ "$(echo "$job" | wc -w)" = 1 ] || fail "the scheduled run queued more than one job: $job"
trig=$("$WF" show "$job" --json | jq_py '" ".join([v["trigger"]["kind"], v["trigger"]["upstream_version"], v["version"]])')
[ "$trig" = "bump 1.1 1.1" ] || fail "job $job: trigger/version '$trig', want 'bump 1.1 1.1'"
"$WF" show "$job" | has 'newest 1.1 (2.0rc1 excluded, 1.2 yanked)' || fail "wheelfarm show lacks the bump's why"
[ "$(api /api/v1/bump | jq_py 'v["runs"][-1]["kind"]')" = schedule ] || fail "the first run is not a scheduled one"
ok "the scheduled run queued fixture-ext 1.1 as job $job (trigger bump, upstream version 1.1)"

"$WF" logs "$job" -f >"$T/job.log" 2>&1 || fail "bump job $job failed: $(tail -n 30 "$T/job.log")"
whl=$(job_field "$job" '["artifact"]["filename"]')
case $whl in
fixture_ext-1.1-cp311-cp311-*manylinux*_x86_64.whl) ok "job $job built $whl" ;;
*) fail "unexpected wheel $whl" ;;
esac
python3 -m venv "$T/venv"
"$T/venv/bin/pip" install -q --index-url "$INDEX" fixture-ext || fail "pip install from $INDEX failed"
(cd "$T" && "$T/venv/bin/python" -c 'import importlib.metadata as m, fixture_ext; assert m.version("fixture-ext") == "1.1"; assert fixture_ext.add(2, 3) == 5') ||
    fail "the installed fixture-ext is not 1.1 or does not work"
ok "pip installs fixture-ext 1.1 from /simple/ and it imports"

# Runs during the build found 1.1 queued ("active"); the first one after it finished decides.
built_at=$(date +%s)
next=""
for _ in $(seq 1 90); do
    next=$(api /api/v1/bump | jq_py "([r['id'] for r in v['runs'] if r['started_at'] > $built_at and r['state'] == 'finished' and r['kind'] == 'schedule'] or [''])[-1]")
    [ -n "$next" ] && break
    sleep 1
done
[ -n "$next" ] || fail "no later scheduled run within 90 s"
api "/api/v1/bump/runs/$next" | jq_py 'v["queued"] == 0 and v["recipes"][0]["outcome"] == "built" and v["recipes"][0]["version"] == "1.1"' |
    grep -qx True || fail "the next scheduled run did not find 1.1 built: $(api "/api/v1/bump/runs/$next")"
[ "$("$WF" jobs --json | jq_py 'len(v["jobs"])')" = 1 ] || fail "the next run queued another job"
"$WF" bump --dry-run | has -E '^fixture-ext +>=1\.0,<2 +up to date +1\.1 ' || fail "bump --dry-run does not say up to date"
ok "the next scheduled run (run $next) queued nothing: 1.1 already built"

# ---- phase 3: a firing missed while the daemon was down runs at start-up ----
stop_daemon
sleep $((61 - $(date +%S | sed 's/^0//')))
start_daemon "$T/wf.yaml"
kind=""
for _ in $(seq 1 30); do
    kind=$(api /api/v1/bump | jq_py 'v["runs"][0]["kind"] + " " + v["runs"][0]["state"]')
    [ "$kind" = "catch-up finished" ] && break
    sleep 0.5
done
[ "$kind" = "catch-up finished" ] || fail "no catch-up run at start-up (newest run: $kind)"
grep -q 'a scheduled run was missed while the daemon was down' "$T/wheelfarmd.log" || fail "the catch-up is not logged"
ok "a firing missed while the daemon was down ran at start-up as a catch-up run"

stop_daemon
ok "SIGTERM: the daemon drained and closed its loop cleanly"
echo "1..14"
