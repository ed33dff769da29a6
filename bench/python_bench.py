#!/usr/bin/env python3
"""The Python NWS client against redis-py, side by side in one run.

Starts an nws-server (target/release/nws-server) and a redis-server on free
loopback ports, runs each benchmark for both, prints a table with the
ratio NWS / redis-py and the issue's target, and stops both servers.

    python3 bench/python_bench.py [--seconds S] [--big-mib N] [--json FILE] [--only NAME ...]

Benchmarks (16-byte bytes values unless said otherwise):
  pairs-1p   store+fetch pairs/s, 1 process     (redis-py: RPUSH + BLPOP)
  pairs-8p   store+fetch pairs/s, 8 processes, each on its own variable
  pingpong   round trips/s between two processes
             (NWS: store ping / fetch pong; redis-py: RPUSH + BLPOP both ways)
  big-store  one N MiB bytes value stored, GB/s   (redis-py: SET)
  big-fetch  the same value fetched, GB/s         (redis-py: GET)

Needs: the nws package (scripts/python.sh), redis + hiredis from PyPI,
redis-server from Debian. Latency on a small VM is bimodal (same vCPU or
not); each figure is the median of --repeats runs, alternating NWS and
redis-py so both see the same machine.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
PAYLOAD = b"0123456789abcdef"

TARGETS = {
    "pairs-1p": ("store+fetch pairs/s, 1 process", 1.5),
    "pairs-8p": ("store+fetch pairs/s, 8 processes", 1.5),
    "pingpong": ("ping-pong round trips/s, 2 processes", 2.0),
    "big-store": ("100 MiB store, GB/s", None),
    "big-fetch": ("100 MiB fetch, GB/s", None),
}
BIG_TARGET_GBS = 0.7


# --- servers ---------------------------------------------------------------


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_nws() -> tuple:
    """Starts target/release/nws-server on a free port; returns (process, port)."""
    binary = os.environ.get("NWS_SERVER_BIN") or str(ROOT / "target" / "release" / "nws-server")
    proc = subprocess.Popen(
        [binary, "--port", "0", "--web-port", "0", "--log-level", "warn,nws_server=info"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.search(r"listening on [\d.]+:(\d+)", re.sub(r"\x1b\[[0-9;]*m", "", line))
        if m:
            # Keep reading its log, so a chatty server never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, int(m.group(1))
    proc.kill()
    raise SystemExit("nws-server did not start (build it: cargo build --release -p nws-server)")


def start_redis() -> tuple:
    exe = shutil.which("redis-server")
    if not exe:
        raise SystemExit("redis-server not found (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--protected-mode", "no", "--proto-max-bulk-len", "1gb"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    r = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            r.ping()
            return proc, port
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("redis-server did not start")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- clients ---------------------------------------------------------------
# Each kernel returns a number of operations done in `seconds`.


def nws_pairs(port: int, seconds: float, var: str, ready=None, go=None) -> float:
    from nws.client import NetWorkSpace

    ws = NetWorkSpace("bench", "127.0.0.1", port, useUse=True)
    for _ in range(200):  # warm up
        ws.store(var, PAYLOAD)
        ws.fetch(var)
    if ready is not None:
        ready.wait()
    n = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for _ in range(50):
            ws.store(var, PAYLOAD)
            ws.fetch(var)
        n += 50
    ws.close()
    return n


def redis_pairs(port: int, seconds: float, key: str, ready=None, go=None) -> float:
    import redis

    r = redis.Redis(port=port)
    for _ in range(200):
        r.rpush(key, PAYLOAD)
        r.blpop(key)
    if ready is not None:
        ready.wait()
    n = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for _ in range(50):
            r.rpush(key, PAYLOAD)
            r.blpop(key)
        n += 50
    r.close()
    return n


def _pair_proc(kind: str, port: int, seconds: float, name: str, barrier, out) -> None:
    fn = nws_pairs if kind == "nws" else redis_pairs
    out.put(fn(port, seconds, name, barrier))


def many_pairs(kind: str, port: int, seconds: float, procs: int) -> float:
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(procs)
    out = ctx.Queue()
    ps = [ctx.Process(target=_pair_proc, args=(kind, port, seconds, "p%d" % i, barrier, out)) for i in range(procs)]
    for p in ps:
        p.start()
    total = sum(out.get(timeout=seconds + 120) for _ in ps)
    for p in ps:
        p.join()
    return total


def _nws_ponger(port: int, wsname: str) -> None:
    from nws.client import NetWorkSpace, NwsException

    ws = NetWorkSpace(wsname, "127.0.0.1", port, useUse=True)
    try:
        while True:
            v = ws.fetch("ping")
            if v == b"stop":
                break
            ws.store("pong", v)
    except NwsException:
        pass
    ws.close()


def nws_pingpong(port: int, seconds: float) -> float:
    from nws.client import NetWorkSpace

    wsname = "pp-%d" % os.getpid()
    ws = NetWorkSpace(wsname, "127.0.0.1", port)
    p = mp.get_context("fork").Process(target=_nws_ponger, args=(port, wsname))
    p.start()
    for _ in range(200):
        ws.store("ping", PAYLOAD)
        ws.fetch("pong")
    n = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for _ in range(50):
            ws.store("ping", PAYLOAD)
            ws.fetch("pong")
        n += 50
    ws.store("ping", b"stop")
    p.join()
    ws.close()
    return n


def _redis_ponger(port: int, key: str) -> None:
    import redis

    r = redis.Redis(port=port)
    while True:
        _, v = r.blpop(key + ":ping")
        if v == b"stop":
            break
        r.rpush(key + ":pong", v)


def redis_pingpong(port: int, seconds: float) -> float:
    import redis

    key = "pp-%d" % os.getpid()
    r = redis.Redis(port=port)
    p = mp.get_context("fork").Process(target=_redis_ponger, args=(port, key))
    p.start()
    for _ in range(200):
        r.rpush(key + ":ping", PAYLOAD)
        r.blpop(key + ":pong")
    n = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for _ in range(50):
            r.rpush(key + ":ping", PAYLOAD)
            r.blpop(key + ":pong")
        n += 50
    r.rpush(key + ":ping", b"stop")
    p.join()
    return n


def nws_big(port: int, data: bytes) -> tuple:
    from nws.client import NetWorkSpace

    ws = NetWorkSpace("bench-big", "127.0.0.1", port)
    t0 = time.perf_counter()
    ws.store("big", data)
    t1 = time.perf_counter()
    got = ws.fetch("big")
    t2 = time.perf_counter()
    assert len(got) == len(data)
    ws.close()
    return t1 - t0, t2 - t1


def redis_big(port: int, data: bytes) -> tuple:
    import redis

    r = redis.Redis(port=port)
    t0 = time.perf_counter()
    r.set("big", data)
    t1 = time.perf_counter()
    got = r.get("big")
    t2 = time.perf_counter()
    assert len(got) == len(data)
    r.delete("big")
    r.close()
    return t1 - t0, t2 - t1


# --- driver ----------------------------------------------------------------


def median_of(repeats: int, fn: Callable[[], float]) -> float:
    return statistics.median(fn() for _ in range(repeats))


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="Python NWS client vs redis-py")
    ap.add_argument("--seconds", type=float, default=2.0, help="duration of each rate run (default 2)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per figure; the median is shown (default 3)")
    ap.add_argument("--big-mib", type=int, default=100, help="size of the large value (default 100)")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--only", nargs="*", choices=list(TARGETS), help="run only these benchmarks")
    args = ap.parse_args(argv)
    chosen = args.only or list(TARGETS)

    nws_proc, nws_port = start_nws()
    redis_proc, redis_port = start_redis()
    results: Dict[str, Dict[str, float]] = {}
    try:
        s, rep = args.seconds, args.repeats
        pairs = []
        if "pairs-1p" in chosen:
            pairs.append(("pairs-1p", 1))
        if "pairs-8p" in chosen:
            pairs.append(("pairs-8p", 8))
        for name, procs in pairs:
            n_runs, r_runs = [], []
            for _ in range(rep):  # alternate, so both see the same machine
                n_runs.append(many_pairs("nws", nws_port, s, procs) / s)
                r_runs.append(many_pairs("redis", redis_port, s, procs) / s)
            results[name] = {"nws": statistics.median(n_runs), "redis": statistics.median(r_runs)}
        if "pingpong" in chosen:
            n_runs, r_runs = [], []
            for _ in range(rep):
                n_runs.append(nws_pingpong(nws_port, s) / s)
                r_runs.append(redis_pingpong(redis_port, s) / s)
            results["pingpong"] = {"nws": statistics.median(n_runs), "redis": statistics.median(r_runs)}
        if "big-store" in chosen or "big-fetch" in chosen:
            data = os.urandom(1 << 20) * args.big_mib
            gb = len(data) / 1e9
            n_st, n_fe, r_st, r_fe = [], [], [], []
            for _ in range(rep):
                a, b = nws_big(nws_port, data)
                n_st.append(gb / a)
                n_fe.append(gb / b)
                a, b = redis_big(redis_port, data)
                r_st.append(gb / a)
                r_fe.append(gb / b)
            results["big-store"] = {"nws": statistics.median(n_st), "redis": statistics.median(r_st)}
            results["big-fetch"] = {"nws": statistics.median(n_fe), "redis": statistics.median(r_fe)}
    finally:
        stop(nws_proc)
        stop(redis_proc)

    from nws import _nws

    print()
    print("Python NWS client vs redis-py (%s, %d vCPU, median of %d, busy-poll %d us)"
          % (sys.version.split()[0], os.cpu_count() or 0, args.repeats, _nws.get_spin()))
    print("%-40s %12s %12s %7s  %s" % ("benchmark", "nws", "redis-py", "ratio", "target"))
    for name in chosen:
        if name not in results:
            continue
        label, target = TARGETS[name]
        if name.startswith("big-"):
            label = label.replace("100 MiB", "%d MiB" % args.big_mib)
        n, r = results[name]["nws"], results[name]["redis"]
        ratio = n / r if r else float("nan")
        if target is not None:
            tgt = ">= %.1fx redis-py: %s" % (target, "met" if ratio >= target else "NOT met")
        else:
            tgt = ">= %.1f GB/s: %s" % (BIG_TARGET_GBS, "met" if n >= BIG_TARGET_GBS else "NOT met")
        fmt = "%12.2f" if name.startswith("big-") else "%12.0f"
        print(("%-40s " + fmt + " " + fmt + " %6.2fx  %s") % (label, n, r, ratio, tgt))
        results[name]["ratio"] = ratio
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
