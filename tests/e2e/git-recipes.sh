#!/usr/bin/env bash
# git-recipes.sh - recipes from a git repository served by a real `git daemon` on loopback: the
# first commit is built; a pushed commit that adds a version is picked up within one poll and
# built into the main index (trigger "commit" with the sha, pip installs the new version); a
# restart builds nothing again; with the git server stopped the error shows in `wheelfarm
# recipes` and the log while the daemon keeps serving; with the server back the next poll works.
. "$(dirname "$0")/lib.sh"
require_docker
require_image wheelfarm/builder:bookworm-amd64
command -v git >/dev/null || skip "git is not installed"
# git's own settings for this test only (HOME stays: docker finds its plugins there).
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=$T/gitconfig
git config --global user.name wheelfarm-e2e
git config --global user.email e2e@wheelfarm.invalid
POLL=5

fixture_sources

# A second version of the fixture sdist, 1.0.1, for the second commit.
mkdir "$T/stage"
tar -xzf "$T/dist/fixture_ext-1.0.0.tar.gz" -C "$T/stage"
mv "$T/stage/fixture_ext-1.0.0" "$T/stage/fixture_ext-1.0.1"
sed -i 's/^Version: 1.0.0$/Version: 1.0.1/' "$T/stage/fixture_ext-1.0.1/PKG-INFO"
sed -i 's/^version = "1.0.0"$/version = "1.0.1"/' "$T/stage/fixture_ext-1.0.1/pyproject.toml"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$T/stage" -cf - fixture_ext-1.0.1 |
    gzip -n >"$T/dist/fixture_ext-1.0.1.tar.gz"
sha_100=$(sha256sum "$T/dist/fixture_ext-1.0.0.tar.gz" | cut -c1-64)
sha_101=$(sha256sum "$T/dist/fixture_ext-1.0.1.tar.gz" | cut -c1-64)

# The git server: a bare repository under $T/git, served read-only by git daemon on a port the
# kernel picked. Pushes go through the file system, so they also work while it is stopped.
mkdir -p "$T/git"
git init -q --bare -b main "$T/git/recipes.git"
GIT_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
GIT_URL=git://127.0.0.1:$GIT_PORT/recipes.git
start_git() {
    git daemon --reuseaddr --export-all --base-path="$T/git" --listen=127.0.0.1 --port="$GIT_PORT" \
        "$T/git" >>"$T/git-daemon.log" 2>&1 &
    GIT_PID=$!
    pids+=($GIT_PID)
    for _ in $(seq 1 100); do
        git ls-remote "$GIT_URL" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    fail "git daemon did not start: $(cat "$T/git-daemon.log")"
}
stop_git() {
    kill -TERM "$GIT_PID"
    wait "$GIT_PID" 2>/dev/null || true
}
start_git

git init -q -b main "$T/work"
fixture_recipe linux/amd64 # writes $T/recipes/fixture-ext.yaml, moved into the repository
mkdir "$T/work/recipes"
mv "$T/recipes/fixture-ext.yaml" "$T/work/recipes/"
echo "wheelfarm recipes" >"$T/work/README"
push() { # push MESSAGE: commits everything in the work tree and pushes it; prints the sha
    git -C "$T/work" add -A
    git -C "$T/work" commit -q -m "$1"
    git -C "$T/work" push -q "$T/git/recipes.git" HEAD:main
    git -C "$T/work" rev-parse HEAD
}
c1=$(push "fixture-ext 1.0.0")

write_config "$T/wf.yaml" '  - {name: local, driver: docker, platforms: [linux/amd64], slots: 2}'
sed -i "s#^recipes: .*#recipes: {git: \"$GIT_URL\", branch: main, path: recipes, poll: $POLL}#" "$T/wf.yaml"
grep -q "^recipes: {git:" "$T/wf.yaml" || fail "config has no git recipes: $(cat "$T/wf.yaml")"
start_daemon "$T/wf.yaml"
ok "daemon up on port $WF_PORT with recipes from $GIT_URL"

# repo KEY: a field of the "repository" object of GET /api/v1/recipes ("" for null).
repo() {
    { "$WF" recipes --json || true; } | python3 -c "import json,sys; v=json.load(sys.stdin)['repository']['$1']; print('' if v is None else v)"
}
# wait_repo KEY VALUE SECONDS
wait_repo() {
    local v=""
    for _ in $(seq 1 $(($3 * 5))); do
        v=$(repo "$1")
        [ "$v" = "$2" ] && return 0
        sleep 0.2
    done
    fail "repository $1 is '$v' after $3 s, want '$2' (error: $(repo error))"
}
# job_for VERSION: the id of the newest fixture-ext job for VERSION ("" when there is none).
job_for() {
    "$WF" jobs --json | python3 -c "import json,sys; j=[j['id'] for j in json.load(sys.stdin)['jobs'] if j['recipe']=='fixture-ext' and j['version']=='$1']; print(j[0] if j else '')"
}
# wait_built JOB: waits until the job succeeded (fails on another final state).
wait_built() {
    local st=""
    for _ in $(seq 1 1800); do
        st=$(job_field "$1" '["state"]')
        case $st in
        succeeded) return 0 ;;
        failed | cancelled) fail "job $1 $st: $(job_field "$1" '["error"]') $("$WF" logs "$1" | tail -n 20)" ;;
        esac
        sleep 1
    done
    fail "job $1 still $st after 30 min"
}
count_jobs() {
    "$WF" jobs --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["jobs"]))'
}

wait_repo commit "$c1" 30
job1=$(job_for 1.0.0)
[ -n "$job1" ] || fail "the first commit queued no fixture-ext 1.0.0 job: $("$WF" jobs)"
[ "$(job_field "$job1" '["trigger"]["kind"]')" = commit ] || fail "job $job1 trigger is not commit"
[ "$(job_field "$job1" '["trigger"]["commit"]')" = "$c1" ] || fail "job $job1 trigger commit is not $c1"
"$WF" recipes | has "recipes from branch main of $GIT_URL (path recipes): commit ${c1:0:12}" ||
    fail "wheelfarm recipes does not name the repository: $("$WF" recipes 2>&1)"
wait_built "$job1"
ok "the first commit ${c1:0:12} was built (job $job1, trigger commit)"

# A commit that moves the recipe to 1.0.1 is picked up within one poll.
sed -i -e 's/versions: \["1.0.0"\]/versions: ["1.0.1"]/' -e "s/$sha_100/$sha_101/" \
    "$T/work/recipes/fixture-ext.yaml"
grep -q "$sha_101" "$T/work/recipes/fixture-ext.yaml" || fail "the recipe edit did not apply"
c2=$(push "fixture-ext 1.0.1")
t0=$(date +%s)
wait_repo commit "$c2" $((POLL + 10))
ok "commit ${c2:0:12} in force after $(($(date +%s) - t0)) s (poll every $POLL s)"
job2=$(job_for 1.0.1)
[ -n "$job2" ] || fail "commit $c2 queued no fixture-ext 1.0.1 job: $("$WF" jobs)"
"$WF" show "$job2" | has "^trigger: *commit .*${c2:0:12} on main: branch main of $GIT_URL moved from ${c1:0:12} to ${c2:0:12}" ||
    fail "wheelfarm show $job2 lacks the commit trigger: $("$WF" show "$job2")"
wait_built "$job2"
python3 -m venv "$T/venv"
"$T/venv/bin/pip" install -q --index-url "$INDEX" fixture-ext==1.0.1 || fail "pip cannot install fixture-ext 1.0.1"
(cd "$T" && "$T/venv/bin/python" -c 'import importlib.metadata as m, fixture_ext; assert m.version("fixture-ext") == "1.0.1"; assert fixture_ext.add(2, 3) == 5') ||
    fail "fixture-ext 1.0.1 does not import"
ok "commit ${c2:0:12} built fixture-ext 1.0.1 (job $job2); pip installs it from /simple/"

# A restart loads the commit in force and builds nothing again.
n_jobs=$(count_jobs)
stop_daemon
start_daemon "$T/wf.yaml"
grep -q "recipes: 1 recipe(s) of commit ${c2:0:12} of $GIT_URL loaded" "$T/wheelfarmd.log" ||
    fail "the restart did not load the recipes of ${c2:0:12}"
wait_repo head "$c2" 30
sleep $((POLL + 1))
[ "$(count_jobs)" = "$n_jobs" ] || fail "the restart queued jobs: $("$WF" jobs)"
ok "a restart loads commit ${c2:0:12} and queues nothing"

# The git server stops: the error is shown, the index is still served.
stop_git
echo "more words" >>"$T/work/README"
c3=$(push "readme")
for _ in $(seq 1 $(((POLL + 10) * 5))); do
    [ -n "$(repo error)" ] && break
    sleep 0.2
done
err=$(repo error)
case $err in *"$GIT_URL"*refused*) ;; *) fail "no connection error for the stopped server: '$err'" ;; esac
rc=0
"$WF" recipes >"$T/recipes.out" 2>"$T/recipes.err" || rc=$?
[ $rc -eq 1 ] || fail "wheelfarm recipes exited $rc with the repository unreachable"
grep -q "$GIT_URL.*refused" "$T/recipes.err" || fail "wheelfarm recipes does not show the error: $(cat "$T/recipes.err")"
grep -q "fixture-ext" "$T/recipes.out" || fail "the recipes in force vanished: $(cat "$T/recipes.out")"
grep -q "warn recipes: cannot fetch.*$GIT_URL.*refused" "$T/wheelfarmd.log" || fail "the log lacks the fetch error"
curl -fsS "${INDEX}fixture-ext/" | has "fixture_ext-1.0.1-" || fail "the index is not served while git is down"
ok "git server down: '$err' in wheelfarm recipes (exit 1) and the log; the index is still served"

# The server is back: the next poll works and picks up what was pushed meanwhile.
start_git
wait_repo head "$c3" $((POLL + 10))
wait_repo error "" 5
wait_repo commit "$c3" 5
"$WF" recipes >/dev/null 2>&1 || fail "wheelfarm recipes still reports errors"
grep -q "info recipes: $GIT_URL answers again" "$T/wheelfarmd.log" || fail "the log does not say the server is back"
[ "$(count_jobs)" = "$n_jobs" ] || fail "a commit outside the recipes path queued jobs"
ok "git server back: commit ${c3:0:12} (README only) in force, nothing queued"

stop_daemon
ok "SIGTERM: the daemon closed its loop cleanly"
