#!/usr/bin/env bash
# build-arm64.sh - the fixture on linux/arm64 through a worker declared as emulated (QEMU user
# emulation on this x86_64 host): the job is labelled emulated, the wheel's extension is an
# aarch64 ELF, and pip installs it from the index inside an arm64 container, where it imports.
# An amd64-only worker never takes the arm64 job: with no arm64 worker the job waits and says why.
. "$(dirname "$0")/lib.sh"
require_docker
require_image wheelfarm/builder:bookworm-arm64
[ "$(/usr/bin/docker run --rm --platform linux/arm64 wheelfarm/builder:bookworm-arm64 uname -m 2>/dev/null)" = aarch64 ] ||
    skip "arm64 emulation is not available (scripts/install-deps enables it)"

fixture_sources
fixture_recipe "linux/amd64, linux/arm64"

# First, no arm64 worker at all: the arm64 job waits with the reason, nothing falls back.
write_config "$T/wf.yaml" '  - {name: local, driver: docker, platforms: [linux/amd64], slots: 1}'
start_daemon "$T/wf.yaml"
out=$("$WF" build fixture-ext --platform linux/arm64 --json)
job=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["id"])')
sleep 1
[ "$(job_field "$job" '["state"]')" = queued ] || fail "arm64 job did not wait without an arm64 worker"
reason=$(job_field "$job" '["wait_reason"]')
case $reason in "no healthy worker for linux/arm64: no worker declares it"*) ok "without an arm64 worker the job waits: $reason" ;;
*) fail "wait reason: $reason" ;; esac
stop_daemon

# Now an emulated arm64 worker on the same engine: the queued job runs there after the restart.
write_config "$T/wf.yaml" '  - {name: local, driver: docker, platforms: [linux/amd64], slots: 1}
  - {name: qemu-arm64, driver: docker, platforms: [linux/arm64], slots: 1, emulated: true}'
start_daemon "$T/wf.yaml"
for _ in $(seq 1 1800); do
    st=$(job_field "$job" '["state"]')
    case $st in queued | running) sleep 2 ;; *) break ;; esac
done
[ "$st" = succeeded ] || fail "arm64 job ended $st: $(job_field "$job" '["error"]')"
[ "$(job_field "$job" '["worker"]')" = qemu-arm64 ] || fail "arm64 job ran on the wrong worker"
[ "$(job_field "$job" '["emulated"]')" = True ] || fail "the emulated build is not labelled emulated"
ok "the arm64 job ran on the emulated worker and is labelled emulated"

whl=$(job_field "$job" '["artifact"]["filename"]')
case $whl in *manylinux*_aarch64.whl) ;; *) fail "unexpected wheel name $whl" ;; esac
curl -fsS -o "$T/$whl" "http://127.0.0.1:$WF_PORT/files/fixture-ext/$whl"
[ "$(elf_machine "$T/$whl")" = aarch64 ] || fail "extension in $whl is not aarch64"
ok "wheel $whl: its .so files are aarch64"

/usr/bin/docker run --rm --platform linux/arm64 --network host -e PIP_NO_CACHE_DIR=1 \
    wheelfarm/builder:bookworm-arm64 sh -ec "
    python3 -m venv /tmp/v && /tmp/v/bin/pip install -q --index-url $INDEX fixture-ext &&
    cd /tmp && /tmp/v/bin/python -c 'import fixture_ext, platform; assert fixture_ext.add(2, 3) == 5; print(platform.machine())'" \
    >"$T/arm.out" 2>&1 || fail "install/import in an arm64 container failed: $(cat "$T/arm.out")"
grep -q aarch64 "$T/arm.out" || fail "the container was not aarch64"
ok "pip installs the arm64 wheel from the index in an arm64 container and it imports"
stop_daemon
echo "1..4"
