#!/usr/bin/env bash
# pull-request.sh - a recipe pull request end to end: a real git server on loopback (git daemon)
# holds the recipes; GitHub-format pull_request deliveries signed with the configured secret
# build the changed recipe into /pr/7/simple/ (pip installs it from there) while /simple/ stays
# as it was; a replayed delivery and a wrong signature create nothing; a new head supersedes
# the old one's job; a build key main has built is linked into the channel, not rebuilt;
# closing the pull request removes its channel. A local HTTP server stands in for the forge and
# records the commit statuses: pending, then success, for the head.
. "$(dirname "$0")/lib.sh"
require_docker
require_image wheelfarm/builder:bookworm-amd64

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
git_() { git -c user.name=wheelfarm-test -c user.email=test@wheelfarm.invalid -c init.defaultBranch=main "$@"; }

# ---- the recipe repository, served by git daemon ----
fixture_sources
fixture_recipe linux/amd64
mkdir -p "$T/git" "$T/work/recipes"
git_ init -q --bare "$T/git/recipes.git"
git_ -C "$T/git/recipes.git" config daemon.receivepack true
cp "$T/recipes/fixture-ext.yaml" "$T/work/recipes/"
git_ -C "$T/work" init -q
git_ -C "$T/work" add -A
git_ -C "$T/work" commit -qm "fixture recipe"
GPORT=$(free_port)
/usr/lib/git-core/git-daemon --reuseaddr --listen=127.0.0.1 --port="$GPORT" --base-path="$T/git" \
    --export-all --enable=receive-pack "$T/git" >"$T/git-daemon.log" 2>&1 &
pids+=($!)
REPO=git://127.0.0.1:$GPORT/recipes.git
for _ in $(seq 1 50); do git ls-remote "$REPO" >/dev/null 2>&1 && break; sleep 0.1; done
git_ -C "$T/work" push -q "$REPO" HEAD:refs/heads/main || fail "cannot push to $REPO: $(cat "$T/git-daemon.log")"
ok "git daemon serves the recipe repository at $REPO"

# ---- the stand-in forge: records every status call ----
cat >"$T/forge.py" <<'PY'
import http.server, json, sys
log = open(sys.argv[1], "a", buffering=1)
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        log.write(json.dumps({"path": self.path, "auth": self.headers.get("Authorization"),
                              "body": json.loads(body)}) + "\n")
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print("port", s.server_address[1], flush=True)
s.serve_forever()
PY
: >"$T/statuses.jsonl"
python3 -u "$T/forge.py" "$T/statuses.jsonl" >"$T/forge.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do FPORT=$(sed -n 's/^port //p' "$T/forge.log"); [ -n "$FPORT" ] && break; sleep 0.1; done
[ -n "$FPORT" ] || fail "the stand-in forge did not start"

# ---- the daemon ----
SECRET="It's a Secret to Everybody"
printf '%s\n' "$SECRET" >"$T/hook-secret"
printf 'forge-token-123\n' >"$T/forge-token"
write_config "$T/wf.yaml" '  - {name: local, driver: docker, platforms: [linux/amd64], slots: 1}'
sed -i "s#^recipes: .*#recipes: {git: \"$REPO\", branch: main, path: recipes, poll: 3600, pull_requests: true}#" "$T/wf.yaml"
cat >>"$T/wf.yaml" <<EOC
webhooks:
  github: {secret_file: $T/hook-secret}
forge: {kind: github, api: "http://127.0.0.1:$FPORT", repo: acme/recipes, token_file: $T/forge-token,
        public_url: "http://wheelfarm.test"}
EOC
start_daemon "$T/wf.yaml"
for _ in $(seq 1 100); do "$WF" recipes 2>/dev/null | has fixture-ext && break; sleep 0.2; done
"$WF" recipes | has fixture-ext || fail "the recipes of branch main were not loaded"
ok "daemon up on port $WF_PORT with the recipes of branch main"
BASE=http://127.0.0.1:$WF_PORT

out=$("$WF" build fixture-ext==1.0.0 --wait --json) || fail "main build failed: $out"
main_page=$(curl -fsS "${INDEX}fixture-ext/")
main_sha=$(echo "$main_page" | sed -n 's/.*#sha256=\([0-9a-f]*\).*/\1/p')
[ -n "$main_sha" ] || fail "main's page lists no wheel"
ok "main index has fixture-ext ($main_sha)"

# ---- deliveries ----
# deliver EVENT DELIVERY BODY [SECRET]: POSTs a GitHub-format delivery; prints "CODE BODY".
deliver() {
    local sig
    sig=$(printf '%s' "$3" | python3 -c 'import hmac,hashlib,sys; print(hmac.new(sys.argv[1].encode(), sys.stdin.buffer.read(), hashlib.sha256).hexdigest())' "${4:-$SECRET}")
    curl -sS -o "$T/resp" -w '%{http_code}' -X POST "$BASE/hooks/github" \
        -H "Content-Type: application/json" -H "X-GitHub-Event: $1" -H "X-GitHub-Delivery: $2" \
        -H "X-Hub-Signature-256: sha256=$sig" --data-binary "$3"
    printf ' %s' "$(cat "$T/resp")"
}
pr_body() { # ACTION HEAD
    printf '{"action":"%s","number":7,"pull_request":{"number":7,"merged":false,"head":{"sha":"%s","ref":"faster","repo":{"clone_url":"%s"}},"base":{"sha":"%s","ref":"main"}}}' \
        "$1" "$2" "$REPO" "$(git -C "$T/work" rev-parse main)"
}
jobs_json() { curl -fsS -H "Authorization: Bearer $(cat "$T/var/api-token")" "$BASE/api/v1/jobs?limit=1000"; }
count_jobs() { jobs_json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["jobs"]))'; }
# pr_jobs HEAD: "id state" of the channel's jobs built for HEAD.
pr_jobs() {
    jobs_json | python3 -c '
import json, sys
for j in json.load(sys.stdin)["jobs"]:
    if j["channel"] == "pr/7" and j["trigger"]["head_sha"] == sys.argv[1]:
        print(j["id"], j["state"])' "$1"
}

code=$(deliver ping ping-1 '{"zen":"hi","hook_id":1}')
case $code in 202*pong*) ok "a ping is acknowledged and builds nothing" ;; *) fail "ping answered $code" ;; esac

# Head 1 of pull request 7: a changed recipe (another CFLAGS).
git_ -C "$T/work" checkout -qb faster
sed -i 's/^python: .*/&\nenvironment: {CFLAGS: "-O1"}/' "$T/work/recipes/fixture-ext.yaml"
git_ -C "$T/work" commit -qam "fixture-ext: -O1"
head1=$(git -C "$T/work" rev-parse HEAD)
git_ -C "$T/work" push -q "$REPO" HEAD:refs/pull/7/head
before=$(count_jobs)
code=$(deliver pull_request d-open "$(pr_body opened "$head1")" "wrong secret")
case $code in 401*) ;; *) fail "a wrong signature answered $code" ;; esac
code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$BASE/hooks/github" -H "X-GitHub-Event: pull_request" \
    -H "X-GitHub-Delivery: d-open" --data-binary "$(pr_body opened "$head1")")
[ "$code" = 401 ] || fail "a missing signature answered $code"
sleep 1
[ "$(count_jobs)" = "$before" ] || fail "a rejected delivery created jobs"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/pr/7/simple/")" = 404 ] || fail "a rejected delivery created a channel"
ok "wrong and missing signatures are 401 and create nothing"

code=$(deliver pull_request d-open "$(pr_body opened "$head1")")
case $code in 202*accepted*) ;; *) fail "the opened delivery answered $code" ;; esac
for _ in $(seq 1 100); do [ -n "$(pr_jobs "$head1")" ] && break; sleep 0.2; done
job1=$(pr_jobs "$head1" | awk '{print $1}')
[ -n "$job1" ] || fail "opened: no job for head $head1 ($(tail -n 5 "$T/wheelfarmd.log"))"
ok "opened: job $job1 builds fixture-ext for head ${head1:0:12} in channel pr/7"

# Head 2 supersedes head 1 while its job is queued or running. It builds for cp313 too and drops
# head 1's CFLAGS: its cp311 build key is main's (linked, not rebuilt), its cp313 one is new.
git_ -C "$T/work" checkout -q main -- recipes/fixture-ext.yaml
sed -i 's/^python: .*/python: [cp311, cp313]/' "$T/work/recipes/fixture-ext.yaml"
git_ -C "$T/work" commit -qam "fixture-ext: cp313 too"
head2=$(git -C "$T/work" rev-parse HEAD)
git_ -C "$T/work" push -q -f "$REPO" HEAD:refs/pull/7/head
code=$(deliver pull_request d-sync "$(pr_body synchronize "$head2")")
case $code in 202*accepted*) ;; *) fail "the synchronize delivery answered $code" ;; esac
for _ in $(seq 1 600); do
    st=$(pr_jobs "$head2" | awk '{print $2}' | tr '\n' ' ')
    case $st in succeeded\ | failed\ | cancelled\ ) break ;; esac
    sleep 1
done
[ "$st" = "succeeded " ] || fail "head 2's jobs ended '$st' (one job wanted): $(tail -n 20 "$T/wheelfarmd.log")"
job2=$(pr_jobs "$head2" | awk '{print $1}')
[ "$(job_field "$job2" '["python"]')" = cp313 ] || fail "head 2 built $(job_field "$job2" '["python"]'), not cp313"
[ "$(job_field "$job1" '["state"]')" = cancelled ] || fail "head 1's job $job1 is $(job_field "$job1" '["state"]')"
case $(job_field "$job1" '["error"]') in *superseded*) ;; *) fail "job $job1 error: $(job_field "$job1" '["error"]')" ;; esac
ok "synchronize: head ${head2:0:12} built cp313 (job $job2) and no cp311 job; head 1's job $job1 was cancelled as superseded"

pr_whl=$(job_field "$job2" '["artifact"]["filename"]')
pr_sha=$(job_field "$job2" '["artifact"]["sha256"]')
main_whl=$(echo "$main_page" | sed -n 's/.*>\(fixture_ext[^<]*\.whl\)<.*/\1/p')
[ "$(job_field "$job2" '["artifact"]["url"]')" = "/pr/7/files/fixture-ext/$pr_whl" ] || fail "artifact url $(job_field "$job2" '["artifact"]["url"]')"
page=$(curl -fsS "$BASE/pr/7/simple/fixture-ext/")
echo "$page" | has "href=\"../../files/fixture-ext/$pr_whl#sha256=$pr_sha\"" || fail "the channel's page lacks its own $pr_whl: $page"
echo "$page" | has "href=\"../../../../files/fixture-ext/$main_whl#sha256=$main_sha\"" || fail "the channel's page lacks main's linked $main_whl: $page"
[ "$(echo "$page" | grep -c '\.whl#sha256=')" = 2 ] || fail "the channel lists other wheels than the head's two: $page"
curl -fsS "$BASE/pr/7/simple/" | has 'fixture-ext' || fail "the channel's root page lacks fixture-ext"
[ "$(curl -fsS "${INDEX}fixture-ext/")" = "$main_page" ] || fail "the main index page changed"
[ "$(curl -fsS "$BASE/files/fixture-ext/$main_whl" | sha256sum | cut -c1-64)" = "$main_sha" ] || fail "main's file was replaced"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/files/fixture-ext/$pr_whl")" = 404 ] || fail "the pull request's wheel reached /files/"
ok "/pr/7/simple/ lists the cp313 wheel it built and main's cp311 wheel, linked; /simple/ is unchanged"

python3 -m venv "$T/venv"
"$T/venv/bin/pip" download -q --no-deps --only-binary :all: --python-version 3.13 -d "$T/dl" \
    --index-url "$BASE/pr/7/simple/" fixture-ext || fail "pip cannot download the cp313 wheel from /pr/7/simple/"
[ "$(sha256sum "$T/dl/$pr_whl" | cut -c1-64)" = "$pr_sha" ] || fail "pip got another wheel than the pull request's"
"$T/venv/bin/pip" install -q --index-url "$BASE/pr/7/simple/" fixture-ext || fail "pip install from /pr/7/simple/ failed"
(cd "$T" && "$T/venv/bin/python" -c 'import fixture_ext; assert fixture_ext.add(2, 3) == 5') || fail "fixture_ext does not import"
ok "pip downloads the pull request's cp313 wheel and installs fixture-ext (cp311, main's) from /pr/7/simple/"

before=$(count_jobs)
code=$(deliver pull_request d-sync "$(pr_body synchronize "$head2")")
case $code in 200*"duplicate delivery"*) ;; *) fail "a replayed delivery answered $code" ;; esac
code=$(deliver pull_request d-sync-again "$(pr_body synchronize "$head2")")
case $code in 202*) ;; *) fail "a redelivery under a new id answered $code" ;; esac
sleep 2
[ "$(count_jobs)" = "$before" ] || fail "a replayed delivery or a handled head created jobs"
ok "the same delivery again is a duplicate and creates nothing; a handled head builds nothing new"

# The stand-in forge saw the statuses of head 2: pending first, success last.
for _ in $(seq 1 50); do grep -q "\"success\"" "$T/statuses.jsonl" && break; sleep 0.2; done
python3 - "$T/statuses.jsonl" "$head2" <<'PY' || fail "statuses: $(cat "$T/statuses.jsonl")"
import json, sys
calls = [json.loads(l) for l in open(sys.argv[1])]
mine = [c for c in calls if c["path"] == "/repos/acme/recipes/statuses/" + sys.argv[2]]
states = [c["body"]["state"] for c in mine]
assert states and states[0] == "pending" and states[-1] == "success", states
assert all(c["auth"] == "Bearer forge-token-123" for c in calls), "token header"
assert all(c["body"]["context"] == "wheelfarm" for c in mine)
assert mine[-1]["body"]["target_url"] == "http://wheelfarm.test/pr/7/simple/", mine[-1]
print("# statuses of head 2:", states)
PY
ok "the forge saw pending then success for head ${head2:0:12}"

code=$(deliver pull_request d-close "$(pr_body closed "$head2")")
case $code in 202*) ;; *) fail "the closed delivery answered $code" ;; esac
for _ in $(seq 1 50); do [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/pr/7/simple/")" = 404 ] && break; sleep 0.1; done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/pr/7/simple/")" = 404 ] || fail "/pr/7/simple/ still answers after close"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/pr/7/files/fixture-ext/$pr_whl")" = 404 ] || fail "the channel's wheel is still served"
[ "$(curl -fsS "${INDEX}fixture-ext/")" = "$main_page" ] || fail "closing the pull request changed the main index"
[ "$(curl -fsS "$BASE/files/fixture-ext/$main_whl" | sha256sum | cut -c1-64)" = "$main_sha" ] ||
    fail "closing the pull request took main's wheel (which the channel had linked)"
ok "closed: /pr/7/simple/ and its files are 404; the main index stays"

stop_daemon
ok "SIGTERM: the daemon drained and closed its loop cleanly"
echo "1..13"
