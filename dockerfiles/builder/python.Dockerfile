# Adds one CPython, compiled from source, to a builder image: BASE (for example
# wheelfarm/builder:bookworm-amd64-cp311) + /opt/python/<TAG>-<TAG>. Build it only through
# scripts/bootstrap-images, which fetches and verifies cpython.tar.xz (Debian's source package of
# that Python, i.e. the upstream tarball) and passes --platform so the result records the right
# architecture. No PGO and no test suite: about 6 minutes on 2 cores natively, far longer under
# emulation (see dockerfiles/README.md).
ARG BASE
FROM ${BASE}
ARG TAG
COPY cpython.tar.xz build-cpython.sh /tmp/cpython/
RUN sh -e /tmp/cpython/build-cpython.sh "$TAG" /tmp/cpython/cpython.tar.xz && rm -rf /tmp/cpython
