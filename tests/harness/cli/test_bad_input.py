"""The bad-input catalogue: every ``ragperf`` subcommand and ``--ragperf-*`` plugin option, fed each bad
value it can get, answers with one line that says what to do - never a traceback, never a silent default,
and before anything is compiled or measured.

The cases are the rows of ``bad_input_cases.toml`` (next to this file). ``ragperf`` rows run in this
process through :func:`ragperf.cli.main`; plugin rows run an inner pytest (``pytester``, in-process).
Every measuring entry point is replaced by a tripwire, so a row that got past its check fails loudly.
"""

from __future__ import annotations

import functools
import json
import shlex
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from ragperf import cli

TABLE = tomllib.loads((Path(__file__).with_name("bad_input_cases.toml")).read_text(encoding="utf-8"))
COMMAND_ROWS = TABLE["command"]
PLUGIN_ROWS = TABLE["plugin"]


class Measured(BaseException):
    """A bad-input case reached a compile or a measurement (BaseException: no section handler eats it)."""


TRIPWIRES = (
    "ragperf.subproc.run_json", "ragperf.perf.cases.Case.measure", "ragperf.perf.cases.Case.measure_fresh",
    "ragperf.jobs.compile_cost.cold_vs_warm", "ragperf.compile.scenarios.run_case",
    "ragperf.compile.scenarios.probe_shapes", "ragperf.arm64.build.setup", "ragperf.arm64.chroot.run",
    "ragperf.evidence.bundle.rerun", "ragperf.numerics.parity.embedder_parity", "ragperf.numerics.parity.decode_parity",
    "torch.compile",
)


@functools.cache
def _machine_key() -> str:
    from ragperf.perf.machine import fingerprint

    return fingerprint()["key"]


@functools.cache
def _rowless_report() -> str:
    """A committed release report with its rows taken out (its counts still tally them)."""
    report = json.loads((Path(cli.__file__).resolve().parents[1] / "docs/results/release/aa1.json").read_text())
    return json.dumps({**report, "rows": []})


@pytest.fixture
def places(tmp_path: Path) -> dict[str, str]:
    """The paths the rows name: ``{missing}``, ``{file}``, ``{dir}`` (empty folder), bad reports, the source tree,
    ``{corrupt_baselines}`` (a baseline folder whose file for this machine is cut off),
    ``{bare_python}`` (an interpreter without ragperf), ``{causal}`` / ``{encoder}`` (model folders of each kind,
    config only: the kind is refused before any weight is read), ``{vision}`` / ``{badconfig}`` (folders of neither
    kind), ``{empty_baselines}`` (this machine's baseline file with no figure), ``{rowless_report}`` (a release
    report whose counts its rows do not give), ``{nodecisions}`` (a gate report of a runner that measured nothing), ``{side}`` (a saved release side)."""
    (tmp_path / "a-file.txt").write_text("not what was asked for\n")
    for name, architecture in (("causal", "Qwen2ForCausalLM"), ("encoder", "DistilBertModel"),
                               ("vision", "ResNetForImageClassification")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps({"architectures": [architecture]}))
    (tmp_path / "badconfig").mkdir()
    (tmp_path / "badconfig" / "config.json").write_text("{ cut")
    (tmp_path / "empty").mkdir()
    (tmp_path / "not.json").write_text("{ truncated")
    (tmp_path / "no-verdict.json").write_text(json.dumps({"fingerprint": {"key": "x"}, "baseline": None}))
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "no-decisions.json").write_text(json.dumps({"fingerprint": {"key": "x"}, "baseline": None,
                                                            "decisions": []}))
    (tmp_path / "nan-report.json").write_text(json.dumps({"fingerprint": {"key": "x"}, "baseline": None, "decisions": [
        {"metric": "e/m/v/speedup", "status": "PASS", "kind": "speedup", "measured": float("nan"), "se": 0.01}]}))
    (tmp_path / "newer-side.json").write_text(json.dumps({"schema": "ragperf-release-side/9", "versions": {}}))
    bare = tmp_path / "bare-python"  # a python that sees no installed package (isolated, no site-packages)
    bare.write_text(f'#!/bin/sh\nexec "{sys.executable}" -I -S "$@"\n')
    bare.chmod(0o755)
    corrupt = tmp_path / "corrupt-baselines"  # this machine's baseline file, cut off: what `record` merges into
    corrupt.mkdir()
    (corrupt / f"{_machine_key()}.json").write_text('{"schema": "ragperf-perf-baseline')
    empty = tmp_path / "empty-baselines"  # this machine's baseline file, holding no figure
    empty.mkdir()
    (empty / f"{_machine_key()}.json").write_text(json.dumps({"schema": "ragperf-perf-baseline", "schema_version": 1,
                                                              "source": "measured", "match": {}, "metrics": {}}))
    (tmp_path / "rowless-report.json").write_text(_rowless_report())
    (tmp_path / "side.json").write_text(json.dumps(json.loads(_rowless_report())["sides"]["new"]))
    return {"bare_python": str(bare), "missing": str(tmp_path / "no-such"), "file": str(tmp_path / "a-file.txt"),
            "corrupt_baselines": str(corrupt), "empty_baselines": str(empty),
            "rowless_report": str(tmp_path / "rowless-report.json"),
            "nodecisions": str(tmp_path / "no-decisions.json"), "side": str(tmp_path / "side.json"),
            "dir": str(tmp_path / "empty"),
            "nojson": str(tmp_path / "not.json"), "noverdict": str(tmp_path / "no-verdict.json"),
            "list": str(tmp_path / "list.json"), "nanreport": str(tmp_path / "nan-report.json"),
            "newerside": str(tmp_path / "newer-side.json"), "source": str(Path(cli.__file__).resolve().parents[1]),
            "causal": str(tmp_path / "causal"), "encoder": str(tmp_path / "encoder"),
            "vision": str(tmp_path / "vision"), "badconfig": str(tmp_path / "badconfig")}


@pytest.fixture
def tripwires(monkeypatch):
    import ragperf.arm64.build
    import ragperf.arm64.chroot
    import ragperf.compile.scenarios
    import ragperf.evidence.bundle
    import ragperf.jobs.compile_cost
    import ragperf.numerics.parity
    import ragperf.perf.cases
    import ragperf.subproc  # noqa: F401 - imported so monkeypatch can reach them

    def trip(*args, **kwargs):
        raise Measured("a bad-input case got as far as compiling or measuring")

    for target in TRIPWIRES:
        monkeypatch.setattr(target, trip)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _needs(row: dict):
    if row.get("needs") == "no-cuda":
        import torch

        if torch.cuda.is_available():
            pytest.skip("this row is about a machine without CUDA")


def _env(row: dict, places: dict[str, str], monkeypatch) -> None:
    """A row's ``env``: environment variables set (values name places like argv) for this row only."""
    for name, value in row.get("env", {}).items():
        monkeypatch.setenv(name, value.format(**places))


@pytest.mark.parametrize("row", COMMAND_ROWS, ids=[r["id"] for r in COMMAND_ROWS])
def test_a_bad_command_line_gets_one_line_saying_what_to_do(row, places, tripwires, capsys, monkeypatch):
    _needs(row)
    _env(row, places, monkeypatch)
    argv = [a.format(**places) for a in shlex.split(row["argv"])]
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    out = capsys.readouterr()
    lines = out.err.splitlines()
    assert code == 2, f"ragperf {shlex.join(argv)} exited {code}; stderr:\n{out.err}"
    assert len(lines) == 1, f"want exactly one line on stderr, got {len(lines)}:\n{out.err}"
    assert lines[0].startswith("ragperf") and "error:" in lines[0], lines[0]
    assert row["says"].lower() in lines[0].lower(), f"the line does not say {row['says']!r}: {lines[0]}"


@pytest.fixture
def plugin_modules():
    """What the start-up checks import, imported before ``pytester`` snapshots ``sys.modules``."""
    import ragperf.models.decoders  # noqa: F401
    import ragperf.models.registry  # noqa: F401


@pytest.mark.parametrize("row", PLUGIN_ROWS, ids=[r["id"] for r in PLUGIN_ROWS])
def test_a_bad_plugin_option_is_refused_once_at_start_up(row, places, plugin_modules, tripwires, pytester, monkeypatch):
    _needs(row)
    _env(row, places, monkeypatch)
    # Three tests that take the fixtures: a check made per fixture would say it three times.
    pytester.makepyfile(test_three="def test_a(decoder, embedder): pass\n"
                                   "def test_b(decoder, embedder): pass\n"
                                   "def test_c(decoder, embedder, ragperf_perf): pass\n")
    args = [a.format(**places) for a in shlex.split(row["args"])]
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:randomly", *args)
    errors = [line for line in result.errlines if line.strip()]
    assert result.ret == pytest.ExitCode.USAGE_ERROR, f"pytest {shlex.join(args)} exited {result.ret}:\n" + \
        "\n".join(result.outlines[-15:] + result.errlines)
    assert not any("Traceback" in line for line in result.outlines + result.errlines)
    assert sum(row["says"].lower() in line.lower() for line in errors) == 1, "\n".join(errors)


def test_the_catalogue_covers_every_subcommand_and_plugin_option():
    """A new subcommand or ``--ragperf-*`` option must come with its bad-input rows."""
    import ragperf.evidence.plugin
    import ragperf.perf.plugin
    import ragperf.plugin

    covered = {shlex.split(r["argv"])[0] for r in COMMAND_ROWS if r["argv"]}
    assert covered == set(cli.COMMAND_MODULES)
    class Recorder:  # stands in for pytest's parser: notes each option's names and settings
        options: dict[str, dict] = {}

        def getgroup(self, *args, **kwargs):
            return self

        def addoption(self, *names, **settings):
            self.options[names[0]] = settings

    recorder = Recorder()
    for module in (ragperf.plugin, ragperf.perf.plugin, ragperf.evidence.plugin):
        module.pytest_addoption(recorder)
    taking_values = {name for name, settings in recorder.options.items() if not settings.get("action")}
    assert taking_values <= {shlex.split(r["args"])[0].split("=")[0] for r in PLUGIN_ROWS}


def test_the_readme_states_how_many_cases_the_catalogue_covers():
    readme = (Path(cli.__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert f"**{len(COMMAND_ROWS) + len(PLUGIN_ROWS)} cases** ({len(COMMAND_ROWS)} command lines" in readme
