#!/usr/bin/env python3
"""Sleigh against multiprocessing.Pool, ProcessPoolExecutor and Dask (and R's
parallel package), side by side in one run.

Starts an nws-server (target/release/nws-server) on a free loopback port,
runs each case for each contender, prints a table (and writes it to
bench/out/sleigh.md; --json FILE for the raw numbers), and stops the server.

    python3 bench/sleigh_bench.py [--tasks N] [--repeats K] [--no-dask] [--no-r] [--json FILE]

Cases (2 workers everywhere):
  dispatch   10,000 trivial tasks: tasks/s with one task per message
             (Sleigh chunkSize=1, Pool/Executor chunksize=1, Dask client.map)
  chunked    the same with automatic chunking (Sleigh's default; Pool's own
             default chunksize; Executor chunksize=len/8; Dask has none)
  startup    a 2-worker pool created and ready (one call answered), seconds
  primes     2,000 tasks of ~1 ms (counting primes in a range): speed-up
             over the same loop run serially in this process (serial and
             parallel runs alternate; median of the ratios)
  kill       200 tasks of 50 ms; one of the two worker processes is killed
             (SIGKILL) 1 s in: does the map finish, correctly, in how long
             (a contender that has not finished after --kill-timeout counts
             as hung)

Dask comes from PyPI (``pip install "dask[distributed]"``), installed into
the virtualenv running this script when missing (never outside a venv;
--no-dask skips it). The R cases run bench/sleigh_bench.R when Rscript and
the R package nws (with sleigh()) are installed.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import multiprocessing as mp
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from python_bench import start_nws  # noqa: E402  (one way to start the server)
OUT = ROOT / "bench" / "out"

TARGETS = {
    "dispatch": ">= 5k tasks/s (Sleigh)",
    "chunked": ">= 100k tasks/s (Sleigh)",
    "startup": "<= 0.5 s (Sleigh)",
    "primes": ">= 1.6x (Sleigh)",
    "kill": "completes correctly (Sleigh)",
}


# --- the work ----------------------------------------------------------------


def triv(x):
    return x


def count_primes(lo, width=60):
    """~1 ms of pure Python: the primes in [lo, lo + width)."""
    n = 0
    for x in range(max(lo, 2), lo + width):
        for p in range(2, int(x**0.5) + 1):
            if x % p == 0:
                break
        else:
            n += 1
    return n


def nap(x):
    time.sleep(0.05)
    return x * x


PRIMES_FROM = 100_000


def calibrate_primes() -> int:
    """A range width whose count takes about 1 ms here (at PRIMES_FROM)."""
    width = 60
    for _ in range(5):
        t = time.perf_counter()
        for lo in range(PRIMES_FROM, PRIMES_FROM + 200 * width, width):
            count_primes(lo, width)
        per = (time.perf_counter() - t) / 200
        width = max(10, int(width * 0.001 / per))
    return width


def load_average() -> str:
    try:
        return "load average %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return "load average unknown"


# --- contenders ------------------------------------------------------------------
#
# Each: start(n) -> handle; map(handle, f, xs, chunked) -> list; pids(handle);
# stop(handle). Timing covers map() only, except for startup.


class SleighC:
    name = "nws Sleigh"

    def start(self, n):
        from nws.sleigh import Sleigh

        s = Sleigh(workerCount=n)
        s.eachWorker(int)
        return s

    def map(self, s, f, xs, chunked):
        return s.eachElem(f, xs, chunkSize=None if chunked else 1)

    def pids(self, s):
        return [w["pid"] for w in s.workerInfo()]

    def stop(self, s):
        s.stop()


class PoolC:
    name = "multiprocessing.Pool"

    def start(self, n):
        p = mp.get_context("fork").Pool(n)
        p.apply(int)
        return p

    def map(self, p, f, xs, chunked):
        return p.map(f, xs) if chunked else p.map(f, xs, chunksize=1)

    def pids(self, p):
        return [w.pid for w in p._pool]

    def stop(self, p):
        p.terminate()
        p.join()


class ExecutorC:
    name = "ProcessPoolExecutor"

    def start(self, n):
        e = cf.ProcessPoolExecutor(n, mp_context=mp.get_context("fork"))
        e.submit(int).result()
        return e

    def map(self, e, f, xs, chunked):
        return list(e.map(f, xs, chunksize=max(1, len(xs) // 8) if chunked else 1))

    def pids(self, e):
        return list(e._processes)

    def stop(self, e):
        for p in list(getattr(e, "_processes", {}).values()):
            if p.is_alive():
                p.kill()
        e.shutdown(wait=False, cancel_futures=True)


class DaskC:
    name = "Dask distributed"

    def start(self, n):
        from dask.distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
        )
        client = Client(cluster)
        client.submit(int, pure=False).result()
        return (cluster, client)

    def map(self, h, f, xs, chunked):
        client = h[1]
        return client.gather(client.map(f, xs, pure=False))

    def pids(self, h):
        info = h[1].scheduler_info()["workers"]
        return [w.get("pid") for w in info.values()]

    def stop(self, h):
        cluster, client = h
        client.close()
        cluster.close()


# --- cases ---------------------------------------------------------------------------


def median_rate(c, h, f, xs, chunked, repeats):
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        r = c.map(h, f, xs, chunked)
        dt = time.perf_counter() - t
        assert list(r) == [f(x) for x in xs], "%s: wrong results" % c.name
        rates.append(len(xs) / dt)
    return statistics.median(rates)


def case_throughput(c, n_tasks, repeats) -> Dict[str, Any]:
    h = c.start(2)
    try:
        xs = list(range(n_tasks))
        c.map(h, triv, xs[:200], True)  # warm up
        out = {"dispatch": median_rate(c, h, triv, xs, False, repeats)}
        if not isinstance(c, DaskC):
            out["chunked"] = median_rate(c, h, triv, xs, True, repeats)
        return out
    finally:
        c.stop(h)


def case_startup(c, repeats) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        h = c.start(2)
        times.append(time.perf_counter() - t)
        c.stop(h)
    return statistics.median(times)


def case_primes(c, width, repeats) -> Dict[str, float]:
    """Serial and parallel runs alternate (a drifting machine load hits
    both); the speed-up is the median of the per-repeat ratios."""
    los = list(range(PRIMES_FROM, PRIMES_FROM + 2000 * width, width))
    f = _primes_fn(width)
    h = c.start(2)
    try:
        serial, par, ratios = [], [], []
        for _ in range(repeats):
            t = time.perf_counter()
            want = [f(lo) for lo in los]
            serial.append(time.perf_counter() - t)
            t = time.perf_counter()
            got = c.map(h, f, los, True)
            par.append(time.perf_counter() - t)
            assert list(got) == want, "%s: wrong prime counts" % c.name
            ratios.append(serial[-1] / par[-1])
        return {
            "serial_s": statistics.median(serial),
            "parallel_s": statistics.median(par),
            "speedup": statistics.median(ratios),
        }
    finally:
        c.stop(h)


_WIDTH = 60


def _primes_fn(width):
    global _WIDTH
    _WIDTH = width
    return primes_task


def primes_task(lo):
    return count_primes(lo, _WIDTH)


def case_kill(c, timeout) -> Dict[str, Any]:
    h = c.start(2)
    xs = list(range(200))
    want = [x * x for x in xs]
    pids = [p for p in c.pids(h) if p]
    result: Dict[str, Any] = {}

    def run():
        try:
            result["value"] = list(c.map(h, nap, xs, False))
        except BaseException as e:  # noqa: BLE001 - reported
            result["error"] = "%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")

    th = threading.Thread(target=run, daemon=True)
    t = time.perf_counter()
    th.start()
    time.sleep(1.0)
    if pids:
        try:
            os.kill(pids[0], signal.SIGKILL)
        except ProcessLookupError:
            pass
    th.join(timeout)
    dt = time.perf_counter() - t
    if th.is_alive():
        out = {"outcome": "hung (no result after %.0f s)" % timeout, "seconds": None}
        # A hung pool: end it without waiting.
        try:
            if isinstance(c, PoolC):
                h.terminate()
            else:
                threading.Thread(target=c.stop, args=(h,), daemon=True).start()
        except Exception:
            pass
        return out
    try:
        c.stop(h)
    except Exception:
        pass
    if "error" in result:
        # The exception's type and the start of its message.
        err = result["error"]
        return {"outcome": "failed: " + (err if len(err) <= 60 else err[:57] + "..."), "seconds": dt}
    ok = result.get("value") == want
    return {"outcome": "finished, correct" if ok else "finished, WRONG results", "seconds": dt}


# --- Dask and R ----------------------------------------------------------------------


def ensure_dask(allow: bool) -> bool:
    try:
        import dask.distributed  # noqa: F401

        return True
    except ImportError:
        pass
    if not allow:
        return False
    if sys.prefix == sys.base_prefix:
        print("bench: Dask missing and not in a virtualenv: skipping Dask", file=sys.stderr)
        return False
    print("bench: pip install 'dask[distributed]' into %s" % sys.prefix, file=sys.stderr)
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "dask[distributed]"]
    )
    if r.returncode != 0:
        return False
    try:
        import dask.distributed  # noqa: F401

        return True
    except ImportError:
        return False


def run_r(port: int, n_tasks: int, repeats: int, kill_timeout: float) -> Optional[Dict[str, Any]]:
    rscript = shutil.which("Rscript")
    script = ROOT / "bench" / "sleigh_bench.R"
    if not rscript or not script.exists():
        return None
    probe = subprocess.run(
        [rscript, "-e", "quit(status = !(requireNamespace('nws', quietly=TRUE) && exists('sleigh', asNamespace('nws'))))"],
        capture_output=True,
    )
    if probe.returncode != 0:
        print("bench: R package nws with sleigh() not installed: skipping R", file=sys.stderr)
        return None
    out = OUT / "sleigh_r.json"
    env = {**os.environ, "NWS_HOST": "127.0.0.1", "NWS_PORT": str(port)}
    r = subprocess.run(
        [rscript, str(script), "--tasks", str(n_tasks), "--repeats", str(repeats),
         "--kill-timeout", str(kill_timeout), "--json", str(out)],
        env=env,
        timeout=900,
    )
    if r.returncode != 0 or not out.exists():
        print("bench: the R part failed (exit %d)" % r.returncode, file=sys.stderr)
        return None
    return json.loads(out.read_text())


# --- report ----------------------------------------------------------------------------


def fmt_rate(x):
    if x is None:
        return ""
    return "%.1fk" % (x / 1000) if x >= 1000 else "%.0f" % x


def table(res: Dict[str, Dict[str, Any]], r: Optional[Dict[str, Any]], n_tasks: int) -> str:
    names = list(res)
    lines = []
    hdr = ["case"] + names + ["target"]
    rows = [
        ["%s trivial tasks/s, one task per message" % f"{n_tasks:,}"]
        + [fmt_rate(res[n].get("dispatch")) for n in names]
        + [TARGETS["dispatch"]],
        ["%s trivial tasks/s, chunked" % f"{n_tasks:,}"]
        + [fmt_rate(res[n].get("chunked")) if res[n].get("chunked") else "n/a" for n in names]
        + [TARGETS["chunked"]],
        ["2-worker start-up, s (median)"]
        + ["%.3f" % res[n]["startup"] if res[n].get("startup") is not None else "" for n in names]
        + [TARGETS["startup"]],
        ["2,000 x ~1 ms primes: speed-up over serial"]
        + ["%.2fx" % res[n]["primes"]["speedup"] if res[n].get("primes") else "" for n in names]
        + [TARGETS["primes"]],
        ["kill -9 one of 2 workers, 200 x 50 ms tasks"]
        + [
            "%s%s" % (res[n]["kill"]["outcome"], " in %.1f s" % res[n]["kill"]["seconds"] if res[n]["kill"].get("seconds") and "finished" in res[n]["kill"]["outcome"] else "")
            if res[n].get("kill") else ""
            for n in names
        ]
        + [TARGETS["kill"]],
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(hdr, *rows)]
    fmt = "| " + " | ".join("%%-%ds" % w for w in widths) + " |"
    lines.append(fmt % tuple(hdr))
    lines.append("| " + " | ".join("-" * w for w in widths) + " |")
    for row in rows:
        lines.append(fmt % tuple(row))
    if r:
        lines.append("")
        rh = ["case (R)"] + list(r["contenders"]) + ["target"]
        rr = []
        for key, label, target in (
            ("dispatch", "%s trivial tasks/s, one task per message" % f"{n_tasks:,}", ">= 5k tasks/s (sleigh)"),
            ("chunked", "%s trivial tasks/s, chunked" % f"{n_tasks:,}", ">= 100k tasks/s (sleigh)"),
        ):
            rr.append([label] + [fmt_rate(r["contenders"][c].get(key)) or "n/a" for c in r["contenders"]] + [target])
        rr.append(["2-worker start-up, s (median)"] + ["%.3f" % r["contenders"][c]["startup"] if r["contenders"][c].get("startup") is not None else "" for c in r["contenders"]] + ["<= 0.5 s (sleigh)"])
        rr.append(["2,000 x ~1 ms primes: speed-up over serial"] + ["%.2fx" % r["contenders"][c]["speedup"] if r["contenders"][c].get("speedup") else "" for c in r["contenders"]] + [">= 1.6x (sleigh)"])
        rr.append(["kill -9 one of 2 workers, 200 x 50 ms tasks"] + [r["contenders"][c].get("kill", "") for c in r["contenders"]] + ["completes correctly (sleigh)"])
        widths = [max(len(str(x)) for x in col) for col in zip(rh, *rr)]
        fmt = "| " + " | ".join("%%-%ds" % w for w in widths) + " |"
        lines.append(fmt % tuple(rh))
        lines.append("| " + " | ".join("-" * w for w in widths) + " |")
        for row in rr:
            lines.append(fmt % tuple(str(x) for x in row))
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, default=10_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--kill-timeout", type=float, default=30.0)
    p.add_argument("--no-dask", action="store_true")
    p.add_argument("--no-r", action="store_true")
    p.add_argument("--only", nargs="*", help="contenders: sleigh pool executor dask")
    p.add_argument("--json", help="write the raw numbers here")
    a = p.parse_args(argv)

    load_before = load_average()
    server, port = start_nws()
    os.environ["NWS_HOST"] = "127.0.0.1"
    os.environ["NWS_PORT"] = str(port)
    contenders: List[Any] = [SleighC(), PoolC(), ExecutorC()]
    if ensure_dask(not a.no_dask):
        contenders.append(DaskC())
    if a.only:
        keep = {"sleigh": SleighC, "pool": PoolC, "executor": ExecutorC, "dask": DaskC}
        contenders = [c for c in contenders if any(isinstance(c, keep[k]) for k in a.only if k in keep)]
    width = calibrate_primes()
    res: Dict[str, Dict[str, Any]] = {}
    r_res = None
    try:
        for c in contenders:
            print("bench: %s ..." % c.name, file=sys.stderr, flush=True)
            d: Dict[str, Any] = {}
            d.update(case_throughput(c, a.tasks, a.repeats))
            d["startup"] = case_startup(c, a.repeats)
            d["primes"] = case_primes(c, width, a.repeats)
            d["kill"] = case_kill(c, a.kill_timeout)
            res[c.name] = d
            print("bench: %s: %s" % (c.name, json.dumps(d, default=str)), file=sys.stderr, flush=True)
        if not a.no_r:
            r_res = run_r(port, a.tasks, a.repeats, a.kill_timeout)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
    md = table(res, r_res, a.tasks)
    header = "Sleigh benchmark, %s, nproc %d, Python %s, primes width %d; %s before, %s after\n\n" % (
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        os.cpu_count() or 0,
        sys.version.split()[0],
        width,
        load_before,
        load_average(),
    )
    print(header + md)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "sleigh.md").write_text(header + md + "\n")
    if a.json:
        Path(a.json).write_text(json.dumps({"python": res, "r": r_res, "primes_width": width}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
