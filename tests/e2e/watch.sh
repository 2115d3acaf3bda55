#!/usr/bin/env bash
# watch.sh - the watched recipe directory end to end on linux/amd64. The daemon watches a
# directory holding two real recipes (the fixture C extension, and the same extension packed as
# project fixture-two). Editing one recipe file while the daemon runs builds exactly that
# recipe's new builds, recorded with trigger "watch"; saving a broken file keeps the set in
# force, `wheelfarm recipes` and the log show the error with file:line:column and the daemon
# keeps serving; an atomic save (temporary file renamed over the recipe) fixes it and is built.
. "$(dirname "$0")/lib.sh"
require_docker
require_image wheelfarm/builder:bookworm-amd64
require_image wheelfarm/runtime:bookworm-amd64

fixture_sources
fixture_recipe linux/amd64
# fixture-two: the fixture's sdist renamed (its own project name, sdist and sha256).
mkdir "$T/two"
tar -xzf "$T/dist/fixture_ext-1.0.0.tar.gz" -C "$T/two"
mv "$T/two/fixture_ext-1.0.0" "$T/two/fixture_two-1.0.0"
sed -i 's/^name = "fixture-ext"/name = "fixture-two"/' "$T/two/fixture_two-1.0.0/pyproject.toml"
sed -i 's/^Name: fixture-ext/Name: fixture-two/' "$T/two/fixture_two-1.0.0/PKG-INFO"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$T/two" -cf - fixture_two-1.0.0 |
    gzip -n >"$T/dist/fixture_two-1.0.0.tar.gz"
sha_ext=$(sha256sum "$T/dist/fixture_ext-1.0.0.tar.gz" | cut -c1-64)
sha_two=$(sha256sum "$T/dist/fixture_two-1.0.0.tar.gz" | cut -c1-64)
sed -e 's/^name: fixture-ext/name: fixture-two/' -e "s/fixture_ext-{version}/fixture_two-{version}/" \
    -e "s/$sha_ext/$sha_two/" "$T/recipes/fixture-ext.yaml" >"$T/recipes/fixture-two.yaml"
"$WF" check "$T/recipes" >/dev/null || fail "the two fixture recipes do not check"

write_config "$T/wf.yaml" '  - {name: local, driver: docker, platforms: [linux/amd64], slots: 2}'
start_daemon "$T/wf.yaml"
grep -q "recipes: watching '$T/recipes'" "$T/wheelfarmd.log" || fail "the daemon does not say it watches $T/recipes"
ok "daemon up on port $WF_PORT, watching $T/recipes"

out=$("$WF" build fixture-ext fixture-two --wait --json) || fail "first builds failed: $out"
[ "$(echo "$out" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["jobs"]))')" = 2 ] ||
    fail "the first request did not queue one job per recipe: $out"
ok "both recipes built once by hand (cp311)"

# newest_job_id: the highest job id so far (0 when none).
newest_job_id() {
    "$WF" jobs --json | python3 -c 'import json,sys; print(max([j["id"] for j in json.load(sys.stdin)["jobs"]] or [0]))'
}
# jobs_after ID: "recipe version python request" of every job newer than ID, oldest first.
jobs_after() {
    "$WF" jobs --json | python3 -c '
import json, sys
for j in sorted(json.load(sys.stdin)["jobs"], key=lambda j: j["id"]):
    if j["id"] > int(sys.argv[1]):
        print(j["id"], j["recipe"], j["version"], j["python"], j["request"])' "$1"
}
# wait_jobs_after ID N: waits until N jobs newer than ID exist (at most 30 s), then prints them.
wait_jobs_after() {
    local got
    for _ in $(seq 1 300); do
        got=$(jobs_after "$1")
        [ "$(printf '%s' "$got" | grep -c .)" -ge "$2" ] && { echo "$got"; return 0; }
        sleep 0.1
    done
    fail "no $2 new job(s) after job $1 within 30 s (log: $(grep 'recipes:' "$T/wheelfarmd.log" | tail -n 3))"
}
# wait_state JOB STATE: waits (at most 10 min) until the job reaches a final state, which must be STATE.
wait_state() {
    local st
    for _ in $(seq 1 1200); do
        st=$(job_field "$1" '["state"]')
        case $st in succeeded | failed | cancelled) break ;; esac
        sleep 0.5
    done
    [ "$st" = "$2" ] || fail "job $1 ended $st, not $2: $(job_field "$1" '["error"]') $("$WF" logs "$1" | tail -n 20)"
}
# recipes_py EXPR: a Python expression over v, the answer of GET /api/v1/recipes
# (`wheelfarm recipes --json`, which exits 1 while there are errors).
recipes_py() {
    { "$WF" recipes --json || true; } | python3 -c "import json,sys; v=json.load(sys.stdin); print($1)"
}

# 1. An edit adds cp313 to fixture-ext (sed -i writes a temporary file and renames it over the
#    recipe): exactly fixture-ext's new build is queued, with trigger "watch".
last=$(newest_job_id)
sed -i 's/^python: \[cp311\]/python: [cp311, cp313]/' "$T/recipes/fixture-ext.yaml"
new=$(wait_jobs_after "$last" 1)
sleep 1 # a second request (it must not come) would follow the first within the debounce
new=$(jobs_after "$last")
[ "$(echo "$new" | awk '{print $2, $3, $4}')" = "fixture-ext 1.0.0 cp313" ] ||
    fail "the edit of fixture-ext.yaml queued other jobs than fixture-ext 1.0.0 cp313: $new"
job=$(echo "$new" | awk '{print $1}')
[ "$(job_field "$job" '["trigger"]["kind"]')" = watch ] || fail "job $job's trigger is not watch"
"$WF" show "$job" | has "^trigger: *watch: recipes changed: fixture-ext.yaml" ||
    fail "wheelfarm show $job lacks the watch trigger: $("$WF" show "$job")"
wait_state "$job" succeeded
ok "editing fixture-ext.yaml built exactly fixture-ext 1.0.0 cp313 (job $job, trigger watch); cp311 and fixture-two were not rebuilt"

# 2. A broken save (unknown key, written in place): the set stays, the error has its position.
last=$(newest_job_id)
broken=$(sed 's/^python: \[cp311\]/pyhton: [cp311, cp313]/' "$T/recipes/fixture-two.yaml")
line=$(echo "$broken" | grep -n '^pyhton:' | cut -d: -f1)
printf '%s\n' "$broken" >"$T/recipes/fixture-two.yaml"
want="$T/recipes/fixture-two.yaml:$line:1: unknown key 'pyhton' (did you mean 'python'?)"
for _ in $(seq 1 100); do
    [ "$(recipes_py 'len(v["errors"])')" -gt 0 ] && break
    sleep 0.1
done
rc=0
"$WF" recipes >"$T/recipes.out" 2>"$T/recipes.err" || rc=$?
[ $rc -eq 1 ] || fail "wheelfarm recipes exited $rc with a broken recipe file, not 1"
grep -qF "$want" "$T/recipes.err" || fail "wheelfarm recipes does not show '$want': $(cat "$T/recipes.err")"
grep -q "stays in force" "$T/recipes.err" || fail "wheelfarm recipes does not say the old set stays: $(cat "$T/recipes.err")"
grep -q "^fixture-two .*cp311 " "$T/recipes.out" || fail "fixture-two left the set in force: $(cat "$T/recipes.out")"
grep -q "^fixture-ext .*cp311,cp313" "$T/recipes.out" || fail "the set in force is not the last good one: $(cat "$T/recipes.out")"
[ "$(recipes_py 'v["errors"][0]["line"], v["errors"][0]["column"]')" = "$line 1" ] ||
    fail "the API's error lacks line $line, column 1: $(recipes_py 'v["errors"]')"
grep -qF "error recipes: $want" "$T/wheelfarmd.log" || fail "the daemon log lacks '$want'"
ok "a broken save keeps the set in force; wheelfarm recipes (exit 1), the API and the log show $want"

# Bad YAML on top: the syntax error's position is shown too, and the daemon keeps serving.
printf 'name: fixture-two\nversions: ["1.0.0"\nsource: {}\n' >"$T/recipes/fixture-two.yaml"
for _ in $(seq 1 100); do
    recipes_py 'v["errors"][0]["message"] if v["errors"] else ""' | has "YAML syntax error" && break
    sleep 0.1
done
text=$(recipes_py 'v["errors"][0]["text"]')
case $text in "$T/recipes/fixture-two.yaml:3:"[0-9]*": YAML syntax error"*) ;;
*) fail "the YAML syntax error is not shown with file:line:column: $text" ;; esac
out=$("$WF" build fixture-two --json) || fail "the daemon stopped serving builds with a broken recipe file: $out"
echo "$out" | python3 -c 'import json,sys; v=json.load(sys.stdin); assert not v["jobs"] and v["skipped"][0]["reason"] == "already built", v' ||
    fail "fixture-two (last good set) was not recognised as built: $out"
[ "$(jobs_after "$last")" = "" ] || fail "a broken file scheduled builds: $(jobs_after "$last")"
ok "bad YAML: $text; the daemon keeps serving with the last good set and scheduled nothing"

# 3. Fixed with an atomic save (temporary file, then mv over it), now with cp313 too: the fix is
#    noticed and only fixture-two's new build is queued.
sed -e "s/^python: \[cp311\]/python: [cp311, cp313]/" "$T/recipes/fixture-ext.yaml" |
    sed -e 's/^name: fixture-ext/name: fixture-two/' -e "s/fixture_ext-{version}/fixture_two-{version}/" \
        -e "s/$sha_ext/$sha_two/" >"$T/recipes/.fixture-two.yaml.tmp"
mv "$T/recipes/.fixture-two.yaml.tmp" "$T/recipes/fixture-two.yaml"
new=$(wait_jobs_after "$last" 1)
sleep 1
new=$(jobs_after "$last")
[ "$(echo "$new" | awk '{print $2, $3, $4}')" = "fixture-two 1.0.0 cp313" ] ||
    fail "the fix queued other jobs than fixture-two 1.0.0 cp313: $new"
job=$(echo "$new" | awk '{print $1}')
[ "$(job_field "$job" '["trigger"]["detail"]')" = "recipes changed: fixture-two.yaml" ] ||
    fail "job $job's trigger detail is $(job_field "$job" '["trigger"]')"
"$WF" recipes >/dev/null 2>"$T/recipes.err" || fail "wheelfarm recipes still fails after the fix: $(cat "$T/recipes.err")"
[ "$(recipes_py 'v["source"]')" = "$T/recipes" ] || fail "recipes source is not $T/recipes"
wait_state "$job" succeeded
curl -fsS "${INDEX}fixture-two/" | has 'fixture_two-1.0.0-cp313-cp313-.*\.whl#sha256=' ||
    fail "the cp313 wheel of fixture-two is not in the index"
ok "an atomic save (temp file + mv) fixed it: reloaded, exactly fixture-two 1.0.0 cp313 built (job $job) and published"

stop_daemon
ok "SIGTERM: the daemon (and its watcher) closed the loop cleanly"
echo "1..7"
