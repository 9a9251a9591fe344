"""Render the README's headline table, and the ladder plot, from the figures kept under docs/results/.

``python scripts/render_results.py``          rewrite README.md between its headline markers
``python scripts/render_results.py --check``  exit 1 when README.md differs from the rendering (what the test runs)
``python scripts/render_results.py --plot``   also redraw docs/results/ladder.png from docs/results/ladder.json

A figure is changed in ``docs/results/headline.json`` (with its conditions), never in the README by hand.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEADLINE = REPO / "docs" / "results" / "headline.json"
LADDER = REPO / "docs" / "results" / "ladder.json"
BEGIN = "<!-- headline table: rendered from docs/results/headline.json by scripts/render_results.py -->"
END = "<!-- end of headline table -->"


def headline_table(figures: dict) -> str:
    """The Markdown table: one row per figure, its conditions (machine, torch, command) on one line beside it."""
    lines = ["| question | figure | measured on, with | record |", "|---|---|---|---|"]
    for row in figures["rows"]:
        conditions = f"{row['machine']}, torch {row['torch']}: `{row['command']}`"
        record = f"[{Path(row['record']).stem}]({row['record']})"
        lines.append(f"| {row['question']} | {row['figure']} | {conditions} | {record} |")
    return "\n".join(lines)


def with_table(readme: str, table: str) -> str:
    """``readme`` with the text between the markers replaced by ``table``; a README without both markers is an
    error (the table would otherwise be silently dropped)."""
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README.md lacks the markers {BEGIN!r} ... {END!r}")
    return readme[:start + len(BEGIN)] + "\n" + table + "\n" + readme[end:]


def draw_ladder(path: Path = LADDER) -> Path:
    """docs/results/ladder.png from the recorded rows, drawn by the same function ``ragperf run`` uses."""
    from ragperf.jobs import plots

    record = json.loads(path.read_text(encoding="utf-8"))
    return plots.ladder_bars(record["rows"], path.with_suffix(".png"), record["title"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when README.md differs from the rendering")
    parser.add_argument("--plot", action="store_true", help="also redraw docs/results/ladder.png")
    args = parser.parse_args(argv)
    readme_path = REPO / "README.md"
    readme = readme_path.read_text(encoding="utf-8")
    rendered = with_table(readme, headline_table(json.loads(HEADLINE.read_text(encoding="utf-8"))))
    if args.check:
        if rendered != readme:
            print("README.md's headline table differs from docs/results/headline.json: run "
                  "python scripts/render_results.py", file=sys.stderr)
            return 1
        return 0
    readme_path.write_text(rendered, encoding="utf-8")
    if args.plot:
        print(draw_ladder())
    return 0


if __name__ == "__main__":
    sys.exit(main())
