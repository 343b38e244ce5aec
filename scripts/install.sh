#!/usr/bin/env bash
# Installs vo_app and everything it needs into ./.venv (idempotent: safe to run twice).
#  - Debian packages for open3d (libusb-1.0-0, libgl1) and headless rendering (xvfb, libgl1-mesa-dri),
#    when running as root with apt-get; otherwise it says what is missing and goes on.
#  - torch pinned to 2.13.0 so that pip takes the local CPU wheel, never a CUDA build.
#  - the package itself, editable, with its C++/CUDA extension built by CMake.
set -euo pipefail
cd "$(dirname "$0")/.."

deb_pkgs="libusb-1.0-0 libgl1 libgl1-mesa-dri xvfb"
missing=""
for p in $deb_pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "install: apt-get install$missing" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  else
    echo "install: warning: missing Debian packages:$missing (the open3d viewer needs them; all else works)" >&2
  fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# pip, quietly: this machine's pip.conf lists local index folders that may be absent, and pip
# warns about each; those lines are dropped, everything else (errors included) goes through.
pip() {
  ./.venv/bin/python -m pip --disable-pip-version-check -q "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
pip install --upgrade "pip>=23" "setuptools>=64" wheel
pip install "torch==2.13.0"
pip install "pybind11>=2.12" "cmake>=3.18"
pip install --no-build-isolation -e ".[viewer,test]"
./.venv/bin/python -c "import vo_app._core as c; print('install: vo_app ready (C++ core built, CUDA kernels compiled: %s)' % c.cuda_compiled)" >&2
