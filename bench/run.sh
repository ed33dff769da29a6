#!/usr/bin/env bash
# make bench: NetWorkSpaces side by side with Redis on this machine.
#
# Builds nws-server and nws-bench (release), starts one nws-server and one
# redis-server (no persistence) on free loopback ports, runs `nws-bench run`
# (which pins the servers and its measuring children with taskset, and
# starts fresh servers for the startup and large-value cases), prints the
# table and writes it to bench/out/latest.md. Both servers are stopped on
# exit, Ctrl-C included.
#
# Environment: BENCH_SECS (seconds measured per run, default 1.0),
# BENCH_ARGS (extra arguments for `nws-bench run`, e.g. "--many 500").
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out="$root/bench/out"
mkdir -p "$out"

for tool in redis-server redis-benchmark taskset; do
  command -v "$tool" >/dev/null || {
    echo "bench: $tool not found (make setup-bench installs it)" >&2
    exit 1
  }
done

# 1,000 sessions on each side need well over 1,000 descriptors.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "bench: open files limit $(ulimit -n)"

echo "bench: building release binaries (nws-server, nws-bench)"
cargo build --release --quiet -p nws-server -p nws-bench
bin="${CARGO_TARGET_DIR:-$root/target}/release"

pids=()
cleanup() {
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    wait "$p" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

NO_COLOR=1 "$bin/nws-server" --bind 127.0.0.1 --port 0 --log-level warn,nws_server=info \
  >"$out/nws-server.log" 2>&1 &
nws_pid=$!
pids+=("$nws_pid")
nws_port=""
for _ in $(seq 1 200); do
  nws_port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$out/nws-server.log" | head -n1)
  [ -n "$nws_port" ] && break
  kill -0 "$nws_pid" 2>/dev/null || { cat "$out/nws-server.log" >&2; exit 1; }
  sleep 0.05
done
[ -n "$nws_port" ] || { echo "bench: nws-server did not report its port" >&2; exit 1; }

redis_port=$("$bin/nws-bench" free-port)
redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
  --daemonize no --loglevel warning >"$out/redis-server.log" 2>&1 &
redis_pid=$!
pids+=("$redis_pid")
for _ in $(seq 1 200); do
  redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1 && break
  kill -0 "$redis_pid" 2>/dev/null || { cat "$out/redis-server.log" >&2; exit 1; }
  sleep 0.05
done

echo "bench: nws-server pid $nws_pid on 127.0.0.1:$nws_port, redis-server $(redis-server --version | awk '{print $3}') pid $redis_pid on 127.0.0.1:$redis_port"
# shellcheck disable=SC2086
"$bin/nws-bench" run \
  --nws-addr "127.0.0.1:$nws_port" --nws-pid "$nws_pid" \
  --redis-addr "127.0.0.1:$redis_port" --redis-pid "$redis_pid" \
  --nws-bin "$bin/nws-server" --redis-bin "$(command -v redis-server)" \
  --redis-benchmark "$(command -v redis-benchmark)" \
  --secs "${BENCH_SECS:-1.0}" --out "$out/latest.md" ${BENCH_ARGS:-}
