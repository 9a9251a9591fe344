"""Models for the recompile tests: tiny random-weight ones, so Dynamo questions take seconds, and the models
``--ragperf-embedder`` / ``--ragperf-decoder`` name."""

import pytest


@pytest.fixture(scope="session")
def scenario_models(load_embedder, ragperf_device):
    """``scenario_models[spec, kind]``: the model ``spec`` loaded as ``kind`` (a scenario's kind), on first use."""
    from ragperf.compile.scenarios import load_model

    class Models(dict):
        def __missing__(self, key):
            spec, kind = key
            self[key] = load_embedder(spec) if kind == "embedder" else load_model(spec, kind, device=ragperf_device)
            return self[key]

    return Models()


@pytest.fixture(scope="module")
def judged_embedder(load_embedder, judged_embedder_spec):
    """tiny-bert, or (parametrized) each model the option names too."""
    return load_embedder(judged_embedder_spec)
