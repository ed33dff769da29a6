#!/usr/bin/env bash
# Installs what `make test` (no argument) or `make bench` (argument `bench`)
# needs on a fresh Debian machine of this project's kind, and nothing that is
# already there. Idempotent.
set -euo pipefail
purpose="${1:-test}"

need_apt=()
if [ "$purpose" = bench ]; then
  command -v redis-server >/dev/null || need_apt+=(redis-server)
  command -v redis-benchmark >/dev/null || need_apt+=(redis-tools)
fi

if ((${#need_apt[@]})); then
  echo "setup: installing ${need_apt[*]} from Debian"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found; install Rust with rustup (https://rustup.rs)" >&2
  exit 1
fi
if command -v rustup >/dev/null; then
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt clippy || true
fi
echo "setup ($purpose): ok, $(cargo --version)"
