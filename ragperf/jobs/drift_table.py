"""``ragperf drift``'s comparison: two sides (see :mod:`ragperf.jobs.drift`) row by row, as one table.

Each row - a recompile scenario, a parity variant, a speed case, a version - is ``same``, ``changed``
(old -> new), ``new`` (only in B) or ``gone`` (only in A). What counts as changed:

* recompile: any count, the compile error, or the list of recompile reasons (kind and guard; not the
  source lines Dynamo quotes, which move with every release) differs;
* parity: the verdict differs, or the RMSE vs fp64 moved by more than :data:`RMSE_FACTOR` either way
  (smaller moves are run-to-run rounding, shown but not flagged);
* speed: the two speedups' confidence intervals do not overlap; compile time: Dynamo or Inductor
  seconds moved by more than :data:`COMPILE_FACTOR` either way (a shared machine's noise is below that);
* versions: the strings differ.

Speed is compared only when both sides have the same hardware fingerprint key; otherwise its rows are
``not compared`` and the table says why in one line. Behaviour and parity are compared regardless.
"""

from __future__ import annotations

import json
from pathlib import Path

from ragperf.errors import RagperfError
from ragperf.jobs.drift import SCHEMA

COMPARISON_SCHEMA = "ragperf-drift/1"
RMSE_FACTOR = 2.0
COMPILE_FACTOR = 1.5
COUNT_LABELS = (("graphs", "graphs"), ("frames_ok", "frames ok"), ("frames_total", "frames"),
                ("ops_captured", "ops"), ("fallbacks", "fallbacks"), ("graph_breaks", "breaks"),
                ("recompiles", "recompiles"))
VERSION_FIELDS = (("torch", "torch"), ("transformers", "transformers"), ("onednn", "oneDNN"),
                  ("python", "Python"), ("key", "hardware fingerprint"), ("ragperf", "ragperf ran from"))
SECTIONS = (("versions", "Versions"), ("recompile", "Recompile scenarios"),
            ("parity", "Parity (fp32; RMSE vs fp64, verdict)"),
            ("speed", "Speed (speedup vs eager, 95% CI; compile time from an empty cache)"))


def load_side(path: Path | str) -> dict:
    """A saved side (``ragperf drift --save``); a missing, corrupt or other-schema file is a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise RagperfError(f"{path} {'is a folder' if path.is_dir() else 'does not exist'}: give a result "
                           "file written by `ragperf drift PYTHON --save FILE`")
    try:
        side = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RagperfError(f"{path} is not a readable JSON result ({type(exc).__name__}): record it again with "
                           "`ragperf drift PYTHON --save FILE`") from None
    schema = side.get("schema") if isinstance(side, dict) else None
    if schema != SCHEMA:
        raise RagperfError(f"{path} has schema {schema!r}, this ragperf reads {SCHEMA!r}: record it again with "
                           "`ragperf drift PYTHON --save FILE`")
    return side


def _counts_text(counts: dict) -> str:
    return ", ".join(f"{label} {counts[name]}" for name, label in COUNT_LABELS if name in counts)


def _recompile_value(row: dict) -> str:
    if "skipped" in row:
        return f"skipped: {row['skipped']}"
    text = _counts_text(row["counts"])
    return text + (f"; error: {row['error']}" if row.get("error") else "")


def _recompile_changes(a: dict, b: dict) -> list[str]:
    if "skipped" in a or "skipped" in b:
        return [] if _recompile_value(a) == _recompile_value(b) else [f"{_recompile_value(a)} -> {_recompile_value(b)}"]
    changes = [f"{label} {a['counts'].get(name)} -> {b['counts'].get(name)}" for name, label in COUNT_LABELS
               if a["counts"].get(name) != b["counts"].get(name)]
    if a.get("error") != b.get("error"):
        changes.append(f"error {a.get('error')!r} -> {b.get('error')!r}")
    if _guards(a) != _guards(b):
        changes.append("recompile reasons now: " + ("; ".join(_guards(b)) or "none"))
    return changes


def _guards(row: dict) -> list[str]:
    """Each recompile reason's kind and failed guard, without the source lines and stack Dynamo appends
    (``  # file.py:833 in fn``): those move with every release even when the guard is the same."""
    return [reason.split("\n")[0].split("  # ")[0].strip() for reason in row.get("reasons") or []]


def _parity_value(row: dict) -> str:
    rmse = "n/a" if row.get("rmse") is None else f"{row['rmse']:.3g}"
    return f"RMSE {rmse}, {row['verdict']} ({row['status']})"


def _moved(old: float | None, new: float | None, factor: float) -> bool:
    if old is None or new is None:
        return old != new
    if old <= 0 or new <= 0:
        return (old <= 0) != (new <= 0) and max(old, new) > 0
    return max(old / new, new / old) > factor


def _parity_changes(a: dict, b: dict) -> list[str]:
    changes = []
    if a["verdict"] != b["verdict"]:
        changes.append(f"verdict {a['verdict']} -> {b['verdict']}")
    if _moved(a.get("rmse"), b.get("rmse"), RMSE_FACTOR):
        changes.append(f"RMSE {a.get('rmse'):.3g} -> {b.get('rmse'):.3g} (more than {RMSE_FACTOR:g}x)")
    return changes


def _speed_value(row: dict) -> str:
    if "speedup" in row:
        return f"{row['speedup']:.2f}x [{row['low']:.2f}-{row['high']:.2f}] ({row['rounds']} rounds)"
    return f"Dynamo {row['dynamo_s']:.1f} s, Inductor {row['inductor_s']:.1f} s"


def _speed_changes(a: dict, b: dict) -> list[str]:
    if "speedup" in a:
        if a["high"] < b["low"] or b["high"] < a["low"]:
            return [f"speedup {a['speedup']:.2f}x -> {b['speedup']:.2f}x (the 95% intervals do not overlap)"]
        return []
    return [f"{label} {a[name]:.1f} s -> {b[name]:.1f} s" for name, label in (("dynamo_s", "Dynamo"),
                                                                           ("inductor_s", "Inductor"))
            if _moved(a[name], b[name], COMPILE_FACTOR)]


RULES = {"recompile": (_recompile_value, _recompile_changes), "parity": (_parity_value, _parity_changes),
         "speed": (_speed_value, _speed_changes)}


def _section_rows(section: str, rows_a: list[dict], rows_b: list[dict], compared: bool = True) -> list[dict]:
    value, changes_of = RULES[section]
    by_a, by_b = {r["key"]: r for r in rows_a}, {r["key"]: r for r in rows_b}
    out = []
    for key in list(by_a) + [k for k in by_b if k not in by_a]:
        a, b = by_a.get(key), by_b.get(key)
        row = {"section": section, "key": key, "a": value(a) if a else None, "b": value(b) if b else None,
               "changes": []}
        if a is None or b is None:
            row["status"] = "new" if a is None else "gone"
        elif not compared:
            row["status"] = "not compared"
        else:
            row["changes"] = changes_of(a, b)
            row["status"] = "changed" if row["changes"] else "same"
        out.append(row)
    return out


def _version_rows(a: dict, b: dict) -> list[dict]:
    rows = []
    for name, label in VERSION_FIELDS:
        old, new = a.get(name), b.get(name)
        rows.append({"section": "versions", "key": label, "a": old, "b": new,
                     "status": "changed" if old != new else "same", "changes": []})
    return rows


def compare(a: dict, b: dict, labels: tuple[str, str] = ("A", "B")) -> dict:
    """The comparison (schema :data:`COMPARISON_SCHEMA`): every row with its status, and whether speed was compared."""
    key_a, key_b = a["versions"].get("key"), b["versions"].get("key")
    same_machine = key_a == key_b
    note = None if same_machine else (f"speed not compared: the hardware fingerprints differ ({key_a} vs {key_b}); "
                                      "a speedup is only comparable with one measured on the same hardware")
    rows = _version_rows(a["versions"], b["versions"])
    rows += _section_rows("recompile", a["recompile"], b["recompile"])
    rows += _section_rows("parity", a["parity"], b["parity"])
    rows += _section_rows("speed", a["speed"] + a["compile_time"], b["speed"] + b["compile_time"], same_machine)
    tally: dict[str, int] = {}
    for row in rows:
        tally[row["status"]] = tally.get(row["status"], 0) + 1
    return {"schema": COMPARISON_SCHEMA, "labels": list(labels), "speed_compared": same_machine, "speed_note": note,
            "counts": tally, "rows": rows, "a": a, "b": b}


def _cell(text) -> str:
    return "" if text is None else str(text).replace("|", "\\|").replace("\n", "<br>")


def _software(side: dict) -> str:
    from ragperf.perf.machine import versions

    return versions(side["versions"])


def markdown(comparison: dict, all_rows: bool = False) -> str:
    """The side-by-side table as GitHub Markdown (fits a CI job summary). Recompile rows that are ``same``
    are counted, not listed, unless ``all_rows`` (there are dozens); every other row is listed."""
    label_a, label_b = comparison["labels"]
    counts = comparison["counts"]
    lines = ["## ragperf drift: A -> B", "",
             f"- **A**: `{label_a}` - {_software(comparison['a'])}",
             f"- **B**: `{label_b}` - {_software(comparison['b'])}",
             "- rows: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())), ""]
    if comparison["speed_note"]:
        lines += [f"**{comparison['speed_note']}**", ""]
    for section, title in SECTIONS:
        rows = [r for r in comparison["rows"] if r["section"] == section]
        if not rows:
            continue
        lines += [f"### {title}", ""]
        shown = rows if all_rows or section != "recompile" else [r for r in rows if r["status"] != "same"]
        if len(shown) < len(rows):
            lines += [f"{len(rows) - len(shown)} of {len(rows)} rows same (`--all-rows` lists them)", ""]
        if not shown:
            continue
        lines += ["| row | A | B | status |", "| --- | --- | --- | --- |"]
        for row in shown:
            status = row["status"] + (": " + "; ".join(row["changes"]) if row["changes"] else "")
            lines.append(f"| {_cell(row['key'])} | {_cell(row['a'])} | {_cell(row['b'])} | {_cell(status)} |")
        lines.append("")
    return "\n".join(lines)
