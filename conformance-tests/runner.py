"""The NWS conformance runner (spec cases in conformance-tests/cases/*.yaml).

Usage (through the ``run`` script next to this file)::

    conformance-tests/run                 the whole matrix
    conformance-tests/run --coverage      spec anchors and the cases citing them
    conformance-tests/run -k fetch/ -l python -j 8 -v

Each case is run once with every session in each language, and a case with
two or more sessions also once per ordered language pair (the first session
in one language, the others in the other; the three same-language pairs are
the all-in-one-language runs). A run starts one executor process per session
(``executors/<lang>``), each a real client session on a real server, drives
the steps and checks every answer. Executors are reused between runs (a
``reset`` step closes the session; the next run connects a new one), and
runs share one server unless a case asks for its own; every run names its
workspaces with a fresh prefix, so runs never see each other's state.

Python 3 standard library plus PyYAML. See README.md for the case format
and the executor protocol.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import fnmatch
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SPEC = os.path.join(ROOT, "spec")
CASES = os.path.join(HERE, "cases")
LANGS = ["rust", "python", "r"]
CODEC = {"rust": "rust/cbor", "python": "python/pickle", "r": "r/serialize"}
INLINE_LIMIT = 4096
REASONS = [
    "NO_SUCH_WORKSPACE", "MODE_CONFLICT", "INVALID_NAME", "INVALID_MODE", "VARIABLE_DELETED",
    "TIMED_OUT", "TOO_LARGE", "MEMORY_LIMIT", "ITERATOR_MODE", "INVALID_ARGUMENT", "CANCELLED",
    "SHUTTING_DOWN", "PROTOCOL_ERROR", "INVALID_CURSOR", "INTERNAL",
]
# spec/errors.md#client-mapping: the Python exception class for each reason.
PY_CLASS = {
    "NO_SUCH_WORKSPACE": "NwsNoWorkSpaceException",
    "MODE_CONFLICT": "NwsDeclarationFailedException",
    "INVALID_MODE": "NwsDeclarationFailedException",
    "TIMED_OUT": "NwsTimeoutException",
    "SHUTTING_DOWN": "NwsConnectionDroppedException",
    "PROTOCOL_ERROR": "NwsConnectionDroppedException",
}

EXECUTOR_CMD = {
    "rust": [os.path.join(ROOT, "target", "release", "nws-conformance")],
    "python": [
        os.environ.get("NWS_CONFORMANCE_PYTHON")
        or (os.path.join(ROOT, ".venv", "bin", "python")
            if os.path.exists(os.path.join(ROOT, ".venv", "bin", "python")) else sys.executable),
        os.path.join(HERE, "executors", "python", "executor.py"),
    ],
    "r": ["Rscript", "--vanilla", os.path.join(HERE, "executors", "r", "executor.R")],
}
SERVER_BIN = os.environ.get("NWS_SERVER_BIN") or os.path.join(ROOT, "target", "release", "nws-server")


class Fail(Exception):
    """A run's answer differed from the case's expectation."""


class NotApplicable(Exception):
    pass


# --- a small JSON Schema validator (the subset schema.json uses) --------------


def validate(inst: Any, schema: Dict[str, Any], root: Dict[str, Any], path: str = "$") -> List[str]:
    errs: List[str] = []
    if "$ref" in schema:
        ref = schema["$ref"]
        node: Any = root
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        return validate(inst, node, root, path)
    t = schema.get("type")
    if t is not None:
        types = t if isinstance(t, list) else [t]
        ok = False
        for ty in types:
            if ty == "object" and isinstance(inst, dict):
                ok = True
            elif ty == "array" and isinstance(inst, list):
                ok = True
            elif ty == "string" and isinstance(inst, str):
                ok = True
            elif ty == "integer" and isinstance(inst, int) and not isinstance(inst, bool):
                ok = True
            elif ty == "number" and isinstance(inst, (int, float)) and not isinstance(inst, bool):
                ok = True
            elif ty == "boolean" and isinstance(inst, bool):
                ok = True
            elif ty == "null" and inst is None:
                ok = True
        if not ok:
            return ["%s: expected %s, got %r" % (path, "/".join(types), inst)]
    if "enum" in schema and inst not in schema["enum"]:
        errs.append("%s: %r is not one of %s" % (path, inst, schema["enum"]))
    if "const" in schema and inst != schema["const"]:
        errs.append("%s: must be %r" % (path, schema["const"]))
    if isinstance(inst, str):
        if "pattern" in schema and not re.search(schema["pattern"], inst):
            errs.append("%s: %r does not match %s" % (path, inst, schema["pattern"]))
        if len(inst) < schema.get("minLength", 0):
            errs.append("%s: too short" % path)
    if isinstance(inst, (int, float)) and not isinstance(inst, bool):
        if "minimum" in schema and inst < schema["minimum"]:
            errs.append("%s: below %s" % (path, schema["minimum"]))
    if isinstance(inst, list):
        if len(inst) < schema.get("minItems", 0):
            errs.append("%s: fewer than %d items" % (path, schema["minItems"]))
        if "items" in schema:
            for i, x in enumerate(inst):
                errs += validate(x, schema["items"], root, "%s[%d]" % (path, i))
    if isinstance(inst, dict):
        props = schema.get("properties", {})
        for k in schema.get("required", []):
            if k not in inst:
                errs.append("%s: missing %r" % (path, k))
        for k, v in inst.items():
            if k in props:
                errs += validate(v, props[k], root, "%s.%s" % (path, k))
            else:
                ap = schema.get("additionalProperties", True)
                if ap is False:
                    errs.append("%s: unexpected key %r" % (path, k))
                elif isinstance(ap, dict):
                    errs += validate(v, ap, root, "%s.%s" % (path, k))
        if "minProperties" in schema and len(inst) < schema["minProperties"]:
            errs.append("%s: empty" % path)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            results = [validate(inst, s, root, path) for s in schema[key]]
            good = sum(1 for r in results if not r)
            if good == 0:
                best = min(results, key=len)
                errs.append("%s: matches none of %s (closest: %s)" % (path, key, "; ".join(best)))
            elif key == "oneOf" and good > 1:
                errs.append("%s: matches more than one of oneOf" % path)
    if "allOf" in schema:
        for s in schema["allOf"]:
            errs += validate(inst, s, root, path)
    return errs


# --- spec anchors --------------------------------------------------------------


def spec_anchors() -> List[str]:
    """Every citable anchor, in file order (anchors inside code fences are examples)."""
    out = []
    files = sorted(f for f in os.listdir(SPEC) if f.endswith(".md"))
    files.sort(key=lambda f: (f != "README.md", f))
    for f in files:
        fenced = False
        with open(os.path.join(SPEC, f), encoding="utf-8") as fh:
            for line in fh:
                if line.lstrip().startswith("```"):
                    fenced = not fenced
                    continue
                if fenced:
                    continue
                for m in re.finditer(r'<a id="([^"]+)"></a>', line):
                    out.append("spec/%s#%s" % (f, m.group(1)))
    return out


# --- loading cases ---------------------------------------------------------------


def load_cases() -> List[Dict[str, Any]]:
    with open(os.path.join(HERE, "schema.json"), encoding="utf-8") as fh:
        schema = json.load(fh)
    anchors = set(spec_anchors())
    cases: List[Dict[str, Any]] = []
    problems: List[str] = []
    for fn in sorted(os.listdir(CASES)):
        if not fn.endswith((".yaml", ".yml")):
            continue
        with open(os.path.join(CASES, fn), encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
        errs = validate(doc, schema, schema)
        if errs:
            problems += ["%s: %s" % (fn, e) for e in errs]
            continue
        for c in doc["cases"]:
            c["_file"] = fn
            for a in c["cites"]:
                if a not in anchors:
                    problems.append("%s: %s cites unknown anchor %s" % (fn, c["name"], a))
            cases.append(c)
    names = collections.Counter(c["name"] for c in cases)
    problems += ["duplicate case name %s" % n for n, k in names.items() if k > 1]
    for c in cases:
        try:
            session_names(c)
            analyse(c)
        except ValueError as e:
            problems.append("%s: %s: %s" % (c["_file"], c["name"], e))
    if problems:
        raise SystemExit("conformance: invalid cases:\n  " + "\n  ".join(problems))
    return cases


def session_names(case: Dict[str, Any]) -> List[str]:
    out = []
    for s in case["sessions"]:
        out.append(s if isinstance(s, str) else s["name"])
    return out


def _strings(x: Any) -> List[str]:
    if isinstance(x, str):
        return [x]
    if isinstance(x, dict):
        return [s for v in list(x.values()) + list(x.keys()) for s in _strings(v)]
    if isinstance(x, list):
        return [s for v in x for s in _strings(v)]
    return []


def analyse(case: Dict[str, Any]) -> None:
    """Derives each session's required capabilities and the jobs to run on
    Python's main thread (those cancelled); checks job references."""
    names = session_names(case)
    req: Dict[str, set] = {n: set() for n in names}
    for s in case["sessions"]:
        if isinstance(s, dict) and s.get("label") is not None:
            req[s["name"]].add("hello_label")
    for n, caps in (case.get("requires") or {}).items():
        if n not in req:
            raise ValueError("requires names unknown session %s" % n)
        req[n].update(caps)
    outstanding: Dict[str, set] = {n: set() for n in names}
    job_session: Dict[str, str] = {}
    cancelled = set()
    for i, st in enumerate(case["steps"]):
        if "s" in st:
            s = st["s"]
            if s not in req:
                raise ValueError("step %d: unknown session %s" % (i + 1, s))
            if outstanding[s]:
                req[s].add("concurrent")
            op = st["op"]
            if op in ("fetch_leased", "ack", "release"):
                req[s].add("lease")
            if op == "iter" and st.get("timeout_ms") is not None:
                req[s].add("iter_timeout")
            if op == "server_info":
                req[s].add("server_info")
            if op == "handle":
                req[s].add("handle_without_open")
            if any("\x00" in x for x in _strings(st)):
                req[s].add("nul_strings")
            if "job" in st:
                if st["job"] in job_session:
                    raise ValueError("step %d: job %s started twice" % (i + 1, st["job"]))
                job_session[st["job"]] = s
                outstanding[s].add(st["job"])
        elif "await" in st or "blocked" in st or "cancel" in st:
            j = st.get("await") or st.get("blocked") or st.get("cancel")
            if j not in job_session:
                raise ValueError("step %d: unknown job %s" % (i + 1, j))
            if "await" in st:
                outstanding[job_session[j]].discard(j)
            if "cancel" in st:
                req[job_session[j]].add("cancel")
                cancelled.add(j)
        elif "kill" in st:
            outstanding[st["kill"]] = set()
    case["_requires"] = {n: sorted(v) for n, v in req.items()}
    case["_job_session"] = job_session
    case["_cancelled"] = cancelled


def known_failure_for(case: Dict[str, Any], langs: Dict[str, str]) -> Optional[str]:
    kf = case.get("known_failure")
    if kf is None:
        return None
    entries = kf if isinstance(kf, list) else [kf]
    for e in entries:
        if isinstance(e, str):
            return e
        sessions = e.get("sessions") or list(langs)
        wanted = e.get("langs") or LANGS
        if any(langs[s] in wanted for s in sessions):
            return e["reason"]
    return None


def combos(case: Dict[str, Any], only: List[str]) -> List[Tuple[str, Dict[str, str]]]:
    names = session_names(case)
    out = []
    if len(names) == 1:
        for l in LANGS:
            if l in only:
                out.append((l, {names[0]: l}))
        return out
    for x in LANGS:
        for y in LANGS:
            if x in only and y in only:
                label = x if x == y else "%s->%s" % (x, y)
                out.append((label, {n: (x if i == 0 else y) for i, n in enumerate(names)}))
    return out


# --- processes -------------------------------------------------------------------


class Server:
    """A real nws-server on 127.0.0.1:<free port>."""

    def __init__(self, args: Optional[List[str]] = None) -> None:
        cmd = [SERVER_BIN, "--port", "0", "--web-port", "0", "--bind", "127.0.0.1"] + list(args or [])
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=dict(os.environ, NO_COLOR="1"),
        )
        self.addr = None
        deadline = time.time() + 20
        assert self.proc.stdout is not None
        while time.time() < deadline:
            line = self.proc.stdout.readline().decode("utf-8", "replace")
            if not line:
                break
            m = re.search(r"nws-server \S+ listening on (127\.0\.0\.1:\d+)", re.sub(r"\x1b\[[0-9;]*m", "", line))
            if m:
                self.addr = m.group(1)
                break
        if self.addr is None:
            self.proc.kill()
            raise RuntimeError("nws-server did not start (%s)" % " ".join(cmd))
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for _ in self.proc.stdout:
            pass

    def shutdown(self, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return -9

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Executor:
    """One executor process (one session at a time)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.proc = subprocess.Popen(
            EXECUTOR_CMD[lang], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True, env=dict(os.environ, NO_COLOR="1"),
        )
        self.cond = threading.Condition()
        self.replies: Dict[int, Any] = {}
        self.ready: Optional[Dict[str, Any]] = None
        self.eof = False
        self.next_id = 1
        self.pending: set = set()
        self.stderr: "collections.deque[str]" = collections.deque(maxlen=40)
        self.frozen = False
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()
        with self.cond:
            self.cond.wait_for(lambda: self.ready is not None or self.eof, timeout=60)
        if self.ready is None:
            self.kill()
            raise RuntimeError("%s executor did not start: %s" % (lang, "".join(self.stderr)[-2000:]))
        self.caps = set(self.ready.get("caps", []))

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                msg = json.loads(raw.decode("utf-8"))
            except ValueError:
                continue
            with self.cond:
                if msg.get("ready"):
                    self.ready = msg
                elif "id" in msg:
                    self.replies[msg["id"]] = msg.get("result")
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self.stderr.append(raw.decode("utf-8", "replace"))

    def send(self, msg: Dict[str, Any]) -> int:
        with self.cond:
            rid = self.next_id
            self.next_id += 1
            self.pending.add(rid)
        line = json.dumps(dict(msg, id=rid), ensure_ascii=True) + "\n"
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(line.encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass
        return rid

    def done(self, rid: int) -> bool:
        with self.cond:
            return rid in self.replies

    def wait(self, rid: int, timeout: float) -> Any:
        with self.cond:
            self.cond.wait_for(lambda: rid in self.replies or self.eof, timeout=timeout)
            if rid in self.replies:
                self.pending.discard(rid)
                return self.replies.pop(rid)
            if self.eof:
                raise Fail("%s executor exited: %s" % (self.lang, "".join(self.stderr)[-1500:]))
            raise Fail("no answer from the %s executor within %.0f s" % (self.lang, timeout))

    def call(self, msg: Dict[str, Any], timeout: float = 30) -> Any:
        return self.wait(self.send(msg), timeout)

    def alive(self) -> bool:
        return self.proc.poll() is None and not self.eof

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                if f:
                    f.close()
            except OSError:
                pass

    def signal(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)


class Pool:
    """Idle executors by language, reused across runs."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.idle: Dict[str, List[Executor]] = {l: [] for l in LANGS}
        self.all: List[Executor] = []
        self.caps: Dict[str, set] = {}

    def acquire(self, lang: str) -> Executor:
        with self.lock:
            if self.idle[lang]:
                return self.idle[lang].pop()
        ex = Executor(lang)
        with self.lock:
            self.all.append(ex)
            self.caps[lang] = ex.caps
        return ex

    def release(self, ex: Executor) -> None:
        reusable = ex.alive() and not ex.pending and not ex.frozen
        if reusable:
            try:
                r = ex.call({"op": "reset"}, timeout=15)
                reusable = isinstance(r, dict) and r.get("ok") is True
            except Fail:
                reusable = False
        if reusable:
            with self.lock:
                self.idle[ex.lang].append(ex)
        else:
            ex.kill()

    def warm(self, counts: Dict[str, int]) -> None:
        threads = []
        made: List[Executor] = []

        def make(l: str) -> None:
            try:
                made.append(self.acquire(l))
            except RuntimeError:
                pass

        for l, n in counts.items():
            for _ in range(n):
                t = threading.Thread(target=make, args=(l,))
                t.start()
                threads.append(t)
        for t in threads:
            t.join()
        with self.lock:
            for ex in made:
                self.idle[ex.lang].append(ex)

    def close(self) -> None:
        for ex in self.all:
            if ex.alive():
                try:
                    ex.send({"op": "exit"})
                except Exception:
                    pass
        time.sleep(0.2)
        for ex in self.all:
            ex.kill()


# --- values and expectations ---------------------------------------------------


_gen_cache: Dict[Tuple[str, int, int], bytes] = {}


def generated(kind: str, size: int, seed: int) -> bytes:
    key = (kind, size, seed)
    if key not in _gen_cache:
        modulus, offset = (95, 32) if kind == "text" else (256, 0)
        base = [(7 * j + 13 * seed) % modulus for j in range(256)]
        blocks = []
        for k in range((size + 255) // 256):
            shift = ((7 * 256 + 1) * k) % modulus
            blocks.append(bytes(offset + (c + shift) % modulus for c in base))
        _gen_cache[key] = b"".join(blocks)[:size]
    return _gen_cache[key]


def digest(b: bytes) -> Dict[str, Any]:
    return {"size": len(b), "md5": hashlib.md5(b).hexdigest(), "head": b[:16].hex()}


def bytes_report(kind: str, b: bytes) -> Dict[str, Any]:
    if len(b) <= INLINE_LIMIT:
        return {"text": b.decode("utf-8")} if kind == "text" else {"raw": b.hex()}
    return {kind + "_digest": digest(b)}


def json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or (isinstance(a, bool) and isinstance(b, bool) and a == b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return a == b


def show(x: Any) -> str:
    s = json.dumps(x, ensure_ascii=True, sort_keys=True)
    return s if len(s) <= 300 else s[:300] + "..."


class Run:
    """One case in one language assignment."""

    def __init__(self, runner: "Runner", case: Dict[str, Any], label: str, langs: Dict[str, str],
                 number: int) -> None:
        self.runner = runner
        self.case = case
        self.label = label
        self.langs = langs
        self.prefix = "cf%05d." % number
        self.aliases: Dict[str, str] = {}
        self.execs: Dict[str, Executor] = {}
        self.jobs: Dict[str, Tuple[str, int, float]] = {}
        self.server: Optional[Server] = None
        self.addr = ""

    # names --
    def ws_name(self, spec: Any) -> str:
        if isinstance(spec, str):
            if spec.startswith("$"):
                if spec[1:] not in self.aliases:
                    raise Fail("no alias %s" % spec)
                return self.aliases[spec[1:]]
            return self.prefix + spec
        return self.sized(spec, self.prefix)

    def var_name(self, spec: Any) -> str:
        if isinstance(spec, str):
            return spec
        return self.sized(spec, "")

    def sized(self, spec: Dict[str, Any], prefix: str) -> str:
        if "literal" in spec:
            return spec["literal"]
        head = prefix + spec.get("head", "")
        tail = spec.get("tail", "")
        fill = spec.get("fill", "a")
        room = spec["bytes"] - len(head.encode()) - len(tail.encode())
        if room < 0 or room % len(fill.encode()):
            raise Fail("cannot build a name of %d bytes" % spec["bytes"])
        name = head + fill * (room // len(fill.encode())) + tail
        assert len(name.encode()) == spec["bytes"]
        return name

    def template(self, spec: Any) -> Optional[str]:
        if spec is None:
            return None
        if isinstance(spec, str):
            return self.prefix + spec
        return self.sized(spec, self.prefix)

    # expectations --
    def expected_value(self, spec: Dict[str, Any], reader: str) -> Dict[str, Any]:
        """What the reading session's executor should report for a value."""
        if "text" in spec:
            return {"value": bytes_report("text", spec["text"].encode("utf-8"))}
        if "raw" in spec:
            return {"value": bytes_report("raw", bytes.fromhex(spec["raw"]))}
        if "gen" in spec:
            g = spec["gen"]
            kind = g.get("kind", "raw")
            return {"value": bytes_report(kind, generated(kind, g["size"], g.get("seed", 0)))}
        if "native" in spec:
            writer = self.langs[spec["from"]]
            if writer == self.langs[reader]:
                return {"value": {"native": spec["native"]}}
            return {"undecodable": {"codec": CODEC[writer]}}
        if "json" in spec:
            return {"value": {"native": spec["json"]}}
        if "blob" in spec:
            return {"undecodable": {"codec": spec["blob"]["codec"], "size": len(spec["blob"]["hex"]) // 2}}
        raise Fail("bad value spec %r" % spec)

    def check_error(self, got: Any, want: Any, reader: str) -> Optional[str]:
        if isinstance(want, str):
            want = {"reason": want}
        err = got.get("error") if isinstance(got, dict) else None
        if err is None:
            return "expected error %s, got %s" % (want.get("reason"), show(got))
        lang = self.langs[reader]
        reason = err.get("reason")
        if reason is None:
            if want.get("or_client_error") and err.get("kind") == "client":
                return None
            if want.get("or_dropped") and err.get("kind") in ("dropped", "closed"):
                # spec/errors.md#client-mapping: the connection-dropped error.
                lang = self.langs[reader]
                classes = err.get("classes") or []
                if lang == "python" and "NwsConnectionDroppedException" not in classes:
                    return "a lost session raised %s, not NwsConnectionDroppedException" % classes[:1]
                if lang == "r" and (not classes or classes[0] != "nws_error_disconnected"):
                    return "a lost session signalled %s, not nws_error_disconnected" % classes
                return None
            return "expected error %s, got %s" % (want.get("reason"), show(got))
        allowed = [want["reason"]] if "reason" in want else []
        allowed += want.get("any_of", [])
        if reason not in allowed:
            return "expected error %s, got %s" % ("/".join(allowed), show(got))
        classes = err.get("classes") or []
        if lang == "python":
            cls = PY_CLASS.get(reason, "NwsOperationException")
            if cls not in classes:
                return "reason %s raised %s, spec/errors.md#client-mapping says %s" % (
                    reason, classes[:1], cls)
            if reason == "TIMED_OUT" and "TimeoutError" not in classes:
                return "NwsTimeoutException is not a TimeoutError"
        elif lang == "r":
            want_cls = "nws_error_" + reason.lower()
            if not classes or classes[0] != want_cls or "nws_error" not in classes:
                return "reason %s signalled condition classes %s, expected %s" % (reason, classes, want_cls)
        return None

    def check(self, got: Any, expect: Dict[str, Any], reader: str) -> Optional[str]:
        """None if `got` (an executor result) meets `expect`, else why not."""
        if not isinstance(got, dict):
            return "bad answer %s" % show(got)
        if "harness_error" in got:
            return "harness error: %s" % got["harness_error"]
        if "error" in expect:
            return self.check_error(got, expect["error"], reader)
        if expect.get("cancelled"):
            return None if got.get("cancelled") else "expected the call to be cancelled, got %s" % show(got)
        if "value" in expect:
            want = self.expected_value(expect["value"], reader)
            return self.compare_value(got, want)
        if "undecodable" in expect:
            return self.compare_value(got, {"undecodable": expect["undecodable"]})
        if expect.get("nothing"):
            return None if got.get("nothing") else "expected nothing, got %s" % show(got)
        for bad in ("error", "undecodable", "cancelled"):
            if bad in got:
                return "expected success, got %s" % show(got)
        if "vars" in expect or "vars_include" in expect or "vars_absent" in expect:
            return self.check_vars(got.get("vars"), expect)
        if "wss" in expect:
            return self.check_wss(got.get("wss"), expect["wss"])
        if "ws" in expect:
            rep = got.get("ws") or {}
            for k, v in expect["ws"].items():
                if k in rep and rep[k] != v:
                    return "workspace %s is %r, expected %r (%s)" % (k, rep[k], v, show(rep))
        if "name_regex" in expect:
            pat = expect["name_regex"].replace("{P}", re.escape(self.prefix))
            if not re.fullmatch(pat, got.get("name", "")):
                return "name %r does not match %s" % (got.get("name"), pat)
        if "info" in expect:
            info = got.get("info") or {}
            for k, v in expect["info"].items():
                if k.endswith("_regex"):
                    if not re.fullmatch(v, str(info.get(k[:-6], ""))):
                        return "server info %s=%r does not match %s" % (k[:-6], info.get(k[:-6]), v)
                elif info.get(k) != v:
                    return "server info %s=%r, expected %r" % (k, info.get(k), v)
        return None

    def compare_value(self, got: Dict[str, Any], want: Dict[str, Any]) -> Optional[str]:
        if "undecodable" in want:
            u = got.get("undecodable")
            if u is None:
                return "expected an undecodable %s blob reported clearly, got %s" % (
                    want["undecodable"]["codec"], show(got))
            if u.get("codec") != want["undecodable"]["codec"]:
                return "undecodable blob has codec %r, expected %r" % (u.get("codec"), want["undecodable"]["codec"])
            if "size" in want["undecodable"] and u.get("size") != want["undecodable"]["size"]:
                return "undecodable blob has %s bytes, expected %s" % (u.get("size"), want["undecodable"]["size"])
            return None
        v = got.get("value")
        if v is None:
            return "expected value %s, got %s" % (show(want["value"]), show(got))
        w = want["value"]
        if "native" in w:
            if "native" not in v or not json_equal(v["native"], w["native"]):
                return "expected value %s, got %s" % (show(w), show(v))
            return None
        if v != w:
            return "expected value %s, got %s" % (show(w), show(v))
        return None

    def check_vars(self, vars_: Any, expect: Dict[str, Any]) -> Optional[str]:
        if not isinstance(vars_, list):
            return "expected a variable listing, got %s" % show(vars_)

        def match(row: Dict[str, Any], want: Dict[str, Any]) -> bool:
            for k, v in want.items():
                got = row.get(k)
                if k == "name":
                    v = self.var_name(v)
                if got != v:
                    return False
            return True

        if "vars" in expect:
            want = expect["vars"]
            if len(want) != len(vars_) or not all(match(r, w) for r, w in zip(vars_, want)):
                return "listVars gave %s, expected %s" % (show(vars_), show(want))
        for w in expect.get("vars_include", []):
            if not any(match(r, w) for r in vars_):
                return "listVars %s has no entry like %s" % (show(vars_), show(w))
        for n in expect.get("vars_absent", []):
            if any(r.get("name") == self.var_name(n) for r in vars_):
                return "listVars %s still lists %r" % (show(vars_), n)
        return None

    def check_wss(self, wss: Any, want: Dict[str, Any]) -> Optional[str]:
        if not isinstance(wss, list):
            return "expected a workspace listing, got %s" % show(wss)
        mine = set(self.aliases.values())
        rel = [w for w in wss if w.get("name", "").startswith(self.prefix) or w.get("name") in mine]
        by_name = {w["name"]: w for w in rel}
        for p in want.get("present", []):
            name = self.ws_name(p["name"])
            row = by_name.get(name)
            if row is None:
                return "listWss has no workspace %r (it lists %s)" % (name, show([w["name"] for w in rel]))
            for k, v in p.items():
                if k == "name":
                    continue
                if k == "owner_regex":
                    if not re.fullmatch(v, row.get("owner") or ""):
                        return "workspace %r has owner %r, expected one matching %s" % (name, row.get("owner"), v)
                elif k == "owned":
                    if bool(row.get("owner")) != v:
                        return "workspace %r has owner %r, expected %s" % (name, row.get("owner"), "an owner" if v else "none")
                elif row.get(k) != v:
                    return "workspace %r has %s=%r, expected %r" % (name, k, row.get(k), v)
        for a in want.get("absent", []):
            name = self.ws_name(a)
            if name in by_name:
                return "listWss still lists %r" % name
        if "exactly" in want:
            names = [self.ws_name(n) for n in want["exactly"]]
            got = [w["name"] for w in rel]
            if got != names:
                return "listWss lists %s, expected %s in this order" % (show(got), show(names))
        if want.get("sorted"):
            got = [w["name"].encode() for w in wss]
            if got != sorted(got):
                return "listWss is not sorted by byte order"
        return None

    # execution --
    def request_for(self, st: Dict[str, Any]) -> Dict[str, Any]:
        msg: Dict[str, Any] = {"op": st["op"]}
        for k in ("mode", "timeout_ms", "persistent", "create", "it", "kind", "lease"):
            if k in st:
                msg[k] = st[k]
        if "ws" in st:
            msg["ws"] = self.ws_name(st["ws"])
        if "var" in st:
            msg["var"] = self.var_name(st["var"])
        if "to" in st:
            msg["to"] = self.var_name(st["to"])
        if "value" in st:
            v = dict(st["value"])
            v.pop("from", None)
            msg["value"] = v
        if st["op"] == "mktemp":
            msg["template"] = self.template(st.get("template"))
        if st.get("job") in self.case["_cancelled"]:
            msg["main"] = True
        return msg

    def execute(self) -> None:
        case = self.case
        srv_opts = case.get("server") or {}
        if srv_opts.get("dedicated"):
            self.server = Server(srv_opts.get("args"))
            self.addr = self.server.addr or ""
        else:
            self.addr = self.runner.shared_addr()
        try:
            for s in case["sessions"]:
                name = s if isinstance(s, str) else s["name"]
                ex = self.runner.pool.acquire(self.langs[name])
                self.execs[name] = ex
                msg = {"op": "connect", "addr": self.addr}
                if isinstance(s, dict) and s.get("label") is not None:
                    msg["label"] = s["label"]
                r = ex.call(msg)
                expect = (s.get("connect") if isinstance(s, dict) else None) or {"ok": True}
                why = self.check(r, expect, name)
                if why:
                    raise Fail("connect %s: %s" % (name, why))
            for i, st in enumerate(case["steps"]):
                try:
                    self.step(st)
                except Fail as e:
                    raise Fail("step %d (%s): %s" % (i + 1, describe(st), e)) from None
        finally:
            for ex in self.execs.values():
                self.runner.pool.release(ex)
            if self.server is not None:
                self.server.stop()

    def step(self, st: Dict[str, Any]) -> None:
        if "s" in st:
            self.session_step(st)
        elif "blocked" in st:
            sess, rid, t0 = self.jobs[st["blocked"]]
            ex = self.execs[sess]
            delay = t0 + st.get("ms", 200) / 1000.0 - time.time()
            if delay > 0:
                time.sleep(delay)
            if ex.done(rid):
                raise Fail("expected %s still blocked, but it was answered %s" % (
                    st["blocked"], show(ex.wait(rid, 1))))
        elif "await" in st:
            sess, rid, _ = self.jobs[st["await"]]
            got = self.execs[sess].wait(rid, st.get("timeout_ms", 20000) / 1000.0)
            why = self.check(got, st.get("expect") or {"ok": True}, sess)
            if why:
                raise Fail(why)
        elif "sleep" in st:
            time.sleep(st["sleep"] / 1000.0)
        elif "kill" in st:
            ex = self.execs[st["kill"]]
            ex.kill()
            ex.pending.clear()
        elif "freeze" in st:
            ex = self.execs[st["freeze"]]
            ex.frozen = True
            os.killpg(ex.proc.pid, signal.SIGSTOP)
        elif "thaw" in st:
            os.killpg(self.execs[st["thaw"]].proc.pid, signal.SIGCONT)
        elif "cancel" in st:
            sess, rid, _ = self.jobs[st["cancel"]]
            ex = self.execs[sess]
            if "concurrent" in ex.caps:
                r = ex.call({"op": "cancel", "job": rid})
                if not (isinstance(r, dict) and r.get("ok")):
                    raise Fail("cancel failed: %s" % show(r))
            else:
                ex.signal(signal.SIGINT)
        elif "kill_server" in st:
            if self.server is None:
                raise Fail("kill_server needs a dedicated server")
            self.server.stop()
        elif "shutdown_server" in st:
            if self.server is None:
                raise Fail("shutdown_server needs a dedicated server")
            code = self.server.shutdown()
            if st.get("exit_code") is not None and code != st["exit_code"]:
                raise Fail("server exited with %s, expected %s" % (code, st["exit_code"]))
        else:
            raise Fail("unknown step %r" % st)

    def session_step(self, st: Dict[str, Any]) -> None:
        sess = st["s"]
        ex = self.execs[sess]
        expect = st.get("expect") or {"ok": True}
        if "job" in st:
            rid = ex.send(self.request_for(st))
            self.jobs[st["job"]] = (sess, rid, time.time())
            return
        msg = self.request_for(st)
        timeout = st.get("answer_within_ms", 60000) / 1000.0
        if st.get("repeat"):
            got = [ex.call(msg, timeout) for _ in range(st["repeat"])]
            self.check_many(got, expect, sess)
            return
        deadline = time.time() + st.get("within_ms", 5000) / 1000.0
        while True:
            got = ex.call(msg, timeout)
            why = self.check(got, expect, sess)
            if why is None:
                break
            if not st.get("eventually") or time.time() > deadline:
                raise Fail(why)
            time.sleep(0.05)
        if st["op"] == "mktemp" and st.get("as"):
            self.aliases[st["as"]] = got.get("name", "")

    def check_many(self, got: List[Any], expect: Dict[str, Any], sess: str) -> None:
        if "each_in" in expect:
            allowed = [self.expected_value(v, sess) for v in expect["each_in"]]
            for i, g in enumerate(got):
                if not any(isinstance(g, dict) and self.compare_value(g, w) is None for w in allowed):
                    raise Fail("answer %d %s is none of %s" % (i + 1, show(g), show(allowed)))
            for bad in expect.get("not_orders", []):
                if len(bad) == len(got) and all(
                        self.compare_value(g, self.expected_value(b, sess)) is None
                        for g, b in zip(got, bad)):
                    raise Fail("answers came in the forbidden order %s" % show(got))
        elif "values" in expect or "values_unordered" in expect:
            ordered = "values" in expect
            want = [self.expected_value(v, sess) for v in expect.get("values") or expect["values_unordered"]]
            if len(want) != len(got):
                raise Fail("expected %d answers" % len(want))
            if ordered:
                for i, (g, w) in enumerate(zip(got, want)):
                    why = self.compare_value(g, w) if isinstance(g, dict) else "bad answer"
                    if why:
                        raise Fail("answer %d: %s (all: %s)" % (i + 1, why, show(got)))
                for bad in expect.get("not_orders", []):
                    if all(self.compare_value(g, self.expected_value(b, sess)) is None
                           for g, b in zip(got, bad)):
                        raise Fail("answers came in the order %s" % show(got))
            else:
                left = list(want)
                for g in got:
                    for j, w in enumerate(left):
                        if isinstance(g, dict) and self.compare_value(g, w) is None:
                            del left[j]
                            break
                    else:
                        raise Fail("answers %s are not the expected set %s" % (show(got), show(want)))
                for bad in expect.get("not_orders", []):
                    if len(bad) == len(got) and all(
                            self.compare_value(g, self.expected_value(b, sess)) is None
                            for g, b in zip(got, bad)):
                        raise Fail("answers came in the forbidden order %s" % show(got))
        else:
            for g in got:
                why = self.check(g, expect, sess)
                if why:
                    raise Fail(why)


def describe(st: Dict[str, Any]) -> str:
    if "s" in st:
        bits = ["%s %s" % (st["s"], st["op"])]
        for k in ("ws", "var", "it", "kind", "mode"):
            if k in st:
                v = st[k]
                bits.append("%s=%s" % (k, v if isinstance(v, str) and len(v) < 40 else "<%s>" % type(v).__name__))
        if "job" in st:
            bits.append("as job %s" % st["job"])
        return " ".join(bits)
    for k in ("blocked", "await", "sleep", "kill", "freeze", "thaw", "cancel", "shutdown_server", "kill_server"):
        if k in st:
            return "%s %s" % (k, st[k])
    return "?"


# --- the runner ------------------------------------------------------------------


class Runner:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.pool = Pool()
        self._shared: Optional[Server] = None
        self._lock = threading.Lock()

    def shared_addr(self) -> str:
        with self._lock:
            if self._shared is None or self._shared.proc.poll() is not None:
                self._shared = Server()
            return self._shared.addr or ""

    def close(self) -> None:
        self.pool.close()
        if self._shared is not None:
            self._shared.stop()


def run_one(runner: Runner, case: Dict[str, Any], label: str, langs: Dict[str, str],
            number: int) -> Tuple[str, str]:
    """('pass'|'fail'|'xfail'|'xpass'|'na', detail)."""
    try:
        for sess, lang in langs.items():
            caps = runner.pool.caps.get(lang)
            if caps is None:
                ex = runner.pool.acquire(lang)
                runner.pool.release(ex)
                caps = runner.pool.caps[lang]
            missing = [c for c in case["_requires"][sess] if c not in caps]
            if missing:
                return "na", "%s cannot play %s (needs %s)" % (lang, sess, ", ".join(missing))
    except Exception as e:
        return "fail", "harness: %s" % e
    kf = known_failure_for(case, langs)
    run = Run(runner, case, label, langs, number)
    try:
        run.execute()
    except Fail as e:
        return ("xfail", str(e)) if kf else ("fail", str(e))
    except Exception as e:  # a broken harness is a failure too
        return ("xfail", repr(e)) if kf else ("fail", "harness: %r" % e)
    if kf:
        return "xpass", "passes although marked known_failure (%s): remove the mark" % kf
    return "pass", ""


def coverage(cases: List[Dict[str, Any]]) -> int:
    with open(os.path.join(HERE, "coverage.yaml"), encoding="utf-8") as fh:
        cov = yaml.safe_load(fh) or {}
    exempt = dict(cov.get("not_testable_through_clients") or {})
    anchors = spec_anchors()
    files = cov.get("not_testable_files") or {}
    for a in anchors:
        f = a.split("#")[0]
        if f in files and a not in exempt:
            exempt[a] = "(%s) %s" % (f, files[f])
    by_anchor: Dict[str, List[str]] = {a: [] for a in anchors}
    for c in cases:
        for a in c["cites"]:
            by_anchor.setdefault(a, []).append(c["name"])
    width = max(len(a) for a in anchors)
    print("%-*s  %5s  %s" % (width, "spec anchor", "cases", "covering cases"))
    print("%s  %s  %s" % ("-" * width, "-" * 5, "-" * 40))
    for a in anchors:
        names = by_anchor[a]
        shown = ", ".join(names[:4]) + (", +%d more" % (len(names) - 4) if len(names) > 4 else "")
        if not names and a in exempt:
            shown = "(not testable through the clients: see below)"
        print("%-*s  %5d  %s" % (width, a, len(names), shown))
    uncovered = [a for a in anchors if not by_anchor[a] and a not in exempt]
    exempt_uncovered = [a for a in anchors if not by_anchor[a] and a in exempt]
    print()
    covered = sum(1 for a in anchors if by_anchor[a])
    print("anchors: %d; covered by cases: %d; not testable through the clients: %d; uncovered: %d"
          % (len(anchors), covered, len(exempt_uncovered), len(uncovered)))
    if exempt:
        print("\nnot testable through the public clients (and where they are tested instead):")
        for a, why in cov.get("not_testable_through_clients", {}).items():
            mark = "" if not by_anchor.get(a) else "  [also cited by cases]"
            print("  %s%s\n      %s" % (a, mark, " ".join(str(why).split())))
        for f, why in files.items():
            ids = [a.split("#")[1] for a in anchors if a.startswith(f + "#")]
            print("  %s (all %d anchors: %s)\n      %s" % (f, len(ids), ", ".join(ids), " ".join(str(why).split())))
    partly = cov.get("partly_outside_clients") or {}
    if partly:
        print("\ncovered anchors with statements the clients cannot reach (tested by the server's own tests):")
        for a, why in partly.items():
            print("  %s\n      %s" % (a, " ".join(str(why).split())))
    stale = [a for a in list(exempt) + list(partly) if a not in by_anchor]
    stale += [f for f in files if not os.path.exists(os.path.join(ROOT, f))]
    if stale:
        print("\ncoverage.yaml names anchors the spec does not have: %s" % ", ".join(stale))
    print("\nuncovered anchors: %s" % (", ".join(uncovered) if uncovered else "none"))
    return 1 if uncovered or stale else 0


def main() -> int:
    ap = argparse.ArgumentParser(prog="conformance-tests/run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--coverage", action="store_true", help="print spec anchors and the cases covering them")
    ap.add_argument("-k", "--cases", action="append", default=[],
                    help="only cases whose name contains this (or matches this glob); repeatable")
    ap.add_argument("-l", "--lang", action="append", choices=LANGS, default=[],
                    help="only runs whose sessions are all in these languages; repeatable")
    ap.add_argument("-j", "--jobs", type=int, default=int(os.environ.get("NWS_CONFORMANCE_JOBS", "8")),
                    help="runs in parallel (default 8)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every run")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    args = ap.parse_args()

    cases = load_cases()
    if args.coverage:
        return coverage(cases)
    if args.cases:
        cases = [c for c in cases if any(k in c["name"] or fnmatch.fnmatch(c["name"], k) for k in args.cases)]
    if args.list:
        for c in cases:
            print("%s  [%s]" % (c["name"], ", ".join(c["cites"])))
        return 0
    only = args.lang or LANGS
    for tool in [SERVER_BIN] + [EXECUTOR_CMD[l][0] for l in only if l == "rust"]:
        if not os.path.exists(tool):
            print("conformance: %s is missing: cargo build --release -p nws-server -p nws-conformance" % tool,
                  file=sys.stderr)
            return 2

    plan = []
    for c in cases:
        for label, langs in combos(c, only):
            plan.append((c, label, langs))
    runner = Runner(args)
    started = time.time()
    runner.shared_addr()
    per_lang = collections.Counter()
    for c, _, langs in plan:
        for l in set(langs.values()):
            per_lang[l] += 1
    runner.pool.warm({l: min(args.jobs, 4) for l in per_lang})

    results: Dict[str, List[Tuple[str, str, str]]] = collections.defaultdict(list)
    # Long runs first, so the tail of the matrix is short.
    order = sorted(range(len(plan)), key=lambda i: -weight(plan[i][0]))
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futs = {}
        for n, i in enumerate(order):
            c, label, langs = plan[i]
            futs[pool.submit(run_one, runner, c, label, langs, n + 1)] = (c, label)
        for f in concurrent.futures.as_completed(futs):
            c, label = futs[f]
            status, detail = f.result()
            results[c["name"]].append((label, status, detail))
            if args.verbose:
                print("  %-5s %s [%s] %s" % (status, c["name"], label, detail), flush=True)
    runner.close()

    totals = collections.Counter()
    failed_cases = xfail_cases = 0
    for c in cases:
        rs = sorted(results[c["name"]], key=lambda r: r[0])
        counts = collections.Counter(s for _, s, _ in rs)
        totals.update(counts)
        ran = len(rs) - counts["na"]
        na = ""
        if counts["na"]:
            why = sorted(set(d for _, s, d in rs if s == "na"))
            na = "; %d n/a (%s)" % (counts["na"], "; ".join(why))
        if counts["fail"]:
            failed_cases += 1
            print("FAIL  %s  %d of %d runs failed%s" % (c["name"], counts["fail"], ran, na))
            for label, s, d in rs:
                if s in ("fail", "xpass"):
                    print("        [%s] %s: %s" % (label, "FAILED" if s == "fail" else "passed despite the mark", d))
        elif counts["xfail"] or counts["xpass"]:
            xfail_cases += 1
            despite = " (%d of them despite the mark)" % counts["xpass"] if counts["xpass"] else ""
            print("KNOWN %s  %d of %d runs fail as known, %d pass%s: %s%s" % (
                c["name"], counts["xfail"], ran, ran - counts["xfail"], despite, known_reasons(c), na))
            for label, s, d in rs:
                if args.verbose and s in ("xpass", "xfail"):
                    print("        [%s] %s" % (label, d if s == "xfail" else "passed although marked known_failure: fixed, or flaky?"))
        else:
            print("ok    %s  %d runs%s" % (c["name"], ran, na))
    elapsed = time.time() - started
    print()
    print("cases: %d (%d failing, %d with known failures); runs: %d in %.0f s: %d passed, %d failed, "
          "%d known failures, %d passing despite a known_failure mark, %d not applicable"
          % (len(cases), failed_cases, xfail_cases, sum(totals.values()) - totals["na"], elapsed,
             totals["pass"], totals["fail"], totals["xfail"], totals["xpass"], totals["na"]))
    passed = totals["pass"]
    failed = totals["fail"]
    print("conformance: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def known_reasons(case: Dict[str, Any]) -> str:
    kf = case.get("known_failure")
    entries = kf if isinstance(kf, list) else [kf]
    return "; ".join(e if isinstance(e, str) else e["reason"] for e in entries)


def weight(case: Dict[str, Any]) -> float:
    w = 0.0
    for st in case["steps"]:
        w += st.get("sleep", 0) + st.get("ms", 0) + (3000 if "freeze" in st else 0)
        if "value" in st and "gen" in st["value"]:
            w += st["value"]["gen"]["size"] / 5000
    return w


if __name__ == "__main__":
    sys.exit(main())
