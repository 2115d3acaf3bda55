# lib.sh - shell helpers shared by wheelfarm's scripts (sourced, never run).
#
# Functions print to stdout only what callers capture; diagnostics go to stderr.

wf_say() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
wf_die() { wf_say "error: $*"; exit 1; }

# wf_apt_mirror: prints the Debian archive URI the machine's apt sources use for bookworm main
# (deb822 files in /etc/apt/sources.list.d/*.sources first, then one-line *.list files).
# The repository never names a mirror itself: whatever the machine's apt uses is what we use.
wf_apt_mirror() {
    local suite=${1:-bookworm} f uri=""
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        uri=$(awk -v suite="$suite" '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && suites ~ ("(^| )" suite "( |$)") && \
                    comps ~ /(^| )main( |$)/ && enabled != "no" && uris != "" && !found) {
                    split(uris, u, " "); print u[1]; found = 1
                }
                types = suites = comps = uris = ""; enabled = "yes"
            }
            BEGIN { enabled = "yes" }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            { key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "")
              if (key == "types") types = $0; else if (key == "suites") suites = $0
              else if (key == "components") comps = $0; else if (key == "uris") uris = $0
              else if (key == "enabled") enabled = tolower($0) }
            END { flush() }' "$f")
        [ -n "$uri" ] && { echo "$uri"; return 0; }
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        uri=$(awk -v suite="$suite" '
            $1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                          if ($(i+1) == suite) { for (j = i + 2; j <= NF; j++) if ($j == "main") { print $i; exit } } }' "$f")
        [ -n "$uri" ] && { echo "$uri"; return 0; }
    done
    return 1
}

# wf_host_arch: the Docker architecture name of this machine (amd64, arm64).
wf_host_arch() {
    case "$(uname -m)" in
    x86_64) echo amd64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) uname -m ;;
    esac
}

# wf_qemu_name ARCH: the binfmt entry name qemu-user-static registers for a Docker arch.
wf_qemu_name() {
    case "$1" in
    arm64) echo qemu-aarch64 ;;
    amd64) echo qemu-x86_64 ;;
    *) echo "qemu-$1" ;;
    esac
}

# wf_emulation_ok ARCH: true when ARCH runs natively, or its binfmt entry is enabled with the F
# flag (the interpreter is opened at registration, so it also works inside containers). On
# failure prints the reason on stderr.
wf_emulation_ok() {
    local arch=$1 entry
    [ "$arch" = "$(wf_host_arch)" ] && return 0
    entry=/proc/sys/fs/binfmt_misc/$(wf_qemu_name "$arch")
    if [ ! -r "$entry" ]; then
        wf_say "no binfmt entry $entry: $arch emulation is not set up (run scripts/install-deps)"
        return 1
    fi
    if ! grep -qx enabled "$entry"; then
        wf_say "$entry is disabled (update-binfmts --enable $(wf_qemu_name "$arch"))"
        return 1
    fi
    if ! grep -q '^flags:.*F' "$entry"; then
        wf_say "$entry lacks the F flag: emulation would not work inside containers"
        return 1
    fi
    return 0
}

# wf_docker_pick: sets WF_DOCKER (client path) and WF_DOCKER_MODE (buildx|buildkit), exports
# DOCKER_BUILDKIT=1 for the buildkit mode. Prefers `docker buildx`; else a client whose
# built-in BuildKit `build` knows --output (Debian's docker.io 20.10 at /usr/bin/docker).
wf_docker_pick() {
    local c
    for c in docker /usr/bin/docker; do
        command -v "$c" >/dev/null 2>&1 || continue
        if "$c" buildx version >/dev/null 2>&1; then
            WF_DOCKER=$(command -v "$c"); WF_DOCKER_MODE=buildx
            return 0
        fi
    done
    for c in /usr/bin/docker docker; do
        command -v "$c" >/dev/null 2>&1 || continue
        # A client without buildx but with the legacy `build` has no --output; skip it.
        if DOCKER_BUILDKIT=1 "$c" build --help 2>/dev/null | grep -q -- '--output'; then
            WF_DOCKER=$(command -v "$c"); WF_DOCKER_MODE=buildkit
            export DOCKER_BUILDKIT=1
            return 0
        fi
    done
    return 1
}

# wf_apt_source PACKAGE SUITE DEST: downloads Debian's source package PACKAGE from SUITE into DEST
# (the .dsc, the upstream orig tarball, the Debian tarball) through a PRIVATE apt configuration:
# a temporary directory with its own sources.list (one deb-src line: the mirror the machine's
# bookworm sources use, with SUITE), lists and cache, passed with -o options. The machine's
# /etc/apt is never modified. apt checks the InRelease signature (debian-archive-keyring) and
# every file's hash against the signed Sources index; we check the .dsc's Checksums-Sha256 once
# more. Prints the path of the orig tarball on stdout.
wf_apt_source() {
    local pkg=$1 suite=$2 dest=$3 mirror tmp opts rc=0 dsc orig
    mirror=$(wf_apt_mirror bookworm) || { wf_say "no 'bookworm main' source in /etc/apt"; return 1; }
    tmp=$(mktemp -d /tmp/wf-apt.XXXXXX)
    mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/prefs.d" "$dest"
    echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" \
        >"$tmp/sources.list"
    opts=(-o "Dir::Etc::SourceList=$tmp/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache"
        -o Dir::Etc::Preferences=/dev/null -o "Dir::Etc::PreferencesParts=$tmp/prefs.d"
        -o APT::Sandbox::User=root)
    wf_say "fetching Debian's source package $pkg ($suite) from $mirror"
    if ! apt-get "${opts[@]}" -qq update >"$tmp/apt.log" 2>&1 ||
        ! (cd "$dest" && apt-get "${opts[@]}" -qq source --download-only "$pkg") >>"$tmp/apt.log" 2>&1; then
        tail -n 20 "$tmp/apt.log" >&2
        rc=1
    fi
    rm -rf "$tmp"
    [ $rc = 0 ] || return 1
    dsc=$(ls -t "$dest/${pkg}"_*.dsc | head -n1)
    # Checksums-Sha256 lines: " HASH SIZE NAME".
    awk '/^Checksums-Sha256:/ { on = 1; next } /^[^ ]/ { on = 0 } on && NF == 3 { print $1 "  " $3 }' \
        "$dsc" | (cd "$dest" && sha256sum -c --quiet -) >&2 ||
        { wf_say "$dsc: a file does not match its sha256"; return 1; }
    orig=$(awk '/^Checksums-Sha256:/ { on = 1; next } /^[^ ]/ { on = 0 }
        on && $3 ~ /\.orig\.tar\.[a-z0-9]+$/ { print $3; exit }' "$dsc")
    [ -n "$orig" ] || { wf_say "$dsc names no orig tarball"; return 1; }
    echo "$dest/$orig"
}

# wf_serve_dir DIR LOG: serves DIR over HTTP on a kernel-chosen loopback port in the background;
# sets WF_SERVE_PID (the caller stops it) and WF_SERVE_PORT, or stops it and returns 1 when it
# does not start.
wf_serve_dir() {
    python3 -u -m http.server --bind 127.0.0.1 --directory "$1" 0 >"$2" 2>&1 &
    WF_SERVE_PID=$!
    WF_SERVE_PORT=""
    for _ in $(seq 1 100); do
        WF_SERVE_PORT=$(sed -n 's/.* port \([0-9]*\) .*/\1/p' "$2" | head -n1)
        [ -n "$WF_SERVE_PORT" ] && return 0
        sleep 0.1
    done
    kill "$WF_SERVE_PID" 2>/dev/null || true
    return 1
}
