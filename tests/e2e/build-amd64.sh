#!/usr/bin/env bash
# build-amd64.sh - the core path end to end on linux/amd64: a C extension whose sdist comes from a
# URL with a sha256 and which links a native library built in the native stage is built through
# `wheelfarm build --wait`, repaired (the wheel carries the library), served by the built-in
# index, installed by real pip into a clean venv and imported. Also: an already-built key is
# skipped, a sha256 mismatch fails its job with both hashes, SIGTERM closes the loop cleanly.
. "$(dirname "$0")/lib.sh"
require_docker
require_image wheelfarm/builder:bookworm-amd64

fixture_sources
fixture_recipe linux/amd64
write_config "$T/wf.yaml" '  - {name: local, driver: docker, platforms: [linux/amd64], slots: 2}'
start_daemon "$T/wf.yaml"
ok "daemon up on port $WF_PORT"

out=$("$WF" build fixture-ext==1.0.0 --wait --json) || fail "build failed: $out $("$WF" logs 1 || true)"
job=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["id"])')
[ "$(job_field "$job" '["state"]')" = succeeded ] || fail "job $job did not succeed"
ok "wheelfarm build fixture-ext==1.0.0 --wait succeeded (job $job)"

whl=$(job_field "$job" '["artifact"]["filename"]')
case $whl in
fixture_ext-1.0.0-cp311-cp311-*manylinux*_x86_64.whl) ok "wheel $whl has a manylinux x86_64 tag" ;;
*) fail "unexpected wheel name $whl" ;;
esac

curl -fsS "$INDEX" | has 'fixture-ext' || fail "project missing from $INDEX"
page=$(curl -fsS "${INDEX}fixture-ext/")
echo "$page" | has '<!DOCTYPE html>' || fail "index page has no doctype"
echo "$page" | has "$whl#sha256=" || fail "index page lacks a #sha256= link to $whl"
code=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "${INDEX}Fixture_Ext/")
[ "$code" = "301 ${INDEX}fixture-ext/" ] || fail "non-normalized name answered '$code'"
code=$(curl -s -o /dev/null -w '%{http_code}' "${INDEX}no-such-project/")
[ "$code" = 404 ] || fail "unknown project answered $code"
ok "index: doctype, sha256 links, 301 to the normalized name, 404 for unknown projects"

curl -fsS -o "$T/$whl" "http://127.0.0.1:$WF_PORT/files/fixture-ext/$whl"
[ "$(elf_machine "$T/$whl")" = x86_64 ] || fail "extension in $whl is not x86_64"
python3 -c "import zipfile,sys; n=zipfile.ZipFile(sys.argv[1]).namelist(); sys.exit(0 if any('libwfnum' in x for x in n) else 1)" "$T/$whl" ||
    fail "repaired wheel does not carry libwfnum"
ok "the wheel carries libwfnum and its .so files are x86_64"

python3 -m venv "$T/venv"
"$T/venv/bin/pip" install -q --index-url "$INDEX" fixture-ext || fail "pip install from the index failed"
(cd "$T" && "$T/venv/bin/python" -c 'import fixture_ext; assert fixture_ext.add(2, 3) == 5') ||
    fail "fixture_ext does not import"
ok "pip installs fixture-ext from the built-in index into a clean venv and it imports"

out=$("$WF" build fixture-ext --json)
echo "$out" | python3 -c 'import json,sys; v=json.load(sys.stdin); assert not v["jobs"] and v["skipped"][0]["reason"] == "already built", v' ||
    fail "an already-built key was scheduled again: $out"
ok "an already-built build key is skipped"

sha=$(job_field "$job" '["artifact"]["sha256"]')
out=$("$WF" build fixture-ext --force --wait --json) || fail "forced rebuild failed: $out"
fjob=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["id"])')
[ "$(job_field "$fjob" '["artifact"]["sha256"]')" = "$sha" ] || fail "forced rebuild changed the published wheel"
[ "$(curl -fsS "${INDEX}fixture-ext/" | grep -c '\.whl#sha256=')" = 1 ] || fail "index lists the wheel twice"
ok "a forced rebuild with identical bytes succeeds and keeps the one published wheel"

# A source whose sha256 does not match: the job fails with both hashes in its error.
good=$(sed -n 's/.*sha256: \([0-9a-f]\{64\}\).*/\1/p' "$T/recipes/fixture-ext.yaml" | head -n1)
bad=0000000000000000000000000000000000000000000000000000000000000000
sed -e "s/$good/$bad/" -e 's/name: fixture-ext/name: fixture-bad/' "$T/recipes/fixture-ext.yaml" >"$T/recipes/fixture-bad.yaml"
stop_daemon
# A wheel left in the store without its row (a crash between the two) is swept at start.
orphan=$T/var/index/files/fixture-ext/fixture_ext-1.0.0-cp311-cp311-linux_x86_64.whl
echo junk >"$orphan"
start_daemon "$T/wf.yaml"
[ ! -e "$orphan" ] || fail "an orphan wheel in the store survived the start"
[ -e "$T/var/index/files/fixture-ext/$whl" ] || fail "the sweep removed a published wheel"
ok "a file no artifact row owns is removed at start; published wheels stay"
rc=0
"$WF" build fixture-bad --wait >/dev/null 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "a failed build exited $rc, not 1"
jid=$("$WF" jobs --json | python3 -c 'import json,sys; print([j["id"] for j in json.load(sys.stdin)["jobs"] if j["recipe"]=="fixture-bad"][0])')
err=$(job_field "$jid" '["error"]')
case $err in *"$bad"*"$good"*|*"$good"*"$bad"*) ok "sha256 mismatch fails the job with both hashes: $err" ;;
*) fail "sha256 mismatch error lacks the hashes: $err" ;;
esac

stop_daemon
ok "SIGTERM: the daemon drained and closed its loop cleanly"
echo "1..11"
