#!/usr/bin/env bash
# real-recipes.sh PLATFORM SPEC... - recipes of real packages with native libraries (the shipped
# ones in recipes/, else the examples in examples/recipes/), built
# without the internet: scripts/seed-sources fetches the native tarballs from Debian's source
# packages and the sdists (plus build requirements) into a local upstream index served on
# loopback; `wheelfarm sources add` seeds the daemon's cache (so the recipes' upstream URLs are
# never fetched), and the daemon builds every python tag the platform's builder image has.
# Each wheel must carry its native library in <project>.libs/, `auditwheel show` (in the builder
# image) must name a manylinux policy, `wheelfarm show` must print that platform tag, and the
# wheel must install with `pip install --only-binary :all: --index-url <our index>` into a clean
# container without the library (the runtime image when there is one), where the recipe's
# feature works. Also: `sources add` is refused over TCP and reports unreadable files.
. "$(dirname "$0")/lib.sh"
platform=${1:?usage: real-recipes.sh PLATFORM SPEC...}
shift
[ $# -gt 0 ] || fail "no SPEC given"
arch=${platform#linux/}
builder=wheelfarm/builder:bookworm-$arch
require_docker
require_image "$builder"
emulated=false
[ "$arch" = "$(uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/')" ] || emulated=true

# What each recipe's wheel must carry (a regex under <project>.libs/) and a check of the feature
# the native library provides, run in the clean container.
lib_of() {
    case "$1" in
    confluent-kafka) echo 'librdkafka.*\.so' ;;
    pyyaml) echo 'libyaml.*\.so' ;;
    pillow) echo 'libjpeg.*\.so' ;;
    lxml) echo 'libxslt.*\.so' ;;
    pyzmq) echo 'libzmq.*\.so' ;;
    *) echo '.*\.so' ;; # a recipe without its own checks: some grafted library
    esac
}
check_of() {
    case "$1" in
    confluent-kafka) cat <<'PY' ;;
import confluent_kafka
assert confluent_kafka.libversion()[0] == "2.8.0", confluent_kafka.libversion()
# librdkafka refuses a client whose builtin.features names one it was built without.
need = "gzip,ssl,sasl,sasl_gssapi,sasl_plain,sasl_scram,sasl_oauthbearer,lz4,zstd"
p = confluent_kafka.Producer({"bootstrap.servers": "127.0.0.1:9", "builtin.features": need,
                              "compression.type": "zstd", "security.protocol": "SASL_SSL",
                              "sasl.mechanism": "SCRAM-SHA-256", "sasl.username": "e2e",
                              "sasl.password": "e2e", "message.timeout.ms": 1000})
p.produce("wheelfarm-e2e", b"z" * 4096)
p.purge()
p.flush(1)
print("CHECK: SASL_SSL zstd producer works with librdkafka", confluent_kafka.libversion()[0], "features", need)
PY
    pyyaml) cat <<'PY' ;;
import yaml
assert yaml.__with_libyaml__
assert yaml.load("k: [1, {a: b}]", Loader=yaml.CSafeLoader) == {"k": [1, {"a": "b"}]}
print("CHECK: CSafeLoader works with libyaml", yaml._yaml.get_version_string())
PY
    pillow) cat <<'PY' ;;
import io
from PIL import Image, features
assert features.check("jpg")
b = io.BytesIO()
Image.new("RGB", (16, 16), (1, 2, 3)).save(b, "JPEG")
assert Image.open(io.BytesIO(b.getvalue())).size == (16, 16)
print("CHECK: JPEG round trip works with libjpeg API", features.version("jpg"))
PY
    lxml) cat <<'PY' ;;
from lxml import etree
assert etree.LIBXML_VERSION == (2, 9, 14) and etree.LIBXSLT_VERSION == (1, 1, 35)
style = etree.XSLT(etree.XML(b'<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
                             b'<xsl:template match="/a"><b><xsl:value-of select="count(c)"/></b></xsl:template>'
                             b'</xsl:stylesheet>'))
assert str(style(etree.XML(b"<a><c/><c/></a>"))).strip().endswith("<b>2</b>")
print("CHECK: XSLT works with libxml2", etree.LIBXML_VERSION, "libxslt", etree.LIBXSLT_VERSION)
PY
    pyzmq) cat <<'PY' ;;
import zmq
assert zmq.zmq_version() == "4.3.4" and zmq.has("curve")
ctx = zmq.Context()
a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
a.bind("inproc://e2e")
b.connect("inproc://e2e")
b.send(b"hi")
assert a.recv() == b"hi"
ctx.destroy(linger=0)
print("CHECK: PAIR over inproc works with libzmq", zmq.zmq_version(), "with CURVE")
PY
    *) echo "import importlib.metadata as m; print('CHECK: installed $1', m.version('$1'))" ;;
    esac
}
# The libraries (names for ctypes.util.find_library) the clean machine must not have: the wheel
# has to carry them.
sonames_of() {
    case "$1" in
    confluent-kafka) echo rdkafka sasl2 ;; pyyaml) echo yaml ;; pillow) echo jpeg ;;
    lxml) echo xml2 xslt exslt ;; pyzmq) echo zmq ;;
    esac
}

seed_sources
ok "seeded: Debian orig tarballs in $SEED_DIR/debian, local upstream index $UPSTREAM"

# The python tags the builder image has (its /opt/python/<tag>-<tag>), all built in one request.
pys=$(/usr/bin/docker run --rm --platform "$platform" "$builder" sh -c 'ls /opt/python' |
    sed -n 's/^\(cp3[0-9]*\)-.*/\1/p' | sort -u | paste -sd, -)
[ -n "$pys" ] || fail "$builder has no /opt/python/<tag>"
say "python tags of $builder: $pys"

mkdir -p "$T/recipes"
names=()
for spec in "$@"; do
    name=${spec%%==*}
    names+=("$name")
    recipe=$WF_SOURCE_ROOT/recipes/$name.yaml
    [ -f "$recipe" ] || recipe=$WF_SOURCE_ROOT/examples/recipes/$name.yaml
    [ -f "$recipe" ] || fail "no recipe $name.yaml in recipes/ or examples/recipes/"
    sed -e "s#^  python: .*#  python: [${pys//,/, }]#" -e "s#^  platforms: .*#  platforms: [$platform]#" \
        "$recipe" >"$T/recipes/$name.yaml"
done
write_config "$T/wf.yaml" "  - {name: w, driver: docker, platforms: [$platform], slots: 1, emulated: $emulated}"
# The recipe's test command runs in the clean runtime image, as it does for users.
rt=wheelfarm/runtime:bookworm-$arch
/usr/bin/docker image inspect "$rt" >/dev/null 2>&1 || skip "runtime image $rt is missing (scripts/bootstrap-images builds it)"
sed -i "s#^  $platform: .*#  $platform: {image: $builder, python: [${pys//,/, }], runtime: $rt}#" "$T/wf.yaml"
start_daemon "$T/wf.yaml"
ok "daemon up on port $WF_PORT with upstream_index $UPSTREAM"

# Seeding the cache: over the socket it works, over TCP it is refused whatever the token.
out=$("$WF" sources add "$SEED_DIR"/debian/*) || fail "wheelfarm sources add failed: $out"
for f in "$SEED_DIR"/debian/*; do
    want=$(sha256sum "$f" | cut -d' ' -f1)
    echo "$out" | has "^$want  $(stat -c %s "$f")  $f\$" || fail "sources add did not report $f as $want: $out"
    [ -f "$T/var/cache/sha256/$want" ] || fail "$f is not in the cache as sha256/$want"
done
ok "wheelfarm sources add stored $(echo "$out" | wc -l) Debian tarballs by sha256"
code=$(curl -s -o "$T/tcp.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $(cat "$T/var/api-token")" \
    --data "{\"paths\": [\"$SEED_DIR/debian\"]}" "http://127.0.0.1:$WF_PORT/api/v1/sources")
[ "$code" = 403 ] && grep -q 'socket' "$T/tcp.json" || fail "sources over TCP answered $code: $(cat "$T/tcp.json")"
rc=0
out=$("$WF" sources add "$SEED_DIR/debian" 2>&1) || rc=$?
[ $rc = 1 ] && echo "$out" | has 'not a regular file' || fail "adding a directory: exit $rc, $out"
rc=0
"$WF" sources add "$T/no-such.tar.gz" 2>/dev/null || rc=$?
[ $rc = 2 ] || fail "adding a missing file exited $rc, not 2"
ok "sources add: 403 over TCP, a directory is refused per file, a missing file is a usage error"

t0=$(date +%s)
out=$("$WF" build "$@" --platform "$platform" --wait --json) ||
    fail "build failed: $(echo "$out" | head -c 2000)"
say "built ${names[*]} for $platform ($pys) in $(($(date +%s) - t0))s"
jobs=$(echo "$out" | python3 -c 'import json,sys; print(" ".join(str(j["id"]) for j in json.load(sys.stdin)["jobs"]))')
n_py=$(echo "$pys" | tr ',' '\n' | wc -l)
[ "$(echo "$jobs" | wc -w)" = $(($# * n_py)) ] || fail "expected $(($# * n_py)) jobs, got '$jobs'"

runtime=wheelfarm/runtime:bookworm-$arch
/usr/bin/docker image inspect "$runtime" >/dev/null 2>&1 || runtime=$builder
for job in $jobs; do
    recipe=$(job_field "$job" '["recipe"]')
    py=$(job_field "$job" '["python"]')
    whl=$(job_field "$job" '["artifact"]["filename"]')
    tag=$(job_field "$job" '["artifact"]["platform_tag"]')
    secs=$(job_field "$job" '["finished_at"] - v["started_at"]')
    say "job $job: $recipe $py $platform built in ${secs}s: $whl"
    case $tag in *manylinux_2_*) ;; *) fail "job $job: platform tag '$tag' is not manylinux" ;; esac
    "$WF" show "$job" | has "platform: *$tag\$" || fail "wheelfarm show $job does not print $tag"
    project=$(job_field "$job" '["artifact"]["url"].split("/")[2]')
    curl -fsS -o "$T/$whl" "http://127.0.0.1:$WF_PORT/files/$project/$whl"
    wheel_has_lib "$T/$whl" "$(lib_of "$recipe")" || fail "$whl carries no $(lib_of "$recipe") in its .libs/"
    ok "job $job: $whl ($tag) carries $(lib_of "$recipe") and wheelfarm show prints the tag"
    if [ "$recipe" = confluent-kafka ]; then
        # zstd's pin is upstream's release; the cache holds Debian's repack, declared in the
        # config as its substitute: the log says it was used, show lists it, the wheel carries
        # what librdkafka links for SASL_SSL.
        # The pin is the recipe's zstd sha256; its entry is found by that pin (the file also
        # holds the substitutes of other recipes' repacks).
        pin=$(awk '/- name: zstd/ { z = 1 } z && /sha256:/ { gsub(/[" ]/, "", $2); print $2; exit }' \
            "$WF_SOURCE_ROOT/recipes/confluent-kafka.yaml")
        use=$(awk -v pin="$pin" '$1 == "-" && $2 == "for:" { f = ($3 == pin) } f && $1 == "use:" { print $2; exit }' "$SUBSTITUTES")
        [ -n "$pin" ] && [ -n "$use" ] || fail "no substitute for zstd's pin '$pin' in $SUBSTITUTES"
        "$WF" logs "$job" | has "^\[wheelfarm\] zstd: using substitute sha256:$use for sha256:$pin ($T/wf.yaml:[0-9]*: Debian's repack" ||
            fail "job $job: the log does not say zstd used the substitute: $("$WF" logs "$job" | grep -m3 'zstd\|substitute')"
        "$WF" show "$job" | has "^substitute: *zstd: sha256:$use for sha256:$pin ($T/wf.yaml:[0-9]*: " ||
            fail "wheelfarm show $job does not list the substitute: $("$WF" show "$job")"
        for l in 'libssl.*\.so' 'libcrypto.*\.so' 'libsasl2.*\.so' 'libzstd.*\.so'; do
            wheel_has_lib "$T/$whl" "$l" || fail "$whl carries no $l"
        done
        ok "job $job: zstd built from the declared substitute (log and show say so); the wheel carries libssl, libcrypto, libsasl2, libzstd"
    fi

    verdict=$(/usr/bin/docker run --rm --platform "$platform" -v "$T:/w:ro" "$builder" auditwheel show "/w/$whl" 2>&1) ||
        fail "auditwheel show $whl: $verdict"
    echo "$verdict" | has "platform tag:" && echo "$verdict" | has '"manylinux_2_' ||
        fail "auditwheel show names no manylinux policy: $verdict"
    ok "auditwheel show: $(echo "$verdict" | tr '\n' ' ' | grep -o '"manylinux_2_[0-9]*_[a-z0-9_]*"' | head -n1)"

    # A clean container: no compiler-built library, our index only, binary wheels only.
    pybin=/opt/python/$py-$py/bin/python
    check=$(check_of "$recipe")
    /usr/bin/docker run --rm --network host --platform "$platform" -e CHECK="$check" "$runtime" sh -ec "
        $pybin -c \"import ctypes.util as u; l = [u.find_library(n) for n in '$(sonames_of "$recipe")'.split()]; assert l == [None] * len(l), l\"
        $pybin -m pip install -q --no-cache-dir --only-binary :all: --index-url '$INDEX' --target /tmp/site '${recipe}==$(job_field "$job" '["version"]')'
        cd /tmp && PYTHONPATH=/tmp/site $pybin -c \"\$CHECK\"" >"$T/run-$job.log" 2>&1 ||
        fail "clean $runtime: install or check of $whl failed: $(tail -n 20 "$T/run-$job.log")"
    grep -q '^CHECK: ' "$T/run-$job.log" || fail "the check printed nothing: $(cat "$T/run-$job.log")"
    ok "job $job: pip --only-binary :all: installs $whl into a clean $runtime: $(sed -n 's/^CHECK: //p' "$T/run-$job.log")"
done

stop_daemon
ok "SIGTERM: the daemon closed its loop cleanly"
