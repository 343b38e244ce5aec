#!/usr/bin/env bash
# Installs vo_app and everything it needs into ./.venv (idempotent: safe to run twice).
#  - Debian packages for open3d (libusb-1.0-0, libgl1) and headless rendering (xvfb, libgl1-mesa-dri),
#    when running as root with apt-get; otherwise it says what is missing and goes on.
#  - torch, one of two ways (VO_TORCH):
#      cpu     torch pinned to 2.13.0 so that pip takes the local CPU wheel, never a CUDA build.
#      system  the CUDA build of torch that $PYTHON already has: the venv is created with
#              --system-site-packages and no torch is installed into it; the CUDA kernels are
#              compiled for the visible GPU (VO_CUDA_ARCHS = its compute capability, unless set).
#      auto    (the default) system when `$PYTHON -c 'import torch; assert torch.cuda.is_available()'`
#              succeeds, else cpu.
#  - VO_WHEELS=DIR: pip installs from the wheels in DIR only (--no-index --find-links DIR), for a
#    machine without network (README, "Installation").
#  - the package itself, editable, with its C++/CUDA extension built by CMake.
#  - VO_CLUSTER=1: also the extra vo_app[cluster] (Ray, for vo-batch --ray; .ci/run sets it).
#
# Usage: bash scripts/install.sh [--dry-run]
#   --dry-run  print the plan (the decisions and the commands) and change nothing.
# Environment: PYTHON (default python3), VO_TORCH (auto|cpu|system), VO_WHEELS, VO_CUDA_ARCHS, VO_NO_CUDA, VO_CLUSTER.
set -euo pipefail
# VO_WHEELS as given, relative to where the script is called from (it then works from the repository root)
if [ -n "${VO_WHEELS:-}" ] && [ -d "$VO_WHEELS" ]; then VO_WHEELS=$(cd "$VO_WHEELS" && pwd); fi
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$0")/.."

dry_run=0
for arg in "$@"; do
  case "$arg" in
    --dry-run|-n) dry_run=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$self" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "install: error: unknown argument $arg; the only option is --dry-run" >&2; exit 2 ;;
  esac
done

die() { echo "install: error: $*" >&2; exit 2; }
say() { echo "install: $*" >&2; }

# ---------------------------------------------------------------- the plan (no side effects)
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null 2>&1 || die "$PY not found; set PYTHON to a Python >= 3.10"

case "${VO_TORCH:-auto}" in
  cpu) torch_mode=cpu; torch_why="VO_TORCH=cpu" ;;
  system) torch_mode=system; torch_why="VO_TORCH=system" ;;
  auto)
    if "$PY" -c 'import torch; assert torch.cuda.is_available()' >/dev/null 2>&1; then
      torch_mode=system; torch_why="$PY has a CUDA build of torch that sees a GPU (VO_TORCH=cpu overrides)"
    else
      torch_mode=cpu; torch_why="$PY has no CUDA build of torch that sees a GPU"
    fi ;;
  *) die "VO_TORCH=${VO_TORCH} is not one of auto, cpu, system" ;;
esac

venv_flags=()
torch_info=""
cuda_archs="${VO_CUDA_ARCHS:-}"
archs_why="from VO_CUDA_ARCHS"
if [ "$torch_mode" = system ]; then
  venv_flags=(--system-site-packages)
  torch_info=$("$PY" -c 'import torch; print("torch %s, CUDA %s, GPU visible: %s" % (torch.__version__, torch.version.cuda, torch.cuda.is_available()))' 2>/dev/null) \
    || die "VO_TORCH=system but $PY cannot import torch; install a CUDA build of torch for $PY, or set PYTHON to the Python that has one, or use VO_TORCH=cpu"
  if [ "$("$PY" -c 'import sys; print(int(sys.prefix != sys.base_prefix))')" = 1 ]; then
    say "warning: $PY is itself a virtual environment: --system-site-packages exposes its base interpreter's packages, not its own (set PYTHON to the base Python that has torch)"
  fi
  if [ -z "$cuda_archs" ]; then
    # Compute capabilities of the visible GPUs, e.g. "90" (H100) or "80;86" (two kinds).
    cuda_archs=$("$PY" -c 'import torch; print(";".join(sorted({"%d%d" % torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())})))' 2>/dev/null || true)
    archs_why="compute capability of the visible GPU (torch.cuda.get_device_capability)"
    if [ -z "$cuda_archs" ] && command -v nvidia-smi >/dev/null 2>&1; then
      cuda_archs=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | tr -d ' .' | sort -u | paste -sd ';' || true)
      archs_why="compute capability of the visible GPU (nvidia-smi)"
    fi
    [ -n "$cuda_archs" ] || archs_why="no GPU found: CMake's default list"
  fi
fi

nvcc=$(command -v nvcc || true)
if [ "$torch_mode" = system ] && [ -z "$nvcc" ] && [ -z "${CUDACXX:-}" ] && [ -x /usr/local/cuda/bin/nvcc ]; then
  nvcc=/usr/local/cuda/bin/nvcc
  export CUDACXX=$nvcc  # CMake looks for nvcc on PATH; this one is not
fi
[ -n "${CUDACXX:-}" ] && nvcc=$CUDACXX
if [ "${VO_NO_CUDA:-}" = 1 ]; then
  kernels="CPU-only core (VO_NO_CUDA=1)"
elif [ -z "$nvcc" ]; then
  kernels="CPU-only core (no nvcc found)"
elif [ -n "$cuda_archs" ]; then
  kernels="CPU core + CUDA kernels for VO_CUDA_ARCHS=$cuda_archs ($archs_why), nvcc $nvcc"
else
  kernels="CPU core + CUDA kernels for CMake's default architectures (80-real;86-real;89-real;90), nvcc $nvcc"
fi

extras="viewer,test"
case "${VO_CLUSTER:-0}" in
  1) extras="$extras,cluster" ;;
  0|"") ;;
  *) die "VO_CLUSTER=${VO_CLUSTER} is not 0 or 1" ;;
esac

pip_src=()
if [ -n "${VO_WHEELS:-}" ]; then
  [ -d "$VO_WHEELS" ] || die "VO_WHEELS=$VO_WHEELS is not a folder; point it at the folder of downloaded wheels (README, \"Installation\")"
  pip_src=(--no-index --find-links "$VO_WHEELS")
fi

venv_state="to create"
if [ -x .venv/bin/python ]; then
  venv_state="exists"
  has_sys=$(sed -n 's/^include-system-site-packages *= *//p' .venv/pyvenv.cfg 2>/dev/null || true)
  if [ "$torch_mode" = system ] && [ "$has_sys" != true ]; then
    die ".venv exists without --system-site-packages, so it cannot see the system torch; remove it (rm -rf .venv) and run again, or use VO_TORCH=cpu"
  fi
  if [ "$torch_mode" = cpu ] && [ "$has_sys" = true ]; then
    say "note: .venv sees the system site-packages; the CPU torch installed into it takes precedence there"
  fi
fi

# Dependencies from pyproject.toml (with the viewer and test extras) except torch: the system
# mode installs them with the package installed --no-deps, so pip never replaces the system torch.
deps_without_torch() {
  "$1" - "$extras" <<'EOF'
import re, sys
try:
    import tomllib
except ImportError:  # Python 3.10: pip's vendored copy
    from pip._vendor import tomli as tomllib
with open("pyproject.toml", "rb") as f:
    proj = tomllib.load(f)["project"]
reqs = list(proj["dependencies"])
for extra in sys.argv[1].split(","):
    reqs += proj["optional-dependencies"][extra]
print("\n".join(r for r in reqs if re.split(r"[\s<>=!~\[;(]", r, maxsplit=1)[0].lower() != "torch"))
EOF
}

# ---------------------------------------------------------------- doing it (or printing it)
show() {  # the command as one would type it (arguments with shell characters in double quotes)
  local a out=()
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./=:,+@-]+$ ]]; then out+=("$a"); else out+=("\"$a\""); fi
  done
  echo "${out[*]}"
}
run() {
  if [ "$dry_run" = 1 ]; then echo "  $(show "$@")"; else "$@"; fi
}
# pip, quietly: this machine's pip.conf lists local index folders that may be absent, and pip
# warns about each; those lines are dropped, everything else (errors included) goes through.
pip() {
  if [ "$dry_run" = 1 ]; then echo "  $(show pip "$1" ${pip_src[@]+"${pip_src[@]}"} "${@:2}")"; return; fi
  ./.venv/bin/python -m pip --disable-pip-version-check -q "$1" ${pip_src[@]+"${pip_src[@]}"} "${@:2}" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

if [ "$dry_run" = 1 ]; then
  echo "install: plan (dry run: nothing is changed)"
  echo "  python: $PY ($("$PY" -c 'import sys; print(sys.version.split()[0])'))"
  echo "  torch: $torch_mode ($torch_why)${torch_info:+; $torch_info}"
  echo "  venv: .venv ($venv_state)${venv_flags[*]:+, ${venv_flags[*]}}"
  echo "  core: $kernels"
  echo "  packages from: ${VO_WHEELS:-the configured package indexes}"
  echo "  extras: $extras"
  echo "install: commands"
fi

deb_pkgs="libusb-1.0-0 libgl1 libgl1-mesa-dri xvfb"
missing=""
for p in $deb_pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    if [ "$dry_run" = 1 ]; then
      echo "  apt-get install -y$missing"
    else
      say "apt-get install$missing"
      apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    fi
  else
    say "warning: missing Debian packages:$missing (the open3d viewer needs them; all else works)"
  fi
fi

if [ "$venv_state" != exists ]; then
  run "$PY" -m venv ${venv_flags[@]+"${venv_flags[@]}"} .venv
fi
pip install --upgrade "pip>=23" "setuptools>=64" wheel
if [ "$torch_mode" = cpu ]; then
  pip install "torch==2.13.0"
fi
pip install "pybind11>=2.12" "cmake>=3.18"
if [ -n "$cuda_archs" ]; then
  export VO_CUDA_ARCHS="$cuda_archs"  # read by CMakeLists.txt when it compiles the CUDA kernels
  if [ "$dry_run" = 1 ]; then echo "  export VO_CUDA_ARCHS=\"$cuda_archs\""; fi
fi
if [ "$torch_mode" = cpu ]; then
  pip install --no-build-isolation -e ".[$extras]"
else
  # The package pins torch==2.13.0 (the CPU wheel): installed --no-deps, with its other
  # dependencies listed here, so that pip keeps the system torch.
  if [ "$dry_run" = 1 ]; then
    mapfile -t deps < <(deps_without_torch "$PY" 2>/dev/null || true)
  else
    ./.venv/bin/python -c 'import torch' 2>/dev/null \
      || die ".venv/bin/python cannot import the torch of $PY (is $PY itself a virtual environment?); set PYTHON to the Python that has torch"
    mapfile -t deps < <(deps_without_torch ./.venv/bin/python)
  fi
  if [ "${#deps[@]}" -gt 0 ]; then
    pip install "${deps[@]}"
  else
    echo "  pip install <the dependencies of pyproject.toml with the extras $extras, except torch>"
  fi
  pip install --no-build-isolation --no-deps -e .
fi
if [ "$dry_run" = 1 ]; then exit 0; fi
if [ "$torch_mode" = system ]; then
  ./.venv/bin/python -c "import torch; print('install: torch %s from %s (CUDA %s, GPU visible: %s)' % (torch.__version__, torch.__file__.rsplit('/', 2)[0], torch.version.cuda, torch.cuda.is_available()))" >&2
fi
./.venv/bin/python -c "import vo_app._core as c; print('install: vo_app ready (C++ core built, CUDA kernels compiled: %s)' % c.cuda_compiled)" >&2
