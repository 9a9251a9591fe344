"""Generated hostile saved files: a valid file of every schema, mutated (a field dropped, retyped, made NaN or
infinite or negative, the text cut short, the schema version newer), fed to its loader and then to what uses
it - and, where a command reads it cheaply, to that command.

The property: one :class:`RagperfError` line naming the file (a command: exit 2 and that one line), or correct
processing - no traceback, and nothing non-finite reaching a verdict or a table."""

import contextlib
import copy
import io
import json
import math
import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragperf import cli
from ragperf.compile.expected import COLUMNS, ExpectedTable
from ragperf.compile.probe import COUNT_FIELDS
from ragperf.errors import RagperfError
from ragperf.evidence import bundle
from ragperf.jobs import release, release_report
from ragperf.perf import baselines, fleet, gate, processes, proof
from ragperf.perf.plugin import report_json

ROOT = Path(__file__).resolve().parents[3]
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NON_FINITE = re.compile(r"\b(nan|inf)\b", re.IGNORECASE)


# ---- one small valid file of each schema, written by ragperf's own writers where it has one ----------------

def _baseline() -> dict:
    measured = baselines.with_history(None, {"kind": "speedup", "value": 1.3, "se": 0.01, "processes": [1.3, 1.31]})
    measured = baselines.with_history(measured, {"kind": "speedup", "value": 1.28, "se": 0.01, "processes": [1.28, 1.3]})
    published = {**baselines.metric("latency", 0.02, 0.0), "tolerance": 0.1}
    return baselines.BaselineFile("k", "measured", {"arch": "x86_64"}, {"e/m/v/speedup": measured,
                                                                       "e/m/v/median_s": published}).to_json()


def _gate_report() -> dict:
    stored = {"e/m/v/speedup": baselines.metric("speedup", 1.5, 0.01)}
    base = baselines.BaselineFile("k", "measured", {}, stored, path=Path("baselines/perf/k.json"))
    measured = {"e/m/v/speedup": gate.Measurement("e/m/v/speedup", "speedup", 1.2, 0.01, 1.18, 1.22),
                "e/m/v/median_s": gate.Measurement("e/m/v/median_s", "latency", 0.01, 0.01)}
    return report_json(gate.gate(measured, base), {"key": "k", "arch": "x86_64"}, base)


def _trimmed(side: dict) -> dict:
    return {**side, **{part: side.get(part, [])[:2] for part in ("recompile", "parity", "memory")}}


def _side() -> dict:
    side = _trimmed(json.loads((ROOT / "docs/results/release/aa1.json").read_text())["sides"]["new"])
    side["recompile"].append({"key": "m / s / mark_unbacked / eager", "skipped": "needs torch 2.9"})
    return side


def _release_report() -> dict:
    report = json.loads((ROOT / "docs/results/release/planted-5pct-alone.json").read_text())
    by_section: dict[str, list] = {}
    for row in report["rows"]:
        by_section.setdefault(row["section"], []).append(row)
    timed = sorted(by_section["timed"], key=lambda r: r["status"] != "regression")[:2]
    rows = by_section["versions"][:2] + by_section["recompile"][:1] + by_section["parity"][:1] + timed
    side = _trimmed(report["sides"]["old"])
    return {**report, "rows": rows, "counts": release_report._tally(rows), "sides": {"old": side, "new": side}}


def _figures(speedup: float, slowdown: float) -> dict:
    return {"speedup": speedup, "speedup_se": 0.01, "speedup_low": speedup * 0.98, "speedup_high": speedup * 1.02,
            "median_s": 0.01, "latency_se": 0.01, "recompiles_while_timed": 0, "slowdown": slowdown}


def _campaign() -> dict:
    runs = {"embed/m/compile": [(p, _figures(1.3 + p / 100, s)) for p in range(2) for s in (0.0, 0.05)]}
    with tempfile.TemporaryDirectory() as folder:
        proof.save(Path(folder) / "c.json", runs, ["speedup"], "k")
        return json.loads((Path(folder) / "c.json").read_text())


def _bundle_env() -> dict:
    return {"nodeid": "tests/test_x.py::test_y", "cwd": ".", "latched_env": {"OMP_NUM_THREADS": "1", "X": None},
            "versions": {"torch": "2.13.0"}, "params": {"n": "1"}, "fingerprint": {"key": "k"}}


TABLE = ",".join(COLUMNS) + "".join(f"\ns{i},auto,eager," + ",".join(str(i + j) for j in range(len(COUNT_FIELDS)))
                                    for i in range(2)) + "\n"


# ---- what uses each loaded file: must finish, and show nothing non-finite ----------------------------------

def _use_baseline(path: Path) -> str:
    loaded = baselines.load(path)
    lines = [gate.judge(gate.Measurement(name, entry["kind"], 1.0, 0.01, processes=[1.0, 1.0]), entry).message
             for name, entry in loaded.metrics.items()]
    return "\n".join(lines + [str(baselines.schema_line(loaded))])


def _use_gate_report(path: Path) -> str:
    report = fleet.load_report(path)
    return fleet.merge([report, report]) + fleet.overall([report])


def _use_side(path: Path) -> str:
    side = release_report.load_side(path)
    timed = release.family(release.memory_decisions(side["memory"], side["memory"]))
    return release_report.markdown(release_report.build(side, side, ("a", "b"), timed), all_rows=True)


def _use_release_report(path: Path) -> str:
    report = release_report.load_report(path)
    return release_report.merge([report, report])[0] + str(release_report.exit_code(report))


def _use_campaign(path: Path) -> str:
    saved = proof.load(path, ["speedup"])
    base = baselines.metric("speedup", 1.3, 0.01)
    lines = [saved.cases(), str(saved.processes())]
    for case, values in saved.runs.items():
        for slowdown in sorted({figures["slowdown"] for _, figures in values}):
            for group in proof.groups([v for v in values if v[1]["slowdown"] == slowdown], 2):
                measured = gate.from_figures(case, processes.combine(group))
                lines.append(gate.judge(measured[f"{case}/speedup"], base).message)
    return "\n".join(lines)


def _use_bundle(path: Path) -> str:
    args, env = bundle.load(path.parent)
    return " ".join(args) + str(sorted(bundle.child_env(env, {}).items())[:0])


def _use_table(path: Path) -> str:
    table = ExpectedTable.load(path.parent, path.name)
    return "\n".join(str(table.mismatch(key, counts)) for key, counts in table.rows.items())


# kind -> (file name, a valid document (JSON object, or CSV text), what uses it, how a newer version is written)
KINDS = {
    "baseline": ("b.json", _baseline(), _use_baseline, ("schema_version", 3)),
    "gate report": ("r.json", _gate_report(), _use_gate_report, None),
    "release side": ("s.json", _side(), _use_side, ("schema", "ragperf-release-side/2")),
    "release report": ("rr.json", _release_report(), _use_release_report, ("schema", "ragperf-release/2")),
    "campaign": ("c.json", _campaign(), _use_campaign, ("schema_version", 2)),
    "repro bundle": ("env.json", _bundle_env(), _use_bundle, None),
    "expected table": ("torch9.9-transformers9.9.csv", TABLE, _use_table, None),
}


# ---- mutations --------------------------------------------------------------------------------------------

def _places(doc, at=()) -> list[tuple]:
    """Every place in a JSON document: the path of keys and indexes to it."""
    found = [at] if at else []
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _places(value, (*at, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found += _places(value, (*at, index))
    return found


OTHER_VALUES = ("text", "", 0, -1, 1, 1.5, 1e308, True, None, [], {}, [1.0], {"a": 1})
NON_FINITE_VALUES = (math.nan, math.inf, -math.inf)


@st.composite
def mutated(draw, kind: str) -> tuple[str, str]:
    """(how the valid file of ``kind`` was damaged, the damaged text)."""
    _, valid, _, newer = KINDS[kind]
    if isinstance(valid, str):  # a CSV table: cut it, or damage a cell
        lines = valid.splitlines()
        line = draw(st.integers(0, len(lines) - 1))
        cells = lines[line].split(",")
        cell = draw(st.integers(0, len(cells) - 1))
        how = draw(st.sampled_from(["cut", "cell", "drop cell", "extra cell", "duplicate row"]))
        if how == "cut":
            return how, valid[:draw(st.integers(0, len(valid) - 1))]
        if how == "duplicate row":
            return how, valid + lines[-1] + "\n"
        if how == "drop cell":
            cells.pop(cell)
        elif how == "extra cell":
            cells.append("7")
        else:
            cells[cell] = draw(st.sampled_from(["", "-1", "1.5", "nan", "inf", "1e9", "x", '"', "\x00"]))
        lines[line] = ",".join(cells)
        return f"{how} {line}:{cell}", "\n".join(lines) + "\n"
    doc = copy.deepcopy(valid)
    how = draw(st.sampled_from(["drop", "retype", "non-finite", "cut"] + ["newer"] * bool(newer)))
    if how == "cut":
        text = json.dumps(doc)
        return how, text[:draw(st.integers(0, len(text) - 1))]
    if how == "newer":
        doc[newer[0]] = newer[1]
        return how, json.dumps(doc)
    place = draw(st.sampled_from(_places(doc)))
    parent = doc
    for step in place[:-1]:
        parent = parent[step]
    if how == "drop":
        del parent[place[-1]]
    else:
        parent[place[-1]] = draw(st.sampled_from(NON_FINITE_VALUES if how == "non-finite" else OTHER_VALUES))
    return f"{how} {place}", json.dumps(doc)


def _write(folder: Path, kind: str, text: str) -> Path:
    path = folder / KINDS[kind][0]
    path.write_text(text, encoding="utf-8")
    if kind == "repro bundle":
        (folder / bundle.COMMAND).write_text("pytest tests/test_x.py::test_y -q\n", encoding="utf-8")
    return path


def _holds(kind: str, how: str, text: str) -> None:
    """The property, for one damaged file of ``kind``."""
    with tempfile.TemporaryDirectory() as folder:
        path = _write(Path(folder), kind, text)
        try:
            shown = KINDS[kind][2](path)
        except RagperfError as exc:
            line = str(exc)
            assert "\n" not in line and (str(path) in line or folder in line), f"{how}: {line}"
            return
        assert not NON_FINITE.search(shown), f"{how}: a non-finite number was used:\n{shown}"


def test_every_valid_seed_is_used_as_it_is():
    for kind, (_, valid, _, _) in KINDS.items():
        with tempfile.TemporaryDirectory() as folder:
            path = _write(Path(folder), kind, valid if isinstance(valid, str) else json.dumps(valid))
            assert KINDS[kind][2](path), kind


@FUZZ
@given(st.data())
def test_a_damaged_baseline_is_one_line_or_used_correctly(data):
    _holds("baseline", *data.draw(mutated("baseline")))


@FUZZ
@given(st.data())
def test_a_damaged_gate_report_is_one_line_or_used_correctly(data):
    _holds("gate report", *data.draw(mutated("gate report")))


@FUZZ
@given(st.data())
def test_a_damaged_release_side_is_one_line_or_used_correctly(data):
    _holds("release side", *data.draw(mutated("release side")))


@FUZZ
@given(st.data())
def test_a_damaged_release_report_is_one_line_or_used_correctly(data):
    _holds("release report", *data.draw(mutated("release report")))


@FUZZ
@given(st.data())
def test_a_damaged_campaign_is_one_line_or_used_correctly(data):
    _holds("campaign", *data.draw(mutated("campaign")))


@FUZZ
@given(st.data())
def test_a_damaged_repro_bundle_is_one_line_or_used_correctly(data):
    _holds("repro bundle", *data.draw(mutated("repro bundle")))


@FUZZ
@given(st.data())
def test_a_damaged_expected_table_is_one_line_or_used_correctly(data):
    _holds("expected table", *data.draw(mutated("expected table")))


def test_a_non_finite_baseline_or_measurement_is_refused_not_judged(tmp_path):
    """A NaN baseline would gate as "nan% above baseline nanx"; a NaN measurement would summarize as PASS."""
    doc = _baseline()
    doc["metrics"]["e/m/v/speedup"]["history"][0]["value"] = math.nan
    assert _refused("baseline", tmp_path, json.dumps(doc))
    report = _gate_report()
    report["decisions"][0]["measured"] = math.nan
    assert _refused("gate report", tmp_path, json.dumps(report))


def _refused(kind: str, folder: Path, text: str) -> bool:
    try:
        KINDS[kind][2](_write(folder, kind, text))
    except RagperfError:
        return True
    return False


# ---- the commands that read these files ---------------------------------------------------------------------

def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


# kind -> the command line reading a file of that kind twice (PATH)
COMMANDS = {
    "gate report": ["baseline", "merge", "PATH", "PATH"],
    "release report": ["release", "--merge", "PATH", "PATH"],
    "release side": ["release", "PATH", "PATH", "--parts", "recompile,parity,memory"],
}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(COMMANDS)), st.data())
def test_a_command_given_a_damaged_file_exits_2_with_one_line_or_uses_it(kind, data):
    how, text = data.draw(mutated(kind))
    with tempfile.TemporaryDirectory() as folder:
        path = _write(Path(folder), kind, text)
        code, out, err = _run([str(path) if arg == "PATH" else arg for arg in COMMANDS[kind]])
        if code == 2:
            assert err.startswith("ragperf: error: ") and err.count("\n") == 1 and str(path) in err, f"{how}: {err}"
        else:
            assert code in (0, 1) and not err.strip() and not NON_FINITE.search(out), f"{how}: exit {code}\n{err}{out}"
