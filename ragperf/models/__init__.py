"""Where models come from and how they are made compilable (imports only torch and the foundations).

- :mod:`ragperf.models.sources`     where a model named on the command line comes from
- :mod:`ragperf.models.tiny`        random-weight tiny embedders written once for fast tests
- :mod:`ragperf.models.embedders`   sentence-transformers embedders split for torch.compile
- :mod:`ragperf.models.ladder`      the Graviton RAG blog's optimization ladder
- :mod:`ragperf.models.decoders`    GPT-2 / Llama decoders with dummy or local weights
- :mod:`ragperf.models.generation`  a plain prefill + decode loop and its compile modes
- :mod:`ragperf.models.reference_llama` a plain-PyTorch Llama (gpt-fast style): the decode speed to reach
- :mod:`ragperf.models.clock`       the device-synchronized clock every timing reads
"""
