#!/usr/bin/env bash
# Starts nws-server (clients on 127.0.0.1:$PORT, web UI on :$WEB_PORT) and,
# beside it, the babelfish translators the web UI uses to show values:
# Python (when `python3 -c 'import nws.client'` works), R (when the R
# package nws is installed) and Rust (built here). Ctrl-C stops them all.
#
#   PORT=8765 WEB_PORT=8766 scripts/run.sh [extra nws-server arguments]
#
# Install the clients first for their translators: `make install` (Python),
# `scripts/r.sh install` (R).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-8765}"
WEB_PORT="${WEB_PORT:-8766}"
BIND="${BIND:-127.0.0.1}"
PYTHON="${PYTHON:-python3}"

cargo build --release -q -p nws-server -p nws-babelfish

pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

./target/release/nws-server --bind "$BIND" --port "$PORT" --web-port "$WEB_PORT" "$@" &
server=$!
pids+=("$server")

# Wait until the server accepts connections (the translators would retry
# anyway; this keeps their first log line quiet).
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
  kill -0 "$server" 2>/dev/null || { wait "$server"; exit 1; }
  sleep 0.05
done

started=()
if "$PYTHON" -c 'import nws.client, nws.babelfish' 2>/dev/null; then
  "$PYTHON" -m nws.babelfish --host 127.0.0.1 --port "$PORT" &
  pids+=("$!"); started+=(Python)
else
  echo "run: Python babelfish not started (install the Python client: make install)" >&2
fi
if command -v Rscript >/dev/null && Rscript -e 'quit(status = !requireNamespace("nws", quietly = TRUE) || !exists("babelfish", asNamespace("nws")))' 2>/dev/null; then
  Rscript -e "nws::babelfish('127.0.0.1', $PORT)" &
  pids+=("$!"); started+=(R)
else
  echo "run: R babelfish not started (install the R package: scripts/r.sh install)" >&2
fi
./target/release/nws-babelfish --host 127.0.0.1 --port "$PORT" &
pids+=("$!"); started+=(Rust)

echo "nws-server: clients connect to 127.0.0.1:$PORT; web UI on http://127.0.0.1:$WEB_PORT" \
     "(translators: ${started[*]}); Ctrl-C stops everything"
wait "$server"
