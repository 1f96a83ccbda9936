#!/usr/bin/env bash
# Creates (or refreshes) the project's virtual environment in .venv.
#
# The DeepMind stack this project runs on only exists for Python 3.10:
# dm-launchpad publishes wheels up to cp310, and dm-acme 0.4.0 imports
# launchpad at import time. So the environment is always built with 3.10,
# from the fully pinned lock file, installed without dependency resolution
# (the lock is complete; see requirements/README.md for why --no-deps).
#
# Re-running is cheap: the install is skipped when the lock file and
# setup.py are unchanged since the last successful install.
#
# --gpu (`make venv-gpu`) also installs CUDA 12 for JAX on top, from
# requirements/lock-py310-cuda12.txt (jax[cuda12]==0.4.30 pinned whole),
# into the same .venv. A plain run accepts a venv that has it, so `make test`
# after `make venv-gpu` keeps the CUDA packages; a change to the base lock
# rebuilds without them (run `make venv-gpu` again). Where no GPU is, JAX
# then runs on the CPU (requirements/jax_cuda_fallback.pth).
set -euo pipefail

gpu=0
case "${1:-}" in
  "") ;;
  --gpu) gpu=1 ;;
  *) echo "error: unknown argument '${1}'; usage: $0 [--gpu]" >&2; exit 2 ;;
esac

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${repo_root}/.venv"
lock="${repo_root}/requirements/lock-py310.txt"
stamp="${venv}/.installed-from"
cuda_lock="${repo_root}/requirements/lock-py310-cuda12.txt"
cuda_stamp="${venv}/.installed-cuda-from"
# Lets JAX fall back to the CPU where no GPU is (read the file for why).
cuda_fallback="${repo_root}/requirements/jax_cuda_fallback.pth"

# The CUDA packages on top of a complete base install (--gpu only).
install_cuda() {
  local wanted_cuda start
  wanted_cuda="$(cat "${cuda_lock}" "${cuda_fallback}" | sha256sum | cut -d' ' -f1)"
  if [ -f "${cuda_stamp}" ] && [ "$(cat "${cuda_stamp}")" = "${wanted_cuda}" ]; then
    return 0
  fi
  start=$(date +%s)
  echo "Installing CUDA 12 for JAX from ${cuda_lock} ..." >&2
  rm -f "${cuda_stamp}"
  "${venv}/bin/python" -m pip install --quiet --no-deps --requirement "${cuda_lock}" 2>&1 \
    | grep -v '^WARNING: Location' >&2 || true
  cp "${cuda_fallback}" "$("${venv}/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/"
  "${venv}/bin/python" - <<'PY'
import importlib.util, sys
missing = [m for m in ("jax_plugins.xla_cuda12", "nvidia.cudnn", "nvidia.cublas")
           if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"error: the CUDA install is incomplete, these modules are missing: {missing}")
import jax  # Fails here, not in a program, if the backends do not start.
print(f"JAX {jax.__version__} runs on {jax.default_backend()}: {jax.devices()}", file=sys.stderr)
PY
  echo "${wanted_cuda}" > "${cuda_stamp}"
  echo "CUDA packages ready in $(( $(date +%s) - start )) s." >&2
}

is_python310() {
  [ -x "$1" ] || command -v "$1" >/dev/null 2>&1 || return 1
  "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' >/dev/null 2>&1
}

find_python310() {
  if is_python310 python3.10; then command -v python3.10; return 0; fi
  if command -v pyenv >/dev/null 2>&1; then
    local candidate
    for candidate in "$(pyenv root)"/versions/3.10.*/bin/python3.10; do
      if is_python310 "${candidate}"; then echo "${candidate}"; return 0; fi
    done
  fi
  return 1
}

wanted="$(cat "${lock}" "${repo_root}/setup.py" | sha256sum | cut -d' ' -f1)"
if [ -x "${venv}/bin/python" ] && [ -f "${stamp}" ] && [ "$(cat "${stamp}")" = "${wanted}" ]; then
  if [ "${gpu}" = 1 ]; then install_cuda; fi
  exit 0
fi

if ! python="$(find_python310)"; then
  cat >&2 <<'MSG'
error: Python 3.10 is required but was not found (looked for `python3.10` on
PATH and for pyenv's versions/3.10.*). dm-launchpad only ships wheels for
Python <= 3.10 and dm-acme 0.4.0 cannot be imported without launchpad, so the
project cannot run on a newer Python. Install 3.10 (e.g. `pyenv install 3.10.13`)
and run this command again.
MSG
  exit 1
fi

start=$(date +%s)
echo "Setting up ${venv} with ${python} ($("${python}" --version)) ..." >&2
rm -rf "${venv}"
"${python}" -m venv "${venv}"
# The pip that ships with 3.10.13 (23.0) is fine; keep it so the install needs
# nothing outside the lock.
"${venv}/bin/python" -m pip install --quiet --no-deps --requirement "${lock}" 2>&1 \
  | grep -v '^WARNING: Location' >&2 || true
"${venv}/bin/python" -m pip install --quiet --no-deps --no-build-isolation --editable "${repo_root}" 2>&1 \
  | grep -v '^WARNING: Location' >&2 || true
# A failed pip line above is filtered, not hidden: verify the result.
"${venv}/bin/python" - <<'PY'
import importlib, sys
missing = [m for m in ("acme", "launchpad", "reverb", "tensorflow", "jax", "haiku", "ale_py", "pytest", "agents")
           if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"error: the install is incomplete, these modules are missing: {missing}")
PY
echo "${wanted}" > "${stamp}"
echo "Environment ready in $(( $(date +%s) - start )) s." >&2
if [ "${gpu}" = 1 ]; then install_cuda; fi
