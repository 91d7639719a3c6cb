"""The page's pure JavaScript (hash parsing, date binning, bounds, …) under node's own test runner.

The tests are tests/js/*.test.mjs (``node --test``, no npm package): they import the page's
modules from oam_preview/static/ as the browser does. Debian's ``nodejs`` runs them.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.support.system import missing

JS_TESTS = Path(__file__).resolve().parent / "js"


def test_the_page_modules_pass_their_node_tests():
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        missing("node (apt-get install nodejs)")
    files = sorted(str(p) for p in JS_TESTS.glob("*.test.mjs"))
    assert len(files) >= 4
    done = subprocess.run([node, "--test", *files], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "# fail 0" in done.stdout
