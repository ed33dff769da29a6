#!/usr/bin/env bash
# Builds the Python client's wheel (clients/python, maturin, release) and
# installs it into the project venv (.venv) and into the machine's python3.
#
#   scripts/python.sh build     build the wheel into target/wheels/ and install it (default)
#   scripts/python.sh test      build + install, then run the pytest suite
#   scripts/python.sh install   build + install only (same as build)
#   scripts/python.sh bench     build + install, then bench/python_bench.py
#   scripts/python.sh sleigh-bench  build + install, then bench/sleigh_bench.py
#                               (Sleigh vs multiprocessing, ProcessPoolExecutor,
#                               Dask from PyPI, and R's parallel when the R
#                               package is installed: scripts/r.sh install)
#
# Idempotent: the venv and its tools (maturin, pytest; redis, hiredis for
# bench) come from PyPI once. Set NWS_PY_SYSTEM_INSTALL=0 to skip installing
# into the machine's python3.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
action="${1:-build}"
venv="$root/.venv"
py="$venv/bin/python"
python_bin="${PYTHON:-python3}"

if [ ! -x "$py" ]; then
  echo "python: creating $venv"
  if ! "$python_bin" -m venv "$venv"; then
    rm -rf "$venv"
    echo "python: '$python_bin -m venv' failed; on Debian: apt-get install python3-venv" >&2
    exit 1
  fi
fi
need=()
"$py" -c "import maturin" 2>/dev/null || need+=("maturin>=1.16,<2")
"$py" -c "import pytest" 2>/dev/null || need+=(pytest)
# The wheel's one dependency (nws.sleigh); the wheel is installed --no-deps.
"$py" -c "import cloudpickle" 2>/dev/null || need+=("cloudpickle>=2.0")
if [ "$action" = bench ]; then
  "$py" -c "import redis, hiredis" 2>/dev/null || need+=(redis hiredis)
fi
if ((${#need[@]})); then
  echo "python: installing ${need[*]} into .venv"
  "$py" -m pip install -q --disable-pip-version-check "${need[@]}"
fi

# The tests and the benchmark start the release server.
cargo build --release -p nws-server

rm -f target/wheels/nws-*.whl
"$venv/bin/maturin" build --release --strip -q -m clients/python/Cargo.toml -o target/wheels
wheel=$(ls target/wheels/nws-*.whl)
"$py" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel"
if [ "${NWS_PY_SYSTEM_INSTALL:-1}" != 0 ] && [ "$(command -v "$python_bin")" != "$venv/bin/python" ]; then
  # So that `python3 -c "from nws.client import NetWorkSpace"` works after make test.
  sys_pip=("$python_bin" -m pip install -q --disable-pip-version-check --root-user-action=ignore --force-reinstall --no-deps)
  # A Debian python3 refuses (PEP 668) unless told; it is what was asked for here.
  "${sys_pip[@]}" "$wheel" 2>/dev/null || "${sys_pip[@]}" --break-system-packages "$wheel" \
    || echo "python: warning: could not install $wheel into $python_bin" >&2
  if ! "$python_bin" -c "import cloudpickle" 2>/dev/null; then
    cp_pip=("$python_bin" -m pip install -q --disable-pip-version-check --root-user-action=ignore "cloudpickle>=2.0")
    "${cp_pip[@]}" 2>/dev/null || "${cp_pip[@]}" --break-system-packages 2>/dev/null \
      || echo "python: warning: could not install cloudpickle into $python_bin (nws.sleigh needs it)" >&2
  fi
fi
echo "python: installed $(basename "$wheel")"

case "$action" in
  build|install) ;;
  test)
    cd clients/python
    "$py" -m pytest -q -p no:cacheprovider tests
    ;;
  bench)
    "$py" bench/python_bench.py "${@:2}"
    ;;
  sleigh-bench)
    "$py" bench/sleigh_bench.py "${@:2}"
    ;;
  *)
    echo "usage: scripts/python.sh [build|install|test|bench|sleigh-bench]" >&2
    exit 2
    ;;
esac
