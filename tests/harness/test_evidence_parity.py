"""A planted parity failure (a backend that lowers GELU as SiLU) carries its evidence: tlparse report showing
the compiled frames, a repro bundle that ``ragperf repro`` replays, and the minifier's output or give-up."""

import subprocess
import sys

import pytest

PLANTED = '''
import pytest, torch
from ragperf.compile.planted import WRONG_OP
from ragperf.numerics import parity

@pytest.mark.correctness
def test_wrong_op_matches_eager(load_embedder, parity_tolerance):
    embedder = load_embedder("tiny-bert")
    tolerance = parity_tolerance(embedder.device, torch.float32, "off")
    verdict = parity.embedder_parity(embedder, "compile", "off", tolerance, backend=WRONG_OP)
    assert verdict.passed, verdict.message()
'''
FOLDER = ("ragperf-traces", "test_planted_parity.py_test_wrong_op_matches_eager")


def run_planted(pytester, *args):
    pytester.makepyfile(test_planted_parity=PLANTED)
    return pytester.runpytest_subprocess("-p", "no:randomly", *args)


def test_a_planted_wrong_op_fails_with_a_tlparse_report_of_the_compiled_frames(pytester):
    result = run_planted(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*tiny-bert compile [[]off]: FAIL*", "*ragperf evidence*",
                                 "tlparse report:*/tlparse/index.html", "repro bundle:*/repro *ragperf repro*"])
    folder = pytester.path.joinpath(*FOLDER)
    index = (folder / "tlparse" / "index.html").read_text()
    # The compiled frame: compile id [0/0], the stack that compiled it, and its FX graph (with the GELUs).
    assert "[0/0]" in index and "test_planted_parity.py:9 in test_wrong_op_matches_eager" in index
    assert "parity.py" in index and "in embedder_parity" in index
    graphs = list(folder.joinpath("tlparse").glob("*0_0_0/dynamo_output_graph*.txt"))
    assert graphs and "gelu" in graphs[0].read_text()
    assert "torch.__trace" not in result.stdout.str()  # the trace is in its file, not the report
    repro = subprocess.run([sys.executable, "-m", "ragperf.cli", "repro", str(folder / "repro")],
                           capture_output=True, text=True, timeout=300)
    assert repro.returncode == 1, repro.stdout[-2000:] + repro.stderr[-2000:]
    assert "still fails: test_planted_parity.py::test_wrong_op_matches_eager" in repro.stdout


def test_the_wrong_op_backend_rewrites_gelu_only():
    import torch

    from ragperf.compile.planted import gelu_to_silu

    gm = torch.fx.symbolic_trace(lambda x: torch.nn.functional.gelu(x) + torch.nn.functional.gelu(x, approximate="tanh"))
    assert gelu_to_silu(gm) == 1
    x = torch.linspace(-3, 3, 7)
    assert torch.allclose(gm(x), torch.nn.functional.silu(x) + torch.nn.functional.gelu(x, approximate="tanh"))


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
