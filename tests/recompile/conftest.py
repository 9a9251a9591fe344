"""Models for the recompile scenarios: tiny random-weight ones, so Dynamo questions take seconds."""

import pytest


@pytest.fixture(scope="session")
def scenario_models(load_embedder, ragperf_device):
    """``{"tiny-bert": Embedder, "tiny-llama": Decoder}``, each loaded on first use."""
    from ragperf.models.decoders import load_decoder
    from ragperf.models.registry import DECODER, kind_of

    loaded = {}

    class Models(dict):
        def __missing__(self, name):
            loaded[name] = (load_decoder(name, device=ragperf_device) if kind_of(name) == DECODER
                            else load_embedder(name))
            return loaded[name]

    return Models()
