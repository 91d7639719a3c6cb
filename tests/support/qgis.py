"""QGIS as a test client: Debian's ``python3-qgis`` lives in the system interpreter, not in the
virtualenv, so a script (``tests/qgis_render.py``, ``tests/qgis_vectortile.py``) runs there in
a subprocess, headless, given a JSON job on stdin, and answers a JSON report on stdout."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

SYSTEM_PYTHON = "/usr/bin/python3"
TESTS = Path(__file__).resolve().parents[1]
RENDER_SCRIPT = TESTS / "qgis_render.py"
VECTORTILE_SCRIPT = TESTS / "qgis_vectortile.py"


def qgis_missing() -> str | None:
    """Why the system interpreter cannot run QGIS, or None when it can."""
    try:
        run = subprocess.run(
            [SYSTEM_PYTHON, "-c", "import qgis.core"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.SubprocessError) as exc:
        why = str(exc)
    else:
        if run.returncode == 0:
            return None
        why = (run.stderr.strip().splitlines() or [f"exit status {run.returncode}"])[-1]
    return f"{SYSTEM_PYTHON} cannot import qgis.core (apt-get install python3-qgis): {why}"


def qgis_env(home: Path) -> dict[str, str]:
    """The environment of the QGIS child: headless, and every file it writes under ``home``."""
    dirs = {k: home / k.lower() for k in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME")}
    runtime = home / "runtime"
    for d in [*dirs.values(), runtime]:
        d.mkdir(parents=True, exist_ok=True)
    runtime.chmod(0o700)  # Qt ignores a runtime dir others can read
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "QGIS"))}
    env.update({k: str(v) for k, v in dirs.items()})
    env.update(HOME=str(home), XDG_RUNTIME_DIR=str(runtime), QT_QPA_PLATFORM="offscreen")
    return env


def qgis_render(python: str, job: dict[str, Any], tmp: Path, script: Path = RENDER_SCRIPT) -> dict[str, Any]:
    """Run ``script`` (tests/qgis_render.py) on ``job`` in its own QGIS process, HOME in ``tmp``;
    its report, with QGIS's message log as ``log`` (lines)."""
    run = subprocess.run(
        [python, str(script)],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        env=qgis_env(tmp / "home"),
        cwd=tmp,
        timeout=180,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return {**json.loads(run.stdout), "log": run.stderr.splitlines()}
