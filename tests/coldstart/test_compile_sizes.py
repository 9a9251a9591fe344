"""Compile ahead for the listed batch sizes (``--ragperf-compile-sizes``): serving any listed size never
recompiles, and an unlisted size does what the strategy says (tiny-bert, aot_eager: Dynamo questions)."""

import pytest
import torch

from ragperf.coldstart import sizes as S
from ragperf.coldstart.artifacts import _Exportable, model_inputs
from ragperf.errors import RagperfError


@pytest.fixture
def inputs_for(load_embedder):
    embedder = load_embedder("tiny-bert")
    return lambda n: model_inputs(embedder.tokenize(["This is an example sentence"] * n)), embedder


@pytest.mark.parametrize("strategy", S.STRATEGIES)
def test_listed_sizes_never_recompile_and_unlisted_sizes_do_what_the_strategy_says(strategy, compile_sizes,
                                                                                  inputs_for):
    make, embedder = inputs_for
    model = S.compile_model(_Exportable(embedder.transformer), strategy, backend="aot_eager")
    with torch.no_grad():
        compiled = S.compile_for_sizes(model, make, compile_sizes, strategy)
        ranged = [s for s in compile_sizes if s >= 2]
        want = len(compile_sizes) if strategy == "per-size" else (1 in compile_sizes) + bool(ranged)
        assert compiled.graphs == want and compiled.report.clean, compiled.report.summary()
        assert S.serve(model, make, compile_sizes).recompiles == 0  # steady_state() raises on any recompile
        above = S.try_unlisted(model, make, max(compile_sizes) + 1)
        assert above.recompiles == 1, above.summary()  # outside every listed size: a compile at serving time
        inside = [n for n in range(min(ranged or [2]), max(ranged or [2])) if n not in compile_sizes]
        if inside:
            between = S.try_unlisted(model, make, inside[0])
            assert between.recompiles == (1 if strategy == "per-size" else 0), between.summary()


def test_bad_sizes_are_one_clear_error():
    with pytest.raises(RagperfError, match="positive batch sizes"):
        S.parse_sizes("1,two,4")
    assert S.parse_sizes("16, 1,4") == (1, 4, 16)
    with pytest.raises(RagperfError, match="distinct"):
        S.parse_sizes("1,4,4")
