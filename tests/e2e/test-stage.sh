#!/usr/bin/env bash
# test-stage.sh - the Python matrix and the test stage end to end on linux/amd64. One request
# builds the fixture for cp311 and cp313; each wheel's test runs in a fresh container of the
# runtime image (no compiler, not the native library the build linked: only the repaired wheel
# carries it) with the right interpreter. A recipe whose test_command fails fails its job, its
# log says so, and nothing is published. The configured images really have the interpreters the
# configuration (this one and the embedded defaults) lists for them.
. "$(dirname "$0")/lib.sh"
require_docker
require_image wheelfarm/builder:bookworm-amd64
require_image wheelfarm/runtime:bookworm-amd64

# The images' labels (scripts/bootstrap-images) against what the configurations claim.
defaults=$(python3 - "$WF_SOURCE_ROOT/lib/config.c" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
text = text[text.index("wf_config_defaults[]"):]
text = "".join(re.findall(r'^\s*"((?:[^"\\]|\\.)*)"', text[:text.index(";\n")], re.M))
text = text.replace('\\"', '"').replace("\\n", "\n")
for m in re.finditer(r'(linux/\w+): \{image: "([^"]+)",\s*runtime: "([^"]+)", python: \[([^\]]*)\]', text):
    print(m.group(1), m.group(2), m.group(3), m.group(4).replace(",", " "))
PY
)
[ -n "$defaults" ] || fail "cannot read the images of the embedded defaults from lib/config.c"
# linux/amd64 is checked always; another platform's images when they exist and carry the label
# (images from before the label are reported, not failed: scripts/bootstrap-images replaces them).
while read -r platform builder runtime pys; do
    for img in "$builder" "$runtime"; do
        have=$(/usr/bin/docker image inspect -f '{{index .Config.Labels "org.wheelfarm.python"}}' "$img" 2>/dev/null) ||
            { [ "$platform" != linux/amd64 ] && continue; fail "$img (embedded defaults, $platform) is missing"; }
        if [ -z "$have" ] && [ "$platform" != linux/amd64 ]; then
            say "$img has no org.wheelfarm.python label (built by an older scripts/bootstrap-images): not checked"
            continue
        fi
        for t in $pys; do
            case " $have " in *" $t "*) ;; *) fail "$img has [$have] but the embedded defaults list $t" ;; esac
        done
    done
done <<<"$defaults"
ok "the embedded defaults' images have the interpreters they list: $(echo "$defaults" | tr '\n' ';')"

fixture_sources
fixture_recipe linux/amd64
# The matrix, and a test that proves where it runs: no compiler, no libwfnum outside the wheel.
python3 - "$T/recipes/fixture-ext.yaml" "$(date +%s%N)" <<'PY'
import sys
p = sys.argv[1]
lines = open(p).read().splitlines()
out = []
for l in lines:
    if l.startswith("python:"):
        l = "python: [cp311, cp313]"
    elif l.startswith("test_command:"):
        l = """test_command: |
  python -c "import fixture_ext; assert fixture_ext.add(2, 3) == 5"
  python -c "import glob, shutil, sys; sys.exit(1 if shutil.which('gcc') or shutil.which('cc') or glob.glob('/usr/local/lib/*wfnum*') else 0)"
  python -c "import sys; print('wheelfarm-test-python', '%d.%d' % sys.version_info[:2])"
  : run NONCE, a new test script: BuildKit runs the test stage again, the build stays cached""".replace("NONCE", sys.argv[2])
    out.append(l)
open(p, "w").write("\n".join(out) + "\n")
PY
sed -e 's/^name: fixture-ext/name: fixture-failtest/' \
    -e "s/^test_command: .*/test_command: python -c 'raise SystemExit(1)'/" \
    "$WF_SOURCE_ROOT/tests/fixtures/recipes/fixture-ext.yaml" |
    sed -e "s#http://127.0.0.1:9#$FIX_URL#g" -e 's#platforms: .*#platforms: [linux/amd64]#' \
        >"$T/recipes/fixture-failtest.yaml"
write_config "$T/wf.yaml" '  - {name: local, driver: docker, platforms: [linux/amd64], slots: 2}'
while read -r platform builder runtime pys; do
    for img in "$builder" "$runtime"; do
        [ "$platform" = linux/amd64 ] || continue
        have=$(/usr/bin/docker image inspect -f '{{index .Config.Labels "org.wheelfarm.python"}}' "$img")
        for t in $pys; do
            case " $have " in *" $t "*) ;; *) fail "$img has [$have] but write_config lists $t" ;; esac
        done
    done
done < <(python3 -c '
import re, sys
t = open(sys.argv[1]).read()
for m in re.finditer(r"(linux/\w+): \{image: ([^,]+), runtime: ([^,]+), python: \[([^\]]*)\]", t):
    print(m.group(1), m.group(2), m.group(3), m.group(4).replace(",", " "))' "$T/wf.yaml")
start_daemon "$T/wf.yaml"

out=$("$WF" build fixture-ext==1.0.0 --platform linux/amd64 --wait --json) ||
    fail "matrix build failed: $out"
jobs=$(echo "$out" | python3 -c 'import json,sys; print(" ".join(str(j["id"]) for j in json.load(sys.stdin)["jobs"]))')
[ "$(echo $jobs | wc -w)" = 2 ] || fail "one request should make 2 jobs (cp311, cp313): $out"
seen=""
for j in $jobs; do
    [ "$(job_field "$j" '["state"]')" = succeeded ] || fail "job $j did not succeed: $("$WF" logs "$j" | tail -n 30)"
    whl=$(job_field "$j" '["artifact"]["filename"]')
    py=$(job_field "$j" '["python"]')
    case $whl in fixture_ext-1.0.0-$py-$py-*manylinux*_x86_64.whl) ;; *) fail "job $j ($py) made $whl" ;; esac
    log=$("$WF" logs "$j")
    echo "$log" | has -E '^#[0-9]+ [0-9.]+ wheelfarm: testing in the runtime image' || fail "job $j: the test did not run in the runtime stage"
    want=3.${py#cp3}
    echo "$log" | has -E "^#[0-9]+ [0-9.]+ wheelfarm-test-python $want\$" || fail "job $j: the test did not run with python $want"
    echo "$log" | has -E '^#[0-9]+ [0-9.]+ wheelfarm: test passed' || fail "job $j: no test verdict in the log"
    seen="$seen $py:$whl"
done
ok "one request built and tested cp311 and cp313 in the runtime image (no compiler, no libwfnum):$seen"
page=$(curl -fsS "${INDEX}fixture-ext/")
for py in cp311 cp313; do
    echo "$page" | has "fixture_ext-1.0.0-$py-$py-" || fail "index lacks the $py wheel"
done
ok "the index serves both wheels"

rc=0
out=$("$WF" build fixture-failtest --wait --json 2>&1) || rc=$?
[ $rc -eq 1 ] || fail "a build whose test fails exited $rc, not 1: $out"
jid=$("$WF" jobs --json | python3 -c 'import json,sys; print([j["id"] for j in json.load(sys.stdin)["jobs"] if j["recipe"]=="fixture-failtest"][0])')
[ "$(job_field "$jid" '["state"]')" = failed ] || fail "job $jid is not failed"
[ "$(job_field "$jid" '.get("artifact")')" = None ] || fail "job $jid has an artifact"
log=$("$WF" logs "$jid") || fail "wheelfarm logs $jid failed"
echo "$log" | has -E '^#[0-9]+ [0-9.]+ wheelfarm: testing in the runtime image' || fail "job $jid's log does not show the test stage"
echo "$log" | has -E '^#[0-9]+ [0-9.]+ wheelfarm: test_command failed \(exit 1\)' || fail "job $jid's log lacks the test verdict: $(echo "$log" | tail -n 20)"
echo "$log" | has -E '^#[0-9]+ [0-9.]+ \+ python -c raise SystemExit\(1\)' || fail "job $jid's log does not show the failing test: $(echo "$log" | tail -n 20)"
if echo "$log" | has -E '^#[0-9]+ [0-9.]+ wheelfarm: test passed'; then fail "job $jid's log says the test passed"; fi
# The job's error is the template's short verdict, not the client's "did not complete
# successfully" line with the whole RUN command.
err=$(job_field "$jid" '["error"]')
[ "$err" = "build failed: test_command failed (exit 1); see 'wheelfarm logs $jid'" ] ||
    fail "job $jid's error is not the test verdict: $err"
code=$(curl -s -o /dev/null -w '%{http_code}' "${INDEX}fixture-failtest/")
[ "$code" = 404 ] || fail "a wheel whose test failed is served ($code)"
[ -z "$(find "$T/var" -name 'fixture_ext*failtest*' -o -path '*fixture-failtest*' -name '*.whl' | head -n1)" ] ||
    fail "a wheel of fixture-failtest is in the store"
ok "a failing test_command fails the job ($(job_field "$jid" '["error"]')), the log shows it, nothing is published"

stop_daemon
ok "SIGTERM: the daemon closed its loop cleanly"
echo "1..6"
