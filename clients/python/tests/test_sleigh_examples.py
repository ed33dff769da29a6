"""The Sleigh example programs in examples/python/, each run as a user would,
with their expected output."""

from __future__ import annotations

from conftest import EXAMPLES, python


def run(name: str, *args: str):
    r = python(str(EXAMPLES / name), *args, is_file=True)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def test_cubes_runs_the_articles_session(nws_server):
    assert run("sleigh_cubes.py") == [
        "workers: 3 on %s" % __import__("socket").gethostname(),
        "cubes: 100 r[2:5] = [8, 27, 64] last = 970299",
        "f(1,11,99), f(2,12,99), f(3,13,99) = [111, 113, 115]",
        "non-blocking: 100 tasks submitted",
        "non-blocking: outstanding after wait: 0 same table: True",
    ]


def test_listing_one_finds_the_primes(nws_server):
    assert run("sleigh_primes.py", "3", "100000", "1000") == ["9592 [2, 3, 5] ... [99971, 99989, 99991]"]
    # Chunks whose primes later chunks need, on two workers.
    assert run("sleigh_primes.py", "2", "20000", "100") == ["2262 [2, 3, 5] ... [19991, 19993, 19997]"]


def test_monte_carlo_pi_is_the_same_for_any_number_of_workers(nws_server):
    want = ["darts: 1000000, inside: 785971", "pi is about 3.1439"]
    assert run("sleigh_pi.py") == want
    assert run("sleigh_pi.py", "-c", "1") == want
