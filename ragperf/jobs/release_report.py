"""``ragperf release``'s verdict: OLD against NEW row by row, one report, one exit status.

Every row is ``same``, ``changed`` (worth reading, not a regression), ``regression``, ``improvement``, ``new``
(only in NEW), ``gone`` (only in OLD), ``not compared`` or ``report only``. What each section calls a regression:

* **behaviour** (every expected-table row, :mod:`ragperf.compile.scenarios`): more graphs, recompiles, graph
  breaks or fallbacks, more frames Dynamo could not compile (frames traced less frames compiled; one frame more
  or less, all compiled, is how the model's code is split: ``changed``), a compile error that was not there,
  or ops captured falling by more
  than :data:`OPS_DROP` (the silent eager fallback of ``mark_unbacked`` halves them; a drop of a few ops is Dynamo
  tracing a helper differently and is ``changed``). The opposite moves are improvements; other differences -
  recompile reasons (kind and guard, not the source lines Dynamo quotes) - are ``changed``.
* **numerics**: a parity verdict that turns to fail, or the RMSE against fp64 growing more than
  :data:`RMSE_FACTOR` times (smaller moves are rounding; shown, not flagged). The reverse is an improvement.
* **warm start**: NEW starting from its own warm cache with fewer cache hits, or more misses, than OLD.
* **timed** (speed, compile time, memory; :mod:`ragperf.jobs.release`): the gate's rule, settled, and Holm's
  correction over the whole family (:func:`ragperf.jobs.release.family`).
* **versions**: changed or same, never a regression.

Speed is compared only when both sides are live interpreters on this machine: a saved side, or one recorded on
other hardware, has its timed rows ``not compared`` with the reason in one line. Behaviour and numerics are
compared regardless.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ragperf.perf.machine_state import flag_line, header, mark
from ragperf.schemas import base as schemas
from ragperf.schemas import release_report as report_schema
from ragperf.schemas import release_side as side_schema

SCHEMA = f"{report_schema.KIND.schema}/{report_schema.KIND.newest}"
RMSE_FACTOR = 2.0
OPS_DROP = 0.05
# (count field, label, +1 when more is worse / -1 when fewer is worse)
COUNTS = (("graphs", "graphs", 1), ("frames_ok", "frames ok", 0), ("frames_total", "frames", 0),
          ("ops_captured", "ops", -1), ("fallbacks", "fallbacks", 1), ("graph_breaks", "breaks", 1),
          ("recompiles", "recompiles", 1))
VERSION_FIELDS = (("torch", "torch"), ("transformers", "transformers"), ("onednn", "oneDNN"),
                  ("python", "Python"), ("key", "hardware fingerprint"), ("ragperf", "ragperf ran from"))
SECTIONS = (("versions", "Versions"), ("timed", "Speed, compile time and memory (NEW/OLD, 95% CI)"),
            ("recompile", "Behaviour: recompile scenarios"), ("parity", "Numerics: parity against fp64"),
            ("warm", "Warm start: NEW's and OLD's own caches"))
CACHE_FIELDS = (("fxgraph_hit", 1), ("autograd_hit", 1), ("fxgraph_miss", -1), ("autograd_miss", -1))
BAD = ("regression",)


def load_side(path: Path | str) -> dict:
    """A saved side (``ragperf release PYTHON --save FILE``) read through its schema
    (:mod:`ragperf.schemas.release_side`); a missing, corrupt, other-schema or malformed file is one line."""
    return schemas.load(path, side_schema.ReleaseSide, side_schema.KIND).data()


def load_report(path: Path | str) -> dict:
    """A release report (``--json FILE``) for :func:`merge`, read through its schema
    (:mod:`ragperf.schemas.release_report`); one line when it is not one."""
    from ragperf.perf.metrics import KINDS

    return schemas.load(path, report_schema.ReleaseReport, report_schema.KIND, context={"kinds": tuple(KINDS)}).data()


def _counts_text(counts: dict) -> str:
    return ", ".join(f"{label} {counts[name]}" for name, label, _ in COUNTS if name in counts)


def _recompile_value(row: dict) -> str:
    if "skipped" in row:
        return f"skipped: {row['skipped']}"
    return _counts_text(row["counts"]) + (f"; error: {row['error']}" if row.get("error") else "")


def _guards(row: dict) -> list[str]:
    """Each recompile reason's kind and failed guard, without the source lines and stack Dynamo appends
    (``  # file.py:833 in fn``): those move with every release even when the guard is the same."""
    return [reason.split("\n")[0].split("  # ")[0].strip() for reason in row.get("reasons") or []]


def _recompile_changes(a: dict, b: dict) -> tuple[list[str], str]:
    if "skipped" in a or "skipped" in b:
        same = _recompile_value(a) == _recompile_value(b)
        return ([] if same else [f"{_recompile_value(a)} -> {_recompile_value(b)}"]), "same" if same else "changed"
    changes, worse, better = [], False, False
    for name, label, direction in COUNTS:
        old, new = a["counts"].get(name), b["counts"].get(name)
        if old == new:
            continue
        changes.append(f"{label} {old} -> {new}")
        if old is None or new is None or not direction:
            continue
        moved = (new - old) * direction
        if name == "ops_captured" and old and abs(new - old) <= OPS_DROP * old:
            continue  # a few ops: how Dynamo traces a helper, not a fallback
        worse, better = worse or moved > 0, better or moved < 0
    failed = [c.get("frames_total", 0) - c.get("frames_ok", 0) for c in (a["counts"], b["counts"])]
    if failed[0] != failed[1]:  # a frame more or less is how a model's code is split; a frame that fails is not
        changes.append(f"frames not compiled {failed[0]} -> {failed[1]}")
        worse, better = worse or failed[1] > failed[0], better or failed[1] < failed[0]
    if a.get("error") != b.get("error"):
        changes.append(f"error {a.get('error')!r} -> {b.get('error')!r}")
        worse, better = worse or bool(b.get("error")), better or not b.get("error")
    if _guards(a) != _guards(b):
        changes.append("recompile reasons now: " + ("; ".join(_guards(b)) or "none"))
    return changes, "regression" if worse else "improvement" if better else "changed" if changes else "same"


def _parity_value(row: dict) -> str:
    rmse = "n/a" if row.get("rmse") is None else f"{row['rmse']:.3g}"
    return f"RMSE {rmse}, {row['verdict']} ({row['status']})"


def _ratio(old: float | None, new: float | None) -> float | None:
    """new/old for two RMSEs; ``None`` when either is missing; inf/0 where one is zero."""
    if old is None or new is None:
        return None
    if old <= 0 or new <= 0:
        return 1.0 if old == new else float("inf") if old <= 0 else 0.0
    return new / old


def _parity_changes(a: dict, b: dict) -> tuple[list[str], str]:
    changes, status = [], "same"
    if a["verdict"] != b["verdict"]:
        changes.append(f"verdict {a['verdict']} -> {b['verdict']}")
        status = "regression" if b["verdict"] == "fail" else "improvement"
    ratio = _ratio(a.get("rmse"), b.get("rmse"))
    if ratio is not None and (ratio > RMSE_FACTOR or ratio < 1 / RMSE_FACTOR):
        changes.append(f"RMSE {a.get('rmse'):.3g} -> {b.get('rmse'):.3g} (more than {RMSE_FACTOR:g}x)")
        if status == "same":
            status = "regression" if ratio > 1 else "improvement"
    elif (a.get("rmse") is None) != (b.get("rmse") is None):
        changes.append(f"RMSE {a.get('rmse')} -> {b.get('rmse')}")
        status = "changed" if status == "same" else status
    return changes, status


RULES = {"recompile": (_recompile_value, _recompile_changes), "parity": (_parity_value, _parity_changes)}


def _section_rows(section: str, rows_a: list[dict], rows_b: list[dict]) -> list[dict]:
    value, changes_of = RULES[section]
    by_a, by_b = {r["key"]: r for r in rows_a}, {r["key"]: r for r in rows_b}
    out = []
    for key in list(by_a) + [k for k in by_b if k not in by_a]:
        a, b = by_a.get(key), by_b.get(key)
        row = {"section": section, "key": key, "a": value(a) if a else None, "b": value(b) if b else None,
               "changes": []}
        if a is None or b is None:
            row["status"] = "new" if a is None else "gone"
        else:
            row["changes"], row["status"] = changes_of(a, b)
        out.append(row)
    return out


def _version_rows(a: dict, b: dict) -> list[dict]:
    return [{"section": "versions", "key": label, "a": a.get(name), "b": b.get(name), "changes": [],
             "status": "changed" if a.get(name) != b.get(name) else "same"} for name, label in VERSION_FIELDS]


def warm_rows(warm: dict) -> list[dict]:
    """NEW's and OLD's warm start (each from its own cache of a cold run) by cache counter."""
    if not warm:
        return []
    old, new = warm["old"].get("cache") or {}, warm["new"].get("cache") or {}
    rows = []
    for name, direction in CACHE_FIELDS:
        a, b = old.get(name, 0), new.get(name, 0)
        moved = (b - a) * direction
        rows.append({"section": "warm", "key": name.replace("_", " "), "a": a, "b": b, "changes": [],
                     "status": "same" if a == b else "regression" if moved < 0 else "improvement"})
    return rows


def untimed_rows(a: dict, b: dict) -> list[dict]:
    """Versions, behaviour and numerics of two sides (see the module docstring)."""
    return (_version_rows(a["versions"], b["versions"]) + _section_rows("recompile", a["recompile"], b["recompile"])
            + _section_rows("parity", a["parity"], b["parity"]))


def build(a: dict, b: dict, labels: tuple[str, str], timed: list[dict], *, warm: dict | None = None,
          timed_note: str | None = None, settings: dict | None = None, shard: tuple[int, int] = (0, 1),
          seconds: float | None = None) -> dict:
    """The report (schema :data:`SCHEMA`): every row, the tally, and the verdict (``regression`` when any row is)."""
    rows = untimed_rows(a, b) + timed + warm_rows(warm or {})
    tally = _tally(rows)
    verdict = "regression" if any(r["status"] in BAD for r in rows) else (
        "improvement" if tally.get("improvement") else "same")
    return {"schema": SCHEMA, "labels": list(labels), "machine": b["versions"].get("key"),
            "versions": {"old": a["versions"], "new": b["versions"]}, "settings": settings or {},
            "shard": list(shard), "timed_note": timed_note, "counts": tally, "verdict": verdict, "seconds": seconds,
            "rows": rows, "sides": {"old": a, "new": b}}


def _tally(rows: list[dict]) -> dict[str, int]:
    return dict(Counter(row["status"] for row in rows))


def exit_code(report: dict) -> int:
    """0 when nothing regressed, 1 when a row did."""
    return 1 if report["verdict"] == "regression" else 0


def _cell(text) -> str:
    return "" if text is None else str(text).replace("|", "\\|").replace("\n", "<br>")


def _software(found: dict) -> str:
    from ragperf.perf.machine import versions

    return versions(found)


def _timed_value(row: dict, side: str) -> str:
    value = row["old"] if side == "a" else row["new"]
    return "" if value is None else f"{value:.4g}"


def _timed_status(row: dict) -> str:
    if row["change"] is None:
        return row["status"]
    ci = 1.96 * row["se"]
    text = (f"{row['status']}: {row['change']:+.1%} [{row['change'] - ci:+.1%}, {row['change'] + ci:+.1%}], "
            f"band {row['band']:.0%}")
    if row["status"] in ("regression", "not significant", "improvement"):
        text += f", p {row['p_worse' if row['status'] != 'improvement' else 'p_better']:.2g}"
    if row["attempts"] > 1:
        text += " (settled)"
    if mark(row.get("machine")):
        text += f"; measured while {flag_line(row['machine'])}"
    return text


def markdown(report: dict, all_rows: bool = False, level: int = 2) -> str:
    """The report as GitHub Markdown (fits ``$GITHUB_STEP_SUMMARY``). Rows that are ``same`` are counted, not
    listed, unless ``all_rows``; every other row is listed."""
    old, new = report["labels"]
    head = "#" * level
    verdict = {"regression": "REGRESSION (exit 1)", "improvement": "no regression; improvements listed (exit 0)",
               "same": "no regression (exit 0)"}[report["verdict"]]
    lines = [f"{head} ragperf release: OLD -> NEW: {verdict}", "",
             f"- **OLD**: `{old}` - {_software(report['versions']['old'])}",
             f"- **NEW**: `{new}` - {_software(report['versions']['new'])}",
             f"- machine: `{report['machine']}`"
             + (f"; shard {report['shard'][0] + 1} of {report['shard'][1]}" if report["shard"][1] > 1 else "")
             + (f"; {report['seconds'] / 60:.1f} min" if report.get("seconds") else ""),
             "- rows: " + ", ".join(f"{n} {status}" for status, n in sorted(report["counts"].items()))]
    watched = {r["key"]: r["machine"] for r in report["rows"] if r.get("machine")}
    lines += [f"- {header(watched)}"] * bool(watched) + [""]
    if report.get("timed_note"):
        lines += [f"**{report['timed_note']}**", ""]
    for section, title in SECTIONS:
        rows = [r for r in report["rows"] if r["section"] == section]
        if not rows:
            continue
        lines += [f"{head}# {title}", ""]
        shown = rows if all_rows or section == "versions" else [r for r in rows if r["status"] != "same"]
        if len(shown) < len(rows):
            lines += [f"{len(rows) - len(shown)} of {len(rows)} rows same (`--all-rows` lists them)", ""]
        if not shown:
            continue
        lines += ["| row | OLD | NEW | status |", "| --- | --- | --- | --- |"]
        for row in shown:
            if section == "timed":
                a, b, status = _timed_value(row, "a"), _timed_value(row, "b"), _timed_status(row)
            else:
                a, b = row["a"], row["b"]
                status = row["status"] + (": " + "; ".join(row["changes"]) if row["changes"] else "")
            lines.append(f"| {_cell(row['key'])} | {_cell(a)} | {_cell(b)} | {_cell(status)} |")
        lines.append("")
    timed = [r for r in report["rows"] if r["section"] == "timed" and r["status"] != "report only"]
    if timed:
        lines += [f"Timed rows: a change is called when the gate's rule calls it beyond its band, a re-measure "
                  f"agrees, and its p-value survives Holm's correction over these {len(timed)} metrics at 5%.", ""]
    return "\n".join(lines)


def forest(report: dict, path: Path) -> Path:
    """A PNG forest plot: each timed metric's NEW/OLD change with its 95% CI, and its band shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ragperf.perf import metrics

    rows = [r for r in report["rows"] if r["section"] == "timed" and r["change"] is not None]
    fig, ax = plt.subplots(figsize=(8, 0.45 * max(len(rows), 2) + 1.2))
    colours = {"regression": "tab:red", "improvement": "tab:green", "not significant": "tab:orange"}
    for y, row in enumerate(rows):
        centre, ci = metrics.kind(row["kind"]).regression(row["change"]) * 100, 1.96 * row["se"] * 100
        ax.errorbar(centre, y, xerr=ci, fmt="o", color=colours.get(row["status"], "tab:blue"), capsize=3)
        ax.fill_betweenx([y - 0.4, y + 0.4], -row["band"] * 100, row["band"] * 100, color="0.9", zorder=0)
    ax.axvline(0, color="0.4", linewidth=0.8)
    ax.set_yticks(range(len(rows)), [r["key"] for r in rows], fontsize=8)
    ax.set_ylim(-0.5, len(rows) - 0.5)
    ax.invert_yaxis()
    ax.set_xlabel("NEW worse than OLD (%), 95% CI; grey: the band")
    ax.set_title(f"{_software(report['versions']['old'])}\n-> {_software(report['versions']['new'])}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def merge(reports: list[dict]) -> tuple[str, dict]:
    """Many runners' reports as one page: a section per machine (its shards' rows together), one verdict."""
    by_machine: dict[str, list[dict]] = {}
    for report in reports:
        by_machine.setdefault(report["machine"] or "unknown machine", []).append(report)
    merged = []
    for shards in by_machine.values():
        first = shards[0]
        rows = [row for shard in shards for row in shard["rows"] if row["section"] != "versions" or shard is first]
        merged.append({**first, "rows": rows, "counts": _tally(rows), "shard": [0, 1],
                       "seconds": max((s.get("seconds") or 0) for s in shards) or None,
                       "verdict": "regression" if any(s["verdict"] == "regression" for s in shards) else
                       "improvement" if any(s["verdict"] == "improvement" for s in shards) else "same"})
    worst = "regression" if any(m["verdict"] == "regression" for m in merged) else (
        "improvement" if any(m["verdict"] == "improvement" for m in merged) else "same")
    lines = [f"# ragperf release, {len(merged)} machine{'s' * (len(merged) != 1)}: {worst.upper()}", ""]
    lines += [f"- `{m['machine']}`: {m['verdict']}" for m in merged] + [""]
    lines += [markdown(m) for m in merged]
    return "\n".join(lines), {"schema": SCHEMA + "+merged", "verdict": worst, "machines": merged}


