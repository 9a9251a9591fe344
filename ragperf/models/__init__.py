"""Where models come from and how they are made compilable (imports only torch and the foundations).

- :mod:`ragperf.models.registry`    every named model, and the one rule that reads a model spec
- :mod:`ragperf.models.under_test`  the models a test run judges: the options' specs, case ids, calibrated model
- :mod:`ragperf.models.sources`     where a named or hub-hosted model's files come from
- :mod:`ragperf.models.tiny`        random-weight tiny embedders written once for fast tests
- :mod:`ragperf.models.embedders`   sentence-transformers embedders split for torch.compile
- :mod:`ragperf.models.ladder`      the Graviton RAG blog's optimization ladder
- :mod:`ragperf.models.decoders`    causal-LM decoders with dummy or local weights
- :mod:`ragperf.models.decode_modes` every decode mode in one table
- :mod:`ragperf.models.generation`  a plain prefill + decode loop, run in any decode mode
- :mod:`ragperf.models.reference_llama` a plain-PyTorch Llama (gpt-fast style): the decode speed to reach
- :mod:`ragperf.models.clock`       the device-synchronized clock every timing reads
"""
