"""The one child-process entry, ``python -m ragperf.jobs NAME``: every job is reachable through it, its shared
arguments are validated once (a device that is not there, a count out of its bounds: one line, exit 2,
nothing measured), and no other module parses a child's command line."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import ragperf
from ragperf import jobargs
from ragperf.jobs import child

PACKAGE = Path(ragperf.__file__).parent
# Entries that are not child jobs: the ragperf command, the parity command re-run in a child with its own parser,
# and the two long-lived protocol workers (see ragperf.jobs.child).
OWN_ENTRIES = {"cli.py", "commands/parity.py", "perf/lockstep.py", "serve/worker.py"}


class Measured(BaseException):
    """A refused command line got as far as running its job."""


@pytest.fixture(autouse=True)
def tripwires(monkeypatch):
    """Every job's function raises :class:`Measured`: a refusal must come before it."""
    def measured(args):
        raise Measured("a job ran on a command line that should have been refused")

    for name in child.JOBS:
        monkeypatch.setattr(child.parser_for(name)[1], "job", measured)


def _takes(name: str, option: str) -> bool:
    parser, _ = child.parser_for(name)
    return any(option in action.option_strings for action in parser._actions)


def _refused(capsys, argv: list[str]) -> str:
    """``python -m ragperf.jobs *argv`` in this process, refused: its one stderr line."""
    code = child.main(argv)
    err = capsys.readouterr().err.splitlines()
    assert code == 2, f"{argv} exited {code}"
    assert len(err) == 1, f"want one line on stderr, got {len(err)}:\n" + "\n".join(err)
    assert err[0].startswith(f"python -m ragperf.jobs {argv[0]}"), err[0]
    return err[0]


def test_every_job_has_a_parser_and_a_job_function():
    for name in child.JOBS:
        parser, module = child.parser_for(name)
        assert callable(module.job), name
        assert parser.prog == f"python -m ragperf.jobs {name}"


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present: nothing to refuse")
@pytest.mark.parametrize("name", [n for n in child.JOBS if _takes(n, "--device")])
def test_device_cuda_without_a_gpu_is_refused_by_every_job_in_one_line(name, capsys):
    argv = [name, "--device", "cuda", *_required(name)]
    assert "torch.cuda.is_available() is False" in _refused(capsys, argv)


def _required(name: str) -> list[str]:
    """Valid values of the job's required arguments (so that only the device is wrong)."""
    parser, _ = child.parser_for(name)
    values = {"--variant": "compile", "--model": "tiny-bert", "--path": "cold", "--artifacts": ".", "--arm": "eager"}
    out = ["embed"] if any(a.dest == "kind" and not a.option_strings for a in parser._actions) else []
    for action in parser._actions:
        if action.required and action.option_strings:
            out += [action.option_strings[0], values[action.option_strings[0]]]
    return out


@pytest.mark.parametrize("value", ["0", "-3", "100001", "1e9", "many"])
def test_rounds_out_of_bounds_are_refused_with_the_bounds(value, capsys):
    names = [n for n in child.JOBS if _takes(n, "--rounds")]
    assert len(names) >= 6, names
    for name in names:
        line = _refused(capsys, [name, "--rounds", value, *_required(name)])
        assert f"{value!r} is not a whole number of rounds from 1 to 100000" in line, line


@pytest.mark.parametrize("option, count", [("--rounds", jobargs.ROUNDS), ("--new-tokens", jobargs.NEW_TOKENS),
                                           ("--prompt-len", jobargs.PROMPT_LEN), ("--seed", jobargs.SEED)])
def test_every_count_states_its_bounds_in_help(option, count, capsys):
    for name in [n for n in child.JOBS if _takes(n, option)]:
        with pytest.raises(SystemExit):
            child.parser_for(name)[0].parse_args(["--help"])
        assert f"({count.low}-{count.high})" in capsys.readouterr().out.replace("\n", " "), (name, option)
    line = _refused(capsys, ["case", "embed", "--model", "m", "--variant", "compile", option, str(count.high + 1)])
    assert f"from {count.low} to {count.high}" in line


def test_an_unknown_job_or_variant_is_one_line(capsys):
    assert "unknown job 'warp'; choose from ladder" in _refused(capsys, ["warp"])
    assert "unknown variant 'fast'" in _refused(capsys, ["ladder", "--variant", "fast"])
    assert child.main([]) == 2 and "give a job name" in capsys.readouterr().err


def test_a_shared_argument_is_declared_in_one_place():
    import argparse

    with pytest.raises(KeyError, match="not a shared job argument"):
        jobargs.add(argparse.ArgumentParser(), batch="1")


def test_the_entry_runs_as_a_child_process():
    done = subprocess.run([sys.executable, "-m", "ragperf.jobs", "ladder", "--variant", "compile", "--rounds", "0"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "python -m ragperf.jobs ladder: error: argument --rounds: '0' is not a whole number of rounds from 1 to "
        "100000; give a positive integer, at most 100000; see `python -m ragperf.jobs ladder --help`"]


def test_no_other_module_is_a_child_entry():
    """A new child job goes into ragperf.jobs.child's table, not into a ``python -m`` entry of its own."""
    entries = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare) and isinstance(node.left, ast.Name) and node.left.id == "__name__" \
                    and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in node.comparators):
                entries.add(path.relative_to(PACKAGE).as_posix())
    assert entries == OWN_ENTRIES
