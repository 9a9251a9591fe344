"""The decode-mode table: every list of decode modes is read from it, so a new mode is one row (and this test)."""

from __future__ import annotations

from argparse import Namespace

import pytest
import torch

from ragperf.errors import RagperfError
from ragperf.models import decode_modes
from ragperf.models.decode_modes import DecodeMode

# A mode no list names: prefill through torch.compile, decode eager.
NEW = DecodeMode("compile-prefill", "paper", ("prefill",), "prefill compiled; decode steps eager")


def test_the_tables_groups():
    """What each consumer reads: the plugin and parity (paper), perf cases (paper, static), run per device."""
    assert decode_modes.names("paper") == ("eager", "compile-decode", "compile-prefill-decode")
    assert decode_modes.names("paper", "static", compiled=True) == (
        "compile-decode", "compile-prefill-decode", "static-cudagraphs", "static-max-autotune")
    assert decode_modes.run_modes("cpu") == decode_modes.names("paper")
    assert decode_modes.run_modes("cuda") == ("eager", "compile-decode", "compile-prefill-decode", "static-cudagraphs",
                                              "static-max-autotune", "reference-cudagraphs", "reference-max-autotune")
    assert [m for m, row in decode_modes.MODES.items() if row.cuda_graphs] == [
        "static-cudagraphs", "static-max-autotune", "reference-cudagraphs", "reference-max-autotune"]
    assert [m for m, row in decode_modes.MODES.items() if row.static_cache] == [
        *decode_modes.names("static"), *decode_modes.names("reference")]


def test_every_row_is_well_formed():
    for name, row in decode_modes.MODES.items():
        assert row.name == name and row.family in decode_modes.FAMILIES, row
        assert set(row.compiles) <= set(decode_modes.PHASES) and set(row.run_on) <= {"cpu", "cuda"}, row
        assert set(row.cuda) <= {"mode", "options"}, row


def test_an_unknown_mode_is_one_line_naming_the_modes():
    from ragperf.models.decoders import load_decoder
    from ragperf.models.generation import build_generator

    with pytest.raises(RagperfError, match="unknown decode mode 'nope'; choose from eager, compile-decode") as info:
        build_generator(load_decoder("tiny-llama"), "nope")
    assert all(name in str(info.value) for name in decode_modes.MODES)


@pytest.fixture
def new_mode(monkeypatch):
    monkeypatch.setitem(decode_modes.MODES, NEW.name, NEW)


def test_a_new_row_builds_and_decodes_eagers_tokens(new_mode):
    from ragperf.models.decoders import load_decoder, random_prompts
    from ragperf.models.generation import build_generator

    decoder = load_decoder("tiny-llama")
    generator = build_generator(decoder, NEW.name, backend="eager")
    assert generator.decode_fn is decoder.model and generator.prefill_fn is not decoder.model
    prompt = random_prompts(decoder, 2, 5)
    eager = build_generator(decoder, "eager").generate(prompt, 4).tokens
    assert torch.equal(generator.generate(prompt, 4).tokens, eager)


def test_a_new_row_reaches_run_parity_the_plugin_and_perf_cases(new_mode, monkeypatch, tmp_path, pytester):
    from ragperf.commands import parity
    from ragperf.commands import run as run_cmd
    from ragperf.perf.cases import Case, check_case

    started = []
    monkeypatch.setattr("ragperf.subproc.run_json", lambda module, args, **kw: started.append(args[args.index("--variant") + 1]) or {"rows": []})
    run_cmd._decode(Namespace(decoder=["tiny-llama"], device="cpu", batch_sizes="1", new_tokens=2, backend="eager"),
                    "quick")
    assert NEW.name in started  # ragperf run's decode section measures it

    class Judged(Exception):
        pass

    def judge(decoder, mode, *args, **kwargs):
        raise Judged(mode)

    monkeypatch.setattr("ragperf.numerics.parity.decode_parity", judge)
    with pytest.raises(Judged, match=NEW.name):  # ragperf parity judges it
        parity.evaluate(Namespace(model="tiny-llama", variant=NEW.name, fastmath="off", device="cpu",
                                  backend="eager", new_tokens=2, decoder=False))

    assert check_case(Case("decode", "tiny-llama", NEW.name)).variant == NEW.name

    pytester.makepyfile(test_modes="def test_mode(decode_mode): pass\n")
    result = pytester.runpytest_inprocess("-p", "no:randomly", "--collect-only", "-q")
    assert f"test_modes.py::test_mode[{NEW.name}]" in result.outlines
