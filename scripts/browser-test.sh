#!/usr/bin/env bash
# Browser tests of the web UI in headless Chromium (tests/browser): installs
# Debian's chromium when it is missing, playwright-core from npm (npm ci),
# builds the server and the Rust babelfish, makes sure the Python and R
# clients (with their babelfish) are installed, then runs the tests. They
# start their own server and translators on free ports and save screenshots
# to target/screenshots/.
#
#   scripts/browser-test.sh            everything
#   NWS_BROWSER_SKIP_R=1 scripts/browser-test.sh   without the R parts
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
need_apt=()
command -v chromium >/dev/null || [ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v node >/dev/null && command -v npm >/dev/null || need_apt+=(nodejs npm)
if ((${#need_apt[@]})); then
  echo "browser-test: installing ${need_apt[*]} from Debian"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${need_apt[@]}" fonts-dejavu-core >/dev/null
fi

# playwright-core only (no browser download: it drives /usr/bin/chromium).
(cd tests/browser && {
  [ -d node_modules/playwright-core ] && [ node_modules/.package-lock.json -nt package-lock.json ] \
    || PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
})

cargo build --release -q -p nws-server -p nws-babelfish

python_bin="${PYTHON:-python3}"
if ! "$python_bin" -c 'import nws.client, nws.babelfish' 2>/dev/null; then
  scripts/python.sh install
fi
if [ "${NWS_BROWSER_SKIP_R:-0}" != 1 ]; then
  if ! command -v Rscript >/dev/null \
     || ! Rscript -e 'quit(status = !requireNamespace("nws", quietly = TRUE) || !exists("babelfish", asNamespace("nws")))' 2>/dev/null; then
    scripts/r.sh install
  fi
fi

mkdir -p target/screenshots
cd tests/browser
PYTHON="$python_bin" NWS_SERVER_BIN="$root/target/release/nws-server" \
  NWS_BABELFISH_BIN="$root/target/release/nws-babelfish" \
  node --test --test-reporter=spec web.test.mjs
echo "browser-test: screenshots in target/screenshots/"
