"""The probe's gates and its command line, on the blog's batch 16 -> 1 schedule.

The gates run on tiny-bert and on each ``--ragperf-embedder`` model; the command line is tried on tiny-bert
(its ids are the command's, not a model's)."""

import json

import pytest

from ragperf.cli import main
from ragperf.compile.probe import COUNT_FIELDS, RecompileInSteadyState, steady_state
from ragperf.compile.scenarios import compile_embedder, probe_shapes, synthetic_batch, table_scenario
from ragperf.compile.strategies import strategy
from ragperf.models.under_test import label

pytestmark = pytest.mark.recompile


def test_steady_state_window_fails_with_the_guard_reason(judged_embedder):
    compiled = compile_embedder(judged_embedder, strategy("auto"))
    judged_embedder.embed(synthetic_batch(judged_embedder, 16, 32), compiled)  # the index pass: warm-up at batch 16 only
    with pytest.raises(RecompileInSteadyState, match=r"size mismatch at index 0\. expected 16, actual 1"):
        with steady_state():
            judged_embedder.embed(synthetic_batch(judged_embedder, 1, 32), compiled)


def test_mark_unbacked_with_fullgraph_fails_exactly_where_it_falls_back_without(judged_embedder, judged_embedder_spec,
                                                                               expected_compile):
    """Where the table says mark_unbacked silently falls back to eager (torch 2.13), fullgraph=True must
    surface that as a compile error; where it compiles cleanly (torch 2.11), fullgraph must succeed."""
    scenario = table_scenario("index16-query1", label(judged_embedder_spec))
    row = expected_compile.rows.get((scenario, "mark_unbacked", "eager"))
    if row is None:
        pytest.skip(f"no expected row {scenario} / mark_unbacked in {expected_compile.path.name}: record the "
                    "table first (pytest tests/recompile --ragperf-update-expected)")
    report = probe_shapes(judged_embedder, [(16, 32), (1, 8)], strategy("mark_unbacked"), fullgraph=True)
    if row["fallbacks"] > 0:
        assert report.error, report.summary()
        assert not report.clean and "COMPILE ERROR" in report.summary()
    else:
        assert report.error is None and report.clean, report.summary()


def test_cli_reports_the_blog_case_with_the_zero_one_reason(capsys, expected_compile):
    """Same schedule as the index16-query1 scenario: the command must report the table's counts."""
    assert main(["recompiles", "--model", "tiny-bert", "--shapes", "16x32,1x8", "--strategy", "auto",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    expected_compile.verify(("index16-query1", "auto", "eager"), {k: out[k] for k in COUNT_FIELDS})
    assert [r["kind"] for r in out["recompile_list"]] == ["0/1-specialization"], out["recompile_list"]
    assert "expected 16, actual 1" in out["recompile_list"][0]["reason"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--shapes", "16x32,1by8"], "bad shape '1by8'"),
    (["--shapes", "0x8"], "bad shape '0x8'"),
    (["--strategy", "dynamic=maybe"], "unknown dynamic-shape strategy"),
])
def test_cli_bad_input_is_one_clear_line(argv, message, capsys):
    assert main(["recompiles", "--model", "tiny-bert", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
