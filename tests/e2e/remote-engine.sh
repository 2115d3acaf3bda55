# remote-engine.sh - a second Docker engine on its own network, reached over TCP with mutual TLS
# (sourced by tests and benches after lib.sh, which provides $T, say/fail/skip and `pids`).
#
# remote_engine_start creates a network namespace with a veth pair on private addresses
# (10.231.N.1/30 on the host side, 10.231.N.2/30 inside; N from the shell's pid, or
# WF_REMOTE_SUBNET=10.231.7 to choose), a CA with a server certificate for the inside address
# and a client certificate (openssl), and runs a dockerd INSIDE the namespace listening on
# tcp://ADDR:2376 with --tlsverify, with its own data root, exec root, pid file, managed containerd,
# cgroup parent and an empty daemon.json (the machine's /etc/docker/daemon.json is for the host's
# engine), so it shares nothing with the host's engine but the kernel. A second listener on a unix
# socket in $T lets the test load images without going through the network.
#
# After it: REMOTE_ENDPOINT (tcp://ADDR:2376), REMOTE_CA, REMOTE_CERT, REMOTE_KEY (PEM files),
# REMOTE_ADDR, REMOTE_HOST_ADDR (the host side of the veth: serve things for the engine there;
# it cannot reach the host's 127.0.0.1), REMOTE_NS, remote_docker (a docker client over TLS).
# remote_engine_stop / remote_engine_restart stop and start the engine (its data survives);
# remote_engine_teardown (run by lib.sh's cleanup, through cleanup_hooks, on any exit) kills
# it and removes the namespace, the veth pair and every file.

REMOTE_NS=""
REMOTE_DIR=""
REMOTE_PID=""

# remote_engine_require: skips (exit 77) only when this machine cannot create a network
# namespace (not root, no `ip`, or the kernel refuses). Anything else missing is a failure: the
# test must not pass quietly on a machine that could run it.
remote_engine_require() {
    [ "$(id -u)" = 0 ] || skip "creating a network namespace needs root"
    command -v ip >/dev/null || skip "no 'ip' command (iproute2) to create a network namespace"
    local tool
    for tool in dockerd nsenter openssl; do
        command -v $tool >/dev/null || fail "$tool is missing (scripts/install-deps installs it)"
    done
    local probe=wfprobe$$
    ip netns add "$probe" 2>"$T/netns-probe.err" ||
        skip "this machine refuses network namespaces: $(cat "$T/netns-probe.err")"
    ip netns del "$probe"
}

# remote_docker ARGS...: the docker client against the remote engine, over TCP and TLS.
remote_docker() {
    /usr/bin/docker --host "$REMOTE_ENDPOINT" --tlsverify --tlscacert "$REMOTE_CA" \
        --tlscert "$REMOTE_CERT" --tlskey "$REMOTE_KEY" "$@"
}

# remote_docker_local ARGS...: the same engine through its unix socket (no network; fast loads).
remote_docker_local() {
    /usr/bin/docker --host "unix://$REMOTE_DIR/docker.sock" "$@"
}

# The subnet: 10.231.N.0/30 with N from the pid, unless chosen; refused if already in use.
remote_pick_subnet() {
    local base=${WF_REMOTE_SUBNET:-10.231.$(($$ % 250 + 1))}
    if ip -o addr show | has " ${base//./\\.}\.[12]/"; then
        fail "addresses $base.1/$base.2 are in use on this machine (set WF_REMOTE_SUBNET=10.231.X)"
    fi
    REMOTE_HOST_ADDR=$base.1
    REMOTE_ADDR=$base.2
    # Build steps need a bridge (BuildKit's RUN uses the engine's default network); it lives in
    # the namespace, and with no NAT and no forwarding it leads nowhere: builds run offline.
    REMOTE_BIP=172.31.${base##*.}.1/24
}

# Certificates: a CA, the engine's server certificate (SAN = its address) and a client
# certificate, all ECDSA P-256, valid for a day. Keys are 0600.
remote_make_certs() {
    local d=$REMOTE_DIR/tls
    mkdir -p "$d"
    (
        cd "$d"
        umask 077
        openssl ecparam -name prime256v1 -genkey -noout -out ca-key.pem
        openssl req -new -x509 -days 1 -key ca-key.pem -subj "/CN=wheelfarm test CA" -out ca.pem
        openssl ecparam -name prime256v1 -genkey -noout -out server-key.pem
        openssl req -new -key server-key.pem -subj "/CN=$REMOTE_ADDR" -out server.csr
        printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$REMOTE_ADDR" >server.ext
        openssl x509 -req -days 1 -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
            -extfile server.ext -out server.pem
        openssl ecparam -name prime256v1 -genkey -noout -out key.pem
        openssl req -new -key key.pem -subj "/CN=wheelfarmd" -out client.csr
        printf 'extendedKeyUsage=clientAuth\n' >client.ext
        openssl x509 -req -days 1 -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
            -extfile client.ext -out cert.pem
    ) >"$REMOTE_DIR/openssl.log" 2>&1 || fail "openssl could not make the certificates: $(tail -n 5 "$REMOTE_DIR/openssl.log")"
    REMOTE_CA=$d/ca.pem
    REMOTE_CERT=$d/cert.pem
    REMOTE_KEY=$d/key.pem
}

# The storage driver: the host engine's (this machine may lack what the default needs).
remote_storage_driver() {
    local drv
    drv=${WF_REMOTE_STORAGE_DRIVER:-$(/usr/bin/docker info --format '{{.Driver}}' 2>/dev/null || true)}
    echo "${drv:-overlay2}"
}

# remote_engine_launch: starts dockerd in the namespace and waits until it answers over TLS.
remote_engine_launch() {
    local log=$REMOTE_DIR/dockerd.log
    echo "--- dockerd start $(date -u +%FT%TZ)" >>"$log"
    # nsenter, not `ip netns exec`: the latter remounts /sys for the namespace, which hides the
    # cgroup mounts under /sys/fs/cgroup that dockerd needs. Only the network is the engine's own.
    nsenter --net="/run/netns/$REMOTE_NS" dockerd \
        --config-file "$REMOTE_DIR/daemon.json" \
        --host "tcp://$REMOTE_ADDR:2376" --host "unix://$REMOTE_DIR/docker.sock" \
        --tlsverify --tlscacert "$REMOTE_CA" --tlscert "$REMOTE_DIR/tls/server.pem" \
        --tlskey "$REMOTE_DIR/tls/server-key.pem" \
        --data-root "$REMOTE_DIR/data" --exec-root "$REMOTE_DIR/run" \
        --pidfile "$REMOTE_DIR/dockerd.pid" --storage-driver "$REMOTE_STORAGE" \
        --cgroup-parent "wheelfarm-remote-$$" \
        --bip "$REMOTE_BIP" --iptables=false --ip-masq=false --ip-forward=false \
        >>"$log" 2>&1 &
    REMOTE_PID=$!
    for _ in $(seq 1 300); do
        if remote_docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$REMOTE_PID" 2>/dev/null || fail "the remote dockerd exited: $(tail -n 20 "$log")"
        sleep 0.2
    done
    fail "the remote dockerd did not answer on $REMOTE_ENDPOINT within 60 s: $(tail -n 20 "$log")"
}

# remote_engine_start [IMAGE...]: namespace, veth, certificates, engine; then copies each IMAGE
# from the host's engine into it (remote_engine_load).
remote_engine_start() {
    REMOTE_DIR=$T/remote
    REMOTE_NS=wfr$$
    mkdir -p "$REMOTE_DIR"
    echo '{}' >"$REMOTE_DIR/daemon.json"
    remote_pick_subnet
    REMOTE_ENDPOINT=tcp://$REMOTE_ADDR:2376
    REMOTE_STORAGE=$(remote_storage_driver)
    cleanup_hooks+=(remote_engine_teardown)
    ip netns add "$REMOTE_NS" || fail "ip netns add $REMOTE_NS failed"
    ip link add "${REMOTE_NS}h" type veth peer name "${REMOTE_NS}n" ||
        fail "cannot create the veth pair ${REMOTE_NS}h/${REMOTE_NS}n"
    ip link set "${REMOTE_NS}n" netns "$REMOTE_NS"
    ip addr add "$REMOTE_HOST_ADDR/30" dev "${REMOTE_NS}h"
    ip link set "${REMOTE_NS}h" up
    ip netns exec "$REMOTE_NS" ip addr add "$REMOTE_ADDR/30" dev "${REMOTE_NS}n"
    ip netns exec "$REMOTE_NS" ip link set "${REMOTE_NS}n" up
    ip netns exec "$REMOTE_NS" ip link set lo up
    ip netns exec "$REMOTE_NS" ip route add default via "$REMOTE_HOST_ADDR"
    remote_make_certs
    remote_engine_launch
    local img
    for img in "$@"; do remote_engine_load "$img"; done
}

# remote_engine_load IMAGE: copies IMAGE from the host's engine into the remote one. `docker save`
# of a builder image takes minutes on a busy machine, so the archive is kept in
# $WF_REMOTE_IMAGE_CACHE (default /var/cache/wheelfarm/images) under the image's id; an archive of
# an older id of the same image is replaced.
remote_engine_load() {
    local img=$1 id cache=${WF_REMOTE_IMAGE_CACHE:-/var/cache/wheelfarm/images} name tar
    id=$(/usr/bin/docker image inspect --format '{{.Id}}' "$img") || fail "no image $img on the host engine"
    name=$(echo "$img" | tr '/:' '__')
    tar=$cache/$name-${id#sha256:}.tar
    if [ ! -f "$tar" ]; then
        mkdir -p "$cache"
        rm -f "$cache/$name"-*.tar
        /usr/bin/docker save -o "$tar.tmp$$" "$img" || fail "docker save $img failed"
        mv "$tar.tmp$$" "$tar"
    fi
    remote_docker_local load -i "$tar" >>"$REMOTE_DIR/load.log" 2>&1 ||
        fail "cannot load $img into the remote engine: $(tail -n 5 "$REMOTE_DIR/load.log")"
}

# remote_engine_pids: every process of the engine: those in its network namespace and those
# in its cgroups.
remote_engine_pids() {
    {
        ip netns pids "$REMOTE_NS" 2>/dev/null || true
        find /sys/fs/cgroup/pids/"wheelfarm-remote-$$" -name cgroup.procs -exec cat {} + \
            2>/dev/null || true
    } | sort -u
}

# remote_engine_stop [SIGNAL]: stops the engine as a host going away would (default SIGKILL:
# dockerd, its containerd and whatever runs the build die at once); waits until it is gone.
remote_engine_stop() {
    local sig=${1:-KILL} p
    [ -n "$REMOTE_PID" ] || return 0
    if [ "$sig" = KILL ]; then
        # dockerd and its containerd (in the namespace), and the build steps and containers
        # (each in a network namespace of its own, but all under the engine's cgroup parent).
        for p in $(remote_engine_pids); do kill -KILL "$p" 2>/dev/null || true; done
    else
        kill -"$sig" "$REMOTE_PID" 2>/dev/null || true
    fi
    for _ in $(seq 1 300); do
        [ -z "$(remote_engine_pids)" ] && break
        sleep 0.1
    done
    wait "$REMOTE_PID" 2>/dev/null || true
    REMOTE_PID=""
    rm -f "$REMOTE_DIR/dockerd.pid" "$REMOTE_DIR/docker.sock"
}

# remote_engine_restart: starts the engine again on the same data (images and cache survive).
remote_engine_restart() {
    remote_engine_stop TERM
    remote_engine_launch
}

# remote_engine_teardown: engine, namespace, veth and files; safe to run twice.
remote_engine_teardown() {
    [ -n "$REMOTE_NS" ] || return 0
    remote_engine_stop TERM
    local p
    for p in $(remote_engine_pids); do kill -KILL "$p" 2>/dev/null || true; done
    # A killed engine leaves its mounts (container layers, shm) under its directories.
    awk -v d="$REMOTE_DIR/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null || true; done
    # The cgroups dockerd made under its parent (empty once its processes are gone).
    find /sys/fs/cgroup/*/"wheelfarm-remote-$$" -depth -type d -exec rmdir {} + 2>/dev/null || true
    ip link del "${REMOTE_NS}h" 2>/dev/null || true
    ip netns del "$REMOTE_NS" 2>/dev/null || true
    rm -rf "$REMOTE_DIR"
    REMOTE_NS=""
}
