"""A picture of one ``tiles.py`` run: latency distributions per phase, and oam-preview / TiTiler ratios.

    .venv/bin/python -m benchmarks.chart benchmarks/results/tiles-YYYYmmdd-HHMMSS.json [out.png]

``tiles.py`` calls :func:`chart` after each run (``benchmarks/results/*.png``
and ``docs/bench.png``, which the README shows). matplotlib with the Agg
backend: no display needed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

#: Phases whose latencies are drawn, and their labels.
PHASES = {
    "cold": "cold, 1 client",
    "warm": "miss, 1 client",
    "c8": "miss, 8 clients",
    "c32": "miss, 32 clients",
    "jpeg32": "JPEG miss, 32",
    "hit32": "repeat, 32",
}
#: Ratios drawn (label, phase, key, lower is better).
RATIOS = [
    ("CPU/tile, 1 client", "warm", "cpu_ms", True),
    ("CPU/tile, 32 clients", "c32", "cpu_ms", True),
    ("tiles/s, 8 clients", "c8", "per_s", False),
    ("tiles/s, 32 clients", "c32", "per_s", False),
    ("JPEG tiles/s, 32", "jpeg32", "per_s", False),
    ("peak worker RSS", "peak_rss_mb", "", True),
    ("DEFLATE-strips thumb ms", "thumb_deflate.first", "ms", True),
    ("DEFLATE-strips thumb bytes", "thumb_deflate.first", "upstream_kb", True),
    ("1-row LZW thumb ms", "thumb_pix4d.first", "ms", True),
    ("1-row LZW thumb bytes", "thumb_pix4d.first", "upstream_kb", True),
]
COLOURS = {"oam-preview": "#1f77b4", "titiler": "#ff7f0e"}


def lookup(figures: dict[str, Any], phase: str, key: str) -> float | None:
    """The figure at ``phase`` (dotted path) and ``key`` of one server's results, if a number."""
    node: Any = figures
    for part in phase.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if key:
        node = node.get(key) if isinstance(node, dict) else None
    return float(node) if isinstance(node, int | float) else None


def chart(results: dict[str, Any], out: Path) -> Path:
    """Draw ``results`` (a ``tiles.py`` JSON document) into the PNG ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    servers = results["servers"]
    names = list(servers)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.6), dpi=72, gridspec_kw={"width_ratios": [3, 2]})
    phases = [p for p in PHASES if all(servers[n].get(p, {}).get("latencies_ms") for n in names)]
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names if phases else []):
        data = [servers[name][p]["latencies_ms"] for p in phases]
        positions = [j + (i - (len(names) - 1) / 2) * width for j in range(len(phases))]
        box = left.boxplot(
            data, positions=positions, widths=width * 0.9, whis=(5, 95), showfliers=False, patch_artist=True
        )
        for patch in box["boxes"]:
            patch.set_facecolor(COLOURS.get(name, "grey"))
            patch.set_alpha(0.7)
        left.plot([], [], color=COLOURS.get(name, "grey"), lw=6, label=name)
    left.set_xticks(range(len(phases)), [PHASES[p] for p in phases], rotation=20, fontsize=8)
    left.set_yscale("log")
    left.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    left.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    left.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    left.set_ylabel("latency ms (box: p25-p75, whiskers: p5-p95)")
    left.set_title("Tile latency per phase", fontsize=10)
    left.legend(fontsize=8, loc="upper left")
    left.grid(axis="y", alpha=0.3)
    if len(names) == 2:
        labels, ratios, colours = [], [], []
        for label, phase, key, lower_better in RATIOS:
            a, b = (lookup(servers[n], phase, key) for n in names)
            if a is None or not b:
                continue
            ratio = a / b
            labels.append(label)
            ratios.append(ratio)
            even = abs(ratio - 1) < 0.03
            colours.append("#999999" if even else "#2ca02c" if (ratio < 1) == lower_better else "#d62728")
        right.barh(range(len(ratios)), ratios, color=colours)
        for y, ratio in enumerate(ratios):
            right.text(ratio, y, f" {ratio:.2f}", va="center", fontsize=8)
        right.axvline(1.0, color="black", lw=0.8)
        right.set_yticks(range(len(labels)), labels, fontsize=8)
        right.invert_yaxis()
        right.set_xscale("log")
        right.xaxis.set_major_locator(matplotlib.ticker.FixedLocator([0.1, 0.25, 0.5, 1, 2, 4, 10]))
        right.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        right.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        right.set_xlabel(f"{names[0]} / {names[1]} (green: better, grey: ±3 %)")
        right.set_title("Ratios", fontsize=10)
    cfg = results.get("config", {})
    fig.suptitle(
        f"make bench {results.get('started', '')} at {results.get('git', '')}: {cfg.get('workers')} workers each, "
        f"machine load {results.get('load', '?')}",
        fontsize=9,
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=72)
    plt.close(fig)
    return out


def main(argv: list[str]) -> int:
    source = Path(argv[0])
    out = Path(argv[1]) if len(argv) > 1 else source.with_suffix(".png")
    print(chart(json.loads(source.read_text()), out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
