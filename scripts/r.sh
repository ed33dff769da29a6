#!/usr/bin/env bash
# The R client (clients/r, R package nws): installs R from Debian when it is
# missing, builds and installs the package into R's default library (so
# `library(nws)` works in Rscript afterwards), and runs its tests or the
# benchmark.
#
#   scripts/r.sh test      install, then run the testthat suite (default);
#                          ends with the line `testthat: N passed, N failed, N skipped`
#   scripts/r.sh install   install only
#   scripts/r.sh bench     install, then bench/r_bench.R (extra arguments are passed on)
#
# The package's Rust part (clients/r/src/rust, outside the Cargo workspace)
# builds into the workspace's target directory (CARGO_TARGET_DIR, absolute),
# sharing its release artifacts. Idempotent: apt runs only for what is
# missing (R itself, testthat, processx).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
action="${1:-test}"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
case "$CARGO_TARGET_DIR" in
  /*) ;;
  *) CARGO_TARGET_DIR="$root/$CARGO_TARGET_DIR" ;;
esac

need_apt=()
command -v R >/dev/null && command -v Rscript >/dev/null || need_apt+=(r-base-dev)
if command -v Rscript >/dev/null; then
  Rscript -e 'quit(status = !requireNamespace("testthat", quietly = TRUE))' >/dev/null 2>&1 \
    || need_apt+=(r-cran-testthat)
  Rscript -e 'quit(status = !requireNamespace("processx", quietly = TRUE))' >/dev/null 2>&1 \
    || need_apt+=(r-cran-processx)
  # jsonlite: the conformance suite's R executor speaks JSON lines.
  Rscript -e 'quit(status = !requireNamespace("jsonlite", quietly = TRUE))' >/dev/null 2>&1 \
    || need_apt+=(r-cran-jsonlite)
else
  need_apt+=(r-cran-testthat r-cran-processx r-cran-jsonlite)
fi
if ((${#need_apt[@]})); then
  echo "r: installing ${need_apt[*]} from Debian"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${need_apt[@]}" >/dev/null
fi
echo "r: $(R --version | head -n1)"

# The tests and the benchmark start the release server.
cargo build --release -p nws-server

# Install from the package directory (a tarball would break the Rust
# crate's relative path dependency on clients/rust).
(cd clients/r && R CMD INSTALL --strip --no-multiarch . >"$CARGO_TARGET_DIR/r-install.log" 2>&1) || {
  cat "$CARGO_TARGET_DIR/r-install.log" >&2
  echo "r: R CMD INSTALL failed" >&2
  exit 1
}
# In-place build outputs (the shared object and the C object).
rm -f clients/r/src/*.o clients/r/src/*.so
echo "r: installed nws $(Rscript -e 'cat(as.character(packageVersion("nws")))')"

export NWS_ROOT="$root"
export NWS_SERVER_BIN="$CARGO_TARGET_DIR/release/nws-server"
case "$action" in
  install) ;;
  test)
    # A watchdog: a test that waits forever fails the run instead of hanging it.
    timeout --kill-after=10 "${NWS_R_TEST_TIMEOUT:-900}" Rscript clients/r/tests/run-tests.R "${@:2}"
    ;;
  bench)
    Rscript bench/r_bench.R "${@:2}"
    ;;
  *)
    echo "usage: scripts/r.sh [test|install|bench]" >&2
    exit 2
    ;;
esac
