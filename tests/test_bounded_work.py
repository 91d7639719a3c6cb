"""Bounded work per request: a hostile ``expression`` is a 400 that costs almost no CPU, in-process
and in a worker of ``oam-preview serve``, whose ``/healthz`` answers meanwhile.

CPU is measured, never the clock: the test thread's CPU time in-process (the Flask test client
runs the view in the calling thread), the worker's utime + stime from ``/proc`` for the server.
Before the AST checks, ``b1+9**9**7`` took about 6 s of CPU (numexpr's parser computes the
constant power in Python) and 400 leading ``-`` were a RecursionError (500).
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numexpr
import pytest
from werkzeug.datastructures import MultiDict

from oam_preview.errors import BadRequest
from oam_preview.tiler import band_math
from oam_preview.tiler.band_math import MAX_CONSTANT, Expression
from oam_preview.tiler.rendering import Rendering

#: The bound of the issue: a hostile request answered using under 0.1 s of CPU.
CPU_BOUND = 0.1

HOSTILE = (
    "b1+9**9**7",  # ~6 s of CPU before: Python computes 9**4782969 exactly
    "9**9**8+b1",  # a worker killed by gunicorn's timeout before
    "b1*(9**9**7)**2",
    "sqrt(9**9**7)+b1",
    "b1>9**9**7",
    "b1+0.5**-1e15",
    "-" * 400 + "b1",  # RecursionError (500) before
    "~" * 400 + "b1",
    "b1+" + "(" * 60 + "b1" + ")" * 60,
    "not " * 100 + "b1",
    "99999999*99999999*99999999*b1",
    "b1*1e308*1e308",
)


def cpu_of(call):
    """``(result, CPU seconds of this thread)`` of ``call()``."""
    before = time.thread_time()
    result = call()
    return result, time.thread_time() - before


@pytest.mark.parametrize("expression", HOSTILE)
def test_a_hostile_expression_is_a_400_in_little_cpu(client, expression):
    # No image is needed: the rendering is parsed before the id is looked up.
    r, cpu = cpu_of(
        lambda: client.get(
            "/api/images/no-such-image/tiles/0/0/0.png", query_string={"expression": expression}
        )
    )
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "bad_request", r.data[:200]
    assert "expression" in r.get_json()["error"]["message"]
    assert cpu < CPU_BOUND, f"{cpu:.3f} s of CPU"


#: Every route that takes ``expression``: (method, URL, JSON body).
EXPRESSION_ROUTES = (
    ("GET", "/api/images/cogeo/tiles/18/224757/101422.png", None),
    ("GET", "/api/images/cogeo/thumbnail.png", None),
    ("GET", "/api/images/cogeo/point/128.658,37.6685", None),
    ("GET", "/api/images/cogeo/statistics", None),
    ("GET", "/api/images/cogeo/tilejson.json", None),
    ("GET", "/api/images/cogeo/WMTSCapabilities.xml", None),
    ("GET", "/api/images/cogeo", None),
    ("GET", "/api/mosaic/tiles/18/224757/101422.png", None),
    ("GET", "/api/mosaic/point/128.658,37.6685", None),
    ("GET", "/api/mosaic/tilejson.json", None),
    ("GET", "/api/mosaic/WMTSCapabilities.xml", None),
    ("POST", "/api/exports", {"ids": ["cogeo"], "minzoom": 18, "maxzoom": 18}),
)


@pytest.mark.parametrize(("method", "url", "body"), EXPRESSION_ROUTES)
def test_every_route_that_takes_an_expression_bounds_it(client, method, url, body):
    hostile = "b1+9**9**7"
    if method == "POST":
        call = lambda: client.post(url, json={**body, "expression": hostile})  # noqa: E731
    else:
        call = lambda: client.get(url, query_string={"expression": hostile})  # noqa: E731
    r, cpu = cpu_of(call)
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "bad_request", r.data[:200]
    assert cpu < CPU_BOUND, f"{cpu:.3f} s of CPU"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("b1" + "+b1" * 60, "deeper"),
        ("where(" + ",".join(["1"] * 210) + ",b1)", "operands"),
        ("b1*10**16", "larger"),
        ("b1+1e16", "larger"),
        ("b1+(-8)**0.5", "real"),
        ("b1+1/0", "constants"),
        ("b1---~-b2", "in a row"),
    ],
)
def test_the_limits_say_what_they_are(text, says):
    with pytest.raises(BadRequest, match=says):
        Expression.parse(text)


@pytest.mark.parametrize(
    "text",
    ["(b1-b2)/(b1+b2)", "b1*10**15", "b1**2.5", "2**-1000*b1", "b1--b2", "b1**-2", "b1+" * 40 + "b1",
     "where(b1>b2,b1,b2)", "-(-(-b1))"],
)  # fmt: skip
def test_what_stays_within_the_limits_is_accepted(text):
    assert Expression.parse(text).bands


def test_numexpr_compiles_each_canonical_expression_once(monkeypatch):
    calls: list[str] = []
    evaluate = numexpr.evaluate

    def counted(text, *args, **kwargs):
        calls.append(text)
        return evaluate(text, *args, **kwargs)

    monkeypatch.setattr(band_math.numexpr, "evaluate", counted)
    spellings = ("(b1 - b2) / (b1 + b2 + 7.25)", "(B1-b2)/(b1+b2+7.250)", " (b1-b2)/(b1+b2+7.25e0)")
    parsed = {Expression.parse(s) for s in spellings}
    assert len(parsed) == 1
    assert calls == ["(b1-b2)/(b1+b2+7.25)"]  # one trial, on one pixel


def test_numexpr_never_sees_an_unbounded_constant(monkeypatch):
    seen: list[str] = []
    evaluate = numexpr.evaluate
    monkeypatch.setattr(
        band_math.numexpr, "evaluate", lambda t, *a, **k: seen.append(t) or evaluate(t, *a, **k)
    )
    for text in HOSTILE:
        with pytest.raises(BadRequest):
            Rendering.from_args(MultiDict([("expression", text)]))
    assert seen == []
    assert MAX_CONSTANT <= 1e15  # exact in a float64, far from int64's end


# -- a worker of `oam-preview serve` ---------------------------------------------------------------


def worker_cpu(pid: int) -> float:
    """Seconds of CPU (user + system) process ``pid`` used so far, from ``/proc/<pid>/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def get(url: str, timeout: float = 30) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads a worker's CPU time from /proc")
def test_a_hostile_expression_costs_a_served_worker_almost_no_cpu(live_server):
    # Quiet first: the catalog's footprints are read from headers in the background after a start.
    for _ in range(300):
        status = json.loads(get(live_server + "/healthz")[1])
        if not status["catalog"].get("footprints_pending"):
            break
        time.sleep(0.1)
    pid = status["worker"]["pid"]  # one worker: every request below reaches it
    tile = live_server + "/api/images/no-such-image/tiles/0/0/0.png?expression="
    assert get(tile + "b1")[0] == 404  # warm: the route and numexpr's first compile
    before = worker_cpu(pid)
    answers: dict[str, tuple[int, bytes]] = {}
    hostile = threading.Thread(
        target=lambda: answers.update(hostile=get(tile + urllib.parse.quote("b1+9**9**7")))
    )
    hostile.start()
    health = get(live_server + "/healthz", timeout=5)
    hostile.join(timeout=60)
    used = worker_cpu(pid) - before
    assert health[0] == 200 and json.loads(health[1])["worker"]["pid"] == pid
    status_code, body = answers["hostile"]
    assert status_code == 400 and json.loads(body)["error"]["code"] == "bad_request"
    assert used < CPU_BOUND, f"the worker used {used:.2f} s of CPU"
